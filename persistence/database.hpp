#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "messages/types.hpp"

namespace tasker {

/// Whether an exception from `database::apply` says the batch's content was
/// refused (SQLSTATE classes 22 and 23, or a value JSON could not take), as
/// opposed to the database being unreachable or unable to write.
bool content_refused(const std::exception& e);

/// One PostgreSQL connection and the statements tasker runs on it. Blocking:
/// used only from detached actors, tools and tests. Throws pqxx exceptions;
/// after a `pqxx::broken_connection` the next call connects anew.
/// `url` with `key=value` added unless it names `key` already (libpq's URI
/// or keyword/value form).
std::string with_param(const std::string& url, const std::string& key,
                       const std::string& value);

/// `url` with bounds on a connection's waits unless it sets them itself:
/// `connect_timeout` 5 s, and `tcp_user_timeout` 5 s (data the server does
/// not acknowledge for that long breaks the connection). So a call to a
/// database that is cut off returns within seconds instead of after TCP's
/// retransmissions (minutes); a slow query is not affected (the server
/// acknowledges what it receives).
std::string bounded_url(const std::string& url);

class database {
public:
  explicit database(std::string url);
  ~database();

  /// Drops the connection (after a failure); the next call reconnects.
  void reset();

  /// Applies pending migrations in one transaction under an advisory lock.
  /// Returns how many were applied.
  int migrate();

  /// Commits a write batch in one transaction: inserts with idempotency
  /// checks, then updates. Terminal rows change only through a retry.
  /// When the connection breaks during the commit, the outcome is read back
  /// on a new connection (did a row of this batch's inserts land?): the
  /// batch's outcome when it did, `pqxx::broken_connection` when it did not
  /// (nothing of it was stored; updates are safe to apply again), and
  /// `pqxx::in_doubt_error` only when the database stays unreachable for
  /// `in_doubt_patience`.
  batch_outcome apply(const write_batch& batch);

  /// Applies a batch that `apply` failed on for its content
  /// (`content_refused`) in parts (halving), so that one refused member
  /// cannot fail the others: state updates and the worker snapshot first
  /// (the refused ones are logged and dropped), then the insert groups (a
  /// refused group is answered `refused`). Any other failure during the
  /// updates throws (nothing of them is lost: they are safe to apply again);
  /// during the inserts, the groups not yet committed are answered
  /// `unavailable`.
  batch_outcome apply_apart(const write_batch& batch);

  /// Fault injection for tests: called with "before_commit" and
  /// "after_commit" around the commit of `apply`; it may throw.
  std::function<void(const char* point)> fault_hook;

  /// How long `apply` keeps trying to read back an in-doubt commit.
  std::chrono::milliseconds in_doubt_patience{300000};

  std::optional<task_record> get(const std::string& id);

  /// Reads one page of a list, newest first. A page ends early (with more
  /// to follow) once its params and results pass `max_page_bytes`, so that a
  /// page of large tasks cannot take unbounded memory.
  task_page list(const list_query& query);

  /// The size of params and results past which a list page ends early.
  size_t max_page_bytes = 4 * 1024 * 1024;

  /// The first `limit` events of a task, in order.
  std::vector<task_event_record> events(const std::string& task_id,
                                        int32_t limit);

  /// Makes the GIN index of params (`params_index`) unless a valid one
  /// exists, without blocking writes (CONCURRENTLY; an invalid one left by
  /// an interrupted build is dropped first). Returns whether it made one.
  bool ensure_params_index();

  /// `GET /v1/stats`: per type and bucket of `bucket_ms`, the last
  /// `window_ms` (`statements::event_stats`), in a read-only transaction
  /// bounded by `statement_timeout` (10 s).
  std::vector<stats_row> stats(int64_t window_ms, int64_t bucket_ms);

  /// Webhook deliveries: claims due ones (`statements::claim_deliveries`),
  /// records an attempt, reads a task's, and reads one event.
  std::vector<webhook_delivery> claim_deliveries(int32_t limit,
                                                 int64_t lease_ms);
  void finish_delivery(const webhook_delivery& d, int64_t next_in_ms);
  std::vector<webhook_delivery> deliveries(const std::string& task_id);
  std::optional<task_event_record> event(const std::string& task_id,
                                         int32_t seq);

  /// The event stream (`statements::event_stream_*`): the position of the
  /// last settled event (none when there is none), the settled events
  /// after a position, and the events between two.
  std::optional<event_position> stream_head();
  std::vector<task_event_record> stream_after(const event_position& after,
                                              int32_t limit);
  std::vector<task_event_record> stream_between(const event_position& after,
                                                const event_position& upto,
                                                int32_t limit);

  /// Reads unfinished tasks in (scheduled_at, id) order: those after the
  /// position (after_at, after_id), scheduled at or before `until`; at most
  /// `limit` of them. Recovery and the loading of delayed tasks page
  /// through them with it.
  std::vector<task_record> unfinished(millis after_at,
                                      const std::string& after_id,
                                      millis until, int32_t limit);

  /// One batch of retention (`statements::prune_tasks`): deletes at most
  /// `limit` tasks that finished before `cutoff`, after the position
  /// (after_at, after_id) in (created_at, id) order. Returns the deleted ids
  /// in that order; `last_at` gets the created_at of the last one.
  std::vector<std::string> prune(millis cutoff, millis after_at,
                                 const std::string& after_id, int32_t limit,
                                 millis& last_at);

private:
  struct connection;

  /// The connection, made now if there is none (or it is closed).
  connection& conn();

  /// `apply` for a batch of one statement (see `one_statement`), run
  /// without a transaction around it: the statement commits by itself.
  batch_outcome apply_one(const write_batch& batch);

  /// Whether the task row `id` exists, asked on new connections until one
  /// answers (at most `in_doubt_patience`).
  bool read_back(const std::string& id);

  std::string url_;
  std::unique_ptr<connection> conn_;
};

} // namespace tasker
