#pragma once

// HTTP-endpoint tasks: a declared type whose attempts are POSTed to a URL by
// the worker node that takes them (libcurl). The body is the params as JSON,
// signed with HMAC-SHA256 under the type's secret; the task id, type and
// attempt go in headers. A 2xx answer with a JSON body (or none) is the
// result; 429, 5xx, a timeout or a failed connection is a retryable failure;
// any other answer a failure. Connections are reused, and at most
// `max_concurrency` requests of a type are in flight on a node.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tasks/registry.hpp"

namespace tasker {

struct http_spec {
  /// An http:// or https:// URL; redirects are not followed.
  std::string url;
  /// The key of the `X-Tasker-Signature` HMAC (may be empty: no header).
  std::string secret;
  /// Bounds one request (the attempt's timeout bounds it too).
  int64_t timeout_ms = 30000;
  int64_t connect_timeout_ms = 5000;
  /// Most requests of the type in flight on one node.
  int64_t max_concurrency = 16;
  /// Most bytes of an answer read; a longer one fails the attempt.
  uint64_t max_response_bytes = 1024 * 1024;
};

/// Reads the `http` object of a declared type. Throws std::invalid_argument
/// naming the place (`where`) of a mistake.
http_spec parse_http_spec(const nlohmann::json& js, const std::string& where);

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`: the value of
/// `X-Tasker-Signature`.
std::string http_task_signature(const std::string& secret,
                                const std::string& body);

/// Runs the attempts of one HTTP type: bounds their concurrency and keeps
/// the idle libcurl handles (and so their connections) for the next ones.
class http_runner {
public:
  explicit http_runner(http_spec spec);
  ~http_runner();

  http_runner(const http_runner&) = delete;
  http_runner& operator=(const http_runner&) = delete;

  handler_result run(const std::string& type, const nlohmann::json& params,
                     const task_context& ctx);

private:
  void* take_handle(const task_context& ctx);
  void give_back(void* handle);

  http_spec spec_;
  std::mutex mtx_;
  std::condition_variable cv_;
  int64_t busy_ = 0;
  std::vector<void*> idle_;
};

} // namespace tasker
