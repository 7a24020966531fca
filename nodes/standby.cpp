#include "nodes/standby.hpp"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/after.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "gateway/gateway.hpp"
#include "messages/error.hpp"
#include "nodes/cluster_guard.hpp"
#include "nodes/coordinator_actor.hpp"
#include "persistence/database.hpp"
#include "persistence/db_monitor.hpp"
#include "persistence/event_hub.hpp"
#include "persistence/persistence.hpp"
#include "tasks/registry.hpp"

namespace tasker {

namespace {

constexpr const char* component = "standby";

caf::error no_active() {
  return make_error(ec::unavailable,
                    "this coordinator stands by and no active coordinator "
                    "is reachable; retry");
}

/// Forwards every request to the active coordinator's actor (`retarget_atom`
/// sets it; an empty handle: none), or answers `unavailable`.
struct forwarder_state {
  static inline constexpr const char* name = "standby_forwarder";
  caf::actor target;
};

caf::behavior forwarder(caf::stateful_actor<forwarder_state>* self) {
  self->set_default_handler(
    [self](caf::scheduled_actor*,
           caf::message_view& x) -> caf::result<caf::message> {
      if (!self->state.target)
        return no_active();
      return self->delegate(self->state.target, x.move_content_to_message());
    });
  return {
    [self](retarget_atom, caf::actor& target) {
      self->state.target = std::move(target);
    },
  };
}

/// The task manager's stand-in: reads go to the database (a read that
/// waits for a terminal state goes to the active coordinator, which holds
/// the live task), writes to the active coordinator. A forwarded request
/// has a deadline of its own, and fails at once when the link to the active
/// coordinator goes (CAF does not fail the requests in flight on a lost
/// connection): the client gets 503 and submits again with its key.
struct front_state {
  static inline constexpr const char* name = "standby_front";
  reader_actor reader;
  task_manager_actor active;
  uint64_t next = 0;
  std::unordered_map<uint64_t, std::function<void(caf::error)>> pending;
};

using front_actor = task_manager_actor::extend<
  caf::reacts_to<retarget_atom, caf::actor>>;
using front_pointer = front_actor::stateful_pointer<front_state>;

/// What the client hears when the active coordinator did not answer; its
/// own errors (a 409, a 422) pass through.
caf::error lost(caf::error err) {
  if (err.category() == caf::atom("tasker")
      && code_of(err) != ec::internal)
    return err;
  return make_error(ec::unavailable,
                    "the active coordinator did not answer (" + to_string(err)
                      + "); retry");
}

template <class T, class... Ts>
caf::result<T> forward(front_pointer self, std::chrono::milliseconds timeout,
                       Ts&&... xs) {
  auto& st = self->state;
  if (!st.active)
    return no_active();
  auto rp = self->make_response_promise<T>();
  auto id = ++st.next;
  st.pending.emplace(id, [rp](caf::error err) mutable {
    rp.deliver(std::move(err));
  });
  self->request(st.active, timeout, std::forward<Ts>(xs)...)
    .then(
      [self, id, rp](T& x) mutable {
        if (self->state.pending.erase(id) > 0)
          rp.deliver(std::move(x));
      },
      [self, id, rp](caf::error& err) mutable {
        if (self->state.pending.erase(id) > 0)
          rp.deliver(lost(std::move(err)));
      });
  return rp;
}

constexpr auto forward_timeout = std::chrono::milliseconds(15000);

front_actor::behavior_type front(front_pointer self, reader_actor reader) {
  self->state.reader = std::move(reader);
  return {
    [self](submit_atom,
           std::vector<task_record>& group) -> caf::result<submit_reply> {
      return forward<submit_reply>(self, forward_timeout, submit_atom_v,
                                   std::move(group));
    },
    [self](get_atom, std::string& id,
           int64_t wait_ms) -> caf::result<task_record> {
      if (wait_ms > 0 && self->state.active)
        return forward<task_record>(
          self, forward_timeout + std::chrono::milliseconds(wait_ms),
          get_atom_v, std::move(id), wait_ms);
      return self->delegate(self->state.reader, get_atom_v, std::move(id));
    },
    [self](cancel_atom, std::string& id) -> caf::result<task_record> {
      return forward<task_record>(self, forward_timeout, cancel_atom_v,
                                  std::move(id));
    },
    [self](retry_atom, std::string& id) -> caf::result<task_record> {
      return forward<task_record>(self, forward_timeout, retry_atom_v,
                                  std::move(id));
    },
    [](finished_atom, task_record&) {},
    [](forget_atom, std::vector<std::string>&) {},
    [](recover_atom) {},
    [](redispatch_atom, uint64_t, caf::actor&) {},
    [](rewrite_atom, caf::actor&) {},
    [](resend_atom, uint64_t) {},
    [](expire_atom) {},
    [](settle_atom, uint64_t) {},
    [](status_atom) { return manager_status{}; },
    [self](retarget_atom, caf::actor& active) {
      auto& st = self->state;
      auto next = caf::actor_cast<task_manager_actor>(active);
      if (next == st.active)
        return;
      st.active = std::move(next);
      auto pending = std::move(st.pending);
      st.pending.clear();
      for (auto& [id, fail] : pending)
        fail(make_error(ec::unavailable, "the link to the active coordinator "
                                         "was lost; retry"));
    },
  };
}

struct standby_state {
  static inline constexpr const char* name = "standby";
  config cfg;
  telemetry_ptr tel = std::make_shared<telemetry>();
  reader_actor reader;
  caf::actor db_monitor;
  caf::actor event_hub;
  caf::actor gateway;
  caf::actor front;
  caf::actor dispatcher;
  caf::actor pull_hub;
  uint16_t http_port = 0;
  bool started = false;
  caf::error start_error;
  caf::typed_response_promise<uint16_t> ready;
  std::shared_ptr<std::atomic<bool>> failed;
};

using standby_actor = caf::stateful_actor<standby_state>;

void started(standby_actor* self, caf::error err) {
  auto& st = self->state;
  st.started = true;
  st.start_error = std::move(err);
  if (!st.ready.pending())
    return;
  if (st.start_error)
    st.ready.deliver(st.start_error);
  else
    st.ready.deliver(st.http_port);
}

caf::behavior standby(standby_actor* self, config cfg,
                      std::shared_ptr<const registry> reg,
                      leadership_view_ptr view, caf::actor front_hdl,
                      caf::actor disp, caf::actor hub) {
  auto& st = self->state;
  auto& sys = self->system();
  st.cfg = std::move(cfg);
  st.front = std::move(front_hdl);
  st.dispatcher = std::move(disp);
  st.pull_hub = std::move(hub);
  // While nothing else has been heard, the database counts as up; the
  // monitor says otherwise within 200 ms.
  st.tel->state.db_up = true;
  // A standby recovers nothing: it is as ready as its database and the
  // active coordinator it forwards to (see the gateway's /ready).
  st.tel->state.recovered = true;
  st.db_monitor = spawn_db_monitor(sys, st.cfg.db_url, st.tel,
                                   std::chrono::milliseconds(200),
                                   std::chrono::milliseconds(500));
  st.event_hub = spawn_event_hub(
    sys, event_hub_settings{st.cfg.db_url,
                            std::chrono::milliseconds(st.cfg.events_poll_ms)});
  gateway_deps deps;
  deps.manager = caf::actor_cast<task_manager_actor>(st.front);
  deps.dispatcher = caf::actor_cast<dispatcher_actor>(st.dispatcher);
  deps.reader = st.reader;
  deps.pull_hub = caf::actor_cast<pull_hub_actor>(st.pull_hub);
  deps.reg = std::move(reg);
  deps.tel = st.tel;
  deps.events = st.event_hub;
  deps.leader = std::move(view);
  deps.standby = true;
  st.gateway = sys.middleman().spawn_broker(
    gateway, gateway_settings(st.cfg), std::move(deps),
    caf::actor_cast<caf::actor>(self));
  self->monitor(st.gateway);
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.gateway.address())
      return;
    if (!st.started) {
      log::error(st.name, "cannot listen for HTTP",
                 {{"host", st.cfg.http_host},
                  {"port", st.cfg.http_port},
                  {"error", self->system().render(msg.reason)}});
      started(self, msg.reason ? msg.reason
                               : caf::make_error(caf::sec::runtime_error));
      return;
    }
    // A standby has no supervisor for it: the process stops (and is
    // started again by its own supervisor, systemd or the like).
    log::error(st.name, "the gateway died; stopping",
               {{"reason", caf::to_string(msg.reason)}});
    *st.failed = true;
    kill(getpid(), SIGTERM);
  });
  return {
    [self](ok_atom, uint16_t port) {
      auto& st = self->state;
      if (st.started)
        return;
      st.http_port = port;
      log::info(st.name, "listening as a standby",
                {{"host", st.cfg.http_host}, {"port", port}});
      started(self, caf::none);
    },
    [self](get_atom) -> caf::result<uint16_t> {
      auto& st = self->state;
      if (!st.started) {
        st.ready = self->make_response_promise<uint16_t>();
        return st.ready;
      }
      if (st.start_error)
        return st.start_error;
      return st.http_port;
    },
    [self](stop_atom) -> int32_t {
      auto& st = self->state;
      self->demonitor(st.gateway);
      for (auto& hdl : {st.gateway, caf::actor_cast<caf::actor>(st.reader),
                        st.db_monitor, st.event_hub, st.front, st.dispatcher,
                        st.pull_hub})
        if (hdl)
          self->send_exit(hdl, caf::exit_reason::user_shutdown);
      self->quit();
      return st.start_error ? 1 : 0;
    },
  };
}

} // namespace

standby_handles spawn_standby(caf::actor_system& sys, const config& cfg,
                              std::shared_ptr<const registry> reg,
                              leadership_view_ptr view) {
  standby_handles out;
  auto reader_hdl = sys.spawn<caf::detached>(
    reader, std::make_shared<database>(cfg.db_url),
    std::shared_ptr<cache_reader>{}, cache_writer_actor{});
  out.front = caf::actor_cast<caf::actor>(sys.spawn(front, reader_hdl));
  out.dispatcher = sys.spawn(forwarder);
  out.pull_hub = sys.spawn(forwarder);
  out.root = sys.spawn([=](standby_actor* self) {
    self->state.reader = reader_hdl;
    self->state.failed = out.failed;
    return standby(self, cfg, reg, view, out.front, out.dispatcher,
                   out.pull_hub);
  });
  return out;
}

struct standby_link::impl {
  impl(caf::actor_system& sys, config cfg, leadership_view_ptr view,
       standby_handles handles)
    : sys(sys),
      cfg(std::move(cfg)),
      view(std::move(view)),
      handles(std::move(handles)) {
  }

  caf::actor_system& sys;
  config cfg;
  leadership_view_ptr view;
  standby_handles handles;
  std::mutex mtx;
  std::condition_variable cv;
  bool quit = false;
  std::thread thread;

  void retarget(const caf::actor& manager, const caf::actor& disp,
                const caf::actor& hub) {
    caf::anon_send(handles.front, retarget_atom_v, manager);
    caf::anon_send(handles.dispatcher, retarget_atom_v, disp);
    caf::anon_send(handles.pull_hub, retarget_atom_v, hub);
    view->set_forwarding(static_cast<bool>(manager));
  }

  void run() {
    // The active coordinator and epoch the handles point at ("": none).
    std::string linked;
    std::string last_error;
    // Watches the active coordinator's dispatcher: its down message says
    // the connection is lost (CAF drops a silent one after 5 s).
    caf::scoped_actor watcher{sys};
    for (;;) {
      {
        std::unique_lock<std::mutex> guard{mtx};
        cv.wait_for(guard, std::chrono::milliseconds(250),
                    [&] { return quit; });
        if (quit) {
          view->set_forwarding(false);
          return;
        }
      }
      bool lost = false;
      watcher->receive([&](caf::down_msg&) { lost = true; },
                       caf::after(std::chrono::milliseconds(0)) >> [&] {});
      auto snap = view->read();
      std::string target;
      if (!snap.active_cluster.empty() && snap.active_id != snap.self_id)
        target = snap.active_cluster + "#" + std::to_string(snap.epoch);
      if (target == linked && !lost)
        continue;
      if (!linked.empty()) {
        retarget({}, {}, {});
        log::info(component, "stopped forwarding to the active coordinator",
                  {{"was", linked}});
        linked.clear();
      }
      if (target.empty())
        continue;
      // (The database is not trusted either: a port must parse.)
      auto colon = snap.active_cluster.rfind(':');
      if (colon == std::string::npos || colon == 0)
        continue;
      auto host = snap.active_cluster.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      auto digits = snap.active_cluster.substr(colon + 1);
      if (digits.empty() || digits.size() > 5
          || digits.find_first_not_of("0123456789") != std::string::npos
          || std::stoi(digits) > 65535)
        continue;
      auto port = static_cast<uint16_t>(std::stoi(digits));
      auto disp = join_cluster(sys, host, port, cfg.cluster_secret,
                               std::chrono::milliseconds(2000), cfg.tls());
      if (!disp) {
        auto why = sys.render(disp.error());
        if (why != last_error)
          log::warning(component, "cannot reach the active coordinator",
                       {{"cluster_address", snap.active_cluster},
                        {"error", why}});
        last_error = why;
        continue;
      }
      caf::actor manager, hub;
      caf::error why;
      caf::scoped_actor asker{sys};
      asker
        ->request(*disp, std::chrono::seconds(2), get_atom_v, cfg.cluster_secret)
        .receive(
          [&](caf::actor& m, caf::actor& h) {
            manager = std::move(m);
            hub = std::move(h);
          },
          [&](caf::error& err) { why = std::move(err); });
      if (!manager || !hub) {
        auto text = why ? sys.render(why) : std::string{"no handles"};
        if (last_error != text)
          log::warning(component, "the active coordinator offers nothing to "
                                  "forward to yet",
                       {{"cluster_address", snap.active_cluster},
                        {"error", text}});
        last_error = text;
        continue;
      }
      retarget(manager, caf::actor_cast<caf::actor>(*disp), hub);
      watcher->monitor(*disp);
      linked = target;
      last_error.clear();
      log::info(component, "forwarding writes to the active coordinator",
                {{"active", snap.active_name},
                 {"cluster_address", snap.active_cluster},
                 {"epoch", snap.epoch}});
    }
  }
};

standby_link::standby_link(caf::actor_system& sys, const config& cfg,
                           leadership_view_ptr view, standby_handles handles)
  : impl_(new impl{sys, cfg, std::move(view), std::move(handles)}) {
  impl_->thread = std::thread{[this] { impl_->run(); }};
}

standby_link::~standby_link() {
  stop();
}

void standby_link::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->quit = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

} // namespace tasker
