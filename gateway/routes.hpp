#pragma once

#include <string>

#include "gateway/http.hpp"

namespace tasker {

/// The routes of API.md.
enum class route_kind {
  submit, batch, get_task, list_tasks, cancel, retry, task_types, workers,
  drain, cluster, crash, health, ready, metrics, openapi, dashboard, run_task,
  get_task_output, task_events, event_stream, stats, activity, web_asset,
  docs_page, docs_asset, open_session, lease, close_session, lease_heartbeat,
  lease_complete, lease_fail, not_found, method_not_allowed
};

/// Whether a route is one of the HTTP workers' (sessions and leases).
bool worker_route(route_kind kind);

/// Who may ask: clients with `client` (none: anyone), HTTP workers with
/// `worker` or `secret` (the cluster secret; neither: anyone, unless there
/// is a client token, which never serves for a worker).
struct credentials {
  std::string client;
  std::string worker;
  std::string secret;

  credentials() = default;
  credentials(std::string client_token) : client(std::move(client_token)) {
  }
  credentials(const char* client_token) : client(client_token) {
  }
  credentials(std::string client_token, std::string worker_token,
              std::string cluster_secret)
    : client(std::move(client_token)),
      worker(std::move(worker_token)),
      secret(std::move(cluster_secret)) {
  }

  bool empty() const {
    return client.empty() && worker.empty() && secret.empty();
  }
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
/// `auth_token` is empty; otherwise on the probes and the pages of the
/// dashboard and the API reference (`/health`, `/ready`, `/metrics`, `/`,
/// `/assets/*`, `/docs`, `/docs/*`), or with `Authorization: Bearer
/// <token>`. Decided on the route matched from method and decoded path.
bool authorized(const std::string& method, const std::string& path,
                const std::string& authorization, const credentials& creds);

/// The message of the 401 of a request `authorized` refuses.
inline constexpr const char* unauthorized_message
  = "this endpoint needs Authorization: Bearer <token> with the configured "
    "token";

/// The message of the 401 of an HTTP worker's request.
inline constexpr const char* worker_unauthorized_message
  = "HTTP worker routes need Authorization: Bearer <token> with the worker "
    "token or the cluster secret";

/// The message of the 401 of a request on `path` (method `method`).
const char* refusal_message(const std::string& method,
                            const std::string& path);

/// Refuses a request's head when `authorized` would (for request_reader:
/// its body is then never read); none when nothing is configured.
head_check auth_head_check(const credentials& creds);

} // namespace tasker
