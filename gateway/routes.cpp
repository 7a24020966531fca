#include "gateway/routes.hpp"

#include <algorithm>
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
  {"GET", "/assets/{id}", route_kind::web_asset},
  {"GET", "/docs", route_kind::docs_page},
  {"GET", "/docs/{id}", route_kind::docs_asset},
  {"POST", "/run-task", route_kind::run_task},
  {"GET", "/get-task-output", route_kind::get_task_output},
  {"GET", "/v1/tasks", route_kind::list_tasks},
  {"POST", "/v1/tasks", route_kind::submit},
  {"POST", "/v1/tasks/batch", route_kind::batch},
  {"GET", "/v1/tasks/{id}", route_kind::get_task},
  {"GET", "/v1/tasks/{id}/events", route_kind::task_events},
  {"POST", "/v1/tasks/{id}/cancel", route_kind::cancel},
  {"POST", "/v1/tasks/{id}/retry", route_kind::retry},
  {"GET", "/v1/events", route_kind::event_stream},
  {"GET", "/v1/stats", route_kind::stats},
  {"GET", "/v1/activity", route_kind::activity},
  {"GET", "/v1/task-types", route_kind::task_types},
  {"GET", "/v1/workers", route_kind::workers},
  {"POST", "/v1/workers/{id}/drain", route_kind::drain},
  {"POST", "/v1/workers/sessions", route_kind::open_session},
  {"POST", "/v1/workers/sessions/{id}/lease", route_kind::lease},
  {"DELETE", "/v1/workers/sessions/{id}", route_kind::close_session},
  {"POST", "/v1/leases/{id}/heartbeat", route_kind::lease_heartbeat},
  {"POST", "/v1/leases/{id}/complete", route_kind::lease_complete},
  {"POST", "/v1/leases/{id}/fail", route_kind::lease_fail},
  {"POST", "/v1/debug/crash/{actor}", route_kind::crash},
  {"GET", "/v1/cluster", route_kind::cluster},
};

/// Whether `path` fits `pattern`, segment by segment; the captured segment
/// goes to `id`. The first character of each is the root; one trailing `/`
/// of the path does not count (`/v1/tasks/` fits `/v1/tasks`, `/` has no
/// segment, `//` one empty one).
bool fits(std::string_view pattern, std::string_view path, std::string& id) {
  pattern.remove_prefix(1);
  path.remove_prefix(std::min<size_t>(1, path.size()));
  if (pattern.empty() || path.empty())
    return pattern.empty() && path.empty();
  if (path.back() == '/')
    path.remove_suffix(1);
  for (;;) {
    auto p_end = pattern.find('/'), s_end = path.find('/');
    auto seg = path.substr(0, s_end);
    if (pattern.front() == '{')
      id = seg;
    else if (pattern.substr(0, p_end) != seg)
      return false;
    if (p_end == std::string_view::npos || s_end == std::string_view::npos)
      return p_end == s_end;
    pattern.remove_prefix(p_end + 1);
    path.remove_prefix(s_end + 1);
  }
}

} // namespace

route match_route(const std::string& method, const std::string& path) {
  constexpr size_t n = std::size(route_table);
  for (size_t i = 0; i < n; ++i) {
    std::string id;
    if (!fits(route_table[i].pattern, path, id))
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

bool worker_route(route_kind kind) {
  switch (kind) {
    case route_kind::open_session:
    case route_kind::lease:
    case route_kind::close_session:
    case route_kind::lease_heartbeat:
    case route_kind::lease_complete:
    case route_kind::lease_fail:
      return true;
    default:
      return false;
  }
}

bool authorized(const std::string& method, const std::string& path,
                const std::string& authorization, const credentials& creds) {
  if (creds.empty())
    return true;
  // Decided on the matched route: only the probes and the pages of the
  // dashboard and the API reference are open (they hold no data: they ask
  // for the token); an unknown path needs the token too.
  auto kind = match_route(method == "HEAD" ? "GET" : method, path).kind;
  if (worker_route(kind)) {
    // A client's token never serves for a worker.
    if (creds.worker.empty() && creds.secret.empty())
      return creds.client.empty();
    return (!creds.worker.empty()
            && bearer_matches(authorization, creds.worker))
           || (!creds.secret.empty()
               && bearer_matches(authorization, creds.secret));
  }
  if (creds.client.empty())
    return true;
  auto open = kind == route_kind::health || kind == route_kind::ready
              || kind == route_kind::metrics || kind == route_kind::dashboard
              || kind == route_kind::web_asset || kind == route_kind::docs_page
              || kind == route_kind::docs_asset;
  return open || bearer_matches(authorization, creds.client);
}

const char* refusal_message(const std::string& method,
                            const std::string& path) {
  return worker_route(match_route(method, path).kind)
           ? worker_unauthorized_message
           : unauthorized_message;
}

head_check auth_head_check(const credentials& creds) {
  if (creds.empty())
    return {};
  return [creds](const http_request& head)
           -> std::optional<std::pair<ec, std::string>> {
    // (A target that cannot be routed is refused once the request is whole.)
    if (!head.target_error.empty()
        || authorized(head.method, head.path, head.authorization, creds))
      return std::nullopt;
    return std::make_pair(ec::unauthorized, std::string{refusal_message(
                                              head.method, head.path)});
  };
}

} // namespace tasker
