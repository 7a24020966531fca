// libFuzzer target: the gateway broker itself (gateway/gateway.cpp), spawned
// as the coordinator spawns it, on CAF's deterministic scheduler and its
// test multiplexer (no threads, no sockets), its actors stood in for by fakes
// that answer every request with a success.
//
// An input is two bytes of settings and the bytes of up to four connections,
// separated by "\xff\xff"; in a connection's bytes, "\xff\xfe" ends a read
// (and is not sent):
//   byte 0, bit 0   the client reads responses as they come (otherwise only
//                   after its last byte, so the unsent bound is reached)
//           bit 1   the task manager, the reader and the dispatcher hold
//                   their answers until the round's reads are in, then
//                   answer in reverse order
//           bit 2   the client closes after its last byte
//           bit 3   auth on, with the token "fuzz-token"
//           bits 4-6 the read size: 16384, 1, 2, 7, 40, 300, 2048, 16384
//           bit 7   tight limits (4 in flight, 8 KiB unsent, 24 KiB unsent
//                   in all, 4 KiB header, 8 KiB body) instead of the
//                   server's defaults
//   byte 1          0: every read has that size; else reads of 1 to that
//                   size, drawn from a generator seeded with this byte
// Each round sends every connection its next read and runs the scheduler and
// the multiplexer until nothing moves. Then the client reads what is left
// (acknowledging writes when the broker asked for it), the broker is killed
// and must be gone.
//
// Checked, for each connection: what the gateway wrote is a sequence of
// HTTP/1.1 responses Beast reads; final responses answer the requests in
// order (a task route echoes its id), never more of them than the bytes hold
// requests (Beast's request parser is the client's model), and one past the
// requests Beast reads is an error that closes; `100 Continue` goes only to a
// request that asked for it, once, before its final response; a request
// without keep-alive gets `Connection: close`; nothing follows a response
// with `Connection: close`, and the gateway closes the connection exactly
// then, once that response has left (or cuts off a client that does not
// read, with bytes still unread); a HEAD request's success has no body and other
// responses have theirs; JSON bodies parse; unless the connection was
// closed, every request the client sent whole has its answer. While it runs,
// the broker holds at most `max_pipeline` + 1 responses and a bounded read
// buffer per connection, and the bytes waiting for a client that does not
// read stay under `max_unsent_bytes` + (`max_pipeline` + 1) times the largest
// response.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/test_multiplexer.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "common/log.hpp"
#include "common/telemetry.hpp"
#include "config/config.hpp"
#include "gateway/gateway.hpp"
#include "messages/interfaces.hpp"
#include "messages/registration.hpp"
#include "tasks/registry.hpp"

using namespace tasker;
using json = nlohmann::json;
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

/// The port the gateway listens on (through a test acceptor).
constexpr uint16_t port = 8080;

/// The size of the gateway's reads (`receive_policy::at_most` in gateway.cpp).
constexpr size_t gateway_read_size = 16384;

/// Most connections of one input.
constexpr size_t max_connections = 4;

/// Separates the bytes of two connections in an input.
const std::string separator = "\xff\xff";

/// Ends a read within a connection's bytes.
const std::string read_break = "\xff\xfe";

/// Read sizes chosen by bits 4-6 of the first byte.
constexpr size_t read_sizes[] = {16384, 1, 2, 7, 40, 300, 2048, 16384};

/// Ends the run when `ok` is false: libFuzzer reports it and keeps the input.
void require(bool ok, const char* what, const std::string& detail = {}) {
  if (ok)
    return;
  fprintf(stderr, "fuzz_gateway: %s\n%.4000s\n", what, detail.c_str());
  abort();
}

// -- the actors the gateway asks ---------------------------------------------

/// Answers a fake holds back while `hold` is on, until it is told to release
/// them (then in reverse order, so that responses complete out of order).
struct held_answers {
  bool hold = false;
  std::vector<std::function<void()>> pending;

  void release() {
    auto xs = std::move(pending);
    pending.clear();
    for (auto i = xs.rbegin(); i != xs.rend(); ++i)
      (*i)();
  }
};

using held_ptr = std::shared_ptr<held_answers>;

/// Answers `value` now, or later when the answers are held.
template <class T, class Self>
caf::typed_response_promise<T> answer(Self* self, const held_ptr& held,
                                      T value) {
  auto rp = self->template make_response_promise<T>();
  if (held->hold)
    held->pending.emplace_back([rp, value = std::move(value)]() mutable {
      rp.deliver(std::move(value));
    });
  else
    rp.deliver(std::move(value));
  return rp;
}

/// A stored task as the actors answer with it.
task_record stored_task(const std::string& id, task_status status) {
  task_record rec;
  rec.id = id;
  rec.type = "sum";
  rec.params = R"({"a":1,"b":2})";
  rec.status = status;
  rec.created_at = rec.updated_at = rec.scheduled_at = 1'763'805'600'000;
  if (status == task_status::completed) {
    rec.result = R"({"sum":3})";
    rec.attempts = 1;
    rec.worker_id = "w1";
    rec.started_at = rec.completed_at = rec.created_at;
  }
  return rec;
}

/// The task manager plus `ok_atom`: release the held answers.
using fake_manager_actor = task_manager_actor::extend<caf::reacts_to<ok_atom>>;

fake_manager_actor::behavior_type
fake_manager(fake_manager_actor::pointer self, held_ptr held) {
  return {
    [self, held](submit_atom, std::vector<task_record>& group) {
      for (auto& rec : group) {
        rec.status = task_status::pending;
        rec.updated_at = rec.created_at;
      }
      return answer(self, held, submit_reply{std::move(group), false});
    },
    [self, held](get_atom, std::string& id, int64_t) {
      return answer(self, held, stored_task(id, task_status::completed));
    },
    [self, held](cancel_atom, std::string& id) {
      return answer(self, held, stored_task(id, task_status::cancelled));
    },
    [self, held](retry_atom, std::string& id) {
      return answer(self, held, stored_task(id, task_status::pending));
    },
    [](finished_atom, task_record&) {},
    [](forget_atom, std::vector<std::string>&) {},
    [](recover_atom) {},
    [](redispatch_atom, uint64_t, caf::actor&) {},
    [](rewrite_atom, caf::actor&) {},
    [](resend_atom, uint64_t) {},
    [](expire_atom) {},
    [](settle_atom, uint64_t) {},
    [](status_atom) { return manager_status{}; },
    [held](ok_atom) { held->release(); },
  };
}

/// The reader plus `ok_atom`: release the held answers.
using fake_reader_actor = reader_actor::extend<caf::reacts_to<ok_atom>>;

fake_reader_actor::behavior_type fake_reader(fake_reader_actor::pointer self,
                                             held_ptr held) {
  return {
    [self, held](get_atom, std::string& id) {
      return answer(self, held, stored_task(id, task_status::completed));
    },
    [self, held](fetch_atom, std::string& id) {
      return answer(self, held, stored_task(id, task_status::completed));
    },
    [self, held](list_atom, list_query& query) {
      // Up to two tasks; more follow when the limit is reached.
      task_page page;
      page.tasks.push_back(
        stored_task("7f7c0b7e-2f1e-4a5b-9a43-0c0d2a1f6e11",
                    task_status::completed));
      if (query.limit > 1)
        page.tasks.push_back(
          stored_task("0b1d9c3e-5a7f-4e2b-8c6d-1f2e3a4b5c6d",
                      task_status::pending));
      page.more = query.limit <= 2;
      return answer(self, held, std::move(page));
    },
    [self, held](events_atom, std::string& id, int32_t) {
      auto rec = stored_task(id, task_status::completed);
      rec.seq = 2;
      std::vector<task_event_record> events;
      for (auto s : {task_status::pending, task_status::processing,
                     task_status::completed}) {
        rec.status = s;
        events.push_back(event_of(rec));
        events.back().seq = static_cast<int32_t>(events.size()) - 1;
        events.back().tx = 1;
      }
      task_history out;
      out.events = std::move(events);
      out.deliveries.push_back(webhook_delivery{id, 2, "http://127.0.0.1:9/x",
                                                "pending", 1, 1000, 503,
                                                "boom", 0});
      return answer(self, held, std::move(out));
    },
    [self, held](stats_atom, int64_t window_ms, int64_t bucket_ms) {
      std::vector<stats_row> rows(2);
      rows[0].type = "sum";
      rows[0].bucket = 1'700'000'000'000 - window_ms;
      rows[0].submitted = 3;
      rows[0].runs = 2;
      rows[0].run_ms = {1.5, 2.0, 2.0};
      rows[1] = rows[0];
      rows[1].bucket += bucket_ms;
      return answer(self, held, std::move(rows));
    },
    [](recover_atom, millis, std::string&, millis, int32_t) {
      return std::vector<task_record>{};
    },
    [held](ok_atom) { held->release(); },
  };
}

/// The dispatcher plus `ok_atom`: release the held answers.
using fake_dispatcher_actor = dispatcher_actor::extend<caf::reacts_to<ok_atom>>;

fake_dispatcher_actor::behavior_type
fake_dispatcher(fake_dispatcher_actor::pointer self, held_ptr held) {
  return {
    [](join_atom, node_info&, std::string&, node_actor&) {
      return std::string{"n1"};
    },
    [](enqueue_atom, task_assignment&, task_actor&) {},
    [](cancel_atom, std::string&, int32_t) {},
    [](result_atom, std::vector<task_outcome>&) {},
    [](progress_atom, std::string&, int32_t, std::string&) {},
    [](heartbeat_atom, std::string&) { return true; },
    [](tick_atom) {},
    [self, held](drain_atom, std::string&) { return answer(self, held, true); },
    [](status_atom) { return dispatcher_status{}; },
    [self, held](workers_atom) {
      worker_view w;
      w.id = "w1";
      w.name = "local";
      w.status = "ALIVE";
      w.slots = 2;
      return answer(self, held, std::vector<worker_view>{w});
    },
    [](get_atom, std::string&) -> caf::result<caf::actor, caf::actor> {
      return caf::sec::unexpected_message;
    },
    [held](ok_atom) { held->release(); },
  };
}

/// The persistence actor; `status` is its counters.
// (It takes an argument: CAF 0.17.6 binds a null reference when it spawns a
// function without arguments, which UBSan reports.)
persistence_actor::behavior_type fake_persistence(persistence_actor::pointer,
                                                  persistence_status status) {
  return {
    [](insert_atom, std::vector<task_record>& group) {
      return insert_result{insert_status::inserted, std::move(group), {}, {}};
    },
    [](update_atom, task_record&) {},
    [](write_atom, task_record&) { return ok_atom_v; },
    [](workers_atom, const std::vector<worker_view>&) {},
    [](flush_atom, int32_t) {},
    [status](status_atom) { return status; },
  };
}

// -- the actor system --------------------------------------------------------

/// The actor system of the whole run: the testing scheduler and network
/// backend, and the fakes.
struct world {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  caf::io::network::test_multiplexer* mpx = nullptr;
  held_ptr manager_held = std::make_shared<held_answers>();
  held_ptr reader_held = std::make_shared<held_answers>();
  held_ptr dispatcher_held = std::make_shared<held_answers>();
  fake_manager_actor manager;
  fake_reader_actor reader;
  fake_dispatcher_actor dispatcher;
  gateway_deps deps;

  world() {
    log::set_level("error");
    add_message_types(cfg);
    cfg.load<caf::io::middleman>();
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("middleman.network-backend", caf::atom("testing"));
    cfg.set("middleman.manual-multiplexing", true);
    cfg.set("middleman.workers", size_t{0});
    cfg.set("middleman.heartbeat-interval", caf::timespan{0});
    cfg.set("logger.console", caf::atom("none"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = dynamic_cast<caf::scheduler::test_coordinator*>(&sys->scheduler());
    mpx = dynamic_cast<caf::io::network::test_multiplexer*>(
      &sys->middleman().backend());
    require(sched != nullptr && mpx != nullptr,
            "the actor system does not run on the testing backends");
    manager = sys->spawn(fake_manager, manager_held);
    reader = sys->spawn(fake_reader, reader_held);
    config defaults;
    deps.manager = manager;
    deps.reader = reader;
    dispatcher = sys->spawn(fake_dispatcher, dispatcher_held);
    deps.dispatcher = dispatcher;
    deps.persistence = sys->spawn(fake_persistence, persistence_status{});
    deps.reg = std::make_shared<const registry>(builtin_registry(
      task_limits{defaults.max_text_bytes, defaults.max_top_n}));
    deps.tel = std::make_shared<telemetry>();
    deps.tel->state.db_up = true;
    deps.tel->state.recovered = true;
    // Fault injection knows the dispatcher and persistence (and kills
    // nothing); the gateway crashes itself only after a timer, which never
    // fires here.
    // (Spawned with an argument: CAF 0.17 reads a null tuple for none.)
    deps.coordinator = sys->spawn(
      [](caf::event_based_actor*, std::vector<std::string> known)
        -> caf::behavior {
        return {
          [known](crash_atom, const std::string& name) {
            return std::count(known.begin(), known.end(), name) > 0;
          },
        };
      },
      std::vector<std::string>{"dispatcher", "persistence"});
    run();
  }

  /// Runs actors, the broker and pending reads until nothing moves.
  void run() {
    for (;;) {
      if (sched->try_run_once() || mpx->try_exec_runnable()
          || mpx->try_read_data())
        continue;
      return;
    }
  }

  /// Tells the fakes to answer what they hold; returns whether they held
  /// anything.
  bool release() {
    bool any = false;
    if (!manager_held->pending.empty()) {
      caf::anon_send(manager, ok_atom_v);
      any = true;
    }
    if (!reader_held->pending.empty()) {
      caf::anon_send(reader, ok_atom_v);
      any = true;
    }
    if (!dispatcher_held->pending.empty()) {
      caf::anon_send(dispatcher, ok_atom_v);
      any = true;
    }
    run();
    return any;
  }
};

world& the_world() {
  // Never destroyed: the run ends with the process.
  static auto* w = new world;
  return *w;
}

// -- the client's view -------------------------------------------------------

/// A request as Beast reads it from the bytes of a connection.
struct request_seen {
  std::string method;
  std::string target;
  bool expect_continue = false;
  bool keep_alive = true;
};

/// The requests a connection's bytes hold, as Beast's parser reads them.
struct request_model {
  /// The requests Beast reads whole, up to the first without keep-alive.
  std::vector<request_seen> complete;
  /// Bytes follow that Beast cannot read as a whole request (an error, or a
  /// request cut short).
  bool tail = false;
  /// The header of the request cut short or malformed after its header,
  /// when Beast has read that header.
  bool has_partial = false;
  request_seen partial;
};

bool contains_nocase(std::string haystack, std::string needle) {
  auto lower = [](std::string& s) {
    for (auto& c : s)
      if (c >= 'A' && c <= 'Z')
        c = static_cast<char>(c - 'A' + 'a');
  };
  lower(haystack);
  lower(needle);
  return haystack.find(needle) != std::string::npos;
}

template <class Message>
request_seen seen(const Message& msg) {
  request_seen r;
  r.method = std::string{msg.method_string()};
  r.target = std::string{msg.target()};
  r.expect_continue = contains_nocase(std::string{msg[http::field::expect]},
                                      "100-continue");
  r.keep_alive = msg.keep_alive();
  return r;
}

/// Reads `bytes` as pipelined requests with limits looser than the
/// gateway's, so that it counts at least the requests the gateway reads.
request_model model_requests(const std::string& bytes,
                             const gateway_config& cfg) {
  request_model m;
  size_t pos = 0;
  while (pos < bytes.size()) {
    http::request_parser<http::string_body> p;
    p.header_limit(static_cast<uint32_t>(2 * cfg.max_header_bytes));
    p.body_limit(2 * cfg.max_body_bytes);
    p.eager(true);
    beast::error_code err;
    while (!p.is_done() && pos < bytes.size()) {
      auto n = p.put(boost::asio::buffer(bytes.data() + pos,
                                         bytes.size() - pos),
                     err);
      pos += n;
      if (err || n == 0)
        break;
    }
    if (!p.is_done()) {
      m.tail = true;
      // A header read whole is a request the gateway may answer (a 100
      // Continue first, when it asks) even if its body is cut short or bad.
      if (p.is_header_done()) {
        m.has_partial = true;
        m.partial = seen(p.get());
      }
      return m;
    }
    m.complete.push_back(seen(p.get()));
    if (!m.complete.back().keep_alive)
      return m;
  }
  return m;
}

/// A response as Beast reads it from the gateway's output.
struct response_seen {
  unsigned status = 0;
  bool keep_alive = true;
  bool body_skipped = false;
  std::string content_type;
  std::string body;
  size_t size = 0;
};

bool starts_with(const std::string& s, size_t pos, const std::string& prefix) {
  return s.compare(pos, prefix.size(), prefix) == 0;
}

/// Reads one response at `pos`. `may_skip_body`: it answers a HEAD request,
/// so its body may be missing; it is when the next bytes are no body.
response_seen read_response(const std::string& out, size_t& pos,
                            bool may_skip_body) {
  auto head_end = out.find("\r\n\r\n", pos);
  require(head_end != std::string::npos, "a response head is cut short",
          out.substr(pos, 2000));
  head_end += 4;
  bool skip = false;
  if (may_skip_body)
    skip = head_end == out.size() || starts_with(out, head_end, "HTTP/1.1 ");
  http::response_parser<http::string_body> p;
  p.header_limit(64 * 1024);
  p.body_limit(64 * 1024 * 1024);
  p.eager(true);
  if (skip)
    p.skip(true);
  beast::error_code err;
  auto start = pos;
  while (!p.is_done() && pos < out.size()) {
    auto n = p.put(boost::asio::buffer(out.data() + pos, out.size() - pos),
                   err);
    pos += n;
    if (err || n == 0)
      break;
  }
  require(!err && p.is_done(), "Beast cannot read a response",
          err.message() + "\n" + out.substr(start, 2000));
  auto& msg = p.get();
  require(msg.version() == 11, "a response is not HTTP/1.1",
          out.substr(start, 200));
  response_seen r;
  r.status = msg.result_int();
  r.keep_alive = msg.keep_alive();
  r.body_skipped = skip;
  r.content_type = std::string{msg[http::field::content_type]};
  r.body = msg.body();
  r.size = pos - start;
  if (r.status >= 200)
    require(!p.need_eof() && msg.has_content_length(),
            "a response has no Content-Length", out.substr(start, 200));
  return r;
}

/// The id of a task route's target (`/v1/tasks/<uuid>[/cancel|/retry]`),
/// lower case, or empty.
std::string task_id_of(const request_seen& req) {
  const std::string prefix = "/v1/tasks/";
  if (req.target.rfind(prefix, 0) != 0)
    return {};
  auto rest = req.target.substr(prefix.size());
  rest = rest.substr(0, rest.find('?'));
  std::string id = rest.substr(0, 36);
  auto suffix = rest.substr(id.size());
  if (id.size() != 36 || !(suffix.empty() || suffix == "/cancel"
                           || suffix == "/retry"))
    return {};
  for (auto& c : id) {
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
    else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
      return {};
  }
  return id;
}

// -- one input ---------------------------------------------------------------

/// What happened on one connection of an input.
struct connection_run {
  caf::io::connection_handle hdl;
  /// The bytes the client sends.
  std::string input;
  /// Offsets in `input` where a read ends, ascending.
  std::vector<size_t> breaks;
  size_t sent = 0;
  /// What the client has read.
  std::string output;
  /// Most bytes waiting unread at once.
  size_t peak_unsent = 0;
  bool closed_by_client = false;
  /// The gateway closed the connection (seen after a run).
  bool seen_closed = false;
  /// ... while bytes still waited for the client: one that does not read,
  /// cut off.
  bool aborted = false;
};

/// The settings of an input.
struct settings {
  bool client_reads = false;
  bool hold = false;
  bool client_closes = false;
  gateway_config cfg;
  size_t read_size = gateway_read_size;
  uint32_t jitter = 0;

  size_t next_read_size() {
    if (jitter == 0)
      return read_size;
    jitter = jitter * 1103515245u + 12345u;
    return 1 + (jitter >> 16) % read_size;
  }
};

settings settings_of(uint8_t mode, uint8_t jitter) {
  settings s;
  s.client_reads = (mode & 1) != 0;
  s.hold = (mode & 2) != 0;
  s.client_closes = (mode & 4) != 0;
  if ((mode & 8) != 0)
    s.cfg.auth_token = "fuzz-token";
  s.read_size = read_sizes[(mode >> 4) & 7];
  s.jitter = jitter;
  config defaults;
  s.cfg.port = port;
  s.cfg.limits = {defaults.default_max_attempts, defaults.default_timeout_ms,
                  defaults.max_batch};
  if ((mode & 128) != 0) {
    s.cfg.max_pipeline = 4;
    s.cfg.max_unsent_bytes = 8 * 1024;
    s.cfg.max_unsent_total = 24 * 1024;
    s.cfg.max_header_bytes = 4 * 1024;
    s.cfg.max_body_bytes = 8 * 1024;
  }
  return s;
}

/// Whether the broker still has the connection.
bool attached(world& w, caf::io::connection_handle hdl) {
  auto& ptr = w.mpx->impl_ptr(hdl);
  return ptr != nullptr && !ptr->detached();
}

/// Checks what the broker holds for its connections.
void check_state(gateway_broker* gw, const gateway_config& cfg) {
  for (auto [in_flight, buffered] : gw->state.http->loads()) {
    require(in_flight <= cfg.max_pipeline + 1,
            "the broker holds more responses than max_pipeline",
            std::to_string(in_flight));
    require(buffered <= cfg.max_header_bytes + 2 * gateway_read_size,
            "the broker buffers too much of a connection",
            std::to_string(buffered));
  }
}

/// Notes what waits unread on each connection, and which ones the gateway
/// closed.
void note_unsent(world& w, std::vector<connection_run>& conns,
                 const settings& s) {
  for (auto& c : conns) {
    auto unsent = w.mpx->output_buffer(c.hdl).size();
    c.peak_unsent = std::max(c.peak_unsent, unsent);
    if (c.closed_by_client || c.seen_closed || attached(w, c.hdl))
      continue;
    c.seen_closed = true;
    // The gateway cuts off a client that does not read (past 16 times
    // max_unsent_bytes, or as the one holding the most past
    // max_unsent_total); otherwise it closes only once all has left.
    c.aborted = unsent > 0;
  }
}

/// The client reads what waits on each connection; true if there was any.
bool client_reads(world& w, std::vector<connection_run>& conns,
                  const settings& s) {
  note_unsent(w, conns, s);
  bool any = false;
  for (auto& c : conns) {
    auto& buf = w.mpx->output_buffer(c.hdl);
    if (buf.empty())
      continue;
    any = true;
    auto n = buf.size();
    c.output.append(buf.data(), buf.size());
    buf.clear();
    // The broker asked to hear when its bytes have left.
    if (w.mpx->ack_writes(c.hdl) && attached(w, c.hdl))
      w.mpx->impl_ptr(c.hdl)->data_transferred(w.mpx, n, 0);
  }
  w.run();
  return any;
}

/// The client closes each connection whose bytes the broker has taken.
void client_closes(world& w, std::vector<connection_run>& conns) {
  for (auto& c : conns) {
    if (c.closed_by_client || c.sent < c.input.size()
        || !w.mpx->virtual_network_buffer(c.hdl).empty()
        || !attached(w, c.hdl))
      continue;
    c.closed_by_client = true;
    w.mpx->impl_ptr(c.hdl)->io_failure(w.mpx,
                                       caf::io::network::operation::read);
  }
  w.run();
}

/// Checks what the gateway wrote on one connection.
void check_output(const connection_run& c, bool closed_by_gateway,
                  const settings& s) {
  auto m = model_requests(c.input, s.cfg);
  std::string context = "input:\n" + c.input.substr(0, 1500)
                        + "\noutput:\n" + c.output.substr(0, 2500);
  size_t finals = 0;
  bool continued = false; // a 100 Continue went to request `finals`
  size_t largest = 0;
  bool closed = false;
  for (size_t pos = 0; pos < c.output.size();) {
    require(!closed, "bytes follow a response with Connection: close",
            context);
    const request_seen* req = nullptr;
    if (finals < m.complete.size())
      req = &m.complete[finals];
    else if (m.has_partial && finals == m.complete.size())
      req = &m.partial;
    bool head = req != nullptr && req->method == "HEAD";
    auto res = read_response(c.output, pos, head);
    largest = std::max(largest, res.size);
    if (res.status < 200) {
      require(res.status == 100 && res.body.empty(),
              "an interim response is not 100 Continue", context);
      require(req != nullptr && req->expect_continue,
              "100 Continue for a request that did not ask for it", context);
      require(!continued, "100 Continue twice for one request", context);
      continued = true;
      continue;
    }
    continued = false;
    ++finals;
    require(finals <= m.complete.size() + (m.tail ? 1 : 0),
            "more responses than the bytes hold requests", context);
    if (finals > m.complete.size())
      require(res.status >= 400 && !res.keep_alive,
              "the answer to bytes Beast cannot read as a request is not an "
              "error that closes",
              context);
    if (req != nullptr && !req->keep_alive)
      require(!res.keep_alive,
              "a request without keep-alive is answered with keep-alive",
              context);
    if (head && res.status < 400)
      require(res.body_skipped, "a HEAD request's answer has a body", context);
    if (!res.body_skipped && res.body.size() > 0
        && res.content_type.rfind("application/json", 0) == 0)
      require(!json::parse(res.body, nullptr, false).is_discarded(),
              "a JSON body does not parse", context);
    // Answers leave in request order: a task route's answer is that task.
    if (req != nullptr && !res.body_skipped
        && (res.status == 200 || res.status == 202)) {
      auto id = task_id_of(*req);
      if (!id.empty()) {
        auto js = json::parse(res.body, nullptr, false);
        require(js.is_object() && js.contains("id") && js["id"] == id,
                "an answer is not the one for its request (out of order?)",
                context);
      }
    }
    closed = !res.keep_alive;
  }
  // (A client that closes first may do so before the gateway's close: that
  // waits until the last response has left.)
  if (!c.aborted && !(closed && c.closed_by_client))
    require(closed == closed_by_gateway,
            closed ? "a Connection: close response left the connection open"
                   : "the gateway closed a connection without saying so",
            context);
  if (!closed && !c.closed_by_client && !c.aborted)
    require(finals == m.complete.size(),
            "a request the client sent whole got no answer", context);
  auto bound = s.cfg.max_unsent_bytes + (s.cfg.max_pipeline + 1) * largest
               + 4096;
  require(c.peak_unsent <= bound,
          "too many response bytes wait for a client that does not read",
          std::to_string(c.peak_unsent) + " > " + std::to_string(bound));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  auto& w = the_world();
  auto s = settings_of(data[0], data[1]);
  // The connections' bytes.
  std::string rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::vector<connection_run> conns;
  for (size_t pos = 0;;) {
    auto next = conns.size() + 1 < max_connections ? rest.find(separator, pos)
                                                   : std::string::npos;
    connection_run c;
    c.hdl = caf::io::connection_handle::from_int(
      static_cast<int64_t>(100 + conns.size()));
    auto bytes = rest.substr(pos,
                             next == std::string::npos ? next : next - pos);
    for (size_t from = 0;;) {
      auto brk = bytes.find(read_break, from);
      c.input += bytes.substr(from, brk == std::string::npos ? brk
                                                             : brk - from);
      if (brk == std::string::npos)
        break;
      c.breaks.push_back(c.input.size());
      from = brk + read_break.size();
    }
    conns.push_back(std::move(c));
    if (next == std::string::npos)
      break;
    pos = next + separator.size();
  }
  // A fresh broker on a test acceptor, spawned as the coordinator does.
  auto acceptor = caf::io::accept_handle::from_int(1);
  w.mpx->provide_acceptor(port, acceptor);
  for (auto& held : {w.manager_held, w.reader_held, w.dispatcher_held})
    held->hold = s.hold;
  auto bound = std::make_shared<uint16_t>(0);
  auto listener = w.sys->spawn(
    [](caf::event_based_actor*, std::shared_ptr<uint16_t> bound)
      -> caf::behavior {
      return {
        [bound](ok_atom, uint16_t p) { *bound = p; },
      };
    },
    bound);
  auto broker = w.sys->middleman().spawn_broker(gateway, s.cfg, w.deps,
                                                listener);
  w.run();
  require(*bound == port, "the gateway did not report listening on the "
                          "test acceptor");
  auto* gw = dynamic_cast<gateway_broker*>(
    caf::actor_cast<caf::abstract_actor*>(broker));
  require(gw != nullptr, "the broker is not a gateway_broker");
  for (auto& c : conns) {
    w.mpx->add_pending_connect(acceptor, c.hdl);
    w.mpx->accept_connection(acceptor);
  }
  w.run();
  // Rounds: each connection gets its next read, then everything runs.
  for (bool more = true; more;) {
    more = false;
    for (auto& c : conns) {
      if (c.sent >= c.input.size())
        continue;
      // A client whose connection the gateway closed stops sending.
      if (!attached(w, c.hdl)) {
        c.sent = c.input.size();
        continue;
      }
      auto end = c.input.size();
      for (auto brk : c.breaks)
        if (brk > c.sent) {
          end = brk;
          break;
        }
      auto n = std::min(s.next_read_size(), end - c.sent);
      auto& vn = w.mpx->virtual_network_buffer(c.hdl);
      vn.insert(vn.end(), c.input.begin() + static_cast<ptrdiff_t>(c.sent),
                c.input.begin() + static_cast<ptrdiff_t>(c.sent + n));
      c.sent += n;
      more = more || c.sent < c.input.size();
      w.run();
      check_state(gw, s.cfg);
    }
    if (s.client_reads)
      client_reads(w, conns, s);
    else
      note_unsent(w, conns, s);
    check_state(gw, s.cfg);
    // A client that is done closes before the held answers come.
    if (s.client_closes)
      client_closes(w, conns);
    w.release();
    check_state(gw, s.cfg);
  }
  // The client reads the rest; whatever it unblocks runs too.
  for (;;) {
    note_unsent(w, conns, s);
    bool released = w.release();
    bool read = client_reads(w, conns, s);
    check_state(gw, s.cfg);
    if (s.client_closes)
      client_closes(w, conns);
    if (!released && !read)
      break;
  }
  std::vector<bool> closed_by_gateway;
  for (auto& c : conns)
    closed_by_gateway.push_back(!c.closed_by_client
                                && w.mpx->stopped_reading(c.hdl));
  // The broker goes, and takes its connections with it.
  caf::anon_send_exit(broker, caf::exit_reason::kill);
  w.run();
  require(gw->getf(caf::abstract_actor::is_terminated_flag),
          "the gateway outlived a kill");
  for (auto& c : conns)
    require(!attached(w, c.hdl), "a connection outlived the gateway");
  // TASKER_FUZZ_TRACE=1 shows what each connection saw (to replay an input).
  static const bool trace = getenv("TASKER_FUZZ_TRACE") != nullptr;
  for (size_t i = 0; i < conns.size(); ++i) {
    if (trace)
      fprintf(stderr,
              "== connection %zu (%s, peak unsent %zu)\n-- sent:\n%s\n"
              "-- received:\n%s\n",
              i,
              conns[i].closed_by_client ? "closed by the client"
              : conns[i].aborted        ? "cut off by the gateway"
              : closed_by_gateway[i]    ? "closed by the gateway"
                                        : "open",
              conns[i].peak_unsent, conns[i].input.c_str(),
              conns[i].output.c_str());
    check_output(conns[i], closed_by_gateway[i], s);
  }
  // Leave the multiplexer and the clock as the next input expects them.
  for (auto& c : conns) {
    w.mpx->virtual_network_buffer(c.hdl).clear();
    w.mpx->output_buffer(c.hdl).clear();
    w.mpx->input_buffer(c.hdl).clear();
    w.mpx->passive_mode(c.hdl) = false;
    w.mpx->stopped_reading(c.hdl) = false;
    w.mpx->ack_writes(c.hdl) = false;
    w.mpx->impl_ptr(c.hdl).reset();
  }
  w.mpx->impl_ptr(acceptor).reset();
  w.mpx->passive_mode(acceptor) = false;
  w.mpx->stopped_reading(acceptor) = false;
  w.mpx->pending_connects().erase(acceptor);
  w.sched->clock().cancel_all();
  for (auto& held : {w.manager_held, w.reader_held, w.dispatcher_held})
    held->pending.clear();
  return 0;
}
