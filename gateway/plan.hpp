#pragma once

#include "gateway/routes.hpp"
#include "gateway/validation.hpp"

namespace tasker {

/// What the gateway makes of one request before it asks an actor: the route,
/// and either the answer that refuses the request or the checked arguments
/// of what to ask.
struct request_plan {
  /// The matched route; its label names the request in metrics.
  route r;
  /// The error answer when the request is refused here.
  std::optional<http_response> refusal;
  /// The validated tasks of submit, batch and run_task.
  std::vector<task_record> group;
  /// The lower-cased task id of get_task, get_task_output, cancel and retry.
  std::string task_id;
  /// `wait_ms` of get_task.
  int64_t wait_ms = 0;
  /// The query of list_tasks.
  list_query query;
  /// The worker of open_session.
  node_info worker;
  /// `max_tasks` of lease (its `wait_ms` is `wait_ms`).
  int32_t max_tasks = 1;
  /// The outcome of lease_complete and lease_fail.
  task_outcome outcome;
  /// The progress of lease_heartbeat (JSON text; empty when none).
  std::string progress;
  /// The window and bucket width of stats, in ms (the window of activity
  /// too).
  int64_t stats_window_ms = 0;
  int64_t stats_bucket_ms = 0;
  /// The filter of event_stream, and where it resumes (none: from now on).
  event_filter events;
  std::optional<event_position> events_from;
};

/// Routes, authenticates (clients and HTTP workers, see `credentials`) and
/// validates one request, without asking anyone. When nothing refuses it,
/// the route says what to ask or which state of the gateway to serve.
request_plan plan_request(const http_request& req, const registry& reg,
                          const credentials& creds,
                          const submit_limits& limits, millis now);

} // namespace tasker
