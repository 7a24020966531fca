#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/params.hpp"

namespace tasker {

/// The stop signal of one attempt: raised by its node (cancel, timeout,
/// shutdown), read or waited on by its handler.
class cancel_signal {
public:
  /// Tells the attempt to stop and wakes a handler waiting in `wait_for`.
  void raise() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      raised_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
  }

  bool raised() const {
    return raised_.load(std::memory_order_relaxed);
  }

  /// Waits up to `timeout` for the signal; returns whether it was raised.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [this] { return raised(); });
  }

private:
  std::atomic<bool> raised_{false};
  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
};

/// What a handler sees of the attempt it runs.
class task_context {
public:
  explicit task_context(const cancel_signal* cancelled)
    : cancelled_(cancelled) {}

  task_context(const cancel_signal* cancelled, std::string task_id,
               int32_t attempt, int64_t timeout_ms)
    : task_id(std::move(task_id)),
      attempt(attempt),
      timeout_ms(timeout_ms),
      cancelled_(cancelled) {}

  /// The task and attempt (empty and 0 outside a node, in tests).
  std::string task_id;
  int32_t attempt = 0;
  /// The attempt's time limit (0: none known here).
  int64_t timeout_ms = 0;

  /// Sleeps up to `ms`; returns false when cancelled before that.
  bool sleep_for(int64_t ms) const;

  /// Whether the attempt was cancelled (or its result is no longer
  /// wanted): a long handler checks this now and then and returns.
  bool cancelled() const {
    return cancelled_ != nullptr && cancelled_->raised();
  }

private:
  const cancel_signal* cancelled_;
};

struct handler_result {
  bool ok = false;
  nlohmann::json result;
  std::string error;
  bool retryable = true;

  static handler_result success(nlohmann::json result) {
    return {true, std::move(result), {}, false};
  }

  static handler_result failure(std::string error, bool retryable = true) {
    return {false, nullptr, std::move(error), retryable};
  }
};

struct task_type {
  std::string name;
  std::string description;
  params_spec params;
  /// Runs one attempt on validated params (defaults filled in); empty for a
  /// type that no worker node runs (HTTP workers lease its tasks).
  std::function<handler_result(const nlohmann::json&, const task_context&)> run;
  /// How it runs: `builtin` (C++ on worker nodes), `command` (a program
  /// worker nodes run), `http` (worker nodes POST it to a URL) or `pull`
  /// (HTTP workers lease its tasks).
  std::string runs = "builtin";
  /// The type's own defaults for a submission that gives none (else the
  /// configured ones).
  std::optional<int64_t> timeout_ms;
  std::optional<int32_t> max_attempts;
};

/// The limits that shape the built-in types' parameters.
struct task_limits {
  int64_t max_text_bytes = 1024 * 1024;
  int64_t max_top_n = 100;
};

/// All task types of a process, by name. The gateway uses it to validate and
/// describe; worker nodes use it to run.
class registry {
public:
  /// Registers a type whose handler takes typed params: `Params` has a static
  /// `from_json(const nlohmann::json&)` that reads validated params.
  template <class Params>
  void add(std::string name, std::string description, params_spec params,
           std::function<handler_result(const Params&, const task_context&)> f) {
    task_type t;
    t.name = std::move(name);
    t.description = std::move(description);
    t.params = std::move(params);
    t.run = [f](const nlohmann::json& js, const task_context& ctx) {
      return f(Params::from_json(js), ctx);
    };
    add(std::move(t));
  }

  void add(task_type t) {
    types_.emplace(t.name, std::move(t));
  }

  /// Returns the type of this name, or nullptr.
  const task_type* find(const std::string& name) const;

  /// The names of all types, sorted.
  std::vector<std::string> names() const;

  /// The names of the types a worker node runs (all but `pull` ones),
  /// sorted.
  std::vector<std::string> runnable_names() const;

  /// Validates `params` for `type`, filling in defaults. Returns "" or a
  /// message for the client that names the field.
  std::string validate(const std::string& type, nlohmann::json& params) const;

  /// `[{"type", "description", "runs", "params_schema"}]` of every type,
  /// with `timeout_ms` and `max_attempts` where the type has its own.
  nlohmann::json describe() const;

  /// Runs one attempt; exceptions and malformed params become failed results.
  handler_result run(const std::string& type, const std::string& params_json,
                     const task_context& ctx) const;

private:
  std::map<std::string, task_type> types_;
};

/// Returns a registry with the built-in types: sum, text_stats, sleep, fail.
registry builtin_registry(const task_limits& limits);

// Each built-in type registers itself in its own file.
void register_sum(registry& reg);
void register_text_stats(registry& reg, const task_limits& limits);
void register_sleep(registry& reg);
void register_fail(registry& reg);

} // namespace tasker
