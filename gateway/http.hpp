#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "messages/error.hpp"

namespace tasker {

/// One parsed HTTP request, independent of the parser library.
struct http_request {
  std::string method;
  std::string target;
  /// The decoded path without the query.
  std::string path;
  /// Decoded query parameters in order.
  std::vector<std::pair<std::string, std::string>> query;
  std::string content_type;
  std::string idempotency_key;
  std::string authorization;
  std::string body;
  bool keep_alive = true;
  /// The target's percent-encoding is malformed (answered 400).
  bool malformed_target = false;

  /// Returns the value of a query parameter, or nullptr.
  const std::string* param(const std::string& name) const;
};

/// A response before serialization.
struct http_response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// `{"error": {"code", "message"}}` with the status of the code.
http_response error_response(ec code, const std::string& message);

/// A JSON body with a status.
http_response json_response(int status, std::string body);

/// Serializes a response as HTTP/1.1 bytes.
std::string serialize(const http_response& res, bool keep_alive);

/// Splits a request target into a decoded path and query; false when the
/// percent-encoding is malformed.
bool split_target(const std::string& target, std::string& path,
                  std::vector<std::pair<std::string, std::string>>& query);

/// Feeds raw connection bytes to Beast's request parser and yields complete
/// requests in order (keep-alive and pipelining). Once it reports an error
/// the connection must be answered and closed.
class request_reader {
public:
  request_reader(uint64_t header_limit, uint64_t body_limit);
  ~request_reader();

  /// The outcome of `next`.
  enum class status { need_more, request, error };

  /// Appends bytes read from the connection.
  void append(const char* data, size_t size);

  /// Parses the next request from the buffered bytes. On `error`, `code` and
  /// `message` say what was wrong.
  status next(http_request& out, ec& code, std::string& message);

  /// Bytes buffered but not yet parsed.
  size_t buffered() const {
    return buf_.size() - pos_;
  }

private:
  struct impl;
  void reset_parser();

  uint64_t header_limit_;
  uint64_t body_limit_;
  /// Bytes after `pos_` known to hold no end of the current request's header.
  size_t header_scanned_ = 0;
  std::string buf_;
  size_t pos_ = 0;
  std::unique_ptr<impl> parser_;
};

} // namespace tasker
