#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

namespace tasker {

/// A worker node: runs task attempts on its executor slots. Remote worker
/// nodes and the coordinator's local node share this interface.
using node_actor = caf::typed_actor<
  /// Runs attempts (one batch per dispatch round); each outcome goes back to
  /// the dispatcher in a `result_atom` batch.
  caf::reacts_to<run_atom, std::vector<task_assignment>>,
  /// Tells a running attempt (id, attempt) to stop: its handler sees the flag.
  caf::reacts_to<cancel_atom, std::string, int32_t>,
  /// An executor finished an attempt (internal).
  caf::reacts_to<done_atom, task_outcome>,
  /// Drain: take no new attempts, finish the running ones, report them and
  /// leave (from the dispatcher, or from the worker process on SIGTERM).
  caf::reacts_to<drain_atom>,
  /// Time to send the next heartbeat (self-message).
  caf::reacts_to<tick_atom>,
  /// Sends the outcomes collected so far to the dispatcher (self-message).
  caf::reacts_to<flush_atom>>;

/// An executor of a worker node: runs one attempt at a time on its own
/// thread and reports to its node agent.
using executor_actor = caf::typed_actor<
  caf::reacts_to<run_atom, task_assignment>>;

/// One live task: drives its state machine and answers its readers.
using task_actor = caf::typed_actor<
  /// The dispatcher handed attempt N to worker W at time T; the last number
  /// is the dispatcher's generation (how often it was restarted).
  caf::reacts_to<start_atom, int32_t, std::string, millis, uint64_t>,
  /// The dispatcher was restarted as generation G (this handle, a
  /// dispatcher_actor) and knows nothing queued or running: queue the due
  /// attempt again; a running attempt started by an earlier generation is
  /// lost.
  caf::reacts_to<redispatch_atom, uint64_t, caf::actor>,
  /// The persistence actor was restarted (this handle, a persistence_actor;
  /// none: keep the current one) and may have lost what this task handed
  /// it: write the current state again (awaiting the terminal one).
  caf::reacts_to<rewrite_atom, caf::actor>,
  /// An attempt ended on a worker node.
  caf::reacts_to<result_atom, task_outcome>,
  /// Attempt N reports its progress (JSON text), shown while it runs.
  caf::reacts_to<progress_atom, int32_t, std::string>,
  /// Attempt N ran past its timeout (sent by the dispatcher).
  caf::reacts_to<timeout_atom, int32_t>,
  /// The scheduled time of the next attempt has come (self-message).
  caf::reacts_to<dispatch_atom>,
  /// The deadline of the waiter with this id has passed (self-message).
  caf::reacts_to<wait_atom, uint64_t>,
  /// Reads the task, holding the reply up to `wait_ms` until it is terminal.
  caf::replies_to<get_atom, int64_t>::with<task_record>,
  /// Cancels the task; answers once CANCELLED is durable.
  caf::replies_to<cancel_atom>::with<task_record>>;

/// The dispatcher: ready queue, worker nodes, credits and attempt fencing.
using dispatcher_actor = caf::typed_actor<
  /// A worker node joins with its description, the cluster secret and its
  /// handle; replies its node id, or `unauthorized` for a wrong secret or
  /// protocol version.
  caf::replies_to<join_atom, node_info, std::string, node_actor>::with<
    std::string>,
  /// Queues an attempt of a task for a node that runs its type.
  caf::reacts_to<enqueue_atom, task_assignment, task_actor>,
  /// Withdraws attempt N of a task: drops it from the queue or stops it on
  /// its node.
  caf::reacts_to<cancel_atom, std::string, int32_t>,
  /// A node reports the end of attempts.
  caf::reacts_to<result_atom, std::vector<task_outcome>>,
  /// A node reports the progress of attempt N of a task it runs (JSON
  /// text), for the task to show while it runs.
  caf::reacts_to<progress_atom, std::string, int32_t, std::string>,
  /// A node (by id) says it is alive, every second; replies whether the
  /// dispatcher still counts it as a member (false: join again).
  caf::replies_to<heartbeat_atom, std::string>::with<bool>,
  /// Periodic check of attempt timeouts (self-message).
  caf::reacts_to<tick_atom>,
  /// Stops giving a node new tasks; replies whether the node exists.
  caf::replies_to<drain_atom, std::string>::with<bool>,
  caf::replies_to<status_atom>::with<dispatcher_status>,
  caf::replies_to<workers_atom>::with<std::vector<worker_view>>,
  /// A standby coordinator, with the cluster secret, asks for the task
  /// manager and the HTTP worker hub to forward its gateway's writes to;
  /// `unauthorized` for a wrong secret.
  caf::replies_to<get_atom, std::string>::with<caf::actor, caf::actor>>;

/// The sessions of HTTP workers (workers in any language that lease tasks
/// over HTTP). Each session is a worker node of the dispatcher.
using pull_hub_actor = caf::typed_actor<
  /// Opens a session for a worker described by `node_info` (name, task
  /// types, slots); replies its session id and its node id.
  caf::replies_to<join_atom, node_info>::with<std::string, std::string>,
  /// Leases up to N tasks to session S, waiting up to W ms for some;
  /// replies them and whether the session drains (its worker should stop).
  caf::replies_to<lease_atom, std::string, int32_t, int64_t>::with<
    std::vector<leased_task>, bool>,
  /// Extends the lease with this token, with the progress its worker
  /// reports (JSON text; empty: none); replies whether its task was
  /// cancelled meanwhile.
  caf::replies_to<heartbeat_atom, std::string, std::string>::with<bool>,
  /// Ends the lease with this token with the attempt's outcome.
  caf::replies_to<result_atom, std::string, task_outcome>::with<ok_atom>,
  /// Closes session S: its leases end as lost attempts.
  caf::replies_to<stop_atom, std::string>::with<ok_atom>>;

/// The batching front of the database: group commits of inserts and updates.
using persistence_actor = caf::typed_actor<
  /// Stores one submission group, all or none; replies after the commit.
  /// An empty group is a barrier: answered once every submission handed to
  /// the database before it was committed or failed.
  caf::replies_to<insert_atom, std::vector<task_record>>::with<insert_result>,
  /// Records a task's new state without waiting for the commit.
  caf::reacts_to<update_atom, task_record>,
  /// Records a task's new state and replies once it is committed.
  caf::replies_to<write_atom, task_record>::with<ok_atom>,
  /// Replaces the `workers` table with this snapshot, in the next batch.
  caf::reacts_to<workers_atom, std::vector<worker_view>>,
  /// Starts a flush of the buffered writes of one shard (self-message).
  caf::reacts_to<flush_atom, int32_t>,
  caf::replies_to<status_atom>::with<persistence_status>>;

/// A database writer (detached): commits one batch at a time.
using writer_actor = caf::typed_actor<
  /// Commits a batch in one transaction.
  caf::replies_to<write_atom, write_batch>::with<batch_outcome>>;

/// The Redis status cache's writer (detached): writes task states after
/// their commit, best effort, each retried at 100, 200 and 400 ms.
using cache_writer_actor = caf::typed_actor<
  /// Writes these states. With `true`, they are what a database read found
  /// (a write-back that heals an entry): each is written only over an entry
  /// that is not newer, and never over a state committed meanwhile.
  caf::reacts_to<cache_atom, std::vector<task_record>, bool>,
  /// Deletes the entries of these tasks (retention deleted them).
  caf::reacts_to<cache_atom, std::vector<std::string>>,
  /// Writes what is due (self-message: retries).
  caf::reacts_to<flush_atom>>;

/// A database reader (detached): tasks not in memory, lists and recovery.
using reader_actor = caf::typed_actor<
  /// Reads one task by id for a client: the Redis cache first, when there
  /// is one.
  caf::replies_to<get_atom, std::string>::with<task_record>,
  /// Reads one task by id from the database alone (supervision and the
  /// settling of submissions, which must see what is committed).
  caf::replies_to<fetch_atom, std::string>::with<task_record>,
  caf::replies_to<list_atom, list_query>::with<task_page>,
  /// Reads the first N events of a task, in order, and its webhook
  /// deliveries (`not_found` when there is no such task).
  caf::replies_to<events_atom, std::string, int32_t>::with<task_history>,
  /// Per task type and bucket of N ms, what happened in the last M ms
  /// (`GET /v1/stats`).
  caf::replies_to<stats_atom, int64_t, int64_t>::with<std::vector<stats_row>>,
  /// Reads one page of unfinished tasks in (scheduled_at, id) order after
  /// the position (scheduled_at, id), scheduled at or before a time; at most
  /// N of them (recovery and delayed tasks coming due).
  caf::replies_to<recover_atom, millis, std::string, millis, int32_t>::with<
    std::vector<task_record>>>;

/// The task manager: spawns and supervises task actors and routes requests.
using task_manager_actor = caf::typed_actor<
  /// Submits a group of tasks (all or none); replies once stored.
  caf::replies_to<submit_atom, std::vector<task_record>>::with<submit_reply>,
  /// Reads a task, waiting up to N ms for a terminal state.
  caf::replies_to<get_atom, std::string, int64_t>::with<task_record>,
  /// Cancels a task.
  caf::replies_to<cancel_atom, std::string>::with<task_record>,
  /// Runs a FAILED or CANCELLED task again with a fresh attempts budget.
  caf::replies_to<retry_atom, std::string>::with<task_record>,
  /// A task actor reached a durable terminal state and is leaving.
  caf::reacts_to<finished_atom, task_record>,
  /// Retention deleted these tasks: forget what memory holds of them.
  caf::reacts_to<forget_atom, std::vector<std::string>>,
  /// Recovery of unfinished tasks from the database (self-message).
  caf::reacts_to<recover_atom>,
  /// The dispatcher was restarted as generation G (this handle): every live
  /// task queues its attempt again.
  caf::reacts_to<redispatch_atom, uint64_t, caf::actor>,
  /// The persistence actor was restarted (this handle): submissions and
  /// writes waiting for it are settled, and every live task writes its state
  /// again.
  caf::reacts_to<rewrite_atom, caf::actor>,
  /// Sends write N again (self-message): the persistence actor was gone.
  caf::reacts_to<resend_atom, uint64_t>,
  /// Sweeps the submissions' deadlines (self-message): a client whose
  /// submission waited too long for its commit gets `unavailable`.
  caf::reacts_to<expire_atom>,
  /// Settles the submission with this number, which the persistence actor
  /// died holding (self-message): was it stored or not?
  caf::reacts_to<settle_atom, uint64_t>,
  caf::replies_to<status_atom>::with<manager_status>>;

} // namespace tasker
