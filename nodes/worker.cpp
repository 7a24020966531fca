// `tasker worker`: a worker node process.
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/string_algorithms.hpp>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/version.hpp"
#include "messages/error.hpp"
#include "nodes/cluster_guard.hpp"
#include "nodes/coordinator.hpp"
#include "nodes/node_agent.hpp"

namespace tasker {

namespace {

constexpr const char* component = "worker";

/// Longest wait for each step of joining over the plain transport (connect,
/// the guard's exchange, BASP's handshake): the nodes' connection timeout.
constexpr auto join_timeout = std::chrono::milliseconds(5000);


/// Shared between the main loop and the signal thread.
struct stop_state {
  std::mutex mtx;
  std::condition_variable cv;
  bool stop = false;
  /// The main loop is done; the signal thread may end.
  bool finished = false;
  caf::actor agent;
};

} // namespace

int run_worker(const config& cfg) {
  auto signals = block_stop_signals();
  log::info(component, "starting",
            {{"command", cfg.command}, {"version", version()},
             {"commit", version_commit()}, {"built", build_date()}});
  auto reg = load_registry(cfg, component);
  if (!reg)
    return 2;
  std::vector<std::string> types; // (empty items dropped)
  caf::split(types, cfg.types, ',', caf::token_compress_on);
  for (auto& t : types)
    if (reg->find(t) == nullptr || !reg->find(t)->run) {
      log::error(component, "unknown task type in TASKER_TYPES",
                 {{"type", t}, {"known", reg->runnable_names()}});
      return 2;
    }
  // The coordinators (checked with the configuration): a standby does not
  // listen on its cluster port, so the node joins whichever answers, trying
  // each in turn, and moves on when it loses the one it had.
  std::vector<std::pair<std::string, uint16_t>> coordinators;
  {
    std::vector<std::string> items;
    caf::split(items, cfg.join, ',', caf::token_compress_on);
    for (auto& item : items) {
      auto colon = item.rfind(':');
      coordinators.emplace_back(
        item.substr(0, colon),
        static_cast<uint16_t>(std::stoi(item.substr(colon + 1))));
    }
  }
  size_t next = 0;
  size_t failures = 0;
  caf::actor_system_config sys_cfg;
  configure_node(sys_cfg, cfg);
  sys_cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{sys_cfg};
  auto machine = host_name("worker");
  node_agent_config ncfg{cfg.node_name.empty() ? machine : cfg.node_name,
                         cfg.slots, types, machine, cfg.cluster_secret};
  stop_state stop;
  // The first SIGINT/SIGTERM drains the node (it finishes its running
  // attempts and leaves); a second one stops it at once.
  std::thread signal_thread{[&] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      std::lock_guard<std::mutex> guard{stop.mtx};
      if (stop.finished)
        return;
      if (!stop.stop) {
        log::info(component, "draining, then stopping", {{"signal", sig}});
        stop.stop = true;
        if (stop.agent)
          caf::anon_send(caf::actor_cast<node_actor>(stop.agent), drain_atom_v);
      } else {
        log::info(component, "stopping now", {{"signal", sig}});
        if (stop.agent)
          caf::anon_send_exit(stop.agent, caf::exit_reason::user_shutdown);
      }
      stop.cv.notify_all();
    }
  }};
  int exit_code = 0;
  auto backoff = std::chrono::milliseconds(200);
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{stop.mtx};
      if (stop.stop)
        break;
    }
    // Blocking, on this thread (not an actor's): the node passes the
    // cluster guard's exchange with the secret, then (with TLS) the TLS
    // handshake and BASP's; each step has a deadline.
    auto& [host, port] = coordinators[next % coordinators.size()];
    auto address = host + ":" + std::to_string(port);
    auto disp
      = join_cluster(sys, host, port, cfg.cluster_secret, join_timeout,
                     cfg.tls());
    if (!disp && code_of(disp.error()) == ec::unauthorized) {
      log::error(component,
                 "the coordinator refused this node: wrong cluster secret",
                 {{"join", address}});
      exit_code = 1;
      break;
    }
    if (!disp) {
      ++next;
      // Back off only once every coordinator was tried.
      if (++failures % coordinators.size() != 0)
        continue;
      log::warning(component, "cannot reach the coordinator, retrying",
                   {{"join", cfg.join},
                    {"error", sys.render(disp.error())},
                    {"retry_in_ms", backoff.count()}});
      std::unique_lock<std::mutex> guard{stop.mtx};
      stop.cv.wait_for(guard, backoff, [&] { return stop.stop; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    backoff = std::chrono::milliseconds(200);
    failures = 0;
    auto agent = sys.spawn(node_agent, *disp, ncfg, reg);
    {
      std::lock_guard<std::mutex> guard{stop.mtx};
      stop.agent = caf::actor_cast<caf::actor>(agent);
      if (stop.stop)
        caf::anon_send(agent, drain_atom_v);
    }
    log::info(component, "connected to the coordinator",
              {{"join", address}, {"node", ncfg.name}, {"slots", ncfg.slots}});
    caf::error reason;
    caf::scoped_actor self{sys};
    self->monitor(agent);
    self->receive([&](caf::down_msg& msg) { reason = msg.reason; });
    {
      std::lock_guard<std::mutex> guard{stop.mtx};
      stop.agent = nullptr;
      if (stop.stop)
        break;
    }
    if (!reason) {
      // Drained on the coordinator's request: this node has left.
      log::info(component, "drained; leaving the cluster");
      break;
    }
    if (code_of(reason) == ec::unauthorized) {
      log::error(component, "the coordinator refused this node",
                 {{"error", message_of(reason)}});
      exit_code = 1;
      break;
    }
    log::warning(component, "lost the coordinator, rejoining",
                 {{"join", address}, {"reason", sys.render(reason)}});
  }
  {
    std::lock_guard<std::mutex> guard{stop.mtx};
    stop.finished = true;
  }
  // Wake the signal thread so it can be joined.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return exit_code;
}

} // namespace tasker
