#include "nodes/node_agent.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker {

void cancel_flags::open(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  flags_[key] = std::make_shared<cancel_signal>();
}

std::shared_ptr<cancel_signal>
cancel_flags::find(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = flags_.find(key);
  return i != flags_.end() ? i->second : nullptr;
}

void cancel_flags::raise_all() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& kv : flags_)
    kv.second->raise();
}

void cancel_flags::close(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  flags_.erase(key);
}

namespace {

std::string attempt_key(const std::string& id, int32_t attempt) {
  return id + "#" + std::to_string(attempt);
}

/// Runs attempts one at a time on its own thread (spawned detached).
executor_actor::behavior_type executor(executor_actor::pointer self, node_actor parent,
                       std::shared_ptr<const registry> reg,
                       std::shared_ptr<cancel_flags> flags,
                       std::string worker_id) {
  return {
    [=](run_atom, const task_assignment& a) {
      auto flag = flags->find(attempt_key(a.id, a.attempt));
      auto started = now_ms(self);
      auto res = reg->run(a.type, a.params,
                          task_context{flag.get(), a.id, a.attempt,
                                       a.timeout_ms});
      auto finished = now_ms(self);
      auto result = res.ok ? res.result.dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace)
                           : std::string{};
      self->send(parent, done_atom_v,
                 task_outcome{a.id, a.attempt, res.ok, std::move(result),
                              res.ok ? std::string{} : std::move(res.error),
                              res.retryable, worker_id, started, finished});
    },
  };
}

/// Queues an outcome for the dispatcher; the outcomes that arrive together
/// travel in one message, sent when the agent has read what its mailbox
/// holds now.
void report(node_agent_pointer self, task_outcome out) {
  auto& st = self->state;
  if (st.outbox.empty())
    self->send(self, flush_atom_v);
  st.outbox.push_back(std::move(out));
}

void flush_outbox(node_agent_pointer self) {
  auto& st = self->state;
  if (st.outbox.empty())
    return;
  self->send(st.dispatcher, result_atom_v, std::exchange(st.outbox, {}));
}

/// A draining node leaves once nothing runs on it any more.
void leave_if_drained(node_agent_pointer self) {
  auto& st = self->state;
  if (st.draining && st.running.empty() && st.backlog.empty()) {
    flush_outbox(self);
    log::info(st.name, "drained, leaving", {{"node", st.node_id}});
    self->quit();
  }
}

void start_next(node_agent_pointer self) {
  auto& st = self->state;
  while (!st.idle.empty() && !st.backlog.empty()) {
    auto idx = st.idle.back();
    st.idle.pop_back();
    auto a = std::move(st.backlog.front());
    st.backlog.pop_front();
    auto key = attempt_key(a.id, a.attempt);
    st.flags->open(key);
    st.running[key] = idx;
    self->send(st.executors[idx], run_atom_v, std::move(a));
  }
}

void start_ticking(node_agent_pointer self) {
  auto& st = self->state;
  if (st.ticking)
    return;
  st.ticking = true;
  self->send(self, tick_atom_v);
}

/// Joins the dispatcher. A refusal (wrong secret or protocol) ends the node;
/// any other failure (the dispatcher died meanwhile, or did not answer) is
/// tried again at the next tick.
void join(node_agent_pointer self) {
  auto& st = self->state;
  st.joining = true;
  st.join_again = false;
  self
    ->request(st.dispatcher, std::chrono::seconds(10), join_atom_v, st.info,
              st.secret, caf::actor_cast<node_actor>(self))
    .then(
      [self](const std::string& id) {
        auto& st = self->state;
        st.node_id = id;
        st.joining = false;
        st.last_ack = now_ms(self);
        log::info(st.name, "joined the dispatcher", {{"node", id}});
        start_ticking(self);
        // A drain that came while joining: the dispatcher must know it.
        if (st.draining)
          self->request(st.dispatcher, std::chrono::seconds(5), drain_atom_v, id)
            .then([](bool) {}, [](caf::error&) {});
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.joining = false;
        if (code_of(err) != ec::unauthorized && (st.rejoins > 0 || st.ticking)) {
          log::warning(st.name, "joining failed, trying again",
                       {{"error", message_of(err)}});
          st.join_again = true;
          start_ticking(self);
          return;
        }
        log::error(st.name, "the coordinator refused this node",
                   {{"error", message_of(err)}});
        st.flags->raise_all();
        self->quit(err);
      });
}

/// The dispatcher no longer counts this node (it was restarted, or it had
/// declared the node lost): what the node holds runs again elsewhere, so it
/// is stopped and dropped, and the node joins again with its executors.
void rejoin(node_agent_pointer self) {
  auto& st = self->state;
  st.flags->raise_all();
  st.backlog.clear();
  st.outbox.clear();
  if (st.draining) {
    log::info(st.name, "the coordinator forgot this draining node; leaving",
              {{"node", st.node_id}});
    self->quit();
    return;
  }
  ++st.rejoins;
  log::warning(st.name, "the coordinator no longer counts this node; "
                        "joining again",
               {{"node", st.node_id}, {"stopped_attempts", st.running.size()}});
  st.node_id.clear();
  join(self);
}

} // namespace

node_actor::behavior_type node_agent(node_agent_pointer self,
                                     dispatcher_actor dispatcher,
                                     node_agent_config cfg,
                                     std::shared_ptr<const registry> reg) {
  auto& st = self->state;
  st.dispatcher = dispatcher;
  st.flags = std::make_shared<cancel_flags>();
  auto me = caf::actor_cast<node_actor>(self);
  for (int32_t i = 0; i < cfg.slots; ++i) {
    auto worker_id = cfg.name + "/slot-" + std::to_string(i + 1);
    st.executors.push_back(self->spawn<caf::detached + caf::linked>(
      executor, me, reg, st.flags, worker_id));
    st.idle.push_back(static_cast<size_t>(cfg.slots - 1 - i));
  }
  // Shutdown: running handlers are told to stop, executors go with us.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.flags->raise_all();
    self->quit(msg.reason);
  });
  // Losing the dispatcher ends the node; its attempts are counted as failed
  // there and run elsewhere, so the handlers here are told to stop.
  self->monitor(dispatcher);
  self->set_down_handler([self](caf::down_msg& msg) {
    if (msg.source != self->state.dispatcher.address())
      return;
    log::warning(self->state.name, "lost the coordinator",
                 {{"reason", caf::to_string(msg.reason)}});
    self->state.flags->raise_all();
    self->quit(msg.reason);
  });
  st.info = node_info{cfg.name, cfg.address,
                      cfg.types.empty() ? reg->runnable_names() : cfg.types, cfg.slots,
                      protocol_version};
  st.secret = cfg.secret;
  join(self);
  return {
    [self](run_atom, std::vector<task_assignment>& runs) {
      for (auto& a : runs)
        self->state.backlog.push_back(std::move(a));
      start_next(self);
    },
    [self](cancel_atom, const std::string& id, int32_t attempt) {
      auto& st = self->state;
      if (auto flag = st.flags->find(attempt_key(id, attempt))) {
        flag->raise();
        return;
      }
      // Not started yet: drop it from the backlog and report it stopped.
      for (auto i = st.backlog.begin(); i != st.backlog.end(); ++i)
        if (i->id == id && i->attempt == attempt) {
          st.backlog.erase(i);
          report(self, {id, attempt, false, {}, "stopped before it started",
                        false, {}, 0, 0});
          return;
        }
    },
    [self](done_atom, task_outcome& out) {
      auto& st = self->state;
      auto key = attempt_key(out.id, out.attempt);
      st.flags->close(key);
      if (auto i = st.running.find(key); i != st.running.end()) {
        st.idle.push_back(i->second);
        st.running.erase(i);
      }
      report(self, std::move(out));
      start_next(self);
      leave_if_drained(self);
    },
    [self](flush_atom) { flush_outbox(self); },
    [self](tick_atom) {
      // The application's own liveness, both ways: the dispatcher hears the
      // node, and the node hears the dispatcher's answers.
      auto& st = self->state;
      self->delayed_send(self, std::chrono::seconds(1), tick_atom_v);
      if (st.join_again)
        join(self);
      // (The join request has its own timeout.)
      if (st.joining)
        return;
      if (now_ms(self) - st.last_ack > 5000) {
        log::warning(st.name, "the coordinator stopped answering");
        st.flags->raise_all();
        self->quit(caf::exit_reason::remote_link_unreachable);
        return;
      }
      self->request(st.dispatcher, std::chrono::seconds(3), heartbeat_atom_v,
                    st.node_id)
        .then(
          [self, id = st.node_id](bool member) {
            auto& st = self->state;
            st.last_ack = now_ms(self);
            // (An answer about an id this node no longer has is old news.)
            if (!member && !st.joining && id == st.node_id)
              rejoin(self);
          },
          [](caf::error&) {
            // Counted by the silence check above.
          });
    },
    [self](drain_atom) {
      auto& st = self->state;
      if (st.draining)
        return;
      st.draining = true;
      log::info(st.name, "draining", {{"node", st.node_id},
                                      {"running", st.running.size()}});
      // Tell the dispatcher too (when the drain started here), so it sends
      // nothing new; it answers after marking the node.
      if (!st.node_id.empty())
        self
          ->request(st.dispatcher, std::chrono::seconds(5), drain_atom_v,
                    st.node_id)
          .then([self](bool) { leave_if_drained(self); },
                [self](caf::error&) { leave_if_drained(self); });
      else
        leave_if_drained(self);
    },
  };
}

} // namespace tasker
