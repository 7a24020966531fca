#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace tasker {

/// What a coordinator did in the last hour, in 10 s slots, kept in memory for
/// the dashboard (`GET /v1/activity`): tasks submitted and finished, the
/// latency from submission to a terminal state, and the last value of the
/// queue gauges in each slot. Unlike `/v1/stats` (the database's history) it
/// costs no query and sees gauges, but it starts empty with the process.
/// Thread safe: the actors record into it through `metrics`.
class activity {
public:
  static constexpr int64_t slot_ms = 10'000;
  static constexpr size_t slots = 360;
  /// Latency buckets: bucket 0 holds [0, 1 ms); bucket i > 0 holds
  /// [g^(i-1), g^i) ms with g = 2^(1/4), up to about 4.5 days.
  static constexpr size_t buckets = 80;

  enum class gauge : size_t { queue_depth, in_flight, live_tasks, backlog, count };

  struct slot_view {
    int64_t start_ms = 0;
    uint64_t submitted = 0, completed = 0, failed = 0, cancelled = 0;
    /// The gauges as they stood at the slot's end (or now, for the last).
    std::array<int64_t, static_cast<size_t>(gauge::count)> gauges{};
    /// Submission-to-terminal latency of the tasks that finished in it; -1
    /// when none did.
    double p50_ms = -1, p95_ms = -1, p99_ms = -1;
  };

  struct window_view {
    std::vector<slot_view> slots;
    uint64_t finished = 0;
    double p50_ms = -1, p95_ms = -1, p99_ms = -1;
  };

  void submitted(int64_t now_ms, uint64_t n = 1);
  /// A task became terminal: `status` 0 completed, 1 failed, 2 cancelled.
  void finished(int64_t now_ms, int status, double latency_ms);
  void set(int64_t now_ms, gauge g, int64_t value);

  /// The slots of the last `window_ms` (at most an hour), oldest first,
  /// ending with the current one; slots before the first record are left
  /// out.
  window_view window(int64_t now_ms, int64_t window_ms) const;

  /// The bucket of a latency, and the upper bound of a bucket, in ms.
  static size_t bucket_of(double ms);
  static double upper_ms(size_t bucket);

private:
  struct slot {
    int64_t index = -1; // now_ms / slot_ms of what it holds
    uint64_t submitted = 0, completed = 0, failed = 0, cancelled = 0;
    std::array<int64_t, static_cast<size_t>(gauge::count)> gauges{};
    std::array<uint32_t, buckets> latency{};
  };

  /// The slot for `now_ms`, cleared (gauges carried over) when it is new.
  slot& current(int64_t now_ms);

  mutable std::mutex mtx_;
  std::array<slot, slots> ring_;
  std::array<int64_t, static_cast<size_t>(gauge::count)> last_{};
  int64_t first_index_ = -1;
  int64_t latest_index_ = -1;
};

} // namespace tasker
