#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "common/clock.hpp"
#include "messages/equality.hpp"

namespace tasker {

/// The lifecycle states of a task (see actors/task_state.hpp for the transitions).
enum class task_status : uint8_t { pending, processing, completed, failed, cancelled };

/// Returns the API name of a status (`PENDING`, ...).
const char* to_string(task_status x);

/// Parses an API status name; returns false on an unknown name.
bool from_string(const std::string& str, task_status& x);

/// Returns whether a status is terminal (COMPLETED, FAILED, CANCELLED).
inline bool is_terminal(task_status x) {
  return x == task_status::completed || x == task_status::failed
         || x == task_status::cancelled;
}

/// One task as stored in the `tasks` table; the unit of persistence and of replies.
/// JSON values travel as text. Empty strings and zero times stand for NULL.
struct task_record {
  std::string id;
  std::string type;
  std::string params = "{}";
  task_status status = task_status::pending;
  std::string result;
  std::string error;
  int32_t priority = 0;
  int32_t attempts = 0;
  int32_t max_attempts = 3;
  int64_t timeout_ms = 60000;
  std::string idempotency_key;
  std::string request_hash;
  std::string worker_id;
  millis created_at = 0;
  millis updated_at = 0;
  millis scheduled_at = 0;
  millis started_at = 0;
  millis completed_at = 0;
  /// The progress its worker last reported for the running attempt (JSON
  /// text; empty: none). Kept in memory only, never stored.
  std::string progress;
  /// How many transitions the task has made (0: just submitted). Each one
  /// writes an event numbered so (`task_events`), which makes writing the
  /// same state twice write its event once.
  int32_t seq = 0;
  /// Where its terminal states are POSTed (empty: nowhere).
  std::string callback_url;
};

/// How `append_task_json` writes a record: as the HTTP API shows a task
/// (times in RFC 3339), or as a row for `jsonb_to_recordset` in the batch
/// statements (times in epoch milliseconds, plus the request hash).
enum class task_json_style { api, rows };

/// Appends a record as a JSON object. Params and result are embedded as
/// JSON; empty strings (but a failed task's error) and zero times are null.
void append_task_json(std::string& out, const task_record& rec,
                      task_json_style style = task_json_style::api);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_record& x) {
  return f(caf::meta::type_name("tasker.task_record"), x.id, x.type, x.params,
           x.status, x.result, x.error, x.priority, x.attempts, x.max_attempts,
           x.timeout_ms, x.idempotency_key, x.request_hash, x.worker_id,
           x.created_at, x.updated_at, x.scheduled_at, x.started_at,
           x.completed_at, x.progress, x.seq, x.callback_url);
}

/// Answer to a submission: the stored tasks, and whether they already existed
/// (an idempotent repeat of an earlier submission).
struct submit_reply {
  std::vector<task_record> tasks;
  bool existing = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_reply& x) {
  return f(caf::meta::type_name("tasker.submit_reply"), x.tasks, x.existing);
}

/// One attempt of a task as handed to a worker node. Crosses nodes.
struct task_assignment {
  std::string id;
  std::string type;
  std::string params;
  int32_t attempt = 0;
  int64_t timeout_ms = 0;
  int32_t priority = 0;
  millis scheduled_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_assignment& x) {
  return f(caf::meta::type_name("tasker.task_assignment"), x.id, x.type,
           x.params, x.attempt, x.timeout_ms, x.priority, x.scheduled_at);
}

/// The end of one attempt, as a worker node reports it. Crosses nodes.
struct task_outcome {
  std::string id;
  int32_t attempt = 0;
  bool ok = false;
  /// JSON text of the result when ok.
  std::string result;
  /// The error message when not ok.
  std::string error;
  /// Whether a failed attempt may be retried.
  bool retryable = true;
  std::string worker_id;
  millis started_at = 0;
  millis finished_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_outcome& x) {
  return f(caf::meta::type_name("tasker.task_outcome"), x.id, x.attempt, x.ok,
           x.result, x.error, x.retryable, x.worker_id, x.started_at,
           x.finished_at);
}

/// What a worker node announces when it joins the dispatcher. Crosses nodes.
/// An attempt leased to an HTTP worker, with the token that names the
/// lease (`<session>.<random>`).
struct leased_task {
  std::string lease;
  task_assignment task;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leased_task& x) {
  return f(caf::meta::type_name("tasker.leased_task"), x.lease, x.task);
}

struct node_info {
  std::string name;
  std::string address;
  std::vector<std::string> task_types;
  int32_t slots = 0;
  int32_t protocol_version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("tasker.node_info"), x.name, x.address,
           x.task_types, x.slots, x.protocol_version);
}

/// A list query: newest first, optional filters, keyset cursor.
struct list_query {
  std::string status;
  std::string type;
  int32_t limit = 100;
  /// Decoded cursor: the (created_at, id) of the last row of the previous page.
  millis after_created_at = 0;
  std::string after_id;
  /// Only tasks whose params contain this JSON object (`@>`); empty: all.
  std::string params;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_query& x) {
  return f(caf::meta::type_name("tasker.list_query"), x.status, x.type, x.limit,
           x.after_created_at, x.after_id, x.params);
}

struct task_page {
  std::vector<task_record> tasks;
  /// Whether more rows follow (the cursor is built from the last task).
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_page& x) {
  return f(caf::meta::type_name("tasker.task_page"), x.tasks, x.more);
}

/// The wire protocol version of the node interface.
constexpr int32_t protocol_version = 2;

/// A position in the event stream: events are ordered by the transaction
/// that wrote them, then task id and seq (docs/ARCHITECTURE.md, "The event
/// stream"). Written `<tx>-<task id>-<seq>`; `event_position{}` is the
/// start, before every event.
struct event_position {
  uint64_t tx = 0;
  std::string task_id = "00000000-0000-0000-0000-000000000000";
  int32_t seq = -1;

  std::string str() const;

  /// Parses `<tx>-<task id>-<seq>` (a lower-case UUID, a seq of -1 or
  /// more); false on anything else.
  static bool parse(const std::string& text, event_position& out);

  friend bool operator<(const event_position& x, const event_position& y);
  friend bool operator==(const event_position& x, const event_position& y) {
    return x.tx == y.tx && x.seq == y.seq && x.task_id == y.task_id;
  }
  friend bool operator!=(const event_position& x, const event_position& y) {
    return !(x == y);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_position& x) {
  return f(caf::meta::type_name("tasker.event_position"), x.tx, x.task_id,
           x.seq);
}

/// One transition of a task, as the `task_events` table holds it: the
/// task's history and the event stream. Its kind follows from the state it
/// reached (`event_kind`).
struct task_event_record {
  std::string task_id;
  /// The task's `seq` after the transition (0: submitted).
  int32_t seq = 0;
  std::string type;
  task_status status = task_status::pending;
  /// The attempt it started or ended (0: none yet, or reset by a retry).
  int32_t attempt = 0;
  std::string worker_id;
  std::string error;
  /// When the transition happened.
  millis at = 0;
  /// When the task is due (submitted, retry scheduled, retried).
  millis scheduled_at = 0;
  /// When the attempt it started or ended started.
  millis started_at = 0;
  /// The transaction that wrote it (read back only; 0 otherwise).
  uint64_t tx = 0;

  /// Its position in the event stream.
  event_position position() const {
    return {tx, task_id, seq};
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_event_record& x) {
  return f(caf::meta::type_name("tasker.task_event_record"), x.task_id, x.seq,
           x.type, x.status, x.attempt, x.worker_id, x.error, x.at,
           x.scheduled_at, x.started_at, x.tx);
}

/// The longest error an event keeps (the task keeps all of it).
constexpr size_t max_event_error = 1024;

/// The event of the transition that brought `rec` to its state (its error
/// cut to `max_event_error` bytes).
task_event_record event_of(const task_record& rec);

/// The kind of a transition, from the state it reached: `submitted`,
/// `started`, `retry_scheduled`, `completed`, `failed`, `cancelled` or
/// `retried` (a request ran a finished task again).
const char* event_kind(task_status status, int32_t attempt, int32_t seq);

/// A webhook delivery: one terminal event of a task with a callback_url.
struct webhook_delivery {
  std::string task_id;
  /// The seq of the terminal event it delivers.
  int32_t seq = 0;
  std::string url;
  /// pending, delivered or failed.
  std::string state;
  int32_t attempts = 0;
  /// When the next attempt is due (pending).
  millis next_at = 0;
  /// The HTTP status of the last attempt (0: none, or no answer).
  int32_t last_status = 0;
  std::string last_error;
  millis delivered_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_delivery& x) {
  return f(caf::meta::type_name("tasker.webhook_delivery"), x.task_id, x.seq,
           x.url, x.state, x.attempts, x.next_at, x.last_status, x.last_error,
           x.delivered_at);
}

/// A task's history: its events in order, and its webhook deliveries.
struct task_history {
  std::vector<task_event_record> events;
  std::vector<webhook_delivery> deliveries;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_history& x) {
  return f(caf::meta::type_name("tasker.task_history"), x.events,
           x.deliveries);
}

/// One bucket of one task type in `GET /v1/stats`: what happened in
/// [bucket, bucket + width). Percentiles are -1 when nothing was measured.
struct stats_row {
  std::string type;
  millis bucket = 0;
  int64_t submitted = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  /// Attempts that ended (completed, failed, retry scheduled): how long
  /// they ran, p50, p95, p99 in ms.
  int64_t runs = 0;
  std::vector<double> run_ms;
  /// Attempts that started: how long the task waited once due.
  int64_t starts = 0;
  std::vector<double> wait_ms;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stats_row& x) {
  return f(caf::meta::type_name("tasker.stats_row"), x.type, x.bucket,
           x.submitted, x.completed, x.failed, x.cancelled, x.runs, x.run_ms,
           x.starts, x.wait_ms);
}

/// A group commit handed to a database writer: submission groups to insert
/// (each all or none) and the latest state of tasks to update.
struct write_batch {
  std::vector<std::vector<task_record>> insert_groups;
  std::vector<task_record> updates;
  /// The worker registry as a JSON array of rows of the `workers` table, to
  /// replace the table's contents; empty when unchanged.
  std::string workers;
  /// The transitions of the updated tasks, in order per task (the updates
  /// hold only the latest state): written with their updates, in the same
  /// statement. (Submissions write theirs from the inserted rows.)
  std::vector<task_event_record> events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_batch& x) {
  return f(caf::meta::type_name("tasker.write_batch"), x.insert_groups,
           x.updates, x.workers, x.events);
}

/// How one submission group of a batch ended.
enum class insert_status : uint8_t {
  /// Stored as new tasks.
  inserted,
  /// Every task matched an earlier submission with the same idempotency key
  /// and body; `tasks` holds the stored ones.
  existing,
  /// An idempotency key was used before with another body; nothing stored.
  conflict,
  /// The database refused the group's content (a value validation missed);
  /// nothing stored, `error` says why. The other groups of the batch are
  /// not affected.
  refused,
  /// The connection was lost before the group was committed; nothing of it
  /// stored, `error` says why.
  unavailable,
};

struct insert_result {
  insert_status status = insert_status::inserted;
  std::vector<task_record> tasks;
  /// The conflicting key, for the error message.
  std::string conflict_key;
  /// Why a refused or unavailable group was not stored.
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, insert_result& x) {
  return f(caf::meta::type_name("tasker.insert_result"), x.status, x.tasks,
           x.conflict_key, x.error);
}

/// The result of a committed write batch: one entry per insert group.
struct batch_outcome {
  std::vector<insert_result> groups;
  /// Ids of the updates that were not stored: refused for their content
  /// (dropped), or left out because the row was finished meanwhile.
  std::vector<std::string> dropped_updates;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_outcome& x) {
  return f(caf::meta::type_name("tasker.batch_outcome"), x.groups,
           x.dropped_updates);
}

} // namespace tasker
