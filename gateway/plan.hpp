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
};

/// Routes, authenticates (on /v1/ when `auth_token` is not empty) and
/// validates one request, without asking anyone. When nothing refuses it,
/// the route says what to ask or which state of the gateway to serve.
request_plan plan_request(const http_request& req, const registry& reg,
                          const std::string& auth_token,
                          const submit_limits& limits, millis now);

} // namespace tasker
