#include "persistence/retention.hpp"

#include <algorithm>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "common/clock.hpp"
#include "common/format.hpp"
#include "common/log.hpp"
#include "persistence/database.hpp"

namespace tasker {

namespace {

struct retention_state {
  static inline constexpr const char* name = "retention";

  std::unique_ptr<database> db;
  bool in_pass = false;
  /// This pass deletes what finished before `cutoff`, after the position
  /// (after_at, after_id).
  millis cutoff = 0;
  millis after_at = 0;
  std::string after_id;
  uint64_t deleted = 0;
  uint64_t batches = 0;
  std::chrono::steady_clock::time_point started;
  /// The last pass failed (its error was logged).
  bool failing = false;
};

caf::behavior retention(caf::stateful_actor<retention_state>* self,
                        retention_settings cfg, telemetry_ptr tel,
                        cache_link cache, task_manager_actor manager) {
  self->state.db = std::make_unique<database>(cfg.db_url);
  // The first pass soon after the start, once recovery is under way.
  self->delayed_send(self, std::chrono::seconds(1), tick_atom_v);
  return {
    [=](tick_atom) {
      auto& st = self->state;
      if (!st.in_pass) {
        st.in_pass = true;
        st.cutoff = now_ms(self) - cfg.retention_ms;
        st.after_at = 0;
        st.after_id.clear();
        st.deleted = 0;
        st.batches = 0;
        st.started = std::chrono::steady_clock::now();
      }
      std::vector<std::string> ids;
      auto batch_started = std::chrono::steady_clock::now();
      try {
        millis last_at = 0;
        ids = st.db->prune(st.cutoff, st.after_at, st.after_id, cfg.batch,
                           last_at);
        ++st.batches;
        if (!ids.empty()) {
          st.after_at = last_at;
          st.after_id = ids.back();
        }
      } catch (const std::exception& e) {
        st.db->reset();
        st.in_pass = false;
        if (!st.failing)
          log::warning(st.name, "retention pass failed; trying again later",
                       {{"error", e.what()}, {"deleted", st.deleted}});
        st.failing = true;
        self->delayed_send(self, cfg.interval, tick_atom_v);
        return;
      }
      st.failing = false;
      auto n = ids.size();
      if (n > 0) {
        st.deleted += n;
        tel->stats.retention_deleted(n);
        if (cache) {
          cache.cache->deleted(ids);
          caf::anon_send(cache.writer, cache_atom_v, ids);
        }
        caf::anon_send(manager, forget_atom_v, std::move(ids));
      }
      if (n == static_cast<size_t>(cfg.batch)) {
        // A full batch: there may be more. Live traffic goes first: the
        // pause is three times what the batch took (retention holds the
        // database at most a quarter of the time), and at least `pause`.
        auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - batch_started);
        self->delayed_send(self, std::max(cfg.pause, 3 * took), tick_atom_v);
        return;
      }
      st.in_pass = false;
      auto secs = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - st.started)
                    .count();
      tel->stats.retention_pass(secs);
      log::info(st.name, "retention pass",
                {{"deleted", st.deleted},
                 {"batches", st.batches},
                 {"finished_before", format_time(st.cutoff)},
                 {"duration_ms", static_cast<int64_t>(secs * 1000)}});
      self->delayed_send(self, cfg.interval, tick_atom_v);
    },
  };
}

} // namespace

caf::actor spawn_retention(caf::actor_system& sys, retention_settings cfg,
                           telemetry_ptr tel, cache_link cache,
                           task_manager_actor manager) {
  // Detached: libpqxx blocks.
  return sys.spawn<caf::detached>(retention, std::move(cfg), std::move(tel),
                                  std::move(cache), std::move(manager));
}

} // namespace tasker
