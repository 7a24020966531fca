// Tests of command tasks: real child processes (/bin/sh scripts given as
// argv), their results, failures, limits and stops.
#define CAF_SUITE tasks.command

#include "tasks/command.hpp"

#include <caf/test/unit_test.hpp>

#include <chrono>
#include <thread>

using namespace tasker;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct fixture {
  cancel_signal cancelled;

  /// Runs `script` with /bin/sh on `params`, `timeout_ms` allowed.
  handler_result sh(const std::string& script, json params = json::object(),
                    int64_t timeout_ms = 10000,
                    command_spec spec = command_spec{}) {
    spec.argv = {"sh", "-c", script};
    task_context ctx{&cancelled, "t-1", 2, timeout_ms};
    return run_command(spec, "script", params, ctx);
  }
};

auto elapsed_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::steady_clock::now() - start;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(command_tests, fixture)

CAF_TEST(params arrive on stdin and stdout is the result) {
  auto res = sh("read line; echo \"{\\\"got\\\": $line}\"", json{{"a", 1}});
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result, json::parse(R"({"got": {"a": 1}})"));
  // Nothing on stdout is a null result.
  res = sh("true");
  CAF_REQUIRE(res.ok);
  CAF_CHECK(res.result.is_null());
}

CAF_TEST(the program learns its task and gets only allowed variables) {
  ::setenv("TASKER_TEST_SECRET", "s3cret", 1);
  auto res = sh("printf '[\"%s\", \"%s\", \"%s\", \"%s\"]' \"$TASKER_TASK_ID\" "
                "\"$TASKER_TASK_TYPE\" \"$TASKER_ATTEMPT\" "
                "\"$TASKER_TEST_SECRET\"");
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result, json::parse(R"(["t-1", "script", "2", ""])"));
  command_spec spec;
  spec.env = {"TASKER_TEST_SECRET"};
  res = sh("printf '\"%s\"' \"$TASKER_TEST_SECRET\"", json::object(), 10000,
           spec);
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result, "s3cret");
}

CAF_TEST(the working directory is the declared one) {
  command_spec spec;
  spec.cwd = "/tmp";
  auto res = sh("printf '\"%s\"' \"$(pwd)\"", json::object(), 10000, spec);
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result, "/tmp");
}

CAF_TEST(the retry exit code is a retryable failure with stderr) {
  auto res = sh("echo 'disk busy' >&2; exit 75");
  CAF_CHECK(!res.ok);
  CAF_CHECK(res.retryable);
  CAF_CHECK_EQUAL(res.error, "the command exited with 75: disk busy");
}

CAF_TEST(another exit code fails for good with the tail of stderr) {
  auto res = sh("i=0; while [ $i -lt 500 ]; do echo \"line $i\" >&2; "
                "i=$((i+1)); done; exit 3");
  CAF_CHECK(!res.ok);
  CAF_CHECK(!res.retryable);
  CAF_CHECK_EQUAL(res.error.rfind("the command exited with 3: ", 0), 0u);
  CAF_CHECK_LESS_OR_EQUAL(res.error.size(), command_error_tail + 40);
  CAF_CHECK_EQUAL(res.error.substr(res.error.size() - 8), "line 499");
}

CAF_TEST(output that is not JSON fails) {
  auto res = sh("echo hello");
  CAF_CHECK(!res.ok);
  CAF_CHECK(!res.retryable);
  CAF_CHECK_EQUAL(res.error.rfind("the command's output is not JSON", 0), 0u);
}

CAF_TEST(output nested too deep fails without parsing it) {
  auto res = sh("i=0; while [ $i -lt 5000 ]; do printf '['; i=$((i+1)); done");
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "the command's output nests deeper than 64 levels");
}

CAF_TEST(a program that floods stdout is stopped at the limit) {
  command_spec spec;
  spec.max_output_bytes = 10000;
  auto start = std::chrono::steady_clock::now();
  auto res = sh("yes", json::object(), 60000, spec);
  CAF_CHECK(!res.ok);
  CAF_CHECK(!res.retryable);
  CAF_CHECK_EQUAL(res.error,
                  "the command wrote more than 10000 bytes to stdout");
  CAF_CHECK_LESS(elapsed_since(start), 10s);
}

CAF_TEST(a program past its timeout is stopped and the attempt may retry) {
  auto start = std::chrono::steady_clock::now();
  auto res = sh("sleep 30", json::object(), 300);
  CAF_CHECK(!res.ok);
  CAF_CHECK(res.retryable);
  CAF_CHECK_EQUAL(res.error, "the command timed out after 300 ms");
  CAF_CHECK_LESS(elapsed_since(start), 10s);
}

CAF_TEST(one that ignores SIGTERM is killed after the grace period) {
  command_spec spec;
  spec.kill_grace_ms = 200;
  auto start = std::chrono::steady_clock::now();
  auto res = sh("trap '' TERM; while true; do sleep 0.05; done",
                json::object(), 300, spec);
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "the command timed out after 300 ms (killed "
                             "after the grace period)");
  CAF_CHECK_LESS(elapsed_since(start), 10s);
}

CAF_TEST(a cancel stops the program) {
  std::thread canceller{[this] {
    std::this_thread::sleep_for(200ms);
    cancelled.raise();
  }};
  auto start = std::chrono::steady_clock::now();
  auto res = sh("sleep 30");
  canceller.join();
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "the attempt was cancelled");
  CAF_CHECK_LESS(elapsed_since(start), 10s);
}

CAF_TEST(a program that closes stdin early does not hurt the node) {
  json big{{"text", std::string(1 << 20, 'x')}};
  auto res = sh("exec 0<&-; echo '\"closed\"'", big);
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result, "closed");
}

CAF_TEST(the CPU limit ends a spinning program) {
  command_spec spec;
  spec.max_cpu_seconds = 1;
  auto res = sh("while true; do :; done", json::object(), 30000, spec);
  CAF_CHECK(!res.ok);
  CAF_CHECK(!res.retryable);
  CAF_CHECK_EQUAL(res.error.rfind("the command was killed by signal ", 0), 0u);
}

CAF_TEST(a missing program fails for good) {
  command_spec spec;
  spec.argv = {"no-such-program-here"};
  task_context ctx{nullptr};
  auto res = run_command(spec, "x", json::object(), ctx);
  CAF_CHECK(!res.ok);
  CAF_CHECK(!res.retryable);
  CAF_CHECK_EQUAL(res.error, "command not found: no-such-program-here (not "
                             "in the node's PATH)");
}

CAF_TEST(the spec is read with its bounds) {
  auto spec = parse_command_spec(json::parse(R"({"argv": ["/bin/true"],
    "cwd": "/", "env": ["PATH"], "retry_exit_code": 9,
    "max_output_bytes": 5, "max_cpu_seconds": 2,
    "max_memory_bytes": 104857600, "kill_grace_ms": 0})"),
                                 "c");
  CAF_CHECK_EQUAL(spec.argv, std::vector<std::string>{"/bin/true"});
  CAF_CHECK_EQUAL(spec.retry_exit_code, 9);
  CAF_CHECK_EQUAL(spec.max_memory_bytes, uint64_t{104857600});
  auto refusal = [](const char* text) {
    try {
      parse_command_spec(json::parse(text), "c");
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{};
  };
  CAF_CHECK_EQUAL(refusal(R"({"argv": "ls -l"})"),
                  "c.argv must be an array of at most 256 strings (each at "
                  "most 4096 bytes, without NUL)");
  CAF_CHECK_EQUAL(refusal(R"({})"),
                  "c.argv is required: the program and its arguments");
  CAF_CHECK_EQUAL(refusal(R"({"argv": ["x"], "shell": true})"),
                  "c.shell is not a field of a command (fields: argv, cwd, "
                  "env, retry_exit_code, max_output_bytes, max_cpu_seconds, "
                  "max_memory_bytes, kill_grace_ms)");
  CAF_CHECK_EQUAL(refusal(R"({"argv": ["x"], "retry_exit_code": 0})"),
                  "c.retry_exit_code must be an integer between 1 and 255");
}

CAF_TEST_FIXTURE_SCOPE_END()
