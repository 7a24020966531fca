#pragma once

#include <chrono>
#include <string>

#include <caf/fwd.hpp>

#include "common/telemetry.hpp"

namespace tasker {

/// Spawns the database monitor: a detached actor that pings the database on
/// its own connection every `interval` and sets `health::db_up`, so that
/// `/ready` follows the database also while nothing else talks to it. A ping
/// is bounded by `timeout` (connecting included, polled without blocking
/// beyond it): a stopped or unreachable server counts as down at once. A
/// failed ping drops the connection; the next one connects anew. One bound
/// it cannot keep: libpq resolves a host name synchronously, so a resolver
/// that hangs holds a reconnect (and a shutdown during it) for the
/// resolver's own timeout; the database counts as down meanwhile, as the
/// failed ping before the reconnect said.
caf::actor spawn_db_monitor(caf::actor_system& sys, std::string url,
                            telemetry_ptr tel,
                            std::chrono::milliseconds interval,
                            std::chrono::milliseconds timeout);

} // namespace tasker
