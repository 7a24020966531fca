#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/format.hpp"
#include "gateway/http.hpp"
#include "messages/types.hpp"
#include "tasks/registry.hpp"

namespace tasker {

struct api_error {
  ec code = ec::bad_request;
  std::string message;
};

/// Defaults and limits applied to submissions.
struct submit_limits {
  int32_t default_max_attempts = 3;
  int64_t default_timeout_ms = 60000;
  int32_t max_batch = 1000;
};

/// Checks the Content-Type of a request with a body: JSON or nothing else.
std::optional<api_error> check_json_body(const http_request& req);

/// The deepest nesting of arrays and objects a request body may have. Copying
/// and printing nlohmann's values recurse once per level: a body of 2 MiB of
/// `[` would overflow the stack.
constexpr int max_body_depth = 64;

/// The most arrays and objects a request body may hold. Each takes a heap
/// allocation of some 50 bytes once parsed: 2 MiB of `[],` would take
/// 30 MiB.
constexpr size_t max_body_containers = 100000;


/// Parses a request body as JSON (400 on malformed JSON, a body nested
/// deeper than `max_body_depth` or one with more than `max_body_containers`
/// arrays and objects).
std::optional<api_error> parse_body(const std::string& body,
                                    nlohmann::json& out);

/// Validates one submission object (API.md "Submitting") and builds its
/// record with a new id. `prefix` names its place in a batch
/// (`tasks[3].`). `header_key` is the Idempotency-Key header, if any.
std::optional<api_error> parse_submission(const nlohmann::json& body,
                                          const registry& reg,
                                          const submit_limits& limits,
                                          const std::string& header_key,
                                          const std::string& prefix, millis now,
                                          task_record& out);

/// Parses `{"tasks": [...]}` of a batch submission, all validated first.
std::optional<api_error> parse_batch(const nlohmann::json& body,
                                     const registry& reg,
                                     const submit_limits& limits, millis now,
                                     std::vector<task_record>& out);

/// Parses the seed API's flat `{"task_name": ..., <params>}` body.
std::optional<api_error> parse_seed_submission(const nlohmann::json& body,
                                               const registry& reg,
                                               const submit_limits& limits,
                                               millis now, task_record& out);

/// Parses the query of `GET /v1/tasks`.
/// Why a submission's `callback_url` cannot be used (empty when it can): an
/// absolute http or https URL with a host and no credentials, at most 2048
/// characters, as libcurl parses it. (Where it points is checked when it is
/// called: see webhooks/webhook_sender.hpp.)
std::string check_callback_url(const std::string& url);

/// Checks the query of `GET /v1/activity`: `window` (default `1h`), a
/// duration of 10s to 1h.
std::optional<api_error> parse_activity_query(const http_request& req,
                                              int64_t& window_ms);

/// Checks the query of `GET /v1/stats`: `window` (default `1h`, at most
/// `31d`) and `bucket` (default `1m`, at least `1s`), durations such as
/// `90s`, `15m`, `6h`, `7d`, with at most 1,440 buckets in the window.
std::optional<api_error> parse_stats_query(const http_request& req,
                                           int64_t& window_ms,
                                           int64_t& bucket_ms);

/// What an event stream passes on: each list empty means any (a status by
/// its API name, a kind as `event_kind` spells it).
struct event_filter {
  std::vector<std::string> types;
  std::vector<std::string> statuses;
  std::vector<std::string> kinds;

  bool matches(const task_event_record& ev) const;
};

/// Checks the query of `GET /v1/events`: `type`, `status` and `kind`, each a
/// comma-separated list (at most 32 names), and where to resume: the
/// `Last-Event-ID` header, or the `last_event_id` parameter (for clients
/// that cannot set headers), an event's `id`.
std::optional<api_error> parse_event_query(const http_request& req,
                                           event_filter& filter,
                                           std::optional<event_position>& from);

std::optional<api_error> parse_list_query(const http_request& req,
                                          list_query& out);

/// Parses `wait_ms` of `GET /v1/tasks/{id}` (0 when absent).
std::optional<api_error> parse_wait_ms(const http_request& req, int64_t& out);

/// The longest wait of one lease request of an HTTP worker.
constexpr int64_t max_lease_wait_ms = 30000;

/// Parses the body of `POST /v1/workers/sessions`: the worker's `name`,
/// its `task_types` (registered ones) and its `slots` (1..1000).
std::optional<api_error> parse_worker_session(const nlohmann::json& body,
                                              const registry& reg,
                                              node_info& out);

/// Parses the body of a lease request: `max_tasks` (1..1000, default 1) and
/// `wait_ms` (0..max_lease_wait_ms, default 0).
std::optional<api_error> parse_lease_request(const nlohmann::json& body,
                                             int32_t& max_tasks,
                                             int64_t& wait_ms);

/// The most a heartbeat's progress may hold, as JSON text.
constexpr size_t max_progress_bytes = 65536;

/// Parses the body of a lease's heartbeat: `progress` (any JSON of at most
/// max_progress_bytes, no NUL; absent or null: none) into `progress` (JSON
/// text, empty for none).
std::optional<api_error> parse_heartbeat(const nlohmann::json& body,
                                         std::string& progress);

/// Parses the body of a lease's complete (`result`, any JSON) or fail
/// (`error`, `retryable`, default true) into an outcome.
std::optional<api_error> parse_lease_outcome(const nlohmann::json& body,
                                             bool completed,
                                             task_outcome& out);

/// Checks that a path segment is a task id (a UUID): 400 otherwise.
std::optional<api_error> check_id(const std::string& id);

} // namespace tasker
