#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cache/redis_client.hpp"
#include "cache/task_cache.hpp"

namespace tasker {

/// The reading side of the cache, on a connection of its own: used by the
/// database reader (a detached actor) for tasks that are not in memory.
class cache_reader {
public:
  explicit cache_reader(std::shared_ptr<task_cache> cache);

  struct lookup {
    enum kind_t {
      /// A trusted terminal entry: the answer.
      hit,
      /// No entry.
      none,
      /// An entry this read may not use: not terminal, or the task's last
      /// write failed (`entry` holds it when it was read).
      unusable,
      /// An entry that did not decode.
      corrupt,
      /// Redis failed or is paused after a failure.
      error,
    } kind = none;
    std::optional<task_record> entry;
  };

  /// Looks `id` up; counts and logs what it found.
  lookup read(const std::string& id);

  /// After the database answered a read the cache could not: whether to
  /// write the database's state back (heal). Logs and counts an entry that
  /// disagreed with the database.
  bool should_write_back(const lookup& seen, const task_record& stored);

  task_cache& cache() {
    return *cache_;
  }

private:
  std::shared_ptr<task_cache> cache_;
  redis_client client_;
};

} // namespace tasker
