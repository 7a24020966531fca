#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "common/clock.hpp"
#include "messages/equality.hpp"

namespace tasker {

// What the actors report about themselves (`status_atom`, `workers_atom`).
// The gateway renders them as JSON for `/v1/cluster` and `/v1/workers`
// (gateway/encoding.hpp); between actors they are plain structs.

struct manager_status {
  uint64_t live_task_actors = 0;
  uint64_t cached_results = 0;
  uint64_t spawned = 0;
  uint64_t finished = 0;
  uint64_t recovered = 0;
  uint64_t lost_attempts = 0;
  uint64_t loaded_from_database = 0;
  uint64_t delayed_parked = 0;
  /// Tasks due up to this time have actors; meaningless while recovering.
  millis resident_until = 0;
  bool recovering = true;
  uint64_t restarts = 0;
  uint64_t submit_timeouts = 0;
  /// Tasks of submissions waiting for their commit.
  uint64_t admitting = 0;
  uint64_t in_doubt_stored = 0;
  uint64_t in_doubt_not_stored = 0;
  bool recovery_done = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manager_status& x) {
  return f(caf::meta::type_name("tasker.manager_status"), x.live_task_actors,
           x.cached_results, x.spawned, x.finished, x.recovered,
           x.lost_attempts, x.loaded_from_database, x.delayed_parked,
           x.resident_until, x.recovering, x.restarts, x.submit_timeouts,
           x.admitting, x.in_doubt_stored, x.in_doubt_not_stored,
           x.recovery_done);
}

/// Attempts queued in the dispatcher for one task type and priority.
struct queue_depth {
  std::string type;
  int32_t priority = 0;
  uint64_t depth = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_depth& x) {
  return f(caf::meta::type_name("tasker.queue_depth"), x.type, x.priority,
           x.depth);
}

struct dispatcher_status {
  uint64_t queue_depth = 0;
  uint64_t in_flight = 0;
  /// Worker nodes that are not dead, and the dead ones still listed.
  uint64_t nodes = 0;
  uint64_t dead_nodes = 0;
  uint64_t dispatched = 0;
  uint64_t timeouts = 0;
  uint64_t stale_results_dropped = 0;
  bool paused_by_db_backlog = false;
  uint64_t generation = 0;
  /// The ready queue by task type, then priority (higher first).
  std::vector<tasker::queue_depth> queues;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatcher_status& x) {
  return f(caf::meta::type_name("tasker.dispatcher_status"), x.queue_depth,
           x.in_flight, x.nodes, x.dead_nodes, x.dispatched, x.timeouts,
           x.stale_results_dropped, x.paused_by_db_backlog, x.generation,
           x.queues);
}

struct persistence_status {
  uint64_t writers = 0;
  uint64_t batches = 0;
  uint64_t rows_written = 0;
  uint64_t failed_batches = 0;
  uint64_t last_batch_rows = 0;
  uint64_t max_batch_rows = 0;
  uint64_t backlog_rows = 0;
  uint64_t waiting_submits = 0;
  bool db_up = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, persistence_status& x) {
  return f(caf::meta::type_name("tasker.persistence_status"), x.writers,
           x.batches, x.rows_written, x.failed_batches, x.last_batch_rows,
           x.max_batch_rows, x.backlog_rows, x.waiting_submits, x.db_up);
}

/// What the cluster port's guard has seen (nodes/cluster_guard.hpp counts
/// it); read by the gateway through a function, not a message.
struct cluster_port_status {
  uint64_t admitted = 0;
  uint64_t in_exchange = 0;
  uint64_t wrong_secret = 0;
  uint64_t not_tasker = 0;
  uint64_t timed_out = 0;
  uint64_t refused_busy = 0;
  uint64_t dropped = 0;
};

/// One worker node as the dispatcher knows it: `/v1/workers` and the rows
/// of the `workers` table.
struct worker_view {
  std::string id;
  std::string name;
  std::string address;
  /// `ALIVE`, `SUSPECT`, `DRAINING` or `DEAD`.
  std::string status;
  std::vector<std::string> task_types;
  int32_t slots = 0;
  int32_t busy = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  millis joined_at = 0;
  millis last_seen = 0;
  int32_t protocol_version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_view& x) {
  return f(caf::meta::type_name("tasker.worker_view"), x.id, x.name, x.address,
           x.status, x.task_types, x.slots, x.busy, x.completed, x.failed,
           x.joined_at, x.last_seen, x.protocol_version);
}

} // namespace tasker
