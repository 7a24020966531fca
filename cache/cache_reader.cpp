#include "cache/cache_reader.hpp"

#include <chrono>

#include "common/log.hpp"

namespace tasker {

cache_reader::cache_reader(std::shared_ptr<task_cache> cache)
  : cache_(std::move(cache)),
    client_(cache_->settings().endpoint, cache_->settings().timeout,
            [c = cache_](const std::string& run_id) {
              c->observe_server(run_id);
            }) {}

cache_reader::lookup cache_reader::read(const std::string& id) {
  auto& stats = cache_->tel().stats;
  if (cache_->reads_paused())
    return {lookup::error, std::nullopt};
  if (!cache_->trusted(id)) {
    stats.cache(cache_event::miss);
    return {lookup::unusable, std::nullopt};
  }
  std::optional<std::string> text;
  auto started = std::chrono::steady_clock::now();
  try {
    text = client_.get(cache_->key(id), cache_->settings().max_entry_bytes);
  } catch (const redis_wrong_type& e) {
    // Not a string: planted. Healed by the write-back like a corrupt entry.
    cache_->read_succeeded();
    stats.cache(cache_event::corrupt);
    log::warning("cache",
                 "Cache entry of task " + id
                   + " is corrupt, falling back to database",
                 {{"task_id", id}, {"error", e.what()}});
    return {lookup::corrupt, std::nullopt};
  } catch (const std::exception& e) {
    stats.cache(cache_event::read_error);
    cache_->read_failed(e.what());
    log::warning("cache",
                 "Cache read failed for task " + id
                   + ", falling back to database",
                 {{"task_id", id}, {"error", e.what()}});
    return {lookup::error, std::nullopt};
  }
  // A Redis that answers, but slowly, is paused like one that fails: the
  // reader serves the database's reads too.
  if (std::chrono::steady_clock::now() - started
      > cache_->settings().timeout / 2)
    cache_->read_failed("Redis answered slower than half of cache_timeout_ms");
  else
    cache_->read_succeeded();
  if (!text) {
    stats.cache(cache_event::miss);
    return {lookup::none, std::nullopt};
  }
  task_record rec;
  std::string why;
  if (text->size() > cache_->settings().max_entry_bytes)
    why = "larger than the largest entry";
  if (!why.empty() || !decode_cache_entry(*text, id, rec, why)) {
    stats.cache(cache_event::corrupt);
    log::warning("cache",
                 "Cache entry of task " + id
                   + " is corrupt, falling back to database",
                 {{"task_id", id}, {"error", why}});
    return {lookup::corrupt, std::nullopt};
  }
  if (!is_terminal(rec.status)) {
    stats.cache(cache_event::miss);
    return {lookup::unusable, std::move(rec)};
  }
  stats.cache(cache_event::hit);
  return {lookup::hit, std::move(rec)};
}

bool cache_reader::should_write_back(const lookup& seen,
                                     const task_record& stored) {
  switch (seen.kind) {
    case lookup::hit:
    case lookup::error:
      return false;
    case lookup::none:
    case lookup::corrupt:
      return true;
    case lookup::unusable:
      if (!seen.entry)
        return true;
      if (!differs(*seen.entry, stored))
        return false;
      cache_->tel().stats.cache(cache_event::inconsistent);
      log::warning("cache",
                   "Task " + stored.id
                     + " cache-database consistency issue detected",
                   {{"task_id", stored.id},
                    {"cache_status", to_string(seen.entry->status)},
                    {"database_status", to_string(stored.status)}});
      return true;
  }
  return false;
}

} // namespace tasker
