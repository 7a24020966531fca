#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "messages/status.hpp"
#include "messages/types.hpp"

namespace tasker {

/// Encodes records as one JSON array for a single statement parameter, in
/// `task_json_style::rows` (keys match the column list of
/// `jsonb_to_recordset` in the batch statements).
std::string records_json(const std::vector<task_record>& recs);

/// Encodes the state of records as one JSON array for `update_tasks`: the id
/// and the columns a state update writes, nothing else (no params, type or
/// request hash for PostgreSQL to parse again), and under `events` the
/// transitions of `events` that belong to each (times in epoch
/// milliseconds, the kind spelled out).
std::string update_rows_json(const std::vector<task_record>& recs,
                             const std::vector<task_event_record>& events = {});

/// Encodes a worker registry snapshot as the rows of the `workers` table
/// (`statements::replace_workers`): times in epoch milliseconds, what the
/// table has no column for in `metadata`.
std::string worker_rows_json(const std::vector<worker_view>& workers);

/// Pending writes of one writer: submission groups and coalesced updates
/// (the latest state of a task wins), each with the tokens of its waiters.
/// A coalesced update keeps the transitions it went through (one event per
/// `seq`), so history loses none of them.
class write_buffer {
public:
  /// What one flush takes out.
  struct taken {
    write_batch batch;
    /// One token per insert group (same order as batch.insert_groups).
    std::vector<uint64_t> insert_tokens;
    /// Waiter tokens per update (same order as batch.updates); 0 = none.
    std::vector<std::vector<uint64_t>> update_tokens;
  };

  /// Adds a submission group that a waiter with `token` awaits.
  void add_insert(std::vector<task_record> group, uint64_t token);

  /// Adds the new state of a task; `token` 0 means nobody waits.
  void add_update(task_record rec, uint64_t token = 0);

  /// Sets the worker registry snapshot for the next batch (latest wins).
  void set_workers(std::string snapshot);

  /// Puts the updates of a failed flush back, unless a newer state of the
  /// same task arrived meanwhile (its waiters then wait for the newer one).
  void requeue_updates(taken&& failed);

  size_t rows() const {
    return rows_;
  }

  bool empty() const {
    return rows_ == 0;
  }

  /// Takes out whole groups and updates up to about `max_rows` rows (at
  /// least one entry).
  taken take(size_t max_rows);

private:
  struct pending_insert {
    std::vector<task_record> group;
    uint64_t token;
  };
  struct pending_update {
    task_record rec;
    std::vector<uint64_t> tokens;
    /// Its transitions in order, one per seq.
    std::vector<task_event_record> events;
  };

  /// Adds the event of `rec`'s state to `entry`, unless it holds it.
  static void note_event(pending_update& entry, const task_record& rec);

  std::vector<pending_insert> inserts_;
  std::vector<pending_update> updates_;
  std::unordered_map<std::string, size_t> update_index_;
  std::string workers_;
  size_t rows_ = 0;
};

} // namespace tasker
