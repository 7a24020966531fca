#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "messages/types.hpp"

namespace tasker {

/// The events that move a task between states.
///
/// ```
/// PENDING ──dispatched──▶ PROCESSING ──succeeded──▶ COMPLETED
///    ▲                        │ attempt failed (error / timeout / node lost)
///    │   attempts < max and   │
///    └──── retryable ◀────────┤ (retry_scheduled)
///                             └── otherwise ──▶ FAILED (failed)
/// PENDING or PROCESSING ──cancelled──▶ CANCELLED
/// FAILED or CANCELLED ──retried──▶ PENDING
/// ```
enum class task_event {
  dispatched,
  succeeded,
  retry_scheduled,
  failed,
  cancelled,
  retried,
};

/// Returns the status after `ev`, or nothing when `from` does not allow it.
std::optional<task_status> next_status(task_status from, task_event ev);

struct backoff_policy {
  int64_t base_ms = 1000;
  int64_t max_ms = 300000;
};

/// Back-off before attempt `attempt + 1` after attempt `attempt` failed:
/// `min(max_ms, base_ms * 2^(attempt-1))`, scaled by a jitter factor in
/// [0.75, 1.0] taken from `unit_random` in [0, 1).
int64_t backoff_ms(const backoff_policy& policy, int32_t attempt,
                   double unit_random);

/// Marks attempt `attempt` as started on `worker_id` at `now`.
/// Returns false (and changes nothing) when the task is not PENDING.
bool apply_start(task_record& rec, int32_t attempt, const std::string& worker_id,
                 millis now);

/// Applies the end of the current attempt: COMPLETED, PENDING with a back-off
/// (retryable and attempts left) or FAILED. Returns false when the outcome is
/// not for the current attempt or the task is not PROCESSING.
bool apply_outcome(task_record& rec, const task_outcome& out,
                   const backoff_policy& policy, double unit_random, millis now);

/// Cancels a PENDING or PROCESSING task. Returns false otherwise.
bool apply_cancel(task_record& rec, millis now);

/// Turns a FAILED or CANCELLED task back into PENDING with a fresh attempts
/// budget, due now. Returns false otherwise.
bool apply_retry(task_record& rec, millis now);

/// Recovery after a coordinator restart: a PROCESSING task lost its attempt
/// (which counts); it becomes PENDING again, or FAILED when no attempts are
/// left. Returns whether the record changed.
bool apply_recovery(task_record& rec, millis now);

} // namespace tasker
