// tasker submit: one task from the command line, or a JSON-lines file in
// batches, safe to run again.
#include "cli/commands.hpp"

#include "cli/output.hpp"
#include "common/format.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>

namespace tasker::cli {

namespace {

using clock_type = std::chrono::steady_clock;

/// Default and largest lines per batch (the server's max_batch default).
constexpr size_t default_batch = 500;
constexpr size_t max_batch = 1000;

/// A batch is sent once its JSON reaches this size, before --batch lines:
/// the server refuses bodies over max_body_bytes (2 MiB by default).
constexpr size_t max_batch_bytes = 1024 * 1024;

/// Longest line read; a longer one is reported and skipped.
constexpr size_t max_line_bytes = 16 * 1024 * 1024;

/// Failed lines kept for the summary (the rest are counted only).
constexpr size_t max_failures_kept = 1000;

/// Failed lines printed for people.
constexpr size_t max_failures_printed = 100;

/// Times a batch is sent again after 429 or 503, and after a lost
/// connection.
constexpr int max_busy_retries = 10;
constexpr int max_transport_retries = 3;

/// Batches are answered after their commit: allow for a slow database.
constexpr long batch_timeout_ms = 60000;

std::string compact(const nlohmann::json& js) {
  return js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// The options of `submit` that make one task (not with --file).
const char* single_options[] = {
    "--priority", "--delay",           "--run-at",       "--max-attempts",
    "--timeout",  "--idempotency-key", "--callback-url", "--params",
    "--wait",     "--wait-timeout"};

/// The progress bar of `submit --file` on stderr, when it is a terminal.
class progress_bar {
public:
  progress_bar(bool enabled, size_t total)
    : enabled_(enabled), total_(total), start_(clock_type::now()) {
    // (nothing else)
  }

  void update(size_t done, bool final = false) {
    if (!enabled_)
      return;
    auto now = clock_type::now();
    if (!final && now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    size_t width = 80;
    struct winsize ws {};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
      width = ws.ws_col;
    auto text = render_progress(done, total_, elapsed_s(), width - 1);
    text.append(width - 1 - std::min(width - 1, display_width(text)), ' ');
    std::cerr << "\r" << text << (final ? "\n" : "") << std::flush;
  }

  double elapsed_s() const {
    return std::chrono::duration<double>(clock_type::now() - start_).count();
  }

private:
  bool enabled_;
  size_t total_;
  clock_type::time_point start_;
  clock_type::time_point last_{};
};

/// One line of the file on its way to the server.
struct entry {
  size_t line = 0;
  std::string key;
  std::string text;
};

/// A file's submission: its counts and what went wrong.
class file_submission {
public:
  file_submission(context& ctx, progress_bar& bar) : ctx_(ctx), bar_(bar) {
    // (nothing else)
  }

  /// Records a failed line.
  void fail(size_t line, std::string why, bool refused) {
    ++failed_;
    (refused ? refused_ : malformed_) += 1;
    if (failures_.size() < max_failures_kept)
      failures_.emplace_back(line, std::move(why));
    bar_.update(done());
  }

  /// Sends `batch` until each line is stored or failed; false when the run
  /// must stop (the reason is in stop_code_ and stop_reason_).
  bool send(std::vector<entry> batch);

  size_t done() const {
    return submitted_ + existing_ + failed_;
  }

  void stop(int code, std::string why, size_t line) {
    stop_code_ = code;
    stop_reason_ = std::move(why);
    stop_line_ = line;
  }

  /// Prints the summary; returns the exit code.
  int finish(size_t lines, double elapsed_s);

  size_t batches_ = 0;

private:
  bool split(std::vector<entry>& batch);

  context& ctx_;
  progress_bar& bar_;
  size_t submitted_ = 0;
  size_t existing_ = 0;
  size_t failed_ = 0;
  size_t refused_ = 0;
  size_t malformed_ = 0;
  std::vector<std::pair<size_t, std::string>> failures_;
  int stop_code_ = exit_ok;
  std::string stop_reason_;
  size_t stop_line_ = 0;
};

bool file_submission::split(std::vector<entry>& batch) {
  auto half = batch.size() / 2;
  std::vector<entry> first(std::make_move_iterator(batch.begin()),
                           std::make_move_iterator(batch.begin() + half));
  std::vector<entry> second(std::make_move_iterator(batch.begin() + half),
                            std::make_move_iterator(batch.end()));
  return send(std::move(first)) && send(std::move(second));
}

bool file_submission::send(std::vector<entry> batch) {
  int busy = 0, lost = 0;
  while (!batch.empty()) {
    bool all_keyed = std::all_of(batch.begin(), batch.end(),
                                 [](const entry& e) { return !e.key.empty(); });
    std::string body = "{\"tasks\":[";
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i > 0)
        body += ',';
      body += batch[i].text;
    }
    body += "]}";
    ++batches_;
    auto res =
        ctx_.http->request("POST", "/v1/tasks/batch", body, batch_timeout_ms);
    auto first_line = batch.front().line;
    if (res.failure != http_failure::none) {
      // Without a key on every line, a batch that may have been stored is
      // not sent again: it could be stored twice.
      if (res.failure == http_failure::unreachable && all_keyed &&
          lost < max_transport_retries) {
        std::this_thread::sleep_for(std::chrono::seconds(1 << lost));
        ++lost;
        continue;
      }
      stop(res.failure == http_failure::unreachable ? exit_unreachable
                                                    : exit_server_error,
           "cannot reach " + ctx_.conf.url + ": " + res.error, first_line);
      return false;
    }
    if (res.status == 200 || res.status == 202) {
      auto js = nlohmann::json::parse(res.body, nullptr, false);
      size_t fresh = res.status == 200 ? 0 : batch.size();
      if (res.status == 202 && js.is_object() && js["tasks"].is_array() &&
          js["tasks"].size() == batch.size()) {
        // A 202 batch may hold tasks stored before (a line that repeats an
        // earlier run in a batch cut differently). The new tasks of a batch
        // share its creation time, later than any earlier task's.
        std::string newest;
        for (auto& t : js["tasks"])
          newest = std::max(newest, t.value("created_at", std::string{}));
        fresh = static_cast<size_t>(std::count_if(
            js["tasks"].begin(), js["tasks"].end(),
            [&](const nlohmann::json& t) {
              return t.value("created_at", std::string{}) == newest;
            }));
      }
      submitted_ += fresh;
      existing_ += batch.size() - fresh;
      bar_.update(done());
      return true;
    }
    auto message = api_error_text(res.status, res.body);
    std::string api_message = message;
    if (auto js = nlohmann::json::parse(res.body, nullptr, false);
        js.is_object() && js["error"].is_object())
      api_message = js["error"].value("message", message);
    if (res.status == 429 || (res.status == 503 && all_keyed)) {
      if (busy < max_busy_retries) {
        ++busy;
        auto wait_s = std::clamp<int64_t>(res.retry_after_s.value_or(1), 1, 30);
        std::this_thread::sleep_for(std::chrono::seconds(wait_s));
        continue;
      }
      stop(exit_server_error, "the server stayed busy: " + message, first_line);
      return false;
    }
    if (res.status == 422 || res.status == 409) {
      // Take out the line the error names and send the others again.
      std::optional<size_t> bad;
      auto ref = parse_batch_error(api_message);
      if (ref.index && *ref.index < batch.size())
        bad = *ref.index;
      if (res.status == 409)
        if (auto key = conflict_key(api_message))
          for (size_t i = 0; i < batch.size() && !bad; ++i)
            if (batch[i].key == *key)
              bad = i;
      if (bad) {
        auto what =
            res.status == 409 ? "conflict: " + api_message : ref.message;
        fail(batch[*bad].line, what, true);
        batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(*bad));
        continue;
      }
    }
    if (res.status == 400 || res.status == 409 || res.status == 413 ||
        res.status == 422) {
      // Not pinned on one line (too large, too many, refused by the
      // database): halve the batch until the line is found.
      if (batch.size() > 1)
        return split(batch);
      fail(batch.front().line, message, true);
      return true;
    }
    stop(exit_code_for_http_status(res.status), message, first_line);
    return false;
  }
  return true;
}

int file_submission::finish(size_t lines, double elapsed_s) {
  double rate = elapsed_s > 0 ? (submitted_ + existing_) / elapsed_s : 0;
  if (ctx_.json) {
    nlohmann::json out{{"lines", lines},
                       {"submitted", submitted_},
                       {"already_present", existing_},
                       {"failed", failed_},
                       {"batches", batches_},
                       {"seconds", elapsed_s},
                       {"failures", nlohmann::json::array()},
                       {"stopped", nullptr}};
    for (auto& [line, why] : failures_)
      out["failures"].push_back({{"line", line}, {"error", why}});
    if (stop_code_ != exit_ok)
      out["stopped"] = {{"line", stop_line_}, {"error", stop_reason_}};
    std::cout << compact(out) << "\n";
  } else {
    char timing[96];
    std::snprintf(timing, sizeof(timing), "%zu requests, %.1f s, %.0f tasks/s",
                  batches_, elapsed_s, rate);
    std::cout << lines << " lines: " << submitted_ << " submitted, "
              << existing_ << " already present, " << failed_ << " failed ("
              << timing << ")\n";
    size_t shown = 0;
    for (auto& [line, why] : failures_) {
      if (shown++ == max_failures_printed)
        break;
      std::cout << "line " << line << ": " << printable(why) << "\n";
    }
    if (failed_ > max_failures_printed)
      std::cout << "... and " << failed_ - max_failures_printed
                << " more failed lines (--json lists up to "
                << max_failures_kept << ")\n";
  }
  std::cout.flush();
  if (stop_code_ != exit_ok) {
    std::cerr << "tasker: stopped at line " << stop_line_ << ": "
              << printable(stop_reason_)
              << "\ntasker: run the same command again to submit the rest "
                 "(stored lines are skipped)\n";
    return stop_code_;
  }
  if (refused_ > 0)
    return exit_server_error;
  return malformed_ > 0 ? exit_usage : exit_ok;
}

/// The message of a JSON parse error without nlohmann's "[json.exception...]".
std::string parse_error_text(const std::string& line) {
  try {
    auto js = nlohmann::json::parse(line);
    (void)js;
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (auto end = what.find("] ");
        what.rfind("[json.exception", 0) == 0 && end != std::string::npos)
      what = what.substr(end + 2);
    return what;
  }
  return "not JSON";
}

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\f\v") == std::string::npos;
}

} // namespace

int run_submit_file(context& ctx, const parsed_args& opts) {
  size_t batch_size = default_batch;
  if (auto i = opts.options.find("--batch"); i != opts.options.end()) {
    auto n = parse_count(i->second);
    if (!n || *n < 1 || *n > static_cast<int64_t>(max_batch))
      return usage_error("--batch must be 1..1000, got '" + i->second + "'");
    batch_size = static_cast<size_t>(*n);
  }
  bool derive = !opts.has("--no-derived-keys");
  auto& path = opts.options.at("--file");
  FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    return usage_error("cannot read " + path + ": " + std::strerror(errno));
  auto reader_of = [file] {
    return line_reader{[file](char* buf, size_t size) {
                         return std::fread(buf, 1, size, file);
                       },
                       max_line_bytes};
  };
  // The total for the bar costs a first pass: only for a terminal, and only
  // for a file that can be read twice.
  bool tty = isatty(STDERR_FILENO) == 1;
  size_t total = 0;
  if (tty && file != stdin) {
    auto counter = reader_of();
    std::string line;
    bool too_long = false;
    while (counter.next(line, too_long))
      if (too_long || !blank(line))
        ++total;
    std::rewind(file);
  }
  progress_bar bar{tty, total};
  file_submission run{ctx, bar};
  auto reader = reader_of();
  std::vector<entry> batch;
  size_t batch_bytes = 0, lines = 0;
  bool going = true;
  std::string line;
  bool too_long = false;
  while (going && reader.next(line, too_long)) {
    auto number = reader.line_number();
    if (!too_long && blank(line))
      continue;
    ++lines;
    if (too_long) {
      run.fail(number, "the line is longer than 16 MiB", false);
      continue;
    }
    // Refused before parsing, as the gateway does: printing and freeing a
    // parsed value recurse per level.
    if (nests_deeper_than(line, 64)) {
      run.fail(number, "nested deeper than 64 levels", false);
      continue;
    }
    auto js = nlohmann::json::parse(line, nullptr, false);
    if (js.is_discarded()) {
      run.fail(number, "not valid JSON: " + parse_error_text(line), false);
      continue;
    }
    if (!js.is_object()) {
      run.fail(number,
               "not a JSON object (a submission such as "
               "{\"type\": \"sum\", \"params\": {\"a\": 1, \"b\": 2}})",
               false);
      continue;
    }
    auto key = js.find("idempotency_key");
    if (derive && (key == js.end() || key->is_null()))
      js["idempotency_key"] = derived_idempotency_key(number, line);
    entry e;
    e.line = number;
    if (auto k = js.find("idempotency_key"); k != js.end() && k->is_string())
      e.key = k->get<std::string>();
    e.text = compact(js);
    batch_bytes += e.text.size() + 1;
    batch.push_back(std::move(e));
    if (batch.size() >= batch_size || batch_bytes >= max_batch_bytes) {
      going = run.send(std::move(batch));
      batch.clear();
      batch_bytes = 0;
    }
  }
  if (going && !batch.empty())
    run.send(std::move(batch));
  if (file != stdin)
    std::fclose(file);
  bar.update(run.done(), true);
  return run.finish(lines, bar.elapsed_s());
}

int run_submit(context& ctx, const std::vector<std::string>& args) {
  auto opts = parse_args(args, with_globals({{"--priority", true},
                                             {"--delay", true},
                                             {"--run-at", true},
                                             {"--max-attempts", true},
                                             {"--timeout", true},
                                             {"--idempotency-key", true},
                                             {"--callback-url", true},
                                             {"--params", true},
                                             {"--wait", false},
                                             {"--wait-timeout", true},
                                             {"--file", true},
                                             {"--batch", true},
                                             {"--no-derived-keys", false}}));
  if (!opts.error.empty())
    return usage_error(opts.error + " (see tasker submit --help)");
  if (opts.has("--file")) {
    if (!opts.positional.empty())
      return usage_error("submit --file takes no TYPE or key=value arguments: "
                         "each line of the file is a whole submission");
    for (auto name : single_options)
      if (opts.has(name))
        return usage_error(std::string{name} + " does not go with --file (put "
                                               "it in each line)");
    if (auto rc = connect(ctx, opts); rc != exit_ok)
      return rc;
    return run_submit_file(ctx, opts);
  }
  for (auto name : {"--batch", "--no-derived-keys"})
    if (opts.has(name))
      return usage_error(std::string{name} + " goes with --file");
  if (opts.positional.empty())
    return usage_error("usage: tasker submit TYPE [key=value ...] [options] "
                       "(see tasker submit --help)");
  auto& type = opts.positional[0];
  if (is_param_arg(type))
    return usage_error("the task type comes first: tasker submit TYPE "
                       "key=value ...");
  nlohmann::json params = nlohmann::json::object();
  if (opts.has("--params")) {
    params = nlohmann::json::parse(opts.options["--params"], nullptr, false);
    if (!params.is_object())
      return usage_error("--params must be a JSON object such as "
                         "'{\"a\": 1, \"b\": 2}'");
  }
  for (size_t i = 1; i < opts.positional.size(); ++i) {
    auto p = parse_param_arg(opts.positional[i]);
    if (!p.error.empty())
      return usage_error(p.error);
    params[p.key] = std::move(p.value);
  }
  nlohmann::json body{{"type", type}, {"params", std::move(params)}};
  auto integer = [&](const char* flag, const char* field) {
    if (!opts.has(flag))
      return true;
    auto n = parse_count(opts.options[flag]);
    if (!n) {
      usage_error(std::string{flag} + " must be a whole number, got '" +
                  opts.options[flag] + "'");
      return false;
    }
    body[field] = *n;
    return true;
  };
  auto duration = [&](const char* flag, std::optional<int64_t>& out) {
    if (!opts.has(flag))
      return true;
    out = parse_cli_duration_ms(opts.options[flag]);
    if (!out) {
      usage_error(std::string{flag} +
                  " must be a duration such as 500ms, "
                  "10s, 5m or 1h, got '" +
                  opts.options[flag] + "'");
      return false;
    }
    return true;
  };
  std::optional<int64_t> delay, timeout, wait_timeout;
  if (!integer("--priority", "priority") ||
      !integer("--max-attempts", "max_attempts") ||
      !duration("--delay", delay) || !duration("--timeout", timeout) ||
      !duration("--wait-timeout", wait_timeout))
    return exit_usage;
  if (delay)
    body["delay_ms"] = *delay;
  if (timeout)
    body["timeout_ms"] = *timeout;
  if (opts.has("--run-at")) {
    if (delay)
      return usage_error("--run-at and --delay exclude each other");
    auto& at = opts.options["--run-at"];
    if (!parse_time(at))
      return usage_error("--run-at must be an RFC 3339 time such as "
                         "2026-11-22T10:00:00Z, got '" +
                         at + "'");
    body["run_at"] = at;
  }
  if (opts.has("--idempotency-key"))
    body["idempotency_key"] = opts.options["--idempotency-key"];
  if (opts.has("--callback-url"))
    body["callback_url"] = opts.options["--callback-url"];
  if (wait_timeout && !opts.has("--wait"))
    return usage_error("--wait-timeout goes with --wait");
  if (auto rc = connect(ctx, opts); rc != exit_ok)
    return rc;
  // A 503 may come after the task was stored: sent again only with a key,
  // which makes the repeat return the first task.
  auto res = call(ctx, "POST", "/v1/tasks", compact(body), request_timeout_ms,
                  opts.has("--idempotency-key"));
  if (!succeeded(res))
    return report_failure(ctx, res);
  auto task = parse_body(res);
  if (!task || !task->is_object() || !(*task)["id"].is_string())
    return exit_server_error;
  if (opts.has("--wait")) {
    nlohmann::json done;
    auto rc = wait_for_task(ctx, (*task)["id"].get<std::string>(), wait_timeout,
                            done);
    if (done.is_object())
      print_task(ctx, done);
    return rc;
  }
  if (ctx.json)
    print_task(ctx, *task);
  else
    std::cout << printable((*task)["id"].get<std::string>()) << "\n";
  return exit_ok;
}

} // namespace tasker::cli
