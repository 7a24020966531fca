#pragma once

#include <atomic>
#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "config/config.hpp"
#include "persistence/leadership.hpp"

namespace tasker {

class registry;

/// What a standby coordinator is made of, for the main thread.
struct standby_handles {
  /// The standby's root: answers `get_atom` with its HTTP port once it
  /// listens (or the error that kept it from listening), and `stop_atom`
  /// with the exit code once everything stopped.
  caf::actor root;
  /// Where writes go: the task manager's stand-in (reads from the database,
  /// writes forwarded), and the relays to the active coordinator's
  /// dispatcher and HTTP worker hub. The link retargets them.
  caf::actor front;
  caf::actor dispatcher;
  caf::actor pull_hub;
  /// Set when the standby failed (its gateway died): the process stops with
  /// exit code 1, so that its supervisor starts it again.
  std::shared_ptr<std::atomic<bool>> failed
    = std::make_shared<std::atomic<bool>>(false);
};

/// Spawns a standby coordinator (docs/ARCHITECTURE.md, "Standby
/// coordinators"): the HTTP gateway on the configured port, with reads served
/// from the database (a reader, the event hub, the database monitor) and
/// every write forwarded to the active coordinator over the cluster port
/// (503 with Retry-After while there is none). Nothing in it writes a task.
standby_handles spawn_standby(caf::actor_system& sys, const config& cfg,
                              std::shared_ptr<const registry> reg,
                              leadership_view_ptr view);

/// Keeps the standby's forwarding pointed at the active coordinator: joins
/// its cluster port (with the cluster secret, as a worker node does, but
/// without joining as a node), asks its dispatcher for its task manager and
/// HTTP worker hub (with the secret again), and retargets the handles; again
/// whenever the active one or its epoch changes, or the connection is lost.
/// Runs on a thread of its own until `stop`.
class standby_link {
public:
  standby_link(caf::actor_system& sys, const config& cfg,
               leadership_view_ptr view, standby_handles handles);
  ~standby_link();
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tasker
