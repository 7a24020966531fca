// tasker load generator.
//
// A single-threaded epoll event loop over C keep-alive HTTP/1.1 connections. It submits N tasks
// with POST /v1/tasks (or B at a time with POST /v1/tasks/batch; up to K requests in flight per
// connection), then long-polls every accepted
// task with GET /v1/tasks/{id}?wait_ms=... until it is terminal, and prints latency and
// throughput figures computed from client clocks (submit latency, wall time) and from the
// server's own task timestamps (submit->completed, dispatch latency, end-to-end rate).
//
// Build: g++ -O2 -std=c++17 -o loadgen bench/loadgen.cpp      (Boost.Beast and nlohmann_json,
// both header-only). See bench/README.md for the meaning of every figure.

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <queue>
#include <sstream>
#include <string>
#include <vector>

namespace http = boost::beast::http;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_stop = 0;  // SIGINT/SIGTERM: stop and report what was measured
extern "C" void on_stop_signal(int) { g_stop = 1; }

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string url = "http://127.0.0.1:8080";
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string host_header = "127.0.0.1:8080";
  long tasks = 50000;
  int connections = 64;
  int pipeline = 1;
  long batch = 1;
  std::string type = "sum";
  long sleep_ms = 50;
  long text_bytes = 1024;
  long pid = -1;
  double wait_timeout_s = 300;
  long wait_ms = 30000;
  std::string token;
  double progress_s = 2.0;
};

[[noreturn]] void usage(const char* msg) {
  if (msg && *msg) std::fprintf(stderr, "loadgen: %s\n", msg);
  std::fprintf(stderr,
               "usage: loadgen --url http://HOST:PORT [--tasks N] [--connections C] [--pipeline K]\n"
               "               [--type sum|sleep|text_stats] [--sleep-ms MS] [--text-bytes B]\n"
               "               [--pid TASKER_PID] [--wait-timeout-s S] [--wait-ms MS] [--token T]\n"
               "               [--progress-s S (0 = quiet)] [--batch B (POST /v1/tasks/batch)]\n"
               "defaults: --tasks 50000 --connections 64 --pipeline 1 --type sum --sleep-ms 50\n"
               "          --wait-timeout-s 300 --wait-ms 30000 (long-poll hold per GET, <= 60000)\n"
               "exit: 0 all N tasks COMPLETED; 1 otherwise (timeout, rejected submit, FAILED task); 2 usage\n");
  std::exit(2);
}

long parse_long(const std::string& name, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v.c_str(), &end, 10);
  if (errno || end == v.c_str() || *end || x < lo || x > hi)
    usage((name + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
           "], got '" + v + "'")
              .c_str());
  return x;
}

double parse_double(const std::string& name, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v.c_str(), &end);
  if (errno || end == v.c_str() || *end || !(x >= lo && x <= hi))
    usage((name + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
           "], got '" + v + "'")
              .c_str());
  return x;
}

void parse_url(Options& o) {
  const std::string pfx = "http://";
  if (o.url.compare(0, pfx.size(), pfx) != 0) usage("--url must start with http:// (no TLS)");
  std::string rest = o.url.substr(pfx.size());
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    if (rest.substr(slash) != "/") usage("--url must not have a path (use http://HOST:PORT)");
    rest = rest.substr(0, slash);
  }
  std::string host, port = "80";
  if (!rest.empty() && rest[0] == '[') {  // [v6]:port
    auto rb = rest.find(']');
    if (rb == std::string::npos) usage("--url: bad IPv6 literal");
    host = rest.substr(1, rb - 1);
    if (rb + 1 < rest.size()) {
      if (rest[rb + 1] != ':') usage("--url: bad port");
      port = rest.substr(rb + 2);
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) {
      host = rest;
    } else {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
  }
  if (host.empty()) usage("--url: missing host");
  parse_long("--url port", port, 1, 65535);
  o.host = host;
  o.port = port;
  o.host_header = rest;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v;
    auto eq = a.find('=');
    bool has_inline = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (has_inline) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto val = [&]() -> std::string {
      if (has_inline) return v;
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "-h" || a == "--help") usage("");
    else if (a == "--url") o.url = val();
    else if (a == "--tasks" || a == "-n") o.tasks = parse_long(a, val(), 1, 100000000);
    else if (a == "--connections" || a == "-c") o.connections = (int)parse_long(a, val(), 1, 10000);
    else if (a == "--pipeline") o.pipeline = (int)parse_long(a, val(), 1, 1000);
    else if (a == "--type") o.type = val();
    else if (a == "--batch") o.batch = parse_long(a, val(), 1, 1000);
    else if (a == "--sleep-ms") o.sleep_ms = parse_long(a, val(), 0, 3600000);
    else if (a == "--text-bytes") o.text_bytes = parse_long(a, val(), 1, 1 << 30);
    else if (a == "--pid") o.pid = parse_long(a, val(), 1, 1L << 30);
    else if (a == "--wait-timeout-s") o.wait_timeout_s = parse_double(a, val(), 0.001, 1e7);
    else if (a == "--wait-ms") o.wait_ms = parse_long(a, val(), 0, 60000);
    else if (a == "--token") o.token = val();
    else if (a == "--progress-s") o.progress_s = parse_double(a, val(), 0, 1e6);
    else usage(("unknown argument '" + a + "'").c_str());
  }
  if (o.type != "sum" && o.type != "sleep" && o.type != "text_stats")
    usage("--type must be sum, sleep or text_stats");
  parse_url(o);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Time helpers

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

// RFC 3339 -> milliseconds since the epoch (fraction to microseconds kept as a double).
// Returns NaN for null, missing or malformed values.
double parse_rfc3339_ms(const json& v) {
  const double bad = std::nan("");
  if (!v.is_string()) return bad;
  const std::string& s = v.get_ref<const std::string&>();
  int Y, M, D, h, m, sec, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 ||
      n == 0)
    return bad;
  size_t p = (size_t)n;
  double frac = 0, scale = 0.1;
  if (p < s.size() && s[p] == '.') {
    ++p;
    while (p < s.size() && std::isdigit((unsigned char)s[p])) {
      frac += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
  }
  int64_t offset_s = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + p + 1, "%2d:%2d", &oh, &om) != 2) return bad;
    offset_s = (oh * 3600 + om * 60) * (s[p] == '-' ? -1 : 1);
    p += 6;
  } else {
    return bad;
  }
  if (p != s.size()) return bad;
  int64_t secs = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec -
                 offset_s;
  return (double)secs * 1000.0 + frac * 1000.0;
}

// ---------------------------------------------------------------------------------------------
// /proc helpers

long proc_status_kb(long pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const size_t kl = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, kl, key) == 0 && line.size() > kl && line[kl] == ':')
      return std::strtol(line.c_str() + kl + 1, nullptr, 10);
  }
  return -1;
}

double proc_cpu_s(long pid) {  // utime + stime of the process, seconds
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = all.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream is(all.substr(rp + 2));
  std::string field;
  // fields after the comm: 3=state ... 14=utime 15=stime (1-based over the whole line)
  unsigned long long ut = 0, st = 0;
  for (int idx = 3; idx <= 15 && (is >> field); ++idx) {
    if (idx == 14) ut = std::strtoull(field.c_str(), nullptr, 10);
    if (idx == 15) st = std::strtoull(field.c_str(), nullptr, 10);
  }
  long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? double(ut + st) / double(hz) : -1;
}

// ---------------------------------------------------------------------------------------------
// Statistics

struct Summary {
  size_t n = 0;
  double p50 = NAN, p90 = NAN, p99 = NAN, max = NAN, mean = NAN;
};

Summary summarize(std::vector<double> v) {
  Summary s;
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {  // nearest rank
    size_t rank = (size_t)std::ceil(p / 100.0 * (double)v.size());
    if (rank < 1) rank = 1;
    return v[std::min(rank, v.size()) - 1];
  };
  s.p50 = pct(50);
  s.p90 = pct(90);
  s.p99 = pct(99);
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / (double)v.size();
  return s;
}

json num(double x, int decimals = 3) {
  if (std::isnan(x) || std::isinf(x)) return nullptr;
  double f = std::pow(10.0, decimals);
  return std::round(x * f) / f;
}

json summary_json(const Summary& s) {
  return json{{"n", s.n},       {"p50", num(s.p50)}, {"p90", num(s.p90)},
              {"p99", num(s.p99)}, {"max", num(s.max)}, {"mean", num(s.mean)}};
}

// ---------------------------------------------------------------------------------------------
// Load generator

enum class Kind { Submit, Poll };

struct Inflight {
  Kind kind;
  size_t idx;
  Clock::time_point sent;
};

struct Task {
  std::string id;
  bool accepted = false;        // got a 2xx for the submit
  bool submit_final = false;    // accepted or permanently rejected
  bool terminal = false;        // observed COMPLETED / FAILED / CANCELLED (or lost)
  int submit_status = 0;        // HTTP status of the last submit answer
  int submit_tries = 0;
  double submit_latency_ms = NAN;
  std::string status;
  double created = NAN, scheduled = NAN, started = NAN, completed = NAN;  // server, epoch ms
  Clock::time_point observed{};
};

struct Conn {
  int id = 0;
  int fd = -1;
  bool connecting = false;
  bool connected = false;
  uint32_t events = 0;  // registered epoll mask
  std::string out;
  size_t out_off = 0;
  std::string in;
  std::deque<Inflight> inflight;
  std::optional<http::response_parser<http::string_body>> parser;
  Clock::time_point reconnect_at{};
  int consecutive_failures = 0;
};

struct Timer {
  Clock::time_point at;
  Kind kind;
  size_t idx;
  bool operator>(const Timer& o) const { return at > o.at; }
};

class LoadGen {
 public:
  explicit LoadGen(Options o) : opt_(std::move(o)) {}

  int run();

 private:
  // setup
  bool resolve();
  // event loop pieces
  void start_connect(Conn& c);
  void on_connected(Conn& c);
  void set_events(Conn& c, uint32_t ev);
  void fill(Conn& c);
  void flush(Conn& c);
  void on_readable(Conn& c);
  void process_input(Conn& c);
  void on_response(Conn& c, http::response<http::string_body>&& res);
  void drop(Conn& c, const char* why, bool error);
  void fire_timers(Clock::time_point now);
  void maybe_start_poll_phase();
  bool work_remaining() const;
  bool finished() const { return terminal_count_ >= accepted_count_ && submits_final_ == tasks_.size(); }
  void progress(Clock::time_point now, bool force);
  // request building
  json task_json(size_t i) const;
  std::string submit_body(size_t unit) const;
  size_t units() const { return (tasks_.size() + (size_t)opt_.batch - 1) / (size_t)opt_.batch; }
  size_t unit_first(size_t unit) const { return unit * (size_t)opt_.batch; }
  size_t unit_end(size_t unit) const {
    return std::min(tasks_.size(), (unit + 1) * (size_t)opt_.batch);
  }
  void append_request(Conn& c, const char* method, const std::string& target,
                      const std::string* body);
  // reporting
  int report();

  Options opt_;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  int ep_ = -1;
  std::deque<Conn> conns_;  // Conn is not movable (the Beast parser is not)
  std::vector<Task> tasks_;

  size_t next_submit_ = 0;
  std::deque<size_t> submit_retry_;  // ready to resend now
  std::deque<size_t> poll_queue_;
  bool poll_phase_ = false;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;

  size_t submits_final_ = 0;
  size_t accepted_count_ = 0;
  size_t terminal_count_ = 0;
  size_t rejected_count_ = 0;  // submits permanently refused (non-retryable non-2xx)
  size_t lost_count_ = 0;      // accepted tasks whose GET gave a permanent non-2xx (e.g. 404)
  size_t submit_retries_ = 0;  // resends after 429/503/5xx
  size_t resubmits_ = 0;       // resends after the connection dropped with the submit in flight
  size_t polls_ = 0;
  size_t poll_retries_ = 0;
  size_t conn_errors_ = 0;
  size_t connects_ = 0;
  size_t parse_errors_ = 0;
  std::map<int, size_t> non2xx_submit_, non2xx_poll_;
  std::map<std::string, size_t> terminal_status_;
  std::string last_error_;

  bool have_first_send_ = false;
  Clock::time_point t_start_{}, first_send_{}, last_submit_answer_{}, poll_start_{},
      last_terminal_{}, deadline_{}, last_progress_{};
  bool timed_out_ = false;
  bool interrupted_ = false;
  double cpu_start_ = -1;
};

bool LoadGen::resolve() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(opt_.host.c_str(), opt_.port.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    std::fprintf(stderr, "loadgen: cannot resolve %s:%s: %s\n", opt_.host.c_str(),
                 opt_.port.c_str(), gai_strerror(rc));
    return false;
  }
  std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
  addr_len_ = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

void LoadGen::set_events(Conn& c, uint32_t ev) {
  if (c.fd < 0 || ev == c.events) return;
  epoll_event e{};
  e.events = ev;
  e.data.u32 = (uint32_t)c.id;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &e) == 0) c.events = ev;
}

void LoadGen::start_connect(Conn& c) {
  int fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    last_error_ = std::string("socket: ") + std::strerror(errno);
    c.reconnect_at = Clock::now() + std::chrono::milliseconds(500);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ++connects_;
  c.fd = fd;
  c.in.clear();
  c.out.clear();
  c.out_off = 0;
  c.parser.reset();
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr_), addr_len_);
  epoll_event e{};
  e.data.u32 = (uint32_t)c.id;
  if (rc == 0) {
    e.events = EPOLLIN;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e);
    c.events = e.events;
    on_connected(c);
  } else if (errno == EINPROGRESS) {
    c.connecting = true;
    e.events = EPOLLOUT;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e);
    c.events = e.events;
  } else {
    last_error_ = std::string("connect: ") + std::strerror(errno);
    drop(c, "connect failed", true);
  }
}

void LoadGen::on_connected(Conn& c) {
  c.connecting = false;
  c.connected = true;
  c.consecutive_failures = 0;
  set_events(c, EPOLLIN);
  fill(c);
}

// Close the connection. Requests still in flight are put back to be sent again on another (or
// the re-opened) connection: a poll is harmless to repeat; a submit may in rare cases have been
// stored by the server before the drop, which would leave one extra task running (counted as
// `resubmits`).
void LoadGen::drop(Conn& c, const char* why, bool error) {
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
  }
  c.fd = -1;
  c.events = 0;
  c.connected = false;
  c.connecting = false;
  c.in.clear();
  c.out.clear();
  c.out_off = 0;
  c.parser.reset();
  // put back in reverse so the original order is kept at the front of the queues
  for (auto it = c.inflight.rbegin(); it != c.inflight.rend(); ++it) {
    if (it->kind == Kind::Submit) {
      ++resubmits_;
      submit_retry_.push_front(it->idx);
    } else {
      poll_queue_.push_front(it->idx);
    }
  }
  c.inflight.clear();
  if (error) {
    ++conn_errors_;
    ++c.consecutive_failures;
    if (last_error_.empty()) last_error_ = why;
    long backoff = std::min(1000L, 10L << std::min(c.consecutive_failures, 7));
    c.reconnect_at = Clock::now() + std::chrono::milliseconds(backoff);
  } else {
    c.reconnect_at = Clock::now();
  }
}

std::string LoadGen::submit_body(size_t unit) const {
  if (opt_.batch == 1) return task_json(unit).dump();
  json arr = json::array();
  for (size_t i = unit_first(unit); i < unit_end(unit); ++i) arr.push_back(task_json(i));
  return json{{"tasks", std::move(arr)}}.dump();
}

json LoadGen::task_json(size_t i) const {
  json body;
  body["type"] = opt_.type;
  if (opt_.type == "sum") {
    body["params"] = {{"a", (long long)i}, {"b", 1}};
  } else if (opt_.type == "sleep") {
    body["params"] = {{"ms", opt_.sleep_ms}};
  } else {  // text_stats
    static const char* words[] = {"the", "cat", "and", "hat", "sat", "on", "a", "mat", "it's"};
    std::string text;
    text.reserve((size_t)opt_.text_bytes + 8);
    size_t w = i;
    while ((long)text.size() < opt_.text_bytes) {
      text += words[w++ % 9];
      text += ' ';
    }
    text.resize((size_t)opt_.text_bytes);
    body["params"] = {{"text", text}, {"top_n", 3}};
  }
  return body;
}

void LoadGen::append_request(Conn& c, const char* method, const std::string& target,
                             const std::string* body) {
  std::string& o = c.out;
  o += method;
  o += ' ';
  o += target;
  o += " HTTP/1.1\r\nHost: ";
  o += opt_.host_header;
  o += "\r\nUser-Agent: tasker-loadgen\r\nAccept: application/json\r\n";
  if (!opt_.token.empty()) {
    o += "Authorization: Bearer ";
    o += opt_.token;
    o += "\r\n";
  }
  if (body) {
    o += "Content-Type: application/json\r\nContent-Length: ";
    o += std::to_string(body->size());
    o += "\r\n\r\n";
    o += *body;
  } else {
    o += "\r\n";
  }
}

void LoadGen::fill(Conn& c) {
  if (!c.connected) return;
  auto now = Clock::now();
  bool added = false;
  for (;;) {
    if (!poll_phase_) {
      if ((int)c.inflight.size() >= opt_.pipeline) break;
      size_t idx;
      if (!submit_retry_.empty()) {
        idx = submit_retry_.front();
        submit_retry_.pop_front();
      } else if (next_submit_ < units()) {
        idx = next_submit_++;
      } else {
        break;
      }
      std::string body = submit_body(idx);
      append_request(c, "POST", opt_.batch == 1 ? "/v1/tasks" : "/v1/tasks/batch", &body);
      for (size_t i = unit_first(idx); i < unit_end(idx); ++i) ++tasks_[i].submit_tries;
      c.inflight.push_back({Kind::Submit, idx, now});
      if (!have_first_send_) {
        have_first_send_ = true;
        first_send_ = now;
      }
    } else {
      // One long-poll per connection: a held GET would block anything pipelined behind it.
      if (!c.inflight.empty() || poll_queue_.empty()) break;
      size_t idx = poll_queue_.front();
      poll_queue_.pop_front();
      double left_ms = ms_between(now, deadline_) - 1000.0;
      long w = std::max(0L, std::min(opt_.wait_ms, (long)left_ms));
      append_request(c, "GET", "/v1/tasks/" + tasks_[idx].id + "?wait_ms=" + std::to_string(w),
                     nullptr);
      ++polls_;
      c.inflight.push_back({Kind::Poll, idx, now});
    }
    added = true;
  }
  if (added) flush(c);
}

void LoadGen::flush(Conn& c) {
  while (c.fd >= 0 && c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_events(c, EPOLLIN | EPOLLOUT);
      return;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      last_error_ = std::string("send: ") + std::strerror(errno);
      drop(c, "send failed", true);
      return;
    }
  }
  if (c.fd >= 0) {
    c.out.clear();
    c.out_off = 0;
    set_events(c, EPOLLIN);
  }
}

void LoadGen::on_readable(Conn& c) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, (size_t)n);
      if ((size_t)n < sizeof buf) break;
    } else if (n == 0) {
      // Peer closed. A response delimited by EOF (no Content-Length) completes here.
      process_input(c);
      if (c.fd < 0) return;
      if (c.parser && c.parser->got_some()) {
        boost::system::error_code ec;
        c.parser->put_eof(ec);
        if (!ec && c.parser->is_done()) {
          auto msg = c.parser->release();
          c.parser.reset();
          on_response(c, std::move(msg));
          if (c.fd < 0) return;
        }
      }
      bool error = !c.inflight.empty();
      if (error) last_error_ = "server closed the connection with requests in flight";
      drop(c, "connection closed by server", error);
      return;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else if (errno == EINTR) {
      continue;
    } else {
      last_error_ = std::string("recv: ") + std::strerror(errno);
      drop(c, "recv failed", true);
      return;
    }
  }
  process_input(c);
}

void LoadGen::process_input(Conn& c) {
  size_t off = 0;
  while (c.fd >= 0 && off < c.in.size()) {
    if (!c.parser) {
      c.parser.emplace();
      c.parser->body_limit(std::uint64_t(1) << 30);
      c.parser->header_limit(1 << 20);
      c.parser->eager(true);
    }
    boost::system::error_code ec;
    size_t n = c.parser->put(boost::asio::buffer(c.in.data() + off, c.in.size() - off), ec);
    off += n;
    if (ec == http::error::need_more) break;
    if (ec) {
      ++parse_errors_;
      last_error_ = "bad HTTP response: " + ec.message();
      drop(c, "parse error", true);
      return;
    }
    if (c.parser->is_done()) {
      auto msg = c.parser->release();
      c.parser.reset();
      on_response(c, std::move(msg));
    } else if (n == 0) {
      break;
    }
  }
  if (c.fd >= 0) c.in.erase(0, off);
}

void LoadGen::on_response(Conn& c, http::response<http::string_body>&& res) {
  auto now = Clock::now();
  if (c.inflight.empty()) {
    last_error_ = "response without a request";
    drop(c, "unexpected response", true);
    return;
  }
  Inflight req = c.inflight.front();
  c.inflight.pop_front();
  int code = (int)res.result_int();
  bool keep_alive = res.keep_alive();
  Task& t = tasks_[req.idx];

  auto retry_delay = [&]() {
    double s = 1.0;
    auto it = res.find(http::field::retry_after);
    if (it != res.end()) {
      std::string v(it->value());
      char* end = nullptr;
      double x = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && x >= 0) s = x;
    }
    s = std::min(std::max(s, 0.05), 5.0);
    return now + std::chrono::milliseconds((long)(s * 1000));
  };
  auto retryable = [](int code) { return code == 429 || code == 503 || code == 502 || code == 504; };

  if (req.kind == Kind::Submit) {
    size_t first = unit_first(req.idx), end = unit_end(req.idx);
    for (size_t i = first; i < end; ++i) tasks_[i].submit_status = code;
    if (code >= 200 && code < 300) {
      json j = json::parse(res.body(), nullptr, false);
      json answers = json::array();
      if (opt_.batch == 1)
        answers.push_back(std::move(j));
      else if (j.is_object() && j.contains("tasks") && j["tasks"].is_array())
        answers = std::move(j["tasks"]);
      for (size_t i = first; i < end; ++i) {
        Task& t = tasks_[i];
        const json* a = i - first < answers.size() ? &answers[i - first] : nullptr;
        if (a && a->is_object() && a->contains("id") && (*a)["id"].is_string()) {
          t.id = (*a)["id"].get<std::string>();
          t.created = parse_rfc3339_ms(a->value("created_at", json()));
          t.accepted = true;
          t.submit_latency_ms = ms_between(req.sent, now);
          ++accepted_count_;
        } else {
          ++parse_errors_;
          last_error_ = "submit answer without an id: " + res.body().substr(0, 200);
          ++rejected_count_;
        }
        t.submit_final = true;
        ++submits_final_;
      }
      last_submit_answer_ = now;
    } else {
      ++non2xx_submit_[code];
      if (retryable(code)) {
        ++submit_retries_;
        timers_.push({retry_delay(), Kind::Submit, req.idx});
      } else {
        if (rejected_count_ == 0 || last_error_.empty())
          last_error_ = "submit got " + std::to_string(code) + ": " + res.body().substr(0, 300);
        for (size_t i = first; i < end; ++i) {
          ++rejected_count_;
          tasks_[i].submit_final = true;
          ++submits_final_;
        }
        last_submit_answer_ = now;
      }
    }
    maybe_start_poll_phase();
  } else {
    if (code == 200) {
      json j = json::parse(res.body(), nullptr, false);
      std::string st = j.is_object() ? j.value("status", std::string()) : std::string();
      if (st == "COMPLETED" || st == "FAILED" || st == "CANCELLED") {
        t.terminal = true;
        t.status = st;
        t.observed = now;
        last_terminal_ = now;
        double created = parse_rfc3339_ms(j.value("created_at", json()));
        if (!std::isnan(created)) t.created = created;
        t.scheduled = parse_rfc3339_ms(j.value("scheduled_at", json()));
        t.started = parse_rfc3339_ms(j.value("started_at", json()));
        t.completed = parse_rfc3339_ms(j.value("completed_at", json()));
        ++terminal_status_[st];
        ++terminal_count_;
      } else if (!st.empty()) {
        poll_queue_.push_back(req.idx);  // not yet terminal: ask again later
      } else {
        ++parse_errors_;
        last_error_ = "poll answer without a status: " + res.body().substr(0, 200);
        poll_queue_.push_back(req.idx);
      }
    } else {
      ++non2xx_poll_[code];
      if (retryable(code) || code >= 500) {
        ++poll_retries_;
        timers_.push({retry_delay(), Kind::Poll, req.idx});
      } else {
        last_error_ = "GET /v1/tasks/" + t.id + " got " + std::to_string(code) + ": " +
                      res.body().substr(0, 300);
        t.terminal = true;
        t.status = "HTTP_" + std::to_string(code);
        ++lost_count_;
        ++terminal_count_;
      }
    }
  }
  if (!keep_alive) {
    drop(c, "server asked to close", false);
    return;
  }
  fill(c);
}

void LoadGen::maybe_start_poll_phase() {
  if (poll_phase_ || submits_final_ < tasks_.size()) return;
  poll_phase_ = true;
  poll_start_ = Clock::now();
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (tasks_[i].accepted) poll_queue_.push_back(i);
  for (auto& c : conns_) fill(c);
}

void LoadGen::fire_timers(Clock::time_point now) {
  while (!timers_.empty() && timers_.top().at <= now) {
    Timer t = timers_.top();
    timers_.pop();
    if (t.kind == Kind::Submit) submit_retry_.push_back(t.idx);
    else poll_queue_.push_back(t.idx);
  }
}

bool LoadGen::work_remaining() const {
  if (!poll_phase_) return next_submit_ < units() || !submit_retry_.empty();
  return !poll_queue_.empty();
}

void LoadGen::progress(Clock::time_point now, bool force) {
  if (opt_.progress_s <= 0) return;
  if (!force && ms_between(last_progress_, now) < opt_.progress_s * 1000) return;
  last_progress_ = now;
  size_t open = 0;
  for (auto& c : conns_) open += c.connected;
  std::fprintf(stderr,
               "loadgen: t=%.1fs accepted=%zu/%zu terminal=%zu rejected=%zu non2xx=%zu "
               "conns=%zu/%zu conn_errors=%zu%s\n",
               ms_between(t_start_, now) / 1000.0, accepted_count_, tasks_.size(), terminal_count_,
               rejected_count_,
               [&] {
                 size_t s = 0;
                 for (auto& kv : non2xx_submit_) s += kv.second;
                 for (auto& kv : non2xx_poll_) s += kv.second;
                 return s;
               }(),
               open, conns_.size(), conn_errors_, poll_phase_ ? " (waiting)" : " (submitting)");
}

int LoadGen::run() {
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (!resolve()) return 1;
  if (opt_.pid > 0 && proc_status_kb(opt_.pid, "VmRSS") < 0)
    std::fprintf(stderr, "loadgen: warning: cannot read /proc/%ld/status\n", opt_.pid);
  if (opt_.pid > 0) cpu_start_ = proc_cpu_s(opt_.pid);

  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    std::perror("epoll_create1");
    return 1;
  }
  tasks_.resize((size_t)opt_.tasks);
  for (int i = 0; i < opt_.connections; ++i) conns_.emplace_back();
  t_start_ = last_progress_ = Clock::now();
  deadline_ = t_start_ + std::chrono::milliseconds((long long)(opt_.wait_timeout_s * 1000));
  for (size_t i = 0; i < conns_.size(); ++i) {
    conns_[i].id = (int)i;
    conns_[i].reconnect_at = t_start_;
  }

  std::vector<epoll_event> evs(std::max<size_t>(64, conns_.size()));
  while (!finished()) {
    auto now = Clock::now();
    if (now >= deadline_) {
      timed_out_ = true;
      break;
    }
    if (g_stop) {
      interrupted_ = true;
      break;
    }
    fire_timers(now);
    for (auto& c : conns_) {
      if (c.fd < 0 && now >= c.reconnect_at && work_remaining()) start_connect(c);
      else if (c.connected && c.inflight.empty()) fill(c);
    }
    progress(now, false);

    int timeout = 100;
    if (!timers_.empty())
      timeout = std::min<long>(timeout, std::max<long>(0, (long)std::ceil(ms_between(now, timers_.top().at))));
    timeout = std::min<long>(timeout, std::max<long>(1, (long)std::ceil(ms_between(now, deadline_))));
    int n = epoll_wait(ep_, evs.data(), (int)evs.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("epoll_wait");
      break;
    }
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[evs[i].data.u32];
      if (c.fd < 0) continue;
      uint32_t e = evs[i].events;
      if (c.connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (e & (EPOLLERR | EPOLLHUP))) {
          last_error_ = std::string("connect: ") + std::strerror(err ? err : ECONNREFUSED);
          drop(c, "connect failed", true);
          continue;
        }
        on_connected(c);
        continue;
      }
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
      if (c.fd >= 0 && (e & EPOLLOUT)) flush(c);
    }
  }
  progress(Clock::now(), true);
  for (auto& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
  ::close(ep_);
  return report();
}

int LoadGen::report() {
  const size_t N = tasks_.size();
  std::vector<double> submit_lat, e2e, dispatch, queue_wait, run_time;
  double first_created = NAN, last_completed = NAN;
  size_t completed = 0;
  for (auto& t : tasks_) {
    if (t.accepted) submit_lat.push_back(t.submit_latency_ms);
    if (t.status == "COMPLETED") {
      ++completed;
      e2e.push_back(t.completed - t.created);
      dispatch.push_back(t.started - t.scheduled);
      queue_wait.push_back(t.started - t.created);
      run_time.push_back(t.completed - t.started);
      if (!std::isnan(t.created) && !(t.created >= first_created)) first_created = t.created;
      if (!std::isnan(t.completed) && !(t.completed <= last_completed)) last_completed = t.completed;
    }
  }
  Summary s_submit = summarize(submit_lat), s_e2e = summarize(e2e), s_disp = summarize(dispatch),
          s_queue = summarize(queue_wait), s_run = summarize(run_time);

  double submit_phase_s = accepted_count_ && have_first_send_
                              ? ms_between(first_send_, last_submit_answer_) / 1000.0
                              : NAN;
  double submit_rate = submit_phase_s > 0 ? (double)accepted_count_ / submit_phase_s : NAN;
  double server_span_s = (last_completed - first_created) / 1000.0;
  double e2e_rate_server = server_span_s > 0 ? (double)completed / server_span_s : NAN;
  double wall_s = (terminal_count_ && have_first_send_)
                      ? ms_between(first_send_, last_terminal_) / 1000.0
                      : NAN;
  double e2e_rate_wall = wall_s > 0 ? (double)completed / wall_s : NAN;

  size_t non2xx = 0;
  json j_non2xx_submit = json::object(), j_non2xx_poll = json::object();
  for (auto& kv : non2xx_submit_) {
    non2xx += kv.second;
    j_non2xx_submit[std::to_string(kv.first)] = kv.second;
  }
  for (auto& kv : non2xx_poll_) {
    non2xx += kv.second;
    j_non2xx_poll[std::to_string(kv.first)] = kv.second;
  }
  size_t failed_tasks = 0;
  for (auto& kv : terminal_status_)
    if (kv.first != "COMPLETED") failed_tasks += kv.second;  // FAILED, CANCELLED (not lost)

  long hwm_kb = -1, rss_kb = -1;
  double server_cpu_s = NAN;
  if (opt_.pid > 0) {
    hwm_kb = proc_status_kb(opt_.pid, "VmHWM");
    rss_kb = proc_status_kb(opt_.pid, "VmRSS");
    double c1 = proc_cpu_s(opt_.pid);
    if (cpu_start_ >= 0 && c1 >= 0) server_cpu_s = c1 - cpu_start_;
  }
  const bool ok = completed == N && !timed_out_ && !interrupted_;

  auto f = [](double x, int prec = 1) {
    if (std::isnan(x)) return std::string("n/a");
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, x);
    return std::string(b);
  };
  auto row = [](const std::string& k, const std::string& v) {
    std::printf("  %-34s %s\n", k.c_str(), v.c_str());
  };
  auto pp = [&](const Summary& s) {
    return "p50 " + f(s.p50) + "  p99 " + f(s.p99) + "  max " + f(s.max) + "  (n=" +
           std::to_string(s.n) + ")";
  };
  std::string type_desc = opt_.type + (opt_.type == "sleep" ? " (ms=" + std::to_string(opt_.sleep_ms) + ")" : "");
  std::printf("\ntasker loadgen results (%s)\n", opt_.url.c_str());
  row("task type", type_desc);
  row("tasks / connections / pipeline",
      std::to_string(N) + " / " + std::to_string(conns_.size()) + " / " + std::to_string(opt_.pipeline));
  row("accepted (2xx) / completed", std::to_string(accepted_count_) + " / " + std::to_string(completed));
  row("submit phase (s)", f(submit_phase_s, 3));
  row("submit rate (tasks/s)", f(submit_rate));
  row("end-to-end rate, server (tasks/s)", f(e2e_rate_server) + "  over " + f(server_span_s, 3) +
                                               " s first created_at -> last completed_at");
  row("end-to-end rate, wall (tasks/s)",
      f(e2e_rate_wall) + "  over " + f(wall_s, 3) + " s first submit -> last terminal seen");
  row("submit latency (ms)", pp(s_submit));
  row("submit->completed (ms)", pp(s_e2e));
  row("dispatch latency (ms)", pp(s_disp));
  row("queue wait created->started (ms)", pp(s_queue));
  row("run time started->completed (ms)", pp(s_run));
  auto count_of = [&](const char* st) {
    auto it = terminal_status_.find(st);
    return std::to_string(it == terminal_status_.end() ? 0 : it->second);
  };
  row("FAILED / CANCELLED / lost tasks",
      count_of("FAILED") + " / " + count_of("CANCELLED") + " / " + std::to_string(lost_count_));
  row("rejected submits (non-retryable)", std::to_string(rejected_count_));
  std::string nx = std::to_string(non2xx);
  if (non2xx) nx += "  submit " + j_non2xx_submit.dump() + "  poll " + j_non2xx_poll.dump();
  row("non-2xx answers", nx);
  row("submit retries (429/503) / resent", std::to_string(submit_retries_) + " / " + std::to_string(resubmits_));
  row("connection errors / connects", std::to_string(conn_errors_) + " / " + std::to_string(connects_));
  row("polls (GET ?wait_ms)", std::to_string(polls_));
  if (opt_.pid > 0) {
    row("tasker peak RSS VmHWM (MiB)", hwm_kb >= 0 ? f(hwm_kb / 1024.0) : "n/a");
    row("tasker RSS at end (MiB)", rss_kb >= 0 ? f(rss_kb / 1024.0) : "n/a");
    row("tasker CPU during run (s)", f(server_cpu_s, 2));
  }
  if (interrupted_) row("INTERRUPTED", "by a signal; figures are partial");
  if (timed_out_) row("TIMED OUT", "after " + f(opt_.wait_timeout_s, 0) + " s (--wait-timeout-s)");
  if (!ok && !last_error_.empty()) row("last error", last_error_);
  row("result", ok ? "OK" : "NOT ALL TASKS COMPLETED");
  std::printf("\n");

  json out = {
      {"bench", "tasker_loadgen"},
      {"ok", ok},
      {"url", opt_.url},
      {"type", opt_.type},
      {"sleep_ms", opt_.type == "sleep" ? json(opt_.sleep_ms) : json(nullptr)},
      {"tasks", N},
      {"connections", conns_.size()},
      {"pipeline", opt_.pipeline},
      {"accepted", accepted_count_},
      {"completed", completed},
      {"failed_tasks", failed_tasks},
      {"terminal_status", terminal_status_},
      {"rejected_submits", rejected_count_},
      {"lost", lost_count_},
      {"timed_out", timed_out_},
      {"interrupted", interrupted_},
      {"submit_phase_s", num(submit_phase_s)},
      {"submit_rate", num(submit_rate, 1)},
      {"server_span_s", num(server_span_s)},
      {"e2e_rate_server", num(e2e_rate_server, 1)},
      {"wall_s", num(wall_s)},
      {"e2e_rate_wall", num(e2e_rate_wall, 1)},
      {"submit_latency_ms", summary_json(s_submit)},
      {"submit_to_completed_ms", summary_json(s_e2e)},
      {"dispatch_latency_ms", summary_json(s_disp)},
      {"queue_wait_ms", summary_json(s_queue)},
      {"run_time_ms", summary_json(s_run)},
      {"non2xx", non2xx},
      {"non2xx_submit", j_non2xx_submit},
      {"non2xx_poll", j_non2xx_poll},
      {"submit_retries", submit_retries_},
      {"resubmits", resubmits_},
      {"conn_errors", conn_errors_},
      {"connects", connects_},
      {"polls", polls_},
      {"parse_errors", parse_errors_},
      {"peak_rss_kb", hwm_kb >= 0 ? json(hwm_kb) : json(nullptr)},
      {"rss_end_kb", rss_kb >= 0 ? json(rss_kb) : json(nullptr)},
      {"server_cpu_s", num(server_cpu_s)},
      {"last_error", last_error_.empty() || ok ? json(nullptr) : json(last_error_)},
  };
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  LoadGen lg(std::move(o));
  return lg.run();
}
