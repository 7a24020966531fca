#pragma once

// The parts of the task manager: one actor, its state in task_manager.hpp,
// its work in four files that share these functions.
//
// - task_manager.cpp: the behavior: routing requests to the task actors,
//   supervising them (a dead one is started again from its durable row),
//   reads of finished tasks (result cache, then the reader), restarts of the
//   dispatcher and persistence announced to every task.
// - task_manager_submit.cpp: submissions, as `submission_tracker` decides:
//   the commit through persistence, the timeout, and the barrier and
//   read-back of a submission the persistence actor died holding.
// - task_manager_load.cpp: loading: recovery of every unfinished task at
//   start, then the tasks that come within the horizon.
// - task_manager_write.cpp: the manager's own writes (a retry, the
//   cancellation of a delayed task, a recovered terminal state), sent again
//   when the persistence actor dies with them.

#include <functional>
#include <vector>

#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/task_manager.hpp"

namespace tasker::manager {

// -- task_manager.cpp --------------------------------------------------------

/// Spawns and monitors the actor of a live task.
void spawn_task(task_manager_pointer self, task_record rec);

/// Tasks scheduled up to this time get an actor when they are stored; later
/// ones wait in the database until a load brings them in.
millis spawn_bound(const task_manager_state& st);

// -- task_manager_submit.cpp -------------------------------------------------

/// Admits a submission group and stores it (all or none); the promise is
/// answered once stored, refused or timed out.
caf::typed_response_promise<submit_reply>
submit(task_manager_pointer self, std::vector<task_record>& group);

/// Answers `unavailable` to the clients whose submissions waited too long
/// for their commits (the commits' outcomes are still applied when they
/// come), and sweeps again later while deadlines remain.
void sweep_deadlines(task_manager_pointer self);

/// Submission `token` waits for a commit that nobody will report (the
/// persistence actor died with it): it is settled by a read-back.
void doubt(task_manager_pointer self, uint64_t token);

/// The persistence actor died holding submission `token`: it was stored or
/// not, and nobody will say. A barrier through the restarted persistence
/// actor waits until the database writer has finished what it was given
/// before (the lost batch among it; submissions all go to the one writer);
/// then the rows are read back, the first one deciding (a submission is
/// stored all or none). Stored: the tasks get their actors and the client
/// its 202 (if still waiting). Not stored: the client hears so and may send
/// it again.
void settle_in_doubt(task_manager_pointer self, uint64_t token);

// -- task_manager_load.cpp ---------------------------------------------------

/// Loads the unfinished tasks that are due by now + horizon and have no
/// actor yet: at start every one of them (recovery: a lost running attempt
/// is counted), afterwards those that came within the horizon. Pages through
/// the database in (scheduled_at, id) order.
void load_due(task_manager_pointer self);

// -- task_manager_write.cpp --------------------------------------------------

/// Writes a record the manager itself changed (a retry, a delayed task's
/// cancellation); `done` gets the outcome once committed or refused. The
/// write is idempotent, so it is sent again when the persistence actor dies
/// with it: after 100 ms when bounced, at once when a restart is announced.
void write_record(task_manager_pointer self, task_record rec,
                  std::function<void(const caf::error&)> done);

/// Sends the manager's write `token` (again).
void send_write(task_manager_pointer self, uint64_t token);

/// Writes the terminal state recovery gave a task that has no actor (its
/// attempts ran out with a lost one).
void write_recovered(task_manager_pointer self, const task_record& rec);

} // namespace tasker::manager
