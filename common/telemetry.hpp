#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace tasker {

/// Process-wide health flags, written by their owners and read by the
/// gateway for `/ready` and `/v1/cluster`.
struct health {
  /// The last database round trip of the writers succeeded.
  std::atomic<bool> db_up{false};
  /// Recovery of unfinished tasks has finished.
  std::atomic<bool> recovered{false};
  /// Restarts of the gateway, persistence and dispatcher actors by their
  /// supervisors.
  std::atomic<uint64_t> gateway_restarts{0};
  std::atomic<uint64_t> persistence_restarts{0};
  std::atomic<uint64_t> dispatcher_restarts{0};
  /// State updates buffered by persistence and not yet committed.
  std::atomic<int64_t> db_backlog{0};
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

  /// The Prometheus text exposition of every metric.
  std::string serialize() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// What every actor of a coordinator shares: health flags and metrics.
struct telemetry {
  health state;
  metrics stats;
};

using telemetry_ptr = std::shared_ptr<telemetry>;

} // namespace tasker
