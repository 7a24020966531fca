#pragma once

#include <string>

#include "gateway/http.hpp"

namespace tasker {

/// The routes of API.md.
enum class route_kind {
  submit, batch, get_task, list_tasks, cancel, retry, task_types, workers,
  drain, cluster, crash, health, ready, metrics, openapi, dashboard, run_task,
  get_task_output, not_found, method_not_allowed
};

/// A matched route: its kind, the id in its path, the methods allowed on the
/// path (for 405) and the label used in metrics.
struct route {
  route_kind kind = route_kind::not_found;
  std::string id;
  std::string allow;
  std::string label;
};

/// Matches a method and decoded path against API.md.
route match_route(const std::string& method, const std::string& path);

/// Compares an Authorization header with `Bearer <token>` in constant time
/// (for a given token length).
bool bearer_matches(const std::string& header, const std::string& token);

/// Whether a request may be served as far as the token goes: always when
/// `auth_token` is empty; otherwise on the probes and the dashboard page
/// (`/health`, `/ready`, `/metrics`, `/`), or with `Authorization: Bearer
/// <token>`. Decided on the route matched from method and decoded path.
bool authorized(const std::string& method, const std::string& path,
                const std::string& authorization,
                const std::string& auth_token);

/// The message of the 401 of a request `authorized` refuses.
inline constexpr const char* unauthorized_message
  = "this endpoint needs Authorization: Bearer <token> with the configured "
    "token";

/// Refuses a request's head when `authorized` would (for request_reader:
/// its body is then never read); none when `auth_token` is empty.
head_check auth_head_check(const std::string& auth_token);

} // namespace tasker
