#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/task_state.hpp"
#include "common/telemetry.hpp"
#include "messages/interfaces.hpp"

namespace tasker {

/// What every task actor needs; shared by all of them.
struct task_deps {
  /// The dispatcher and persistence actors when the task starts.
  dispatcher_actor dispatcher;
  persistence_actor persistence;
  task_manager_actor manager;
  backoff_policy backoff;
  telemetry_ptr tel;
};

using task_deps_ptr = std::shared_ptr<const task_deps>;

struct task_state {
  static inline constexpr const char* name = "task";

  /// The task as the actor knows it, ahead of the database.
  task_record rec;
  /// What clients are shown: terminal states only once they are durable.
  task_record visible;
  /// Readers holding their reply until the task is terminal (`wait_ms`).
  std::unordered_map<uint64_t, caf::typed_response_promise<task_record>>
    waiters;
  uint64_t next_waiter = 1;
  /// Cancel requests answered once CANCELLED is durable.
  std::vector<caf::typed_response_promise<task_record>> cancel_waiters;
  /// A terminal state is being written.
  bool finishing = false;
  /// Writes of the terminal state sent (only the newest one's error counts)
  /// and those sent again because the persistence actor was gone.
  uint64_t terminal_writes = 0;
  int terminal_retries = 0;
  /// The dispatcher generation that started the running attempt.
  uint64_t started_by = 0;
  task_deps_ptr deps;
  /// The dispatcher and persistence actors this task talks to: the current
  /// ones themselves (not their relays); a restart hands it the new one.
  dispatcher_actor dispatcher;
  persistence_actor persistence;
};

using task_pointer = task_actor::stateful_pointer<task_state>;

/// One live task. Drives the state machine of actors/task_state.hpp: queues
/// each attempt with the dispatcher when it is due, applies start, results
/// and timeouts (fenced by attempt number), schedules retries with back-off,
/// and answers readers. A terminal state is written and committed before any
/// client sees it; then the actor hands its final record to the task manager
/// and exits.
task_actor::behavior_type task(task_pointer self, task_record rec,
                               task_deps_ptr deps);

} // namespace tasker
