#include "persistence/idempotency.hpp"

namespace tasker {

idempotency_round
resolve_idempotency(const std::vector<const std::vector<task_record>*>& groups,
                    const std::unordered_set<std::string>& inserted,
                    const std::unordered_map<std::string, task_record>& by_key) {
  idempotency_round out;
  auto n = groups.size();
  out.results.resize(n);
  out.again.resize(n, false);
  // The ids of the earlier tasks each group matched by key.
  std::vector<std::vector<std::string>> matched(n);
  for (size_t k = 0; k < n; ++k) {
    auto& res = out.results[k];
    size_t existing = 0;
    for (auto& rec : *groups[k]) {
      if (inserted.count(rec.id) > 0) {
        res.tasks.push_back(rec);
        continue;
      }
      auto i = by_key.find(rec.idempotency_key);
      if (i == by_key.end() || i->second.request_hash != rec.request_hash) {
        res.status = insert_status::conflict;
        res.conflict_key = rec.idempotency_key;
        break;
      }
      res.tasks.push_back(i->second);
      matched[k].push_back(i->second.id);
      ++existing;
    }
    if (res.status == insert_status::conflict)
      res.tasks.clear();
    else if (existing == groups[k]->size())
      res.status = insert_status::existing;
  }
  // All or none: withdraw what a conflicting group inserted, then what a
  // group inserted that matched a withdrawn task (it goes round again).
  auto withdraw = [&](size_t k) {
    for (auto& rec : *groups[k])
      if (inserted.count(rec.id) > 0)
        out.undo.insert(rec.id);
  };
  for (size_t k = 0; k < n; ++k)
    if (out.results[k].status == insert_status::conflict)
      withdraw(k);
  for (bool changed = !out.undo.empty(); changed;) {
    changed = false;
    for (size_t k = 0; k < n; ++k) {
      if (out.again[k] || out.results[k].status == insert_status::conflict)
        continue;
      for (auto& id : matched[k])
        if (out.undo.count(id) > 0) {
          out.again[k] = true;
          withdraw(k);
          changed = true;
          break;
        }
    }
  }
  return out;
}

} // namespace tasker
