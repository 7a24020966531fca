#include "config/config.hpp"

#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cache/redis_client.hpp"
#include "common/format.hpp"

namespace tasker {

namespace {

/// One option: its key (config file), flag and variable derive from it.
struct option {
  const char* key;
  const char* help;
  /// Sets the value from text; returns an error message or "".
  std::function<std::string(config&, const std::string&)> set;
  /// Renders the default.
  std::function<std::string(const config&)> get;
  /// An integer (a string otherwise).
  bool integer = false;
};

std::string flag_of(const std::string& key) {
  std::string out = "--";
  for (auto c : key)
    out += c == '_' ? '-' : c;
  return out;
}

std::string env_of(const std::string& key) {
  std::string out = "TASKER_";
  for (auto c : key)
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

template <class T>
option int_option(const char* key, const char* help, T config::*member,
                  int64_t lo, int64_t hi) {
  return {key, help,
          [=](config& cfg, const std::string& str) -> std::string {
            try {
              size_t pos = 0;
              auto val = std::stoll(str, &pos);
              if (pos != str.size())
                throw std::invalid_argument("trailing characters");
              if (val < lo || val > hi)
                return "must be between " + std::to_string(lo) + " and "
                       + std::to_string(hi) + ", got " + str;
              cfg.*member = static_cast<T>(val);
              return "";
            } catch (const std::exception&) {
              return "expects an integer, got '" + str + "'";
            }
          },
          [=](const config& cfg) { return std::to_string(cfg.*member); },
          true};
}

option str_option(const char* key, const char* help,
                  std::string config::*member) {
  return {key, help,
          [=](config& cfg, const std::string& str) -> std::string {
            cfg.*member = str;
            return "";
          },
          [=](const config& cfg) { return cfg.*member; }};
}

// Each option's key is the name of its member of `config`.
#define TASKER_INT(key, help, lo, hi)                                          \
  int_option(#key, help, &config::key, lo, hi)
#define TASKER_STR(key, help) str_option(#key, help, &config::key)

const std::vector<option>& options() {
  static const std::vector<option> opts = {
    TASKER_STR(db_url, "libpq URL of the database (serve)"),
    TASKER_STR(http_host, "address of the HTTP gateway"),
    TASKER_INT(http_port, "port of the HTTP gateway (0: any free port)",
               0, 65535),
    TASKER_INT(local_slots, "executor slots of the in-process worker node",
               0, 4096),
    TASKER_STR(cluster_host, "address the dispatcher is published on for "
               "workers"),
    TASKER_INT(cluster_port, "port of the dispatcher for workers (0: any free "
               "port)", 0, 65535),
    TASKER_STR(cluster_secret, "secret worker nodes present to join"),
    TASKER_INT(cluster_handshake_timeout_ms, "a cluster connection that has "
               "not proved the secret by then is closed", 100, 600000),
    TASKER_INT(cluster_max_handshakes, "most cluster connections proving the "
               "secret at once (past it the oldest is closed)", 1, 100000),
    TASKER_STR(coordinator_name, "this coordinator's name in /v1/cluster "
                                 "(default: host name and HTTP port)"),
    TASKER_STR(advertise_host, "the host other coordinators reach this one's "
                               "HTTP and cluster ports at (default: "
                               "cluster_host, or the host name when that is "
                               "a wildcard)"),
    TASKER_INT(lease_ms, "a standby coordinator takes over when the active "
                         "one has not renewed its lease for this long",
               500, 60000),
    TASKER_INT(node_suspect_ms, "a silent worker is SUSPECT after this long",
               100, 3600000),
    TASKER_INT(node_dead_ms, "a silent worker is DEAD after this long",
               200, 3600000),
    TASKER_STR(tls_cert, "TLS between nodes: this node's certificate (PEM)"),
    TASKER_STR(tls_key, "TLS between nodes: this node's private key (PEM)"),
    TASKER_STR(tls_ca, "TLS between nodes: the CA certificate (PEM)"),
    TASKER_STR(join, "worker: the coordinators' cluster ports, HOST:PORT, "
                     "comma-separated (it joins the active one)"),
    TASKER_STR(node_name, "worker: the node's name (default: host name)"),
    TASKER_INT(slots, "worker: executor slots", 1, 4096),
    TASKER_STR(types, "worker: task types to run, comma-separated (empty: all)"),
    TASKER_STR(task_types, "a JSON file of declared task types (docs/API.md)"),
    TASKER_STR(worker_token, "what HTTP workers authenticate with (besides "
                             "the cluster secret)"),
    TASKER_INT(lease_timeout_ms, "an HTTP worker's lease ends as a lost "
                                 "attempt without a heartbeat this long",
               100, 3600000),
    TASKER_STR(redis_url, "the Redis status cache, redis://HOST:PORT/DB or "
                          "unix:///PATH (empty: no cache)"),
    TASKER_INT(cache_ttl_s, "time to live of a Redis cache entry", 1,
               30 * 86400),
    TASKER_INT(cache_timeout_ms, "longest wait for one Redis call", 10, 5000),
    TASKER_INT(dev_redis, "tasker dev: 1 starts a private redis-server as the "
                          "cache (also: --redis)", 0, 1),
    TASKER_STR(retention, "finished tasks older than this are deleted, e.g. "
                          "7d, 12h, 30m (empty: kept for ever)"),
    TASKER_INT(retention_batch, "rows per retention delete", 1, 100000),
    TASKER_INT(retention_interval_ms, "time between two retention passes",
               100, 86400000),
    TASKER_INT(max_event_streams, "most event streams (GET /v1/events) open "
                                  "at once", 0, 100000),
    TASKER_INT(event_buffer_bytes, "what an event stream's client may leave "
                                   "unread before it is dropped",
               64 * 1024, 1 << 30),
    TASKER_INT(event_keepalive_ms, "time between keep-alive comments on an "
                                   "event stream", 100, 3600000),
    TASKER_INT(events_poll_ms, "how often the event stream reads new events",
               10, 10000),
    TASKER_INT(params_index, "1 makes the GIN index of params that lists "
                             "filtered by params use (at start, without "
                             "blocking writes)", 0, 1),
    TASKER_STR(webhook_secret, "key of the HMAC-SHA256 signature of webhook "
                               "bodies (empty: unsigned)"),
    TASKER_INT(webhook_timeout_ms, "longest webhook attempt", 100, 60000),
    TASKER_INT(webhook_max_attempts, "attempts of a webhook delivery before "
                                     "it fails", 1, 100),
    TASKER_INT(webhook_retry_base_ms, "back-off before a webhook's second "
                                      "attempt", 1, 3600000),
    TASKER_INT(webhook_retry_max_ms, "upper bound of the webhook back-off", 1,
               86400000),
    TASKER_INT(webhook_concurrency, "webhook attempts in flight at once", 1,
               256),
    TASKER_INT(webhook_allow_private, "1 lets callbacks reach loopback and "
                                      "private addresses", 0, 1),
    TASKER_STR(data_dir, "where `tasker dev` keeps its PostgreSQL (and "
                         "Redis)"),
    TASKER_INT(dev_pg_port, "port of the PostgreSQL of `tasker dev`", 1, 65535),
    TASKER_STR(log_level, "debug, info, warning or error"),
    TASKER_STR(log_format, "log lines: json (an object a line) or text (for "
                           "people)"),
    TASKER_INT(retry_base_ms, "back-off before the second attempt",
               1, 86400000),
    TASKER_INT(retry_max_ms, "upper bound of the retry back-off", 1, 86400000),
    TASKER_INT(default_max_attempts, "max_attempts when a task names none",
               1, 100),
    TASKER_INT(default_timeout_ms, "timeout_ms when a task names none",
               1, 86400000),
    TASKER_INT(max_body_bytes, "largest request body (413 above)",
               1024, int64_t{1} << 30),
    TASKER_INT(max_header_bytes, "largest request header block", 1024, 1 << 20),
    TASKER_INT(max_text_bytes, "largest text of a text_stats task",
               1, int64_t{1} << 30),
    TASKER_INT(max_top_n, "largest top_n of a text_stats task", 1, 100000),
    TASKER_INT(max_pending, "most unfinished tasks held; submits past it get "
               "429", 1, int64_t{1} << 40),
    TASKER_INT(submit_timeout_ms, "longest wait for a submission's commit "
               "before 503 (0: none)", 0, 3600000),
    TASKER_INT(delay_horizon_ms, "tasks due later than this stay in the "
               "database until they come due", 1000, int64_t{1} << 40),
    TASKER_INT(load_page, "rows per database read in recovery and when loading "
               "due tasks", 1, 1000000),
    TASKER_INT(max_db_backlog, "unwritten state updates past which dispatching "
               "pauses", 100, int64_t{1} << 40),
    TASKER_INT(max_connections, "most open HTTP connections (more are closed)",
               1, 1000000),
    TASKER_INT(header_timeout_ms, "time a client has to send a whole request "
               "head", 100, 3600000),
    TASKER_INT(idle_timeout_ms, "an idle keep-alive connection is closed after "
               "this", 100, 86400000),
    TASKER_INT(max_pipeline, "most requests in flight on one connection",
               1, 100000),
    TASKER_INT(max_request_buffer_bytes, "most bytes of requests being "
               "received over all connections (a request past it gets 503)",
               65536, int64_t{1} << 40),
    TASKER_INT(max_response_buffer_bytes, "most bytes of responses waiting for "
               "their clients over all connections (past it the connection "
               "holding the most is closed)", 65536, int64_t{1} << 40),
    TASKER_STR(auth_token, "bearer token required on /v1 (empty: no auth)"),
    TASKER_INT(max_batch, "most tasks in one batch submission", 1, 100000),
    TASKER_INT(db_writers, "database writer connections", 1, 64),
    TASKER_INT(batch_max_rows, "most task rows in one group commit", 1, 100000),
    TASKER_INT(result_cache_size, "finished tasks kept in memory", 0, 10000000),
    TASKER_INT(scheduler_threads, "actor scheduler threads (0: one per core)",
               0, 256),
    TASKER_STR(scheduler_policy, "actor scheduler: stealing or sharing"),
    TASKER_INT(fault_injection, "1 turns on POST /v1/debug/crash/{actor} for "
               "fault tests", 0, 1),
  };
  return opts;
}

#undef TASKER_INT
#undef TASKER_STR

/// The first option that `pred` holds for, or null.
template <class Pred>
const option* find_option(Pred pred) {
  for (auto& opt : options())
    if (pred(opt))
      return &opt;
  return nullptr;
}

std::string apply_file(config& cfg, const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return "cannot read config file '" + path + "'";
  nlohmann::json doc;
  try {
    // Comments (// and /* */) are allowed: packaging/tasker.conf has them.
    doc = nlohmann::json::parse(in, nullptr, true, true);
  } catch (const nlohmann::json::exception& e) {
    return "config file '" + path + "' is not valid JSON: " + e.what();
  }
  if (!doc.is_object())
    return "config file '" + path + "' must hold a JSON object";
  for (auto& [key, val] : doc.items()) {
    auto opt = find_option([&](const option& o) { return key == o.key; });
    if (opt == nullptr)
      return "config file '" + path + "': unknown key '" + key + "'";
    std::string text;
    if (val.is_string())
      text = val.get<std::string>();
    else if (val.is_number_integer() || val.is_boolean())
      text = val.dump();
    else
      return "config file '" + path + "': key '" + key
             + "' must be a string or an integer";
    if (auto err = opt->set(cfg, text); !err.empty())
      return "config file '" + path + "': " + key + " " + err;
  }
  return "";
}

} // namespace

int64_t config::retention_ms() const {
  if (retention.empty() || retention == "0")
    return 0;
  return parse_duration_ms(retention).value_or(-1);
}

std::string config::validate() const {
  if (log_level != "debug" && log_level != "info" && log_level != "warning"
      && log_level != "error")
    return "log_level must be debug, info, warning or error, got '"
           + log_level + "'";
  if (log_format != "json" && log_format != "text")
    return "log_format must be json or text, got '" + log_format + "'";
  if (retry_base_ms > retry_max_ms)
    return "retry_base_ms (" + std::to_string(retry_base_ms)
           + ") must not exceed retry_max_ms (" + std::to_string(retry_max_ms)
           + ")";
  if (command == "serve" && db_url.empty())
    return "serve needs a database: set TASKER_DB_URL or --db-url";
  if (scheduler_policy != "stealing" && scheduler_policy != "sharing")
    return "scheduler_policy must be stealing or sharing, got '"
           + scheduler_policy + "'";
  if (node_suspect_ms >= node_dead_ms)
    return "node_suspect_ms (" + std::to_string(node_suspect_ms)
           + ") must be less than node_dead_ms (" + std::to_string(node_dead_ms)
           + ")";
  if (!tls_cert.empty() || !tls_key.empty() || !tls_ca.empty()) {
    if (tls_cert.empty() || tls_key.empty() || tls_ca.empty())
      return "TLS needs all of tls_cert, tls_key and tls_ca (TASKER_TLS_CERT, "
             "TASKER_TLS_KEY, TASKER_TLS_CA)";
    for (auto* path : {&tls_cert, &tls_key, &tls_ca})
      if (std::ifstream{*path}.fail())
        return "cannot read the TLS file '" + *path + "'";
  }
  if (command == "worker") {
    std::vector<std::string> items;
    for (size_t at = 0;;) {
      auto comma = join.find(',', at);
      items.push_back(join.substr(at, comma == std::string::npos
                                        ? std::string::npos
                                        : comma - at));
      if (comma == std::string::npos)
        break;
      at = comma + 1;
    }
    for (auto& item : items) {
      auto colon = item.rfind(':');
      if (item.empty() || colon == std::string::npos || colon == 0
          || colon + 1 == item.size()
          || item.find_first_not_of("0123456789", colon + 1)
               != std::string::npos
          || item.size() - colon - 1 > 5
          || std::stoi(item.substr(colon + 1)) > 65535 || items.size() > 64)
        return "worker needs the coordinators as HOST:PORT[,HOST:PORT...]: "
               "set TASKER_JOIN or --join, got '"
               + join + "'";
    }
    if (cluster_secret.empty())
      return "worker needs the cluster secret: set TASKER_CLUSTER_SECRET or "
             "--cluster-secret";
  }
  if (!redis_url.empty()) {
    std::string why;
    if (!parse_redis_url(redis_url, why))
      return "redis_url: " + why;
  }
  if (retention_ms() < 0)
    return "retention must be a number and a unit (s, m, h or d), e.g. 7d, "
           "got '" + retention + "'";
  if (retention_ms() > 0 && retention_ms() < 1000)
    return "retention must be at least 1s";
  if (dev_redis != 0 && command != "dev")
    return "--redis (dev_redis) is for tasker dev; give serve a redis_url";
  if (http_host.empty())
    return "http_host must not be empty";
  if (data_dir.empty())
    return "data_dir must not be empty";
  return "";
}

std::string config_help() {
  std::ostringstream out;
  out << "usage: tasker <dev|serve|worker> [options]\n"
         "       tasker --version\n\n"
         "  dev     the whole system on one machine, with a private PostgreSQL\n"
         "  serve   a coordinator against TASKER_DB_URL\n"
         "  worker  a worker node: tasker worker --join HOST:PORT\n\n"
         "options (flag, environment variable, config-file key, default):\n"
         "  --config FILE  TASKER_CONFIG  a JSON file of the keys below\n";
  config defaults;
  for (auto& opt : options())
    out << "  " << flag_of(opt.key) << "  " << env_of(opt.key) << "  "
        << opt.key << "  [" << opt.get(defaults) << "]\n      " << opt.help
        << "\n";
  return out.str();
}

namespace {

/// Appends `text` as comment lines of at most 79 columns, each opening with
/// `indent` and "// ".
void append_comment(std::string& out, const std::string& indent,
                    const std::string& text) {
  std::istringstream words{text};
  std::string word, line;
  auto emit = [&] {
    out += indent + "//" + (line.empty() ? "" : " " + line) + "\n";
    line.clear();
  };
  while (words >> word) {
    if (!line.empty() && indent.size() + 3 + line.size() + 1 + word.size() > 79)
      emit();
    line += (line.empty() ? "" : " ") + word;
  }
  emit();
}

/// A value of `opt` as it is written in a config file.
std::string file_value(const option& opt, const std::string& value) {
  return opt.integer ? value : nlohmann::json(value).dump();
}

} // namespace

std::string sample_config(const std::string& command) {
  // What the command reads (the rest it ignores), and what it needs set:
  // those come last, uncommented, with a value to edit. The other lines end
  // in a comma, so that any of them may be uncommented.
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, std::string>> required;
  std::string file, intro;
  if (command == "serve") {
    file = "/etc/tasker/tasker.conf";
    intro = "the coordinator's settings, read by `tasker serve --config "
            "/etc/tasker/tasker.conf` (tasker.service).";
    for (auto& opt : options())
      if (std::string{opt.key} != "db_url")
        keys.emplace_back(opt.key);
    required = {{"db_url", "postgresql:///tasker"}};
  } else if (command == "worker") {
    file = "/etc/tasker/worker.conf";
    intro = "the settings of the worker nodes, read by `tasker worker "
            "--config /etc/tasker/worker.conf --node-name NAME` "
            "(tasker-worker@NAME.service, whose instance name is the node "
            "name and wins over node_name here).";
    keys = {"node_name", "slots", "types", "task_types", "max_text_bytes",
            "max_top_n", "tls_cert", "tls_key", "tls_ca", "log_level",
            "log_format"};
    required = {{"join", "127.0.0.1:4242"}, {"cluster_secret", ""}};
  } else {
    return "";
  }
  std::string out;
  append_comment(out, "", file + ": " + intro + " Written by `tasker "
                 "sample-config " + command + "`.");
  out += "//\n";
  append_comment(out, "", "A JSON object, with // comments. Each option is "
                 "shown commented out, at its default: remove the // before "
                 "its key to set it. The environment (TASKER_<KEY> variables, "
                 "which the service also reads from /etc/tasker/"
                 + std::string{command == "serve" ? "tasker" : "worker"}
                 + ".env) and flags win over this file; secrets may go there "
                   "instead. `tasker --help` lists every option's flag and "
                   "variable.");
  out += "{\n";
  config defaults;
  for (auto& key : keys) {
    auto& opt = *find_option([&](const option& o) { return key == o.key; });
    append_comment(out, "  ", opt.help);
    out += "  // \"" + key + "\": " + file_value(opt, opt.get(defaults))
           + ",\n\n";
  }
  for (size_t i = 0; i < required.size(); ++i) {
    auto& [key, value] = required[i];
    auto& opt = *find_option([&](const option& o) { return key == o.key; });
    append_comment(out, "  ", std::string{opt.help} + ". Required.");
    if (key == "db_url")
      append_comment(out, "  ", "postgresql:///tasker: the database tasker "
                     "of a PostgreSQL on this machine, over its socket, as "
                     "the system user tasker (peer authentication); e.g. "
                     "postgresql://tasker:PASSWORD@db.example.com/tasker for "
                     "another one.");
    else if (key == "join")
      append_comment(out, "  ", "Each coordinator's cluster_host (or "
                     "advertise_host) and cluster_port, e.g. "
                     "a.example.com:4242,b.example.com:4242 for a pair.");
    else if (key == "cluster_secret")
      append_comment(out, "  ", "The coordinator's cluster_secret (or "
                     "TASKER_CLUSTER_SECRET in /etc/tasker/worker.env).");
    out += "  \"" + key + "\": " + file_value(opt, value)
           + (i + 1 < required.size() ? ",\n\n" : "\n");
  }
  out += "}\n";
  return out;
}

config_result load_config(const std::vector<std::string>& args,
                          const std::vector<std::string>& env) {
  config_result res;
  auto& cfg = res.cfg;
  auto fail = [&res](std::string why) {
    res.error = std::move(why);
    return res;
  };
  auto env_value = [&](const std::string& name, std::string& out) {
    for (auto& kv : env)
      if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0
          && kv[name.size()] == '=') {
        out = kv.substr(name.size() + 1);
        return true;
      }
    return false;
  };
  // Split flags into (name, value) pairs first, to find --config.
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file;
  env_value("TASKER_CONFIG", config_file);
  for (size_t i = 0; i < args.size(); ++i) {
    auto& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      res.help = config_help();
      return res;
    }
    if (arg == "--redis") {
      flags.emplace_back("--dev-redis", "1");
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      if (!cfg.command.empty())
        return fail("unexpected argument '" + arg + "'");
      cfg.command = arg;
      continue;
    }
    std::string name = arg, value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return fail("option " + arg + " needs a value");
    }
    if (name == "--config")
      config_file = value;
    else
      flags.emplace_back(name, value);
  }
  if (cfg.command.empty())
    return fail("missing command: tasker dev | serve | worker (see --help)");
  if (cfg.command != "dev" && cfg.command != "serve" && cfg.command != "worker")
    return fail("unknown command '" + cfg.command
                + "' (expected dev, serve or worker)");
  if (!config_file.empty())
    if (auto err = apply_file(cfg, config_file); !err.empty())
      return fail(err);
  for (auto& opt : options()) {
    std::string value;
    if (env_value(env_of(opt.key), value))
      if (auto err = opt.set(cfg, value); !err.empty())
        return fail(env_of(opt.key) + " " + err);
  }
  for (auto& [given, value] : flags) {
    // `--name` is the worker's short spelling of --node-name.
    auto name = given == "--name" ? std::string{"--node-name"} : given;
    auto match
      = find_option([&](const option& o) { return flag_of(o.key) == name; });
    if (match == nullptr)
      return fail("unknown option " + name + " (see --help)");
    if (auto err = match->set(cfg, value); !err.empty())
      return fail(name + " " + err);
  }
  res.error = cfg.validate();
  return res;
}

} // namespace tasker
