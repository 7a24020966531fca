#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tasker {

/// Every setting of a tasker process. Each one is a key in the JSON config
/// file, a `--flag` and a `TASKER_*` environment variable; later sources win:
/// defaults, then the file, then the environment, then flags. What each
/// means is its help text in config.cpp (`tasker --help`); the notes here
/// add only what the help does not say.
struct config {
  /// The sub-command: dev, serve or worker.
  std::string command;
  std::string db_url;
  std::string http_host = "127.0.0.1";
  /// Port of the HTTP gateway; 0 picks a free port (logged at start).
  uint16_t http_port = 8080;
  int32_t local_slots = 8;
  std::string cluster_host = "127.0.0.1";
  /// Port of the dispatcher for worker nodes; 0 picks a free port (logged).
  uint16_t cluster_port = 4242;
  std::string cluster_secret;
  /// Plain cluster port: a connection that has not proved the secret within
  /// this long is closed (not with TLS).
  int64_t cluster_handshake_timeout_ms = 5000;
  /// Plain cluster port: most connections proving the secret at once; one
  /// more is closed at once (not with TLS).
  int64_t cluster_max_handshakes = 64;
  /// Standby coordinators: this one's name in /v1/cluster (empty: host
  /// name and HTTP port); the host other coordinators reach its ports at
  /// (empty: cluster_host, or the host name when that is a wildcard); how
  /// long the active one may go without renewing its lease before a standby
  /// takes over.
  std::string coordinator_name;
  std::string advertise_host;
  int64_t lease_ms = 3000;
  int64_t node_suspect_ms = 2000;
  int64_t node_dead_ms = 5000;
  /// TLS between nodes: this node's certificate (PEM). With tls_key and
  /// tls_ca set too, the coordinator accepts and workers connect over TLS only.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;

  bool tls() const {
    return !tls_cert.empty();
  }

  std::string join;
  std::string node_name;
  int32_t slots = 8;
  std::string types;
  std::string task_types;
  std::string worker_token;
  int64_t lease_timeout_ms = 30000;
  /// The Redis status cache (off when empty): redis://host:port/db or
  /// unix:///path.
  std::string redis_url;
  int64_t cache_ttl_s = 3600;
  int64_t cache_timeout_ms = 200;
  /// `tasker dev --redis`: start a private redis-server for the cache.
  int32_t dev_redis = 0;
  /// Finished tasks older than this are deleted: a number and a unit, s,
  /// m, h or d ("7d"); empty or "0": kept for ever.
  std::string retention;
  int32_t retention_batch = 1000;
  int64_t retention_interval_ms = 60000;
  /// GET /v1/events: most streams at once, what a client may leave unread
  /// before it is dropped, the keep-alive period, and how often the live
  /// tail reads the database.
  int32_t max_event_streams = 1000;
  int64_t event_buffer_bytes = 4 * 1024 * 1024;
  int64_t event_keepalive_ms = 15000;
  int64_t events_poll_ms = 100;
  /// Webhooks (a submission's callback_url): the HMAC-SHA256 key of the
  /// signature (empty: unsigned), an attempt's timeout, attempts per
  /// delivery, the back-off, attempts in flight, and whether non-public
  /// addresses may be called.
  std::string webhook_secret;
  /// 1: make the GIN index of params (lists filtered by params use it).
  int32_t params_index = 0;
  int64_t webhook_timeout_ms = 5000;
  int32_t webhook_max_attempts = 10;
  int64_t webhook_retry_base_ms = 1000;
  int64_t webhook_retry_max_ms = 300000;
  int32_t webhook_concurrency = 16;
  int32_t webhook_allow_private = 0;
  std::string data_dir = "./var";
  uint16_t dev_pg_port = 55439;
  std::string log_level = "info";
  /// Log lines: json (one object a line, the default) or text (for people).
  std::string log_format = "json";
  /// Back-off before the 2nd attempt; doubles per attempt with jitter.
  int64_t retry_base_ms = 1000;
  int64_t retry_max_ms = 300000;
  int32_t default_max_attempts = 3;
  int64_t default_timeout_ms = 60000;
  int64_t max_body_bytes = 2 * 1024 * 1024;
  int64_t max_header_bytes = 16 * 1024;
  int64_t max_text_bytes = 1024 * 1024;
  int64_t max_top_n = 100;
  int64_t max_pending = 1000000;
  int64_t submit_timeout_ms = 2000;
  /// Tasks due later than now + this have no actor; they wait in the
  /// database and are loaded as they come within it.
  int64_t delay_horizon_ms = 60000;
  int64_t load_page = 5000;
  int64_t max_db_backlog = 100000;
  /// Most open HTTP connections; a connection past it is closed at once.
  int64_t max_connections = 10000;
  int64_t header_timeout_ms = 10000;
  int64_t idle_timeout_ms = 60000;
  int64_t max_pipeline = 64;
  int64_t max_request_buffer_bytes = 256 * 1024 * 1024;
  int64_t max_response_buffer_bytes = 64 * 1024 * 1024;
  std::string auth_token;
  int32_t max_batch = 1000;
  /// Database writer connections. With two or more, the first takes only
  /// submissions and the others the state updates (a task always on the same
  /// one); with one, it takes everything.
  int32_t db_writers = 2;
  int32_t batch_max_rows = 2000;
  int32_t result_cache_size = 100000;
  int32_t scheduler_threads = 0;
  /// CAF scheduler policy: sharing (default; idle threads block) or stealing.
  std::string scheduler_policy = "sharing";
  /// Turns on `POST /v1/debug/crash/{actor}`, which kills one of the
  /// coordinator's actors (dispatcher, persistence, gateway, task_manager,
  /// reader) so that fault tests can watch what follows. Off (0) in
  /// production.
  int32_t fault_injection = 0;

  /// Checks ranges and combinations; returns an error line or "".
  std::string validate() const;

  /// `retention` in milliseconds (0: off); -1 when it does not parse.
  int64_t retention_ms() const;
};

/// The outcome of reading the command line, environment and config file.
struct config_result {
  config cfg;
  /// Non-empty on a bad value: one line for the user (exit code 2).
  std::string error;
  /// Non-empty when the user asked for help: print it and exit 0.
  std::string help;
};

/// Reads defaults, `--config FILE` (or TASKER_CONFIG), `TASKER_*` variables and
/// flags, in that order. `env` is a list of "NAME=value" strings.
config_result load_config(const std::vector<std::string>& args,
                          const std::vector<std::string>& env);

/// The help text listing every option with its flag, variable and default.
std::string config_help();

/// A config file for `command` (serve or worker) with every option it reads
/// commented out at its default, under its help text, and the options it
/// requires set last (`tasker sample-config serve|worker`; the files in
/// packaging/). Empty for another command.
std::string sample_config(const std::string& command);

} // namespace tasker
