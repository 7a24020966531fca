#include "config/config.hpp"

#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

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
          [=](const config& cfg) { return std::to_string(cfg.*member); }};
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

const std::vector<option>& options() {
  static const std::vector<option> opts = {
    str_option("db_url", "libpq URL of the database (serve)", &config::db_url),
    str_option("http_host", "address of the HTTP gateway", &config::http_host),
    int_option("http_port", "port of the HTTP gateway (0: any free port)",
               &config::http_port, 0, 65535),
    int_option("local_slots", "executor slots of the in-process worker node",
               &config::local_slots, 0, 4096),
    str_option("cluster_host", "address the dispatcher is published on for workers",
               &config::cluster_host),
    int_option("cluster_port", "port of the dispatcher for workers (0: any free port)",
               &config::cluster_port, 0, 65535),
    str_option("cluster_secret", "secret worker nodes present to join",
               &config::cluster_secret),
    int_option("cluster_handshake_timeout_ms",
               "a cluster connection that has not proved the secret by then "
               "is closed",
               &config::cluster_handshake_timeout_ms, 100, 600000),
    int_option("cluster_max_handshakes",
               "most cluster connections proving the secret at once (past "
               "it the oldest is closed)",
               &config::cluster_max_handshakes, 1, 100000),
    int_option("node_suspect_ms", "a silent worker is SUSPECT after this long",
               &config::node_suspect_ms, 100, 3600000),
    int_option("node_dead_ms", "a silent worker is DEAD after this long",
               &config::node_dead_ms, 200, 3600000),
    str_option("tls_cert", "TLS between nodes: this node's certificate (PEM)",
               &config::tls_cert),
    str_option("tls_key", "TLS between nodes: this node's private key (PEM)",
               &config::tls_key),
    str_option("tls_ca", "TLS between nodes: the CA certificate (PEM)",
               &config::tls_ca),
    str_option("join", "worker: the coordinator's HOST:PORT", &config::join),
    str_option("node_name", "worker: the node's name (default: host name)",
               &config::node_name),
    int_option("slots", "worker: executor slots", &config::slots, 1, 4096),
    str_option("types", "worker: task types to run, comma-separated (empty: all)",
               &config::types),
    str_option("data_dir", "where `tasker dev` keeps its PostgreSQL",
               &config::data_dir),
    int_option("dev_pg_port", "port of the PostgreSQL of `tasker dev`",
               &config::dev_pg_port, 1, 65535),
    str_option("log_level", "debug, info, warning or error",
               &config::log_level),
    int_option("retry_base_ms", "back-off before the second attempt",
               &config::retry_base_ms, 1, 86400000),
    int_option("retry_max_ms", "upper bound of the retry back-off",
               &config::retry_max_ms, 1, 86400000),
    int_option("default_max_attempts", "max_attempts when a task names none",
               &config::default_max_attempts, 1, 100),
    int_option("default_timeout_ms", "timeout_ms when a task names none",
               &config::default_timeout_ms, 1, 86400000),
    int_option("max_body_bytes", "largest request body (413 above)",
               &config::max_body_bytes, 1024, int64_t{1} << 30),
    int_option("max_header_bytes", "largest request header block",
               &config::max_header_bytes, 1024, 1 << 20),
    int_option("max_text_bytes", "largest text of a text_stats task",
               &config::max_text_bytes, 1, int64_t{1} << 30),
    int_option("max_top_n", "largest top_n of a text_stats task",
               &config::max_top_n, 1, 100000),
    int_option("max_pending", "most unfinished tasks held; submits past it get 429",
               &config::max_pending, 1, int64_t{1} << 40),
    int_option("submit_timeout_ms",
               "longest wait for a submission's commit before 503 (0: none)",
               &config::submit_timeout_ms, 0, 3600000),
    int_option("delay_horizon_ms",
               "tasks due later than this stay in the database until they come due",
               &config::delay_horizon_ms, 1000, int64_t{1} << 40),
    int_option("load_page",
               "rows per database read in recovery and when loading due tasks",
               &config::load_page, 1, 1000000),
    int_option("max_db_backlog",
               "unwritten state updates past which dispatching pauses",
               &config::max_db_backlog, 100, int64_t{1} << 40),
    int_option("max_connections", "most open HTTP connections (more are closed)",
               &config::max_connections, 1, 1000000),
    int_option("header_timeout_ms",
               "time a client has to send a whole request head",
               &config::header_timeout_ms, 100, 3600000),
    int_option("idle_timeout_ms", "an idle keep-alive connection is closed after this",
               &config::idle_timeout_ms, 100, 86400000),
    int_option("max_pipeline", "most requests in flight on one connection",
               &config::max_pipeline, 1, 100000),
    int_option("max_request_buffer_bytes",
               "most bytes of requests being received over all connections "
               "(a request past it gets 503)",
               &config::max_request_buffer_bytes, 65536, int64_t{1} << 40),
    int_option("max_response_buffer_bytes",
               "most bytes of responses waiting for their clients over all "
               "connections (past it the connection holding the most is "
               "closed)",
               &config::max_response_buffer_bytes, 65536, int64_t{1} << 40),
    str_option("auth_token", "bearer token required on /v1 (empty: no auth)",
               &config::auth_token),
    int_option("max_batch", "most tasks in one batch submission",
               &config::max_batch, 1, 100000),
    int_option("db_writers", "database writer connections",
               &config::db_writers, 1, 64),
    int_option("batch_max_rows", "most task rows in one group commit",
               &config::batch_max_rows, 1, 100000),
    int_option("result_cache_size", "finished tasks kept in memory",
               &config::result_cache_size, 0, 10000000),
    int_option("scheduler_threads", "actor scheduler threads (0: one per core)",
               &config::scheduler_threads, 0, 256),
    str_option("scheduler_policy", "actor scheduler: stealing or sharing",
               &config::scheduler_policy),
    int_option("fault_injection",
               "1 turns on POST /v1/debug/crash/{actor} for fault tests",
               &config::fault_injection, 0, 1),
  };
  return opts;
}

const option* find_by_key(const std::string& key) {
  for (auto& opt : options())
    if (key == opt.key)
      return &opt;
  return nullptr;
}

std::string apply_file(config& cfg, const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return "cannot read config file '" + path + "'";
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    return "config file '" + path + "' is not valid JSON: " + e.what();
  }
  if (!doc.is_object())
    return "config file '" + path + "' must hold a JSON object";
  for (auto& [key, val] : doc.items()) {
    auto opt = find_by_key(key);
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

std::string config::validate() const {
  if (log_level != "debug" && log_level != "info" && log_level != "warning"
      && log_level != "error")
    return "log_level must be debug, info, warning or error, got '"
           + log_level + "'";
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
    auto colon = join.rfind(':');
    if (join.empty() || colon == std::string::npos || colon == 0
        || colon + 1 == join.size()
        || join.find_first_not_of("0123456789", colon + 1) != std::string::npos
        || join.size() - colon - 1 > 5
        || std::stoi(join.substr(colon + 1)) > 65535)
      return "worker needs the coordinator as HOST:PORT: set TASKER_JOIN or "
             "--join, got '"
             + join + "'";
    if (cluster_secret.empty())
      return "worker needs the cluster secret: set TASKER_CLUSTER_SECRET or "
             "--cluster-secret";
  }
  if (http_host.empty())
    return "http_host must not be empty";
  if (data_dir.empty())
    return "data_dir must not be empty";
  return "";
}

std::string config_help() {
  std::ostringstream out;
  out << "usage: tasker <dev|serve|worker> [options]\n\n"
         "  dev     the whole system on one machine, with a private PostgreSQL\n"
         "  serve   a coordinator against TASKER_DB_URL\n"
         "  worker  a worker node: tasker worker --join HOST:PORT\n\n"
         "options (flag, environment variable, config-file key, default):\n"
         "  --config FILE  TASKER_CONFIG  a JSON file of the keys below\n";
  config defaults;
  for (auto& opt : options()) {
    out << "  " << flag_of(opt.key) << "  " << env_of(opt.key) << "  "
        << opt.key << "  [" << opt.get(defaults) << "]\n      " << opt.help
        << "\n";
  }
  return out.str();
}

config_result load_config(const std::vector<std::string>& args,
                          const std::vector<std::string>& env) {
  config_result res;
  auto& cfg = res.cfg;
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
    if (arg.rfind("--", 0) != 0) {
      if (!cfg.command.empty()) {
        res.error = "unexpected argument '" + arg + "'";
        return res;
      }
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
      res.error = "option " + arg + " needs a value";
      return res;
    }
    if (name == "--config")
      config_file = value;
    else
      flags.emplace_back(name, value);
  }
  if (cfg.command.empty()) {
    res.error = "missing command: tasker dev | serve | worker (see --help)";
    return res;
  }
  if (cfg.command != "dev" && cfg.command != "serve" && cfg.command != "worker") {
    res.error = "unknown command '" + cfg.command
                + "' (expected dev, serve or worker)";
    return res;
  }
  if (!config_file.empty())
    if (auto err = apply_file(cfg, config_file); !err.empty()) {
      res.error = err;
      return res;
    }
  for (auto& opt : options()) {
    std::string value;
    if (env_value(env_of(opt.key), value))
      if (auto err = opt.set(cfg, value); !err.empty()) {
        res.error = env_of(opt.key) + " " + err;
        return res;
      }
  }
  for (auto& [given, value] : flags) {
    // `--name` is the worker's short spelling of --node-name.
    auto name = given == "--name" ? std::string{"--node-name"} : given;
    const option* match = nullptr;
    for (auto& opt : options())
      if (flag_of(opt.key) == name)
        match = &opt;
    if (match == nullptr) {
      res.error = "unknown option " + name + " (see --help)";
      return res;
    }
    if (auto err = match->set(cfg, value); !err.empty()) {
      res.error = name + " " + err;
      return res;
    }
  }
  res.error = cfg.validate();
  return res;
}

} // namespace tasker
