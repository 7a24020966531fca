#include "cli/cli.hpp"

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "config/config.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

namespace tasker::cli {

namespace {

/// Largest client config file read.
constexpr size_t max_config_bytes = 64 * 1024;

/// What each client command runs.
using command_fn = int (*)(context&, const std::vector<std::string>&);

const std::map<std::string, command_fn>& commands() {
  static const std::map<std::string, command_fn> all = {
      {"submit", run_submit},   {"get", run_get},     {"list", run_list},
      {"cancel", run_cancel},   {"retry", run_retry}, {"events", run_events},
      {"workers", run_workers}, {"drain", run_drain}, {"types", run_types},
  };
  return all;
}

std::optional<std::string> env_value(const std::vector<std::string>& env,
                                     const std::string& name) {
  for (auto& kv : env)
    if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 &&
        kv[name.size()] == '=')
      return kv.substr(name.size() + 1);
  return std::nullopt;
}

std::string default_url() {
  return "http://127.0.0.1:" + std::to_string(config{}.http_port);
}

/// The index of the command word in `args`, past leading global options.
std::optional<size_t> command_index(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    auto& arg = args[i];
    if (arg == "--json" || arg.compare(0, 6, "--url=") == 0 ||
        arg.compare(0, 8, "--token=") == 0)
      continue;
    if (arg == "--url" || arg == "--token") {
      ++i;
      continue;
    }
    return i;
  }
  return std::nullopt;
}

/// Reads the client's config file: TASKER_CLI_CONFIG (which must exist when
/// set), else ~/.config/tasker/cli.conf when there is one.
file_settings read_config_file(const std::vector<std::string>& env) {
  std::string path;
  bool required = false;
  if (auto given = env_value(env, "TASKER_CLI_CONFIG");
      given && !given->empty()) {
    path = *given;
    required = true;
  } else if (auto home = env_value(env, "HOME"); home && !home->empty()) {
    path = *home + "/.config/tasker/cli.conf";
  } else {
    return {};
  }
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    file_settings out;
    if (required)
      out.error = path + ": cannot be read (TASKER_CLI_CONFIG)";
    return out;
  }
  std::string text(max_config_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  file_settings out;
  if (text.size() > max_config_bytes) {
    out.error = path + ": larger than 64 KiB";
    return out;
  }
  out = parse_cli_config(text);
  if (!out.error.empty())
    out.error = path + ": " + out.error;
  return out;
}

std::string overview() {
  std::ostringstream out;
  out << "client commands, against a running tasker over HTTP (tasker COMMAND "
         "--help for each):\n"
         "  submit TYPE key=value ...  submit a task; --file FILE submits a "
         "JSON-lines file\n"
         "  get ID                     show a task; --wait waits until it is "
         "finished\n"
         "  list                       list tasks, newest first (--status, "
         "--type, --limit, --all)\n"
         "  cancel ID                  cancel a task that is not finished\n"
         "  retry ID                   run a FAILED or CANCELLED task again\n"
         "  events ID                  a task's history; events --follow: "
         "every transition, live\n"
         "  workers                    the worker nodes\n"
         "  drain ID                   stop giving a worker node new tasks\n"
         "  types                      the registered task types\n"
         "  help [COMMAND]             this text, or a command's\n\n"
         "client options, with any client command:\n"
         "  --url URL      TASKER_URL    the server ["
      << default_url()
      << "]\n"
         "  --token TOKEN  TASKER_TOKEN  sent as Authorization: Bearer (the "
         "server's auth_token)\n"
         "  --json         print the API's JSON instead of tables\n"
         "  A config file, TASKER_CLI_CONFIG or ~/.config/tasker/cli.conf, may "
         "hold\n"
         "  `url = ...` and `token = ...` lines (# comments). A flag beats the "
         "environment,\n"
         "  which beats the file.\n\n"
         "exit codes of the client commands:\n"
         "  0  success (with --wait: the task COMPLETED)\n"
         "  1  with --wait: the task ended FAILED or CANCELLED, or was not "
         "finished when\n"
         "     the wait's time limit ran out\n"
         "  2  usage error: an unknown command or option, a bad argument\n"
         "  3  the server could not be reached (connection refused, name not "
         "resolved,\n"
         "     no answer in time, connection lost)\n"
         "  4  the server answered with an error (its code and message are "
         "printed)\n";
  return out.str();
}

std::string full_help() {
  return "usage: tasker COMMAND [options]\n\n"
         "server commands (tasker dev --help lists their options):\n"
         "  dev     the whole system on one machine, with a private "
         "PostgreSQL\n"
         "  serve   a coordinator against TASKER_DB_URL\n"
         "  worker  a worker node: tasker worker --join HOST:PORT\n\n" +
         overview();
}

} // namespace

const std::vector<option_spec> context::global_options = {
    {"--url", true}, {"--token", true}, {"--json", false}};

std::vector<option_spec> with_globals(std::vector<option_spec> spec) {
  spec.insert(spec.end(), context::global_options.begin(),
              context::global_options.end());
  return spec;
}

int usage_error(const std::string& message) {
  std::cerr << "tasker: " << message << "\n";
  return exit_usage;
}

bool wants_help(const std::vector<std::string>& args) {
  for (auto& arg : args) {
    if (arg == "--")
      return false;
    if (arg == "--help" || arg == "-h")
      return true;
  }
  return false;
}

int connect(context& ctx, const parsed_args& opts) {
  auto flag = [&](const char* name) -> std::optional<std::string> {
    if (auto i = opts.options.find(name); i != opts.options.end())
      return i->second;
    return std::nullopt;
  };
  ctx.json = opts.has("--json");
  auto file = read_config_file(ctx.env);
  if (!file.error.empty())
    return usage_error(file.error);
  ctx.conf = resolve_settings(
      flag("--url"), flag("--token"), env_value(ctx.env, "TASKER_URL"),
      env_value(ctx.env, "TASKER_TOKEN"), file, default_url());
  auto base = normalize_base_url(ctx.conf.url);
  if (base.empty())
    return usage_error("'" + ctx.conf.url +
                       "' is not a server URL such as http://127.0.0.1:8080");
  if (ctx.conf.token.find_first_of("\r\n") != std::string::npos)
    return usage_error("the token must be one line");
  ctx.conf.url = base;
  ctx.http = std::make_unique<http_client>(base, ctx.conf.token);
  return exit_ok;
}

http_result call(context& ctx, const std::string& method,
                 const std::string& path, const std::string& body,
                 long timeout_ms, bool retry_unavailable, int attempts) {
  for (int attempt = 1;; ++attempt) {
    auto res = ctx.http->request(method, path, body, timeout_ms);
    bool busy = res.failure == http_failure::none &&
                (res.status == 429 || (res.status == 503 && retry_unavailable));
    if (!busy || attempt >= attempts)
      return res;
    auto wait_s = std::clamp<int64_t>(res.retry_after_s.value_or(1), 1, 30);
    std::this_thread::sleep_for(std::chrono::seconds(wait_s));
  }
}

int report_failure(const context& ctx, const http_result& res) {
  switch (res.failure) {
  case http_failure::none:
    std::cerr << "tasker: " << printable(api_error_text(res.status, res.body))
              << "\n";
    return exit_code_for_http_status(res.status);
  case http_failure::too_large:
    std::cerr << "tasker: " << ctx.conf.url << ": " << res.error << "\n";
    return exit_server_error;
  case http_failure::bad_url:
    std::cerr << "tasker: bad server URL " << ctx.conf.url << ": " << res.error
              << "\n";
    return exit_usage;
  case http_failure::unreachable:
  case http_failure::stopped:
    break;
  }
  std::cerr << "tasker: cannot reach " << ctx.conf.url << ": " << res.error
            << "\n";
  return exit_unreachable;
}

std::optional<nlohmann::json> parse_body(const http_result& res) {
  auto js = nlohmann::json::parse(res.body, nullptr, false);
  if (js.is_discarded()) {
    std::cerr << "tasker: the server's answer is not JSON (HTTP " << res.status
              << ")\n";
    return std::nullopt;
  }
  return js;
}

int wait_for_task(context& ctx, const std::string& id,
                  std::optional<int64_t> timeout_ms, nlohmann::json& task) {
  using clock = std::chrono::steady_clock;
  auto deadline = timeout_ms
                      ? clock::now() + std::chrono::milliseconds(*timeout_ms)
                      : clock::time_point::max();
  for (;;) {
    int64_t step = wait_step_ms;
    if (timeout_ms) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - clock::now())
                      .count();
      step = std::clamp<int64_t>(left, 0, wait_step_ms);
    }
    auto res =
        call(ctx, "GET",
             "/v1/tasks/" + url_encode(id) + "?wait_ms=" + std::to_string(step),
             {}, static_cast<long>(step) + request_timeout_ms, true);
    if (!succeeded(res))
      return report_failure(ctx, res);
    auto js = parse_body(res);
    if (!js || !js->is_object())
      return exit_server_error;
    task = std::move(*js);
    auto status = task.value("status", std::string{});
    if (is_terminal_status(status))
      return exit_code_for_task_status(status);
    if (timeout_ms && clock::now() >= deadline) {
      std::cerr << "tasker: task " << id << " is still " << printable(status)
                << " after " << human_duration(*timeout_ms / 1000.0) << "\n";
      return exit_task_failed;
    }
  }
}

void print_task(const context& ctx, const nlohmann::json& task) {
  if (ctx.json)
    std::cout << task.dump(-1, ' ', false,
                           nlohmann::json::error_handler_t::replace)
              << "\n";
  else
    std::cout << render_task(task);
  std::cout.flush();
}

std::string command_help(const std::string& command) {
  if (command == "submit")
    return "usage: tasker submit TYPE [key=value | key:=JSON ...] [options]\n"
           "       tasker submit --file FILE [--batch N] "
           "[--no-derived-keys]\n\n"
           "Submits a task of type TYPE (POST /v1/tasks) and prints its id.\n\n"
           "params:\n"
           "  key=value              a value that is JSON (a number, true, "
           "false, null, an\n"
           "                         array, an object, a \"quoted string\") is "
           "taken as JSON,\n"
           "                         anything else as a string\n"
           "  key:=JSON              the value must be JSON\n"
           "  --params JSON          an object to start from; key=value "
           "arguments add to it\n\n"
           "options:\n"
           "  --priority N           0..9, higher runs first\n"
           "  --delay D              run after D: 500ms, 10s, 5m, 1h, 1d\n"
           "  --run-at TIME          run at an RFC 3339 time "
           "(2026-11-22T10:00:00Z)\n"
           "  --max-attempts N       attempts before the task FAILED, 1..100\n"
           "  --timeout D            bound of one attempt\n"
           "  --idempotency-key K    a repeat with the same K returns the "
           "first task\n"
           "  --callback-url URL     receives the task's terminal state\n"
           "  --wait                 wait until the task is finished and print "
           "it; the exit code\n"
           "                         says how it ended (0 COMPLETED, 1 FAILED "
           "or CANCELLED)\n"
           "  --wait-timeout D       stop waiting after D (exit code 1); "
           "default: no limit\n\n"
           "from a file:\n"
           "  --file FILE            each non-empty line of FILE (- for stdin) "
           "is a submission\n"
           "                         object as POST /v1/tasks takes it, e.g.\n"
           "                         {\"type\": \"sum\", \"params\": {\"a\": "
           "1, "
           "\"b\": 2}, \"priority\": 5}\n"
           "  --batch N              lines per POST /v1/tasks/batch (default "
           "500, at most 1000)\n"
           "  --no-derived-keys      send lines without idempotency_key as "
           "they are\n\n"
           "  Running the same file again submits nothing twice: a line "
           "without\n"
           "  idempotency_key gets the key \"file-\" + hex SHA-256 of its line "
           "number and\n"
           "  text, so a line already stored is answered with its task and "
           "counted as\n"
           "  already present. The key stands for the line's number and text: "
           "an edited\n"
           "  line, or one moved by lines inserted above it, is a new task. "
           "With\n"
           "  --no-derived-keys, a second run submits every such line again. "
           "Answers\n"
           "  429 and 503 are retried after their Retry-After (503 only when "
           "every line\n"
           "  of the batch has a key, since its tasks may have been stored). A "
           "progress\n"
           "  bar is drawn on stderr when it is a terminal. The summary lists "
           "each\n"
           "  failed line with its number and reason; the other lines are "
           "stored. Exit\n"
           "  code 0 when every line is stored, 4 when the server refused a "
           "line, 2 when\n"
           "  a line is not a JSON object (and none was refused), 3 when the "
           "server\n"
           "  could not be reached (run again to submit the rest).\n";
  if (command == "get")
    return "usage: tasker get ID [--wait] [--timeout D]\n\n"
           "Shows task ID (GET /v1/tasks/ID).\n\n"
           "  --wait       wait until the task is finished; exit code 0 when "
           "it "
           "COMPLETED,\n"
           "               1 when it ended FAILED or CANCELLED\n"
           "  --timeout D  stop waiting after D (10s, 5m; exit code 1 when "
           "still unfinished);\n"
           "               default: no limit\n";
  if (command == "list")
    return "usage: tasker list [--status S] [--type T] [--params JSON] "
           "[--limit N] [--all]\n\n"
           "Lists tasks, newest first (GET /v1/tasks).\n\n"
           "  --status S     PENDING, PROCESSING, COMPLETED, FAILED or "
           "CANCELLED\n"
           "  --type T       a task type\n"
           "  --params JSON  tasks whose params contain this object\n"
           "  --limit N      tasks shown (1..1000, default 100); with --all, "
           "tasks per page\n"
           "  --all          every page, following next_cursor\n"
           "With --json: the API's page object; with --all, one object with "
           "every task.\n";
  if (command == "cancel")
    return "usage: tasker cancel ID\n\n"
           "Cancels task ID (POST /v1/tasks/ID/cancel); a running attempt is "
           "told to stop.\n"
           "A task that is already finished gets 409 conflict (exit code "
           "4).\n";
  if (command == "retry")
    return "usage: tasker retry ID\n\n"
           "Runs the FAILED or CANCELLED task ID again, now, with a fresh "
           "attempts budget\n"
           "(POST /v1/tasks/ID/retry).\n";
  if (command == "events")
    return "usage: tasker events ID\n"
           "       tasker events --follow [--type T] [--status S] [--kind K] "
           "[--last-event-id X]\n\n"
           "events ID: the task's history (GET /v1/tasks/ID/events), one line "
           "per transition,\n"
           "then its webhook deliveries.\n\n"
           "events --follow: every transition of every task as it happens "
           "(GET /v1/events,\n"
           "Server-Sent Events), one line each (with --json: each event's "
           "JSON, a line each),\n"
           "until Ctrl-C. A lost connection is opened again with the id of "
           "the last event\n"
           "(Last-Event-ID), so no event is missed or repeated; after 8 "
           "failed attempts in a\n"
           "row (some 2.5 minutes, backing off up to 30 s) it gives up.\n\n"
           "  --type T            task types, comma-separated\n"
           "  --status S          statuses the tasks reached, comma-separated\n"
           "  --kind K            submitted, started, retry_scheduled, "
           "completed, failed,\n"
           "                      cancelled, retried; comma-separated\n"
           "  --last-event-id X   start right after event X\n";
  if (command == "workers")
    return "usage: tasker workers\n\n"
           "Lists the worker nodes (GET /v1/workers).\n";
  if (command == "drain")
    return "usage: tasker drain ID\n\n"
           "Stops giving worker node ID new tasks (POST "
           "/v1/workers/ID/drain); it leaves\n"
           "once its running tasks finish.\n";
  if (command == "types")
    return "usage: tasker types\n\n"
           "Lists the registered task types (GET /v1/task-types); --json "
           "shows their\n"
           "params schemas.\n";
  return {};
}

bool is_client_command(const std::vector<std::string>& args) {
  auto i = command_index(args);
  if (!i)
    return false;
  auto& name = args[*i];
  // A leading client option makes it the client's (which then says what is
  // wrong), even before an unknown command.
  return name == "help" || commands().count(name) > 0 || *i > 0;
}

int run(const std::vector<std::string>& args,
        const std::vector<std::string>& env) {
  auto i = command_index(args);
  if (!i)
    return usage_error("missing command (see tasker help)");
  auto name = args[*i];
  std::vector<std::string> rest;
  for (size_t k = 0; k < args.size(); ++k)
    if (k != *i)
      rest.push_back(args[k]);
  if (name == "help") {
    if (*i + 1 < args.size()) {
      auto help = command_help(args[*i + 1]);
      if (help.empty())
        return usage_error("no help for '" + args[*i + 1] +
                           "' (see tasker help)");
      std::cout << help;
      return exit_ok;
    }
    std::cout << full_help();
    return exit_ok;
  }
  auto cmd = commands().find(name);
  if (cmd == commands().end())
    return usage_error("unknown command '" + name + "' (see tasker help)");
  if (wants_help(rest)) {
    std::cout << command_help(name) << "\n"
              << "client options: --url URL, --token TOKEN, --json (see "
                 "tasker help)\n";
    return exit_ok;
  }
  context ctx;
  ctx.env = env;
  try {
    return cmd->second(ctx, rest);
  } catch (const nlohmann::json::exception& e) {
    // An answer that is JSON but not of the API's shape.
    std::cerr << "tasker: unexpected answer from " << ctx.conf.url << ": "
              << e.what() << "\n";
    return exit_server_error;
  }
}

std::string summary() {
  return "\n" + overview();
}

} // namespace tasker::cli
