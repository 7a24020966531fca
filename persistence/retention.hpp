#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "cache/cache_writer.hpp"
#include "common/telemetry.hpp"
#include "messages/interfaces.hpp"

namespace tasker {

struct retention_settings {
  std::string db_url;
  /// Finished tasks older than this are deleted (finished before now minus
  /// it).
  int64_t retention_ms = 0;
  /// Rows per delete statement.
  int32_t batch = 1000;
  /// The least pause between two batches of a pass; it is three times
  /// what the batch took when that is longer (live traffic goes first).
  std::chrono::milliseconds pause{20};
  /// The time from the end of one pass to the next.
  std::chrono::milliseconds interval{60000};
};

/// Spawns retention: a detached actor with its own database connection
/// that, once per interval, deletes the tasks that finished more than
/// `retention_ms` ago, in batches in (created_at, id) order with a pause
/// between them. Unfinished tasks are never touched. It tells the task
/// manager and the Redis cache (when there is one) to forget what it
/// deleted, counts into `tasker_retention_*`, and logs a line per pass.
caf::actor spawn_retention(caf::actor_system& sys, retention_settings cfg,
                           telemetry_ptr tel, cache_link cache,
                           task_manager_actor manager);

} // namespace tasker
