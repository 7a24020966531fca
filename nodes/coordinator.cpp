#include "nodes/coordinator.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/all.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/except>

#include "common/log.hpp"
#include "common/version.hpp"
#include "messages/registration.hpp"
#include "messages/atoms.hpp"
#include "nodes/coordinator_actor.hpp"
#include "persistence/database.hpp"
#include "tasks/declared.hpp"

namespace tasker {

namespace {

constexpr const char* component = "coordinator";

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

} // namespace

void configure_node(caf::actor_system_config& sys_cfg, const config& cfg) {
  add_message_types(sys_cfg);
  sys_cfg.load<caf::io::middleman>();
  sys_cfg.set("logger.console", caf::atom("none"));
  // Both sides of every node connection send heartbeats and declare the peer
  // lost after 5 s of silence; the settings must match on all nodes.
  sys_cfg.set("middleman.heartbeat-interval",
              caf::timespan{std::chrono::seconds(1)});
  sys_cfg.set("middleman.connection-timeout",
              caf::timespan{std::chrono::seconds(5)});
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

std::shared_ptr<const registry> load_registry(const config& cfg,
                                              const char* component) {
  auto reg = builtin_registry(task_limits{cfg.max_text_bytes, cfg.max_top_n});
  try {
    if (!cfg.task_types.empty())
      add_declared_types(reg, cfg.task_types);
  } catch (const std::exception& e) {
    log::error(component, "cannot load the declared task types",
               {{"error", e.what()}});
    return nullptr;
  }
  return std::make_shared<const registry>(std::move(reg));
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
  log::info(component, "starting",
            {{"command", cfg.command}, {"version", version()},
             {"commit", version_commit()}, {"built", build_date()}});
  auto reg = load_registry(cfg, component);
  if (!reg)
    return 2;
  if (!migrate(cfg.db_url))
    return 1;
  caf::actor_system_config sys_cfg;
  configure_node(sys_cfg, cfg);
  auto threads = cfg.scheduler_threads > 0
                   ? static_cast<size_t>(cfg.scheduler_threads)
                   : std::max<size_t>(2, std::thread::hardware_concurrency());
  sys_cfg.set("scheduler.max-threads", threads);
  sys_cfg.set("scheduler.policy", cfg.scheduler_policy == "sharing"
                                     ? caf::atom("sharing")
                                     : caf::atom("stealing"));
  caf::actor_system sys{sys_cfg};
  auto coordinator = spawn_coordinator(sys, cfg, reg);
  caf::scoped_actor self{sys};
  bool started = false;
  self->request(coordinator, caf::infinite, get_atom_v)
    .receive(
      [&](uint16_t http_port, uint16_t) {
        started = true;
        log::flush();
        if (cfg.command == "dev")
          std::printf("tasker is running at http://%s:%u  (Ctrl-C stops it)\n",
                      cfg.http_host.c_str(), static_cast<unsigned>(http_port));
        std::fflush(stdout);
      },
      [](caf::error&) {
        // (logged by the coordinator; stops in order below)
      });
  if (started) {
    int sig = 0;
    sigwait(&signals, &sig);
    log::info(component, "shutting down", {{"signal", sig}});
  }
  int32_t exit_code = 1;
  self->request(coordinator, caf::infinite, stop_atom_v)
    .receive([&](int32_t code) { exit_code = code; },
             [](caf::error&) {});
  return exit_code;
}

} // namespace tasker
