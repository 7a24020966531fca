#include "actors/task_manager.hpp"

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>
#include <nlohmann/json.hpp>

#include "common/format.hpp"
#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker {

namespace {

void spawn_task(task_manager_pointer self, task_record rec) {
  auto& st = self->state;
  auto id = rec.id;
  auto hdl = self->spawn<caf::monitored>(task, std::move(rec), st.deps);
  st.ids[hdl.address()] = id;
  st.live[id] = std::move(hdl);
  ++st.spawned;
  st.deps->tel->stats.set_live_tasks(static_cast<int64_t>(st.live.size()));
}

/// Reads a task that has no live actor: cache first, then the database.
template <class F>
void with_stored(task_manager_pointer self, const std::string& id,
                 caf::typed_response_promise<task_record> rp, F f) {
  auto& st = self->state;
  if (auto cached = st.cache.find(id)) {
    auto copy = *cached; // the handler may move from it
    f(copy);
    return;
  }
  self->request(st.reader, std::chrono::seconds(30), get_atom_v, id)
    .then([f](task_record& rec) mutable { f(rec); },
          [rp](caf::error& err) mutable { rp.deliver(err); });
}

/// Tasks scheduled up to this time get an actor when they are stored; later
/// ones wait in the database until a load brings them in.
millis spawn_bound(const task_manager_state& st) {
  return st.loading ? std::max(st.resident_until, st.load_until)
                    : st.resident_until;
}

void load_page(task_manager_pointer self);

/// The error a submission gets for a group the database did not store, or
/// none.
caf::error insert_error(const insert_result& res) {
  switch (res.status) {
    case insert_status::inserted:
    case insert_status::existing:
      return {};
    case insert_status::conflict:
      return make_error(ec::conflict, "idempotency key '" + res.conflict_key
                                        + "' was used before with a "
                                          "different body");
    case insert_status::refused:
      // (The database's words stay in the log: they quote the values.)
      return make_error(ec::invalid_params,
                        "the database refused a value of this submission "
                        "(logged as \"the database refused a submission\")");
    case insert_status::unavailable:
      return make_error(ec::unavailable,
                        "the database did not accept the tasks: " + res.error);
  }
  return make_error(ec::internal, "unknown insert status");
}

/// Answers the submission with number `token`, unless it was answered
/// already (it timed out).
template <class T>
void answer_submit(task_manager_state& st, uint64_t token, T&& x) {
  auto i = st.submits.find(token);
  if (i == st.submits.end())
    return;
  i->second.deliver(std::forward<T>(x));
  st.submits.erase(i);
}

/// Gives the stored tasks of a submission their actors (or leaves them in
/// the database when due beyond the horizon). `tasks` answers the submitted
/// ids `order` one for one: a task with another id is an earlier
/// submission's (matched by idempotency key) and is skipped, as are live ones.
void admit_stored(task_manager_pointer self, const std::vector<task_record>& tasks,
                  const std::vector<std::string>& order) {
  auto& st = self->state;
  auto bound = spawn_bound(st);
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto& rec = tasks[i];
    if (i >= order.size() || rec.id != order[i] || st.live.count(rec.id) > 0)
      continue;
    log::info(st.name, "Created task " + rec.id + " in database",
              {{"task_id", rec.id}, {"type", rec.type}});
    st.deps->tel->stats.task_submitted(rec.type);
    if (rec.scheduled_at <= bound)
      spawn_task(self, rec);
    else
      ++st.parked; // loaded when it comes within the horizon
  }
}

void send_write(task_manager_pointer self, uint64_t token);

/// Writes a record the manager itself changed (a retry, a delayed task's
/// cancellation); `done` gets the outcome once committed or refused. The
/// write is idempotent, so it is sent again when the persistence actor dies
/// with it: after 100 ms when bounced, at once when a restart is announced.
void write_record(task_manager_pointer self, task_record rec,
                  std::function<void(const caf::error&)> done) {
  auto& st = self->state;
  auto token = st.next_write++;
  auto& w = st.writes[token];
  w.rec = std::move(rec);
  w.done = std::move(done);
  send_write(self, token);
}

void end_write(task_manager_pointer self, uint64_t token,
               const caf::error& err) {
  auto& st = self->state;
  auto i = st.writes.find(token);
  if (i == st.writes.end())
    return;
  auto done = std::move(i->second.done);
  st.writes.erase(i);
  done(err);
}

void send_write(task_manager_pointer self, uint64_t token) {
  auto& st = self->state;
  auto i = st.writes.find(token);
  if (i == st.writes.end())
    return;
  auto seq = ++i->second.seq;
  self->request(st.deps->persistence, caf::infinite, write_atom_v, i->second.rec)
    .then([self, token](ok_atom) { end_write(self, token, caf::error{}); },
          [self, token, seq](caf::error& err) {
            auto& st = self->state;
            auto j = st.writes.find(token);
            if (j == st.writes.end() || j->second.seq != seq)
              return; // sent again meanwhile
            if (err.category() == caf::atom("system")
                && ++j->second.bounces <= 50) {
              self->delayed_send(self, std::chrono::milliseconds(100),
                                 resend_atom_v, token);
              return;
            }
            end_write(self, token, err);
          });
}

/// Writes the terminal state recovery gave a task that has no actor (its
/// attempts ran out with a lost one).
void write_recovered(task_manager_pointer self, const task_record& rec) {
  write_record(self, rec, [self, id = rec.id](const caf::error& err) {
    if (err)
      log::error(self->state.name, "terminal state of a recovered task not "
                                   "written; the next start settles it",
                 {{"task_id", id}, {"error", message_of(err)}});
  });
}

/// Submission `token` waits for a commit that nobody will report: the
/// persistence actor died with it. It is settled by a read-back.
void doubt(task_manager_pointer self, uint64_t token) {
  auto& st = self->state;
  auto p = st.inserting.find(token);
  if (p == st.inserting.end())
    return;
  st.admitting -= p->second.admitted;
  st.in_doubt_submits[token] = {std::move(p->second.ids), 0};
  st.inserting.erase(p);
  self->delayed_send(self, std::chrono::milliseconds(50), settle_atom_v, token);
}

/// A submission that could not be settled now is tried again in 250 ms, for
/// about a minute at least; then its client hears that it may not have been
/// stored (if it was, the next start recovers its tasks).
void retry_settle(task_manager_pointer self, uint64_t token,
                  const caf::error& err) {
  auto& st = self->state;
  auto j = st.in_doubt_submits.find(token);
  if (j == st.in_doubt_submits.end())
    return;
  if (++j->second.tries < 240) {
    self->delayed_send(self, std::chrono::milliseconds(250), settle_atom_v,
                       token);
    return;
  }
  log::error(st.name, "cannot settle a submission the persistence actor "
                      "died holding",
             {{"tasks", j->second.ids.size()}, {"error", message_of(err)}});
  answer_submit(st, token,
                make_error(ec::unavailable, "the submission may not have "
                                            "been stored; retry it"));
  st.in_doubt_submits.erase(j);
}

/// Settles a submission as read back: `found` holds its tasks as stored, or
/// nothing when it was not stored.
void settled(task_manager_pointer self, uint64_t token,
             std::vector<task_record> found) {
  auto& st = self->state;
  auto k = st.in_doubt_submits.find(token);
  if (k == st.in_doubt_submits.end())
    return;
  auto order = std::move(k->second.ids);
  st.in_doubt_submits.erase(k);
  if (found.empty()) {
    ++st.in_doubt_not_stored;
    log::warning(st.name, "a submission the persistence actor died holding "
                          "was not stored",
                 {{"tasks", order.size()}});
    answer_submit(st, token,
                  make_error(ec::unavailable,
                             "the submission was not stored; retry it"));
    return;
  }
  ++st.in_doubt_stored;
  log::info(st.name, "a submission the persistence actor died holding was "
                     "stored",
            {{"tasks", found.size()}});
  // (In group order, as a commit answers.)
  std::unordered_map<std::string, size_t> at;
  for (size_t x = 0; x < found.size(); ++x)
    at.emplace(found[x].id, x);
  std::vector<task_record> ordered;
  for (auto& id : order)
    if (auto f = at.find(id); f != at.end())
      ordered.push_back(std::move(found[f->second]));
  admit_stored(self, ordered, order);
  answer_submit(st, token, submit_reply{std::move(ordered), false});
}

/// Reads a stored submission's other tasks, one by one, after its first.
void read_rest(task_manager_pointer self, uint64_t token, task_record first) {
  auto& st = self->state;
  auto& ids = st.in_doubt_submits.at(token).ids;
  struct readback {
    size_t left = 0;
    std::vector<task_record> found;
    caf::error failed;
  };
  auto rb = std::make_shared<readback>();
  rb->left = ids.size() - 1;
  rb->found.push_back(std::move(first));
  auto done = [self, token, rb] {
    if (--rb->left > 0)
      return;
    if (rb->failed)
      retry_settle(self, token, rb->failed);
    else
      settled(self, token, std::move(rb->found));
  };
  for (size_t x = 1; x < ids.size(); ++x)
    self->request(st.reader, std::chrono::seconds(30), get_atom_v, ids[x])
      .then(
        [rb, done](task_record& rec) {
          rb->found.push_back(std::move(rec));
          done();
        },
        [rb, done](caf::error& err) {
          rb->failed = err; // (all or none: each must be there)
          done();
        });
}

/// The persistence actor died holding submission `token`: it was stored or
/// not, and nobody will say. A barrier through the restarted persistence
/// actor waits until the database writer has finished what it was given
/// before (the lost batch among it; submissions all go to the one writer);
/// then the rows are read back, the first one deciding (a submission is
/// stored all or none). Stored: the tasks get their actors and the client
/// its 202 (if still waiting). Not stored: the client hears so and may send
/// it again.
void settle_in_doubt(task_manager_pointer self, uint64_t token) {
  auto& st = self->state;
  auto i = st.in_doubt_submits.find(token);
  if (i == st.in_doubt_submits.end())
    return;
  if (i->second.ids.empty()) {
    settled(self, token, {});
    return;
  }
  self
    ->request(st.deps->persistence, std::chrono::seconds(10), insert_atom_v,
              std::vector<task_record>{})
    .then(
      [self, token](insert_result&) {
        auto& st = self->state;
        auto j = st.in_doubt_submits.find(token);
        if (j == st.in_doubt_submits.end())
          return;
        self
          ->request(st.reader, std::chrono::seconds(30), get_atom_v,
                    j->second.ids.front())
          .then(
            [self, token](task_record& first) {
              auto& st = self->state;
              auto k = st.in_doubt_submits.find(token);
              if (k == st.in_doubt_submits.end())
                return;
              if (k->second.ids.size() == 1)
                settled(self, token, {std::move(first)});
              else
                read_rest(self, token, std::move(first));
            },
            [self, token](caf::error& err) {
              if (code_of(err) == ec::not_found)
                settled(self, token, {});
              else
                retry_settle(self, token, err);
            });
      },
      [self, token](caf::error& err) { retry_settle(self, token, err); });
}

/// Loads the unfinished tasks that are due by now + horizon and have no
/// actor yet: at start every one of them (recovery: a lost running attempt
/// is counted), afterwards those that came within the horizon. Pages through
/// the database in (scheduled_at, id) order.
void load_due(task_manager_pointer self) {
  auto& st = self->state;
  if (st.loading)
    return;
  st.loading = true;
  st.load_until = now_ms(self) + st.horizon_ms;
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

void load_page(task_manager_pointer self) {
  auto& st = self->state;
  self
    ->request(st.reader, std::chrono::minutes(2), recover_atom_v, st.load_at,
              st.load_id, st.load_until, st.load_page)
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
        if (static_cast<int32_t>(recs.size()) == st.load_page) {
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
        self->delayed_send(self, st.load_interval, recover_atom_v);
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

task_manager_actor::behavior_type
task_manager(task_manager_pointer self, dispatcher_actor dispatcher,
             persistence_actor persistence, reader_actor reader,
             task_manager_config cfg, telemetry_ptr tel) {
  auto& st = self->state;
  st.cache.set_capacity(cfg.result_cache_size);
  st.max_pending = cfg.max_pending;
  st.submit_timeout = cfg.submit_timeout;
  st.horizon_ms = cfg.horizon_ms;
  st.load_page = cfg.load_page;
  st.load_interval = cfg.load_interval;
  st.reader = std::move(reader);
  auto deps = std::make_shared<task_deps>();
  deps->dispatcher = std::move(dispatcher);
  deps->persistence = std::move(persistence);
  deps->manager = caf::actor_cast<task_manager_actor>(self);
  deps->backoff = cfg.backoff;
  deps->tel = std::move(tel);
  st.deps = std::move(deps);
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
    log::warning(st.name, "task actor died, restarting it from the database",
                 {{"task_id", id}, {"reason", caf::to_string(msg.reason)}});
    self->request(st.reader, std::chrono::seconds(30), get_atom_v, id)
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
    [self](submit_atom, std::vector<task_record>& group)
      -> caf::typed_response_promise<submit_reply> {
      auto rp = self->make_response_promise<submit_reply>();
      auto& st0 = self->state;
      // Only tasks due within the horizon will be held; later ones wait in
      // the database and do not count.
      auto bound = spawn_bound(st0);
      size_t n = 0;
      for (auto& rec : group)
        n += rec.scheduled_at <= bound ? 1 : 0;
      if (n > 0 && st0.live.size() + st0.admitting + n > st0.max_pending) {
        rp.deliver(make_error(ec::overloaded,
                              "the coordinator holds "
                                + std::to_string(st0.live.size())
                                + " unfinished tasks, its limit is "
                                + std::to_string(st0.max_pending)
                                + "; retry later"));
        return rp;
      }
      st0.admitting += n;
      auto& st = self->state;
      // The client's answer may leave before the commit (timeout); the
      // commit's outcome is still applied when it comes.
      auto token = st.next_submit++;
      st.submits.emplace(token, rp);
      if (st.submit_timeout.count() > 0)
        self->delayed_send(self, st.submit_timeout, expire_atom_v, token);
      // (The ids in order, for a read-back should the persistence actor die
      // with the submission.)
      auto& entry = st.inserting[token];
      entry.admitted = n;
      entry.ids.reserve(group.size());
      for (auto& rec : group)
        entry.ids.push_back(rec.id);
      self
        ->request(st.deps->persistence, caf::infinite, insert_atom_v,
                  std::move(group))
        .then(
          [self, token](insert_result& res) mutable {
            auto& st = self->state;
            auto p = st.inserting.find(token);
            if (p == st.inserting.end())
              return; // settled by a read-back
            st.admitting -= p->second.admitted;
            auto order = std::move(p->second.ids);
            st.inserting.erase(p);
            if (auto err = insert_error(res)) {
              answer_submit(st, token, std::move(err));
              return;
            }
            admit_stored(self, res.tasks, order);
            answer_submit(st, token,
                          submit_reply{std::move(res.tasks),
                                       res.status == insert_status::existing});
          },
          [self, token](caf::error& err) mutable {
            auto& st = self->state;
            if (st.inserting.count(token) == 0)
              return; // settled by a read-back
            if (err.category() == caf::atom("system")) {
              // Not an answer from the database: the persistence actor died
              // with the submission (and is being restarted).
              log::warning(st.name, "the persistence actor died holding a "
                                    "submission; reading it back",
                           {{"error", message_of(err)}});
              doubt(self, token);
              return;
            }
            st.admitting -= st.inserting[token].admitted;
            st.inserting.erase(token);
            answer_submit(st, token, err);
          });
      return rp;
    },
    [self](get_atom, const std::string& id, int64_t wait_ms)
      -> caf::typed_response_promise<task_record> {
      auto& st = self->state;
      auto rp = self->make_response_promise<task_record>();
      if (auto i = st.live.find(id); i != st.live.end()) {
        self->request(i->second, caf::infinite, get_atom_v, wait_ms)
          .then([rp](task_record& rec) mutable { rp.deliver(std::move(rec)); },
                [self, rp, id](caf::error& err) mutable {
                  // The actor left between the lookup and the request (its
                  // `finished` message came first, so the cache has it).
                  if (err != caf::sec::request_receiver_down) {
                    rp.deliver(err);
                    return;
                  }
                  with_stored(self, id, rp, [rp](task_record& rec) mutable {
                    rp.deliver(std::move(rec));
                  });
                });
        return rp;
      }
      with_stored(self, id, rp,
                  [rp](task_record& rec) mutable { rp.deliver(std::move(rec)); });
      return rp;
    },
    [self](cancel_atom, const std::string& id)
      -> caf::typed_response_promise<task_record> {
      auto& st = self->state;
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
        if (!apply_cancel(rec, now_ms(self))) {
          rp.deliver(make_error(ec::conflict, "task " + rec.id
                                                + " cannot be cancelled"));
          return;
        }
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
      if (auto i = st.live.find(id); i != st.live.end()) {
        self->request(i->second, caf::infinite, cancel_atom_v)
          .then([rp](task_record& rec) mutable { rp.deliver(std::move(rec)); },
                [self, rp, id, finished](caf::error& err) mutable {
                  if (err != caf::sec::request_receiver_down)
                    rp.deliver(err);
                  else
                    with_stored(self, id, rp, finished);
                });
        return rp;
      }
      with_stored(self, id, rp, finished);
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
      auto& st2 = self->state;
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
      if (auto cached = st2.cache.find(id)) {
        auto rec = *cached;
        on_record(rec);
        return rp;
      }
      self->request(st2.reader, std::chrono::seconds(30), get_atom_v, id)
        .then([on_record](task_record& rec) mutable { on_record(rec); },
              [fail](caf::error& err) mutable { fail(err); });
      return rp;
    },
    [self](finished_atom, task_record& rec) {
      auto& st = self->state;
      st.live.erase(rec.id);
      ++st.finished;
      st.deps->tel->stats.set_live_tasks(static_cast<int64_t>(st.live.size()));
      st.cache.remember(std::move(rec));
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
                   {{"submissions", st.inserting.size()},
                    {"live_tasks", st.live.size()}});
      std::vector<uint64_t> tokens;
      for (auto& kv : st.inserting)
        tokens.push_back(kv.first);
      for (auto token : tokens)
        doubt(self, token);
      tokens.clear();
      for (auto& kv : st.writes)
        tokens.push_back(kv.first);
      for (auto token : tokens)
        send_write(self, token);
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
    [self](expire_atom, uint64_t token) {
      auto& st = self->state;
      auto i = st.submits.find(token);
      if (i == st.submits.end())
        return;
      ++st.submit_timeouts;
      i->second.deliver(make_error(
        ec::unavailable,
        "the database did not confirm the tasks within "
          + std::to_string(st.submit_timeout.count())
          + " ms; they may still be stored: retry with the same "
            "idempotency key to be safe"));
      st.submits.erase(i);
    },
    [self](status_atom) {
      auto& st = self->state;
      manager_status out;
      out.live_task_actors = st.live.size();
      out.cached_results = st.cache.size();
      out.spawned = st.spawned;
      out.finished = st.finished;
      out.recovered = st.recovered;
      out.lost_attempts = st.lost_attempts;
      out.loaded_from_database = st.loaded;
      out.delayed_parked = st.parked;
      out.resident_until = st.resident_until;
      out.recovering = st.recovering;
      out.restarts = st.restarts;
      out.submit_timeouts = st.submit_timeouts;
      out.admitting = st.admitting;
      out.in_doubt_stored = st.in_doubt_stored;
      out.in_doubt_not_stored = st.in_doubt_not_stored;
      out.recovery_done = st.deps->tel->state.recovered.load();
      return out;
    },
  };
}

} // namespace tasker
