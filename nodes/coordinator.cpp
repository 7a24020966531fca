#include "nodes/coordinator.hpp"

#include <chrono>
#include <cstdio>
#include <atomic>
#include <csignal>
#include <functional>
#include <map>
#include <mutex>
#include <unistd.h>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/all.hpp>
#include <caf/function_view.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/except>

#include "actors/dispatcher.hpp"
#include "actors/supervisor.hpp"
#include "actors/task_manager.hpp"
#include "common/log.hpp"
#include "common/telemetry.hpp"
#include "gateway/gateway.hpp"
#include "messages/error.hpp"
#include "messages/registration.hpp"
#include "nodes/cluster_guard.hpp"
#include "nodes/node_agent.hpp"
#include "persistence/database.hpp"
#include "persistence/persistence.hpp"
#include "persistence/watchdog.hpp"

namespace tasker {

namespace {

constexpr const char* component = "coordinator";

/// The current child of each supervisor, by name.
class supervised_children {
public:
  void set(const std::string& name, caf::actor child) {
    std::lock_guard<std::mutex> guard{mtx_};
    children_[name] = std::move(child);
  }
  caf::actor get(const std::string& name) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = children_.find(name);
    return i != children_.end() ? i->second : caf::actor{};
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, caf::actor> children_;
};

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

/// Applies migrations, waiting up to 30 s for the database to accept us.
bool migrate(const std::string& url) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    try {
      database db{url};
      auto n = db.migrate();
      log::info(component, "database schema is current",
                {{"migrations_applied", n}});
      return true;
    } catch (const pqxx::broken_connection& e) {
      if (std::chrono::steady_clock::now() > deadline) {
        log::error(component, "cannot connect to the database",
                   {{"error", e.what()}});
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    } catch (const std::exception& e) {
      log::error(component, "migrations failed", {{"error", e.what()}});
      return false;
    }
  }
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

void set_node_transport(caf::actor_system_config& sys_cfg, const config& cfg) {
  if (!cfg.tls())
    return;
  // Known CAF 0.17.6 flaw: a connection that fails its TLS handshake (a
  // client without TLS, say) makes the multiplexer drop the established TLS
  // connections too; workers rejoin at once, and attempts lost that way
  // run again. (Only a holder of the cluster secret gets that far: the
  // cluster guard comes first.)
  sys_cfg.load<caf::openssl::manager>();
  sys_cfg.openssl_certificate = cfg.tls_cert;
  sys_cfg.openssl_key = cfg.tls_key;
  sys_cfg.openssl_cafile = cfg.tls_ca;
}

void set_node_liveness(caf::actor_system_config& sys_cfg) {
  // Both sides of every node connection send heartbeats and declare the peer
  // lost after 5 s of silence; the settings must match on all nodes.
  sys_cfg.set("middleman.heartbeat-interval",
              caf::timespan{std::chrono::seconds(1)});
  sys_cfg.set("middleman.connection-timeout",
              caf::timespan{std::chrono::seconds(5)});
}

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int run_coordinator(const config& cfg) {
  // Signals are taken by sigwait below; every thread inherits the mask.
  auto signals = block_stop_signals();
  if (!migrate(cfg.db_url))
    return 1;
  caf::actor_system_config sys_cfg;
  add_message_types(sys_cfg);
  sys_cfg.load<caf::io::middleman>();
  auto threads = cfg.scheduler_threads > 0
                   ? static_cast<size_t>(cfg.scheduler_threads)
                   : std::max<size_t>(2, std::thread::hardware_concurrency());
  sys_cfg.set("scheduler.max-threads", threads);
  sys_cfg.set("scheduler.policy", cfg.scheduler_policy == "sharing"
                                     ? caf::atom("sharing")
                                     : caf::atom("stealing"));
  sys_cfg.set("logger.console", caf::atom("none"));
  set_node_liveness(sys_cfg);
  set_node_transport(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto tel = std::make_shared<telemetry>();
  tel->state.db_up = true;
  persistence_config pcfg{cfg.db_url, cfg.db_writers, cfg.batch_max_rows};
  auto pers = spawn_persistence(sys, pcfg, tel);
  auto gave_up = std::make_shared<std::atomic<bool>>(false);
  auto give_up = [gave_up] {
    *gave_up = true;
    kill(getpid(), SIGTERM); // the main thread shuts down in order
  };
  // The batching persistence actor runs under a supervisor (started below,
  // once the task manager exists), behind a relay whose handle the gateway
  // and the dispatcher hold (the task manager and the task actors hold the
  // batcher itself): a batcher that dies is replaced (taking over the
  // writers) and the relay forwards to the new one. What it held dies with
  // it, and nobody answers for it, so the task manager is told, with the new
  // handle: a submission waiting for its commit is settled by a barrier and a
  // read-back (stored: the client gets its 202; not stored: 503), its own
  // writes are sent again, and every live task writes its state again (a
  // finishing one its terminal state, awaited).
  // The current child of each supervisor (announced to the task manager with
  // each restart, and for fault injection).
  auto children = std::make_shared<supervised_children>();
  auto pers_relay = sys.spawn(relay);
  caf::anon_send(pers_relay, retarget_atom_v,
                 caf::actor_cast<caf::actor>(pers.batcher));
  supervisor_hooks pers_hooks;
  pers_hooks.adopt = caf::actor_cast<caf::actor>(pers.batcher);
  children->set("persistence", pers_hooks.adopt);
  pers_hooks.spawn = [&sys, pers, pcfg, tel, pers_relay, children] {
    auto b = caf::actor_cast<caf::actor>(
      sys.spawn(persistence, pers.writers, pcfg.batch_max_rows, tel));
    caf::anon_send(pers_relay, retarget_atom_v, b);
    children->set("persistence", b);
    return b;
  };
  pers_hooks.gave_up = give_up;
  pers.batcher = caf::actor_cast<persistence_actor>(pers_relay);
  // `/ready` follows the database within a second, also while idle.
  db_watchdog watchdog{cfg.db_url, tel, std::chrono::milliseconds(200),
                       std::chrono::milliseconds(500)};
  dispatcher_config dcfg;
  dcfg.cluster_secret = cfg.cluster_secret;
  dcfg.suspect_after_ms = cfg.node_suspect_ms;
  dcfg.dead_after_ms = cfg.node_dead_ms;
  dcfg.registry = pers.batcher;
  dcfg.max_db_backlog = cfg.max_db_backlog;
  // The dispatcher too runs under a supervisor behind a relay: the relay is
  // the handle the gateway and every worker node hold (it is what the
  // cluster port publishes). The first dispatcher is in place before any
  // actor can send to the relay.
  auto disp_relay = sys.spawn(relay);
  auto disp = caf::actor_cast<dispatcher_actor>(disp_relay);
  auto first_disp = sys.spawn(dispatcher, dcfg, tel);
  caf::anon_send(disp_relay, retarget_atom_v,
                 caf::actor_cast<caf::actor>(first_disp));
  children->set("dispatcher", caf::actor_cast<caf::actor>(first_disp));
  task_manager_config tcfg;
  tcfg.backoff = {cfg.retry_base_ms, cfg.retry_max_ms};
  tcfg.result_cache_size = static_cast<size_t>(cfg.result_cache_size);
  tcfg.max_pending = static_cast<size_t>(cfg.max_pending);
  tcfg.submit_timeout = std::chrono::milliseconds(cfg.submit_timeout_ms);
  tcfg.horizon_ms = cfg.delay_horizon_ms;
  tcfg.load_page = static_cast<int32_t>(cfg.load_page);
  // The task manager and the task actors talk to the dispatcher and the
  // batcher themselves, not through the relays (one hop less per message);
  // each restart hands them the new one.
  auto manager = sys.spawn(
    task_manager, first_disp,
    caf::actor_cast<persistence_actor>(children->get("persistence")),
    pers.reader, tcfg, tel);
  children->set("task_manager", caf::actor_cast<caf::actor>(manager));
  children->set("reader", caf::actor_cast<caf::actor>(pers.reader));
  auto watcher = sys.spawn(
    watch_unsupervised,
    std::vector<std::pair<std::string, caf::actor>>{
      {"task_manager", caf::actor_cast<caf::actor>(manager)},
      {"reader", caf::actor_cast<caf::actor>(pers.reader)}},
    std::function<void()>{give_up});
  // A dispatcher that dies takes its queues and the attempts it handed out
  // with it. Its successor (one generation on) starts empty: worker nodes
  // join it again when it answers their next heartbeat with "not a member",
  // and every live task queues its attempt again; an attempt the dead one
  // had started counts as lost and runs again (at-least-once, as when a
  // node is lost).
  auto generation = std::make_shared<uint64_t>(0);
  supervisor_hooks disp_hooks;
  disp_hooks.adopt = children->get("dispatcher");
  disp_hooks.spawn = [&sys, dcfg, tel, disp_relay, generation, children] {
    auto c = dcfg;
    c.generation = ++*generation;
    auto d = caf::actor_cast<caf::actor>(sys.spawn(dispatcher, c, tel));
    caf::anon_send(disp_relay, retarget_atom_v, d);
    children->set("dispatcher", d);
    return d;
  };
  disp_hooks.restarted = [tel, manager, generation, children] {
    ++tel->state.dispatcher_restarts;
    tel->stats.supervisor_restart("dispatcher");
    caf::anon_send(manager, redispatch_atom_v, *generation,
                   children->get("dispatcher"));
  };
  disp_hooks.gave_up = give_up;
  auto disp_sup = sys.spawn(supervisor, supervisor_config{"dispatcher"},
                            disp_hooks);
  pers_hooks.restarted = [tel, manager, children] {
    ++tel->state.persistence_restarts;
    tel->stats.supervisor_restart("persistence");
    caf::anon_send(manager, rewrite_atom_v, children->get("persistence"));
  };
  auto pers_sup = sys.spawn(supervisor, supervisor_config{"persistence"},
                            pers_hooks);
  auto reg = std::make_shared<const registry>(
    builtin_registry(task_limits{cfg.max_text_bytes, cfg.max_top_n}));
  node_actor local_node;
  if (cfg.local_slots > 0)
    local_node = sys.spawn(node_agent, disp,
                           node_agent_config{"local", cfg.local_slots}, reg);
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
  gateway_deps gdeps{manager, disp, pers.reader, pers.batcher, reg, tel, {}, {}};
  // The cluster guard (started below, once the gateway listens) counts into
  // this; /v1/cluster shows it.
  auto guard_stats = std::make_shared<cluster_guard_stats>();
  gdeps.cluster_port = [guard_stats] {
    auto& st = *guard_stats;
    return nlohmann::json{{"admitted", st.admitted.load()},
                          {"in_exchange", st.pending.load()},
                          {"wrong_secret", st.bad_mac.load()},
                          {"not_tasker", st.bad_magic.load()},
                          {"timed_out", st.timed_out.load()},
                          {"refused_busy", st.refused_busy.load()},
                          {"dropped", st.dropped.load()}}
      .dump();
  };
  if (cfg.fault_injection != 0) {
    log::warning(component, "fault injection is on: POST "
                            "/v1/debug/crash/{actor} kills supervised actors");
    gdeps.crash = [children](const std::string& name) {
      auto child = children->get(name);
      if (!child)
        return false;
      caf::anon_send_exit(child, caf::exit_reason::kill);
      return true;
    };
  }
  auto listening = std::make_shared<std::promise<caf::expected<uint16_t>>>();
  auto port_future = listening->get_future();
  // The gateway runs under a supervisor: a gateway that dies is started again
  // on the port it had (its clients reconnect; what was acknowledged is
  // stored). Restarts that come too fast stop the coordinator.
  auto bound_port = std::make_shared<std::atomic<uint16_t>>(0);
  supervisor_hooks hooks;
  hooks.spawn = [&sys, gcfg, gdeps, listening, bound_port]() mutable {
    auto c = gcfg;
    auto promise = listening;
    if (auto p = bound_port->load(); p != 0) {
      c.port = p;
      promise = std::make_shared<std::promise<caf::expected<uint16_t>>>();
    }
    return sys.middleman().spawn_broker(gateway, c, gdeps, promise);
  };
  hooks.restarted = [tel] {
    ++tel->state.gateway_restarts;
    tel->stats.supervisor_restart("gateway");
  };
  hooks.gave_up = give_up;
  auto gw = sys.spawn(supervisor, supervisor_config{"gateway"}, hooks);
  auto port = port_future.get();
  if (port)
    *bound_port = *port;
  int exit_code = 0;
  // Worker nodes join the dispatcher here (before any load). The cluster
  // guard listens and hands BASP only the connections that proved the
  // cluster secret (CAF 0.17.6 would otherwise allocate whatever payload
  // length a stranger's first header announces; docs/SECURITY.md); with TLS
  // their TLS handshake comes next, with a client certificate required,
  // before any BASP byte.
  std::unique_ptr<cluster_guard> guard;
  caf::expected<uint16_t> cluster_port = uint16_t{0};
  {
    cluster_guard_config ccfg;
    ccfg.host = cfg.cluster_host;
    ccfg.port = cfg.cluster_port;
    ccfg.secret = cfg.cluster_secret;
    ccfg.handshake_timeout
      = std::chrono::milliseconds(cfg.cluster_handshake_timeout_ms);
    ccfg.max_handshakes = static_cast<size_t>(cfg.cluster_max_handshakes);
    ccfg.stats = guard_stats;
    auto started = guard_cluster_port(sys, disp, std::move(ccfg), cfg.tls());
    if (started) {
      guard = std::move(*started);
      cluster_port = guard->port();
    } else {
      cluster_port = std::move(started.error());
    }
  }
  if (!cluster_port) {
    log::error(component, "cannot listen for worker nodes",
               {{"host", cfg.cluster_host},
                {"port", cfg.cluster_port},
                {"error", sys.render(cluster_port.error())}});
    exit_code = 1;
  } else {
    log::info(component, "cluster listening",
              {{"host", cfg.cluster_host},
               {"port", *cluster_port},
               {"tls", cfg.tls()}});
  }
  if (exit_code != 0) {
    // (falls through to the ordered shutdown below)
  } else if (!port) {
    log::error(component, "cannot listen for HTTP",
               {{"host", cfg.http_host},
                {"port", cfg.http_port},
                {"error", sys.render(port.error())}});
    exit_code = 1;
  } else {
    log::info(component, "listening",
              {{"host", cfg.http_host},
               {"port", *port},
               {"url", "http://" + cfg.http_host + ":" + std::to_string(*port)}});
    log::flush();
    if (cfg.command == "dev")
      std::printf("tasker is running at http://%s:%u  (Ctrl-C stops it)\n",
                  cfg.http_host.c_str(), static_cast<unsigned>(*port));
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    if (*gave_up)
      exit_code = 1;
    log::info(component, "shutting down", {{"signal", sig}});
  }
  // Ordered shutdown: no new requests, no new dispatches, the tasks, then
  // persistence once it has written what it holds.
  if (cluster_port) {
    guard->stop();
    auto& st = guard->stats();
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
      sys.middleman().unpublish(disp, *cluster_port);
  }
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  if (local_node)
    caf::anon_send_exit(local_node, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(disp_sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(disp_relay, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
  drain_persistence(sys, pers.batcher);
  caf::anon_send_exit(pers_sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(pers_relay, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(pers.reader, caf::exit_reason::user_shutdown);
  return exit_code;
}

} // namespace tasker
