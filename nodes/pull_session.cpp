#include "nodes/pull_session.hpp"

#include <deque>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <openssl/rand.h>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "common/clock.hpp"
#include "common/format.hpp"
#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker {

namespace {

/// One session: a worker node of the dispatcher whose attempts an HTTP
/// worker leases.
using pull_session_actor = node_actor::extend<
  /// Joins the dispatcher; replies the node id.
  caf::replies_to<join_atom>::with<std::string>,
  /// Leases up to N tasks, waiting up to W ms for some; replies them and
  /// whether the node drains (its worker should stop asking).
  caf::replies_to<lease_atom, int32_t, int64_t>::with<std::vector<leased_task>,
                                                      bool>,
  caf::replies_to<heartbeat_atom, std::string, std::string>::with<bool>,
  caf::replies_to<result_atom, std::string, task_outcome>::with<ok_atom>,
  caf::replies_to<stop_atom>::with<ok_atom>>;

constexpr auto tick_interval = std::chrono::milliseconds(250);

/// 128 random bits from OpenSSL, in hex: session ids and lease tokens
/// cannot be guessed from the ids a client sees.
std::string random_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

struct lease_state {
  task_assignment task;
  millis started_at = 0;
  millis deadline = 0;
  bool cancelled = false;
};

struct waiter {
  caf::typed_response_promise<std::vector<leased_task>, bool> rp;
  int32_t max = 0;
  millis deadline = 0;
};

struct session_state {
  static inline constexpr const char* name = "pull_session";
  std::string sid;
  node_info info;
  dispatcher_actor dispatcher;
  pull_config cfg;
  /// The node id the dispatcher gave; empty while not a member.
  std::string node_id;
  /// Attempts handed to the node that no worker leased yet.
  std::deque<task_assignment> backlog;
  std::unordered_map<std::string, lease_state> leases;
  std::vector<waiter> waiters;
  millis last_seen = 0;
  /// Drained by the dispatcher or closed by its worker: no new leases.
  bool draining = false;
  int ticks = 0;
};

using session_pointer = pull_session_actor::stateful_pointer<session_state>;

void report(session_pointer self, task_outcome out) {
  self->send(self->state.dispatcher, result_atom_v,
             std::vector<task_outcome>{std::move(out)});
}

/// Ends an attempt the worker will not finish, as lost: it may run again.
void lose(session_pointer self, const task_assignment& a, millis started,
          const std::string& why) {
  auto now = now_ms(self);
  report(self, {a.id, a.attempt, false, {}, why, true, self->state.node_id,
                started, now});
}

/// Hands backlog attempts to lease requests, oldest request first.
void serve(session_pointer self) {
  auto& st = self->state;
  while (!st.waiters.empty() && !st.backlog.empty()) {
    auto w = std::move(st.waiters.front());
    st.waiters.erase(st.waiters.begin());
    std::vector<leased_task> out;
    auto now = now_ms(self);
    while (!st.backlog.empty() && out.size() < static_cast<size_t>(w.max)) {
      auto token = st.sid + "." + random_id();
      auto& a = st.backlog.front();
      st.leases.emplace(token, lease_state{a, now,
                                           now + st.cfg.lease_timeout_ms,
                                           false});
      out.push_back({token, std::move(a)});
      st.backlog.pop_front();
    }
    w.rp.deliver(std::move(out), st.draining);
    // (The session counts as seen until its worker had time to ask again.)
    st.last_seen = now;
  }
}

void close(session_pointer self, const std::string& why);

/// Why a lease token is unknown to its session.
constexpr const char* lease_gone
  = "it expired, or its task was completed, failed or cancelled";

/// The answer to a heartbeat, complete or fail of a lease not held (409).
caf::error not_held(const char* why) {
  return make_error(ec::conflict, std::string{"the lease is not held: "} + why);
}

/// Joins the dispatcher as a worker node; `rp`, if any, hears the node id.
void join_dispatcher(
  session_pointer self,
  std::optional<caf::typed_response_promise<std::string>> rp = std::nullopt) {
  auto& st = self->state;
  self
    ->request(st.dispatcher, std::chrono::seconds(10), join_atom_v, st.info,
              std::string{}, caf::actor_cast<node_actor>(self))
    .then(
      [self, rp](std::string& node_id) mutable {
        auto& st = self->state;
        st.node_id = node_id;
        if (st.draining)
          self->request(st.dispatcher, std::chrono::seconds(5), drain_atom_v,
                        node_id)
            .then([](bool) {}, [](caf::error&) {});
        if (rp)
          rp->deliver(std::move(node_id));
      },
      [self, rp](caf::error& err) mutable {
        if (rp)
          rp->deliver(err);
        close(self, "the HTTP worker's session could not join");
        self->quit(err);
      });
}

/// Ends the attempts no worker leased yet, so that they run elsewhere (as
/// lost attempts: they count, as on a worker node that is lost).
void give_back_backlog(session_pointer self) {
  auto& st = self->state;
  for (auto& a : st.backlog)
    lose(self, a, 0, "the HTTP worker's session ended before a worker leased "
                     "the task");
  st.backlog.clear();
}

/// Ends every lease and unleased attempt: the session leaves.
void close(session_pointer self, const std::string& why) {
  auto& st = self->state;
  for (auto& [token, l] : st.leases)
    lose(self, l.task, l.started_at, why);
  st.leases.clear();
  give_back_backlog(self);
  for (auto& w : st.waiters)
    w.rp.deliver(std::vector<leased_task>{}, true);
  st.waiters.clear();
}

void on_tick(session_pointer self) {
  auto& st = self->state;
  auto now = now_ms(self);
  self->delayed_send(self, tick_interval, tick_atom_v);
  for (auto i = st.leases.begin(); i != st.leases.end();) {
    if (i->second.deadline > now) {
      ++i;
      continue;
    }
    if (i->second.cancelled) { // (the dispatcher withdrew it already)
      i = st.leases.erase(i);
      continue;
    }
    log::warning(st.name, "a lease expired: its HTTP worker stopped "
                          "heartbeating it",
                 {{"task_id", i->second.task.id},
                  {"attempt", i->second.task.attempt},
                  {"node", st.node_id}});
    lose(self, i->second.task, i->second.started_at,
         "the HTTP worker's lease expired (no heartbeat within "
           + std::to_string(st.cfg.lease_timeout_ms) + " ms)");
    i = st.leases.erase(i);
  }
  for (auto i = st.waiters.begin(); i != st.waiters.end();) {
    if (i->deadline > now) {
      ++i;
      continue;
    }
    i->rp.deliver(std::vector<leased_task>{}, st.draining);
    i = st.waiters.erase(i);
    st.last_seen = now;
  }
  if (st.waiters.empty() && now - st.last_seen > st.cfg.lease_timeout_ms) {
    log::info(st.name, "an HTTP worker session expired",
              {{"node", st.node_id}});
    close(self, "the HTTP worker's session expired");
    self->quit();
    return;
  }
  if (st.draining && st.leases.empty() && st.backlog.empty()) {
    close(self, "drained");
    self->quit();
    return;
  }
  // Once a second the dispatcher hears that the node lives; a dispatcher
  // that no longer counts it (it was restarted) is joined again, and what
  // the node held counts as lost there: late outcomes are refused.
  if (++st.ticks % 4 != 0 || st.node_id.empty())
    return;
  self->request(st.dispatcher, std::chrono::seconds(5), heartbeat_atom_v,
                st.node_id)
    .then(
      [self](bool member) {
        auto& st = self->state;
        if (member || st.node_id.empty())
          return;
        log::warning(st.name, "the dispatcher no longer counts this HTTP "
                              "worker session; joining again",
                     {{"node", st.node_id}});
        st.leases.clear();
        st.backlog.clear();
        st.node_id.clear();
        join_dispatcher(self);
      },
      [](caf::error&) {
        // (A dispatcher being restarted: the next heartbeat tells.)
      });
}

pull_session_actor::behavior_type
pull_session(session_pointer self, std::string sid, node_info info,
             dispatcher_actor dispatcher, pull_config cfg) {
  auto& st = self->state;
  st.sid = std::move(sid);
  st.info = std::move(info);
  st.dispatcher = std::move(dispatcher);
  st.cfg = cfg;
  st.last_seen = now_ms(self);
  self->delayed_send(self, tick_interval, tick_atom_v);
  // Stopped from outside (the hub going): waiters are answered, what the
  // session held runs elsewhere.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    close(self, "the HTTP worker's session was stopped");
    self->quit(msg.reason);
  });
  return {
    [self](join_atom) {
      auto rp = self->make_response_promise<std::string>();
      join_dispatcher(self, rp);
      return rp;
    },
    [self](run_atom, std::vector<task_assignment>& runs) {
      for (auto& a : runs)
        self->state.backlog.push_back(std::move(a));
      if (self->state.draining)
        give_back_backlog(self); // (no worker will lease them)
      else
        serve(self);
    },
    [self](cancel_atom, const std::string& id, int32_t attempt) {
      auto& st = self->state;
      for (auto& [token, l] : st.leases)
        if (l.task.id == id && l.task.attempt == attempt)
          l.cancelled = true; // (its worker hears it at its next heartbeat)
      for (auto i = st.backlog.begin(); i != st.backlog.end(); ++i)
        if (i->id == id && i->attempt == attempt) {
          st.backlog.erase(i);
          report(self, {id, attempt, false, {}, "stopped before it started",
                        false, st.node_id, 0, 0});
          return;
        }
    },
    [](done_atom, const task_outcome&) {
      // (Executors report this way; a session has none.)
    },
    [self](drain_atom) {
      auto& st = self->state;
      st.draining = true;
      // What no worker leased yet runs elsewhere.
      give_back_backlog(self);
      for (auto& w : st.waiters)
        w.rp.deliver(std::vector<leased_task>{}, true);
      st.waiters.clear();
    },
    [self](tick_atom) { on_tick(self); },
    [](flush_atom) {
      // (Outcomes go to the dispatcher at once.)
    },
    [self](lease_atom, int32_t max, int64_t wait_ms)
      -> caf::result<std::vector<leased_task>, bool> {
      auto& st = self->state;
      auto now = now_ms(self);
      st.last_seen = now;
      if (st.draining)
        return {std::vector<leased_task>{}, true};
      if (st.waiters.size() >= st.cfg.max_waiting)
        return make_error(ec::overloaded,
                          "this session has "
                            + std::to_string(st.cfg.max_waiting)
                            + " lease requests waiting already");
      auto rp
        = self->make_response_promise<std::vector<leased_task>, bool>();
      st.waiters.push_back({rp, max, now + wait_ms});
      serve(self);
      // Nothing to lease now and no wait asked: an empty answer at once.
      if (wait_ms <= 0 && !st.waiters.empty()
          && st.waiters.back().rp.pending()) {
        st.waiters.back().rp.deliver(std::vector<leased_task>{}, false);
        st.waiters.pop_back();
      }
      return rp;
    },
    [self](heartbeat_atom, const std::string& token,
           std::string& progress) -> caf::result<bool> {
      auto& st = self->state;
      auto now = now_ms(self);
      st.last_seen = now;
      auto i = st.leases.find(token);
      if (i == st.leases.end())
        return not_held(lease_gone);
      // A cancelled lease is not extended: its worker hears it now and stops,
      // and the lease ends by itself within the lease timeout.
      if (i->second.cancelled)
        return true;
      i->second.deadline = now + st.cfg.lease_timeout_ms;
      if (!progress.empty())
        self->send(st.dispatcher, progress_atom_v, i->second.task.id,
                   i->second.task.attempt, std::move(progress));
      return false;
    },
    [self](result_atom, const std::string& token,
           task_outcome& out) -> caf::result<ok_atom> {
      auto& st = self->state;
      auto now = now_ms(self);
      st.last_seen = now;
      auto i = st.leases.find(token);
      if (i == st.leases.end())
        return not_held(lease_gone);
      if (i->second.cancelled) {
        // (The dispatcher withdrew the attempt: its outcome changes nothing.)
        st.leases.erase(i);
        return not_held("its task was cancelled or its attempt timed out");
      }
      out.id = i->second.task.id;
      out.attempt = i->second.task.attempt;
      out.worker_id = st.node_id;
      out.started_at = i->second.started_at;
      out.finished_at = now;
      st.leases.erase(i);
      report(self, std::move(out));
      return ok_atom_v;
    },
    [self](stop_atom) {
      auto& st = self->state;
      log::info(st.name, "an HTTP worker closes its session",
                {{"node", st.node_id}, {"leases", st.leases.size()}});
      // The dispatcher gives the node nothing more; what it handed it and
      // no worker leased runs elsewhere; the leases held end as the worker
      // ends them (or expire), then the session leaves.
      if (!st.draining && !st.node_id.empty())
        self->request(st.dispatcher, std::chrono::seconds(5), drain_atom_v,
                      st.node_id)
          .then([](bool) {}, [](caf::error&) {});
      st.draining = true;
      give_back_backlog(self);
      for (auto& w : st.waiters)
        w.rp.deliver(std::vector<leased_task>{}, true);
      st.waiters.clear();
      return ok_atom_v;
    },
  };
}

struct hub_state {
  static inline constexpr const char* name = "pull_hub";
  std::unordered_map<std::string, pull_session_actor> sessions;
  dispatcher_actor dispatcher;
  pull_config cfg;
};

using hub_pointer = pull_hub_actor::stateful_pointer<hub_state>;

caf::error no_session(const std::string& sid) {
  return make_error(ec::not_found,
                    "no HTTP worker session " + sid
                      + " (it was closed, drained or expired: open a new "
                        "one)");
}

pull_hub_actor::behavior_type pull_hub(hub_pointer self,
                                       dispatcher_actor dispatcher,
                                       pull_config cfg) {
  self->state.dispatcher = std::move(dispatcher);
  self->state.cfg = cfg;
  // Sessions end with the hub (the coordinator stops it).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [sid, session] : self->state.sessions)
      self->send_exit(session, msg.reason);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& sessions = self->state.sessions;
    for (auto i = sessions.begin(); i != sessions.end(); ++i)
      if (i->second.address() == msg.source) {
        sessions.erase(i);
        return;
      }
  });
  return {
    [self](join_atom, node_info& info)
      -> caf::result<std::string, std::string> {
      auto& st = self->state;
      if (st.sessions.size() >= st.cfg.max_sessions)
        return make_error(ec::overloaded,
                          std::to_string(st.cfg.max_sessions)
                            + " HTTP worker sessions are open already");
      auto sid = random_id();
      auto session = self->spawn(pull_session, sid, std::move(info),
                                 st.dispatcher, st.cfg);
      self->monitor(session);
      st.sessions.emplace(sid, session);
      auto rp = self->make_response_promise<std::string, std::string>();
      self->request(session, std::chrono::seconds(15), join_atom_v)
        .then([rp, sid](std::string& node_id) mutable {
          rp.deliver(sid, std::move(node_id));
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self](lease_atom, const std::string& sid, int32_t max, int64_t wait_ms)
      -> caf::result<std::vector<leased_task>, bool> {
      auto i = self->state.sessions.find(sid);
      if (i == self->state.sessions.end())
        return no_session(sid);
      return self->delegate(i->second, lease_atom_v, max, wait_ms);
    },
    [self](heartbeat_atom, const std::string& token,
           std::string& progress) -> caf::result<bool> {
      auto i = self->state.sessions.find(token.substr(0, token.find('.')));
      if (i == self->state.sessions.end())
        return not_held("its session was closed, drained or expired");
      return self->delegate(i->second, heartbeat_atom_v, token,
                            std::move(progress));
    },
    [self](result_atom, const std::string& token,
           task_outcome& out) -> caf::result<ok_atom> {
      auto i = self->state.sessions.find(token.substr(0, token.find('.')));
      if (i == self->state.sessions.end())
        return not_held("its session was closed, drained or expired");
      return self->delegate(i->second, result_atom_v, token, std::move(out));
    },
    [self](stop_atom, const std::string& sid) -> caf::result<ok_atom> {
      auto i = self->state.sessions.find(sid);
      if (i == self->state.sessions.end())
        return no_session(sid);
      return self->delegate(i->second, stop_atom_v);
    },
  };
}

} // namespace

pull_hub_actor spawn_pull_hub(caf::actor_system& sys,
                              dispatcher_actor dispatcher, pull_config cfg) {
  return sys.spawn(pull_hub, std::move(dispatcher), cfg);
}

} // namespace tasker
