#pragma once

#include <string>

namespace tasker::statements {

// Every SQL statement tasker sends to PostgreSQL. Values are always
// parameters ($1, ...); records travel as one JSON array parameter read with
// jsonb_to_recordset (persistence/sql.hpp writes it). Task rows come back
// with `task_columns`, in the order `database.cpp`'s read_record reads them.

/// The columns of a task row, times as epoch milliseconds.
const std::string& task_columns();

/// Takes the migration lock: one coordinator migrates at a time.
inline constexpr const char* migration_lock
  = "SELECT pg_advisory_xact_lock(7355608)";

/// Creates the table of applied migrations when missing.
inline constexpr const char* create_migrations_table
  = "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version int PRIMARY KEY, name text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now())";

/// The highest applied migration (0 when none).
inline constexpr const char* migrated_version
  = "SELECT coalesce(max(version), 0) FROM schema_migrations";

/// Records an applied migration: $1 version, $2 name.
inline constexpr const char* record_migration
  = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

/// Inserts the records of $1, and the `submitted` event of each row
/// inserted. With `keyed`, the rows carry idempotency keys:
/// a key taken already skips its row (ON CONFLICT, a speculative insertion
/// per row), and the ids of the rows inserted come back.
const std::string& insert_tasks(bool keyed);

/// The rows holding the idempotency keys of $1 (a JSON array of keys).
const std::string& select_tasks_by_key();

/// Deletes the rows whose ids $1 lists (a JSON array of ids), and their
/// events. (Just inserted: they have no deliveries.)
inline constexpr const char* delete_tasks
  = "WITH gone AS (DELETE FROM tasks WHERE id IN "
    "(SELECT jsonb_array_elements_text($1::jsonb)::uuid) RETURNING id) "
    "DELETE FROM task_events WHERE task_id IN (SELECT id FROM gone)";

/// Writes the state of the records of $1 (`update_rows_json`) onto their
/// rows, and the events each carries (a transition written before, with the
/// same seq, is kept as it is). A terminal row changes only through a retry
/// (back to PENDING with a fresh attempts budget): terminal states never
/// change otherwise, and a row left as it was writes no events. Returns the
/// ids of the rows written.
const std::string& update_tasks();

/// The columns of an event row, times as epoch milliseconds, the writing
/// transaction last.
const std::string& event_row_columns();

/// The first $2 events of task $1, in order.
const std::string& select_task_events();

/// Claims at most $1 due webhook deliveries (pending, next_at passed; rows
/// another sender holds are skipped): counts the attempt and moves next_at
/// $2 ms on (a sender that dies mid-attempt leaves it due again then).
/// Returns task_id, seq, url, attempts.
const std::string& claim_deliveries();

/// Records how an attempt of delivery ($1 task_id, $2 seq) went: $3 state,
/// $4 last_status (null: no answer), $5 last_error, $6 ms until the next
/// attempt.
const std::string& finish_delivery();

/// The webhook deliveries of task $1, in seq order.
const std::string& select_deliveries();

/// The event ($1 task_id, $2 seq).
const std::string& select_event();

/// Per task type and bucket of $2 ms (aligned on the epoch), over the
/// events of the last $1 ms: counts of submitted, completed, failed and
/// cancelled, and p50/p95/p99 of attempt run time (events that end one) and
/// queue wait (started events). Ordered by bucket, then type.
const std::string& event_stats();

// The event stream reads `task_events` in (tx, task_id, seq) order, and only
// rows that transactions older than every running one wrote (below
// pg_snapshot_xmin of the current snapshot): a transaction still running
// can commit rows only above that, so a reader never passes a row that
// commits later.

/// The last settled event's position (tx as text, task_id, seq); no row
/// when there is none.
const std::string& event_stream_head();

/// At most $4 settled events after the position ($1 tx, $2 task_id, $3
/// seq), in order.
const std::string& event_stream_after();

/// At most $7 events after the position ($1, $2, $3) and up to the
/// position ($4, $5, $6), in order.
const std::string& event_stream_between();

/// Replaces the worker registry with the snapshot of $1.
inline constexpr const char* replace_workers
  = "WITH snap AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS w(id text, "
    "address text, status text, task_types jsonb, slots int, joined_at "
    "bigint, last_seen bigint, metadata jsonb)), "
    "gone AS (DELETE FROM workers WHERE id NOT IN (SELECT id FROM snap)) "
    "INSERT INTO workers (id, address, status, task_types, slots, joined_at, "
    "last_seen, metadata) SELECT id, address, status, task_types, slots, "
    "'epoch'::timestamptz + joined_at * interval '1 millisecond', "
    "'epoch'::timestamptz + last_seen * interval '1 millisecond', metadata "
    "FROM snap ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, "
    "status = EXCLUDED.status, task_types = EXCLUDED.task_types, "
    "slots = EXCLUDED.slots, joined_at = EXCLUDED.joined_at, "
    "last_seen = EXCLUDED.last_seen, metadata = EXCLUDED.metadata";

/// One row when a task with id $1 exists.
inline constexpr const char* task_exists
  = "SELECT 1 FROM tasks WHERE id = $1::uuid";

/// The task with id $1.
const std::string& select_task();

/// A page of tasks newest first: $1 status, $2 type, $3 and $4 the time
/// (epoch ms) and id of the last row of the previous page, $5 the row count,
/// $6 a JSON object the params must contain. Only the filters in use
/// appear, so the planner can pick the partial indexes (and the GIN index of
/// params, when the operator made it); unused parameters are still typed,
/// which folds away.
const std::string& list_tasks(bool by_status, bool by_type, bool after,
                              bool by_params);

/// The GIN index of params (`params_index`): whether it exists and is
/// valid (an interrupted CREATE INDEX CONCURRENTLY leaves it invalid).
inline constexpr const char* params_index_state
  = "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = "
    "i.indexrelid WHERE c.relname = 'tasks_params_idx'";
inline constexpr const char* drop_params_index
  = "DROP INDEX CONCURRENTLY IF EXISTS tasks_params_idx";
inline constexpr const char* create_params_index
  = "CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_params_idx ON tasks USING "
    "gin (params jsonb_path_ops)";

/// Unfinished tasks in (scheduled_at, id) order after ($1 epoch ms, $2 id)
/// and due by $3 epoch ms, at most $4.
const std::string& unfinished_tasks();

/// Retention: deletes at most $4 finished tasks (and their events) that finished before $1
/// (epoch ms), in (created_at, id) order after ($2 epoch ms, $3 id) (a task
/// created after $1 cannot have finished before it: the scan follows the
/// created_at index and stops there). Returns the id and created_at (epoch
/// ms) of each deleted row.
const std::string& prune_tasks();

} // namespace tasker::statements
