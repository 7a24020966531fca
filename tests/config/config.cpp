// Tests of configuration loading: sources, precedence and errors.
#define CAF_SUITE config.config

#include "config/config.hpp"

#include <caf/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace tasker;

namespace {

using strings = std::vector<std::string>;

/// A config file that is removed again at the end of the test.
struct temp_file {
  std::string path;

  explicit temp_file(const std::string& content) {
    char name[] = "/tmp/tasker-config-test-XXXXXX";
    auto fd = mkstemp(name);
    if (fd < 0)
      CAF_FAIL("mkstemp failed");
    close(fd);
    path = name;
    std::ofstream{path} << content;
  }

  ~temp_file() {
    std::remove(path.c_str());
  }
};

/// Returns whether `str` is one line (no line break) and not empty.
bool one_line(const std::string& str) {
  return !str.empty() && str.find('\n') == std::string::npos;
}

bool contains(const std::string& str, const std::string& what) {
  return str.find(what) != std::string::npos;
}

} // namespace

CAF_TEST(defaults apply when nothing is set) {
  auto res = load_config({"dev"}, {});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.help, "");
  auto& c = res.cfg;
  config defaults;
  CAF_CHECK_EQUAL(c.command, "dev");
  CAF_CHECK_EQUAL(c.http_host, "127.0.0.1");
  CAF_CHECK_EQUAL(c.http_port, 8080);
  CAF_CHECK_EQUAL(c.local_slots, defaults.local_slots);
  CAF_CHECK_EQUAL(c.retry_base_ms, 1000);
  CAF_CHECK_EQUAL(c.retry_max_ms, 300000);
  CAF_CHECK_EQUAL(c.max_body_bytes, 2 * 1024 * 1024);
  CAF_CHECK_EQUAL(c.db_url, "");
}

CAF_TEST(file then environment then flags each win over the one before) {
  temp_file file{R"({"http_port": 9001, "local_slots": 3,
                     "log_level": "debug", "retry_base_ms": "250",
                     "db_url": "postgresql://file/db"})"};
  // File only.
  auto res = load_config({"serve", "--config", file.path}, {});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.http_port, 9001);
  CAF_CHECK_EQUAL(res.cfg.local_slots, 3);
  CAF_CHECK_EQUAL(res.cfg.log_level, "debug");
  CAF_CHECK_EQUAL(res.cfg.retry_base_ms, 250);
  CAF_CHECK_EQUAL(res.cfg.db_url, "postgresql://file/db");
  // Environment over file; the file may also come from TASKER_CONFIG.
  res = load_config({"serve"}, {"TASKER_CONFIG=" + file.path,
                                "TASKER_HTTP_PORT=9002", "HOME=/root",
                                "TASKER_LOCAL_SLOTS=4"});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.http_port, 9002);
  CAF_CHECK_EQUAL(res.cfg.local_slots, 4);
  CAF_CHECK_EQUAL(res.cfg.log_level, "debug");
  // Flags over environment, in both --flag value and --flag=value form.
  res = load_config({"serve", "--config=" + file.path, "--http-port", "9003",
                     "--local-slots=5"},
                    {"TASKER_HTTP_PORT=9002", "TASKER_LOCAL_SLOTS=4",
                     "TASKER_MAX_BATCH=17"});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.http_port, 9003);
  CAF_CHECK_EQUAL(res.cfg.local_slots, 5);
  CAF_CHECK_EQUAL(res.cfg.max_batch, 17);
  CAF_CHECK_EQUAL(res.cfg.retry_base_ms, 250);
  CAF_CHECK_EQUAL(res.cfg.db_url, "postgresql://file/db");
  // A variable whose name only starts like an option's is not that option.
  res = load_config({"dev"}, {"TASKER_HTTP_PORTX=1"});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.http_port, 8080);
}

CAF_TEST(a bad value gives one line naming the option) {
  struct row {
    strings args;
    strings env;
    std::string needle;
  };
  std::vector<row> rows{
    {{"dev", "--http-port", "70000"}, {}, "--http-port"},
    {{"dev", "--http-port=abc"}, {}, "--http-port"},
    {{"dev"}, {"TASKER_LOCAL_SLOTS=-1"}, "TASKER_LOCAL_SLOTS"},
    {{"dev"}, {"TASKER_MAX_BATCH=12x"}, "TASKER_MAX_BATCH"},
    {{"dev", "--log-level", "loud"}, {}, "log_level"},
    {{"dev", "--retry-base-ms", "5000", "--retry-max-ms", "10"}, {},
     "retry_base_ms"},
    {{"dev", "--no-such-option", "1"}, {}, "--no-such-option"},
    {{"dev", "--http-port"}, {}, "--http-port"},
    {{"dev", "extra"}, {}, "extra"},
    {{"run"}, {}, "run"},
    {{}, {}, "command"},
  };
  for (auto& x : rows) {
    auto res = load_config(x.args, x.env);
    CAF_MESSAGE("error: " << res.error);
    CAF_CHECK(one_line(res.error));
    CAF_CHECK(contains(res.error, x.needle));
  }
  auto res = load_config({"dev", "--http-port", "70000"}, {});
  CAF_CHECK_EQUAL(res.error,
                  "--http-port must be between 0 and 65535, got 70000");
  res = load_config({"dev"}, {"TASKER_MAX_BATCH=12x"});
  CAF_CHECK_EQUAL(res.error, "TASKER_MAX_BATCH expects an integer, got '12x'");
}

CAF_TEST(a bad config file gives one line naming the file and key) {
  temp_file bad_value{R"({"max_batch": 0})"};
  auto res = load_config({"dev", "--config", bad_value.path}, {});
  CAF_CHECK(one_line(res.error));
  CAF_CHECK(contains(res.error, bad_value.path));
  CAF_CHECK(contains(res.error, "max_batch"));
  temp_file unknown{R"({"http_prot": 1})"};
  res = load_config({"dev", "--config", unknown.path}, {});
  CAF_CHECK_EQUAL(res.error, "config file '" + unknown.path
                               + "': unknown key 'http_prot'");
  temp_file not_json{"http_port = 1"};
  res = load_config({"dev", "--config", not_json.path}, {});
  CAF_CHECK(one_line(res.error));
  CAF_CHECK(contains(res.error, "is not valid JSON"));
  temp_file wrong_type{R"({"http_port": [1]})"};
  res = load_config({"dev", "--config", wrong_type.path}, {});
  CAF_CHECK(contains(res.error, "http_port"));
  res = load_config({"dev", "--config", "/nonexistent/tasker.json"}, {});
  CAF_CHECK_EQUAL(res.error,
                  "cannot read config file '/nonexistent/tasker.json'");
}

CAF_TEST(serve without db_url is an error) {
  auto res = load_config({"serve"}, {});
  CAF_CHECK_EQUAL(res.error,
                  "serve needs a database: set TASKER_DB_URL or --db-url");
  res = load_config({"serve"}, {"TASKER_DB_URL=postgresql://h/db"});
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.db_url, "postgresql://h/db");
  res = load_config({"serve", "--db-url", "postgresql://x/y"}, {});
  CAF_CHECK_EQUAL(res.error, "");
  // dev brings its own database.
  CAF_CHECK_EQUAL(load_config({"dev"}, {}).error, "");
}

CAF_TEST(a worker needs a coordinator address and the secret) {
  auto res = load_config({"worker", "--cluster-secret", "s"}, {});
  CAF_CHECK(contains(res.error, "HOST:PORT"));
  res = load_config({"worker", "--join", "coordinator:notaport",
                     "--cluster-secret", "s"},
                    {});
  CAF_CHECK(contains(res.error, "HOST:PORT"));
  res = load_config({"worker", "--join", "coordinator:70000",
                     "--cluster-secret", "s"},
                    {});
  CAF_CHECK(contains(res.error, "HOST:PORT"));
  res = load_config({"worker", "--join", "coordinator:4242"}, {});
  CAF_CHECK(contains(res.error, "TASKER_CLUSTER_SECRET"));
  // A pair of coordinators (or more): every item is checked.
  res = load_config({"worker", "--join", "a:4242,b:4243", "--cluster-secret",
                     "s"},
                    {});
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.join, "a:4242,b:4243");
  for (auto bad : {"a:4242,", ",a:4242", "a:4242,,b:1", "a:4242,b",
                   "a:4242,b:99999"}) {
    res = load_config({"worker", "--join", bad, "--cluster-secret", "s"}, {});
    CAF_CHECK(contains(res.error, "HOST:PORT"));
  }
  res = load_config({"worker"}, {"TASKER_JOIN=10.1.2.3:4242",
                                 "TASKER_CLUSTER_SECRET=s", "TASKER_SLOTS=16",
                                 "TASKER_TYPES=sum,sleep"});
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.join, "10.1.2.3:4242");
  CAF_CHECK_EQUAL(res.cfg.slots, 16);
  CAF_CHECK_EQUAL(res.cfg.types, "sum,sleep");
  res = load_config({"worker", "--join", "c:1", "--cluster-secret", "s",
                     "--name", "gpu-1"},
                    {});
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.node_name, "gpu-1");
}

CAF_TEST(the cluster handshake bounds have defaults and ranges) {
  auto res = load_config({"serve", "--db-url", "postgresql://h/db"}, {});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.cluster_handshake_timeout_ms, 5000);
  CAF_CHECK_EQUAL(res.cfg.cluster_max_handshakes, 64);
  res = load_config({"serve", "--db-url", "postgresql://h/db",
                     "--cluster-max-handshakes", "8"},
                    {"TASKER_CLUSTER_HANDSHAKE_TIMEOUT_MS=1000"});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.cluster_handshake_timeout_ms, 1000);
  CAF_CHECK_EQUAL(res.cfg.cluster_max_handshakes, 8);
  res = load_config({"serve", "--db-url", "postgresql://h/db"},
                    {"TASKER_CLUSTER_HANDSHAKE_TIMEOUT_MS=0"});
  CAF_CHECK_EQUAL(res.error, "TASKER_CLUSTER_HANDSHAKE_TIMEOUT_MS must be "
                             "between 100 and 600000, got 0");
  res = load_config({"serve", "--db-url", "postgresql://h/db",
                     "--cluster-max-handshakes", "0"},
                    {});
  CAF_CHECK_EQUAL(res.error, "--cluster-max-handshakes must be between 1 and "
                             "100000, got 0");
}

CAF_TEST(help lists every option) {
  for (auto flag : {"--help", "-h"}) {
    auto res = load_config({"serve", flag, "--http-port", "nonsense"}, {});
    CAF_CHECK_EQUAL(res.error, "");
    CAF_CHECK_EQUAL(res.help, config_help());
  }
  auto res = load_config({"--help"}, {});
  CAF_CHECK_EQUAL(res.error, "");
  auto& help = res.help;
  CAF_CHECK(contains(help, "usage: tasker <dev|serve|worker>"));
  CAF_CHECK(contains(help, "--join  TASKER_JOIN  join  []"));
  CAF_CHECK(contains(help, "--cluster-secret  TASKER_CLUSTER_SECRET"));
  CAF_CHECK(contains(help, "--config FILE  TASKER_CONFIG"));
  CAF_CHECK(contains(help, "--http-port  TASKER_HTTP_PORT  http_port  [8080]"));
  CAF_CHECK(contains(help, "--db-url  TASKER_DB_URL  db_url  []"));
  CAF_CHECK(contains(
    help, "--retry-max-ms  TASKER_RETRY_MAX_MS  retry_max_ms  [300000]"));
  CAF_CHECK(contains(help, "--scheduler-threads  TASKER_SCHEDULER_THREADS"));
}

CAF_TEST(log_format is json or text from any source) {
  auto res = load_config({"dev"}, {});
  CAF_CHECK_EQUAL(res.cfg.log_format, "json");
  res = load_config({"dev"}, {"TASKER_LOG_FORMAT=text"});
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.log_format, "text");
  res = load_config({"dev", "--log-format", "json"}, {"TASKER_LOG_FORMAT=text"});
  CAF_CHECK_EQUAL(res.cfg.log_format, "json");
  temp_file file{R"({"log_format": "text"})"};
  res = load_config({"dev", "--config", file.path}, {});
  CAF_CHECK_EQUAL(res.cfg.log_format, "text");
  res = load_config({"dev", "--log-format", "logfmt"}, {});
  CAF_CHECK_EQUAL(res.error, "log_format must be json or text, got 'logfmt'");
  CAF_CHECK(contains(config_help(), "--log-format  TASKER_LOG_FORMAT  "
                                    "log_format  [json]"));
}

CAF_TEST(a config file may hold comments) {
  temp_file file{"// leading\n{\n  // the port\n  \"http_port\": 9001, /* and "
                 "*/ \"local_slots\": 3\n  // \"slots\": 2,\n}\n"};
  auto res = load_config({"dev", "--config", file.path}, {});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.http_port, 9001);
  CAF_CHECK_EQUAL(res.cfg.local_slots, 3);
  CAF_CHECK_EQUAL(res.cfg.slots, config{}.slots);
}

namespace {

/// `text` with every commented-out option line ("  // "key": ...) set.
std::string uncomment_all(const std::string& text) {
  std::istringstream in{text};
  std::string out, line;
  while (std::getline(in, line)) {
    if (line.compare(0, 6, "  // \"") == 0)
      line = "  " + line.substr(5);
    out += line + "\n";
  }
  return out;
}

/// Checks that every key `text` sets has the default --help shows.
void check_defaults(const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, true, true);
  auto help = config_help();
  for (auto& [key, val] : doc.items()) {
    if (key == "db_url" || key == "join" || key == "cluster_secret")
      continue; // set to a value to edit, not the default
    auto shown = val.is_string() ? val.get<std::string>() : val.dump();
    CAF_MESSAGE(key << " = " << shown);
    CAF_CHECK(contains(help, "  " + key + "  [" + shown + "]\n"));
  }
}

} // namespace

CAF_TEST(the sample config files load and show the defaults) {
  auto serve = sample_config("serve");
  CAF_REQUIRE(!serve.empty());
  temp_file as_is{serve};
  auto res = load_config({"serve", "--config", as_is.path}, {});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.db_url, "postgresql:///tasker");
  CAF_CHECK_EQUAL(res.cfg.http_port, config{}.http_port);
  // Any line may be uncommented: all of them at once still load.
  auto all = uncomment_all(serve);
  CAF_CHECK_NOT_EQUAL(all, serve);
  temp_file every{all};
  res = load_config({"serve", "--config", every.path}, {});
  CAF_REQUIRE_EQUAL(res.error, "");
  check_defaults(all);
  // Every option the table has is in the coordinator's sample.
  auto doc = nlohmann::json::parse(all, nullptr, true, true);
  std::istringstream help{config_help()};
  std::string line;
  size_t listed = 0;
  while (std::getline(help, line))
    if (line.compare(0, 4, "  --") == 0 && line.compare(0, 8, "  --conf") != 0)
      ++listed;
  CAF_CHECK_EQUAL(doc.size(), listed);

  auto worker = sample_config("worker");
  CAF_REQUIRE(!worker.empty());
  temp_file worker_file{uncomment_all(worker)};
  res = load_config({"worker", "--config", worker_file.path}, {});
  CAF_CHECK(contains(res.error, "worker needs the cluster secret"));
  res = load_config({"worker", "--config", worker_file.path, "--node-name",
                     "node1"},
                    {"TASKER_CLUSTER_SECRET=s3cret"});
  CAF_REQUIRE_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.cfg.join, "127.0.0.1:4242");
  CAF_CHECK_EQUAL(res.cfg.node_name, "node1");
  check_defaults(uncomment_all(worker));

  CAF_CHECK_EQUAL(sample_config("dev"), "");
  for (auto& text : {serve, worker}) {
    std::istringstream lines{text};
    while (std::getline(lines, line))
      CAF_CHECK_LESS_OR_EQUAL(line.size(), 79u);
  }
}
