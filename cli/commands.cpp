// The client commands that read and change single things: get, list,
// cancel, retry, workers, drain, types and a task's history.
#include "cli/commands.hpp"

#include "cli/output.hpp"
#include "common/format.hpp"

#include <algorithm>
#include <cctype>
#include <iostream>

namespace tasker::cli {

namespace {

std::string compact(const nlohmann::json& js) {
  return js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Parses a command's arguments and connects; exit_ok or the code to end
/// with. `positional` is how many positional arguments it takes.
int prepare(context& ctx, const std::string& command,
            const std::vector<std::string>& args,
            const std::vector<option_spec>& spec, size_t positional,
            parsed_args& opts) {
  opts = parse_args(args, with_globals(spec));
  if (!opts.error.empty())
    return usage_error(opts.error + " (see tasker " + command + " --help)");
  if (opts.positional.size() != positional) {
    auto help = command_help(command);
    return usage_error(help.substr(0, help.find('\n')) + " (see tasker " +
                       command + " --help)");
  }
  return connect(ctx, opts);
}

/// Checks that `id` is a task id: a UUID.
bool check_task_id(const std::string& id) {
  if (is_uuid(id))
    return true;
  usage_error("'" + id + "' is not a task id (a UUID)");
  return false;
}

/// Sends a POST that changes a task (cancel, retry) and prints the task.
int change_task(context& ctx, const std::string& command,
                const std::vector<std::string>& args, const std::string& verb,
                const std::string& done) {
  parsed_args opts;
  if (auto rc = prepare(ctx, command, args, {}, 1, opts); rc != exit_ok)
    return rc;
  auto& id = opts.positional[0];
  if (!check_task_id(id))
    return exit_usage;
  auto res =
      call(ctx, "POST", "/v1/tasks/" + url_encode(lower(id)) + "/" + verb, {},
           request_timeout_ms, false);
  if (!succeeded(res))
    return report_failure(ctx, res);
  auto task = parse_body(res);
  if (!task)
    return exit_server_error;
  if (ctx.json)
    print_task(ctx, *task);
  else
    std::cout << done << " " << cell_text(task->value("id", id)) << " ("
              << cell_text(task->value("status", nlohmann::json{})) << ")\n";
  return exit_ok;
}

/// GETs a listing that takes no arguments. With --json it prints the answer
/// and leaves `out` empty; else `out` is the parsed answer. An exit code
/// other than exit_ok when the request failed.
int fetch_listing(context& ctx, const std::string& command,
                  const std::vector<std::string>& args, const char* path,
                  std::optional<nlohmann::json>& out) {
  parsed_args opts;
  if (auto rc = prepare(ctx, command, args, {}, 0, opts); rc != exit_ok)
    return rc;
  auto res = call(ctx, "GET", path, {}, request_timeout_ms, true);
  if (!succeeded(res))
    return report_failure(ctx, res);
  auto js = parse_body(res);
  if (!js)
    return exit_server_error;
  if (ctx.json)
    std::cout << compact(*js) << "\n";
  else
    out = std::move(js);
  return exit_ok;
}

} // namespace

int run_get(context& ctx, const std::vector<std::string>& args) {
  parsed_args opts;
  if (auto rc = prepare(ctx, "get", args,
                        {{"--wait", false}, {"--timeout", true}}, 1, opts);
      rc != exit_ok)
    return rc;
  auto& id = opts.positional[0];
  if (!check_task_id(id))
    return exit_usage;
  std::optional<int64_t> timeout;
  if (opts.has("--timeout")) {
    timeout = parse_cli_duration_ms(opts.options["--timeout"]);
    if (!timeout)
      return usage_error("--timeout must be a duration such as 500ms, 30s or "
                         "5m, got '" +
                         opts.options["--timeout"] + "'");
    if (!opts.has("--wait"))
      return usage_error("--timeout goes with --wait");
  }
  if (opts.has("--wait")) {
    nlohmann::json task;
    auto rc = wait_for_task(ctx, lower(id), timeout, task);
    if (task.is_object())
      print_task(ctx, task);
    return rc;
  }
  auto res = call(ctx, "GET", "/v1/tasks/" + url_encode(lower(id)), {},
                  request_timeout_ms, true);
  if (!succeeded(res))
    return report_failure(ctx, res);
  auto task = parse_body(res);
  if (!task)
    return exit_server_error;
  print_task(ctx, *task);
  return exit_ok;
}

int run_list(context& ctx, const std::vector<std::string>& args) {
  parsed_args opts;
  if (auto rc = prepare(ctx, "list", args,
                        {{"--status", true},
                         {"--type", true},
                         {"--params", true},
                         {"--limit", true},
                         {"--all", false}},
                        0, opts);
      rc != exit_ok)
    return rc;
  int64_t limit = 100;
  if (opts.has("--limit")) {
    auto n = parse_count(opts.options["--limit"]);
    if (!n || *n < 1 || *n > 1000)
      return usage_error("--limit must be 1..1000, got '" +
                         opts.options["--limit"] + "'");
    limit = *n;
  }
  std::string query = "?limit=" + std::to_string(limit);
  if (opts.has("--status")) {
    // (The API takes statuses in capitals.)
    auto status = opts.options["--status"];
    for (auto& c : status)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    query += "&status=" + url_encode(status);
  }
  if (opts.has("--type"))
    query += "&type=" + url_encode(opts.options["--type"]);
  if (opts.has("--params")) {
    auto js = nlohmann::json::parse(opts.options["--params"], nullptr, false);
    if (!js.is_object())
      return usage_error("--params must be a JSON object such as "
                         "'{\"customer\": \"42\"}'");
    query += "&params=" + url_encode(compact(js));
  }
  bool all = opts.has("--all");
  table rows{{"ID", "TYPE", "STATUS", "ATTEMPTS", "CREATED", "ERROR"}};
  std::string cursor;
  size_t pages = 0, count = 0;
  if (ctx.json && all)
    std::cout << "{\"tasks\":[";
  for (;;) {
    auto path = "/v1/tasks" + query +
                (cursor.empty() ? "" : "&cursor=" + url_encode(cursor));
    auto res = call(ctx, "GET", path, {}, request_timeout_ms, true);
    if (!succeeded(res)) {
      if (ctx.json && all)
        std::cout << "]}\n" << std::flush;
      return report_failure(ctx, res);
    }
    auto page = parse_body(res);
    if (!page || !page->is_object() || !(*page)["tasks"].is_array())
      return exit_server_error;
    ++pages;
    if (ctx.json && !all) {
      std::cout << compact(*page) << "\n";
      return exit_ok;
    }
    for (auto& task : (*page)["tasks"]) {
      if (ctx.json) {
        // Streamed, a page at a time: --all over millions of tasks holds
        // one page in memory.
        std::cout << (count > 0 ? "," : "") << compact(task);
      } else {
        auto attempts = cell_text(task.value("attempts", nlohmann::json{})) +
                        "/" +
                        cell_text(task.value("max_attempts", nlohmann::json{}));
        rows.add(
            {cell_text(task.value("id", nlohmann::json{})),
             cell_text(task.value("type", nlohmann::json{})),
             cell_text(task.value("status", nlohmann::json{})), attempts,
             cell_text(task.value("created_at", nlohmann::json{})),
             truncate(cell_text(task.value("error", nlohmann::json{})), 60)});
      }
      ++count;
    }
    auto next = page->value("next_cursor", nlohmann::json{});
    if (!all || !next.is_string()) {
      if (ctx.json) {
        std::cout << "],\"next_cursor\":null}\n" << std::flush;
      } else {
        std::cout << rows.str();
        if (next.is_string())
          std::cout << "(more: tasker list --all, or a larger --limit)\n";
      }
      return exit_ok;
    }
    cursor = next.get<std::string>();
    if (!ctx.json && rows.str().size() > (1 << 20)) {
      // Long listings are printed a block at a time.
      std::cout << rows.str() << std::flush;
      rows = table{{"ID", "TYPE", "STATUS", "ATTEMPTS", "CREATED", "ERROR"}};
    }
  }
}

int run_cancel(context& ctx, const std::vector<std::string>& args) {
  return change_task(ctx, "cancel", args, "cancel", "cancelled");
}

int run_retry(context& ctx, const std::vector<std::string>& args) {
  return change_task(ctx, "retry", args, "retry", "retrying");
}

int run_workers(context& ctx, const std::vector<std::string>& args) {
  std::optional<nlohmann::json> js;
  if (auto rc = fetch_listing(ctx, "workers", args, "/v1/workers", js);
      rc != exit_ok || !js)
    return rc;
  table rows{{"ID", "NAME", "KIND", "ADDRESS", "STATUS", "SLOTS", "BUSY",
              "COMPLETED", "FAILED", "TYPES"}};
  for (auto& w : js->value("workers", nlohmann::json::array())) {
    std::string types;
    for (auto& t : w.value("task_types", nlohmann::json::array()))
      types += (types.empty() ? "" : ",") + cell_text(t);
    rows.add({cell_text(w.value("id", nlohmann::json{})),
              cell_text(w.value("name", nlohmann::json{})),
              cell_text(w.value("kind", nlohmann::json{})),
              cell_text(w.value("address", nlohmann::json{})),
              cell_text(w.value("status", nlohmann::json{})),
              cell_text(w.value("slots", nlohmann::json{})),
              cell_text(w.value("busy", nlohmann::json{})),
              cell_text(w.value("completed", nlohmann::json{})),
              cell_text(w.value("failed", nlohmann::json{})),
              truncate(types, 60)});
  }
  std::cout << rows.str();
  return exit_ok;
}

int run_drain(context& ctx, const std::vector<std::string>& args) {
  parsed_args opts;
  if (auto rc = prepare(ctx, "drain", args, {}, 1, opts); rc != exit_ok)
    return rc;
  auto& id = opts.positional[0];
  auto res = call(ctx, "POST", "/v1/workers/" + url_encode(id) + "/drain", {},
                  request_timeout_ms, false);
  if (!succeeded(res))
    return report_failure(ctx, res);
  if (ctx.json)
    std::cout << (res.body.empty() ? std::string{"{}"} : res.body) << "\n";
  else
    std::cout << "draining " << printable(id) << "\n";
  return exit_ok;
}

int run_types(context& ctx, const std::vector<std::string>& args) {
  std::optional<nlohmann::json> js;
  if (auto rc = fetch_listing(ctx, "types", args, "/v1/task-types", js);
      rc != exit_ok || !js)
    return rc;
  table rows{{"TYPE", "RUNS", "PARAMS", "DESCRIPTION"}};
  for (auto& t : js->value("task_types", nlohmann::json::array())) {
    // The params' names, required ones marked with a star.
    std::string params;
    auto schema = t.value("params_schema", nlohmann::json::object());
    if (!schema.is_object()) // (`true` is a schema too)
      schema = nlohmann::json::object();
    auto required = schema.value("required", nlohmann::json::array());
    auto properties = schema.value("properties", nlohmann::json::object());
    for (auto& property : properties.items()) {
      auto& name = property.key();
      bool req =
          std::find(required.begin(), required.end(), name) != required.end();
      params +=
          (params.empty() ? "" : ",") + printable(name) + (req ? "*" : "");
    }
    rows.add(
        {cell_text(t.value("type", nlohmann::json{})),
         cell_text(t.value("runs", nlohmann::json{})), truncate(params, 40),
         truncate(cell_text(t.value("description", nlohmann::json{})), 60)});
  }
  std::cout << rows.str();
  return exit_ok;
}

int run_events(context& ctx, const std::vector<std::string>& args) {
  parsed_args opts;
  opts = parse_args(args, with_globals({{"--follow", false},
                                        {"--type", true},
                                        {"--status", true},
                                        {"--kind", true},
                                        {"--last-event-id", true}}));
  if (!opts.error.empty())
    return usage_error(opts.error + " (see tasker events --help)");
  if (opts.has("--follow")) {
    if (!opts.positional.empty())
      return usage_error("events --follow takes no task id (it follows every "
                         "task; filter with --type, --status, --kind)");
    if (auto rc = connect(ctx, opts); rc != exit_ok)
      return rc;
    return run_follow(ctx, opts);
  }
  for (auto flag : {"--type", "--status", "--kind", "--last-event-id"})
    if (opts.has(flag))
      return usage_error(std::string{flag} + " goes with --follow");
  if (opts.positional.size() != 1)
    return usage_error("usage: tasker events ID | tasker events --follow "
                       "(see tasker events --help)");
  if (auto rc = connect(ctx, opts); rc != exit_ok)
    return rc;
  auto& id = opts.positional[0];
  if (!check_task_id(id))
    return exit_usage;
  auto res = call(ctx, "GET", "/v1/tasks/" + url_encode(lower(id)) + "/events",
                  {}, request_timeout_ms, true);
  if (!succeeded(res))
    return report_failure(ctx, res);
  auto js = parse_body(res);
  if (!js || !js->is_object())
    return exit_server_error;
  if (ctx.json) {
    std::cout << compact(*js) << "\n";
    return exit_ok;
  }
  table rows{{"SEQ", "AT", "KIND", "STATUS", "ATTEMPT", "WORKER", "DURATION_MS",
              "ERROR"}};
  for (auto& ev : js->value("events", nlohmann::json::array()))
    rows.add({cell_text(ev.value("seq", nlohmann::json{})),
              cell_text(ev.value("at", nlohmann::json{})),
              cell_text(ev.value("kind", nlohmann::json{})),
              cell_text(ev.value("status", nlohmann::json{})),
              cell_text(ev.value("attempt", nlohmann::json{})),
              cell_text(ev.value("worker_id", nlohmann::json{})),
              cell_text(ev.value("duration_ms", nlohmann::json{})),
              truncate(cell_text(ev.value("error", nlohmann::json{})), 60)});
  std::cout << rows.str();
  if (js->value("more", false))
    std::cout << "(only the first 1,000 transitions are shown)\n";
  auto callbacks = js->value("callbacks", nlohmann::json::array());
  if (!callbacks.empty()) {
    table hooks{
        {"SEQ", "URL", "STATE", "ATTEMPTS", "LAST_STATUS", "LAST_ERROR"}};
    for (auto& cb : callbacks)
      hooks.add(
          {cell_text(cb.value("seq", nlohmann::json{})),
           truncate(cell_text(cb.value("url", nlohmann::json{})), 60),
           cell_text(cb.value("state", nlohmann::json{})),
           cell_text(cb.value("attempts", nlohmann::json{})),
           cell_text(cb.value("last_status", nlohmann::json{})),
           truncate(cell_text(cb.value("last_error", nlohmann::json{})), 60)});
    std::cout << "\ncallbacks:\n" << hooks.str();
  }
  return exit_ok;
}

} // namespace tasker::cli
