#include "gateway/gateway_internal.hpp"

#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/system_messages.hpp>

#include "common/log.hpp"
#include "gateway/docs.hpp"

namespace tasker {

using namespace gateway_detail;

namespace {

using caf::io::connection_handle;

/// Forgets a connection and the deadlines of its unanswered requests.
void drop_connection(gateway_broker* self, connection_handle hdl) {
  auto& st = self->state;
  auto i = st.conns.find(hdl);
  if (i == st.conns.end())
    return;
  st.held_bytes -= i->second.held;
  st.out_bytes -= i->second.queued + (i->second.acking ? i->second.unsent : 0);
  for (auto& s : i->second.out)
    if (s.deadline)
      st.deadlines.erase(*s.deadline);
  st.conns.erase(i);
}

void parse_requests(gateway_broker* self, connection_handle hdl);

/// Closes a connection now, dropping what its client did not read: CAF's
/// close first sends what is buffered, which a client that does not read
/// never lets happen.
void abort_connection(gateway_broker* self, connection_handle hdl) {
  // (On the real network backend a connection's handle is its socket.)
  if (dynamic_cast<caf::io::network::default_multiplexer*>(
        &self->system().middleman().backend())
      != nullptr)
    ::shutdown(static_cast<int>(hdl.id()), SHUT_RDWR);
  self->close(hdl);
  drop_connection(self, hdl);
}

/// Unconfirmed bytes past which CAF is asked to report a connection's
/// writes.
constexpr size_t ack_threshold = 64 * 1024;

/// Has CAF report the connection's writes from now on (what was written in
/// this handler has not left yet: its report comes).
void start_acking(gateway_broker* self, connection_handle hdl,
                  gateway_state::connection& c) {
  if (c.acking)
    return;
  c.acking = true;
  self->ack_writes(hdl, true);
  self->state.out_bytes += c.unsent;
}

/// Writes bytes on a connection, counted as unsent until CAF reports them
/// written (or, while it does not report, as an upper bound).
void write_out(gateway_broker* self, connection_handle hdl,
               gateway_state::connection& c, const std::string& bytes) {
  self->write(hdl, bytes.size(), bytes.data());
  c.unsent += bytes.size();
  if (c.acking)
    self->state.out_bytes += bytes.size();
  else if (c.unsent > ack_threshold)
    start_acking(self, hdl, c);
}

/// The connection with the most of `weight` (bytes it holds), and how
/// much; zero when none holds any. Scanned only when a budget is passed.
template <class F>
std::pair<connection_handle, size_t> heaviest(gateway_state& st, F weight) {
  connection_handle largest;
  size_t most = 0;
  for (auto& [hdl, c] : st.conns)
    if (auto w = weight(c); w > most) {
      most = w;
      largest = hdl;
    }
  return {largest, most};
}

/// While all connections hold more response bytes than the budget, closes
/// the one that holds the most (a client that does not read, as a rule).
void shed_unread(gateway_broker* self) {
  auto& st = self->state;
  while (st.out_bytes > st.cfg.max_unsent_total) {
    auto [largest, most] = heaviest(st, [](auto& c) {
      return c.queued + (c.acking ? c.unsent : 0);
    });
    if (most == 0)
      return;
    if (st.unread_closed++ % 100 == 0)
      log::warning(st.name, "connection closed: its client does not read "
                            "its responses",
                   {{"held_bytes", most},
                    {"all_connections", st.out_bytes},
                    {"closed_so_far", st.unread_closed}});
    abort_connection(self, largest);
  }
}

void flush_ready(gateway_broker* self, connection_handle hdl) {
  auto i = self->state.conns.find(hdl);
  if (i == self->state.conns.end())
    return;
  auto& c = i->second;
  auto& st = self->state;
  bool wrote = false;
  while (!c.out.empty() && c.out.front().ready) {
    auto& s = c.out.front();
    c.queued -= s.bytes.size();
    st.out_bytes -= s.bytes.size();
    write_out(self, hdl, c, s.bytes);
    wrote = true;
    bool close = s.close;
    c.out.pop_front();
    ++c.first_seq;
    if (close) {
      // Closed once it has left (on_transferred).
      c.closing = true;
      c.close_when_sent = true;
      start_acking(self, hdl, c);
      break;
    }
  }
  if (wrote) {
    self->flush(hdl);
    c.last_active = std::chrono::steady_clock::now();
  }
  // Responses wait, ready behind a slow one or unsent for a client that does
  // not read them: past the bound, stop reading (and so answering) until the
  // client reads; far past it, or past the budget of all, close.
  auto held = c.queued + c.unsent;
  if (held > 16 * st.cfg.max_unsent_bytes) {
    if (st.unread_closed++ % 100 == 0)
      log::warning(st.name, "connection closed: its client does not read "
                            "its responses",
                   {{"held_bytes", held}, {"closed_so_far", st.unread_closed}});
    abort_connection(self, hdl);
    return;
  }
  if (!c.write_blocked && held > st.cfg.max_unsent_bytes) {
    c.write_blocked = true;
    // (Reading resumes on CAF's report that the client took its bytes.)
    start_acking(self, hdl, c);
    if (!c.paused)
      self->halt(hdl);
  }
  if (st.out_bytes > st.cfg.max_unsent_total) {
    shed_unread(self);
    if (st.conns.count(hdl) == 0)
      return;
  }
  // A client that sent `Expect: 100-continue` waits for this before it sends
  // its body; it goes only once every earlier response has left.
  if (c.out.empty() && !c.closing && c.reader->take_expect_continue()) {
    write_out(self, hdl, c, continue_100);
    self->flush(hdl);
  }
  // Room in the pipeline again: read and parse what waits (unless this is
  // an answer given while that connection's requests are being parsed).
  if (c.paused && c.out.size() < self->state.cfg.max_pipeline
      && self->state.parsing != hdl) {
    c.paused = false;
    if (!c.write_blocked) {
      self->trigger(hdl);
      parse_requests(self, hdl);
    }
  }
}

/// The socket took some of what waited: a closing connection closes once
/// all has left; below half the bound, a paused one reads again.
void on_transferred(gateway_broker* self, connection_handle hdl,
                    size_t remaining) {
  auto& st = self->state;
  auto i = st.conns.find(hdl);
  if (i == st.conns.end())
    return;
  auto& c = i->second;
  c.last_active = std::chrono::steady_clock::now();
  if (!c.acking)
    return;
  if (remaining <= c.unsent) {
    st.out_bytes -= c.unsent - remaining;
    c.unsent = remaining;
  }
  if (c.unsent == 0) {
    if (c.close_when_sent) {
      self->close(hdl);
      // No connection_closed_msg follows a local close: forget it now.
      drop_connection(self, hdl);
      return;
    }
    // All has left: no more reports until much is unconfirmed again.
    c.acking = false;
    self->ack_writes(hdl, false);
  }
  if (!c.write_blocked
      || c.queued + c.unsent > self->state.cfg.max_unsent_bytes / 2)
    return;
  c.write_blocked = false;
  if (!c.paused && !c.closing && self->state.parsing != hdl) {
    self->trigger(hdl);
    parse_requests(self, hdl);
  }
}

/// Answers a connection with a response of its own, after what it already
/// waits for, and closes it then: it reads no more (may close and forget the
/// connection).
void answer_and_close(gateway_broker* self, connection_handle hdl,
                      const char* label, const http_response& res) {
  auto& c = self->state.conns[hdl];
  c.closing = true;
  c.partial = false;
  auto seq = c.first_seq + c.out.size();
  c.out.emplace_back();
  complete(self, ticket{hdl, c.generation, seq, false, false, label}, res);
}

/// Counts again what a connection's reader holds in the total of all.
void count_held(gateway_state& st, gateway_state::connection& c) {
  auto now = c.reader->held();
  st.held_bytes = st.held_bytes - c.held + now;
  c.held = now;
}

/// Each connection's request is bounded, but not their sum: while the
/// requests being received hold more than the budget, the connection that
/// holds the most is refused (503, with what it held dropped) and closed.
/// Many large uploads at once cannot take the memory, and small requests
/// go on.
void shed_largest(gateway_broker* self) {
  auto& st = self->state;
  while (st.held_bytes > st.cfg.max_request_buffer_bytes) {
    auto [largest, most] = heaviest(
      st, [](auto& c) { return c.closing ? size_t{0} : c.held; });
    if (most == 0)
      return;
    if (st.buffer_refusals++ % 100 == 0)
      log::warning(st.name, "request refused: the requests being received "
                            "hold too much memory",
                   {{"held_bytes", st.held_bytes},
                    {"largest", most},
                    {"limit", st.cfg.max_request_buffer_bytes},
                    {"refused_so_far", st.buffer_refusals}});
    auto& c = st.conns[largest];
    c.reader = std::make_unique<request_reader>(st.cfg.max_header_bytes,
                                                st.cfg.max_body_bytes);
    count_held(st, c);
    answer_and_close(self, largest, "overloaded",
                     error_response(ec::unavailable,
                                    "the server is receiving too many large "
                                    "requests; retry later"));
  }
}

void on_data(gateway_broker* self, connection_handle hdl,
             const std::vector<char>& buf) {
  auto& st = self->state;
  auto i = st.conns.find(hdl);
  if (i == st.conns.end() || i->second.closing)
    return;
  auto& c = i->second;
  c.last_active = std::chrono::steady_clock::now();
  c.reader->append(buf.data(), buf.size());
  count_held(st, c);
  if (st.held_bytes > st.cfg.max_request_buffer_bytes) {
    shed_largest(self);
    if (auto j = st.conns.find(hdl); j == st.conns.end() || j->second.closing)
      return;
  }
  parse_requests(self, hdl);
}

/// Marks the parse of a connection's requests under way (see `parsing`),
/// `prev` being the mark before. Afterwards notes whether part of a request
/// waits, and since when, and counts again what the reader holds.
struct parse_scope {
  gateway_broker* self;
  connection_handle hdl;
  connection_handle prev;
  ~parse_scope() {
    auto& st = self->state;
    if (auto i = st.conns.find(hdl); i != st.conns.end()) {
      auto& c = i->second;
      // (A body arriving slowly counts too: Beast takes body bytes as they
      // come, so nothing stays buffered between them.)
      bool partial = c.reader->mid_request() && !c.paused && !c.write_blocked;
      if (partial && !c.partial)
        c.partial_since = std::chrono::steady_clock::now();
      c.partial = partial;
      count_held(st, c);
    }
    st.parsing = prev;
  }
};

void parse_requests(gateway_broker* self, connection_handle hdl) {
  auto& st = self->state;
  auto i = st.conns.find(hdl);
  if (i == st.conns.end())
    return;
  parse_scope scope{self, hdl, std::exchange(st.parsing, hdl)};
  for (;;) {
    auto& c = i->second;
    if (c.closing || c.write_blocked)
      return; // (a blocked one is resumed by on_transferred)
    if (c.out.size() >= st.cfg.max_pipeline) {
      // Enough in flight: stop reading until answers leave.
      if (!c.paused) {
        c.paused = true;
        self->halt(hdl);
      }
      return;
    }
    http_request req;
    ec code = ec::none;
    std::string message;
    auto res = c.reader->next(req, code, message);
    if (res == request_reader::status::need_more) {
      if (c.out.empty() && c.reader->take_expect_continue()) {
        write_out(self, hdl, c, continue_100);
        self->flush(hdl);
      }
      break;
    }
    c.partial = false; // a request ended; a new one starts with the next byte
    auto seq = c.first_seq + c.out.size();
    c.out.emplace_back();
    ticket t{hdl, c.generation, seq, true, false, "invalid"};
    if (res == request_reader::status::error) {
      // The byte stream is unusable from here on: answer and close.
      c.closing = true;
      t.keep_alive = false;
      complete(self, t,
               code == ec::unauthorized ? unauthorized_response()
                                        : error_response(code, message));
      return;
    }
    ++st.requests;
    t.keep_alive = req.keep_alive;
    t.head = req.method == "HEAD";
    if (!req.keep_alive)
      c.closing = true;
    try {
      handle(self, t, req);
    } catch (const std::exception& e) {
      // A bug must not take the gateway (and every connection) down.
      log::error(st.name, "request handler raised",
                 {{"error", e.what()}, {"path", req.path}});
      complete(self, t, error_response(ec::internal, "internal error"));
    }
    // `handle` may have closed and erased the connection.
    i = st.conns.find(hdl);
    if (i == st.conns.end() || i->second.closing)
      return;
  }
}

/// Answers requests whose actors did not answer in time, times out slow
/// clients and closes idle connections.
void sweep(gateway_broker* self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  std::vector<connection_handle> slow, idle;
  for (auto& [hdl, c] : st.conns) {
    if (c.closing) {
      // (A closing connection whose last response does not leave.)
      if (c.close_when_sent && now - c.last_active > st.cfg.idle_timeout)
        idle.push_back(hdl);
      continue;
    }
    if (c.partial && now - c.partial_since > st.cfg.header_timeout)
      slow.push_back(hdl);
    else if (c.write_blocked && now - c.last_active > st.cfg.idle_timeout)
      idle.push_back(hdl); // a client that stopped reading
    else if (!c.partial && !c.paused && c.out.empty()
             && now - c.last_active > st.cfg.idle_timeout)
      idle.push_back(hdl);
  }
  for (auto& hdl : slow) {
    ++st.timed_out_requests;
    auto ms = std::to_string(st.cfg.header_timeout.count());
    answer_and_close(self, hdl, "request_timeout",
                     error_response(ec::request_timeout,
                                    "the request did not arrive within " + ms
                                      + " ms"));
  }
  for (auto& hdl : idle) {
    ++st.idle_closed;
    abort_connection(self, hdl);
  }
  while (!st.deadlines.empty() && st.deadlines.begin()->first <= now) {
    auto t = std::move(st.deadlines.begin()->second);
    st.deadlines.erase(st.deadlines.begin());
    complete(self, t,
             error_response(ec::unavailable,
                            "tasker did not answer in time; retry later"),
             true);
  }
}

} // namespace

namespace gateway_detail {

void complete(gateway_broker* self, const ticket& t, const http_response& res,
              bool from_sweep) {
  self->state.deps.tel->stats.http_request(t.label, res.status);
  auto i = self->state.conns.find(t.hdl);
  if (i == self->state.conns.end() || i->second.generation != t.generation)
    return; // the client left
  auto& c = i->second;
  if (t.seq < c.first_seq || t.seq - c.first_seq >= c.out.size())
    return;
  auto& s = c.out[t.seq - c.first_seq];
  if (s.ready)
    return; // answered already (timed out)
  if (s.deadline) {
    if (!from_sweep)
      self->state.deadlines.erase(*s.deadline);
    s.deadline.reset();
  }
  s.ready = true;
  s.close = !t.keep_alive;
  s.bytes = serialize(res, t.keep_alive, t.head);
  c.queued += s.bytes.size();
  self->state.out_bytes += s.bytes.size();
  flush_ready(self, t.hdl);
}

} // namespace gateway_detail

caf::behavior gateway(gateway_broker* self, gateway_config cfg,
                      gateway_deps deps, caf::actor listener) {
  auto& st = self->state;
  st.cfg = cfg;
  st.deps = std::move(deps);
  st.openapi = openapi_json(*st.deps.reg);
  st.task_types = nlohmann::json{{"task_types", st.deps.reg->describe()}}.dump();
  auto res = self->add_tcp_doorman(cfg.port, cfg.host.c_str(), true);
  if (!res) {
    self->quit(res.error());
    return {};
  }
  self->send(listener, ok_atom_v, res->second);
  self->delayed_send(self, std::chrono::milliseconds(250), tick_atom_v);
  return {
    [self](tick_atom) {
      sweep(self);
      self->delayed_send(self, std::chrono::milliseconds(250), tick_atom_v);
    },
    [self](crash_atom) {
      // Fault injection: dies the way an uncaught exception would end it.
      self->quit(caf::exit_reason::kill);
    },
    [self](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      if (st.conns.size() >= st.cfg.max_connections) {
        ++st.refused_connections;
        self->close(msg.handle);
        auto now = std::chrono::steady_clock::now();
        if (now - st.last_refusal_log > std::chrono::seconds(1)) {
          st.last_refusal_log = now;
          log::warning(st.name, "connection refused: too many open",
                       {{"open", st.conns.size()},
                        {"limit", st.cfg.max_connections},
                        {"refused_so_far", st.refused_connections}});
        }
        return;
      }
      auto& c = st.conns[msg.handle] = gateway_state::connection{};
      c.last_active = std::chrono::steady_clock::now();
      // A request whose head the token refuses is answered before its body
      // is read.
      c.reader = std::make_unique<request_reader>(
        st.cfg.max_header_bytes, st.cfg.max_body_bytes,
        auth_head_check(st.cfg.auth_token));
      c.generation = st.next_generation++;
      self->configure_read(msg.handle, caf::io::receive_policy::at_most(16384));
    },
    [self](const caf::io::new_data_msg& msg) {
      on_data(self, msg.handle, msg.buf);
    },
    [self](const caf::io::data_transferred_msg& msg) {
      on_transferred(self, msg.handle, msg.remaining);
    },
    [self](const caf::io::connection_closed_msg& msg) {
      drop_connection(self, msg.handle);
    },
    [self](const caf::io::acceptor_closed_msg&) {
      log::warning(self->state.name, "listening socket closed");
    },
  };
}

} // namespace tasker
