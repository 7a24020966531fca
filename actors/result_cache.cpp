#include "actors/result_cache.hpp"

namespace tasker {

void result_cache::set_capacity(size_t n) {
  capacity_ = n;
  trim();
}

void result_cache::remember(task_record rec) {
  if (capacity_ == 0)
    return;
  auto id = rec.id;
  if (tasks_.insert_or_assign(id, std::move(rec)).second)
    order_.push_back(std::move(id));
  trim();
}

void result_cache::overwrite(const task_record& rec) {
  if (auto i = tasks_.find(rec.id); i != tasks_.end())
    i->second = rec;
}

void result_cache::forget(const std::string& id) {
  if (tasks_.erase(id) == 0)
    return;
  // Its place in `order_` goes when it comes up; compact once the places of
  // forgotten tasks outnumber the kept ones, so `order_` stays bounded.
  if (order_.size() > 2 * tasks_.size() + 1024) {
    std::deque<std::string> kept;
    for (auto& x : order_)
      if (tasks_.count(x) > 0)
        kept.push_back(std::move(x));
    order_ = std::move(kept);
  }
}

const task_record* result_cache::find(const std::string& id) const {
  auto i = tasks_.find(id);
  return i == tasks_.end() ? nullptr : &i->second;
}

void result_cache::trim() {
  while (tasks_.size() > capacity_ && !order_.empty()) {
    tasks_.erase(order_.front());
    order_.pop_front();
  }
}

} // namespace tasker
