#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace tasker {

/// Settings of a one-child supervisor.
struct supervisor_config {
  /// Who is supervised, for logs and metrics ("gateway").
  std::string name;
  /// More restarts than this within `window` and the supervisor gives up.
  size_t max_restarts = 5;
  std::chrono::milliseconds window{10000};
};

/// What a supervisor does, given from outside so it stays generic.
struct supervisor_hooks {
  /// The first child, already running (optional): adopted instead of
  /// spawning one at start.
  caf::actor adopt;
  /// Spawns the child, given the restarts so far (0 for the first one);
  /// called on the supervisor's thread.
  std::function<caf::actor(uint64_t restarts)> spawn;
  /// Called after each restart with the new child, the restarts so far and
  /// why the old child died (optional).
  std::function<void(const caf::actor& child, uint64_t restarts,
                     const std::string& reason)>
    restarted;
};

struct supervisor_state {
  static inline constexpr const char* name = "supervisor";

  caf::actor child;
  /// Times of the recent restarts (within the window), by the actor clock.
  std::deque<caf::actor_clock::time_point> recent;
  uint64_t restarts = 0;
};

/// Supervises one actor, one-for-one: a child that dies abnormally is
/// spawned again (monitor, then spawn), at most `max_restarts` times within
/// `window`; a child that stops normally or is shut down ends the
/// supervisor. When restarts come too fast it gives up: it stops with the
/// child's exit reason, which tells whoever monitors it. Stopping the
/// supervisor stops the child. `(get_atom)` answers the current child.
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         supervisor_config cfg, supervisor_hooks hooks);

struct relay_state {
  static inline constexpr const char* name = "relay";

  caf::actor target;
};

/// A stable handle in front of a supervised actor: forwards every message to
/// its current target (requests keep their requester, so the answer goes
/// straight back), and `(retarget_atom, actor)` sets a new target after a
/// restart. Messages for a dead target fail like any request to a dead actor.
caf::behavior relay(caf::stateful_actor<relay_state>* self);

} // namespace tasker
