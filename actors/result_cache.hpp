#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>

#include "messages/types.hpp"

namespace tasker {

/// The task manager's recently finished tasks, for reads that no live actor
/// answers: bounded, the oldest-added task leaves first. Pure: no actors.
class result_cache {
public:
  explicit result_cache(size_t capacity = 100000) : capacity_(capacity) {}

  /// Holds at most `n` tasks from now on (0 holds none).
  void set_capacity(size_t n);

  /// Keeps `rec`: a newer state of a task already kept replaces it in its
  /// place; past the capacity the oldest-added task leaves.
  void remember(task_record rec);

  /// Replaces the state of a task that is kept (in its place); does nothing
  /// for one that is not.
  void overwrite(const task_record& rec);

  /// Drops a task (retention deleted it).
  void forget(const std::string& id);

  /// The kept state of a task, or null.
  const task_record* find(const std::string& id) const;

  size_t size() const {
    return tasks_.size();
  }

private:
  void trim();

  size_t capacity_;
  std::unordered_map<std::string, task_record> tasks_;
  /// Ids in the order they were added.
  std::deque<std::string> order_;
};

} // namespace tasker
