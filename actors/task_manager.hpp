#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/result_cache.hpp"
#include "actors/submission_tracker.hpp"
#include "actors/task.hpp"
#include "messages/interfaces.hpp"

namespace tasker {

struct task_manager_config {
  backoff_policy backoff;
  /// Finished tasks kept in memory for fast reads.
  size_t result_cache_size = 100000;
  /// Most live (unfinished) tasks; submissions past it are refused.
  size_t max_pending = 1000000;
  /// How long a submission waits for its commit before its client gets
  /// `unavailable` (0: no bound). The commit may still happen later; its
  /// tasks then run like any other (an idempotency key makes the client's
  /// retry safe).
  std::chrono::milliseconds submit_timeout{2000};
  /// Tasks due within this time have a live actor; later ones stay in the
  /// database until they come due, so far-future tasks cost no memory.
  millis horizon_ms = 60000;
  /// Rows per database read when loading (recovery and tasks coming due).
  int32_t load_page = 5000;
  /// How often tasks coming due are loaded.
  std::chrono::milliseconds load_interval{1000};
};

struct task_manager_state {
  static inline constexpr const char* name = "task_manager";

  /// Live task actors by task id.
  std::unordered_map<std::string, task_actor> live;
  /// Task ids by actor address, for the down handler.
  std::unordered_map<caf::actor_addr, std::string> ids;
  result_cache cache;
  /// The settings (the backoff goes to the task actors).
  task_manager_config cfg;
  /// Submissions from admission until settled, and their clients.
  submission_tracker<caf::typed_response_promise<submit_reply>> submissions;
  /// A sweep of the submissions' deadlines is scheduled: one timer for all
  /// of them, not one per submission.
  bool sweeping = false;
  /// Records the manager itself writes (a retry, a delayed task's
  /// cancellation), by number, until committed or refused: sent again when
  /// the persistence actor dies with them (the writes are idempotent).
  struct pending_write {
    task_record rec;
    std::function<void(const caf::error&)> done;
    uint64_t seq = 0;
    int bounces = 0;
  };
  std::unordered_map<uint64_t, pending_write> writes;
  uint64_t next_write = 1;
  /// Every unfinished task scheduled up to here has a live actor (or has
  /// finished); later ones wait in the database.
  millis resident_until = std::numeric_limits<millis>::min();
  /// The load under way: up to when, and its position in (scheduled_at, id)
  /// order.
  bool loading = false;
  millis load_until = 0;
  millis load_at = 0;
  std::string load_id;
  /// The first load (recovery) has not finished yet.
  bool recovering = true;
  /// Submissions kept in the database until they come due.
  uint64_t parked = 0;
  /// Tasks loaded from the database (recovered or come due).
  uint64_t loaded = 0;
  uint64_t lost_attempts = 0;
  millis recovery_started = 0;
  /// Tasks whose retry is being written.
  std::unordered_set<std::string> retrying;
  /// Delayed tasks (no actor yet) whose cancellation is being written.
  std::unordered_set<std::string> cancelling;
  /// What new task actors get, the current dispatcher and persistence among
  /// it (the actors themselves, not their relays: a restart is announced
  /// with the new one); the manager talks to them through it too.
  task_deps_ptr deps;
  reader_actor reader;
  uint64_t spawned = 0;
  uint64_t finished = 0;
  uint64_t restarts = 0;
  uint64_t recovered = 0;
};

using task_manager_pointer
  = task_manager_actor::stateful_pointer<task_manager_state>;

/// Spawns and supervises one task actor per live task and routes requests
/// to them. Submissions are stored (all or none) before their actors start;
/// reads of tasks no longer in memory go to the cache, then to the reader.
/// At start it recovers every unfinished task from the database. A task
/// actor that dies without finishing is restarted from its durable state.
task_manager_actor::behavior_type
task_manager(task_manager_pointer self, dispatcher_actor dispatcher,
             persistence_actor persistence, reader_actor reader,
             task_manager_config cfg, telemetry_ptr tel);

} // namespace tasker
