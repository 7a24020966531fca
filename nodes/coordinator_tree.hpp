#pragma once

// The coordinator's components and how they start and stop: one spawn
// function per component, called in order by `run_coordinator`
// (coordinator.cpp), over the handles of a `coordinator_tree`.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/dispatcher.hpp"
#include "actors/supervisor.hpp"
#include "actors/task_manager.hpp"
#include "common/telemetry.hpp"
#include "config/config.hpp"
#include "nodes/cluster_guard.hpp"
#include "persistence/persistence.hpp"
#include "tasks/registry.hpp"

namespace tasker {

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

/// What a running coordinator is made of: the handles that the spawn
/// functions below fill in, in the order they start; `stop_in_order` takes
/// them down in reverse.
struct coordinator_tree {
  coordinator_tree(caf::actor_system& sys, const config& cfg);

  caf::actor_system& sys;
  const config& cfg;
  telemetry_ptr tel = std::make_shared<telemetry>();
  /// The current child of each supervisor, by name (announced to the task
  /// manager with each restart, and for fault injection).
  std::shared_ptr<supervised_children> children
    = std::make_shared<supervised_children>();
  /// Set when a supervisor gave up or an unsupervised actor died: the
  /// coordinator then stops with exit code 1.
  std::shared_ptr<std::atomic<bool>> gave_up
    = std::make_shared<std::atomic<bool>>(false);
  std::function<void()> give_up;
  /// `pers.batcher` is the relay in front of the current batcher.
  persistence_handles pers;
  caf::actor pers_relay;
  supervisor_hooks pers_hooks;
  caf::actor pers_sup;
  dispatcher_config dcfg;
  caf::actor disp_relay;
  /// The relay in front of the current dispatcher.
  dispatcher_actor disp;
  dispatcher_actor first_disp;
  caf::actor disp_sup;
  task_manager_actor manager;
  caf::actor watcher;
  std::shared_ptr<const registry> reg;
  node_actor local_node;
  caf::actor gateway_sup;
  caf::expected<uint16_t> http_port = uint16_t{0};
  std::shared_ptr<cluster_guard_stats> guard_stats
    = std::make_shared<cluster_guard_stats>();
  std::unique_ptr<cluster_guard> guard;
  caf::expected<uint16_t> cluster_port = uint16_t{0};
};

/// Spawns the writers, the reader and the batcher behind its relay.
void spawn_persistence_tree(coordinator_tree& t);

/// Spawns the first dispatcher behind its relay.
void spawn_dispatcher_tree(coordinator_tree& t);

/// Spawns the task manager and the watcher of the task manager and reader.
void spawn_task_manager(coordinator_tree& t);

/// Spawns the supervisors of the dispatcher and the batcher.
void supervise(coordinator_tree& t);

/// Spawns the coordinator's own worker node, when it has slots.
void spawn_local_node(coordinator_tree& t);

/// Spawns the gateway under its supervisor and waits until it listens.
void spawn_gateway_tree(coordinator_tree& t);

/// Opens the guarded cluster port.
void start_cluster_port(coordinator_tree& t);

/// Stops everything in reverse order, persistence once drained.
void stop_in_order(coordinator_tree& t);

} // namespace tasker
