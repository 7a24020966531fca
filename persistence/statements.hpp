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
extern const char* const migration_lock;

/// Creates the table of applied migrations when missing.
extern const char* const create_migrations_table;

/// The highest applied migration (0 when none).
extern const char* const migrated_version;

/// Records an applied migration: $1 version, $2 name.
extern const char* const record_migration;

/// Inserts the records of $1. With `keyed`, the rows carry idempotency keys:
/// a key taken already skips its row (ON CONFLICT, a speculative insertion
/// per row), and the ids of the rows inserted come back.
const std::string& insert_tasks(bool keyed);

/// The rows holding the idempotency keys of $1 (a JSON array of keys).
const std::string& select_tasks_by_key();

/// Deletes the rows whose ids $1 lists (a JSON array of ids).
extern const char* const delete_tasks;

/// Writes the state of the records of $1 onto their rows. A terminal row
/// changes only through a retry (back to PENDING with a fresh attempts
/// budget): terminal states never change otherwise.
const std::string& update_tasks();

/// Replaces the worker registry with the snapshot of $1.
extern const char* const replace_workers;

/// One row when a task with id $1 exists.
extern const char* const task_exists;

/// The task with id $1.
const std::string& select_task();

/// A page of tasks newest first: $1 status, $2 type, $3 and $4 the time
/// (epoch ms) and id of the last row of the previous page, $5 the row count.
/// Only the filters in use appear, so the planner can pick the partial
/// indexes; unused parameters are still typed, which folds away.
const std::string& list_tasks(bool by_status, bool by_type, bool after);

/// Unfinished tasks in (scheduled_at, id) order after ($1 epoch ms, $2 id)
/// and due by $3 epoch ms, at most $4.
const std::string& unfinished_tasks();

} // namespace tasker::statements
