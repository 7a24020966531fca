#pragma once

#include <optional>
#include <unordered_set>

#include <caf/io/broker.hpp>

#include "cache/task_cache.hpp"
#include "common/telemetry.hpp"
#include "gateway/connection_engine.hpp"
#include "gateway/event_streams.hpp"
#include "gateway/validation.hpp"
#include "messages/interfaces.hpp"
#include "persistence/leadership.hpp"

namespace tasker {

struct gateway_config : connection_limits {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  /// Most list requests waiting for the reader (one database connection,
  /// one query at a time) over all connections; more get 503 at once.
  size_t max_lists_in_flight = 16;
  /// Bearer token required on /v1 when not empty.
  std::string auth_token;
  /// What HTTP workers authenticate with (see `credentials`).
  std::string worker_token;
  std::string cluster_secret;
  /// What a lease of an HTTP worker lasts without a heartbeat (told to the
  /// workers).
  int64_t lease_timeout_ms = 30000;
  submit_limits limits;
  /// Most event streams (GET /v1/events) open at once; more get 503.
  size_t max_event_streams = 1000;
  /// What an event stream's client may leave unread before it is dropped.
  size_t event_buffer_bytes = 4 * 1024 * 1024;
  /// How often an event stream gets a keep-alive comment.
  std::chrono::milliseconds event_keepalive{15000};
};

/// The actors the gateway asks.
struct gateway_deps {
  task_manager_actor manager;
  dispatcher_actor dispatcher;
  reader_actor reader;
  persistence_actor persistence;
  std::shared_ptr<const registry> reg;
  telemetry_ptr tel;
  /// The sessions of HTTP workers.
  pull_hub_actor pull_hub;
  /// Fault injection (only when configured): the coordinator, which
  /// answers `(crash_atom, name)` by killing the named actor and saying
  /// whether there is one by that name.
  caf::actor coordinator;
  /// What the cluster port's guard has seen (for /v1/cluster); may be
  /// empty.
  std::function<cluster_port_status()> cluster_port;
  /// The Redis status cache (none when off), for /v1/cluster.
  std::shared_ptr<task_cache> cache;
  /// The event stream's reader (persistence/event_hub.hpp); none: no
  /// GET /v1/events.
  caf::actor events;
  /// Leadership as this process knows it (role, epoch, the coordinators);
  /// none: a gateway without standbys (tests).
  std::shared_ptr<const leadership_view> leader;
  /// This gateway is a standby coordinator's (nodes/standby.cpp).
  bool standby = false;
};

struct gateway_state {
  static inline constexpr const char* name = "gateway";

  /// Connections and their requests; set up when the broker starts.
  std::optional<connection_engine> http;
  /// List requests the reader has not answered (shared with the handlers
  /// that count them down).
  std::shared_ptr<size_t> lists_in_flight = std::make_shared<size_t>(0);
  uint64_t list_refusals = 0;
  gateway_config cfg;
  gateway_deps deps;
  std::string openapi;
  std::string task_types;
  /// Open connections, and those the engine asked not to read (see
  /// `carry_out` in gateway.cpp).
  std::unordered_set<int64_t> open;
  std::unordered_set<int64_t> stopped;
  /// The event streams (GET /v1/events).
  std::optional<event_streams> streams;
  std::chrono::steady_clock::time_point last_keepalive;
  uint64_t stream_refusals = 0;
};

using gateway_broker = caf::io::stateful_broker<gateway_state>;

/// The HTTP/1.1 gateway: a broker on the middleman's thread. Carries CAF's
/// connection events to its connection engine and the engine's actions to
/// the sockets; validates each request, asks the actors, and hands the
/// answers back to the engine. It never blocks and never
/// touches the database itself. Tells `listener` `(ok_atom, port)` once it
/// listens; when it cannot, it stops with the reason.
caf::behavior gateway(gateway_broker* self, gateway_config cfg,
                      gateway_deps deps, caf::actor listener);

} // namespace tasker
