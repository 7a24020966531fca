#include "cache/cache_writer.hpp"

#include <algorithm>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "common/clock.hpp"
#include "common/log.hpp"

namespace tasker {

namespace {

/// Most entries, and about the most bytes, per pipeline.
constexpr size_t max_chunk = 1000;
constexpr size_t max_chunk_bytes = 8 * 1024 * 1024;

/// Most bytes of entries waiting to be written.
constexpr size_t max_pending_bytes = 256 * 1024 * 1024;

/// Writes of one entry: the first, then three retries.
constexpr int max_attempts = 4;

/// A task state waiting to be written.
struct pending_write {
  /// The entry; empty: delete the key (the task is too large to cache, or
  /// retention deleted it).
  std::string value;
  millis updated_at = 0;
  /// A write-back of a database read (see `cache_writer_actor`).
  bool guarded = false;
  /// Failed writes so far.
  int failures = 0;
  /// Not before this time (a retry).
  millis due = 0;
  /// Committed states noted in the cache (`task_cache::note_unwritten`)
  /// that this entry stands for.
  uint64_t notes = 0;
};

struct cache_writer_state {
  static inline constexpr const char* name = "cache_writer";

  std::shared_ptr<task_cache> cache;
  std::unique_ptr<redis_client> client;
  std::unordered_map<std::string, pending_write> pending;
  /// The bytes of the entries in `pending`.
  size_t pending_bytes = 0;
  /// After a failed call, no call before this time.
  millis paused_until = 0;
  /// The time a flush_atom is scheduled for (0: none).
  millis timer_at = 0;
  /// While idle, Redis is pinged once a second (for /ready).
  millis next_ping = 0;
  /// "Failed to cache" lines logged in the current second, and those left
  /// out (a summary says how many).
  millis log_second = 0;
  int logged = 0;
  uint64_t unlogged = 0;
};

using cache_writer_pointer
  = cache_writer_actor::stateful_pointer<cache_writer_state>;

void schedule(cache_writer_pointer self, millis at) {
  auto& st = self->state;
  if (st.timer_at != 0 && st.timer_at <= at)
    return;
  st.timer_at = at;
  auto delay = std::max<millis>(at - now_ms(), 1);
  self->delayed_send(self, std::chrono::milliseconds(delay), flush_atom_v);
}

/// Logs a write that failed for good, at most 20 lines a second.
void log_failure(cache_writer_state& st, const std::string& id,
                 const std::string& error) {
  auto second = now_ms() / 1000;
  if (second != st.log_second) {
    if (st.unlogged > 0)
      log::warning(st.name, "more tasks could not be cached",
                   {{"count", st.unlogged}});
    st.log_second = second;
    st.logged = 0;
    st.unlogged = 0;
  }
  if (st.logged++ >= 20) {
    ++st.unlogged;
    return;
  }
  log::warning(st.name,
               "Failed to cache task " + id + ", will self-heal on next read",
               {{"task_id", id}, {"error", error}});
}

/// Forgets a pending write.
void drop(cache_writer_state& st,
          std::unordered_map<std::string, pending_write>::iterator i) {
  st.pending_bytes -= i->second.value.size();
  st.pending.erase(i);
}

/// Puts a write in place of any pending one of the same task; false (the
/// state counts as a failed write) when the bounds are reached.
bool put(cache_writer_state& st, const std::string& id, pending_write w) {
  auto& cache = *st.cache;
  auto i = st.pending.find(id);
  size_t before = i == st.pending.end() ? 0 : i->second.value.size();
  if ((i == st.pending.end()
       && st.pending.size() >= cache.settings().max_pending_writes)
      || st.pending_bytes - before + w.value.size() > max_pending_bytes) {
    cache.tel().stats.cache(cache_event::write_failure);
    cache.mark_stale(id);
    cache.written(id, w.notes);
    if (i != st.pending.end())
      drop(st, i);
    log_failure(st, id, "too many cache writes waiting");
    return false;
  }
  st.pending_bytes = st.pending_bytes - before + w.value.size();
  st.pending[id] = std::move(w);
  return true;
}

/// Writes one chunk of due entries; false when Redis failed.
bool write_chunk(cache_writer_pointer self,
                 const std::vector<std::string>& ids) {
  auto& st = self->state;
  auto& cache = *st.cache;
  std::vector<std::pair<std::string, std::string>> sets;
  std::vector<redis_client::guarded_set> guarded;
  std::vector<std::string> dels;
  for (auto& id : ids) {
    auto& w = st.pending[id];
    if (w.value.empty())
      dels.push_back(cache.key(id));
    else if (w.guarded)
      guarded.push_back({cache.key(id), w.value, w.updated_at});
    else
      sets.emplace_back(cache.key(id), w.value);
  }
  auto ttl = cache.settings().ttl_s;
  try {
    st.client->set_many(sets, ttl);
    st.client->set_unless_newer(guarded, ttl, now_ms() + 86'400'000);
    st.client->del_many(dels);
  } catch (const redis_error& e) {
    cache.tel().stats.cache(cache_event::write_error);
    cache.set_up(false, e.what());
    auto now = now_ms();
    for (auto& id : ids) {
      auto i = st.pending.find(id);
      auto& w = i->second;
      if (++w.failures >= max_attempts) {
        cache.tel().stats.cache(cache_event::write_failure);
        cache.mark_stale(id);
        cache.written(id, w.notes);
        log_failure(st, id, e.what());
        drop(st, i);
        continue;
      }
      w.due = now + (millis{100} << (w.failures - 1));
    }
    st.paused_until = now + 100;
    return false;
  }
  cache.set_up(true);
  cache.tel().stats.cache_written(ids.size());
  for (auto& id : ids) {
    auto i = st.pending.find(id);
    cache.written(id, i->second.notes);
    // A guarded write may have left a newer entry alone: only a plain write
    // says the entry now holds the latest state.
    if (!i->second.guarded)
      cache.healed(id);
    drop(st, i);
  }
  return true;
}

/// Writes every due entry, chunk by chunk, until one fails; schedules the
/// next retry.
void flush(cache_writer_pointer self) {
  auto& st = self->state;
  auto now = now_ms();
  if (now >= st.paused_until) {
    for (;;) {
      std::vector<std::string> ids;
      size_t bytes = 0;
      for (auto& [id, w] : st.pending) {
        if (w.due <= now) {
          ids.push_back(id);
          bytes += w.value.size();
        }
        if (ids.size() == max_chunk || bytes >= max_chunk_bytes)
          break;
      }
      if (ids.empty() || !write_chunk(self, ids))
        break;
    }
  }
  if (st.pending.empty()) {
    // Idle: a ping once a second keeps /ready true to Redis.
    if (now >= st.next_ping && now >= st.paused_until) {
      st.next_ping = now + 1000;
      try {
        st.client->ping();
        st.cache->set_up(true);
      } catch (const redis_error& e) {
        st.cache->set_up(false, e.what());
      }
    }
    schedule(self, std::max(st.next_ping, now + 1));
    return;
  }
  auto earliest = std::min_element(
    st.pending.begin(), st.pending.end(),
    [](auto& x, auto& y) { return x.second.due < y.second.due; });
  schedule(self, std::max({st.paused_until, now + 1, earliest->second.due}));
}

/// After new states came: writes now, unless Redis failed a moment ago
/// (then the timer writes them; no scan of what waits per message).
void wake(cache_writer_pointer self) {
  auto& st = self->state;
  if (now_ms() < st.paused_until)
    return;
  flush(self);
}

cache_writer_actor::behavior_type
cache_writer(cache_writer_pointer self, std::shared_ptr<task_cache> cache) {
  auto& st = self->state;
  st.cache = std::move(cache);
  st.client = std::make_unique<redis_client>(
    st.cache->settings().endpoint, st.cache->settings().timeout,
    [cache = st.cache](const std::string& run_id) {
      cache->observe_server(run_id);
    });
  self->send(self, flush_atom_v);
  return {
    [self](cache_atom, std::vector<task_record>& recs, bool write_back) {
      auto& st = self->state;
      auto& cache = *st.cache;
      for (auto& rec : recs) {
        auto i = st.pending.find(rec.id);
        uint64_t notes = write_back ? 0 : 1;
        // A committed state waiting to be written is newer than what a read
        // found; and a read that raced retention must not bring a deleted
        // task back.
        if (write_back
            && ((i != st.pending.end() && !i->second.guarded)
                || cache.was_deleted(rec.id)))
          continue;
        if (i != st.pending.end())
          notes += i->second.notes;
        auto value = encode_cache_entry(rec);
        if (value.size() > cache.settings().max_entry_bytes)
          value.clear();
        put(st, rec.id,
            pending_write{std::move(value), rec.updated_at, write_back, 0, 0,
                          notes});
      }
      wake(self);
    },
    [self](cache_atom, std::vector<std::string>& ids) {
      auto& st = self->state;
      for (auto& id : ids) {
        auto i = st.pending.find(id);
        auto notes = i == st.pending.end() ? 0 : i->second.notes;
        // An empty value deletes the key.
        put(st, id, pending_write{{}, 0, false, 0, 0, notes});
      }
      wake(self);
    },
    [self](flush_atom) {
      self->state.timer_at = 0;
      flush(self);
    },
  };
}

} // namespace

cache_writer_actor spawn_cache_writer(caf::actor_system& sys,
                                      std::shared_ptr<task_cache> cache) {
  return sys.spawn<caf::detached>(cache_writer, std::move(cache));
}

} // namespace tasker
