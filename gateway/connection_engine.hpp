#pragma once

// The HTTP/1.1 connection engine: bytes and time in, requests and transport
// actions out. It keeps each connection's request reader, answers pipelined
// requests in order, holds the read and write budgets and the deadlines. It
// knows neither sockets nor actors: the gateway broker feeds it CAF's
// events and carries out its actions; tests feed it bytes.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/http.hpp"

namespace tasker {

struct connection_limits {
  uint64_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 2 * 1024 * 1024;
  /// Most open connections; one past it is closed at once.
  size_t max_connections = 10000;
  /// Time a client has to send a whole request (head and body): a slow
  /// client gets 408 and is closed.
  std::chrono::milliseconds header_timeout{10000};
  /// An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
  /// Most requests in flight on one connection: reading pauses above it.
  size_t max_pipeline = 64;
  /// Reading pauses while more response bytes than this wait on a
  /// connection, ready or unsent (and resumes below half of it). A
  /// connection with 16 times as much is closed (room for the largest list
  /// page); while all connections together hold more than
  /// `max_unsent_total`, the one holding the most is.
  size_t max_unsent_bytes = 1024 * 1024;
  size_t max_unsent_total = 64 * 1024 * 1024;
  /// Most bytes held for requests being received, over all connections:
  /// the connection whose request would pass it gets 503 and is closed.
  size_t max_request_buffer_bytes = 256 * 1024 * 1024;
};

/// A connection, as the transport names it.
using conn_id = int64_t;

/// Identifies the response slot of one request.
struct ticket {
  conn_id conn;
  uint64_t generation;
  uint64_t seq;
  bool keep_alive;
  /// A HEAD request: the response goes without its body.
  bool head;
  std::string label;
};

/// What the engine asks of the transport, in the order it asks.
struct io_action {
  enum kind_t {
    write,          ///< queue `bytes` on the connection
    flush,          ///< send what is queued
    stop_reading,   ///< read nothing until `resume_reading`
    resume_reading,
    report_writes,  ///< report each write (`transferred`) from now on
    quiet_writes,   ///< report no more writes
    close,          ///< close once what is queued has gone
    abort,          ///< close now, dropping what the client did not read
  };
  kind_t kind;
  conn_id conn;
  /// For `write`: valid only during the call.
  std::string_view bytes;
};

/// What the engine has seen, for /v1/cluster.
struct connection_counters {
  size_t connections = 0;
  uint64_t requests = 0;
  uint64_t refused_connections = 0;
  uint64_t timed_out_requests = 0;
  uint64_t idle_closed = 0;
  uint64_t unread_closed = 0;
  uint64_t buffer_refusals = 0;
  size_t held_request_bytes = 0;
  size_t held_response_bytes = 0;
};

class connection_engine {
public:
  using time_point = std::chrono::steady_clock::time_point;

  struct hooks {
    /// A request to answer, now or later, through `complete`. May throw:
    /// the request is then answered 500.
    std::function<void(const ticket&, http_request&)> request;
    /// Every response the engine is given or makes (for metrics), also
    /// those to clients that left.
    std::function<void(const std::string& label, int status)> answered;
    std::function<void(const io_action&)> io;
  };

  /// `check` decides on a request's head before its body is read.
  connection_engine(connection_limits limits, head_check check, hooks h);
  ~connection_engine();

  /// A new connection; past `max_connections` it is closed at once (and
  /// false returned).
  bool open(conn_id conn, time_point now);

  void received(conn_id conn, const char* data, size_t size, time_point now);

  /// The transport reports a write: `remaining` bytes have not left yet.
  void transferred(conn_id conn, size_t remaining, time_point now);

  /// The client closed the connection.
  void closed(conn_id conn);

  /// Fills the response slot of `t` and sends what is ready, in request
  /// order (nothing when the client left or the slot was answered).
  void complete(const ticket& t, const http_response& res, time_point now);

  /// Turns the response slot of `t` into an endless stream (Server-Sent
  /// Events): `head` goes once every earlier response has, then whatever
  /// `stream_write` sends, until `stream_close` or the client leaves. The
  /// connection reads no more requests, and its writes are reported (so
  /// that `stream_write` knows exactly what the client has not taken).
  /// Returns false when the client left.
  bool start_stream(const ticket& t, std::string head, time_point now);

  /// Sends bytes on the stream of `t`. Returns the bytes the client has not
  /// taken yet (these included), or nothing when the stream is gone (the
  /// client left, or the connection was closed for holding too much).
  std::optional<size_t> stream_write(const ticket& t, std::string_view bytes,
                                     time_point now);

  /// Ends the stream of `t`: closed once what is queued has left (or, for a
  /// client that does not read, after `idle_timeout`).
  void stream_close(const ticket& t, time_point now);

  /// Answers `t` 503 if nothing completes it by `deadline`.
  void expect_by(const ticket& t, time_point deadline);

  /// Answers passed deadlines, times out slow clients (408) and closes idle
  /// connections.
  void tick(time_point now);

  connection_counters counters() const;

  /// Per open connection: requests in flight and bytes buffered unparsed.
  std::vector<std::pair<size_t, size_t>> loads() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tasker
