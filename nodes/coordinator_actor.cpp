#include "nodes/coordinator_actor.hpp"

#include <csignal>
#include <map>
#include <memory>
#include <thread>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/dispatcher.hpp"
#include "actors/supervisor.hpp"
#include "actors/task_manager.hpp"
#include "common/log.hpp"
#include "gateway/encoding.hpp"
#include "gateway/gateway.hpp"
#include "messages/error.hpp"
#include "nodes/cluster_guard.hpp"
#include "nodes/node_agent.hpp"
#include "nodes/pull_session.hpp"
#include "persistence/db_monitor.hpp"
#include "persistence/persistence.hpp"
#include "webhooks/webhook_sender.hpp"
#include "persistence/database.hpp"
#include "persistence/event_hub.hpp"
#include "persistence/retention.hpp"
#include "tasks/registry.hpp"

namespace tasker {

namespace {

/// What a running coordinator is made of, in the order it starts; it stops
/// in reverse.
struct coordinator_state {
  static inline constexpr const char* name = "coordinator";

  config cfg;
  telemetry_ptr tel = std::make_shared<telemetry>();
  /// `pers.batcher` is the relay in front of the current batcher.
  persistence_handles pers;
  /// The Redis status cache (none when off).
  std::shared_ptr<task_cache> cache;
  caf::actor first_batcher;
  caf::actor pers_relay;
  caf::actor pers_sup;
  caf::actor db_monitor;
  /// Retention (none when off).
  caf::actor retention;
  /// The event stream's reader (GET /v1/events).
  caf::actor event_hub;
  /// Calls the callback_url of finished tasks.
  caf::actor webhooks;
  dispatcher_config dcfg;
  /// The relay in front of the current dispatcher.
  dispatcher_actor disp;
  dispatcher_actor first_disp;
  caf::actor disp_sup;
  task_manager_actor manager;
  std::shared_ptr<const registry> reg;
  /// Leadership as this process knows it (for /ready and /v1/cluster).
  leadership_view_ptr leader;
  node_actor local_node;
  pull_hub_actor pull_hub;
  /// The first gateway; once it listens, a supervisor takes it over.
  caf::actor gateway;
  gateway_config gcfg;
  gateway_deps gdeps;
  caf::actor gateway_sup;
  std::shared_ptr<cluster_guard_stats> guard_stats
    = std::make_shared<cluster_guard_stats>();
  std::unique_ptr<cluster_guard> guard;
  uint16_t http_port = 0;
  uint16_t cluster_port = 0;
  /// Set once both ports listen, or why one could not.
  bool started = false;
  caf::error start_error;
  caf::typed_response_promise<uint16_t, uint16_t> ready;
  /// What a fault injection may kill: supervisors (their current child dies)
  /// and unsupervised actors (they die themselves).
  std::map<std::string, caf::actor> supervisors;
  std::map<std::string, caf::actor> unsupervised;
  bool gave_up = false;
  bool stopping = false;
  caf::actor_clock::time_point drain_deadline;
  caf::typed_response_promise<int32_t> stopped;
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

/// The writers, the reader and the batcher, the batcher behind a relay
/// whose handle the gateway and the dispatcher hold (the task manager and
/// the task actors hold the batcher itself); and the database monitor, so
/// that `/ready` follows the database within a second, also while idle.
void spawn_persistence_tree(coordinator_actor* self) {
  auto& st = self->state;
  auto& sys = self->system();
  st.tel->state.db_up = true;
  persistence_config pcfg{st.cfg.db_url, st.cfg.db_writers,
                          st.cfg.batch_max_rows, nullptr};
  if (!st.cfg.redis_url.empty()) {
    std::string why; // the URL was checked with the configuration
    cache_settings cs;
    cs.endpoint = parse_redis_url(st.cfg.redis_url, why).value_or(
      redis_endpoint{});
    cs.ttl_s = st.cfg.cache_ttl_s;
    cs.timeout = std::chrono::milliseconds(st.cfg.cache_timeout_ms);
    st.cache = std::make_shared<task_cache>(cs, st.tel);
    pcfg.cache = st.cache;
    log::info(st.name, "the Redis status cache is on",
              {{"key_prefix", st.cache->prefix()},
               {"ttl_s", st.cfg.cache_ttl_s}});
  }
  st.pers = spawn_persistence(sys, pcfg, st.tel);
  st.first_batcher = caf::actor_cast<caf::actor>(st.pers.batcher);
  st.pers_relay = sys.spawn(relay);
  self->send(st.pers_relay, retarget_atom_v, st.first_batcher);
  st.pers.batcher = caf::actor_cast<persistence_actor>(st.pers_relay);
  st.db_monitor = spawn_db_monitor(sys, st.cfg.db_url, st.tel,
                                   std::chrono::milliseconds(200),
                                   std::chrono::milliseconds(500));
}

/// The first dispatcher behind its relay: the relay is the handle the
/// gateway and every worker node hold (it is what the cluster port
/// publishes). The first dispatcher is in place before any actor can send to
/// the relay; its supervisor starts in `supervise`.
void spawn_dispatcher_tree(coordinator_actor* self) {
  auto& st = self->state;
  auto& dcfg = st.dcfg;
  dcfg.cluster_secret = st.cfg.cluster_secret;
  dcfg.suspect_after_ms = st.cfg.node_suspect_ms;
  dcfg.dead_after_ms = st.cfg.node_dead_ms;
  dcfg.registry = st.pers.batcher;
  dcfg.max_db_backlog = st.cfg.max_db_backlog;
  dcfg.peers = std::make_shared<peer_handles>();
  st.disp = caf::actor_cast<dispatcher_actor>(self->system().spawn(relay));
  st.first_disp = self->system().spawn(dispatcher, dcfg, st.tel);
  self->send(caf::actor_cast<caf::actor>(st.disp), retarget_atom_v,
             caf::actor_cast<caf::actor>(st.first_disp));
}

/// The task manager, which talks to the dispatcher and the batcher
/// themselves, not through the relays (one hop less per message; each
/// restart hands it the new one). Nothing restarts it or the reader in
/// place: the coordinator watches both.
void spawn_task_manager(coordinator_actor* self) {
  auto& st = self->state;
  auto& cfg = st.cfg;
  task_manager_config tcfg;
  tcfg.backoff = {cfg.retry_base_ms, cfg.retry_max_ms};
  tcfg.result_cache_size = static_cast<size_t>(cfg.result_cache_size);
  tcfg.max_pending = static_cast<size_t>(cfg.max_pending);
  tcfg.submit_timeout = std::chrono::milliseconds(cfg.submit_timeout_ms);
  tcfg.horizon_ms = cfg.delay_horizon_ms;
  tcfg.load_page = static_cast<int32_t>(cfg.load_page);
  st.manager = self->system().spawn(
    task_manager, st.first_disp,
    caf::actor_cast<persistence_actor>(st.first_batcher), st.pers.reader,
    tcfg, st.tel);
  st.unsupervised["task_manager"] = caf::actor_cast<caf::actor>(st.manager);
  st.unsupervised["reader"] = caf::actor_cast<caf::actor>(st.pers.reader);
  for (auto& [name, hdl] : st.unsupervised)
    self->monitor(hdl);
}

/// Retention, when configured: it needs the task manager (to forget what it
/// deletes). Nothing restarts it: a failed pass is tried again later.
void spawn_retention(coordinator_actor* self) {
  auto& st = self->state;
  auto ms = st.cfg.retention_ms();
  if (ms <= 0)
    return;
  retention_settings rs;
  rs.db_url = st.cfg.db_url;
  rs.retention_ms = ms;
  rs.batch = st.cfg.retention_batch;
  rs.interval = std::chrono::milliseconds(st.cfg.retention_interval_ms);
  st.retention = tasker::spawn_retention(self->system(), rs, st.tel,
                                         st.pers.cache, st.manager);
  log::info(st.name, "retention is on",
            {{"retention", st.cfg.retention},
             {"interval_ms", st.cfg.retention_interval_ms}});
}

/// With `params_index`, makes the GIN index of params in the background (a
/// build takes a while on a large table; writes go on meanwhile). On a
/// thread of its own that nothing waits for: a stop does not wait for the
/// build, which the database then abandons (leaving an invalid index that
/// the next start drops and builds again).
void build_params_index(coordinator_actor* self) {
  auto& st = self->state;
  if (st.cfg.params_index == 0)
    return;
  std::thread([url = st.cfg.db_url] {
    try {
      database db{url};
      auto started = std::chrono::steady_clock::now();
      if (db.ensure_params_index())
        log::info(coordinator_state::name, "params index built",
                  {{"index", "tasks_params_idx"},
                   {"duration_ms",
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count()}});
    } catch (const std::exception& e) {
      log::error(coordinator_state::name, "params index not built",
                 {{"error", e.what()}});
    }
  }).detach();
}

/// Spawns the supervisor of `name`, which the coordinator watches.
caf::actor supervised(coordinator_actor* self, const char* name,
                      supervisor_hooks hooks) {
  auto sup = self->system().spawn(supervisor, supervisor_config{name},
                                  std::move(hooks));
  self->state.supervisors[name] = sup;
  self->monitor(sup);
  return sup;
}

/// The supervisors of the batcher and the dispatcher. Each successor is put
/// behind the relay, and the task manager is told with its handle: it
/// settles what the dead one held (docs/ARCHITECTURE.md, "Supervision
/// tree"). A dispatcher's successor is one generation on.
void supervise(coordinator_actor* self) {
  auto& st = self->state;
  auto& sys = self->system();
  supervisor_hooks pers;
  pers.adopt = st.first_batcher;
  pers.spawn = [&sys, writers = st.pers.writers, cache = st.pers.cache,
                rows = st.cfg.batch_max_rows, tel = st.tel,
                relay = st.pers_relay](uint64_t) {
    auto b = caf::actor_cast<caf::actor>(
      sys.spawn(persistence, writers, cache, rows, tel));
    caf::anon_send(relay, retarget_atom_v, b);
    return b;
  };
  pers.restarted = [tel = st.tel, manager = st.manager](
                     const caf::actor& b, uint64_t, const std::string& why) {
    tel->supervision.restarted("persistence", why);
    tel->stats.supervisor_restart("persistence");
    caf::anon_send(manager, rewrite_atom_v, b);
  };
  supervisor_hooks disp;
  disp.adopt = caf::actor_cast<caf::actor>(st.first_disp);
  disp.spawn = [&sys, dcfg = st.dcfg, tel = st.tel,
                relay = caf::actor_cast<caf::actor>(st.disp)](uint64_t restarts) {
    auto c = dcfg;
    c.generation = restarts;
    auto d = caf::actor_cast<caf::actor>(sys.spawn(dispatcher, c, tel));
    caf::anon_send(relay, retarget_atom_v, d);
    return d;
  };
  disp.restarted = [tel = st.tel, manager = st.manager](
                     const caf::actor& d, uint64_t restarts,
                     const std::string& why) {
    tel->supervision.restarted("dispatcher", why);
    tel->stats.supervisor_restart("dispatcher");
    caf::anon_send(manager, redispatch_atom_v, restarts, d);
  };
  st.pers_sup = supervised(self, "persistence", std::move(pers));
  st.disp_sup = supervised(self, "dispatcher", std::move(disp));
}

/// The coordinator's own worker node, when it has slots.
void spawn_local_node(coordinator_actor* self) {
  auto& st = self->state;
  node_agent_config ncfg; // (named "local")
  ncfg.slots = st.cfg.local_slots;
  if (ncfg.slots > 0)
    st.local_node = self->system().spawn(node_agent, st.disp, ncfg, st.reg);
  // HTTP workers' sessions are worker nodes too.
  pull_config pcfg;
  pcfg.lease_timeout_ms = st.cfg.lease_timeout_ms;
  st.pull_hub = spawn_pull_hub(self->system(), st.disp, pcfg);
  // Standby coordinators ask the dispatcher for these over the cluster port
  // to forward the writes their gateways take (nodes/standby.cpp).
  std::lock_guard<std::mutex> guard{st.dcfg.peers->mtx};
  st.dcfg.peers->manager = caf::actor_cast<caf::actor>(st.manager);
  st.dcfg.peers->pull_hub = caf::actor_cast<caf::actor>(st.pull_hub);
}

cluster_port_status port_status(const cluster_guard_stats& g) {
  return {g.admitted.load(),  g.pending.load(),   g.bad_mac.load(),
          g.bad_magic.load(), g.timed_out.load(), g.refused_busy.load(),
          g.dropped.load()};
}

gateway_deps gateway_dependencies(coordinator_actor* self) {
  auto& st = self->state;
  gateway_deps deps;
  deps.manager = st.manager;
  deps.dispatcher = st.disp;
  deps.reader = st.pers.reader;
  deps.persistence = st.pers.batcher;
  deps.reg = st.reg;
  deps.tel = st.tel;
  deps.pull_hub = st.pull_hub;
  deps.cache = st.cache;
  deps.events = st.event_hub;
  deps.leader = st.leader;
  // The cluster guard (started later) counts into this for /v1/cluster.
  deps.cluster_port = [stats = st.guard_stats] { return port_status(*stats); };
  if (st.cfg.fault_injection != 0) {
    log::warning(coordinator_state::name,
                 "fault injection is on: POST /v1/debug/crash/{actor} kills "
                 "supervised actors");
    deps.coordinator = caf::actor_cast<caf::actor>(self);
  }
  return deps;
}

/// The first gateway. It tells the coordinator its port (`listening`); its
/// supervisor starts then, and starts each successor on that port (its
/// clients reconnect; what was acknowledged is stored).
void spawn_gateway(coordinator_actor* self) {
  auto& st = self->state;
  webhook_settings ws;
  ws.db_url = st.cfg.db_url;
  ws.secret = st.cfg.webhook_secret;
  ws.timeout = std::chrono::milliseconds(st.cfg.webhook_timeout_ms);
  ws.max_attempts = st.cfg.webhook_max_attempts;
  ws.retry_base = std::chrono::milliseconds(st.cfg.webhook_retry_base_ms);
  ws.retry_max = std::chrono::milliseconds(st.cfg.webhook_retry_max_ms);
  ws.concurrency = st.cfg.webhook_concurrency;
  ws.allow_private = st.cfg.webhook_allow_private != 0;
  st.webhooks = spawn_webhook_sender(self->system(), ws);
  // (It reads only while the gateway has event streams open.)
  st.event_hub = spawn_event_hub(
    self->system(),
    event_hub_settings{st.cfg.db_url,
                       std::chrono::milliseconds(st.cfg.events_poll_ms)});
  st.gcfg = gateway_settings(st.cfg);
  st.gdeps = gateway_dependencies(self);
  st.gateway = self->system().middleman().spawn_broker(
    gateway, st.gcfg, st.gdeps, caf::actor_cast<caf::actor>(self));
  self->monitor(st.gateway);
}

/// Worker nodes join the dispatcher here. The cluster guard listens and
/// hands BASP only the connections that proved the cluster secret (CAF
/// 0.17.6 would otherwise allocate whatever payload length a stranger's
/// first header announces; docs/SECURITY.md); with TLS their TLS handshake
/// comes next, with a client certificate required, before any BASP byte.
caf::error start_cluster_port(coordinator_actor* self) {
  auto& st = self->state;
  cluster_guard_config ccfg;
  ccfg.host = st.cfg.cluster_host;
  ccfg.port = st.cfg.cluster_port;
  ccfg.secret = st.cfg.cluster_secret;
  ccfg.handshake_timeout
    = std::chrono::milliseconds(st.cfg.cluster_handshake_timeout_ms);
  ccfg.max_handshakes = static_cast<size_t>(st.cfg.cluster_max_handshakes);
  ccfg.stats = st.guard_stats;
  auto started = guard_cluster_port(self->system(), st.disp, std::move(ccfg),
                                    st.cfg.tls());
  if (!started)
    return std::move(started.error());
  st.guard = std::move(*started);
  st.cluster_port = st.guard->port();
  return caf::none;
}

/// Both ports listen, or `err` kept one from listening: answers who waits.
void started(coordinator_actor* self, caf::error err) {
  auto& st = self->state;
  st.started = true;
  st.start_error = std::move(err);
  if (!st.ready.pending())
    return;
  if (st.start_error)
    st.ready.deliver(st.start_error);
  else
    st.ready.deliver(st.http_port, st.cluster_port);
}

/// The gateway listens: supervise it, then open the cluster port.
void listening(coordinator_actor* self, uint16_t http_port) {
  auto& st = self->state;
  if (st.started || st.stopping)
    return; // a restarted gateway
  st.http_port = http_port;
  supervisor_hooks hooks;
  hooks.adopt = st.gateway;
  st.gcfg.port = http_port;
  hooks.spawn = [&sys = self->system(), gcfg = st.gcfg, deps = st.gdeps,
                 me = caf::actor_cast<caf::actor>(self)](uint64_t) {
    return sys.middleman().spawn_broker(gateway, gcfg, deps, me);
  };
  hooks.restarted = [tel = st.tel](const caf::actor&, uint64_t,
                                   const std::string& why) {
    tel->supervision.restarted("gateway", why);
    tel->stats.supervisor_restart("gateway");
  };
  self->demonitor(st.gateway);
  st.gateway_sup = supervised(self, "gateway", std::move(hooks));
  if (auto err = start_cluster_port(self)) {
    log::error(st.name, "cannot listen for worker nodes",
               {{"host", st.cfg.cluster_host},
                {"port", st.cfg.cluster_port},
                {"error", self->system().render(err)}});
    started(self, std::move(err));
    return;
  }
  log::info(st.name, "cluster listening",
            {{"host", st.cfg.cluster_host},
             {"port", st.cluster_port},
             {"tls", st.cfg.tls()}});
  log::info(st.name, "listening",
            {{"host", st.cfg.http_host},
             {"port", http_port},
             {"url", "http://" + st.cfg.http_host + ":"
                       + std::to_string(http_port)}});
  started(self, caf::none);
}

/// Something the coordinator watches went down: the first gateway (it could
/// not listen), a supervisor (it gave up) or an unsupervised actor.
void on_down(coordinator_actor* self, const caf::down_msg& msg) {
  auto& st = self->state;
  if (st.stopping)
    return;
  if (msg.source == st.gateway.address()) {
    // Once it listens, its supervisor took it over (this news may be older).
    if (st.started)
      return;
    log::error(st.name, "cannot listen for HTTP",
               {{"host", st.cfg.http_host},
                {"port", st.cfg.http_port},
                {"error", self->system().render(msg.reason)}});
    started(self, msg.reason ? msg.reason
                             : caf::make_error(caf::sec::runtime_error));
    return;
  }
  std::string what = "a supervisor gave up; stopping";
  std::string who;
  for (auto& [name, hdl] : st.supervisors)
    if (hdl.address() == msg.source)
      who = name;
  for (auto& [name, hdl] : st.unsupervised)
    if (hdl.address() == msg.source) {
      who = name;
      what = "an unsupervised actor died; stopping";
    }
  log::error(st.name, what,
             {{"actor", who}, {"reason", caf::to_string(msg.reason)}});
  if (!st.gave_up) {
    st.gave_up = true;
    // The main thread waits for a signal; the ordered stop comes from it.
    kill(getpid(), SIGTERM);
  }
}

/// Asks each actor to exit, in order (a null handle is skipped).
template <class... Handles>
void exit_all(const Handles&... hdls) {
  (caf::anon_send_exit(hdls, caf::exit_reason::user_shutdown), ...);
}

/// The last step of the ordered stop: persistence, once it has written what
/// it holds (or after 10 s).
void finish_stop(coordinator_actor* self) {
  auto& st = self->state;
  exit_all(st.pers_sup, st.pers_relay, st.pers.reader, st.db_monitor,
           st.pers.cache.writer, st.retention, st.event_hub, st.webhooks);
  st.stopped.deliver(int32_t{st.gave_up || st.start_error ? 1 : 0});
  self->quit();
}

/// Asks persistence whether it has written everything; finishes when it has,
/// when it cannot answer, or at the deadline.
void drain_persistence(coordinator_actor* self) {
  auto& st = self->state;
  if (self->clock().now() >= st.drain_deadline) {
    log::warning(st.name, "shutting down with unwritten task updates; they "
                          "are recovered at the next start");
    finish_stop(self);
    return;
  }
  self->request(st.pers.batcher, std::chrono::seconds(2), status_atom_v)
    .then(
      [self](const persistence_status& ps) {
        if (ps.backlog_rows == 0 && ps.waiting_submits == 0)
          finish_stop(self);
        else
          self->delayed_send(self, std::chrono::milliseconds(50),
                             tick_atom_v);
      },
      [self](caf::error&) { finish_stop(self); });
}

/// Ordered stop: no new requests, no new dispatches, the tasks, then
/// persistence once it has written what it holds.
caf::result<int32_t> stop_in_order(coordinator_actor* self, bool drain) {
  auto& st = self->state;
  if (st.stopping)
    return caf::make_error(caf::sec::runtime_error, "already stopping");
  st.stopping = true;
  if (st.guard) {
    st.guard->stop();
    auto counts = port_status(*st.guard_stats);
    log::info(st.name, "cluster guard stopped", status_json(counts));
    // BASP registered the dispatcher on the port with the first node
    // admitted; forget it as unpublishing did. The nodes' connections stay
    // until the actor system ends, as before.
    if (counts.admitted > 0)
      self->send(self->system().middleman().actor_handle(), caf::unpublish_atom_v,
                 st.disp.address(), st.cluster_port);
  }
  if (st.dcfg.peers) {
    std::lock_guard<std::mutex> guard{st.dcfg.peers->mtx};
    st.dcfg.peers->manager = nullptr;
    st.dcfg.peers->pull_hub = nullptr;
  }
  exit_all(st.gateway_sup, st.gateway, st.local_node, st.pull_hub,
           st.disp_sup, st.disp, st.manager);
  st.stopped = self->make_response_promise<int32_t>();
  if (!drain) {
    // Deposed: the fence refuses whatever persistence still holds; the
    // coordinator that took over recovered from the database.
    log::info(st.name, "not waiting for unwritten task updates: another "
                       "coordinator took over");
    finish_stop(self);
    return st.stopped;
  }
  st.drain_deadline = self->clock().now() + std::chrono::seconds(10);
  drain_persistence(self);
  return st.stopped;
}

/// Fault injection: kills the named actor (a supervisor's current child).
caf::result<bool> crash(coordinator_actor* self, const std::string& name) {
  auto& st = self->state;
  if (auto i = st.unsupervised.find(name); i != st.unsupervised.end()) {
    self->send_exit(i->second, caf::exit_reason::kill);
    return true;
  }
  auto i = st.supervisors.find(name);
  if (i == st.supervisors.end())
    return false;
  auto rp = self->make_response_promise<bool>();
  self->request(i->second, std::chrono::seconds(2), get_atom_v)
    .then(
      [self, rp](const caf::actor& child) mutable {
        self->send_exit(child, caf::exit_reason::kill);
        rp.deliver(true);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::behavior coordinator(coordinator_actor* self, config cfg,
                          std::shared_ptr<const registry> reg,
                          leadership_view_ptr leader) {
  self->state.cfg = std::move(cfg);
  self->state.reg = std::move(reg);
  self->state.leader = std::move(leader);
  spawn_persistence_tree(self);
  spawn_dispatcher_tree(self);
  spawn_task_manager(self);
  spawn_retention(self);
  build_params_index(self);
  supervise(self);
  spawn_local_node(self);
  spawn_gateway(self);
  self->set_down_handler(
    [self](const caf::down_msg& msg) { on_down(self, msg); });
  return {
    [self](ok_atom, uint16_t http_port) { listening(self, http_port); },
    [self](get_atom) -> caf::result<uint16_t, uint16_t> {
      auto& st = self->state;
      if (!st.started) {
        st.ready = self->make_response_promise<uint16_t, uint16_t>();
        return st.ready;
      }
      if (st.start_error)
        return st.start_error;
      return {st.http_port, st.cluster_port};
    },
    [self](stop_atom) { return stop_in_order(self, true); },
    [self](stop_atom, bool drain) { return stop_in_order(self, drain); },
    [self](tick_atom) { drain_persistence(self); },
    [self](crash_atom, const std::string& name) { return crash(self, name); },
  };
}

} // namespace

gateway_config gateway_settings(const config& cfg) {
  gateway_config gcfg;
  gcfg.host = cfg.http_host;
  gcfg.port = cfg.http_port;
  gcfg.max_body_bytes = static_cast<uint64_t>(cfg.max_body_bytes);
  gcfg.max_header_bytes = static_cast<uint64_t>(cfg.max_header_bytes);
  gcfg.auth_token = cfg.auth_token;
  gcfg.worker_token = cfg.worker_token;
  gcfg.cluster_secret = cfg.cluster_secret;
  gcfg.lease_timeout_ms = cfg.lease_timeout_ms;
  gcfg.max_connections = static_cast<size_t>(cfg.max_connections);
  gcfg.header_timeout = std::chrono::milliseconds(cfg.header_timeout_ms);
  gcfg.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  gcfg.max_pipeline = static_cast<size_t>(cfg.max_pipeline);
  gcfg.max_request_buffer_bytes
    = static_cast<size_t>(cfg.max_request_buffer_bytes);
  gcfg.max_unsent_total = static_cast<size_t>(cfg.max_response_buffer_bytes);
  gcfg.max_event_streams = static_cast<size_t>(cfg.max_event_streams);
  gcfg.event_buffer_bytes = static_cast<size_t>(cfg.event_buffer_bytes);
  gcfg.event_keepalive = std::chrono::milliseconds(cfg.event_keepalive_ms);
  gcfg.limits = {cfg.default_max_attempts, cfg.default_timeout_ms,
                 cfg.max_batch};
  return gcfg;
}

caf::actor spawn_coordinator(caf::actor_system& sys, const config& cfg,
                             std::shared_ptr<const registry> reg,
                             leadership_view_ptr leader) {
  return sys.spawn(coordinator, cfg, std::move(reg), std::move(leader));
}

} // namespace tasker
