#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/status.hpp"
#include "messages/types.hpp"

namespace tasker {

class registry;

/// The API's task object as text.
std::string task_json(const task_record& rec);

/// `{"tasks": [...], "next_cursor": ...}` of a list page.
std::string page_json(const task_page& page);

/// Appends the API's event object: `id` (its position in the event stream),
/// `task_id`, `seq`, `kind`, `type`, `status`, `attempt`, `worker_id`,
/// `error`, `at`, `scheduled_at`, `started_at`, and what follows from
/// them: `duration_ms` (an attempt that ended) and `wait_ms` (the time an
/// attempt waited in the queue).
void append_event_json(std::string& out, const task_event_record& ev);

/// `{"task_id": ..., "events": [...], "more": ..., "callbacks": [...]}` of
/// a task's history: at most `limit` events, `more` when it holds more than
/// that, and its webhook deliveries (`webhook_json`).
std::string history_json(const std::string& task_id, const task_history& h,
                         size_t limit);

/// `GET /v1/stats`: `{"window_ms", "bucket_ms", "types": [{"type",
/// "buckets": [{"start", "submitted", "completed", "failed", "cancelled",
/// "runs", "run_ms": {"p50", "p95", "p99"}, "starts", "wait_ms": {...}}]}]}`
/// (percentiles null when nothing was measured; buckets with no events are
/// left out).
std::string stats_json(int64_t window_ms, int64_t bucket_ms,
                       const std::vector<stats_row>& rows);

/// A webhook delivery: `seq`, `url`, `state`, `attempts`, `next_at` (while
/// pending), `last_status`, `last_error`, `delivered_at`.
nlohmann::json webhook_json(const webhook_delivery& d);

/// `{"tasks": [...]}` of a batch.
std::string batch_json(const std::vector<task_record>& recs);

/// The seed API's view of a task (`GET /get-task-output`).
std::string seed_task_json(const task_record& rec);

/// The counters of the task manager, the dispatcher and persistence as the
/// objects of `/v1/cluster`.
nlohmann::json status_json(const manager_status& x);
nlohmann::json status_json(const dispatcher_status& x);
nlohmann::json status_json(const persistence_status& x);
nlohmann::json status_json(const cluster_port_status& x);

/// The worker nodes as the array of `/v1/workers`.
nlohmann::json workers_json(const std::vector<worker_view>& workers);

/// The answer to an HTTP worker's lease request: `{"tasks": [{"lease",
/// "id", "type", "params", "attempt", "timeout_ms"}], "draining",
/// "lease_timeout_ms"}`, the params with their type's defaults filled in.
std::string leases_json(const std::vector<leased_task>& tasks, bool draining,
                        int64_t lease_timeout_ms, const registry& reg);

/// Encodes a list cursor (created_at and id of the last row) as opaque text.
std::string encode_cursor(millis created_at, const std::string& id);

/// Decodes a cursor; returns false when it is malformed.
bool decode_cursor(const std::string& cursor, millis& created_at,
                   std::string& id);

} // namespace tasker
