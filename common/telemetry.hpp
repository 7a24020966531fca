#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/activity.hpp"

namespace tasker {

/// The Redis status cache: off (no redis_url), up (its last call worked) or
/// down (tasker works on without it).
enum class cache_state : int { off, up, down };

/// Process-wide health flags, written by their owners and read by the
/// gateway for `/ready` and `/v1/cluster`.
struct health {
  /// The last database round trip of the writers succeeded.
  std::atomic<bool> db_up{false};
  /// Recovery of unfinished tasks has finished.
  std::atomic<bool> recovered{false};
  /// State updates buffered by persistence and not yet committed.
  std::atomic<int64_t> db_backlog{0};
  std::atomic<cache_state> cache{cache_state::off};
};

/// What the Redis status cache counts (metrics `tasker_cache_*_total`).
enum class cache_event {
  /// A read found a usable entry.
  hit,
  /// A read found no entry (or one it may not use).
  miss,
  /// A read failed (Redis unreachable, timed out, an error reply).
  read_error,
  /// A read found an entry that does not decode.
  corrupt,
  /// An entry disagreed with the database.
  inconsistent,
  /// A write (of a batch of entries) failed; it is retried.
  write_error,
  /// An entry could not be written after its retries.
  write_failure,
  /// A read went to the database.
  db_fallback,
};

/// The counts of each `cache_event`, for /v1/cluster.
struct cache_counts {
  uint64_t hits = 0, misses = 0, read_errors = 0, corrupt = 0,
           inconsistent = 0, write_errors = 0, write_failures = 0,
           db_fallbacks = 0, writes = 0;
};

/// The Prometheus metrics of a coordinator (names in docs/ARCHITECTURE.md). Thread
/// safe: actors record into it directly.
class metrics {
public:
  metrics();
  ~metrics();

  void task_submitted(const std::string& type);
  /// A task reached the terminal status named `status` (`COMPLETED`, ...).
  void task_finished(const std::string& type, const char* status,
                     double seconds);
  void batch_committed(size_t rows, double seconds);
  void http_request(const std::string& route, int status);
  void set_queue_depth(int64_t n);
  void set_in_flight(int64_t n);
  void set_live_tasks(int64_t n);
  void set_persistence_backlog(int64_t n);
  void set_workers(const std::string& status, int64_t n);
  void supervisor_restart(const std::string& supervisor);
  void cache(cache_event what);
  /// Retention deleted `n` finished tasks.
  void retention_deleted(size_t n);
  /// A retention pass ended after `seconds`.
  void retention_pass(double seconds);
  /// Entries written to the cache.
  void cache_written(size_t n);
  cache_counts cache_totals() const;

  /// The last hour of the calls above, in 10 s slots (`GET /v1/activity`).
  const activity& recent() const;

  /// The Prometheus text exposition of every metric.
  std::string serialize() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Restarts of one supervised actor (or of the task actors, which the task
/// manager restarts).
struct restart_record {
  uint64_t restarts = 0;
  /// Epoch ms of the last restart.
  int64_t last_at = 0;
  /// Why the last child died, as CAF renders its exit reason.
  std::string last_reason;
};

/// The restarts by supervisor name ("gateway", "persistence", "dispatcher",
/// "task_actors"), for `/v1/cluster`. Thread safe.
class supervision_log {
public:
  void restarted(const std::string& name, std::string reason);
  restart_record of(const std::string& name) const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, restart_record> records_;
};

/// What every actor of a coordinator shares: health flags and metrics.
struct telemetry {
  health state;
  metrics stats;
  supervision_log supervision;
};

using telemetry_ptr = std::shared_ptr<telemetry>;

} // namespace tasker
