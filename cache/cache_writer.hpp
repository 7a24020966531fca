#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "cache/task_cache.hpp"
#include "messages/interfaces.hpp"

namespace tasker {

/// What the persistence batcher tells of each commit: the shared cache (to
/// note the states before the commit is answered) and its writer.
struct cache_link {
  std::shared_ptr<task_cache> cache;
  cache_writer_actor writer;

  explicit operator bool() const {
    return cache != nullptr;
  }
};

/// Spawns the writer of the Redis status cache, detached (hiredis blocks).
/// It writes each task's latest state after its commit, best effort: a
/// failed write is retried at 100, 200 and 400 ms; after that the task is
/// marked stale (its reads go to the database, which writes it again).
cache_writer_actor spawn_cache_writer(caf::actor_system& sys,
                                      std::shared_ptr<task_cache> cache);

} // namespace tasker
