#include "cache/redis_client.hpp"

#include <pthread.h>
#include <sys/time.h>

#include <csignal>

#include <algorithm>
#include <charconv>
#include <memory>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

namespace tasker {

namespace {

/// A number in [lo, hi], or nothing.
std::optional<int> number_in(const std::string& str, int lo, int hi) {
  int n = 0;
  auto end = str.data() + str.size();
  auto [p, ec] = std::from_chars(str.data(), end, n);
  if (str.empty() || ec != std::errc{} || p != end || n < lo || n > hi)
    return std::nullopt;
  return n;
}

/// `db=N` from a query string (nothing else is accepted).
bool read_query(const std::string& query, redis_endpoint& ep,
                std::string& error) {
  if (query.empty())
    return true;
  if (query.rfind("db=", 0) != 0 || !number_in(query.substr(3), 0, 1 << 20)) {
    error = "the only query parameter of a Redis URL is db=N";
    return false;
  }
  ep.db = *number_in(query.substr(3), 0, 1 << 20);
  return true;
}

std::optional<redis_endpoint> parse_unix(const std::string& url,
                                         std::string& error) {
  redis_endpoint ep;
  auto rest = url.substr(7); // after "unix://"
  auto q = rest.find('?');
  std::string query;
  if (q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (auto at = rest.find('@'); at != std::string::npos) {
    auto cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    if (colon == std::string::npos) {
      error = "unix Redis URL: credentials are [user]:password@";
      return std::nullopt;
    }
    ep.user = cred.substr(0, colon);
    ep.password = cred.substr(colon + 1);
  }
  if (rest.empty() || rest[0] != '/') {
    error = "unix Redis URL: give the socket's absolute path, "
            "unix:///path/to/redis.sock";
    return std::nullopt;
  }
  ep.socket_path = rest;
  ep.host.clear();
  if (!read_query(query, ep, error))
    return std::nullopt;
  return ep;
}

struct url_deleter {
  void operator()(CURLU* h) const {
    curl_url_cleanup(h);
  }
};

/// One part of a parsed URL, decoded; empty when it is absent.
std::string part_of(CURLU* h, CURLUPart what, unsigned flags = CURLU_URLDECODE) {
  char* part = nullptr;
  if (curl_url_get(h, what, &part, flags) != CURLUE_OK || part == nullptr)
    return {};
  std::string out{part};
  curl_free(part);
  return out;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

struct reply_deleter {
  void operator()(redisReply* r) const {
    freeReplyObject(r);
  }
};

using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

/// hiredis writes with write(2): to a Redis that went away, that raises
/// SIGPIPE, which would end the process. The signal is blocked in this
/// thread during a call and taken if it came (the write fails with EPIPE).
class quiet_pipe {
public:
  quiet_pipe() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }

  ~quiet_pipe() {
    sigset_t pending;
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      timespec zero{0, 0};
      sigtimedwait(&set_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

  quiet_pipe(const quiet_pipe&) = delete;
  quiet_pipe& operator=(const quiet_pipe&) = delete;

private:
  sigset_t set_;
  sigset_t old_;
};

} // namespace

std::optional<redis_endpoint> parse_redis_url(const std::string& url,
                                              std::string& error) {
  if (url.rfind("unix://", 0) == 0)
    return parse_unix(url, error);
  if (url.rfind("rediss://", 0) == 0) {
    error = "TLS to Redis (rediss://) is not supported; use redis:// on a "
            "trusted network or a unix socket";
    return std::nullopt;
  }
  if (url.rfind("redis://", 0) != 0) {
    error = "a Redis URL starts with redis:// or unix://";
    return std::nullopt;
  }
  std::unique_ptr<CURLU, url_deleter> h{curl_url()};
  if (!h) {
    error = "cannot parse a URL (out of memory)";
    return std::nullopt;
  }
  if (auto rc = curl_url_set(h.get(), CURLUPART_URL, url.c_str(),
                             CURLU_NON_SUPPORT_SCHEME);
      rc != CURLUE_OK) {
    error = std::string{"not a valid Redis URL: "} + curl_url_strerror(rc);
    return std::nullopt;
  }
  redis_endpoint ep;
  ep.host = part_of(h.get(), CURLUPART_HOST, 0);
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']')
    ep.host = ep.host.substr(1, ep.host.size() - 2);
  if (ep.host.empty()) {
    error = "a Redis URL needs a host";
    return std::nullopt;
  }
  if (auto port = part_of(h.get(), CURLUPART_PORT, 0); !port.empty()) {
    auto n = number_in(port, 1, 65535);
    if (!n) {
      error = "the port of a Redis URL is 1 to 65535";
      return std::nullopt;
    }
    ep.port = *n;
  }
  ep.user = part_of(h.get(), CURLUPART_USER);
  ep.password = part_of(h.get(), CURLUPART_PASSWORD);
  auto path = part_of(h.get(), CURLUPART_PATH);
  if (!path.empty() && path != "/") {
    auto n = number_in(path.substr(1), 0, 1 << 20);
    if (!n) {
      error = "the path of a Redis URL is the database number, /N";
      return std::nullopt;
    }
    ep.db = *n;
  }
  if (!read_query(part_of(h.get(), CURLUPART_QUERY, 0), ep, error))
    return std::nullopt;
  return ep;
}

redis_client::redis_client(redis_endpoint ep,
                           std::chrono::milliseconds timeout,
                           std::function<void(const std::string&)> on_connect)
  : ep_(std::move(ep)), timeout_(timeout), on_connect_(std::move(on_connect)) {}

redis_client::~redis_client() {
  reset();
}

void redis_client::reset() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

redisContext* redis_client::connection() {
  if (ctx_ != nullptr)
    return ctx_;
  auto tv = to_timeval(timeout_);
  auto* c = ep_.socket_path.empty()
              ? redisConnectWithTimeout(ep_.host.c_str(), ep_.port, tv)
              : redisConnectUnixWithTimeout(ep_.socket_path.c_str(), tv);
  if (c == nullptr)
    throw redis_error{"cannot allocate a Redis connection"};
  if (c->err != 0) {
    std::string why = c->errstr;
    redisFree(c);
    throw redis_error{"cannot connect to Redis: " + why};
  }
  ctx_ = c;
  if (redisSetTimeout(c, tv) != REDIS_OK) {
    reset();
    throw redis_error{"cannot set the Redis timeout"};
  }
  if (ep_.socket_path.empty())
    redisEnableKeepAlive(c);
  size_t n = 0;
  if (!ep_.password.empty()) {
    if (ep_.user.empty()) {
      const char* argv[] = {"AUTH", ep_.password.c_str()};
      size_t lens[] = {4, ep_.password.size()};
      append(c, 2, argv, lens);
    } else {
      const char* argv[] = {"AUTH", ep_.user.c_str(), ep_.password.c_str()};
      size_t lens[] = {4, ep_.user.size(), ep_.password.size()};
      append(c, 3, argv, lens);
    }
    ++n;
  }
  std::string db;
  if (ep_.db != 0) {
    db = std::to_string(ep_.db);
    const char* argv[] = {"SELECT", db.c_str()};
    size_t lens[] = {6, db.size()};
    append(c, 2, argv, lens);
    ++n;
  }
  if (n > 0) {
    auto err = read_replies(n);
    if (!err.empty()) {
      reset();
      throw redis_error{"Redis refused the connection's set-up: " + err};
    }
  }
  if (on_connect_) {
    const char* argv[] = {"INFO", "server"};
    size_t lens[] = {4, 6};
    void* raw = redisCommandArgv(c, 2, argv, lens);
    if (raw == nullptr) {
      reset();
      throw redis_error{"Redis connection failed during INFO"};
    }
    reply_ptr r{static_cast<redisReply*>(raw)};
    std::string run_id;
    if (r->type == REDIS_REPLY_STRING) {
      std::string info{r->str, r->len};
      auto at = info.find("run_id:");
      if (at != std::string::npos) {
        auto end = info.find_first_of("\r\n", at);
        run_id = info.substr(at + 7, std::min<size_t>(
                                       end == std::string::npos
                                         ? std::string::npos
                                         : end - at - 7,
                                       64));
      }
    }
    on_connect_(run_id);
  }
  return ctx_;
}

void redis_client::append(redisContext* c, int argc, const char** argv,
                          const size_t* lens) {
  if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK) {
    reset();
    throw redis_error{"cannot queue a Redis command"};
  }
}

std::string redis_client::read_replies(size_t n) {
  std::string first_error;
  for (size_t k = 0; k < n; ++k) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      std::string why = ctx_->errstr[0] != '\0' ? ctx_->errstr
                                                 : "no reply";
      reset();
      throw redis_error{"Redis connection failed: " + why};
    }
    reply_ptr r{static_cast<redisReply*>(raw)};
    if (r->type == REDIS_REPLY_ERROR && first_error.empty())
      first_error.assign(r->str, r->len);
  }
  return first_error;
}

std::optional<std::string> redis_client::get(const std::string& key,
                                             size_t max_bytes) {
  quiet_pipe quiet;
  auto* c = connection();
  auto end = std::to_string(max_bytes);
  const char* argv[] = {"GETRANGE", key.c_str(), "0", end.c_str()};
  size_t lens[] = {8, key.size(), 1, end.size()};
  void* raw = redisCommandArgv(c, 4, argv, lens);
  if (raw == nullptr) {
    std::string why = c->errstr[0] != '\0' ? c->errstr : "no reply";
    reset();
    throw redis_error{"Redis connection failed: " + why};
  }
  reply_ptr r{static_cast<redisReply*>(raw)};
  if (r->type == REDIS_REPLY_ERROR) {
    std::string what{r->str, r->len};
    if (what.rfind("WRONGTYPE", 0) == 0)
      throw redis_wrong_type{"Redis: " + what};
    throw redis_error{"Redis: " + what};
  }
  if (r->type != REDIS_REPLY_STRING) {
    // Not what GETRANGE answers: the connection is out of step.
    reset();
    throw redis_error{"Redis answered GETRANGE with an unexpected reply"};
  }
  if (r->len == 0)
    return std::nullopt;
  return std::string{r->str, r->len};
}

void redis_client::set_many(
  const std::vector<std::pair<std::string, std::string>>& kvs,
  int64_t ttl_s) {
  quiet_pipe quiet;
  if (kvs.empty())
    return;
  auto* c = connection();
  auto ttl = std::to_string(ttl_s);
  for (auto& [key, value] : kvs) {
    const char* argv[] = {"SET", key.c_str(), value.c_str(), "EX",
                          ttl.c_str()};
    size_t lens[] = {3, key.size(), value.size(), 2, ttl.size()};
    append(c, 5, argv, lens);
  }
  auto err = read_replies(kvs.size());
  if (!err.empty())
    throw redis_error{"Redis: " + err};
}

void redis_client::set_unless_newer(const std::vector<guarded_set>& items,
                                    int64_t ttl_s, int64_t not_after) {
  quiet_pipe quiet;
  static constexpr const char* script
    = "local t = redis.call('TYPE', KEYS[1]).ok "
      "if t == 'string' then "
      "  local ok, e = pcall(cjson.decode, redis.call('GET', KEYS[1])) "
      "  if ok and type(e) == 'table' and type(e.updated_at) == 'number' "
      "     and e.updated_at > tonumber(ARGV[2]) "
      "     and e.updated_at <= tonumber(ARGV[4]) then return 0 end "
      "end "
      "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) "
      "return 1";
  if (items.empty())
    return;
  auto* c = connection();
  auto ttl = std::to_string(ttl_s);
  size_t script_len = std::char_traits<char>::length(script);
  auto limit = std::to_string(not_after);
  for (auto& item : items) {
    auto at = std::to_string(item.updated_at);
    const char* argv[] = {"EVAL",           script,        "1",
                          item.key.c_str(), item.value.c_str(), at.c_str(),
                          ttl.c_str(),      limit.c_str()};
    size_t lens[] = {4,          script_len, 1,         item.key.size(),
                     item.value.size(), at.size(), ttl.size(), limit.size()};
    append(c, 8, argv, lens);
  }
  auto err = read_replies(items.size());
  if (!err.empty())
    throw redis_error{"Redis: " + err};
}

void redis_client::ping() {
  quiet_pipe quiet;
  auto* c = connection();
  const char* argv[] = {"PING"};
  size_t lens[] = {4};
  append(c, 1, argv, lens);
  auto err = read_replies(1);
  if (!err.empty())
    throw redis_error{"Redis: " + err};
}

void redis_client::del_many(const std::vector<std::string>& keys) {
  quiet_pipe quiet;
  if (keys.empty())
    return;
  auto* c = connection();
  for (auto& key : keys) {
    const char* argv[] = {"DEL", key.c_str()};
    size_t lens[] = {3, key.size()};
    append(c, 2, argv, lens);
  }
  auto err = read_replies(keys.size());
  if (!err.empty())
    throw redis_error{"Redis: " + err};
}

} // namespace tasker
