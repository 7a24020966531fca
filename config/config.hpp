#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tasker {

/// Every setting of a tasker process. Each one is a key in the JSON config
/// file, a `--flag` and a `TASKER_*` environment variable; later sources win:
/// defaults, then the file, then the environment, then flags.
struct config {
  /// The sub-command: dev, serve.
  std::string command;
  /// libpq URL of the database (`serve`); `dev` fills it in itself.
  std::string db_url;
  /// Address the HTTP gateway binds to.
  std::string http_host = "127.0.0.1";
  /// Port of the HTTP gateway; 0 picks a free port (logged at start).
  uint16_t http_port = 8080;
  /// Executor slots of the coordinator's own worker node; 0 for none.
  int32_t local_slots = 8;
  /// Address the coordinator publishes its dispatcher on for worker nodes.
  std::string cluster_host = "127.0.0.1";
  /// Port of the dispatcher for worker nodes; 0 picks a free port (logged).
  uint16_t cluster_port = 4242;
  /// Secret a worker node presents when it joins (required to join).
  std::string cluster_secret;
  /// Plain cluster port: a connection that has not proved the secret within
  /// this long is closed (not with TLS).
  int64_t cluster_handshake_timeout_ms = 5000;
  /// Plain cluster port: most connections proving the secret at once; one
  /// more is closed at once (not with TLS).
  int64_t cluster_max_handshakes = 64;
  /// A worker node silent this long gets no new tasks (SUSPECT).
  int64_t node_suspect_ms = 2000;
  /// A worker node silent this long is DEAD; its tasks run elsewhere.
  int64_t node_dead_ms = 5000;
  /// TLS between nodes: this node's certificate (PEM). With tls_key and
  /// tls_ca set too, the coordinator accepts and workers connect over TLS only.
  std::string tls_cert;
  /// TLS between nodes: this node's private key (PEM).
  std::string tls_key;
  /// TLS between nodes: the CA certificate that signs every node's (PEM).
  std::string tls_ca;

  /// Whether node traffic uses TLS.
  bool tls() const {
    return !tls_cert.empty();
  }

  /// `tasker worker`: the coordinator's HOST:PORT to join.
  std::string join;
  /// `tasker worker`: the node's name (default: the host name).
  std::string node_name;
  /// `tasker worker`: executor slots.
  int32_t slots = 8;
  /// `tasker worker`: the task types it runs, comma-separated (empty: all).
  std::string types;
  /// Where `tasker dev` keeps its PostgreSQL cluster.
  std::string data_dir = "./var";
  /// Port of the private PostgreSQL of `tasker dev`.
  uint16_t dev_pg_port = 55439;
  /// debug, info, warning or error.
  std::string log_level = "info";
  /// Back-off before the 2nd attempt; doubles per attempt with jitter.
  int64_t retry_base_ms = 1000;
  /// Upper bound of the back-off.
  int64_t retry_max_ms = 300000;
  /// Default `max_attempts` of a submission that names none.
  int32_t default_max_attempts = 3;
  /// Default `timeout_ms` of a submission that names none.
  int64_t default_timeout_ms = 60000;
  /// Largest request body accepted (413 above).
  int64_t max_body_bytes = 2 * 1024 * 1024;
  /// Largest request header block accepted.
  int64_t max_header_bytes = 16 * 1024;
  /// Largest `text` of a text_stats task.
  int64_t max_text_bytes = 1024 * 1024;
  /// Largest `top_n` of a text_stats task.
  int64_t max_top_n = 100;
  /// Most unfinished tasks the coordinator holds; submits past it get 429.
  int64_t max_pending = 1000000;
  /// Longest wait for a submission's commit before its client gets 503.
  int64_t submit_timeout_ms = 2000;
  /// Tasks due later than now + this have no actor; they wait in the
  /// database and are loaded as they come within it.
  int64_t delay_horizon_ms = 60000;
  /// Rows per database read in recovery and when loading due tasks.
  int64_t load_page = 5000;
  /// Unwritten state updates past which the dispatcher starts nothing new.
  int64_t max_db_backlog = 100000;
  /// Most open HTTP connections; a connection past it is closed at once.
  int64_t max_connections = 10000;
  /// Time a client has to send a request head (slow-header defence).
  int64_t header_timeout_ms = 10000;
  /// An idle keep-alive connection is closed after this.
  int64_t idle_timeout_ms = 60000;
  /// Most requests in flight (pipelined) on one connection.
  int64_t max_pipeline = 64;
  /// Most bytes of requests being received, over all connections.
  int64_t max_request_buffer_bytes = 256 * 1024 * 1024;
  /// Most bytes of responses waiting for their clients, over all
  /// connections.
  int64_t max_response_buffer_bytes = 64 * 1024 * 1024;
  /// Bearer token required on /v1 when set (TASKER_AUTH_TOKEN).
  std::string auth_token;
  /// Largest batch submission.
  int32_t max_batch = 1000;
  /// Database writer connections. With two or more, the first takes only
  /// submissions and the others the state updates (a task always on the same
  /// one); with one, it takes everything.
  int32_t db_writers = 2;
  /// Most task rows in one group commit.
  int32_t batch_max_rows = 2000;
  /// Finished tasks kept in memory for fast reads.
  int32_t result_cache_size = 100000;
  /// CAF scheduler threads; 0 means one per core.
  int32_t scheduler_threads = 0;
  /// CAF scheduler policy: sharing (default; idle threads block) or stealing.
  std::string scheduler_policy = "sharing";
  /// Turns on `POST /v1/debug/crash/{actor}`, which kills one of the
  /// supervised actors (dispatcher, persistence, gateway) so that fault tests
  /// can watch it being restarted. Off (0) in production.
  int32_t fault_injection = 0;

  /// Checks ranges and combinations; returns an error line or "".
  std::string validate() const;
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

} // namespace tasker
