// Tests of the HTTP/1.1 connection engine: bytes and time in, requests and
// transport actions out, without sockets or actors.
#define CAF_SUITE gateway.connection_engine

#include "gateway/connection_engine.hpp"

#include <caf/test/unit_test.hpp>

#include <optional>

using namespace tasker;
using namespace std::chrono_literals;

namespace {

using time_point = connection_engine::time_point;

struct recorded {
  io_action::kind_t kind;
  conn_id conn;
  std::string bytes;
};

struct fixture {
  std::optional<connection_engine> engine;
  std::vector<recorded> actions;
  std::vector<std::pair<ticket, http_request>> requests;
  std::vector<std::pair<std::string, int>> answered;
  time_point t0 = time_point{} + 1000s;
  /// When set, requests are answered at once with this status.
  std::optional<int> answer_now;
  bool throw_in_handler = false;
  /// What start_stream said for the last GET /v1/events.
  bool streamed = false;

  fixture() {
    make({});
  }

  void make(connection_limits limits, head_check check = {}) {
    engine.emplace(
      limits, std::move(check),
      connection_engine::hooks{
        [this](const ticket& t, http_request& req) {
          if (throw_in_handler)
            throw std::runtime_error("boom");
          requests.emplace_back(t, req);
          // (As the gateway does: a stream starts while its request is
          // handled.)
          if (req.path == "/v1/events")
            streamed = engine->start_stream(t, "HEAD\n", t0);
          if (answer_now)
            engine->complete(t, json_response(*answer_now, "{}"), t0);
        },
        [this](const std::string& label, int status) {
          answered.emplace_back(label, status);
        },
        [this](const io_action& a) {
          actions.push_back({a.kind, a.conn, std::string{a.bytes}});
        }});
  }

  void send(conn_id conn, const std::string& bytes, time_point at) {
    engine->received(conn, bytes.data(), bytes.size(), at);
  }

  void send(conn_id conn, const std::string& bytes) {
    send(conn, bytes, t0);
  }

  /// Everything written on `conn` so far.
  std::string written(conn_id conn) const {
    std::string out;
    for (auto& a : actions)
      if (a.conn == conn && a.kind == io_action::write)
        out += a.bytes;
    return out;
  }

  size_t count(io_action::kind_t kind, conn_id conn) const {
    size_t n = 0;
    for (auto& a : actions)
      n += a.kind == kind && a.conn == conn ? 1 : 0;
    return n;
  }

  void reply(size_t i, int status, std::string body) {
    engine->complete(requests.at(i).first,
                     json_response(status, std::move(body)), t0);
  }
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: a\r\n" + extra + "\r\n";
}

size_t occurrences(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (auto i = hay.find(needle); i != std::string::npos;
       i = hay.find(needle, i + 1))
    ++n;
  return n;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(connection_engine_tests, fixture)

CAF_TEST(pipelined responses leave in request order) {
  engine->open(1, t0);
  send(1, get("/a") + get("/b") + get("/c"));
  CAF_REQUIRE_EQUAL(requests.size(), 3u);
  CAF_CHECK_EQUAL(requests[0].second.path, "/a");
  CAF_CHECK_EQUAL(requests[2].second.path, "/c");
  // The last two are answered first: nothing may leave before the first.
  reply(2, 200, "\"c\"");
  reply(1, 200, "\"b\"");
  CAF_CHECK_EQUAL(written(1), "");
  reply(0, 200, "\"a\"");
  auto out = written(1);
  auto a = out.find("\"a\""), b = out.find("\"b\""), c = out.find("\"c\"");
  CAF_REQUIRE(c != std::string::npos);
  CAF_CHECK(a < b && b < c);
  CAF_CHECK_EQUAL(occurrences(out, "HTTP/1.1 200 OK\r\n"), 3u);
  CAF_CHECK_EQUAL(occurrences(out, "Connection: keep-alive"), 3u);
  CAF_CHECK_EQUAL(count(io_action::close, 1), 0u);
  CAF_CHECK_EQUAL(engine->counters().requests, 3u);
}

CAF_TEST(a request in pieces is handled once it is whole) {
  engine->open(1, t0);
  std::string raw = "POST /v1/tasks HTTP/1.1\r\nHost: a\r\nContent-Length: 4"
                    "\r\n\r\nabcd";
  for (size_t i = 0; i < raw.size(); i += 5) {
    CAF_CHECK_EQUAL(requests.size(), 0u);
    send(1, raw.substr(i, 5));
  }
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  CAF_CHECK_EQUAL(requests[0].second.body, "abcd");
}

CAF_TEST(past max_pipeline in flight reading stops until an answer leaves) {
  connection_limits limits;
  limits.max_pipeline = 2;
  make(limits);
  engine->open(1, t0);
  send(1, get("/a") + get("/b") + get("/c"));
  CAF_CHECK_EQUAL(requests.size(), 2u);
  CAF_CHECK_EQUAL(count(io_action::stop_reading, 1), 1u);
  auto loads = engine->loads();
  CAF_REQUIRE_EQUAL(loads.size(), 1u);
  CAF_CHECK_EQUAL(loads[0].first, 2u);
  reply(0, 200, "{}");
  CAF_CHECK_EQUAL(count(io_action::resume_reading, 1), 1u);
  CAF_REQUIRE_EQUAL(requests.size(), 3u);
  CAF_CHECK_EQUAL(requests[2].second.path, "/c");
}

CAF_TEST(connection close is answered and the connection closed once sent) {
  engine->open(1, t0);
  send(1, get("/a", "Connection: close\r\n") + get("/ignored"));
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  reply(0, 200, "{}");
  CAF_CHECK_EQUAL(occurrences(written(1), "Connection: close"), 1u);
  // Closed only once the transport says the bytes have left.
  CAF_CHECK_EQUAL(count(io_action::report_writes, 1), 1u);
  CAF_CHECK_EQUAL(count(io_action::close, 1), 0u);
  engine->transferred(1, 0, t0);
  CAF_CHECK_EQUAL(count(io_action::close, 1), 1u);
  CAF_CHECK_EQUAL(engine->counters().connections, 0u);
  CAF_CHECK_EQUAL(requests.size(), 1u);
}

CAF_TEST(a malformed request gets 400 and nothing after it is read) {
  engine->open(1, t0);
  send(1, "GET /a HTTP/1.1\nHost: a\n\n" + get("/b"));
  CAF_CHECK_EQUAL(requests.size(), 0u);
  auto out = written(1);
  CAF_CHECK_EQUAL(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
  CAF_CHECK(out.find("CRLF") != std::string::npos);
  CAF_CHECK(out.find("Connection: close") != std::string::npos);
  CAF_REQUIRE_EQUAL(answered.size(), 1u);
  CAF_CHECK_EQUAL(answered[0], std::make_pair(std::string{"invalid"}, 400));
}

CAF_TEST(a head check refuses a request before its body) {
  make({}, [](const http_request& head)
             -> std::optional<std::pair<ec, std::string>> {
    if (head.authorization.empty())
      return std::make_pair(ec::unauthorized, std::string{"token please"});
    return std::nullopt;
  });
  engine->open(1, t0);
  send(1, "POST /v1/tasks HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
  CAF_CHECK_EQUAL(requests.size(), 0u);
  auto out = written(1);
  CAF_CHECK_EQUAL(out.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0u);
  CAF_CHECK(out.find("WWW-Authenticate: Bearer") != std::string::npos);
  CAF_CHECK(out.find("token please") != std::string::npos);
}

CAF_TEST(HEAD gets the headers without the body) {
  answer_now = 200;
  engine->open(1, t0);
  send(1, "HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n");
  auto out = written(1);
  CAF_CHECK(out.find("Content-Length: 2\r\n") != std::string::npos);
  CAF_CHECK_EQUAL(out.substr(out.size() - 4), "\r\n\r\n");
}

CAF_TEST(a request that does not arrive in time gets 408) {
  connection_limits limits;
  limits.header_timeout = 100ms;
  make(limits);
  engine->open(1, t0);
  send(1, "GET /a HTTP/1.1\r\nHo");
  engine->tick(t0 + 100ms);
  CAF_CHECK_EQUAL(written(1), "");
  engine->tick(t0 + 101ms);
  auto out = written(1);
  CAF_CHECK_EQUAL(out.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u);
  CAF_CHECK(out.find("within 100 ms") != std::string::npos);
  CAF_CHECK_EQUAL(engine->counters().timed_out_requests, 1u);
  engine->transferred(1, 0, t0 + 102ms);
  CAF_CHECK_EQUAL(count(io_action::close, 1), 1u);
}

CAF_TEST(an idle connection is cut off and a busy one is not) {
  connection_limits limits;
  limits.idle_timeout = 1s;
  make(limits);
  engine->open(1, t0);
  engine->open(2, t0);
  send(2, get("/slow"));
  engine->tick(t0 + 2s);
  CAF_CHECK_EQUAL(count(io_action::abort, 1), 1u);
  CAF_CHECK_EQUAL(count(io_action::abort, 2), 0u);
  CAF_CHECK_EQUAL(engine->counters().idle_closed, 1u);
  CAF_CHECK_EQUAL(engine->counters().connections, 1u);
}

CAF_TEST(an answer not given by its deadline is 503 and a late one is dropped) {
  engine->open(1, t0);
  send(1, get("/a"));
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  engine->expect_by(requests[0].first, t0 + 5s);
  engine->tick(t0 + 4s);
  CAF_CHECK_EQUAL(written(1), "");
  engine->tick(t0 + 5s);
  auto out = written(1);
  CAF_CHECK_EQUAL(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u);
  CAF_CHECK(out.find("Retry-After: 1") != std::string::npos);
  reply(0, 200, "\"late\"");
  CAF_CHECK_EQUAL(written(1), out);
}

CAF_TEST(an answer for a client that left is counted and not written) {
  engine->open(1, t0);
  send(1, get("/a"));
  engine->closed(1);
  // The transport reuses the id for a new client.
  engine->open(1, t0);
  reply(0, 200, "{}");
  CAF_CHECK_EQUAL(written(1), "");
  CAF_CHECK_EQUAL(answered.size(), 1u);
}

CAF_TEST(connections past max_connections are closed at once) {
  connection_limits limits;
  limits.max_connections = 2;
  make(limits);
  CAF_CHECK(engine->open(1, t0));
  CAF_CHECK(engine->open(2, t0));
  CAF_CHECK(!engine->open(3, t0));
  CAF_CHECK_EQUAL(count(io_action::close, 3), 1u);
  CAF_CHECK_EQUAL(engine->counters().refused_connections, 1u);
  engine->closed(1);
  CAF_CHECK(engine->open(4, t0));
}

CAF_TEST(a client that does not read stops being read until it does) {
  connection_limits limits;
  limits.max_unsent_bytes = 1000;
  make(limits);
  engine->open(1, t0);
  std::string big(3000, 'x');
  send(1, get("/a") + get("/b"));
  CAF_REQUIRE_EQUAL(requests.size(), 2u);
  reply(0, 200, "\"" + big + "\"");
  // More than max_unsent_bytes is unsent: reading stops, writes are
  // reported.
  CAF_CHECK_EQUAL(count(io_action::stop_reading, 1), 1u);
  CAF_CHECK_EQUAL(count(io_action::report_writes, 1), 1u);
  send(1, get("/c"));
  CAF_CHECK_EQUAL(requests.size(), 2u);
  // The client reads it: below half the bound, reading resumes and what
  // waited is parsed.
  engine->transferred(1, 0, t0);
  CAF_CHECK_EQUAL(count(io_action::resume_reading, 1), 1u);
  CAF_CHECK_EQUAL(count(io_action::quiet_writes, 1), 1u);
  CAF_REQUIRE_EQUAL(requests.size(), 3u);
  CAF_CHECK_EQUAL(requests[2].second.path, "/c");
}

CAF_TEST(a client far past the unsent bound is cut off) {
  connection_limits limits;
  limits.max_unsent_bytes = 100;
  make(limits);
  engine->open(1, t0);
  send(1, get("/a"));
  reply(0, 200, "\"" + std::string(2000, 'x') + "\"");
  CAF_CHECK_EQUAL(count(io_action::abort, 1), 1u);
  CAF_CHECK_EQUAL(engine->counters().unread_closed, 1u);
  CAF_CHECK_EQUAL(engine->counters().held_response_bytes, 0u);
}

CAF_TEST(past the request budget the connection holding most gets 503) {
  connection_limits limits;
  limits.max_request_buffer_bytes = 1000;
  make(limits);
  engine->open(1, t0);
  engine->open(2, t0);
  auto head = "POST /v1/tasks HTTP/1.1\r\nHost: a\r\nContent-Length: 900"
              "\r\n\r\n";
  send(1, head + std::string(300, 'a'));
  send(2, head + std::string(600, 'b'));
  send(1, std::string(200, 'a'));
  CAF_CHECK_EQUAL(written(1), "");
  auto out = written(2);
  CAF_CHECK_EQUAL(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u);
  CAF_CHECK(out.find("too many large requests") != std::string::npos);
  CAF_CHECK_EQUAL(engine->counters().buffer_refusals, 1u);
  CAF_CHECK(engine->counters().held_request_bytes <= 1000u);
  send(1, std::string(400, 'a'));
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  CAF_CHECK_EQUAL(requests[0].second.body.size(), 900u);
}

CAF_TEST(Expect 100-continue is answered before the body comes) {
  engine->open(1, t0);
  send(1, "POST /v1/tasks HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
          "Expect: 100-continue\r\n\r\n");
  CAF_CHECK_EQUAL(written(1), "HTTP/1.1 100 Continue\r\n\r\n");
  send(1, "{}");
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  CAF_CHECK_EQUAL(requests[0].second.body, "{}");
}

CAF_TEST(a handler that throws gets 500 and the connection goes on) {
  engine->open(1, t0);
  throw_in_handler = true;
  send(1, get("/a"));
  CAF_CHECK_EQUAL(written(1).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0),
                  0u);
  throw_in_handler = false;
  send(1, get("/b"));
  CAF_CHECK_EQUAL(requests.size(), 1u);
}

CAF_TEST(a stream follows the responses before it and ends with the connection) {
  engine->open(1, t0);
  send(1, get("/a") + get("/v1/events") + get("/c"));
  // The stream reads no more requests: /c is never handled.
  CAF_REQUIRE_EQUAL(requests.size(), 2u);
  auto stream = requests[1].first;
  CAF_REQUIRE(streamed);
  auto unsent = engine->stream_write(stream, "e1\n", t0);
  CAF_REQUIRE(unsent.has_value());
  CAF_CHECK_EQUAL(*unsent, 8u);
  // Both wait behind /a.
  CAF_CHECK_EQUAL(written(1), "");
  reply(0, 200, "\"a\"");
  auto out = written(1);
  CAF_CHECK(out.find("\"a\"HEAD\ne1\n") != std::string::npos);
  CAF_CHECK_EQUAL(requests.size(), 2u);
  // Written straight on now; what the client has not taken is counted (the
  // answer to /a too).
  CAF_CHECK_EQUAL(*engine->stream_write(stream, "e2\n", t0), out.size() + 3);
  engine->transferred(1, 0, t0);
  CAF_CHECK_EQUAL(*engine->stream_write(stream, "", t0), 0u);
  // A stream is not idle: no idle timeout closes it.
  engine->tick(t0 + 3600s);
  CAF_REQUIRE(engine->stream_write(stream, "e3\n", t0 + 3600s).has_value());
  engine->transferred(1, 0, t0 + 3600s);
  engine->stream_close(stream, t0 + 3600s);
  CAF_CHECK_EQUAL(count(io_action::close, 1), 1u);
  CAF_CHECK(!engine->stream_write(stream, "late", t0 + 3600s).has_value());
  CAF_CHECK(written(1).find("e2\ne3\n") != std::string::npos);
}

CAF_TEST(past the budget of all a stream is closed before a plain response) {
  connection_limits limits;
  limits.max_unsent_total = 100000;
  make(limits);
  engine->open(1, t0);
  send(1, get("/v1/events"));
  auto stream = requests[0].first;
  CAF_REQUIRE(streamed);
  CAF_REQUIRE(engine->stream_write(stream, std::string(50000, 'e'), t0));
  // A larger plain response, on its way: the stream goes, not it.
  engine->open(2, t0);
  send(2, get("/a"));
  reply(1, 200, "\"" + std::string(70000, 'x') + "\"");
  CAF_CHECK_EQUAL(count(io_action::abort, 1), 1u);
  CAF_CHECK_EQUAL(count(io_action::abort, 2), 0u);
  CAF_CHECK(!engine->stream_write(stream, "x", t0).has_value());
}

CAF_TEST(a stream whose client left is gone) {
  engine->open(1, t0);
  send(1, get("/v1/events"));
  auto stream = requests[0].first;
  CAF_REQUIRE(streamed);
  // Started once: a second start finds the slot answered.
  CAF_CHECK(!engine->start_stream(stream, "HEAD\n", t0));
  engine->closed(1);
  CAF_CHECK(!engine->stream_write(stream, "x", t0).has_value());
  // A ticket of a request that was answered is no stream.
  engine->open(2, t0);
  send(2, get("/a"));
  reply(1, 200, "{}");
  CAF_CHECK(!engine->stream_write(requests[1].first, "x", t0).has_value());
}

CAF_TEST_FIXTURE_SCOPE_END()
