#include "gateway/routes.hpp"

#include <iterator>
#include <string_view>

#include "common/format.hpp"

namespace tasker {

namespace {

/// One line of the route table: a method on a path pattern, whose segments
/// are literal or `{name}` (any one segment, captured as the route's id).
struct route_entry {
  const char* method;
  const char* pattern;
  route_kind kind;
};

/// The routes of docs/API.md. A path takes the first pattern that matches
/// it, literal segments before captures (`/v1/tasks/batch` before
/// `/v1/tasks/{id}`); the entries of that pattern give its methods, in the
/// order of `Allow`.
constexpr route_entry route_table[] = {
  {"GET", "/", route_kind::dashboard},
  {"GET", "/health", route_kind::health},
  {"GET", "/ready", route_kind::ready},
  {"GET", "/metrics", route_kind::metrics},
  {"GET", "/openapi.json", route_kind::openapi},
  {"POST", "/run-task", route_kind::run_task},
  {"GET", "/get-task-output", route_kind::get_task_output},
  {"GET", "/v1/tasks", route_kind::list_tasks},
  {"POST", "/v1/tasks", route_kind::submit},
  {"POST", "/v1/tasks/batch", route_kind::batch},
  {"GET", "/v1/tasks/{id}", route_kind::get_task},
  {"POST", "/v1/tasks/{id}/cancel", route_kind::cancel},
  {"POST", "/v1/tasks/{id}/retry", route_kind::retry},
  {"GET", "/v1/task-types", route_kind::task_types},
  {"GET", "/v1/workers", route_kind::workers},
  {"POST", "/v1/workers/{id}/drain", route_kind::drain},
  {"POST", "/v1/debug/crash/{actor}", route_kind::crash},
  {"GET", "/v1/cluster", route_kind::cluster},
};

/// The segments of a path: `/v1/tasks/` is `v1`, `tasks`; `/` is none.
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

/// The table's patterns, split once.
const std::vector<std::vector<std::string>>& split_patterns() {
  static const auto all = [] {
    std::vector<std::vector<std::string>> out;
    for (auto& entry : route_table)
      out.push_back(split_path(entry.pattern));
    return out;
  }();
  return all;
}

/// Whether `parts` fit `pattern`; the captured segment goes to `id`.
bool fits(const std::vector<std::string>& pattern,
          const std::vector<std::string>& parts, std::string& id) {
  if (pattern.size() != parts.size())
    return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!pattern[i].empty() && pattern[i].front() == '{')
      id = parts[i];
    else if (pattern[i] != parts[i])
      return false;
  }
  return true;
}

constexpr const char* unauthorized_message
  = "this endpoint needs Authorization: Bearer <token> with the configured "
    "token";

} // namespace

route match_route(const std::string& method, const std::string& path) {
  auto parts = split_path(path);
  auto& patterns = split_patterns();
  constexpr size_t n = std::size(route_table);
  for (size_t i = 0; i < n; ++i) {
    std::string id;
    if (!fits(patterns[i], parts, id))
      continue;
    // The first pattern that fits is the path's; its entries follow it.
    std::string_view pattern = route_table[i].pattern;
    std::string allow;
    for (size_t j = i; j < n && route_table[j].pattern == pattern; ++j) {
      if (method == route_table[j].method)
        return {route_table[j].kind, std::move(id), {}, std::string{pattern}};
      if (!allow.empty())
        allow += ", ";
      allow += route_table[j].method;
    }
    return {route_kind::method_not_allowed, {}, std::move(allow),
            std::string{pattern}};
  }
  return {route_kind::not_found, {}, {}, "other"};
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
