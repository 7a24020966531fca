#include "persistence/persistence.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <pqxx/except>

#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker {

namespace {

/// Answers the waiter of `token`, if it still waits, and forgets it.
template <class Waiters, class... Ts>
void answer(Waiters& waiters, uint64_t token, Ts&&... xs) {
  if (auto w = waiters.find(token); w != waiters.end()) {
    w->second.deliver(std::forward<Ts>(xs)...);
    waiters.erase(w);
  }
}

/// With two or more writers, the first one takes only submissions, so a
/// client waiting for its 202 never waits behind state updates; the others
/// take the updates, a task always on the same one (in order). With one
/// writer it takes everything. Every submission goes to the one writer: an
/// empty one is then a barrier behind all submitted before it (the task
/// manager relies on it after a restart of this actor).
size_t insert_shard(const persistence_state&) {
  return 0;
}

size_t update_shard(const persistence_state& st, const std::string& id) {
  auto n = st.shards.size();
  return n == 1 ? 0 : 1 + std::hash<std::string>{}(id) % (n - 1);
}

void schedule_flush(persistence_pointer self, size_t i) {
  auto& sh = self->state.shards[i];
  if (sh.in_flight || sh.flush_scheduled || sh.buffer.empty())
    return;
  sh.flush_scheduled = true;
  // A self-message runs after what is already in the mailbox, so writes that
  // arrived together share the commit.
  self->send(self, flush_atom_v, static_cast<int32_t>(i));
}

size_t backlog(const persistence_state& st) {
  size_t n = 0;
  for (auto& sh : st.shards)
    n += sh.buffer.rows() + sh.flight.batch.updates.size();
  return n;
}

/// Publishes the backlog for the dispatcher's back-pressure and /metrics.
void publish_backlog(persistence_state& st) {
  auto n = static_cast<int64_t>(backlog(st));
  st.tel->state.db_backlog = n;
  st.tel->stats.set_persistence_backlog(n);
}

/// Hands the Redis cache's writer what a commit stored: the inserted tasks
/// and the updates (but those the database refused).
void tell_cache(persistence_state& st, std::vector<task_record> states,
                const std::vector<task_record>& updates,
                const std::vector<std::string>& dropped) {
  states.reserve(states.size() + updates.size());
  for (auto& rec : updates)
    if (std::find(dropped.begin(), dropped.end(), rec.id) == dropped.end())
      states.push_back(rec);
  if (states.empty())
    return;
  st.cache.cache->note_unwritten(states);
  caf::anon_send(st.cache.writer, cache_atom_v, std::move(states), false);
}

void flush(persistence_pointer self, size_t i) {
  auto& st = self->state;
  auto& sh = st.shards[i];
  sh.flush_scheduled = false;
  if (sh.in_flight || sh.buffer.empty())
    return;
  sh.flight = sh.buffer.take(static_cast<size_t>(st.batch_max_rows));
  sh.in_flight = true;
  auto rows = sh.flight.batch.updates.size();
  for (auto& g : sh.flight.batch.insert_groups)
    rows += g.size();
  auto started = std::chrono::steady_clock::now();
  // The submissions move into the writer's message; the flight keeps only
  // what a failed commit puts back (updates, registry) and the tokens.
  // With the Redis cache: the ids this batch submits (a group's answer can
  // also hold earlier tasks its idempotency keys matched, read inside the
  // transaction: not newly committed states).
  std::shared_ptr<std::unordered_set<std::string>> submitted;
  if (st.cache) {
    submitted = std::make_shared<std::unordered_set<std::string>>();
    for (auto& g : sh.flight.batch.insert_groups)
      for (auto& rec : g)
        submitted->insert(rec.id);
  }
  // (The updates, the snapshot and the events stay: a failed batch puts
  // them back.)
  write_batch batch{std::exchange(sh.flight.batch.insert_groups, {}),
                    sh.flight.batch.updates, sh.flight.batch.workers,
                    sh.flight.batch.events};
  self
    ->request(sh.writer, caf::infinite, write_atom_v, std::move(batch))
    .then(
      [self, i, rows, started, submitted](batch_outcome& out) {
        auto& st = self->state;
        auto& sh = st.shards[i];
        auto secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - started)
                      .count();
        st.tel->stats.batch_committed(rows, secs);
        ++st.batches;
        st.rows_written += rows;
        st.last_batch_rows = rows;
        st.max_batch_rows = std::max(st.max_batch_rows, rows);
        sh.failures = 0;
        auto flight = std::exchange(sh.flight, {});
        sh.in_flight = false;
        // The cache hears of the commit before anyone is answered (a read
        // that follows an answer then finds the note).
        if (st.cache) {
          std::vector<task_record> inserted;
          for (auto& g : out.groups)
            if (g.status == insert_status::inserted)
              for (auto& rec : g.tasks)
                if (submitted->count(rec.id) > 0)
                  inserted.push_back(rec);
          tell_cache(st, std::move(inserted), flight.batch.updates,
                     out.dropped_updates);
        }
        for (size_t g = 0; g < flight.insert_tokens.size(); ++g) {
          auto token = flight.insert_tokens[g];
          if (g < out.groups.size())
            answer(st.insert_waiters, token, std::move(out.groups[g]));
          else
            answer(st.insert_waiters, token,
                   make_error(ec::internal, "missing insert result"));
        }
        for (auto& tokens : flight.update_tokens)
          for (auto token : tokens)
            answer(st.write_waiters, token, ok_atom_v);
        publish_backlog(st);
        schedule_flush(self, i);
      },
      [self, i](caf::error& err) {
        auto& st = self->state;
        auto& sh = st.shards[i];
        ++st.failed_batches;
        auto flight = std::exchange(sh.flight, {});
        sh.in_flight = false;
        auto code = code_of(err);
        auto msg = message_of(err);
        for (auto token : flight.insert_tokens)
          answer(st.insert_waiters, token,
                 make_error(code == ec::unavailable ? ec::unavailable
                                                    : ec::internal,
                            "the database did not accept the tasks: " + msg));
        if (code == ec::unavailable) {
          // Updates must not be lost: keep them and try again with back-off.
          log::warning(st.name, "commit failed, retrying",
                       {{"error", msg},
                        {"rows", flight.batch.updates.size()}});
          sh.buffer.requeue_updates(std::move(flight));
          publish_backlog(st);
          sh.failures = std::min(sh.failures + 1, 10);
          auto delay = std::chrono::milliseconds(
            std::min(500, 50 * (1 << std::min(sh.failures, 4))));
          sh.flush_scheduled = true;
          self->delayed_send(self, delay, flush_atom_v,
                             static_cast<int32_t>(i));
          return;
        }
        // Not a connection problem: the batch itself was refused, which is a
        // bug. Say so loudly and answer the waiters rather than loop forever.
        log::error(st.name, "commit refused, batch dropped",
                   {{"error", msg}, {"rows", flight.batch.updates.size()}});
        for (auto& tokens : flight.update_tokens)
          for (auto token : tokens)
            answer(st.write_waiters, token, make_error(ec::internal, msg));
        schedule_flush(self, i);
      });
}

} // namespace

persistence_actor::behavior_type
persistence(persistence_pointer self, std::vector<writer_actor> writers,
            cache_link cache, int32_t batch_max_rows,
            telemetry_ptr tel) {
  auto& st = self->state;
  st.tel = std::move(tel);
  st.cache = std::move(cache);
  st.batch_max_rows = batch_max_rows;
  for (auto& w : writers)
    st.shards.emplace_back().writer = w;
  return {
    [self](insert_atom, std::vector<task_record>& group)
      -> caf::typed_response_promise<insert_result> {
      auto& st = self->state;
      auto rp = self->make_response_promise<insert_result>();
      // (An empty group is a barrier: it is answered after the submissions
      // before it, on the same writer.)
      auto token = st.next_token++;
      st.insert_waiters.emplace(token, rp);
      auto i = insert_shard(st);
      st.shards[i].buffer.add_insert(std::move(group), token);
      schedule_flush(self, i);
      return rp;
    },
    [self](update_atom, task_record& rec) {
      auto& st = self->state;
      auto i = update_shard(st, rec.id);
      st.shards[i].buffer.add_update(std::move(rec));
      if (st.shards[i].failures > 0)
        publish_backlog(st); // the database is behind: tell the dispatcher
      schedule_flush(self, i);
    },
    [self](write_atom, task_record& rec) -> caf::typed_response_promise<ok_atom> {
      auto& st = self->state;
      auto rp = self->make_response_promise<ok_atom>();
      auto token = st.next_token++;
      st.write_waiters.emplace(token, rp);
      auto i = update_shard(st, rec.id);
      st.shards[i].buffer.add_update(std::move(rec), token);
      schedule_flush(self, i);
      return rp;
    },
    [self](workers_atom, const std::vector<worker_view>& snapshot) {
      auto& st = self->state;
      auto i = update_shard(st, "workers");
      st.shards[i].buffer.set_workers(worker_rows_json(snapshot));
      schedule_flush(self, i);
    },
    [self](flush_atom, int32_t i) { flush(self, static_cast<size_t>(i)); },
    [self](status_atom) {
      auto& st = self->state;
      return persistence_status{
        st.shards.size(), st.batches, st.rows_written, st.failed_batches,
        st.last_batch_rows, st.max_batch_rows,
        static_cast<uint64_t>(backlog(st)), st.insert_waiters.size(),
        st.tel->state.db_up.load()};
    },
  };
}

writer_actor::behavior_type writer(writer_actor::pointer,
                                   std::shared_ptr<database> db,
                                   telemetry_ptr tel) {
  return {
    [db, tel](write_atom, write_batch& batch) -> caf::result<batch_outcome> {
      // A batch whose content was refused goes round again, written apart.
      for (bool apart = false;; apart = true) {
        try {
          auto out = apart ? db->apply_apart(batch) : db->apply(batch);
          tel->state.db_up = true;
          return out;
        } catch (const std::exception& e) {
          if (apart || !content_refused(e)) {
            // A lost connection, a commit in doubt, a read-only database, a
            // full disk, a timeout, a deadlock: the batch is fine, the
            // database cannot take it now. Try again.
            db->reset();
            if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr)
              tel->state.db_up = false;
            return make_error(ec::unavailable, e.what());
          }
          // Something in the batch was refused (a value validation missed, or
          // a bug). It must not fail the other members of the group commit,
          // nor pass for "database down".
          log::warning("persistence", "a group commit was refused; writing "
                                      "its members apart",
                       {{"error", e.what()},
                        {"groups", batch.insert_groups.size()},
                        {"updates", batch.updates.size()}});
        }
      }
    },
  };
}

reader_actor::behavior_type reader(reader_actor::pointer self,
                                   std::shared_ptr<database> db,
                                   std::shared_ptr<cache_reader> cache,
                                   cache_writer_actor cache_writer) {
  auto guard = [db](auto f) -> decltype(f()) {
    try {
      return f();
    } catch (const pqxx::sql_error& e) {
      return make_error(ec::internal, e.what());
    } catch (const std::exception& e) {
      db->reset();
      return make_error(ec::unavailable,
                        std::string{"the database cannot be reached: "}
                          + e.what());
    }
  };
  // A task as the database holds it (inside `guard`).
  auto stored = [db](const std::string& id) -> caf::expected<task_record> {
    auto rec = db->get(id);
    if (!rec)
      return make_error(ec::not_found, "no task with id " + id);
    return std::move(*rec);
  };
  return {
    [self, guard, stored, cache,
     cache_writer](get_atom, const std::string& id) -> caf::result<task_record> {
      cache_reader::lookup seen;
      if (cache) {
        seen = cache->read(id);
        if (seen.kind == cache_reader::lookup::hit)
          return std::move(*seen.entry);
        cache->cache().tel().stats.cache(cache_event::db_fallback);
      }
      return guard([&]() -> caf::result<task_record> {
        auto rec = stored(id);
        if (!rec)
          return std::move(rec.error());
        if (cache && cache->should_write_back(seen, *rec))
          self->send(cache_writer, cache_atom_v,
                     std::vector<task_record>{*rec}, true);
        return std::move(*rec);
      });
    },
    [guard, stored](fetch_atom, const std::string& id)
      -> caf::result<task_record> {
      return guard([&]() -> caf::result<task_record> {
        auto rec = stored(id);
        if (!rec)
          return std::move(rec.error());
        return std::move(*rec);
      });
    },
    [db, guard](list_atom, const list_query& q) -> caf::result<task_page> {
      return guard([&]() -> caf::result<task_page> { return db->list(q); });
    },
    [db, guard](events_atom, const std::string& id, int32_t limit)
      -> caf::result<task_history> {
      return guard([&]() -> caf::result<task_history> {
        task_history out;
        out.events = db->events(id, limit);
        // (A task stored before history was kept has no events.)
        if (out.events.empty() && !db->get(id))
          return make_error(ec::not_found, "no task with id " + id);
        out.deliveries = db->deliveries(id);
        return out;
      });
    },
    [db, guard](stats_atom, int64_t window_ms, int64_t bucket_ms)
      -> caf::result<std::vector<stats_row>> {
      return guard([&]() -> caf::result<std::vector<stats_row>> {
        return db->stats(window_ms, bucket_ms);
      });
    },
    [db, guard](recover_atom, millis after_at, const std::string& after_id,
                millis until,
                int32_t limit) -> caf::result<std::vector<task_record>> {
      return guard([&]() -> caf::result<std::vector<task_record>> {
        return db->unfinished(after_at, after_id, until, limit);
      });
    },
  };
}

persistence_handles spawn_persistence(caf::actor_system& sys,
                                      const persistence_config& cfg,
                                      telemetry_ptr tel) {
  persistence_handles out;
  for (int32_t i = 0; i < cfg.writers; ++i)
    out.writers.push_back(sys.spawn<caf::detached>(
      writer, std::make_shared<database>(cfg.db_url), tel));
  std::shared_ptr<cache_reader> cache;
  if (cfg.cache) {
    out.cache = cache_link{cfg.cache, spawn_cache_writer(sys, cfg.cache)};
    cache = std::make_shared<cache_reader>(cfg.cache);
  }
  out.reader = sys.spawn<caf::detached>(reader,
                                        std::make_shared<database>(cfg.db_url),
                                        std::move(cache), out.cache.writer);
  out.batcher = sys.spawn(persistence, out.writers, out.cache,
                          cfg.batch_max_rows, std::move(tel));
  return out;
}

} // namespace tasker
