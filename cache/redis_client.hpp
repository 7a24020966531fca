#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct redisContext;

namespace tasker {

/// Where a Redis server is, from a `redis://[[user]:password@]host[:port][/db]`
/// or `unix:///path/to/socket[?db=N]` URL (a password in a unix URL:
/// `unix://:password@/path`).
struct redis_endpoint {
  std::string host;
  int port = 6379;
  /// Set for a unix socket (then `host` is empty).
  std::string socket_path;
  std::string user;
  std::string password;
  int db = 0;
};

/// Parses a Redis URL; on a bad one returns nothing and says why in `error`.
std::optional<redis_endpoint> parse_redis_url(const std::string& url,
                                              std::string& error);

/// A failed Redis call: unreachable, timed out, or an error reply.
struct redis_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A key holds another type than a string (WRONGTYPE).
struct redis_wrong_type : redis_error {
  using redis_error::redis_error;
};

/// One blocking connection to Redis (hiredis), every call bounded by a
/// timeout. Connects at the first call and again after a failure. Not thread
/// safe: one per thread (detached actor).
class redis_client {
public:
  /// `on_connect` (may be empty) hears the `run_id` of the server each new
  /// connection reaches.
  redis_client(redis_endpoint ep, std::chrono::milliseconds timeout,
               std::function<void(const std::string&)> on_connect = {});
  ~redis_client();

  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// Reads the value of `key`, at most `max_bytes + 1` bytes of it (so a
  /// reply never holds more): nothing when the key is missing or empty.
  /// Throws `redis_error`.
  std::optional<std::string> get(const std::string& key, size_t max_bytes);

  /// `SET key value EX ttl_s` for each pair, in one pipeline. Throws
  /// `redis_error` when the connection fails or any reply is an error.
  void set_many(const std::vector<std::pair<std::string, std::string>>& kvs,
                int64_t ttl_s);

  /// Sets each key whose current value is not a newer entry (a server-side
  /// script): one whose number `updated_at` is above the given one but not
  /// above `not_after` (later is planted, and overwritten). A key of another
  /// type is replaced. In one pipeline. Throws `redis_error`.
  struct guarded_set {
    std::string key;
    std::string value;
    int64_t updated_at;
  };
  void set_unless_newer(const std::vector<guarded_set>& items, int64_t ttl_s,
                        int64_t not_after);

  /// Deletes keys, in one pipeline. Throws `redis_error`.
  void del_many(const std::vector<std::string>& keys);

  /// PING. Throws `redis_error`.
  void ping();

  /// Drops the connection; the next call connects anew.
  void reset();

private:
  redisContext* connection();

  /// Appends a command to the pipeline of `c`; throws (and drops the
  /// connection) when it cannot.
  void append(redisContext* c, int argc, const char** argv,
              const size_t* lens);

  /// Sends the pipelined commands appended so far and reads `n` replies;
  /// returns the error text of the first error reply, or "".
  std::string read_replies(size_t n);

  redis_endpoint ep_;
  std::chrono::milliseconds timeout_;
  std::function<void(const std::string&)> on_connect_;
  redisContext* ctx_ = nullptr;
};

} // namespace tasker
