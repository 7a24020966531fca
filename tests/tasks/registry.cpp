// Tests of the task registry: parameter validation and schemas, and the
// built-in task types' handlers.
#define CAF_SUITE tasks.registry

#include "tasks/registry.hpp"

#include <caf/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace tasker;
using json = nlohmann::json;

namespace {

struct fixture {
  registry reg = builtin_registry(task_limits{64});
  cancel_signal cancelled;
  task_context ctx{&cancelled};

  /// Validates `params_text` for `type`; returns the message ("" if valid).
  std::string check(const std::string& type, const std::string& params_text) {
    auto params = json::parse(params_text);
    return reg.validate(type, params);
  }

  /// Runs a handler and returns its outcome.
  handler_result run(const std::string& type, const std::string& params) {
    return reg.run(type, params, ctx);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(registry_tests, fixture)

CAF_TEST(the built-in types are registered by name) {
  auto names = reg.names();
  CAF_REQUIRE_EQUAL(names.size(), 4u);
  CAF_CHECK_EQUAL(names[0], "fail");
  CAF_CHECK_EQUAL(names[1], "sleep");
  CAF_CHECK_EQUAL(names[2], "sum");
  CAF_CHECK_EQUAL(names[3], "text_stats");
  CAF_CHECK(reg.find("sum") != nullptr);
  CAF_CHECK(reg.find("Sum") == nullptr);
  CAF_CHECK(reg.find("") == nullptr);
}

CAF_TEST(validation accepts valid params) {
  CAF_CHECK_EQUAL(check("sum", R"({"a": 1, "b": 2.5})"), "");
  CAF_CHECK_EQUAL(check("sum", R"({"a": -1e300, "b": 0})"), "");
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": "hi", "top_n": 100})"), "");
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": 0})"), "");
  CAF_CHECK_EQUAL(check("fail", R"({"message": "m", "retryable": false})"), "");
}

CAF_TEST(a missing field is named) {
  CAF_CHECK_EQUAL(check("sum", R"({"a": 1})"), "params.b is required");
  CAF_CHECK_EQUAL(check("sum", R"({"b": 1})"), "params.a is required");
  CAF_CHECK_EQUAL(check("sum", R"({"a": 1, "b": null})"),
                  "params.b is required");
  CAF_CHECK_EQUAL(check("text_stats", "{}"), "params.text is required");
  CAF_CHECK_EQUAL(check("sleep", "{}"), "params.ms is required");
  CAF_CHECK_EQUAL(check("fail", R"({"retryable": true})"),
                  "params.message is required");
}

CAF_TEST(a wrongly typed field is named) {
  CAF_CHECK_EQUAL(check("sum", R"({"a": "1", "b": 2})"),
                  "params.a must be a number");
  CAF_CHECK_EQUAL(check("sum", R"({"a": 1, "b": [2]})"),
                  "params.b must be a number");
  CAF_CHECK_EQUAL(check("sum", R"({"a": true, "b": 2})"),
                  "params.a must be a number");
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": 5})"),
                  "params.text must be a string");
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": "x", "top_n": "3"})"),
                  "params.top_n must be an integer");
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": "x", "top_n": 2.5})"),
                  "params.top_n must be an integer");
  CAF_CHECK_EQUAL(check("fail", R"({"message": "m", "retryable": "yes"})"),
                  "params.retryable must be true or false");
  CAF_CHECK_EQUAL(check("sum", "[1, 2]"), "params must be a JSON object");
  CAF_CHECK_EQUAL(check("sum", "null"), "params must be a JSON object");
}

CAF_TEST(an out of range field is named with its range) {
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": "x", "top_n": 0})"),
                  "params.top_n must be between 1 and 100, got 0");
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": "x", "top_n": 101})"),
                  "params.top_n must be between 1 and 100, got 101");
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": -1})"),
                  "params.ms must be between 0 and 3600000, got -1");
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": 3600001})"),
                  "params.ms must be between 0 and 3600000, got 3600001");
  // Larger than any int64.
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": 18446744073709551615})"),
                  "params.ms must be between 0 and 3600000");
  // Floats past int64's range are refused before any conversion (found by
  // fuzz/params: regression-float-to-int-*).
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": 8e88})"),
                  "params.ms must be between 0 and 3600000");
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": 9223372036854775808.0})"),
                  "params.ms must be between 0 and 3600000");
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": "x", "top_n": -1e19})"),
                  "params.top_n must be between 1 and 100");
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": 9.2e18})"),
                  "params.ms must be between 0 and 3600000, got "
                  "9200000000000000000");
  // The registry was built with a text limit of 64 bytes.
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": ")" + std::string(64, 'x')
                                        + R"("})"),
                  "");
  CAF_CHECK_EQUAL(check("text_stats", R"({"text": ")" + std::string(65, 'x')
                                        + R"("})"),
                  "params.text is longer than the limit of 64 bytes");
}

CAF_TEST(an unknown param is named) {
  CAF_CHECK_EQUAL(check("sum", R"({"a": 1, "b": 2, "c": 3})"),
                  "params.c is not a known parameter");
  CAF_CHECK_EQUAL(check("sleep", R"({"ms": 1, "MS": 1})"),
                  "params.MS is not a known parameter");
}

CAF_TEST(an unknown type lists the known ones) {
  auto params = json::object();
  CAF_CHECK_EQUAL(reg.validate("nope", params),
                  "type 'nope' is not a registered task type (known: fail, "
                  "sleep, sum, text_stats)");
}

CAF_TEST(defaults are filled in) {
  auto params = json::parse(R"({"text": "a b"})");
  CAF_REQUIRE_EQUAL(reg.validate("text_stats", params), "");
  CAF_CHECK_EQUAL(params.dump(), R"({"text":"a b","top_n":10})");
  params = json::parse(R"({"message": "m", "retryable": null})");
  CAF_REQUIRE_EQUAL(reg.validate("fail", params), "");
  CAF_CHECK_EQUAL(params.dump(), R"({"message":"m","retryable":true})");
  // A given value is kept; an integral float becomes an integer.
  params = json::parse(R"({"text": "a", "top_n": 3.0})");
  CAF_REQUIRE_EQUAL(reg.validate("text_stats", params), "");
  CAF_CHECK(params["top_n"].is_number_integer());
  CAF_CHECK_EQUAL(params["top_n"].get<int64_t>(), 3);
}

CAF_TEST(the schema describes every type) {
  auto desc = reg.describe();
  CAF_REQUIRE(desc.is_array());
  CAF_REQUIRE_EQUAL(desc.size(), 4u);
  std::vector<std::string> types;
  for (auto& t : desc) {
    types.push_back(t.at("type").get<std::string>());
    CAF_CHECK(t.at("description").is_string());
    CAF_CHECK(!t.at("description").get<std::string>().empty());
    auto& s = t.at("params_schema");
    CAF_CHECK_EQUAL(s.at("$schema").get<std::string>(),
                    "https://json-schema.org/draft/2020-12/schema");
    CAF_CHECK_EQUAL(s.at("type").get<std::string>(), "object");
    CAF_CHECK_EQUAL(s.at("additionalProperties").get<bool>(), false);
    CAF_CHECK(s.at("properties").is_object());
    CAF_CHECK(s.at("required").is_array());
  }
  CAF_CHECK_EQUAL(types, (std::vector<std::string>{"fail", "sleep", "sum",
                                                   "text_stats"}));
  auto& sum = desc[2]["params_schema"];
  CAF_CHECK_EQUAL(sum["required"].dump(), R"(["a","b"])");
  CAF_CHECK_EQUAL(sum["properties"]["a"]["type"].get<std::string>(), "number");
  CAF_CHECK_EQUAL(sum["properties"]["b"]["type"].get<std::string>(), "number");
  CAF_CHECK(!sum["properties"]["a"].contains("default"));
  auto& ts = desc[3]["params_schema"];
  CAF_CHECK_EQUAL(ts["required"].dump(), R"(["text"])");
  CAF_CHECK_EQUAL(ts["properties"]["text"]["type"].get<std::string>(),
                  "string");
  CAF_CHECK_EQUAL(ts["properties"]["text"]["maxLength"].get<int64_t>(), 64);
  auto& top_n = ts["properties"]["top_n"];
  CAF_CHECK_EQUAL(top_n["type"].get<std::string>(), "integer");
  CAF_CHECK_EQUAL(top_n["minimum"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(top_n["maximum"].get<int64_t>(), 100);
  CAF_CHECK_EQUAL(top_n["default"].get<int64_t>(), 10);
  auto& fail = desc[0]["params_schema"];
  CAF_CHECK_EQUAL(fail["required"].dump(), R"(["message"])");
  CAF_CHECK_EQUAL(fail["properties"]["retryable"]["type"].get<std::string>(),
                  "boolean");
  CAF_CHECK_EQUAL(fail["properties"]["retryable"]["default"].get<bool>(), true);
}

CAF_TEST(sum keeps integers integral) {
  auto res = run("sum", R"({"a": 1, "b": 2})");
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result.dump(), R"({"sum":3})");
  CAF_CHECK(res.result["sum"].is_number_integer());
  res = run("sum", R"({"a": -7, "b": 2})");
  CAF_CHECK_EQUAL(res.result.dump(), R"({"sum":-5})");
  res = run("sum", R"({"a": 9007199254740993, "b": 1})");
  CAF_CHECK_EQUAL(res.result.dump(), R"({"sum":9007199254740994})");
}

CAF_TEST(sum adds floats) {
  auto res = run("sum", R"({"a": 1.5, "b": 2.25})");
  CAF_REQUIRE(res.ok);
  CAF_CHECK(res.result["sum"].is_number_float());
  CAF_CHECK_EQUAL(res.result["sum"].get<double>(), 3.75);
  res = run("sum", R"({"a": 1, "b": 0.5})");
  CAF_CHECK_EQUAL(res.result["sum"].get<double>(), 1.5);
  // An integer overflow falls back to floating point instead of wrapping.
  res = run("sum", R"({"a": 9223372036854775807, "b": 1})");
  CAF_REQUIRE(res.ok);
  CAF_CHECK(res.result["sum"].is_number_float());
  CAF_CHECK_GREATER(res.result["sum"].get<double>(), 9.2e18);
}

CAF_TEST(text_stats counts words and orders ties by word) {
  auto res = run("text_stats", R"({"text": "The cat, the DOG's dog; the cat!",
                                  "top_n": 10})");
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result.dump(),
                  R"({"top_words":[{"count":3,"word":"the"},)"
                  R"({"count":2,"word":"cat"},{"count":1,"word":"dog"},)"
                  R"({"count":1,"word":"dog's"}],"unique_words":4,)"
                  R"("word_count":7})");
  // top_n cuts the list after sorting; "a" and "b" tie and sort by word.
  res = run("text_stats", R"({"text": "b a c b a", "top_n": 2})");
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result["top_words"].dump(),
                  R"([{"count":2,"word":"a"},{"count":2,"word":"b"}])");
  CAF_CHECK_EQUAL(res.result["word_count"].get<int64_t>(), 5);
  CAF_CHECK_EQUAL(res.result["unique_words"].get<int64_t>(), 3);
}

CAF_TEST(text_stats keeps apostrophes digits and UTF-8 inside words) {
  auto res = run("text_stats",
                 R"({"text": "don't stop 42 café-CAFÉ don't", "top_n": 3})");
  CAF_REQUIRE(res.ok);
  // Multi-byte characters are not lower-cased, so café and cafÉ differ;
  // ties sort by bytes, and É (C3 89) comes before é (C3 A9).
  CAF_CHECK_EQUAL(res.result["word_count"].get<int64_t>(), 6);
  CAF_CHECK_EQUAL(res.result["unique_words"].get<int64_t>(), 5);
  CAF_CHECK_EQUAL(res.result["top_words"].dump(),
                  R"([{"count":2,"word":"don't"},{"count":1,"word":"42"},)"
                  R"({"count":1,"word":"cafÉ"}])");
}

CAF_TEST(text_stats of an empty text) {
  // top_n is filled in with its default by validation inside run().
  auto res = run("text_stats", R"({"text": " ,.; "})");
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result.dump(),
                  R"({"top_words":[],"unique_words":0,"word_count":0})");
}

CAF_TEST(sleep sleeps and reports) {
  auto start = std::chrono::steady_clock::now();
  auto res = run("sleep", R"({"ms": 20})");
  auto took = std::chrono::steady_clock::now() - start;
  CAF_REQUIRE(res.ok);
  CAF_CHECK_EQUAL(res.result.dump(), R"({"slept_ms":20})");
  CAF_CHECK_GREATER_OR_EQUAL(took, std::chrono::milliseconds(20));
}

CAF_TEST(a handler sees its attempt cancelled) {
  CAF_CHECK(!ctx.cancelled());
  cancelled.raise();
  CAF_CHECK(ctx.cancelled());
  CAF_CHECK(!task_context{nullptr}.cancelled());
}

CAF_TEST(sleep stops at once when already cancelled) {
  cancelled.raise();
  auto start = std::chrono::steady_clock::now();
  auto res = run("sleep", R"({"ms": 3600000})");
  auto took = std::chrono::steady_clock::now() - start;
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "stopped: the attempt was cancelled");
  CAF_CHECK(!res.retryable);
  CAF_CHECK_LESS(took, std::chrono::seconds(1));
}

CAF_TEST(sleep stops early when cancelled while sleeping) {
  std::thread canceller{[this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    cancelled.raise();
  }};
  auto start = std::chrono::steady_clock::now();
  auto res = run("sleep", R"({"ms": 3600000})");
  auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "stopped: the attempt was cancelled");
  CAF_CHECK_GREATER_OR_EQUAL(took, std::chrono::milliseconds(30));
  CAF_CHECK_LESS(took, std::chrono::seconds(5));
  CAF_CHECK(!ctx.sleep_for(1));
}

CAF_TEST(fail fails with its message) {
  auto res = run("fail", R"({"message": "as asked"})");
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "as asked");
  CAF_CHECK(res.retryable);
  res = run("fail", R"({"message": "final", "retryable": false})");
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "final");
  CAF_CHECK(!res.retryable);
}

CAF_TEST(running an unknown type or bad params fails without retry) {
  auto res = run("nope", "{}");
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "no handler for task type 'nope'");
  CAF_CHECK(!res.retryable);
  res = run("sum", R"({"a": 1})");
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error, "params.b is required");
  CAF_CHECK(!res.retryable);
  res = run("sum", "{not json");
  CAF_CHECK(!res.ok);
  CAF_CHECK_EQUAL(res.error.rfind("handler raised: ", 0), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
