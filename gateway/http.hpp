#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
  /// Where a Server-Sent Events client that reconnects left off.
  std::string last_event_id;
  std::string body;
  bool keep_alive = true;
  /// Why the target cannot be routed (answered 400), or empty: it is not a
  /// path (origin-form), its percent-encoding is malformed, or a part decodes
  /// to invalid UTF-8 or a NUL character.
  std::string target_error;

  /// Returns the value of a query parameter, or nullptr.
  const std::string* param(const std::string& name) const;
};

struct http_response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// `{"error": {"code", "message"}}` with the status of the code.
http_response error_response(ec code, const std::string& message);

http_response json_response(int status, std::string body);

/// Serializes a response as HTTP/1.1 bytes; the answer to a HEAD request
/// has the headers of the response without its body.
std::string serialize(const http_response& res, bool keep_alive,
                      bool head = false);

/// The interim response that tells a client sending `Expect: 100-continue`
/// to send its body.
extern const std::string continue_100;

/// Splits a request target into a decoded path and query; false when the
/// percent-encoding is malformed.
bool split_target(const std::string& target, std::string& path,
                  std::vector<std::pair<std::string, std::string>>& query);

/// Splits an origin-form target (`/path?query`) as `split_target` does and
/// says what is wrong with it, if anything (empty when it can be routed).
std::string check_target(const std::string& target, std::string& path,
                         std::vector<std::pair<std::string, std::string>>& query);

/// Decides on a request's head (method, target, path and query, and the
/// Authorization header) before its body is read: the error that refuses
/// it, if any. The connection is then answered and closed without reading
/// the body.
using head_check = std::function<std::optional<std::pair<ec, std::string>>(
  const http_request& head)>;

/// Feeds raw connection bytes to Beast's request parser and yields complete
/// requests in order (keep-alive and pipelining). Once it reports an error
/// the connection must be answered and closed.
class request_reader {
public:
  request_reader(uint64_t header_limit, uint64_t body_limit,
                 head_check check = {});
  ~request_reader();

  enum class status { need_more, request, error };

  void append(const char* data, size_t size);

  /// Parses the next request from the buffered bytes. On `error`, `code` and
  /// `message` say what was wrong.
  status next(http_request& out, ec& code, std::string& message);

  /// Bytes buffered but not yet parsed.
  size_t buffered() const {
    return buf_.size() - pos_;
  }

  /// Whether part of a request has arrived: bytes buffered, or a header or
  /// body the parser has begun.
  bool mid_request() const;

  /// The bytes it holds: buffered, and the body read so far.
  size_t held() const;

  /// Whether the request being read asked for `100 Continue` and waits for
  /// it: true once per such request, after its header and before its body
  /// is complete.
  bool take_expect_continue();

private:
  struct impl;
  void reset_parser();
  /// Checks a header Beast has read whole: what RFC 9112 refuses that Beast
  /// lets through, then `check_` if a body is to follow. Returns the error,
  /// or `ec::none`.
  std::pair<ec, std::string> check_header();

  uint64_t header_limit_;
  uint64_t body_limit_;
  head_check check_;
  /// Bytes after `pos_` known to hold no end of the current request's header.
  size_t header_scanned_ = 0;
  /// The current request sent `Expect: 100-continue`, not answered yet.
  bool expect_continue_ = false;
  std::string buf_;
  size_t pos_ = 0;
  std::unique_ptr<impl> parser_;
};

} // namespace tasker
