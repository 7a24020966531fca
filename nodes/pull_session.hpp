#pragma once

// HTTP workers: processes in any language that lease tasks over HTTP
// (docs/API.md, "HTTP workers"). The hub opens a session for each; each
// session is an actor that joins the dispatcher as a worker node, so the
// dispatcher's credits, balancing, drain, liveness and fencing apply to it
// as to a CAF worker node, and nothing in the task actors knows how a node
// is reached. A session holds the attempts the dispatcher handed it until
// its worker leases them, and the leases until the worker completes or fails
// them; a lease not heartbeated in time ends as a lost attempt.

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace tasker {

struct pull_config {
  /// A lease not heartbeated for this long ends as a lost attempt; a session
  /// without a request for this long closes (its leases end the same way).
  int64_t lease_timeout_ms = 30000;
  /// Most sessions open at once; most lease requests waiting on one.
  size_t max_sessions = 1000;
  size_t max_waiting = 16;
};

/// Spawns the hub of HTTP worker sessions; sessions join `dispatcher`.
pull_hub_actor spawn_pull_hub(caf::actor_system& sys,
                              dispatcher_actor dispatcher, pull_config cfg);

} // namespace tasker
