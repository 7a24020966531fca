// Tests of HTTP-endpoint tasks without a network: the signature and the
// settings (the e2e suite posts to a real local server).
#define CAF_SUITE tasks.http_task

#include "tasks/http_task.hpp"

#include <caf/test/unit_test.hpp>

#include <stdexcept>

using namespace tasker;
using json = nlohmann::json;

CAF_TEST(the signature is HMAC-SHA256 of the body in hex) {
  // RFC 4231, test case 2.
  CAF_CHECK_EQUAL(http_task_signature("Jefe", "what do ya want for nothing?"),
                  "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839de"
                  "c58b964ec3843");
}

CAF_TEST(the settings are read with their bounds) {
  auto spec = parse_http_spec(json::parse(R"({"url": "https://x/hook",
    "secret": "s", "timeout_ms": 100, "connect_timeout_ms": 50,
    "max_concurrency": 2, "max_response_bytes": 10})"),
                              "h");
  CAF_CHECK_EQUAL(spec.url, "https://x/hook");
  CAF_CHECK_EQUAL(spec.max_concurrency, 2);
  CAF_CHECK_EQUAL(spec.max_response_bytes, 10u);
  auto refusal = [](const char* text) {
    try {
      parse_http_spec(json::parse(text), "h");
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{};
  };
  CAF_CHECK_EQUAL(refusal(R"({"url": "file:///etc/passwd"})"),
                  "h.url must be an http:// or https:// URL of at most 2048 "
                  "bytes");
  CAF_CHECK_EQUAL(refusal(R"({"url": "http://x/", "max_concurrency": 0})"),
                  "h.max_concurrency must be an integer between 1 and 4096");
  CAF_CHECK_EQUAL(refusal(R"({"url": "http://x/", "method": "GET"})"),
                  "h.method is not a field of an HTTP task (fields: url, "
                  "secret, timeout_ms, connect_timeout_ms, max_concurrency, "
                  "max_response_bytes)");
}

CAF_TEST(a refused connection is a retryable failure) {
  // (Port 1 on the loopback: nothing listens there.)
  http_runner runner{parse_http_spec(json{{"url", "http://127.0.0.1:1/"}},
                                     "h")};
  task_context ctx{nullptr, "t", 1, 5000};
  auto res = runner.run("t", json::object(), ctx);
  CAF_CHECK(!res.ok);
  CAF_CHECK(res.retryable);
  CAF_CHECK_EQUAL(res.error.rfind("the request failed: ", 0), 0u);
}
