#include "persistence/statements.hpp"

#include <array>

namespace tasker::statements {

namespace {

/// The record type of jsonb_to_recordset for task records.
constexpr const char* record_columns
  = "v(id uuid, type text, params jsonb, status text, result jsonb, "
    "error text, priority smallint, attempts int, max_attempts int, "
    "timeout_ms int, idempotency_key text, request_hash text, worker_id text, "
    "created_at bigint, updated_at bigint, scheduled_at bigint, "
    "started_at bigint, completed_at bigint, callback_url text)";

/// The record type of jsonb_to_recordset for state updates.
constexpr const char* update_columns
  = "v(id uuid, status text, result jsonb, error text, attempts int, "
    "worker_id text, updated_at bigint, scheduled_at bigint, "
    "started_at bigint, completed_at bigint, seq int, events jsonb)";

/// The record type of jsonb_to_recordset for the events of an update.
constexpr const char* event_columns
  = "e(seq int, kind text, status text, attempt int, worker_id text, "
    "error text, at bigint, scheduled_at bigint, started_at bigint)";

/// The columns of `task_events` a transition writes.
constexpr const char* event_insert
  = "INSERT INTO task_events (task_id, seq, kind, status, type, attempt, "
    "worker_id, error, at, scheduled_at, started_at) ";

/// A record's epoch milliseconds as a timestamp.
std::string ts(const char* col, const char* rec = "v") {
  return std::string{"'epoch'::timestamptz + "} + rec + "." + col
         + " * interval '1 millisecond'";
}

/// A timestamp column as epoch milliseconds.
std::string ms(const char* col) {
  return std::string{"(extract(epoch from "} + col + ") * 1000)::bigint";
}

/// A parameter of epoch milliseconds as a timestamp.
std::string at(const char* param) {
  return std::string{"('epoch'::timestamptz + "} + param
         + "::bigint * interval '1 millisecond')";
}

} // namespace

const std::string& task_columns() {
  static const std::string cols
    = "id::text, type, params::text, status, result::text, error, priority, "
      "attempts, max_attempts, timeout_ms, idempotency_key, request_hash, "
      "worker_id, "
      + ms("created_at") + ", " + ms("updated_at") + ", " + ms("scheduled_at")
      + ", " + ms("started_at") + ", " + ms("completed_at")
      + ", seq, callback_url";
  return cols;
}

const std::string& insert_tasks(bool keyed) {
  static const std::string insert
    = "INSERT INTO tasks (id, type, params, status, result, error, priority, "
      "attempts, max_attempts, timeout_ms, idempotency_key, request_hash, "
      "worker_id, created_at, updated_at, scheduled_at, started_at, "
      "completed_at, callback_url) SELECT v.id, v.type, v.params, v.status, "
      "v.result, v.error, v.priority, v.attempts, v.max_attempts, "
      "v.timeout_ms, v.idempotency_key, v.request_hash, v.worker_id, "
      + ts("created_at") + ", " + ts("updated_at") + ", " + ts("scheduled_at")
      + ", " + ts("started_at") + ", " + ts("completed_at") + ", v.callback_url"
      + " FROM jsonb_to_recordset($1::jsonb) AS " + record_columns;
  // Each inserted row writes its `submitted` event.
  static const std::string returning
    = " RETURNING id, type, status, created_at, scheduled_at";
  static const std::string submitted
    = std::string{event_insert}
      + "SELECT id, 0, 'submitted', status, type, 0, NULL, NULL, "
        "created_at, scheduled_at, NULL FROM ins";
  static const std::string plain
    = "WITH ins AS (" + insert + returning + ") " + submitted;
  static const std::string with_keys
    = "WITH ins AS (" + insert
      + " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL"
        " DO NOTHING"
      + returning + "), ev AS (" + submitted + ") SELECT id::text FROM ins";
  return keyed ? with_keys : plain;
}

const std::string& select_tasks_by_key() {
  static const std::string sql
    = "SELECT " + task_columns()
      + " FROM tasks WHERE idempotency_key IN "
        "(SELECT jsonb_array_elements_text($1::jsonb))";
  return sql;
}

const std::string& update_tasks() {
  // The events of a row go in only when its update did.
  static const std::string sql
    = "WITH u AS (UPDATE tasks t SET status = v.status, result = v.result, "
      "error = v.error, attempts = v.attempts, worker_id = v.worker_id, "
      "seq = v.seq, updated_at = "
      + ts("updated_at") + ", scheduled_at = " + ts("scheduled_at")
      + ", started_at = " + ts("started_at")
      + ", completed_at = " + ts("completed_at")
      + " FROM jsonb_to_recordset($1::jsonb) AS " + update_columns
      + " WHERE t.id = v.id AND (t.status IN ('PENDING', 'PROCESSING') "
        "OR (v.status = 'PENDING' AND v.attempts = 0)) RETURNING t.id, "
        "t.type, t.callback_url, v.events), ev AS ("
      + event_insert
      + "SELECT u.id, e.seq, e.kind, e.status, u.type, e.attempt, "
        "e.worker_id, e.error, "
      + ts("at", "e") + ", " + ts("scheduled_at", "e") + ", "
      + ts("started_at", "e") + " FROM u CROSS JOIN LATERAL "
      + "jsonb_to_recordset(u.events) AS " + event_columns
      + " ON CONFLICT (task_id, seq) DO NOTHING), "
        // A task with a callback: each terminal event is a delivery to make
        // (the events of the others are not even expanded).
        "hooks AS (INSERT INTO webhook_deliveries (task_id, seq, url, state, "
        "next_at) SELECT u.id, h.seq, u.callback_url, 'pending', now() FROM u "
        "CROSS JOIN LATERAL jsonb_to_recordset(CASE WHEN u.callback_url IS "
        "NULL THEN NULL ELSE u.events END) AS h(seq int, kind text) WHERE "
        "h.kind IN ('completed', 'failed', 'cancelled') ON CONFLICT (task_id, "
        "seq) DO NOTHING) SELECT id::text FROM u";
  return sql;
}

const std::string& select_task_events() {
  static const std::string sql
    = "SELECT " + event_row_columns()
      + " FROM task_events WHERE task_id = $1::uuid ORDER BY seq LIMIT $2";
  return sql;
}

namespace {

/// The stream's order, and a position parameter triple from $n.
constexpr const char* stream_order = " ORDER BY tx, task_id, seq";
std::string position_after(int n) {
  return "(tx, task_id, seq) > ($" + std::to_string(n) + "::xid8, $"
         + std::to_string(n + 1) + "::uuid, $" + std::to_string(n + 2)
         + "::int)";
}
constexpr const char* settled
  = "tx < pg_snapshot_xmin(pg_current_snapshot())";

} // namespace

const std::string& event_stream_head() {
  static const std::string sql
    = std::string{"SELECT tx::text, task_id::text, seq FROM task_events WHERE "}
      + settled + " ORDER BY tx DESC, task_id DESC, seq DESC LIMIT 1";
  return sql;
}

const std::string& event_stream_after() {
  static const std::string sql
    = "SELECT " + event_row_columns() + " FROM task_events WHERE "
      + position_after(1) + " AND " + settled + stream_order + " LIMIT $4";
  return sql;
}

const std::string& event_stream_between() {
  static const std::string sql
    = "SELECT " + event_row_columns() + " FROM task_events WHERE "
      + position_after(1) + " AND NOT " + position_after(4) + stream_order
      + " LIMIT $7";
  return sql;
}

const std::string& event_stats() {
  static const std::string sql
    = "SELECT type, (extract(epoch from b) * 1000)::bigint, "
      "count(*) FILTER (WHERE kind = 'submitted'), "
      "count(*) FILTER (WHERE kind = 'completed'), "
      "count(*) FILTER (WHERE kind = 'failed'), "
      "count(*) FILTER (WHERE kind = 'cancelled'), "
      "count(run), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
      "(ORDER BY run), count(wait), percentile_cont(ARRAY[0.5, 0.95, 0.99]) "
      "WITHIN GROUP (ORDER BY wait) FROM (SELECT type, kind, date_bin($2::bigint "
      "* interval '1 millisecond', at, 'epoch'::timestamptz) AS b, CASE WHEN "
      "kind IN ('completed', 'failed', 'retry_scheduled') AND started_at IS "
      "NOT NULL AND attempt > 0 THEN extract(epoch from at - started_at) * "
      "1000 END AS run, CASE WHEN kind = 'started' THEN extract(epoch from "
      "started_at - scheduled_at) * 1000 END AS wait FROM task_events WHERE "
      "at >= now() - $1::bigint * interval '1 millisecond') e GROUP BY b, "
      "type ORDER BY b, type";
  return sql;
}

const std::string& claim_deliveries() {
  static const std::string sql
    = "WITH due AS (SELECT task_id, seq FROM webhook_deliveries WHERE state = "
      "'pending' AND next_at <= now() ORDER BY next_at LIMIT $1 FOR UPDATE "
      "SKIP LOCKED) UPDATE webhook_deliveries d SET attempts = d.attempts + "
      "1, next_at = now() + $2::bigint * interval '1 millisecond' FROM due "
      "WHERE d.task_id = due.task_id AND d.seq = due.seq RETURNING "
      "d.task_id::text, d.seq, d.url, d.attempts";
  return sql;
}

const std::string& finish_delivery() {
  static const std::string sql
    = "UPDATE webhook_deliveries SET state = $3, last_status = $4::int, "
      "last_error = $5, next_at = now() + $6::bigint * interval "
      "'1 millisecond', delivered_at = CASE WHEN $3 = 'delivered' THEN now() "
      "END WHERE task_id = $1::uuid AND seq = $2::int";
  return sql;
}

const std::string& select_deliveries() {
  static const std::string sql
    = "SELECT task_id::text, seq, url, state, attempts, " + ms("next_at")
      + ", last_status, last_error, " + ms("delivered_at")
      + " FROM webhook_deliveries WHERE task_id = $1::uuid ORDER BY seq";
  return sql;
}

const std::string& select_event() {
  static const std::string sql
    = "SELECT " + event_row_columns()
      + " FROM task_events WHERE task_id = $1::uuid AND seq = $2::int";
  return sql;
}

const std::string& event_row_columns() {
  static const std::string cols
    = "task_id::text, seq, type, status, attempt, worker_id, error, "
      + ms("at") + ", " + ms("scheduled_at") + ", " + ms("started_at")
      + ", tx::text";
  return cols;
}

const std::string& select_task() {
  static const std::string sql
    = "SELECT " + task_columns() + " FROM tasks WHERE id = $1::uuid";
  return sql;
}

const std::string& list_tasks(bool by_status, bool by_type, bool after,
                              bool by_params) {
  static const auto all = [] {
    std::array<std::string, 16> out;
    for (int i = 0; i < 16; ++i) {
      std::string where = "$1::text IS NOT NULL AND $2::text IS NOT NULL AND "
                          "$3::bigint IS NOT NULL AND $4::uuid IS NOT NULL "
                          "AND $6::jsonb IS NOT NULL";
      if (i & 1)
        where += " AND status = $1";
      if (i & 2)
        where += " AND type = $2";
      if (i & 4)
        where += " AND (created_at, id) < (" + at("$3") + ", $4::uuid)";
      if (i & 8)
        where += " AND params @> $6::jsonb";
      out[i] = "SELECT " + task_columns() + " FROM tasks WHERE " + where
               + " ORDER BY created_at DESC, id DESC LIMIT $5";
    }
    return out;
  }();
  return all[(by_status ? 1 : 0) | (by_type ? 2 : 0) | (after ? 4 : 0)
             | (by_params ? 8 : 0)];
}

const std::string& unfinished_tasks() {
  static const std::string sql
    = "SELECT " + task_columns()
      + " FROM tasks WHERE status IN ('PENDING', 'PROCESSING') AND "
        "(scheduled_at, id) > ("
      + at("$1") + ", $2::uuid) AND scheduled_at <= " + at("$3")
      + " ORDER BY scheduled_at, id LIMIT $4";
  return sql;
}

const std::string& prune_tasks() {
  static const std::string sql
    = "WITH doomed AS (SELECT id FROM tasks WHERE (created_at, id) > ("
      + at("$2") + ", $3::uuid) AND created_at < " + at("$1")
      + " AND status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND "
        "completed_at < "
      + at("$1")
      + " ORDER BY created_at, id LIMIT $4), gone AS (DELETE FROM tasks t "
        "USING doomed d WHERE t.id = d.id RETURNING t.id, t.created_at), "
        "history AS (DELETE FROM task_events e USING gone g WHERE e.task_id = "
        "g.id), hooks AS (DELETE FROM webhook_deliveries w USING gone g WHERE "
        "w.task_id = g.id) SELECT id::text, "
      + ms("created_at") + " FROM gone";
  return sql;
}

} // namespace tasker::statements
