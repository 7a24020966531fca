#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "messages/interfaces.hpp"

namespace tasker {

/// How the dispatcher hears a worker node.
enum class liveness : uint8_t { alive, suspect, dead };

/// A worker node as the dispatcher sees it: its credits and liveness.
struct worker_node {
  std::string id;
  node_info info;
  node_actor handle;
  /// Attempts it runs (credits used of `info.slots`).
  int32_t busy = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  millis joined_at = 0;
  millis last_seen = 0;
  /// SUSPECT (silent for a while) gets no new attempts until it is heard
  /// again; DEAD (disconnected or silent too long) is gone, its attempts run
  /// elsewhere.
  liveness live = liveness::alive;
  /// Draining: finishes what it runs, then leaves (whatever its liveness).
  bool draining = false;
  millis dead_at = 0;
  /// When it last got an attempt (dispatch count); breaks ties between
  /// equally loaded nodes, so they take turns.
  uint64_t last_assigned = 0;
};

/// The worker nodes by id. The functions below are the dispatcher's pure
/// decisions about them (tests/actors/node_table.cpp).
using node_table = std::map<std::string, worker_node>;

/// ALIVE, DRAINING, SUSPECT or DEAD, as /v1/workers shows it.
const char* status_of(const worker_node& n);

/// Whether `n` takes a new attempt of `type` now: alive, not draining, a
/// free slot, and it runs the type (a node naming no types runs all).
bool has_room(const worker_node& n, const std::string& type);

/// The least-loaded node (busy / slots) with room for `type`; between
/// equally loaded ones, the one that got an attempt least recently. Null
/// when none has room.
worker_node* pick_node(node_table& nodes, const std::string& type);

/// Adds a node under its name (`node` when it has none), or `name-2`,
/// `name-3`, ... while a live node holds the name; a DEAD node gives its id
/// back. Returns the new entry, its `info.name` set to the id.
worker_node& add_node(node_table& nodes, node_info info, node_actor handle,
                      millis now);

/// Every node, as /v1/workers and the `workers` table show it.
std::vector<worker_view> worker_views(const node_table& nodes);

} // namespace tasker
