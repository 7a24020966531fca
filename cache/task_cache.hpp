#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/redis_client.hpp"
#include "common/telemetry.hpp"
#include "messages/types.hpp"

namespace tasker {

/// How the Redis status cache is set up (config: redis_url, cache_ttl_s, ...).
struct cache_settings {
  redis_endpoint endpoint;
  /// Time to live of an entry.
  int64_t ttl_s = 3600;
  /// Longest a Redis call may take (connect, send, reply).
  std::chrono::milliseconds timeout{200};
  /// Largest entry written or read; a larger task is not cached.
  size_t max_entry_bytes = 4 * 1024 * 1024;
  /// Most task ids remembered as "the cache may be behind the database"
  /// (see `task_cache::mark_stale`).
  size_t max_stale = 100000;
  /// Most task states waiting to be written (or retried); a state past it
  /// counts as a failed write.
  size_t max_pending_writes = 100000;
};

/// A task record as a cache entry: a JSON object with the record's fields,
/// params and result as JSON text in strings, times in epoch milliseconds.
std::string encode_cache_entry(const task_record& rec);

/// Reads a cache entry back, checking every field as hostile input: types,
/// ranges, the status name, that params and result are JSON, and that it
/// is the task `id`. Returns false (and why) for anything else.
bool decode_cache_entry(const std::string& text, const std::string& id,
                        task_record& out, std::string& why);

/// What the cache writer and the reader share: the key names, the ids whose
/// entry may be behind the database, and whether Redis answers. Thread safe.
///
/// Entries are written only after the database committed the state they
/// hold, so an entry is never newer than the database; it can be older when
/// its write failed (after three retries) or never happened (the process
/// ended first). Reads therefore trust:
/// - only entries written by this process (the key names carry an epoch
///   drawn at start; entries of an earlier process are never read and
///   expire by their TTL);
/// - never the entry of a task whose last write failed (`stale`), until a
///   database read writes it again;
/// - only terminal states: a task that is not finished and not in memory is
///   read from the database, and a cache entry that disagrees is logged as
///   a consistency issue and written again.
class task_cache {
public:
  task_cache(cache_settings settings, telemetry_ptr tel);

  const cache_settings& settings() const {
    return settings_;
  }

  telemetry& tel() {
    return *tel_;
  }

  /// The Redis key of a task's entry.
  std::string key(const std::string& id) const;

  /// The key prefix in use (for /v1/cluster).
  std::string prefix() const;

  /// Whether a read may use the entry of `id`: no committed state of it is
  /// waiting to be written, and its last write did not fail.
  bool trusted(const std::string& id) const;

  /// These committed states are on their way to the cache writer: until it
  /// has written (or given up on) each, their tasks' entries are not used.
  /// Called before the commit is answered, so no read can see the commit
  /// without seeing the note.
  void note_unwritten(const std::vector<task_record>& states);

  /// The writer wrote (or gave up on) `notes` noted states of `id`.
  void written(const std::string& id, uint64_t notes);

  /// Retention deleted these tasks: their entries are never used again
  /// (and a write-back of a read that raced the delete is dropped). The
  /// last `max_stale` deleted ids are remembered.
  void deleted(const std::vector<std::string>& ids);

  /// Whether retention deleted `id` lately.
  bool was_deleted(const std::string& id) const;

  /// Redis answered a new connection with this `run_id` (INFO server). A
  /// different server (a restart, a failover) may hold older entries that
  /// were restored from disk: every entry written before is left unread.
  void observe_server(const std::string& run_id);

  /// The write of `id`'s latest state failed for good: its entry may be
  /// behind the database. Past `max_stale` such ids the epoch changes, so
  /// that every entry written before is left unread.
  void mark_stale(const std::string& id);

  /// `id`'s entry was written again with the database's state.
  void healed(const std::string& id);

  /// Whether reads should skip Redis now (it failed lately: reads come back
  /// to it after a pause that doubles up to 5 s).
  bool reads_paused() const;
  void read_failed(const std::string& error);
  void read_succeeded();

  /// Whether Redis answered the last call (for /ready and /v1/cluster);
  /// a change is logged, with `error` when it went down.
  void set_up(bool up, const std::string& error = {});

private:
  void new_epoch_locked();

  cache_settings settings_;
  telemetry_ptr tel_;
  mutable std::mutex mtx_;
  std::string prefix_;
  std::unordered_set<std::string> stale_;
  /// Noted states not yet written, by task id.
  std::unordered_map<std::string, uint64_t> unwritten_;
  /// Ids retention deleted lately, and their order (oldest first).
  std::unordered_set<std::string> deleted_;
  std::deque<std::string> deleted_order_;
  std::string run_id_;
  std::atomic<int64_t> paused_until_ms_{0};
  std::atomic<int64_t> pause_ms_{0};
};

/// Whether two states of a task differ in what a client sees change.
bool differs(const task_record& x, const task_record& y);

} // namespace tasker
