#include "gateway/routes.hpp"

#include "common/format.hpp"

namespace tasker {

namespace {

route make(route_kind kind, std::string label, std::string id = {}) {
  return {kind, std::move(id), {}, std::move(label)};
}

route not_allowed(std::string allow, std::string label) {
  return {route_kind::method_not_allowed, {}, std::move(allow),
          std::move(label)};
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string::npos
                                       ? std::string::npos
                                       : slash - start));
    if (slash == std::string::npos)
      break;
    start = slash + 1;
  }
  if (!out.empty() && out.back().empty())
    out.pop_back();
  return out;
}

} // namespace

route match_route(const std::string& method, const std::string& path) {
  auto parts = split_path(path);
  auto is = [&](const char* m) { return method == m; };
  if (parts.empty())
    return is("GET") ? make(route_kind::dashboard, "/")
                     : not_allowed("GET", "/");
  if (parts.size() == 1) {
    auto& p = parts[0];
    if (p == "health")
      return is("GET") ? make(route_kind::health, "/health")
                       : not_allowed("GET", "/health");
    if (p == "ready")
      return is("GET") ? make(route_kind::ready, "/ready")
                       : not_allowed("GET", "/ready");
    if (p == "metrics")
      return is("GET") ? make(route_kind::metrics, "/metrics")
                       : not_allowed("GET", "/metrics");
    if (p == "openapi.json")
      return is("GET") ? make(route_kind::openapi, "/openapi.json")
                       : not_allowed("GET", "/openapi.json");
    if (p == "run-task")
      return is("POST") ? make(route_kind::run_task, "/run-task")
                        : not_allowed("POST", "/run-task");
    if (p == "get-task-output")
      return is("GET") ? make(route_kind::get_task_output, "/get-task-output")
                       : not_allowed("GET", "/get-task-output");
    return make(route_kind::not_found, "other");
  }
  if (parts[0] != "v1")
    return make(route_kind::not_found, "other");
  if (parts[1] == "tasks") {
    if (parts.size() == 2) {
      if (is("POST"))
        return make(route_kind::submit, "/v1/tasks");
      if (is("GET"))
        return make(route_kind::list_tasks, "/v1/tasks");
      return not_allowed("GET, POST", "/v1/tasks");
    }
    if (parts.size() == 3 && parts[2] == "batch")
      return is("POST") ? make(route_kind::batch, "/v1/tasks/batch")
                        : not_allowed("POST", "/v1/tasks/batch");
    if (parts.size() == 3)
      return is("GET") ? make(route_kind::get_task, "/v1/tasks/{id}", parts[2])
                       : not_allowed("GET", "/v1/tasks/{id}");
    if (parts.size() == 4 && parts[3] == "cancel")
      return is("POST")
               ? make(route_kind::cancel, "/v1/tasks/{id}/cancel", parts[2])
               : not_allowed("POST", "/v1/tasks/{id}/cancel");
    if (parts.size() == 4 && parts[3] == "retry")
      return is("POST")
               ? make(route_kind::retry, "/v1/tasks/{id}/retry", parts[2])
               : not_allowed("POST", "/v1/tasks/{id}/retry");
    return make(route_kind::not_found, "other");
  }
  if (parts[1] == "task-types" && parts.size() == 2)
    return is("GET") ? make(route_kind::task_types, "/v1/task-types")
                     : not_allowed("GET", "/v1/task-types");
  if (parts[1] == "workers" && parts.size() == 2)
    return is("GET") ? make(route_kind::workers, "/v1/workers")
                     : not_allowed("GET", "/v1/workers");
  if (parts[1] == "workers" && parts.size() == 4 && parts[3] == "drain")
    return is("POST")
             ? make(route_kind::drain, "/v1/workers/{id}/drain", parts[2])
             : not_allowed("POST", "/v1/workers/{id}/drain");
  if (parts[1] == "debug" && parts.size() == 4 && parts[2] == "crash")
    return is("POST")
             ? make(route_kind::crash, "/v1/debug/crash/{actor}", parts[3])
             : not_allowed("POST", "/v1/debug/crash/{actor}");
  if (parts[1] == "cluster" && parts.size() == 2)
    return is("GET") ? make(route_kind::cluster, "/v1/cluster")
                     : not_allowed("GET", "/v1/cluster");
  return make(route_kind::not_found, "other");
}

bool bearer_matches(const std::string& header, const std::string& token) {
  // RFC 9110 11.1: the scheme is case-insensitive; spaces separate it from
  // the credentials.
  auto i = header.find_first_not_of(' ');
  if (i == std::string::npos || header.size() - i < 7
      || lower(header.substr(i, 6)) != "bearer" || header[i + 6] != ' ')
    return false;
  auto from = header.find_first_not_of(' ', i + 6);
  if (from == std::string::npos)
    return false;
  auto to = header.find_last_not_of(' ');
  return constant_time_equal(header.substr(from, to + 1 - from), token);
}

namespace {

constexpr const char* unauthorized_message
  = "this endpoint needs Authorization: Bearer <token> with the configured "
    "token";

} // namespace

bool authorized(const std::string& method, const std::string& path,
                const std::string& authorization,
                const std::string& auth_token) {
  if (auth_token.empty())
    return true;
  // Decided on the matched route: only the probes and the dashboard page
  // are open; an unknown path needs the token too.
  auto kind = match_route(method == "HEAD" ? "GET" : method, path).kind;
  auto open = kind == route_kind::health || kind == route_kind::ready
              || kind == route_kind::metrics || kind == route_kind::dashboard;
  return open || bearer_matches(authorization, auth_token);
}

http_response unauthorized_response() {
  auto res = error_response(ec::unauthorized, unauthorized_message);
  res.headers.emplace_back("WWW-Authenticate", "Bearer");
  return res;
}

head_check auth_head_check(const std::string& auth_token) {
  if (auth_token.empty())
    return {};
  return [auth_token](const http_request& head)
           -> std::optional<std::pair<ec, std::string>> {
    // (A target that cannot be routed is refused once the request is whole.)
    if (!head.target_error.empty()
        || authorized(head.method, head.path, head.authorization, auth_token))
      return std::nullopt;
    return std::make_pair(ec::unauthorized, std::string{unauthorized_message});
  };
}

} // namespace tasker
