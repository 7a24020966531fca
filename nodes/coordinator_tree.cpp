#include "nodes/coordinator_tree.hpp"

#include <chrono>
#include <csignal>
#include <future>
#include <thread>

#include <unistd.h>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "gateway/gateway.hpp"
#include "messages/error.hpp"
#include "nodes/node_agent.hpp"

namespace tasker {

namespace {

constexpr const char* component = "coordinator";

/// Watches the actors that nothing restarts in place, the task manager and
/// the reader: if one dies, the coordinator stops with exit code 1, as when
/// restarts come too fast, and recovery at the next start takes over.
caf::behavior watch_unsupervised(caf::event_based_actor* self,
                                 std::vector<std::pair<std::string, caf::actor>>
                                   watched,
                                 std::function<void()> give_up) {
  auto names = std::make_shared<std::map<caf::actor_addr, std::string>>();
  for (auto& [name, hdl] : watched) {
    (*names)[hdl.address()] = name;
    self->monitor(hdl);
  }
  self->set_down_handler([self, names, give_up](caf::down_msg& msg) {
    log::error(component, "an unsupervised actor died; stopping",
               {{"actor", (*names)[msg.source]},
                {"reason", caf::to_string(msg.reason)}});
    give_up();
    self->quit();
  });
  return {[](ok_atom) {}};
}

/// Waits until the persistence actor has written everything it holds.
void drain_persistence(caf::actor_system& sys, const persistence_actor& p) {
  caf::scoped_actor self{sys};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    bool idle = false;
    self->request(p, std::chrono::seconds(2), status_atom_v)
      .receive(
        [&](const persistence_status& st) {
          idle = st.backlog_rows == 0 && st.waiting_submits == 0;
        },
        [&](caf::error&) { idle = true; });
    if (idle)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  log::warning(component, "shutting down with unwritten task updates; they "
                          "are recovered at the next start");
}

} // namespace

coordinator_tree::coordinator_tree(caf::actor_system& sys,
                                 const config& cfg)
  : sys(sys), cfg(cfg) {
  tel->state.db_up = true;
  give_up = [flag = gave_up] {
    *flag = true;
    kill(getpid(), SIGTERM); // the main thread shuts down in order
  };
}

/// The writers, the reader and the batcher, the batcher behind a relay
/// whose handle the gateway and the dispatcher hold (the task manager and
/// the task actors hold the batcher itself). Its supervisor starts once the
/// task manager exists (`supervise`): a batcher that dies is replaced
/// (taking over the writers) and the relay forwards to the new one. What it
/// held dies with it, and nobody answers for it, so the task manager is
/// told, with the new handle: a submission waiting for its commit is settled
/// by a barrier and a read-back (stored: the client gets its 202; not
/// stored: 503), its own writes are sent again, and every live task writes
/// its state again (a finishing one its terminal state, awaited).
void spawn_persistence_tree(coordinator_tree& t) {
  persistence_config pcfg{t.cfg.db_url, t.cfg.db_writers,
                          t.cfg.batch_max_rows};
  t.pers = spawn_persistence(t.sys, pcfg, t.tel);
  t.pers_relay = t.sys.spawn(relay);
  caf::anon_send(t.pers_relay, retarget_atom_v,
                 caf::actor_cast<caf::actor>(t.pers.batcher));
  t.pers_hooks.adopt = caf::actor_cast<caf::actor>(t.pers.batcher);
  t.children->set("persistence", t.pers_hooks.adopt);
  t.pers_hooks.spawn = [&sys = t.sys, writers = t.pers.writers,
                        rows = pcfg.batch_max_rows, tel = t.tel,
                        relay = t.pers_relay, children = t.children] {
    auto b = caf::actor_cast<caf::actor>(
      sys.spawn(persistence, writers, rows, tel));
    caf::anon_send(relay, retarget_atom_v, b);
    children->set("persistence", b);
    return b;
  };
  t.pers_hooks.gave_up = t.give_up;
  t.pers.batcher = caf::actor_cast<persistence_actor>(t.pers_relay);
}

/// The first dispatcher behind its relay: the relay is the handle the
/// gateway and every worker node hold (it is what the cluster port
/// publishes). The first dispatcher is in place before any actor can send to
/// the relay; its supervisor starts in `supervise`.
void spawn_dispatcher_tree(coordinator_tree& t) {
  auto& dcfg = t.dcfg;
  dcfg.cluster_secret = t.cfg.cluster_secret;
  dcfg.suspect_after_ms = t.cfg.node_suspect_ms;
  dcfg.dead_after_ms = t.cfg.node_dead_ms;
  dcfg.registry = t.pers.batcher;
  dcfg.max_db_backlog = t.cfg.max_db_backlog;
  t.disp_relay = t.sys.spawn(relay);
  t.disp = caf::actor_cast<dispatcher_actor>(t.disp_relay);
  t.first_disp = t.sys.spawn(dispatcher, dcfg, t.tel);
  caf::anon_send(t.disp_relay, retarget_atom_v,
                 caf::actor_cast<caf::actor>(t.first_disp));
  t.children->set("dispatcher", caf::actor_cast<caf::actor>(t.first_disp));
}

/// The task manager, which talks to the dispatcher and the batcher
/// themselves, not through the relays (one hop less per message; each
/// restart hands it the new one), and the watcher of what nothing restarts
/// in place (the task manager and the reader).
void spawn_task_manager(coordinator_tree& t) {
  auto& cfg = t.cfg;
  task_manager_config tcfg;
  tcfg.backoff = {cfg.retry_base_ms, cfg.retry_max_ms};
  tcfg.result_cache_size = static_cast<size_t>(cfg.result_cache_size);
  tcfg.max_pending = static_cast<size_t>(cfg.max_pending);
  tcfg.submit_timeout = std::chrono::milliseconds(cfg.submit_timeout_ms);
  tcfg.horizon_ms = cfg.delay_horizon_ms;
  tcfg.load_page = static_cast<int32_t>(cfg.load_page);
  t.manager = t.sys.spawn(
    task_manager, t.first_disp,
    caf::actor_cast<persistence_actor>(t.children->get("persistence")),
    t.pers.reader, tcfg, t.tel);
  t.children->set("task_manager", caf::actor_cast<caf::actor>(t.manager));
  t.children->set("reader", caf::actor_cast<caf::actor>(t.pers.reader));
  t.watcher = t.sys.spawn(
    watch_unsupervised,
    std::vector<std::pair<std::string, caf::actor>>{
      {"task_manager", caf::actor_cast<caf::actor>(t.manager)},
      {"reader", caf::actor_cast<caf::actor>(t.pers.reader)}},
    t.give_up);
}

/// The supervisors of the dispatcher and the batcher, which tell the task
/// manager of each restart. A dispatcher that dies takes its queues and the
/// attempts it handed out with it. Its successor (one generation on) starts
/// empty: worker nodes join it again when it answers their next heartbeat
/// with "not a member", and every live task queues its attempt again; an
/// attempt the dead one had started counts as lost and runs again
/// (at-least-once, as when a node is lost).
void supervise(coordinator_tree& t) {
  auto generation = std::make_shared<uint64_t>(0);
  supervisor_hooks disp_hooks;
  disp_hooks.adopt = t.children->get("dispatcher");
  disp_hooks.spawn = [&sys = t.sys, dcfg = t.dcfg, tel = t.tel,
                      relay = t.disp_relay, generation,
                      children = t.children] {
    auto c = dcfg;
    c.generation = ++*generation;
    auto d = caf::actor_cast<caf::actor>(sys.spawn(dispatcher, c, tel));
    caf::anon_send(relay, retarget_atom_v, d);
    children->set("dispatcher", d);
    return d;
  };
  disp_hooks.restarted = [tel = t.tel, manager = t.manager, generation,
                          children = t.children] {
    ++tel->state.dispatcher_restarts;
    tel->stats.supervisor_restart("dispatcher");
    caf::anon_send(manager, redispatch_atom_v, *generation,
                   children->get("dispatcher"));
  };
  disp_hooks.gave_up = t.give_up;
  t.disp_sup = t.sys.spawn(supervisor, supervisor_config{"dispatcher"},
                           disp_hooks);
  t.pers_hooks.restarted = [tel = t.tel, manager = t.manager,
                            children = t.children] {
    ++tel->state.persistence_restarts;
    tel->stats.supervisor_restart("persistence");
    caf::anon_send(manager, rewrite_atom_v, children->get("persistence"));
  };
  t.pers_sup = t.sys.spawn(supervisor, supervisor_config{"persistence"},
                           t.pers_hooks);
}

/// The coordinator's own worker node, when it has slots.
void spawn_local_node(coordinator_tree& t) {
  t.reg = std::make_shared<const registry>(
    builtin_registry(task_limits{t.cfg.max_text_bytes, t.cfg.max_top_n}));
  if (t.cfg.local_slots > 0)
    t.local_node = t.sys.spawn(node_agent, t.disp,
                               node_agent_config{"local", t.cfg.local_slots},
                               t.reg);
}

/// The gateway under its supervisor: a gateway that dies is started again on
/// the port it had (its clients reconnect; what was acknowledged is stored).
/// Waits until the first one listens (or failed to).
void spawn_gateway_tree(coordinator_tree& t) {
  auto& cfg = t.cfg;
  gateway_config gcfg;
  gcfg.host = cfg.http_host;
  gcfg.port = cfg.http_port;
  gcfg.max_body_bytes = static_cast<uint64_t>(cfg.max_body_bytes);
  gcfg.max_header_bytes = static_cast<uint64_t>(cfg.max_header_bytes);
  gcfg.auth_token = cfg.auth_token;
  gcfg.max_connections = static_cast<size_t>(cfg.max_connections);
  gcfg.header_timeout = std::chrono::milliseconds(cfg.header_timeout_ms);
  gcfg.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  gcfg.max_pipeline = static_cast<size_t>(cfg.max_pipeline);
  gcfg.max_request_buffer_bytes
    = static_cast<size_t>(cfg.max_request_buffer_bytes);
  gcfg.max_unsent_total = static_cast<size_t>(cfg.max_response_buffer_bytes);
  gcfg.limits = {cfg.default_max_attempts, cfg.default_timeout_ms,
                 cfg.max_batch};
  gateway_deps gdeps{t.manager, t.disp, t.pers.reader, t.pers.batcher,
                     t.reg,     t.tel,  {},           {}};
  // The cluster guard (started later) counts into this; /v1/cluster shows
  // it.
  gdeps.cluster_port = [stats = t.guard_stats] {
    auto& st = *stats;
    return cluster_port_status{st.admitted.load(),  st.pending.load(),
                               st.bad_mac.load(),   st.bad_magic.load(),
                               st.timed_out.load(), st.refused_busy.load(),
                               st.dropped.load()};
  };
  if (cfg.fault_injection != 0) {
    log::warning(component, "fault injection is on: POST "
                            "/v1/debug/crash/{actor} kills supervised actors");
    gdeps.crash = [children = t.children](const std::string& name) {
      auto child = children->get(name);
      if (!child)
        return false;
      caf::anon_send_exit(child, caf::exit_reason::kill);
      return true;
    };
  }
  auto listening = std::make_shared<std::promise<caf::expected<uint16_t>>>();
  auto port_future = listening->get_future();
  auto bound_port = std::make_shared<std::atomic<uint16_t>>(0);
  supervisor_hooks hooks;
  hooks.spawn = [&sys = t.sys, gcfg, gdeps, listening, bound_port]() mutable {
    auto c = gcfg;
    auto promise = listening;
    if (auto p = bound_port->load(); p != 0) {
      c.port = p;
      promise = std::make_shared<std::promise<caf::expected<uint16_t>>>();
    }
    return sys.middleman().spawn_broker(gateway, c, gdeps, promise);
  };
  hooks.restarted = [tel = t.tel] {
    ++tel->state.gateway_restarts;
    tel->stats.supervisor_restart("gateway");
  };
  hooks.gave_up = t.give_up;
  t.gateway_sup = t.sys.spawn(supervisor, supervisor_config{"gateway"}, hooks);
  t.http_port = port_future.get();
  if (t.http_port)
    *bound_port = *t.http_port;
}

/// Worker nodes join the dispatcher here. The cluster guard listens and
/// hands BASP only the connections that proved the cluster secret (CAF
/// 0.17.6 would otherwise allocate whatever payload length a stranger's
/// first header announces; docs/SECURITY.md); with TLS their TLS handshake
/// comes next, with a client certificate required, before any BASP byte.
void start_cluster_port(coordinator_tree& t) {
  cluster_guard_config ccfg;
  ccfg.host = t.cfg.cluster_host;
  ccfg.port = t.cfg.cluster_port;
  ccfg.secret = t.cfg.cluster_secret;
  ccfg.handshake_timeout
    = std::chrono::milliseconds(t.cfg.cluster_handshake_timeout_ms);
  ccfg.max_handshakes = static_cast<size_t>(t.cfg.cluster_max_handshakes);
  ccfg.stats = t.guard_stats;
  auto started = guard_cluster_port(t.sys, t.disp, std::move(ccfg),
                                    t.cfg.tls());
  if (started) {
    t.guard = std::move(*started);
    t.cluster_port = t.guard->port();
  } else {
    t.cluster_port = std::move(started.error());
  }
}

/// Ordered shutdown: no new requests, no new dispatches, the tasks, then
/// persistence once it has written what it holds.
void stop_in_order(coordinator_tree& t) {
  if (t.cluster_port) {
    t.guard->stop();
    auto& st = t.guard->stats();
    log::info(component, "cluster guard stopped",
              {{"admitted", st.admitted.load()},
               {"wrong_secret", st.bad_mac.load()},
               {"not_tasker", st.bad_magic.load()},
               {"timed_out", st.timed_out.load()},
               {"refused_busy", st.refused_busy.load()},
               {"dropped", st.dropped.load()}});
    // BASP registered the dispatcher on the port with the first node
    // admitted; forget it as unpublishing did. The nodes' connections stay
    // until the actor system ends, as before.
    if (st.admitted.load() > 0)
      t.sys.middleman().unpublish(t.disp, *t.cluster_port);
  }
  caf::anon_send_exit(t.watcher, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(t.gateway_sup, caf::exit_reason::user_shutdown);
  if (t.local_node)
    caf::anon_send_exit(t.local_node, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(t.disp_sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(t.disp_relay, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(t.manager, caf::exit_reason::user_shutdown);
  drain_persistence(t.sys, t.pers.batcher);
  caf::anon_send_exit(t.pers_sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(t.pers_relay, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(t.pers.reader, caf::exit_reason::user_shutdown);
}

} // namespace tasker
