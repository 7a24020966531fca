#include "nodes/coordinator.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include <unistd.h>

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
#include "nodes/standby.hpp"
#include "common/format.hpp"
#include "persistence/leadership.hpp"
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

std::string host_name(const char* fallback) {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0')
    return fallback;
  return buf;
}

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

namespace {

/// One actor system with its configuration (which must outlive it): one
/// per phase, standby or active.
struct node_system {
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;

  explicit node_system(const config& cfg) {
    configure_node(sys_cfg, cfg);
    auto threads
      = cfg.scheduler_threads > 0
          ? static_cast<size_t>(cfg.scheduler_threads)
          : std::max<size_t>(2, std::thread::hardware_concurrency());
    sys_cfg.set("scheduler.max-threads", threads);
    sys_cfg.set("scheduler.policy", cfg.scheduler_policy == "sharing"
                                      ? caf::atom("sharing")
                                      : caf::atom("stealing"));
    sys = std::make_unique<caf::actor_system>(sys_cfg);
  }
};


/// The host other coordinators, workers and load balancers reach this one at.
std::string advertised_host(const config& cfg) {
  if (!cfg.advertise_host.empty())
    return cfg.advertise_host;
  if (cfg.cluster_host.empty() || cfg.cluster_host == "0.0.0.0"
      || cfg.cluster_host == "::")
    return host_name("localhost");
  return cfg.cluster_host;
}

std::string address(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

/// Waits for SIGINT or SIGTERM for up to `timeout`; returns it, or 0.
int wait_signal(const sigset_t& signals, std::chrono::milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  auto sig = sigtimedwait(&signals, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

enum class phase_end { signal, elected, deposed, failed };

/// Stands by until this process is elected or a signal comes: the gateway
/// serves reads from the database and forwards writes to the active one.
phase_end stand_by(const config& cfg, std::shared_ptr<const registry> reg,
                   const leadership_view_ptr& view, leadership& lead,
                   const sigset_t& signals, int& sig) {
  node_system node{cfg};
  auto& sys = *node.sys;
  auto handles = spawn_standby(sys, cfg, reg, view);
  caf::scoped_actor self{sys};
  bool listening = false;
  self->request(handles.root, caf::infinite, get_atom_v)
    .receive(
      [&](uint16_t port) {
        listening = true;
        lead.set_addresses(address(advertised_host(cfg), port), "");
      },
      [](caf::error&) {});
  auto end = phase_end::failed;
  if (listening) {
    log::info(component, "standing by",
              {{"epoch", view->epoch()}, {"coordinator", lead.settings().name}});
    standby_link link{sys, cfg, view, handles};
    for (;;) {
      if ((sig = wait_signal(signals, std::chrono::milliseconds(100))) != 0) {
        end = *handles.failed ? phase_end::failed : phase_end::signal;
        break;
      }
      if (view->active()) {
        end = phase_end::elected;
        break;
      }
    }
    link.stop();
  }
  self->request(handles.root, caf::infinite, stop_atom_v)
    .receive([](int32_t) {}, [](caf::error&) {});
  return end;
}

/// Serves as the active coordinator until a signal comes or this process is
/// deposed; stops in order and sets the exit code.
phase_end serve_active(const config& cfg, std::shared_ptr<const registry> reg,
                       const leadership_view_ptr& view, leadership& lead,
                       const sigset_t& signals, bool& announced,
                       int32_t& exit_code) {
  node_system node{cfg};
  auto& sys = *node.sys;
  auto coordinator = spawn_coordinator(sys, cfg, reg, view);
  caf::scoped_actor self{sys};
  bool started = false;
  self->request(coordinator, caf::infinite, get_atom_v)
    .receive(
      [&](uint16_t http_port, uint16_t cluster_port) {
        started = true;
        auto host = advertised_host(cfg);
        lead.set_addresses(address(host, http_port),
                           address(host, cluster_port));
        log::flush();
        if (cfg.command == "dev" && !announced)
          std::printf("tasker is running at http://%s:%u  (Ctrl-C stops it)\n",
                      cfg.http_host.c_str(), static_cast<unsigned>(http_port));
        announced = true;
        std::fflush(stdout);
      },
      [](caf::error&) {
        // (logged by the coordinator; stops in order below)
      });
  auto end = phase_end::failed;
  if (started) {
    for (;;) {
      if (int sig = wait_signal(signals, std::chrono::milliseconds(100))) {
        log::info(component, "shutting down", {{"signal", sig}});
        end = phase_end::signal;
        break;
      }
      if (!view->active()) {
        end = phase_end::deposed;
        // Nothing of this phase may write any more (a connection opened
        // from now on is refused by the fence), and a writer waiting to
        // learn how an interrupted commit ended gives up.
        set_fencing_epoch(-1);
        break;
      }
    }
  }
  // A deposed coordinator's writes are refused: waiting for them to drain
  // would only delay the step down.
  exit_code = 1;
  self->request(coordinator, caf::infinite, stop_atom_v,
                end != phase_end::deposed)
    .receive([&](int32_t code) { exit_code = code; },
             [](caf::error&) {});
  return end;
}

} // namespace

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
  auto host = advertised_host(cfg);
  leadership_settings ls;
  ls.db_url = cfg.db_url;
  ls.id = make_uuid();
  ls.name = cfg.coordinator_name.empty()
              ? address(host_name("localhost"), cfg.http_port)
              : cfg.coordinator_name;
  ls.http_address = address(host, cfg.http_port);
  ls.cluster_address = address(host, cfg.cluster_port);
  ls.version = version();
  ls.lease = std::chrono::milliseconds(cfg.lease_ms);
  ls.renew_every = std::chrono::milliseconds(std::max<int64_t>(
    50, cfg.lease_ms / 6));
  ls.poll_every = std::chrono::milliseconds(std::max<int64_t>(
    50, std::min<int64_t>(200, cfg.lease_ms / 10)));
  auto view = std::make_shared<leadership_view>();
  leadership lead{ls, view};
  // Until it is elected, nothing this process connects with may write a
  // task (the fence refuses epoch -1).
  set_fencing_epoch(-1);
  lead.compete();
  bool announced = false;
  int32_t exit_code = 0;
  // Alone, a coordinator is elected at once: skip the standby's start.
  lead.wait_change(leadership_view::role::standby,
                   std::chrono::milliseconds(1000));
  for (;;) {
    if (!view->active()) {
      int sig = 0;
      auto end = stand_by(cfg, reg, view, lead, signals, sig);
      if (end == phase_end::signal) {
        log::info(component, "shutting down", {{"signal", sig}});
        lead.resign();
        return 0;
      }
      if (end == phase_end::failed) {
        lead.resign();
        return 1;
      }
    }
    auto end = serve_active(cfg, reg, view, lead, signals, announced,
                            exit_code);
    if (end != phase_end::deposed) {
      lead.resign();
      return exit_code;
    }
    log::warning(component, "stopped serving as the active coordinator; "
                            "standing by",
                 {{"epoch", view->epoch()}});
    lead.compete();
  }
}

} // namespace tasker
