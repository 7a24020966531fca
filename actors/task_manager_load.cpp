#include "actors/task_manager_internal.hpp"

#include <nlohmann/json.hpp>

#include "common/format.hpp"
#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker::manager {

namespace {

void load_page(task_manager_pointer self) {
  auto& st = self->state;
  self
    ->request(st.reader, std::chrono::minutes(2), recover_atom_v, st.load_at,
              st.load_id, st.load_until, st.cfg.load_page)
    .then(
      [self](std::vector<task_record>& recs) {
        auto& st = self->state;
        auto now = now_ms(self);
        for (auto& rec : recs) {
          st.load_at = rec.scheduled_at;
          st.load_id = rec.id;
          // Live already (stored by a submission just now), or finished a
          // moment ago (the cache has it): nothing to load.
          if (st.live.count(rec.id) > 0 || st.cancelling.count(rec.id) > 0)
            continue;
          if (auto cached = st.cache.find(rec.id);
              cached != nullptr && is_terminal(cached->status))
            continue;
          ++st.loaded;
          if (apply_recovery(rec, now)) {
            ++st.lost_attempts;
            if (is_terminal(rec.status)) {
              write_recovered(self, rec);
              st.cache.remember(std::move(rec));
              continue;
            }
            // (Sent before the task starts, so it lands before the task's
            // own writes.)
            self->send(st.deps->persistence, update_atom_v, rec);
          }
          if (st.recovering)
            ++st.recovered;
          spawn_task(self, std::move(rec));
        }
        if (static_cast<int32_t>(recs.size()) == st.cfg.load_page) {
          load_page(self);
          return;
        }
        st.resident_until = st.load_until;
        st.loading = false;
        if (st.recovering) {
          st.recovering = false;
          st.deps->tel->state.recovered = true;
          log::info(st.name, "recovery finished",
                    {{"unfinished_tasks", st.recovered},
                     {"lost_attempts", st.lost_attempts},
                     {"duration_ms", now_ms(self) - st.recovery_started},
                     {"resident_until", format_time(st.resident_until)}});
        }
        self->delayed_send(self, st.cfg.load_interval, recover_atom_v);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        log::warning(st.name,
                     st.recovering ? "recovery failed, retrying in 1 s"
                                   : "loading due tasks failed, retrying in 1 s",
                     {{"error", message_of(err)}});
        // The next load starts this one again (live tasks are skipped).
        st.loading = false;
        self->delayed_send(self, std::chrono::seconds(1), recover_atom_v);
      });
}

} // namespace

void load_due(task_manager_pointer self) {
  auto& st = self->state;
  if (st.loading)
    return;
  st.loading = true;
  st.load_until = now_ms(self) + st.cfg.horizon_ms;
  if (st.recovering) {
    st.recovery_started = now_ms(self);
    st.load_at = -62135596800000; // 0001-01-01: before any schedule
    st.load_id.clear();
  } else {
    st.load_at = st.resident_until;
    st.load_id = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  }
  load_page(self);
}

} // namespace tasker::manager
