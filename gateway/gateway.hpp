#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>

#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>

#include "common/telemetry.hpp"
#include "gateway/validation.hpp"
#include "messages/interfaces.hpp"

namespace tasker {

struct gateway_config {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  uint64_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 2 * 1024 * 1024;
  /// Most open connections; one past it is closed at once.
  size_t max_connections = 10000;
  /// Time a client has to send a whole request (head and body): a slow
  /// client gets 408 and is closed.
  std::chrono::milliseconds header_timeout{10000};
  /// An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
  /// Most requests in flight on one connection: reading pauses above it.
  size_t max_pipeline = 64;
  /// Reading pauses while more response bytes than this wait on a
  /// connection, ready or unsent (and resumes below half of it). A
  /// connection with 16 times as much is closed (room for the largest list
  /// page); while all connections together hold more than
  /// `max_unsent_total`, the one holding the most is.
  size_t max_unsent_bytes = 1024 * 1024;
  size_t max_unsent_total = 64 * 1024 * 1024;
  /// Most list requests waiting for the reader (one database connection,
  /// one query at a time) over all connections; more get 503 at once.
  size_t max_lists_in_flight = 16;
  /// Most bytes held for requests being received, over all connections:
  /// the connection whose request would pass it gets 503 and is closed.
  size_t max_request_buffer_bytes = 256 * 1024 * 1024;
  /// Bearer token required on /v1 when not empty.
  std::string auth_token;
  submit_limits limits;
};

/// The actors the gateway asks.
struct gateway_deps {
  task_manager_actor manager;
  dispatcher_actor dispatcher;
  reader_actor reader;
  persistence_actor persistence;
  std::shared_ptr<const registry> reg;
  telemetry_ptr tel;
  /// Fault injection (only when configured): the coordinator, which
  /// answers `(crash_atom, name)` by killing the named actor and saying
  /// whether there is one by that name.
  caf::actor coordinator;
  /// What the cluster port's guard has seen (for /v1/cluster); may be
  /// empty.
  std::function<cluster_port_status()> cluster_port;
};

struct gateway_state {
  static inline constexpr const char* name = "gateway";

  /// A request waiting for an actor's answer: its response slot.
  struct pending {
    caf::io::connection_handle hdl;
    uint64_t generation;
    uint64_t seq;
    bool keep_alive;
    /// A HEAD request: the response goes without its body.
    bool head;
    std::string label;
  };

  using deadline_map
    = std::multimap<std::chrono::steady_clock::time_point, pending>;

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
    /// Tells apart a reused handle from the connection a reply was for.
    uint64_t generation = 0;
    /// A response that closes the connection is queued: parse no more.
    bool closing = false;
    /// Part of a request is buffered, since `partial_since`.
    bool partial = false;
    std::chrono::steady_clock::time_point partial_since;
    /// When bytes last arrived or a response left.
    std::chrono::steady_clock::time_point last_active;
    /// Reading paused: `max_pipeline` requests are in flight.
    bool paused = false;
    /// Reading paused: more than `max_unsent_bytes` of responses wait for
    /// the client to read them.
    bool write_blocked = false;
    /// Bytes of responses that are ready but wait behind an earlier one.
    size_t queued = 0;
    /// Bytes handed to CAF that the socket may not have taken yet: exact
    /// while `acking`, else an upper bound (below `ack_threshold`).
    size_t unsent = 0;
    /// CAF reports each write of this connection (`ack_writes`): switched on
    /// past `ack_threshold` unconfirmed bytes or for a closing response, off
    /// again once all has left (a report per write would cost every
    /// response a message).
    bool acking = false;
    /// The last response closes the connection once it has left (CAF's own
    /// close would wait without end for a client that does not read).
    bool close_when_sent = false;
    /// What `reader` held when last counted in `held_bytes`.
    size_t held = 0;
  };

  std::unordered_map<caf::io::connection_handle, connection> conns;

  /// Bytes of responses held over all connections: queued, and unsent on
  /// the connections whose writes CAF reports.
  size_t out_bytes = 0;
  /// List requests the reader has not answered (shared with the handlers
  /// that count them down).
  std::shared_ptr<size_t> lists_in_flight = std::make_shared<size_t>(0);
  uint64_t list_refusals = 0;
  uint64_t unread_closed = 0;
  /// Bytes the connections' readers hold, as last counted.
  size_t held_bytes = 0;
  uint64_t buffer_refusals = 0;

  /// Deadlines of requests waiting for actors (answered 503 when passed).
  deadline_map deadlines;
  uint64_t next_generation = 1;
  gateway_config cfg;
  gateway_deps deps;
  std::string openapi;
  std::string task_types;
  uint64_t requests = 0;
  /// The connection whose requests are being parsed right now (a response
  /// completed meanwhile must not start parsing it again).
  caf::io::connection_handle parsing;
  uint64_t refused_connections = 0;
  uint64_t timed_out_requests = 0;
  uint64_t idle_closed = 0;
  std::chrono::steady_clock::time_point last_refusal_log;
};

using gateway_broker = caf::io::stateful_broker<gateway_state>;

/// The HTTP/1.1 gateway: a broker on the middleman's thread. Parses requests
/// with Beast (keep-alive, pipelining answered in order), validates them,
/// asks the actors, and writes the answers. It never blocks and never
/// touches the database itself. Tells `listener` `(ok_atom, port)` once it
/// listens; when it cannot, it stops with the reason.
caf::behavior gateway(gateway_broker* self, gateway_config cfg,
                      gateway_deps deps, caf::actor listener);

} // namespace tasker
