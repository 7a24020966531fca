#include "actors/dispatcher.hpp"

#include <algorithm>

#include <caf/system_messages.hpp>
#include <nlohmann/json.hpp>

#include "common/format.hpp"
#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker {

namespace {

void update_node_gauges(dispatcher_state& st) {
  std::map<std::string, int64_t> counts{
    {"ALIVE", 0}, {"DRAINING", 0}, {"SUSPECT", 0}, {"DEAD", 0}};
  for (auto& [id, n] : st.nodes)
    ++counts[status_of(n)];
  for (auto& [status, n] : counts)
    st.tel->stats.set_workers(status, n);
}

void update_gauges(dispatcher_state& st) {
  st.tel->stats.set_queue_depth(static_cast<int64_t>(st.queue.size()));
  st.tel->stats.set_in_flight(static_cast<int64_t>(st.in_flight.size()));
}

/// Hands out queued attempts while some node has a free slot; each node gets
/// its share of one round in one message.
void dispatch(dispatcher_pointer self) {
  auto& st = self->state;
  auto backlog = st.tel->state.db_backlog.load();
  if (backlog > st.max_db_backlog) {
    if (!st.paused) {
      st.paused = true;
      log::warning(st.name, "dispatching paused: the database is behind",
                   {{"unwritten_updates", backlog},
                    {"limit", st.max_db_backlog}});
    }
    update_gauges(st);
    return;
  }
  if (st.paused) {
    st.paused = false;
    log::info(st.name, "dispatching resumed", {{"unwritten_updates", backlog}});
  }
  std::vector<std::pair<worker_node*, std::vector<task_assignment>>> batches;
  for (;;) {
    // The best queued attempt that some node with a free slot can run.
    auto best = st.queue.best_type([&st](const std::string& type) {
      return std::any_of(st.nodes.begin(), st.nodes.end(),
                         [&](auto& kv) { return has_room(kv.second, type); });
    });
    if (!best)
      break;
    auto* target = pick_node(st.nodes, *best);
    auto entry = st.queue.pop(*best);
    auto now = now_ms(self);
    auto& a = entry.assignment;
    attempt_key key{a.id, a.attempt};
    dispatcher_state::running r{target->id, a.type, entry.owner,
                                now + a.timeout_ms, false};
    st.deadlines.emplace(r.deadline, key);
    st.in_flight[key] = std::move(r);
    ++target->busy;
    ++st.dispatched;
    target->last_assigned = st.dispatched;
    self->send(entry.owner, start_atom_v, a.attempt, target->info.name, now,
               st.generation);
    auto batch = std::find_if(batches.begin(), batches.end(),
                              [target](auto& b) { return b.first == target; });
    if (batch == batches.end())
      batch = batches.emplace(batches.end(), target,
                              std::vector<task_assignment>{});
    batch->second.push_back(std::move(a));
  }
  for (auto& [target, runs] : batches)
    self->send(target->handle, run_atom_v, std::move(runs));
  update_gauges(st);
}

/// Withdraws a running attempt: its node is told to stop it.
void withdraw(dispatcher_pointer self, const attempt_key& key,
              dispatcher_state::running& r) {
  auto& st = self->state;
  r.withdrawn = true;
  if (auto n = st.nodes.find(r.node_id); n != st.nodes.end())
    self->send(n->second.handle, cancel_atom_v, key.id, key.attempt);
}

/// Marks a node DEAD: every attempt it runs counts as failed and goes back to
/// its task (which runs it again elsewhere); a late result is dropped.
void declare_dead(dispatcher_pointer self, worker_node& n,
                  const std::string& why) {
  auto& st = self->state;
  log::warning(st.name, "worker node lost", {{"node", n.id}, {"reason", why}});
  for (auto f = st.in_flight.begin(); f != st.in_flight.end();) {
    if (f->second.node_id != n.id) {
      ++f;
      continue;
    }
    if (!f->second.withdrawn) {
      auto why = "worker node " + n.id + " was lost during the attempt";
      self->send(f->second.owner, result_atom_v,
                 task_outcome{f->first.id, f->first.attempt, false, "", why,
                              true, "", 0, now_ms(self)});
    }
    st.deadlines.erase({f->second.deadline, f->first});
    f = st.in_flight.erase(f);
  }
  n.live = liveness::dead;
  n.dead_at = now_ms(self);
  n.busy = 0;
  update_node_gauges(st);
  update_gauges(st);
  dispatch(self);
}

/// SUSPECT after a short silence, DEAD after a long one; forgets the dead.
void check_liveness(dispatcher_pointer self, const dispatcher_config& cfg) {
  auto& st = self->state;
  auto now = now_ms(self);
  for (auto i = st.nodes.begin(); i != st.nodes.end();) {
    auto& n = i->second;
    if (n.live == liveness::dead) {
      if (now - n.dead_at > cfg.forget_dead_after_ms)
        i = st.nodes.erase(i);
      else
        ++i;
      continue;
    }
    auto silent = now - n.last_seen;
    if (silent > cfg.dead_after_ms) {
      declare_dead(self, n, "silent for " + std::to_string(silent) + " ms");
      // Whatever it still runs is not ours any more; if it is alive after
      // all, it joins again.
      self->send_exit(n.handle, caf::exit_reason::user_shutdown);
    } else if (silent > cfg.suspect_after_ms
               && n.live != liveness::suspect) {
      n.live = liveness::suspect;
      log::warning(st.name, "worker node suspect",
                   {{"node", n.id}, {"silent_ms", silent}});
      update_node_gauges(st);
    }
    ++i;
  }
}

/// Writes the registry about once a second when it changed (and once at
/// start, which clears rows left by an earlier coordinator), and every 10 s
/// anyway: a snapshot can die unwritten with a persistence actor.
void write_registry(dispatcher_pointer self, const dispatcher_config& cfg) {
  auto& st = self->state;
  if (!cfg.registry || ++st.ticks_since_registry < 20)
    return;
  st.ticks_since_registry = 0;
  auto rows = worker_views(st.nodes);
  if (st.registry_written && rows == st.registry_sent
      && ++st.registry_unchanged < 10)
    return;
  st.registry_unchanged = 0;
  st.registry_written = true;
  st.registry_sent = rows;
  self->send(cfg.registry, workers_atom_v, std::move(rows));
}

void check_timeouts(dispatcher_pointer self) {
  auto& st = self->state;
  auto now = now_ms(self);
  while (!st.deadlines.empty() && st.deadlines.begin()->first <= now) {
    auto key = st.deadlines.begin()->second;
    st.deadlines.erase(st.deadlines.begin());
    auto i = st.in_flight.find(key);
    if (i == st.in_flight.end() || i->second.withdrawn)
      continue;
    ++st.timeouts;
    withdraw(self, key, i->second);
    self->send(i->second.owner, timeout_atom_v, key.attempt);
  }
}

} // namespace

dispatcher_actor::behavior_type dispatcher(dispatcher_pointer self,
                                           dispatcher_config cfg,
                                           telemetry_ptr tel) {
  self->state.tel = std::move(tel);
  self->state.max_db_backlog = cfg.max_db_backlog;
  self->state.generation = cfg.generation;
  if (cfg.generation > 0)
    log::warning(self->state.name, "dispatcher started again: worker nodes "
                                   "join again and live tasks queue again",
                 {{"generation", cfg.generation}});
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    for (auto i = st.nodes.begin(); i != st.nodes.end(); ++i) {
      auto& n = i->second;
      if (n.live == liveness::dead || n.handle.address() != msg.source)
        continue;
      if (n.draining && n.busy == 0) {
        // Drained and gone, as asked.
        log::info(st.name, "worker node left", {{"node", n.id}});
        st.nodes.erase(i);
        update_node_gauges(st);
        return;
      }
      declare_dead(self, n, "disconnected: " + caf::to_string(msg.reason));
      return;
    }
  });
  if (cfg.tick_interval.count() > 0)
    self->delayed_send(self, cfg.tick_interval, tick_atom_v);
  return {
    [self, cfg](join_atom, node_info& info, const std::string& secret,
                node_actor& hdl) -> caf::result<std::string> {
      auto& st = self->state;
      bool local = hdl.node() == self->node();
      if (!local
          && (cfg.cluster_secret.empty()
              || !constant_time_equal(secret, cfg.cluster_secret))) {
        log::warning(st.name, "worker node refused: wrong cluster secret",
                     {{"node", info.name}, {"address", info.address}});
        return make_error(ec::unauthorized,
                          "the cluster secret is wrong; set "
                          "TASKER_CLUSTER_SECRET to the coordinator's");
      }
      // What a node says of itself reaches logs, /v1/workers and the
      // database: text of bounded length, a sane number of slots.
      auto text_ok = [](const std::string& x) {
        return x.size() <= 255 && is_storable_text(x);
      };
      bool info_ok = text_ok(info.name) && text_ok(info.address)
                     && info.task_types.size() <= 1000 && info.slots >= 0
                     && info.slots <= 100000
                     && std::all_of(info.task_types.begin(),
                                    info.task_types.end(), text_ok);
      if (!info_ok) {
        log::warning(st.name, "worker node refused: malformed description",
                     {{"node", to_storable_text(info.name.substr(0, 255))}});
        return make_error(ec::invalid_params,
                          "a node's name, address and task types must be "
                          "UTF-8 text of at most 255 bytes, its slots at "
                          "most 100000");
      }
      if (info.protocol_version != protocol_version) {
        log::warning(st.name, "worker node refused: protocol version",
                     {{"node", info.name},
                      {"theirs", info.protocol_version},
                      {"ours", protocol_version}});
        return make_error(ec::unauthorized,
                          "protocol version "
                            + std::to_string(info.protocol_version)
                            + " is not the coordinator's "
                            + std::to_string(protocol_version));
      }
      self->monitor(hdl);
      auto& n = add_node(st.nodes, std::move(info), hdl, now_ms(self));
      log::info(st.name, "worker node joined",
                {{"node", n.id},
                 {"slots", n.info.slots},
                 {"task_types", n.info.task_types}});
      update_node_gauges(st);
      dispatch(self);
      return n.id;
    },
    [self](enqueue_atom, task_assignment& a, task_actor& owner) {
      auto& st = self->state;
      // Queued again after a restart of the dispatcher, but this one already
      // started it: the start is on its way to the task.
      if (st.in_flight.count(attempt_key{a.id, a.attempt}) > 0)
        return;
      // A task has at most one queued attempt: a newer one replaces it.
      st.queue.push(std::move(a), std::move(owner));
      dispatch(self);
    },
    [self](cancel_atom, const std::string& id, int32_t attempt) {
      auto& st = self->state;
      if (st.queue.remove(id, attempt)) {
        update_gauges(st);
        return;
      }
      attempt_key key{id, attempt};
      if (auto i = st.in_flight.find(key);
          i != st.in_flight.end() && !i->second.withdrawn)
        withdraw(self, key, i->second);
    },
    [self](result_atom, std::vector<task_outcome>& outs) {
      auto& st = self->state;
      auto now = now_ms(self);
      auto sender = self->current_sender();
      bool remote = sender != nullptr && sender->node() != self->node();
      for (auto& out : outs) {
        if (make_storable(out, remote))
          log::warning(st.name, "a worker node sent an outcome the database "
                                "would refuse",
                       {{"task_id", out.id}, {"attempt", out.attempt}});
        attempt_key key{out.id, out.attempt};
        auto i = st.in_flight.find(key);
        if (i == st.in_flight.end()) {
          ++st.stale_results;
          log::info(st.name, "stale result dropped",
                    {{"task_id", out.id}, {"attempt", out.attempt}});
          continue;
        }
        auto r = std::move(i->second);
        st.in_flight.erase(i);
        st.deadlines.erase({r.deadline, key});
        if (auto n = st.nodes.find(r.node_id); n != st.nodes.end()) {
          --n->second.busy;
          n->second.last_seen = now;
          ++(out.ok ? n->second.completed : n->second.failed);
        }
        if (!r.withdrawn)
          self->send(r.owner, result_atom_v, std::move(out));
      }
      dispatch(self);
    },
    [self](progress_atom, const std::string& id, int32_t attempt,
           std::string& progress) {
      auto& st = self->state;
      auto i = st.in_flight.find(attempt_key{id, attempt});
      if (i == st.in_flight.end() || i->second.withdrawn)
        return;
      // Only the node that runs the attempt speaks for it.
      auto n = st.nodes.find(i->second.node_id);
      if (n == st.nodes.end()
          || self->current_sender()
               != caf::actor_cast<caf::strong_actor_ptr>(n->second.handle))
        return;
      self->send(i->second.owner, progress_atom_v, attempt,
                 std::move(progress));
    },
    [self](heartbeat_atom, const std::string& id) -> bool {
      auto& st = self->state;
      auto i = st.nodes.find(id);
      if (i == st.nodes.end() || i->second.live == liveness::dead)
        return false;
      // Only the node itself speaks for its id: after a restart of the
      // dispatcher another node of the same name may have joined as it.
      if (self->current_sender()
          != caf::actor_cast<caf::strong_actor_ptr>(i->second.handle))
        return false;
      i->second.last_seen = now_ms(self);
      if (i->second.live == liveness::suspect) {
        i->second.live = liveness::alive;
        log::info(st.name, "worker node heard again", {{"node", id}});
        update_node_gauges(st);
        dispatch(self);
      }
      return true;
    },
    [self, cfg](tick_atom) {
      if (self->state.paused)
        dispatch(self);
      check_timeouts(self);
      check_liveness(self, cfg);
      write_registry(self, cfg);
      if (cfg.tick_interval.count() > 0)
        self->delayed_send(self, cfg.tick_interval, tick_atom_v);
    },
    [self](drain_atom, const std::string& id) -> bool {
      auto& st = self->state;
      auto i = st.nodes.find(id);
      if (i == st.nodes.end() || i->second.live == liveness::dead)
        return false;
      if (!i->second.draining) {
        i->second.draining = true;
        update_node_gauges(st);
        log::info(st.name, "worker node draining",
                  {{"node", id}, {"running", i->second.busy}});
        // The node finishes what it runs and leaves; its down message then
        // removes it.
        self->send(i->second.handle, drain_atom_v);
      }
      return true;
    },
    [self](status_atom) {
      auto& st = self->state;
      uint64_t dead = 0;
      for (auto& kv : st.nodes)
        dead += kv.second.live == liveness::dead ? 1 : 0;
      dispatcher_status out{st.queue.size(), st.in_flight.size(),
                            st.nodes.size() - dead,  dead,
                            st.dispatched,           st.timeouts,
                            st.stale_results,        st.paused,
                            st.generation,           {}};
      // Keyed (type, priority) ascending; each type's highest priority first.
      for (auto& [key, n] : st.queue.depths())
        out.queues.push_back({key.first, key.second, n});
      std::stable_sort(out.queues.begin(), out.queues.end(),
                       [](const queue_depth& a, const queue_depth& b) {
                         return a.type == b.type ? a.priority > b.priority
                                                 : a.type < b.type;
                       });
      return out;
    },
    [self](workers_atom) { return worker_views(self->state.nodes); },
    [cfg](get_atom,
          const std::string& secret) -> caf::result<caf::actor, caf::actor> {
      if (cfg.cluster_secret.empty()
          || !constant_time_equal(secret, cfg.cluster_secret))
        return make_error(ec::unauthorized, "wrong cluster secret");
      if (!cfg.peers)
        return make_error(ec::unavailable, "nothing to forward to");
      std::lock_guard<std::mutex> guard{cfg.peers->mtx};
      if (!cfg.peers->manager || !cfg.peers->pull_hub)
        return make_error(ec::unavailable, "not started yet");
      return {cfg.peers->manager, cfg.peers->pull_hub};
    },
  };
}

namespace {

/// Whether a parsed JSON value holds a NUL character in a string or key.
bool holds_nul(const nlohmann::json& val) {
  if (val.is_string())
    return val.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (val.is_array())
    return std::any_of(val.begin(), val.end(),
                       [](auto& x) { return holds_nul(x); });
  if (val.is_object())
    for (auto& [key, item] : val.items())
      if (key.find('\0') != std::string::npos || holds_nul(item))
        return true;
  return false;
}

} // namespace

bool make_storable(task_outcome& out, bool check_json) {
  bool changed = false;
  if (out.ok) {
    bool storable = is_storable_text(out.result);
    // (A NUL reaches a JSON text as the escape \u0000.)
    if (storable
        && (check_json || out.result.find("\\u0000") != std::string::npos)) {
      auto js = nlohmann::json::parse(out.result, nullptr, false);
      storable = !js.is_discarded() && !holds_nul(js);
      // Kept as printed here: the parser reads numbers PostgreSQL refuses
      // (1e-20000) as doubles, which print as it takes them.
      if (storable && check_json)
        out.result = js.dump();
    }
    if (!storable) {
      out.ok = false;
      out.retryable = false;
      out.result.clear();
      out.error = "the worker sent a result that is not JSON the database "
                  "can store (invalid JSON, invalid UTF-8 or \\u0000)";
      changed = true;
    }
  }
  for (auto* text : {&out.error, &out.worker_id})
    if (!is_storable_text(*text)) {
      *text = to_storable_text(*text);
      changed = true;
    }
  return changed;
}

} // namespace tasker
