#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "config/config.hpp"
#include "persistence/leadership.hpp"

namespace tasker {

class registry;
struct gateway_config;

/// The gateway's settings from the configuration (the active and the
/// standby coordinator serve the same).
gateway_config gateway_settings(const config& cfg);

/// Spawns the coordinator's root supervisor: an actor that starts every
/// component in order (persistence, the database monitor, the dispatcher,
/// the task manager, the supervisors, the local node, the gateway, the
/// cluster port), monitors the supervisors and the actors nothing restarts
/// in place (the task manager, the reader), and stops them in reverse order.
/// When a supervisor gives up or an unsupervised actor dies it logs why and
/// raises SIGTERM, and the stop that follows answers exit code 1.
///
/// It answers:
/// - `(get_atom) -> (uint16_t http_port, uint16_t cluster_port)` once both
///   ports listen, or the error that kept one from listening;
/// - `(stop_atom) -> int32_t`: stops everything in reverse order,
///   persistence once it has written what it holds, answers the exit code
///   and quits; `(stop_atom, false) -> int32_t` does not wait for
///   persistence (a deposed coordinator's writes are refused anyway);
/// - `(crash_atom, std::string name) -> bool`: fault injection, kills the
///   named actor (dispatcher, persistence, task_manager, reader).
caf::actor spawn_coordinator(caf::actor_system& sys, const config& cfg,
                             std::shared_ptr<const registry> reg,
                             leadership_view_ptr leader);

} // namespace tasker
