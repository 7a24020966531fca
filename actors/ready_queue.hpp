#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>

#include "messages/types.hpp"

namespace tasker {

/// The dispatcher's queued attempts: one per task at most, ordered per task
/// type by priority (higher first), then scheduled time, then arrival. Pure:
/// `Owner` is whatever the dispatcher keeps with an attempt (the task actor).
template <class Owner>
class ready_queue {
public:
  /// Position in a type's queue.
  using key = std::tuple<int32_t, millis, uint64_t, std::string>;

  struct entry {
    task_assignment assignment;
    Owner owner;
  };

  /// Queues an attempt; a task has at most one queued attempt, so a newer
  /// one replaces the older.
  void push(task_assignment a, Owner owner) {
    erase(a.id);
    key k{-a.priority, a.scheduled_at, seq_++, a.id};
    queues_[a.type].insert(k);
    ++depths_[{a.type, a.priority}];
    waiting_.emplace(std::get<3>(k),
                     queued{entry{std::move(a), std::move(owner)}, k});
  }

  /// Drops the queued attempt `attempt` of task `id`; whether there was one.
  bool remove(const std::string& id, int32_t attempt) {
    auto i = waiting_.find(id);
    if (i == waiting_.end() || i->second.item.assignment.attempt != attempt)
      return false;
    erase(id);
    return true;
  }

  /// The type whose first attempt comes first among the types `can_run`
  /// accepts (asked only for types with queued attempts), or none.
  template <class Predicate>
  std::optional<std::string> best_type(Predicate can_run) const {
    const key* best = nullptr;
    const std::string* type = nullptr;
    for (auto& [t, q] : queues_)
      if (!q.empty() && (best == nullptr || *q.begin() < *best) && can_run(t)) {
        best = &*q.begin();
        type = &t;
      }
    return type ? std::optional<std::string>{*type} : std::nullopt;
  }

  /// Takes out the first attempt of `type`, which must have one.
  entry pop(const std::string& type) {
    auto& q = queues_[type];
    auto id = std::get<3>(*q.begin());
    q.erase(q.begin());
    auto i = waiting_.find(id);
    forget(type, i->second.item.assignment.priority);
    auto out = std::move(i->second.item);
    waiting_.erase(i);
    return out;
  }

  size_t size() const {
    return waiting_.size();
  }

  /// Queued attempts by task type and priority (each count above 0).
  const std::map<std::pair<std::string, int32_t>, uint64_t>& depths() const {
    return depths_;
  }

private:
  struct queued {
    entry item;
    key position;
  };

  void erase(const std::string& id) {
    auto i = waiting_.find(id);
    if (i == waiting_.end())
      return;
    auto& a = i->second.item.assignment;
    queues_[a.type].erase(i->second.position);
    forget(a.type, a.priority);
    waiting_.erase(i);
  }

  void forget(const std::string& type, int32_t priority) {
    auto d = depths_.find({type, priority});
    if (d != depths_.end() && --d->second == 0)
      depths_.erase(d);
  }

  /// Queues by task type.
  std::map<std::string, std::set<key>> queues_;
  /// Queued attempts by task id.
  std::unordered_map<std::string, queued> waiting_;
  /// Queued attempts by type and priority.
  std::map<std::pair<std::string, int32_t>, uint64_t> depths_;
  /// Arrival order.
  uint64_t seq_ = 0;
};

} // namespace tasker
