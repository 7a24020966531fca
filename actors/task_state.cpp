#include "actors/task_state.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tasker {

namespace {

/// Counts a transition (`task_record::seq`).
void count_transition(task_record& rec) {
  if (rec.seq < std::numeric_limits<int32_t>::max())
    ++rec.seq;
}

} // namespace

std::optional<task_status> next_status(task_status from, task_event ev) {
  using s = task_status;
  // By event, in the order of `task_event`: the statuses it leaves (one or
  // two) and the one it enters.
  struct edge {
    s from1, from2, to;
  };
  static constexpr edge edges[] = {
    {s::pending, s::pending, s::processing},     // dispatched
    {s::processing, s::processing, s::completed}, // succeeded
    {s::processing, s::processing, s::pending},   // retry_scheduled
    {s::processing, s::processing, s::failed},    // failed
    {s::pending, s::processing, s::cancelled},    // cancelled
    {s::failed, s::cancelled, s::pending},        // retried
  };
  auto& e = edges[static_cast<size_t>(ev)];
  if (from == e.from1 || from == e.from2)
    return e.to;
  return std::nullopt;
}

int64_t backoff_ms(const backoff_policy& policy, int32_t attempt,
                   double unit_random) {
  auto exponent = std::max(0, attempt - 1);
  double base = static_cast<double>(policy.base_ms);
  double raw = exponent >= 62 ? static_cast<double>(policy.max_ms)
                              : base * std::ldexp(1.0, exponent);
  double capped = std::min(raw, static_cast<double>(policy.max_ms));
  double jitter = 0.75 + 0.25 * std::clamp(unit_random, 0.0, 1.0);
  return std::max<int64_t>(1, static_cast<int64_t>(capped * jitter));
}

bool apply_start(task_record& rec, int32_t attempt, const std::string& worker_id,
                 millis now) {
  auto next = next_status(rec.status, task_event::dispatched);
  if (!next || attempt != rec.attempts + 1)
    return false;
  rec.status = *next;
  rec.attempts = attempt;
  rec.progress.clear();
  rec.worker_id = worker_id;
  rec.started_at = now;
  rec.updated_at = now;
  count_transition(rec);
  return true;
}

bool apply_outcome(task_record& rec, const task_outcome& out,
                   const backoff_policy& policy, double unit_random,
                   millis now) {
  if (rec.status != task_status::processing || out.attempt != rec.attempts)
    return false;
  rec.updated_at = now;
  rec.progress.clear();
  if (out.ok) {
    rec.status = task_status::completed;
    rec.result = out.result.empty() ? "null" : out.result;
    rec.error.clear();
    rec.completed_at = now;
    count_transition(rec);
    return true;
  }
  rec.error = out.error;
  if (out.retryable && rec.attempts < rec.max_attempts) {
    rec.status = task_status::pending;
    rec.scheduled_at = now + backoff_ms(policy, rec.attempts, unit_random);
  } else {
    rec.status = task_status::failed;
    rec.completed_at = now;
  }
  count_transition(rec);
  return true;
}

bool apply_cancel(task_record& rec, millis now) {
  auto next = next_status(rec.status, task_event::cancelled);
  if (!next)
    return false;
  rec.status = *next;
  rec.progress.clear();
  rec.updated_at = now;
  rec.completed_at = now;
  count_transition(rec);
  return true;
}

bool apply_retry(task_record& rec, millis now) {
  auto next = next_status(rec.status, task_event::retried);
  if (!next)
    return false;
  rec.status = *next;
  rec.attempts = 0;
  rec.result.clear();
  rec.worker_id.clear();
  rec.started_at = 0;
  rec.completed_at = 0;
  rec.scheduled_at = now;
  rec.updated_at = now;
  count_transition(rec);
  return true;
}

bool apply_recovery(task_record& rec, millis now) {
  if (rec.status != task_status::processing)
    return false;
  rec.updated_at = now;
  rec.error = "attempt " + std::to_string(rec.attempts)
              + " was lost: the coordinator stopped while it ran";
  if (rec.attempts < rec.max_attempts) {
    rec.status = task_status::pending;
    rec.scheduled_at = now;
  } else {
    rec.status = task_status::failed;
    rec.completed_at = now;
  }
  count_transition(rec);
  return true;
}

} // namespace tasker
