// The command-line client's HTTP: libcurl on one easy handle, so that a run
// of requests (a file's batches, a wait loop) reuses its connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tasker::cli {

/// Why a request got no usable answer.
enum class http_failure {
  /// It got an answer (any status).
  none,
  /// No connection, name not resolved, no answer in time, connection lost.
  unreachable,
  /// The answer's body was over the size bound.
  too_large,
  /// The URL was refused by libcurl (a bad --url).
  bad_url,
  /// The caller stopped a stream.
  stopped,
};

/// What one request came to.
struct http_result {
  http_failure failure = http_failure::none;
  /// How it failed, for people (libcurl's words).
  std::string error;
  long status = 0;
  std::string body;
  /// The `Retry-After` header in seconds, when the answer had one.
  std::optional<int64_t> retry_after_s;
  /// Whether any byte of a streamed body arrived.
  bool streamed = false;
};

/// A client of one tasker server: the base URL and the bearer token.
class http_client {
public:
  /// Largest answer body kept: a larger one fails the request.
  static constexpr size_t max_response_bytes = 64 * 1024 * 1024;

  /// Longest wait for a connection to the server.
  static constexpr long connect_timeout_ms = 5000;

  http_client(std::string base_url, std::string token);
  ~http_client();

  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Sends `method path` with a JSON `body` (none when empty) and waits at
  /// most `timeout_ms` for the whole answer.
  http_result request(const std::string& method, const std::string& path,
                      const std::string& body, long timeout_ms);

  /// Sends `GET path` and hands each piece of a 200 answer's body to
  /// `on_data` as it arrives, until the server closes the connection,
  /// `on_data` returns false (failure `stopped`), or nothing arrives for
  /// `idle_timeout_ms` (failure `unreachable`). Another status keeps its
  /// body (at most 64 KiB) in the result.
  http_result stream(const std::string& path,
                     const std::vector<std::string>& headers,
                     const std::function<bool(const char*, size_t)>& on_data,
                     long idle_timeout_ms);

  const std::string& base_url() const {
    return base_url_;
  }

  /// What one transfer collects while libcurl runs it (cli/http_client.cpp).
  struct transfer;

private:
  http_result perform(transfer& t);

  std::string base_url_;
  std::string token_;
  void* curl_ = nullptr;
};

} // namespace tasker::cli
