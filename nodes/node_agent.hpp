#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "messages/interfaces.hpp"
#include "tasks/registry.hpp"

namespace tasker {

/// Cancellation flags of the attempts running on one node, shared between
/// the node agent (which sets them) and its executors (whose handlers read
/// them).
class cancel_flags {
public:
  void open(const std::string& key);
  /// Returns the flag of an attempt, or nullptr.
  std::shared_ptr<cancel_signal> find(const std::string& key) const;
  /// Sets every flag (shutdown).
  void raise_all();
  void close(const std::string& key);

private:
  mutable std::mutex mtx_;
  std::unordered_map<std::string, std::shared_ptr<cancel_signal>> flags_;
};

struct node_agent_config {
  std::string name = "local";
  int32_t slots = 8;
  /// The task types it runs; empty means every registered type.
  std::vector<std::string> types;
  /// Where the node runs, as shown in /v1/workers.
  std::string address = "local";
  /// The cluster secret presented when joining.
  std::string secret;
};

struct node_agent_state {
  static inline constexpr const char* name = "node_agent";

  /// Executors, one per slot.
  std::vector<executor_actor> executors;
  /// Indexes of idle executors.
  std::vector<size_t> idle;
  /// Attempts waiting for an idle executor.
  std::deque<task_assignment> backlog;
  /// Outcomes not yet sent to the dispatcher (sent together on `flush_atom`).
  std::vector<task_outcome> outbox;
  /// Which executor runs which attempt ("id#attempt" → executor index).
  std::unordered_map<std::string, size_t> running;
  std::shared_ptr<cancel_flags> flags;
  dispatcher_actor dispatcher;
  /// The id the dispatcher gave this node.
  std::string node_id;
  /// What the node presents when it joins (again).
  node_info info;
  std::string secret;
  /// A join is under way: no heartbeats until it is answered.
  bool joining = false;
  /// A join failed and is tried again at the next tick.
  bool join_again = false;
  /// The heartbeat ticks run (from the first join on).
  bool ticking = false;
  /// How often the node joined again (the dispatcher had forgotten it).
  uint64_t rejoins = 0;
  /// Draining: no new attempts; leaves when the running ones are reported.
  bool draining = false;
  /// When the dispatcher last answered a heartbeat.
  millis last_ack = 0;
};

using node_agent_pointer = node_actor::stateful_pointer<node_agent_state>;

/// A worker node: joins the dispatcher with its task types, slots and the
/// cluster secret (a refusal ends it with that error; so does losing the
/// dispatcher, after raising every running attempt's flag), joins again
/// when the dispatcher no longer counts it (a restarted dispatcher: the
/// attempts it held are stopped, since they run again elsewhere), runs
/// each attempt on a detached executor (so handlers never block the
/// scheduler), raises an attempt's cancellation flag when the dispatcher
/// withdraws it, and reports every outcome to the dispatcher.
node_actor::behavior_type node_agent(node_agent_pointer self,
                                     dispatcher_actor dispatcher,
                                     node_agent_config cfg,
                                     std::shared_ptr<const registry> reg);

} // namespace tasker
