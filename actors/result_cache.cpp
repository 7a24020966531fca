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
