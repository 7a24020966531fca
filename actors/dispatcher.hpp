#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include <caf/typed_event_based_actor.hpp>

#include "actors/attempt_key.hpp"
#include "actors/node_table.hpp"
#include "actors/ready_queue.hpp"
#include "common/telemetry.hpp"
#include "messages/interfaces.hpp"

namespace tasker {

/// Settings of the dispatcher.
/// What a standby coordinator forwards to (set once they are spawned; read
/// by every dispatcher generation).
struct peer_handles {
  std::mutex mtx;
  caf::actor manager;
  caf::actor pull_hub;
};

struct dispatcher_config {
  /// How often attempt timeouts and node liveness are checked; zero turns
  /// the periodic check off (simulated networks in tests tick by hand).
  caf::timespan tick_interval = std::chrono::milliseconds(50);
  /// The secret remote worker nodes must present. Nodes in the
  /// coordinator's own process need none.
  std::string cluster_secret;
  /// A node silent this long gets no new attempts (SUSPECT).
  millis suspect_after_ms = 2000;
  /// A node silent this long is DEAD: its running attempts run elsewhere.
  millis dead_after_ms = 5000;
  /// How long a DEAD node stays listed.
  millis forget_dead_after_ms = 60000;
  /// Where the worker registry (`workers` table) is written, about once a
  /// second while it changes; none in tests.
  persistence_actor registry;
  /// Unwritten state updates (health::db_backlog) past which nothing new is
  /// started: every start and result is a write that must be kept in memory
  /// while the database is slow or gone.
  int64_t max_db_backlog = 100000;
  /// How often the dispatcher was restarted before this one (0 for the
  /// first): sent with every start, so a task can tell an attempt started
  /// by a dead dispatcher from one started by this one.
  uint64_t generation = 0;
  /// The task manager and HTTP worker hub for standby coordinators; none
  /// in tests.
  std::shared_ptr<peer_handles> peers;
};

/// State of the dispatcher.
struct dispatcher_state {
  static inline constexpr const char* name = "dispatcher";

  /// An attempt running on a node.
  struct running {
    std::string node_id;
    std::string type;
    task_actor owner;
    millis deadline = 0;
    /// Withdrawn (cancel or timeout): the node still holds the slot until it
    /// reports, but the result goes nowhere.
    bool withdrawn = false;
  };

  /// Queued attempts.
  ready_queue<task_actor> queue;
  /// Running attempts.
  std::unordered_map<attempt_key, running, attempt_key_hash> in_flight;
  /// Deadlines of running attempts.
  std::set<std::pair<millis, attempt_key>> deadlines;
  node_table nodes;
  uint64_t dispatched = 0;
  uint64_t stale_results = 0;
  uint64_t timeouts = 0;
  /// Ticks since the registry was last written, and what was written.
  uint32_t ticks_since_registry = 0;
  std::vector<worker_view> registry_sent;
  /// Seconds the registry stayed as written.
  uint32_t registry_unchanged = 0;
  bool registry_written = false;
  int64_t max_db_backlog = 100000;
  uint64_t generation = 0;
  /// Dispatching paused by the database backlog.
  bool paused = false;
  telemetry_ptr tel;
};

using dispatcher_pointer = dispatcher_actor::stateful_pointer<dispatcher_state>;

/// Makes an outcome that a worker node sent storable: PostgreSQL refuses a
/// result that is not JSON or holds a NUL character (`\u0000`), and an
/// error that is not UTF-8 text. Such a result turns the attempt into a
/// failure that is not retried (the handler would send it again); such an
/// error is kept with its bad bytes replaced. With `check_json` (off for
/// the coordinator's own node, whose handlers build results with a JSON
/// library) a result is kept as the JSON library prints it. Returns whether
/// it refused or replaced anything.
bool make_storable(task_outcome& out, bool check_json);

/// The dispatcher: holds the ready queue and the worker nodes. Hands each
/// queued attempt to the least-loaded node that runs its type, never more
/// than a node has slots (credits), and enforces attempt timeouts. Results
/// are fenced by attempt number: a result for an attempt that was withdrawn
/// or never handed out is dropped and logged. A node that goes down turns its
/// running attempts into failed attempts.
dispatcher_actor::behavior_type dispatcher(dispatcher_pointer self,
                                           dispatcher_config cfg,
                                           telemetry_ptr tel);

} // namespace tasker
