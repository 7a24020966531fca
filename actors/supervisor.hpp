#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include <caf/actor.hpp>
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
  /// Spawns the child (again); called on the supervisor's thread.
  std::function<caf::actor()> spawn;
  /// Called after each restart (counting it).
  std::function<void()> restarted;
  /// Called once when restarts come too fast: the supervisor then stops,
  /// and whoever runs it should stop too.
  std::function<void()> gave_up;
};

struct supervisor_state {
  static inline constexpr const char* name = "supervisor";

  caf::actor child;
  /// Times of the recent restarts (within the window).
  std::deque<std::chrono::steady_clock::time_point> recent;
  uint64_t restarts = 0;
};

/// Supervises one actor, one-for-one: a child that dies abnormally is
/// spawned again (monitor, then spawn), at most `max_restarts` times within
/// `window`; a child that stops normally or is shut down ends the
/// supervisor. Stopping the supervisor stops the child.
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         supervisor_config cfg, supervisor_hooks hooks);

} // namespace tasker

namespace tasker {

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
