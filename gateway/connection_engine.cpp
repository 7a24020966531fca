#include "gateway/connection_engine.hpp"

#include <tuple>

#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace tasker {

namespace {

constexpr const char* component = "gateway";

/// Unconfirmed bytes past which the transport is asked to report a
/// connection's writes.
constexpr size_t ack_threshold = 64 * 1024;

} // namespace

struct connection_engine::impl {
  impl(connection_limits limits, head_check check, hooks h)
    : limits_(limits), check_(std::move(check)), hooks_(std::move(h)) {
  }

  using deadline_map = std::multimap<time_point, ticket>;

  /// One response slot; responses leave in request order.
  struct slot {
    bool ready = false;
    bool close = false;
    std::string bytes;
    /// The deadline entry while an actor is asked.
    std::optional<deadline_map::iterator> deadline;
  };

  struct connection {
    std::unique_ptr<request_reader> reader;
    std::deque<slot> out;
    /// Sequence number of `out.front()`.
    uint64_t first_seq = 0;
    /// Tells apart a reused id from the connection a reply was for.
    uint64_t generation = 0;
    /// A response that closes the connection is queued: parse no more.
    bool closing = false;
    /// Part of a request is buffered, since `partial_since`.
    bool partial = false;
    time_point partial_since;
    /// When bytes last arrived or a response left.
    time_point last_active;
    /// Reading paused: `max_pipeline` requests are in flight.
    bool paused = false;
    /// Reading paused: more than `max_unsent_bytes` of responses wait for
    /// the client to read them.
    bool write_blocked = false;
    /// Bytes of responses that are ready but wait behind an earlier one.
    size_t queued = 0;
    /// Bytes handed to the transport that the socket may not have taken
    /// yet: exact while `acking`, else an upper bound (below
    /// `ack_threshold`).
    size_t unsent = 0;
    /// The transport reports each write: switched on past `ack_threshold`
    /// unconfirmed bytes or for a closing response, off again once all has
    /// left (a report per write would cost every response a message).
    bool acking = false;
    /// The last response closes the connection once it has left (a
    /// transport's own close would wait without end for a client that does
    /// not read).
    bool close_when_sent = false;
    /// What `reader` held when last counted in `held_bytes_`.
    size_t held = 0;
    /// The last slot is a stream (`start_stream`): once its head has left,
    /// the connection carries its bytes alone.
    bool streaming = false;
  };

  void io(io_action::kind_t kind, conn_id conn, std::string_view bytes = {}) {
    hooks_.io(io_action{kind, conn, bytes});
  }

  connection_limits limits_;
  head_check check_;
  hooks hooks_;
  std::unordered_map<conn_id, connection> conns_;
  deadline_map deadlines_;
  /// The connection whose requests are being parsed right now (a response
  /// completed meanwhile must not start parsing it again).
  std::optional<conn_id> parsing_;
  uint64_t next_generation_ = 1;
  /// Bytes of responses held over all connections: queued, and unsent on
  /// the connections whose writes are reported.
  size_t out_bytes_ = 0;
  /// Bytes the connections' readers hold, as last counted.
  size_t held_bytes_ = 0;
  connection_counters counters_;
  time_point last_refusal_log_;

  bool open(conn_id conn, time_point now) {
    if (conns_.size() >= limits_.max_connections) {
      ++counters_.refused_connections;
      io(io_action::close, conn);
      if (now - last_refusal_log_ > std::chrono::seconds(1)) {
        last_refusal_log_ = now;
        log::warning(component, "connection refused: too many open",
                     {{"open", conns_.size()},
                      {"limit", limits_.max_connections},
                      {"refused_so_far", counters_.refused_connections}});
      }
      return false;
    }
    auto& c = conns_[conn] = connection{};
    c.last_active = now;
    c.reader = std::make_unique<request_reader>(limits_.max_header_bytes,
                                                limits_.max_body_bytes, check_);
    c.generation = next_generation_++;
    return true;
  }

  void drop(conn_id conn) {
    auto i = conns_.find(conn);
    if (i == conns_.end())
      return;
    auto& c = i->second;
    held_bytes_ -= c.held;
    out_bytes_ -= c.queued + (c.acking ? c.unsent : 0);
    for (auto& s : c.out)
      if (s.deadline)
        deadlines_.erase(*s.deadline);
    conns_.erase(i);
  }

  void abort(conn_id conn) {
    io(io_action::abort, conn);
    drop(conn);
  }

  void start_acking(conn_id conn, connection& c) {
    if (c.acking)
      return;
    c.acking = true;
    io(io_action::report_writes, conn);
    out_bytes_ += c.unsent;
  }

  /// Writes bytes on a connection, counted as unsent until the transport
  /// reports them written (or, while it does not report, as an upper bound).
  void write_out(conn_id conn, connection& c, std::string_view bytes) {
    io(io_action::write, conn, bytes);
    c.unsent += bytes.size();
    if (c.acking)
      out_bytes_ += bytes.size();
    else if (c.unsent > ack_threshold)
      start_acking(conn, c);
  }

  /// The connection with the most of `weight` (bytes it holds), and how much;
  /// zero when none holds any. Scanned only when a budget is passed.
  template<class F>
  std::pair<conn_id, size_t> heaviest(F weight) const {
    conn_id largest = 0;
    size_t most = 0;
    for (auto& [conn, c] : conns_)
      if (auto w = weight(c); w > most) {
        most = w;
        largest = conn;
      }
    return {largest, most};
  }

  void note_unread_close(size_t held) {
    if (counters_.unread_closed++ % 100 == 0)
      log::warning(component,
                   "connection closed: its client does not read "
                   "its responses",
                   {{"held_bytes", held},
                    {"all_connections", out_bytes_},
                    {"closed_so_far", counters_.unread_closed}});
  }

  /// While all connections hold more response bytes than the budget, closes
  /// the one that holds the most (a client that does not read, as a rule).
  /// Streams go first: each may hold its own bound of unread events, and
  /// together they must not push out a response that is merely on its way.
  void shed_unread() {
    while (out_bytes_ > limits_.max_unsent_total) {
      auto held = [](const connection& c) {
        return c.queued + (c.acking ? c.unsent : 0);
      };
      auto [largest, most] = heaviest([&held](const connection& c) {
        return c.streaming ? held(c) : size_t{0};
      });
      if (most == 0)
        std::tie(largest, most) = heaviest(held);
      if (most == 0)
        return;
      note_unread_close(most);
      abort(largest);
    }
  }

  void flush_ready(conn_id conn, time_point now) {
    auto i = conns_.find(conn);
    if (i == conns_.end())
      return;
    auto& c = i->second;
    bool wrote = false;
    while (!c.out.empty() && c.out.front().ready) {
      auto& s = c.out.front();
      c.queued -= s.bytes.size();
      out_bytes_ -= s.bytes.size();
      write_out(conn, c, s.bytes);
      wrote = true;
      bool close = s.close;
      c.out.pop_front();
      ++c.first_seq;
      if (close) {
        // Closed once it has left (transferred).
        c.closing = true;
        c.close_when_sent = true;
        start_acking(conn, c);
        break;
      }
    }
    if (wrote) {
      io(io_action::flush, conn);
      c.last_active = now;
    }
    // Responses wait, ready behind a slow one or unsent for a client that does
    // not read them: past the bound, stop reading (and so answering) until the
    // client reads; far past it, or past the budget of all, close.
    auto held = c.queued + c.unsent;
    if (held > 16 * limits_.max_unsent_bytes) {
      note_unread_close(held);
      abort(conn);
      return;
    }
    if (!c.write_blocked && held > limits_.max_unsent_bytes) {
      c.write_blocked = true;
      // (Reading resumes on the report that the client took its bytes.)
      start_acking(conn, c);
      if (!c.paused)
        io(io_action::stop_reading, conn);
    }
    if (out_bytes_ > limits_.max_unsent_total) {
      shed_unread();
      if (conns_.count(conn) == 0)
        return;
    }
    // A client that sent `Expect: 100-continue` waits for this before it sends
    // its body; it goes only once every earlier response has left.
    if (c.out.empty() && !c.closing && c.reader->take_expect_continue()) {
      write_out(conn, c, continue_100);
      io(io_action::flush, conn);
    }
    // Room in the pipeline again: read and parse what waits (unless this is
    // an answer given while that connection's requests are being parsed).
    if (c.paused && c.out.size() < limits_.max_pipeline && parsing_ != conn) {
      c.paused = false;
      if (!c.write_blocked) {
        io(io_action::resume_reading, conn);
        parse(conn, now);
      }
    }
  }

  void transferred(conn_id conn, size_t remaining, time_point now) {
    auto i = conns_.find(conn);
    if (i == conns_.end())
      return;
    auto& c = i->second;
    c.last_active = now;
    if (!c.acking)
      return;
    if (remaining <= c.unsent) {
      out_bytes_ -= c.unsent - remaining;
      c.unsent = remaining;
    }
    if (c.unsent == 0) {
      if (c.close_when_sent) {
        io(io_action::close, conn);
        drop(conn);
        return;
      }
      // All has left: no more reports until much is unconfirmed again (but
      // on a stream, whose count must stay exact).
      if (!c.streaming) {
        c.acking = false;
        io(io_action::quiet_writes, conn);
      }
    }
    // Below half the bound, a connection paused for its unread responses
    // reads again.
    if (!c.write_blocked || c.queued + c.unsent > limits_.max_unsent_bytes / 2)
      return;
    c.write_blocked = false;
    if (!c.paused && !c.closing && parsing_ != conn) {
      io(io_action::resume_reading, conn);
      parse(conn, now);
    }
  }

  /// Answers a connection with a response of its own, after what it already
  /// waits for, and closes it then: it reads no more (may close and forget the
  /// connection).
  void answer_and_close(conn_id conn, const char* label,
                        const http_response& res, time_point now) {
    auto& c = conns_[conn];
    c.closing = true;
    c.partial = false;
    auto seq = c.first_seq + c.out.size();
    c.out.emplace_back();
    complete(ticket{conn, c.generation, seq, false, false, label}, res, now);
  }

  /// Counts again what a connection's reader holds in the total of all.
  void count_held(connection& c) {
    auto now = c.reader->held();
    held_bytes_ = held_bytes_ - c.held + now;
    c.held = now;
  }

  /// Each connection's request is bounded, but not their sum: while the
  /// requests being received hold more than the budget, the connection that
  /// holds the most is refused (503, with what it held dropped) and closed.
  /// Many large uploads at once cannot take the memory, and small requests go
  /// on.
  void shed_largest(time_point now) {
    while (held_bytes_ > limits_.max_request_buffer_bytes) {
      auto [largest, most] = heaviest(
          [](const connection& c) { return c.closing ? size_t{0} : c.held; });
      if (most == 0)
        return;
      if (counters_.buffer_refusals++ % 100 == 0)
        log::warning(component,
                     "request refused: the requests being received "
                     "hold too much memory",
                     {{"held_bytes", held_bytes_},
                      {"largest", most},
                      {"limit", limits_.max_request_buffer_bytes},
                      {"refused_so_far", counters_.buffer_refusals}});
      auto& c = conns_[largest];
      c.reader = std::make_unique<request_reader>(limits_.max_header_bytes,
                                                  limits_.max_body_bytes);
      count_held(c);
      answer_and_close(largest, "overloaded",
                       error_response(ec::unavailable,
                                      "the server is receiving too many large "
                                      "requests; retry later"),
                       now);
    }
  }

  void received(conn_id conn, const char* data, size_t size, time_point now) {
    auto i = conns_.find(conn);
    if (i == conns_.end() || i->second.closing)
      return;
    auto& c = i->second;
    c.last_active = now;
    c.reader->append(data, size);
    count_held(c);
    if (held_bytes_ > limits_.max_request_buffer_bytes) {
      shed_largest(now);
      if (auto j = conns_.find(conn); j == conns_.end() || j->second.closing)
        return;
    }
    parse(conn, now);
  }

  void parse(conn_id conn, time_point now) {
    auto i = conns_.find(conn);
    if (i == conns_.end())
      return;
    auto prev = std::exchange(parsing_, conn);
    // Afterwards: note whether part of a request waits, and since when, and
    // count again what the reader holds.
    auto finish = [&] {
      if (auto j = conns_.find(conn); j != conns_.end()) {
        auto& c = j->second;
        // (A body arriving slowly counts too: Beast takes body bytes as they
        // come, so nothing stays buffered between them.)
        bool partial = c.reader->mid_request() && !c.paused && !c.write_blocked;
        if (partial && !c.partial)
          c.partial_since = now;
        c.partial = partial;
        count_held(c);
      }
      parsing_ = prev;
    };
    for (;;) {
      auto& c = i->second;
      if (c.closing || c.write_blocked)
        break; // (a blocked one is resumed by transferred)
      if (c.out.size() >= limits_.max_pipeline) {
        // Enough in flight: stop reading until answers leave.
        if (!c.paused) {
          c.paused = true;
          io(io_action::stop_reading, conn);
        }
        break;
      }
      http_request req;
      ec code = ec::none;
      std::string message;
      auto res = c.reader->next(req, code, message);
      if (res == request_reader::status::need_more) {
        if (c.out.empty() && c.reader->take_expect_continue()) {
          write_out(conn, c, continue_100);
          io(io_action::flush, conn);
        }
        break;
      }
      c.partial = false; // a request ended; a new one starts with the next byte
      auto seq = c.first_seq + c.out.size();
      c.out.emplace_back();
      ticket t{conn, c.generation, seq, true, false, "invalid"};
      if (res == request_reader::status::error) {
        // The byte stream is unusable from here on: answer and close.
        c.closing = true;
        t.keep_alive = false;
        complete(t, error_response(code, message), now);
        break;
      }
      ++counters_.requests;
      t.keep_alive = req.keep_alive;
      t.head = req.method == "HEAD";
      if (!req.keep_alive)
        c.closing = true;
      try {
        hooks_.request(t, req);
      } catch (const std::exception& e) {
        // A bug must not take the gateway (and every connection) down.
        log::error(component, "request handler raised",
                   {{"error", e.what()}, {"path", req.path}});
        complete(t, error_response(ec::internal, "internal error"), now);
      }
      // The handler may have closed and forgotten the connection.
      i = conns_.find(conn);
      if (i == conns_.end() || i->second.closing)
        break;
    }
    finish();
  }

  /// The response slot of `t`, or null when the client left.
  slot* find_slot(const ticket& t) {
    auto i = conns_.find(t.conn);
    if (i == conns_.end() || i->second.generation != t.generation)
      return nullptr; // the client left
    auto& c = i->second;
    if (t.seq < c.first_seq || t.seq - c.first_seq >= c.out.size())
      return nullptr;
    return &c.out[t.seq - c.first_seq];
  }

  void complete(const ticket& t, const http_response& res, time_point now) {
    hooks_.answered(t.label, res.status);
    auto s = find_slot(t);
    if (s == nullptr || s->ready)
      return; // the client left, or it was answered already (timed out)
    if (s->deadline) {
      deadlines_.erase(*s->deadline);
      s->deadline.reset();
    }
    s->ready = true;
    s->close = !t.keep_alive;
    s->bytes = serialize(res, t.keep_alive, t.head);
    conns_[t.conn].queued += s->bytes.size();
    out_bytes_ += s->bytes.size();
    flush_ready(t.conn, now);
  }

  /// The connection of a stream's ticket, or null when it is gone.
  connection* stream_of(const ticket& t) {
    auto i = conns_.find(t.conn);
    if (i == conns_.end() || i->second.generation != t.generation
        || !i->second.streaming)
      return nullptr;
    return &i->second;
  }

  bool start_stream(const ticket& t, std::string head, time_point now) {
    hooks_.answered(t.label, 200);
    auto s = find_slot(t);
    if (s == nullptr || s->ready)
      return false;
    if (s->deadline) {
      deadlines_.erase(*s->deadline);
      s->deadline.reset();
    }
    auto& c = conns_[t.conn];
    // Nothing after it: the stream ends with the connection.
    c.closing = true;
    c.streaming = true;
    start_acking(t.conn, c);
    s->ready = true;
    s->bytes = std::move(head);
    c.queued += s->bytes.size();
    out_bytes_ += s->bytes.size();
    flush_ready(t.conn, now);
    return stream_of(t) != nullptr;
  }

  std::optional<size_t> stream_write(const ticket& t, std::string_view bytes,
                                     time_point now) {
    auto c = stream_of(t);
    if (c == nullptr || c->close_when_sent)
      return std::nullopt;
    if (!c->out.empty()) {
      // The head waits behind earlier responses: so do its bytes.
      c->out.back().bytes.append(bytes.data(), bytes.size());
      c->queued += bytes.size();
      out_bytes_ += bytes.size();
      flush_ready(t.conn, now);
    } else if (!bytes.empty()) {
      write_out(t.conn, *c, bytes);
      io(io_action::flush, t.conn);
      c->last_active = now;
      flush_ready(t.conn, now);
    }
    c = stream_of(t);
    if (c == nullptr)
      return std::nullopt;
    return c->queued + c->unsent;
  }

  void stream_close(const ticket& t, time_point now) {
    auto c = stream_of(t);
    if (c == nullptr || c->close_when_sent)
      return;
    if (!c->out.empty()) {
      c->out.back().close = true;
      flush_ready(t.conn, now);
      return;
    }
    c->close_when_sent = true;
    c->last_active = now;
    start_acking(t.conn, *c);
    if (c->unsent == 0) {
      io(io_action::close, t.conn);
      drop(t.conn);
    }
  }

  void expect_by(const ticket& t, time_point deadline) {
    if (auto s = find_slot(t); s != nullptr && !s->ready && !s->deadline)
      s->deadline = deadlines_.emplace(deadline, t);
  }

  void tick(time_point now) {
    std::vector<conn_id> slow, idle;
    for (auto& [conn, c] : conns_) {
      if (c.closing) {
        // (A closing connection whose last response does not leave.)
        if (c.close_when_sent && now - c.last_active > limits_.idle_timeout)
          idle.push_back(conn);
        continue;
      }
      if (c.partial && now - c.partial_since > limits_.header_timeout)
        slow.push_back(conn);
      else if (c.write_blocked && now - c.last_active > limits_.idle_timeout)
        idle.push_back(conn); // a client that stopped reading
      else if (!c.partial && !c.paused && c.out.empty() &&
               now - c.last_active > limits_.idle_timeout)
        idle.push_back(conn);
    }
    for (auto conn : slow) {
      ++counters_.timed_out_requests;
      auto ms = std::to_string(limits_.header_timeout.count());
      answer_and_close(
          conn, "request_timeout",
          error_response(ec::request_timeout,
                         "the request did not arrive within " + ms + " ms"),
          now);
    }
    for (auto conn : idle) {
      ++counters_.idle_closed;
      abort(conn);
    }
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto t = std::move(deadlines_.begin()->second);
      deadlines_.erase(deadlines_.begin());
      if (auto s = find_slot(t))
        s->deadline.reset();
      complete(t,
               error_response(ec::unavailable,
                              "tasker did not answer in time; retry later"),
               now);
    }
  }
};

connection_engine::connection_engine(connection_limits limits, head_check check,
                                     hooks h)
  : impl_(std::make_unique<impl>(limits, std::move(check), std::move(h))) {
}

connection_engine::~connection_engine() = default;

bool connection_engine::open(conn_id conn, time_point now) {
  return impl_->open(conn, now);
}

void connection_engine::received(conn_id conn, const char* data, size_t size,
                                 time_point now) {
  impl_->received(conn, data, size, now);
}

void connection_engine::transferred(conn_id conn, size_t remaining,
                                    time_point now) {
  impl_->transferred(conn, remaining, now);
}

void connection_engine::closed(conn_id conn) {
  impl_->drop(conn);
}

void connection_engine::complete(const ticket& t, const http_response& res,
                                 time_point now) {
  impl_->complete(t, res, now);
}

bool connection_engine::start_stream(const ticket& t, std::string head,
                                     time_point now) {
  return impl_->start_stream(t, std::move(head), now);
}

std::optional<size_t> connection_engine::stream_write(const ticket& t,
                                                      std::string_view bytes,
                                                      time_point now) {
  return impl_->stream_write(t, bytes, now);
}

void connection_engine::stream_close(const ticket& t, time_point now) {
  impl_->stream_close(t, now);
}

void connection_engine::expect_by(const ticket& t, time_point deadline) {
  impl_->expect_by(t, deadline);
}

void connection_engine::tick(time_point now) {
  impl_->tick(now);
}

connection_counters connection_engine::counters() const {
  auto out = impl_->counters_;
  out.connections = impl_->conns_.size();
  out.held_request_bytes = impl_->held_bytes_;
  out.held_response_bytes = impl_->out_bytes_;
  return out;
}

std::vector<std::pair<size_t, size_t>> connection_engine::loads() const {
  std::vector<std::pair<size_t, size_t>> out;
  for (auto& [conn, c] : impl_->conns_)
    out.emplace_back(c.out.size(), c.reader->buffered());
  return out;
}

} // namespace tasker
