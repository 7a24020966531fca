// Tests of declared task types: the file an operator writes, what the
// registry makes of it, and the errors that name the place of a mistake.
#define CAF_SUITE tasks.declared

#include "tasks/declared.hpp"

#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

using namespace tasker;
using json = nlohmann::json;

namespace {

const char* resize_file = R"({"task_types": [{
  "name": "resize",
  "description": "Resizes an image.",
  "params": {
    "properties": {
      "url": {"type": "string", "maxLength": 2048},
      "width": {"type": "integer", "minimum": 1, "maximum": 10000,
                "default": 800}
    },
    "required": ["url"]
  },
  "timeout_ms": 60000,
  "max_attempts": 5,
  "run": "pull"
}]})";

struct fixture {
  registry reg = builtin_registry(task_limits{});

  /// The error adding `text` raises ("" when it is added).
  std::string refusal(const std::string& text) {
    try {
      add_declared_types(reg, json::parse(text), "f");
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  /// A file holding one task type with `fields` after a valid name.
  static std::string one(const std::string& fields) {
    return R"({"task_types": [{"name": "t", "run": "pull")" + fields + "}]}";
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(declared_tests, fixture)

CAF_TEST(a declared type validates like a built in one and keeps its defaults) {
  CAF_REQUIRE_EQUAL(refusal(resize_file), "");
  auto t = reg.find("resize");
  CAF_REQUIRE(t != nullptr);
  CAF_CHECK_EQUAL(t->runs, "pull");
  CAF_CHECK_EQUAL(t->timeout_ms, int64_t{60000});
  CAF_CHECK_EQUAL(t->max_attempts, int32_t{5});
  // Worker nodes do not run it: HTTP workers lease it.
  CAF_CHECK(!t->run);
  auto runnable = reg.runnable_names();
  CAF_CHECK(std::find(runnable.begin(), runnable.end(), "resize")
            == runnable.end());
  CAF_CHECK(std::find(runnable.begin(), runnable.end(), "sum")
            != runnable.end());
  auto params = json::parse(R"({"url": "http://x/a.png"})");
  CAF_CHECK_EQUAL(reg.validate("resize", params), "");
  CAF_CHECK_EQUAL(params["width"], 800);
  params = json::parse(R"({"url": "u", "width": 0})");
  CAF_CHECK_EQUAL(reg.validate("resize", params),
                  "params.width must be between 1 and 10000, got 0");
  params = json::parse(R"({"width": 10})");
  CAF_CHECK_EQUAL(reg.validate("resize", params), "params.url is required");
  params = json::parse(R"({"url": "u", "height": 10})");
  CAF_CHECK_EQUAL(reg.validate("resize", params),
                  "params.height is not a known parameter");
  params = json::array();
  CAF_CHECK_EQUAL(reg.validate("resize", params),
                  "params must be a JSON object");
}

CAF_TEST(the description carries the schema and the defaults of the type) {
  CAF_REQUIRE_EQUAL(refusal(resize_file), "");
  json resize;
  for (auto& t : reg.describe())
    if (t["type"] == "resize")
      resize = t;
  CAF_CHECK_EQUAL(resize["runs"], "pull");
  CAF_CHECK_EQUAL(resize["timeout_ms"], 60000);
  CAF_CHECK_EQUAL(resize["max_attempts"], 5);
  auto& schema = resize["params_schema"];
  CAF_CHECK_EQUAL(schema["type"], "object");
  CAF_CHECK_EQUAL(schema["additionalProperties"], false);
  CAF_CHECK_EQUAL(schema["required"], json::array({"url"}));
  CAF_CHECK_EQUAL(schema["properties"]["width"]["default"], 800);
  for (auto& t : reg.describe())
    if (t["type"] == "sum")
      CAF_CHECK_EQUAL(t["runs"], "builtin");
}

CAF_TEST(mistakes are refused with their place) {
  CAF_CHECK_EQUAL(refusal("[]"),
                  "f must be a JSON object with one field, task_types: an "
                  "array of task types");
  CAF_CHECK_EQUAL(refusal(R"({"task_types": [5]})"),
                  "f: task_types[0] must be an object");
  CAF_CHECK_EQUAL(refusal(R"({"task_types": [{"name": "9x"}]})"),
                  "f: task_types[0].name must be a name of letters, digits, "
                  "'_', '-' and '.' that starts with a letter, at most 64 "
                  "long");
  CAF_CHECK_EQUAL(refusal(R"({"task_types": [{"name": "sum", "run": "pull"}]})"),
                  "f: task_types[0].name 'sum' is a task type already");
  CAF_CHECK_EQUAL(refusal(one(R"(, "colour": 1)")),
                  "f: task_types[0].colour is not a field of a task type "
                  "(fields: name, description, params, timeout_ms, "
                  "max_attempts, run, command, http)");
  CAF_CHECK_EQUAL(refusal(R"({"task_types": [{"name": "t"}]})"),
                  "f: task_types[0].run must be \"pull\" (HTTP workers lease "
                  "its tasks), \"command\" (worker nodes run a program) or "
                  "\"http\" (worker nodes POST it to a URL)");
  CAF_CHECK_EQUAL(
    refusal(R"({"task_types": [{"name": "t", "run": "http",
                "http": {"url": "ftp://x/"}}]})"),
    "f: task_types[0].http.url must be an http:// or https:// URL of at most "
    "2048 bytes");
  CAF_CHECK_EQUAL(
    refusal(R"({"task_types": [{"name": "t", "run": "pull",
                "http": {"url": "http://x/"}}]})"),
    "f: task_types[0].http is what a type with \"run\": \"http\" runs, and "
    "only such a type has one");
  CAF_CHECK_EQUAL(refusal(R"({"task_types": [{"name": "t", "run": "command"}]})"),
                  "f: task_types[0].command is what a type with \"run\": "
                  "\"command\" runs, and only such a type has one");
  CAF_CHECK_EQUAL(
    refusal(R"({"task_types": [{"name": "t", "run": "command",
                "command": {"argv": []}}]})"),
    "f: task_types[0].command.argv must name a program");
  CAF_CHECK_EQUAL(
    refusal(R"({"task_types": [{"name": "t", "run": "command",
                "command": {"argv": ["x"], "kill_grace_ms": -1}}]})"),
    "f: task_types[0].command.kill_grace_ms must be an integer between 0 "
    "and 600000");
  CAF_CHECK_EQUAL(refusal(one(R"(, "timeout_ms": 0)")),
                  "f: task_types[0].timeout_ms must be an integer between 1 "
                  "and 86400000");
  CAF_CHECK_EQUAL(refusal(one(R"(, "max_attempts": 101)")),
                  "f: task_types[0].max_attempts must be an integer between "
                  "1 and 100");
  CAF_CHECK_EQUAL(refusal(one(R"(, "params": {"type": "array"})")),
                  "f: task_types[0].params.type must be \"object\": params "
                  "are a JSON object");
  CAF_CHECK_EQUAL(
    refusal(one(R"(, "params": {"properties": {"a": {"format": "uri"}}})"))
      .substr(0, 55),
    "f: task_types[0].params.properties.a.format is not supp");
  // Nothing of a refused file is half added... of the entry that failed.
  CAF_CHECK(reg.find("t") == nullptr);
}

CAF_TEST(a file is read whole and bounded) {
  std::string path = "/tmp/tasker-declared-test-"
              + std::to_string(::getpid()) + ".json";
  {
    std::ofstream out{path};
    out << resize_file;
  }
  add_declared_types(reg, path);
  CAF_CHECK(reg.find("resize") != nullptr);
  {
    std::ofstream out{path};
    out << "{\"task_types\": [";
  }
  registry other;
  try {
    add_declared_types(other, path);
    CAF_FAIL("a file that is not JSON was taken");
  } catch (const std::runtime_error& e) {
    CAF_CHECK_NOT_EQUAL(std::string{e.what()}.find("is not JSON"),
                        std::string::npos);
  }
  {
    std::ofstream out{path};
    out << std::string(max_task_types_file_bytes + 1, ' ');
  }
  try {
    add_declared_types(other, path);
    CAF_FAIL("a file over the limit was taken");
  } catch (const std::runtime_error& e) {
    CAF_CHECK_NOT_EQUAL(std::string{e.what()}.find("is larger than"),
                        std::string::npos);
  }
  std::remove(path.c_str());
  try {
    add_declared_types(other, path);
    CAF_FAIL("a missing file was taken");
  } catch (const std::runtime_error& e) {
    CAF_CHECK_EQUAL(std::string{e.what()},
                    "task types file " + path + " cannot be read");
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
