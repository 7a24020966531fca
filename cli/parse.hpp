// The pure parsing of the command-line client: arguments, params, durations,
// the client's config file, Server-Sent Events and exit codes. Nothing here
// touches the network, so each piece is tested alone (tests/cli/parse.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tasker::cli {

/// The exit codes of the client commands (README, "Command-line client").
enum exit_code : int {
  /// Success; with --wait, the task COMPLETED.
  exit_ok = 0,
  /// With --wait: the task ended FAILED or CANCELLED, or did not finish
  /// within the wait's time limit.
  exit_task_failed = 1,
  /// A bad command, flag or argument (and nothing was sent).
  exit_usage = 2,
  /// The server could not be reached: connection refused, name not resolved,
  /// no answer in time, connection lost.
  exit_unreachable = 3,
  /// The server answered with an error (4xx or 5xx).
  exit_server_error = 4,
};

/// The exit code of an HTTP answer: 0 for 2xx, else exit_server_error.
int exit_code_for_http_status(long status);

/// The exit code of a waited-for task's status: 0 for COMPLETED,
/// exit_task_failed for anything else (FAILED, CANCELLED, or not terminal
/// when the wait ran out).
int exit_code_for_task_status(const std::string& status);

/// Whether a task status is terminal (COMPLETED, FAILED, CANCELLED).
bool is_terminal_status(const std::string& status);

/// The text of an error answer: "code: message" from the API's
/// `{"error": {"code", "message"}}`, else the start of the body.
std::string api_error_text(long status, const std::string& body);

/// A parsed command line: the command, its positional arguments and options.
struct parsed_args {
  std::vector<std::string> positional;
  /// Each option given (the last value wins); flags have an empty value.
  std::map<std::string, std::string> options;
  /// What is wrong, or empty.
  std::string error;

  bool has(const std::string& name) const {
    return options.count(name) > 0;
  }
};

/// The options a command takes: name (with its dashes) and whether it needs a
/// value.
struct option_spec {
  std::string name;
  bool takes_value;
};

/// Splits `args` into positional arguments and the options of `spec`
/// (`--name value` or `--name=value`); `--` ends the options. An unknown
/// option, or one without its value, is an error.
parsed_args parse_args(const std::vector<std::string>& args,
                       const std::vector<option_spec>& spec);

/// Whether `arg` is a `key=value` or `key:=json` param argument.
bool is_param_arg(const std::string& arg);

/// One param argument, parsed.
struct param_arg {
  std::string key;
  nlohmann::json value;
  /// What is wrong, or empty.
  std::string error;
};

/// Parses `key=value` (a value that is a whole JSON text is taken as JSON,
/// anything else as a string) or `key:=json` (JSON, an error when it is
/// not).
param_arg parse_param_arg(const std::string& arg);

/// Parses a duration with a unit, `ms`, `s`, `m`, `h` or `d` (`500ms`,
/// `10s`): milliseconds, or nothing when it is not one.
std::optional<int64_t> parse_cli_duration_ms(const std::string& str);

/// Parses a non-negative decimal integer of at most 18 digits.
std::optional<int64_t> parse_count(const std::string& str);

/// What the client's config file sets.
struct file_settings {
  std::optional<std::string> url;
  std::optional<std::string> token;
  /// What is wrong (with the line number), or empty.
  std::string error;
};

/// Parses the client's config file: `key = value` lines (`url`, `token`),
/// `#` comments and blank lines; a value may be in double quotes.
file_settings parse_cli_config(const std::string& text);

/// The client's server and token, resolved.
struct settings {
  std::string url;
  std::string token;
};

/// Resolves the server and token: a flag beats the environment, which beats
/// the config file, which beats the default URL.
settings resolve_settings(const std::optional<std::string>& flag_url,
                          const std::optional<std::string>& flag_token,
                          const std::optional<std::string>& env_url,
                          const std::optional<std::string>& env_token,
                          const file_settings& file,
                          const std::string& default_url);

/// Checks a server URL (`http://` or `https://`, a host, no query) and
/// returns it without a trailing slash; empty when it is not one.
std::string normalize_base_url(const std::string& url);

/// Percent-encodes `str` for a path segment or a query value (RFC 3986
/// unreserved characters stay).
std::string url_encode(const std::string& str);

/// The idempotency key `submit --file` gives a line without one: "file-"
/// and the hex SHA-256 of the line number and the line's text, so that the
/// same line of the same file maps to the same task on every run.
std::string derived_idempotency_key(size_t line_number,
                                    const std::string& line);

/// One Server-Sent Event.
struct sse_event {
  /// The `event:` field, "message" when none was given.
  std::string type = "message";
  /// The last `id:` seen on the stream up to this event.
  std::string id;
  /// The `data:` lines, joined with newlines.
  std::string data;
};

/// Parses a Server-Sent Events stream as it arrives (the WHATWG rules: lines
/// end in CRLF, LF or CR; `field: value`; `:` starts a comment; an empty line
/// dispatches the event). Memory is bounded: a line, or an event's data,
/// longer than `max_line_bytes` stops the parser.
class sse_parser {
public:
  explicit sse_parser(size_t max_line_bytes = 1 << 20);

  /// Feeds the next bytes of the stream; `emit` gets each complete event.
  /// Returns false (and ignores the rest) once a line or an event's data is
  /// over the bound.
  bool feed(const char* data, size_t size,
            const std::function<void(const sse_event&)>& emit);

  /// Starts a new connection: forgets a partial line and event, keeps the
  /// last event id and retry time.
  void reset();

  /// The id of the last event, to resume with (`Last-Event-ID`).
  const std::string& last_event_id() const {
    return last_id_;
  }

  /// Sets the id to resume after (as given by the user).
  void set_last_event_id(std::string id) {
    last_id_ = std::move(id);
  }

  /// The server's reconnection time (`retry:`), when it sent one.
  std::optional<int64_t> retry_ms() const {
    return retry_ms_;
  }

  /// How many comment lines (keep-alives) arrived.
  uint64_t comments() const {
    return comments_;
  }

private:
  bool line(const std::function<void(const sse_event&)>& emit);

  size_t max_;
  std::string line_;
  bool skip_lf_ = false;
  bool overflow_ = false;
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
  std::optional<int64_t> retry_ms_;
  uint64_t comments_ = 0;
};

/// Reads lines of a file with a bound on their length: a longer line is
/// reported as such and skipped, never held whole.
class line_reader {
public:
  /// Reads from `read(buf, size)`, which returns the bytes read (0 at the
  /// end).
  line_reader(std::function<size_t(char*, size_t)> read, size_t max_line_bytes);

  /// The next line without its end of line (LF or CRLF) in `out`; false at
  /// the end. `too_long` says the line was over the bound (`out` is empty).
  bool next(std::string& out, bool& too_long);

  /// The 1-based number of the line `next` returned last.
  size_t line_number() const {
    return number_;
  }

private:
  bool fill();

  std::function<size_t(char*, size_t)> read_;
  size_t max_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  size_t number_ = 0;
};

/// Where a batch error points: the entry index of a message that starts with
/// `tasks[N].`, and the message without it.
struct batch_error_ref {
  std::optional<size_t> index;
  std::string message;
};

/// Splits the `tasks[N].` prefix off a batch submission's error message.
batch_error_ref parse_batch_error(const std::string& message);

/// The idempotency key quoted in a 409 message ("idempotency key 'K' was used
/// before with a different body"), or nothing.
std::optional<std::string> conflict_key(const std::string& message);

/// The seconds of a `Retry-After` header in delta-seconds form, or nothing.
std::optional<int64_t> parse_retry_after(const std::string& value);

} // namespace tasker::cli
