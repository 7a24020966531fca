// What the client commands share (cli/cli.cpp, cli/commands.cpp,
// cli/submit.cpp, cli/follow.cpp): the resolved server, the output mode,
// requests with retries, error reports and waiting for a task.
#pragma once

#include "cli/http_client.hpp"
#include "cli/parse.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tasker::cli {

/// Timeout of a request that does not wait on the server.
constexpr long request_timeout_ms = 30000;

/// Longest `wait_ms` one read of a task asks for.
constexpr int64_t wait_step_ms = 30000;

/// What a command works with.
struct context {
  /// The options every command takes, besides its own.
  static const std::vector<option_spec> global_options;

  /// The environment, as `NAME=value` strings.
  std::vector<std::string> env;
  settings conf;
  /// --json: print the API's JSON instead of tables.
  bool json = false;
  std::unique_ptr<http_client> http;
};

/// Resolves the server and token from the global options in `opts`, the
/// environment and the config file, and opens the client; exit_ok or the
/// code of what is wrong.
int connect(context& ctx, const parsed_args& opts);

/// `spec` and the global options.
std::vector<option_spec> with_globals(std::vector<option_spec> spec);

/// Sends a request; on `429` (and `503` when `retry_unavailable`) it waits
/// the answer's Retry-After (1 s without one, at most 30 s) and sends it
/// again, at most `attempts` times in all.
http_result call(context& ctx, const std::string& method,
                 const std::string& path, const std::string& body,
                 long timeout_ms, bool retry_unavailable, int attempts = 5);

/// Prints why a request failed on stderr and returns the exit code: 3 when
/// the server was not reached, 4 when it answered an error.
int report_failure(const context& ctx, const http_result& res);

/// Whether the request got a 2xx answer.
inline bool succeeded(const http_result& res) {
  return res.failure == http_failure::none && res.status >= 200 &&
         res.status < 300;
}

/// Parses an answer's JSON body; prints an error and returns nothing when it
/// is not JSON.
std::optional<nlohmann::json> parse_body(const http_result& res);

/// Reads task `id` until it is terminal or `timeout_ms` (none: no limit)
/// passes, with `?wait_ms=` long polls. Returns the exit code of the wait's
/// outcome with the last state read in `task`, or the failure's code.
int wait_for_task(context& ctx, const std::string& id,
                  std::optional<int64_t> timeout_ms, nlohmann::json& task);

/// Prints a task (JSON with --json, else key: value lines) on stdout.
void print_task(const context& ctx, const nlohmann::json& task);

/// Prints `tasker: message` on stderr and returns exit_usage.
int usage_error(const std::string& message);

/// Whether `args` ask for the command's help.
bool wants_help(const std::vector<std::string>& args);

/// The commands, each taking its arguments after the command name.
int run_submit(context& ctx, const std::vector<std::string>& args);
int run_submit_file(context& ctx, const parsed_args& opts);
int run_get(context& ctx, const std::vector<std::string>& args);
int run_list(context& ctx, const std::vector<std::string>& args);
int run_cancel(context& ctx, const std::vector<std::string>& args);
int run_retry(context& ctx, const std::vector<std::string>& args);
int run_workers(context& ctx, const std::vector<std::string>& args);
int run_drain(context& ctx, const std::vector<std::string>& args);
int run_types(context& ctx, const std::vector<std::string>& args);
int run_events(context& ctx, const std::vector<std::string>& args);
int run_follow(context& ctx, const parsed_args& opts);

/// The help of a command, or empty for an unknown one.
std::string command_help(const std::string& command);

} // namespace tasker::cli
