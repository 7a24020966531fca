#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "common/telemetry.hpp"
#include "messages/interfaces.hpp"
#include "cache/cache_reader.hpp"
#include "cache/cache_writer.hpp"
#include "cache/task_cache.hpp"
#include "persistence/database.hpp"
#include "persistence/sql.hpp"

namespace tasker {

struct persistence_config {
  std::string db_url;
  /// Writer connections; a task's writes always go to the same writer, so
  /// they commit in order.
  int32_t writers = 2;
  int32_t batch_max_rows = 2000;
  /// The Redis status cache; none when it is off.
  std::shared_ptr<task_cache> cache;
};

/// State of the batching persistence actor.
struct persistence_state {
  static inline constexpr const char* name = "persistence";

  /// One writer with its buffer; at most one batch in flight per shard.
  struct shard {
    write_buffer buffer;
    writer_actor writer;
    bool in_flight = false;
    bool flush_scheduled = false;
    /// The waiters of the batch in flight.
    write_buffer::taken flight;
    /// Consecutive failed commits (for the retry back-off).
    int32_t failures = 0;
  };

  std::vector<shard> shards;
  int32_t batch_max_rows = 2000;
  uint64_t next_token = 1;
  std::unordered_map<uint64_t, caf::typed_response_promise<insert_result>>
    insert_waiters;
  std::unordered_map<uint64_t, caf::typed_response_promise<ok_atom>>
    write_waiters;
  telemetry_ptr tel;
  /// The Redis cache, told every committed state (empty: no cache).
  cache_link cache;
  uint64_t batches = 0;
  uint64_t rows_written = 0;
  uint64_t failed_batches = 0;
  size_t last_batch_rows = 0;
  size_t max_batch_rows = 0;
};

using persistence_pointer = persistence_actor::stateful_pointer<persistence_state>;

/// The batching front of the database. Buffers inserts and updates per
/// writer shard and hands a whole buffer to the writer as soon as the
/// previous commit of that shard returns (group commit); every waiter is
/// answered after its commit. Updates of a failed commit are kept and retried
/// with back-off; inserts of a failed commit answer `unavailable`.
persistence_actor::behavior_type
persistence(persistence_pointer self, std::vector<writer_actor> writers,
            cache_link cache, int32_t batch_max_rows,
            telemetry_ptr tel);

/// A writer: owns one connection and commits one batch per request.
/// Spawn it detached: libpqxx blocks.
writer_actor::behavior_type writer(writer_actor::pointer self,
                                   std::shared_ptr<database> db,
                                   telemetry_ptr tel);

/// A reader: reads tasks that are not in memory, lists and recovery, on its
/// own connection. Spawn it detached. With the Redis cache, a task is read
/// from it first, and what the database answers instead is written back.
reader_actor::behavior_type reader(reader_actor::pointer self,
                                   std::shared_ptr<database> db,
                                   std::shared_ptr<cache_reader> cache,
                                   cache_writer_actor cache_writer);

struct persistence_handles {
  persistence_actor batcher;
  reader_actor reader;
  /// The writers the batcher uses (a restarted batcher takes them over).
  std::vector<writer_actor> writers;
  /// The Redis cache and its writer (empty when the cache is off).
  cache_link cache;
};

/// Spawns the writers and the reader (detached) and the batching actor.
persistence_handles spawn_persistence(caf::actor_system& sys,
                                      const persistence_config& cfg,
                                      telemetry_ptr tel);

} // namespace tasker
