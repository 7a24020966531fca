#include "actors/task_manager.hpp"

#include <caf/actor_cast.hpp>
#include <caf/system_messages.hpp>
#include <nlohmann/json.hpp>

#include "actors/task_manager_internal.hpp"
#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker {

namespace manager {

void spawn_task(task_manager_pointer self, task_record rec) {
  auto& st = self->state;
  auto id = rec.id;
  auto hdl = self->spawn<caf::monitored>(task, std::move(rec), st.deps);
  st.ids[hdl.address()] = id;
  st.live[id] = std::move(hdl);
  ++st.spawned;
  st.deps->tel->stats.set_live_tasks(static_cast<int64_t>(st.live.size()));
}

millis spawn_bound(const task_manager_state& st) {
  return st.loading ? std::max(st.resident_until, st.load_until)
                    : st.resident_until;
}

} // namespace manager

using namespace manager;

namespace {

/// Reads a task that has no live actor: memory first, then the reader. A
/// read for a client (`for_write` false) may be answered by the Redis
/// cache; one that decides a write (cancel, retry) reads the database.
template <class F, class E>
void with_stored(task_manager_pointer self, const std::string& id, F f,
                 E fail, bool for_write = false) {
  if (auto cached = self->state.cache.find(id)) {
    auto copy = *cached; // the handler may move from it
    f(copy);
    return;
  }
  auto on_record = [f](task_record& rec) mutable { f(rec); };
  auto on_error = [fail](caf::error& err) mutable { fail(err); };
  if (for_write)
    self->request(self->state.reader, std::chrono::seconds(30), fetch_atom_v,
                  id)
      .then(on_record, on_error);
  else
    self->request(self->state.reader, std::chrono::seconds(30), get_atom_v,
                  id)
      .then(on_record, on_error);
}

/// Asks the task's live actor `xs...`, answering with its record. Without
/// one, or when it left meanwhile (its `finished` came first, so the cache
/// has it), calls `f` with the stored record instead (read as
/// `with_stored` does, `for_write` when `f` decides a write).
template <class F, class... Ts>
void ask_task(task_manager_pointer self, const std::string& id,
              caf::typed_response_promise<task_record> rp, F f, bool for_write,
              Ts... xs) {
  auto fail = [rp](caf::error& err) mutable { rp.deliver(err); };
  auto i = self->state.live.find(id);
  if (i == self->state.live.end()) {
    with_stored(self, id, f, fail, for_write);
    return;
  }
  self->request(i->second, caf::infinite, xs...)
    .then([rp](task_record& rec) mutable { rp.deliver(std::move(rec)); },
          [self, rp, id, f, fail, for_write](caf::error& err) mutable {
            if (err != caf::sec::request_receiver_down)
              rp.deliver(err);
            else
              with_stored(self, id, f, fail, for_write);
          });
}

} // namespace

task_manager_actor::behavior_type
task_manager(task_manager_pointer self, dispatcher_actor dispatcher,
             persistence_actor persistence, reader_actor reader,
             task_manager_config cfg, telemetry_ptr tel) {
  auto& st = self->state;
  st.cache.set_capacity(cfg.result_cache_size);
  st.cfg = cfg;
  st.reader = std::move(reader);
  st.deps = std::make_shared<task_deps>(
    task_deps{std::move(dispatcher), std::move(persistence),
              caf::actor_cast<task_manager_actor>(self), cfg.backoff,
              std::move(tel)});
  // Supervision: a task actor that dies before finishing is started again
  // from its durable state.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto j = st.ids.find(msg.source);
    if (j == st.ids.end())
      return;
    auto id = std::move(j->second);
    st.ids.erase(j);
    auto i = st.live.find(id);
    if (i == st.live.end() || i->second.address() != msg.source)
      return; // finished normally
    st.live.erase(i);
    st.deps->tel->stats.set_live_tasks(static_cast<int64_t>(st.live.size()));
    ++st.restarts;
    st.deps->tel->stats.supervisor_restart(st.name);
    st.deps->tel->supervision.restarted("task_actors",
                                        caf::to_string(msg.reason));
    log::warning(st.name, "task actor died, restarting it from the database",
                 {{"task_id", id}, {"reason", caf::to_string(msg.reason)}});
    self->request(st.reader, std::chrono::seconds(30), fetch_atom_v, id)
      .then(
        [self](task_record& rec) {
          auto& st = self->state;
          if (st.live.count(rec.id) > 0)
            return;
          apply_recovery(rec, now_ms(self));
          if (is_terminal(rec.status)) {
            write_recovered(self, rec);
            st.cache.remember(std::move(rec));
            return;
          }
          spawn_task(self, std::move(rec));
        },
        [self, id](caf::error& err) {
          log::error(self->state.name, "cannot restart task actor",
                     {{"task_id", id}, {"error", message_of(err)}});
        });
  });
  // Ordered shutdown: the task actors go with the manager.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& kv : self->state.live)
      self->send_exit(kv.second, msg.reason);
    self->quit(msg.reason);
  });
  self->send(self, recover_atom_v);
  return {
    [self](submit_atom, std::vector<task_record>& group) {
      return manager::submit(self, group);
    },
    [self](get_atom, const std::string& id, int64_t wait_ms)
      -> caf::typed_response_promise<task_record> {
      auto rp = self->make_response_promise<task_record>();
      ask_task(
        self, id, rp,
        [rp](task_record& rec) mutable { rp.deliver(std::move(rec)); },
        false, get_atom_v, wait_ms);
      return rp;
    },
    [self](cancel_atom, const std::string& id)
      -> caf::typed_response_promise<task_record> {
      auto rp = self->make_response_promise<task_record>();
      auto finished = [self, rp](task_record& rec) mutable {
        auto& st = self->state;
        if (is_terminal(rec.status) || st.live.count(rec.id) > 0
            || st.cancelling.count(rec.id) > 0) {
          rp.deliver(make_error(ec::conflict,
                                "task " + rec.id + " is "
                                  + to_string(rec.status)
                                  + "; only PENDING or PROCESSING tasks can "
                                    "be cancelled"));
          return;
        }
        // A delayed task still waiting in the database: cancel it there.
        apply_cancel(rec, now_ms(self));
        st.cancelling.insert(rec.id);
        write_record(self, rec, [self, rp, rec](const caf::error& err) mutable {
          auto& st = self->state;
          st.cancelling.erase(rec.id);
          if (err) {
            rp.deliver(err);
            return;
          }
          log::info(st.name, "task CANCELLED", {{"task_id", rec.id}});
          st.cache.remember(rec);
          rp.deliver(rec);
        });
      };
      ask_task(self, id, rp, finished, true, cancel_atom_v);
      return rp;
    },
    [self](retry_atom, const std::string& id)
      -> caf::typed_response_promise<task_record> {
      auto& st = self->state;
      auto rp = self->make_response_promise<task_record>();
      if (st.live.count(id) > 0 || st.retrying.count(id) > 0) {
        rp.deliver(make_error(ec::conflict,
                              "task " + id
                                + " is not finished; only FAILED or "
                                  "CANCELLED tasks can be retried"));
        return rp;
      }
      st.retrying.insert(id);
      auto fail = [self, id, rp](caf::error err) mutable {
        self->state.retrying.erase(id);
        rp.deliver(err);
      };
      auto on_record = [self, id, rp, fail](task_record& rec) mutable {
        auto& st = self->state;
        if (st.live.count(id) > 0 || !apply_retry(rec, now_ms(self))) {
          fail(make_error(ec::conflict,
                          "task " + id + " is " + to_string(rec.status)
                            + "; only FAILED or CANCELLED tasks can be "
                              "retried"));
          return;
        }
        write_record(
          self, rec, [self, id, rp, rec, fail](const caf::error& err) mutable {
            if (err) {
              fail(err);
              return;
            }
            auto& st = self->state;
            st.retrying.erase(id);
            // Overwritten, not erased: the id keeps its one place in the
            // eviction order (a live actor answers before the cache).
            st.cache.overwrite(rec);
            log::info(st.name, "task retried", {{"task_id", id}});
            spawn_task(self, rec);
            rp.deliver(rec);
          });
      };
      with_stored(self, id, on_record, fail, true);
      return rp;
    },
    [self](finished_atom, task_record& rec) {
      auto& st = self->state;
      st.live.erase(rec.id);
      ++st.finished;
      st.deps->tel->stats.set_live_tasks(static_cast<int64_t>(st.live.size()));
      st.cache.remember(std::move(rec));
    },
    [self](forget_atom, const std::vector<std::string>& ids) {
      for (auto& id : ids)
        self->state.cache.forget(id);
    },
    [self](recover_atom) { load_due(self); },
    [self](settle_atom, uint64_t token) { settle_in_doubt(self, token); },
    [self](resend_atom, uint64_t token) { send_write(self, token); },
    [self](rewrite_atom, caf::actor& hdl) {
      auto& st = self->state;
      auto deps = std::make_shared<task_deps>(*st.deps);
      deps->persistence = caf::actor_cast<persistence_actor>(hdl);
      st.deps = std::move(deps);
      log::warning(st.name, "the persistence actor was restarted; settling "
                            "the submissions it held and writing every live "
                            "task again",
                   {{"submissions", st.submissions.inserting().size()},
                    {"live_tasks", st.live.size()}});
      for (auto token : st.submissions.inserting())
        doubt(self, token);
      for (auto& kv : st.writes)
        send_write(self, kv.first);
      for (auto& kv : st.live)
        self->send(kv.second, rewrite_atom_v, hdl);
    },
    [self](redispatch_atom, uint64_t generation, caf::actor& hdl) {
      auto& st = self->state;
      auto deps = std::make_shared<task_deps>(*st.deps);
      deps->dispatcher = caf::actor_cast<dispatcher_actor>(hdl);
      st.deps = std::move(deps);
      log::warning(st.name, "the dispatcher was restarted; live tasks queue "
                            "their attempts again",
                   {{"generation", generation}, {"live_tasks", st.live.size()}});
      for (auto& kv : st.live)
        self->send(kv.second, redispatch_atom_v, generation, hdl);
    },
    [self](expire_atom) { manager::sweep_deadlines(self); },
    [self](status_atom) {
      auto& st = self->state;
      // (In the order of manager_status's fields.)
      return manager_status{
        st.live.size(), st.cache.size(), st.spawned, st.finished,
        st.recovered, st.lost_attempts, st.loaded, st.parked,
        st.resident_until, st.recovering, st.restarts,
        st.submissions.timeouts(), st.submissions.admitting(),
        st.submissions.stored(), st.submissions.not_stored(),
        st.deps->tel->state.recovered.load()};
    },
  };
}

} // namespace tasker
