#pragma once

#include <csignal>
#include <memory>

#include <caf/fwd.hpp>

#include "config/config.hpp"
#include "tasks/registry.hpp"

namespace tasker {

/// Runs a coordinator (gateway, task manager, dispatcher, persistence and
/// the local worker node) until SIGINT or SIGTERM. Returns the exit code.
int run_coordinator(const config& cfg);

/// Runs a worker node that joins the coordinator at `cfg.join` and rejoins
/// with back-off whenever it loses it, until SIGINT or SIGTERM. Returns the
/// exit code (1 when the coordinator refuses the node).
int run_worker(const config& cfg);

/// The task types of a node: the built-in ones and those declared in the
/// `task_types` file. Null, after logging what is wrong with the file as
/// `component`, when it cannot be read (the process then exits with 2).
std::shared_ptr<const registry> load_registry(const config& cfg,
                                              const char* component);

/// This machine's host name, or `fallback` when it has none.
std::string host_name(const char* fallback);

/// Blocks SIGINT and SIGTERM in this thread (and every thread it starts), so
/// that `sigwait` on the returned set takes them.
sigset_t block_stop_signals();

/// What every node's actor system shares: tasker's message types, the
/// middleman with the same heartbeat and connection timeout on every node, no
/// CAF console log, and with TLS CAF's OpenSSL module with the node's
/// certificate, key and CA.
void configure_node(caf::actor_system_config& sys_cfg, const config& cfg);

} // namespace tasker
