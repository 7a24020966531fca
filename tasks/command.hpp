#pragma once

// Command tasks: a declared type whose attempts run a program as a child
// process of the worker node (an argv, never a shell string). The params go
// to its stdin as JSON, its stdout is the result as JSON. Exit 0 is success,
// `retry_exit_code` a retryable failure, anything else a failure whose error
// is the tail of stderr. The attempt's timeout, a cancel or an output past
// the limit sends SIGTERM to its process group, then SIGKILL after
// `kill_grace_ms`, so a runaway program cannot keep its slot.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tasks/registry.hpp"

namespace tasker {

struct command_spec {
  /// The program and its arguments; a program without `/` is looked up in
  /// the node's PATH.
  std::vector<std::string> argv;
  /// The working directory (empty: the node's).
  std::string cwd;
  /// The names of the node's environment variables the program gets; it
  /// gets TASKER_TASK_ID, TASKER_TASK_TYPE and TASKER_ATTEMPT besides.
  std::vector<std::string> env{"PATH", "HOME", "LANG", "TZ"};
  /// The exit code that means "failed, try again" (75 is EX_TEMPFAIL).
  int retry_exit_code = 75;
  /// Most bytes read from stdout: past it the program is stopped and the
  /// attempt fails.
  uint64_t max_output_bytes = 1024 * 1024;
  /// RLIMIT_CPU and RLIMIT_AS of the program, when set.
  std::optional<uint64_t> max_cpu_seconds;
  std::optional<uint64_t> max_memory_bytes;
  /// Between SIGTERM and SIGKILL.
  int64_t kill_grace_ms = 5000;
};

/// The last bytes of stderr kept for the error.
constexpr size_t command_error_tail = 2048;

/// Reads the `command` object of a declared type. Throws
/// std::invalid_argument naming the place (`where`) of a mistake.
command_spec parse_command_spec(const nlohmann::json& js,
                                const std::string& where);

/// Runs one attempt of `type` on `params` (validated, defaults filled in).
handler_result run_command(const command_spec& spec, const std::string& type,
                           const nlohmann::json& params,
                           const task_context& ctx);

} // namespace tasker
