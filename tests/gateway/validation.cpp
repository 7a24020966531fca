// Tests of request validation: submissions, batches, list queries, and the
// plan of each request (authorization, refusals, the checked arguments).
#define CAF_SUITE gateway.validation

#include "gateway/validation.hpp"

#include "common/format.hpp"
#include "gateway/encoding.hpp"
#include "gateway/plan.hpp"
#include "tests/fixture.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

using namespace tasker;
using namespace tasker::testing;
using json = nlohmann::json;

namespace {

constexpr millis now = 1'763'805'600'000; // 2025-11-22T10:00:00.000Z

struct fixture {
  registry reg = builtin_registry(task_limits{});
  submit_limits limits;
  task_record rec;

  /// Parses one submission; returns the error message or "" on success.
  std::string submit(const std::string& body, const std::string& header = {},
                     const std::string& prefix = {}) {
    auto err = parse_submission(json::parse(body), reg, limits, header, prefix,
                                now, rec);
    if (!err)
      return "";
    CAF_CHECK_EQUAL(err->code, ec::invalid_params);
    return err->message;
  }

  /// Parses a list query from a target; returns the error or "".
  std::string list(const std::string& target, list_query& q) {
    http_request req;
    req.target = target;
    CAF_REQUIRE(split_target(target, req.path, req.query));
    auto err = parse_list_query(req, q);
    if (!err)
      return "";
    CAF_CHECK_EQUAL(err->code, ec::bad_request);
    return err->message;
  }

  /// Plans a request with a JSON body, on a server with `token` (or none).
  request_plan plan(const std::string& method, const std::string& target,
                    const std::string& body = {},
                    const std::string& authorization = {},
                    const std::string& token = {}) {
    http_request req;
    req.method = method;
    req.target = target;
    req.target_error = check_target(target, req.path, req.query);
    req.content_type = "application/json";
    req.authorization = authorization;
    req.body = body;
    return plan_request(req, reg, token, limits, now);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(api_tests, fixture)

CAF_TEST(a valid submission builds a pending record) {
  CAF_REQUIRE_EQUAL(submit(R"({"type": "sum", "params": {"a": 1, "b": 2},
                               "priority": 7, "max_attempts": 5,
                               "timeout_ms": 1500, "delay_ms": 2000})"),
                    "");
  CAF_CHECK(is_uuid(rec.id));
  CAF_CHECK_EQUAL(rec.id, lower(rec.id));
  CAF_CHECK_EQUAL(rec.type, "sum");
  CAF_CHECK_EQUAL(rec.params, R"({"a":1,"b":2})");
  CAF_CHECK_EQUAL(rec.status, task_status::pending);
  CAF_CHECK_EQUAL(rec.priority, 7);
  CAF_CHECK_EQUAL(rec.max_attempts, 5);
  CAF_CHECK_EQUAL(rec.timeout_ms, 1500);
  CAF_CHECK_EQUAL(rec.attempts, 0);
  CAF_CHECK_EQUAL(rec.created_at, now);
  CAF_CHECK_EQUAL(rec.updated_at, now);
  CAF_CHECK_EQUAL(rec.scheduled_at, now + 2000);
  CAF_CHECK_EQUAL(rec.idempotency_key, "");
  CAF_CHECK_EQUAL(rec.request_hash, "");
  auto first_id = rec.id;
  CAF_REQUIRE_EQUAL(submit(R"({"type": "sum", "params": {"a": 1, "b": 2}})"),
                    "");
  CAF_CHECK_NOT_EQUAL(rec.id, first_id);
}

CAF_TEST(a submission without options takes the configured defaults) {
  limits.default_max_attempts = 7;
  limits.default_timeout_ms = 1234;
  CAF_REQUIRE_EQUAL(submit(R"({"type": "text_stats",
                               "params": {"text": "a b"}})"),
                    "");
  CAF_CHECK_EQUAL(rec.priority, 0);
  CAF_CHECK_EQUAL(rec.max_attempts, 7);
  CAF_CHECK_EQUAL(rec.timeout_ms, 1234);
  CAF_CHECK_EQUAL(rec.scheduled_at, now);
  // The params are kept as sent: defaults are not stored.
  CAF_CHECK_EQUAL(rec.params, R"({"text":"a b"})");
}

CAF_TEST(each submission error names its field) {
  CAF_CHECK_EQUAL(submit("[1]"),
                  "the body must be a JSON object with type and params");
  CAF_CHECK_EQUAL(submit(R"({"params": {}})"), "type is required");
  CAF_CHECK_EQUAL(submit(R"({"type": 5, "params": {}})"),
                  "type must be a string");
  CAF_CHECK_EQUAL(submit(R"({"type": "sum"})"), "params is required");
  CAF_CHECK_EQUAL(submit(R"({"type": "sum", "params": {"a": 1}, "x": 1})"),
                  "x is not a known field of a submission");
  CAF_CHECK_EQUAL(submit(R"({"type": "nope", "params": {}})"),
                  "type: type 'nope' is not a registered task type (known: "
                  "fail, sleep, sum, text_stats)");
  CAF_CHECK_EQUAL(submit(R"({"type": "sum", "params": {"a": "1", "b": 2}})"),
                  "params.a must be a number");
  CAF_CHECK_EQUAL(submit(R"({"type": "sum", "params": 3})"),
                  "params must be a JSON object");
  auto base = std::string{R"({"type": "sum", "params": {"a": 1, "b": 2}, )"};
  // Each bad value of an option, checked on its own.
  struct bad_option {
    std::string field;
    std::vector<std::string> values;
    std::string message;
  };
  std::vector<bad_option> bad_options{
    {"priority",
     {"10", "-1", R"("1")", "1.5"},
     "priority must be an integer between 0 and 9"},
    {"max_attempts",
     {"0", "101"},
     "max_attempts must be an integer between 1 and 100"},
    {"timeout_ms",
     {"0", "18446744073709551615"},
     "timeout_ms must be an integer between 1 and 86400000"},
    {"delay_ms",
     {"-5"},
     "delay_ms must be an integer between 0 and 31622400000"},
    {"idempotency_key",
     {R"("")", "42", '"' + std::string(256, 'k') + '"'},
     "idempotency_key must be a string of 1 to 255 characters"},
  };
  for (auto& x : bad_options)
    for (auto& value : x.values) {
      CAF_MESSAGE(x.field << ": " << value);
      CAF_CHECK_EQUAL(submit(base + '"' + x.field + "\": " + value + "}"),
                      x.message);
    }
  // An integral float is accepted as an integer.
  CAF_CHECK_EQUAL(submit(base + R"("priority": 3.0})"), "");
  CAF_CHECK_EQUAL(rec.priority, 3);
  // Inside a batch the message says which entry.
  CAF_CHECK_EQUAL(submit(base + R"("priority": 10})", {}, "tasks[3]."),
                  "tasks[3].priority must be an integer between 0 and 9");
  CAF_CHECK_EQUAL(submit("7", {}, "tasks[3]."),
                  "tasks[3] must be a JSON object with type and params");
}

CAF_TEST(idempotency key from header or field) {
  auto body = std::string{R"({"type": "sum", "params": {"a": 1, "b": 2}})"};
  CAF_REQUIRE_EQUAL(submit(body, "order-42"), "");
  CAF_CHECK_EQUAL(rec.idempotency_key, "order-42");
  CAF_CHECK_EQUAL(rec.request_hash.size(), 16u);
  auto hash = rec.request_hash;
  auto with_field = std::string{R"({"type": "sum", "params": {"a": 1, "b": 2},
                                   "idempotency_key": "order-42"})"};
  CAF_REQUIRE_EQUAL(submit(with_field), "");
  CAF_CHECK_EQUAL(rec.idempotency_key, "order-42");
  // Same body, same hash, whether the key came as header or field.
  CAF_CHECK_EQUAL(rec.request_hash, hash);
  // Header and field agreeing is fine; disagreeing is not.
  CAF_CHECK_EQUAL(submit(with_field, "order-42"), "");
  CAF_CHECK_EQUAL(submit(with_field, "order-43"),
                  "idempotency_key differs from the Idempotency-Key header");
  CAF_CHECK_EQUAL(submit(body, std::string(256, 'k')),
                  "the Idempotency-Key header must have at most 255 "
                  "characters");
}

CAF_TEST(the request hash tells bodies apart) {
  auto hash_of = [&](const std::string& body) {
    CAF_REQUIRE_EQUAL(submit(body, "k"), "");
    return rec.request_hash;
  };
  auto h = hash_of(R"({"type": "sum", "params": {"a": 1, "b": 2}})");
  // Key order and whitespace do not matter.
  CAF_CHECK_EQUAL(hash_of(R"({"params": {"b": 2, "a": 1}, "type": "sum"})"), h);
  // Explicit defaults equal omitted ones.
  CAF_CHECK_EQUAL(hash_of(R"({"type": "sum", "params": {"a": 1, "b": 2},
                              "priority": 0, "max_attempts": 3})"),
                  h);
  CAF_CHECK_NOT_EQUAL(hash_of(R"({"type": "sum", "params": {"a": 1, "b": 3}})"),
                      h);
  CAF_CHECK_NOT_EQUAL(hash_of(R"({"type": "sum", "params": {"a": 1, "b": 2},
                                  "priority": 1})"),
                      h);
  CAF_CHECK_NOT_EQUAL(hash_of(R"({"type": "sum", "params": {"a": 1, "b": 2},
                                  "delay_ms": 5})"),
                      h);
}

CAF_TEST(run_at schedules the first attempt) {
  auto base = std::string{R"({"type": "sum", "params": {"a": 1, "b": 2}, )"};
  CAF_REQUIRE_EQUAL(submit(base + R"("run_at": "2025-11-22T10:00:05.250Z"})"),
                    "");
  CAF_CHECK_EQUAL(rec.scheduled_at, now + 5250);
  CAF_REQUIRE_EQUAL(submit(base
                           + R"("run_at": "2025-11-22T12:00:05.250+02:00"})"),
                    "");
  CAF_CHECK_EQUAL(rec.scheduled_at, now + 5250);
  // A time in the past means now.
  CAF_REQUIRE_EQUAL(submit(base + R"("run_at": "2020-01-01T00:00:00Z"})"), "");
  CAF_CHECK_EQUAL(rec.scheduled_at, now);
  CAF_CHECK_EQUAL(submit(base + R"("run_at": "tomorrow"})"),
                  "run_at must be an RFC 3339 time such as "
                  "2026-11-22T10:00:00.000Z");
  CAF_CHECK_EQUAL(submit(base + R"("run_at": 1763805600000})"),
                  "run_at must be an RFC 3339 time such as "
                  "2026-11-22T10:00:00.000Z");
  CAF_CHECK_EQUAL(submit(base + R"("run_at": "2027-11-23T10:00:00Z"})"),
                  "run_at must be within a year from now");
  CAF_CHECK_EQUAL(submit(base + R"("run_at": "2025-11-22T10:00:05Z",
                                   "delay_ms": 10})"),
                  "run_at and delay_ms exclude each other");
  // A null delay_ms does not count.
  CAF_CHECK_EQUAL(submit(base + R"("run_at": "2025-11-22T10:00:05Z",
                                   "delay_ms": null})"),
                  "");
}

CAF_TEST(parse_batch validates all entries before accepting any) {
  std::vector<task_record> out;
  auto batch = json::parse(R"({"tasks": [
    {"type": "sum", "params": {"a": 1, "b": 2}},
    {"type": "text_stats", "params": {"text": "x"}, "idempotency_key": "k1"}
  ]})");
  CAF_REQUIRE(!parse_batch(batch, reg, limits, now, out));
  CAF_REQUIRE_EQUAL(out.size(), 2u);
  CAF_CHECK_EQUAL(out[0].type, "sum");
  CAF_CHECK_EQUAL(out[1].type, "text_stats");
  CAF_CHECK_EQUAL(out[1].idempotency_key, "k1");
  CAF_CHECK_NOT_EQUAL(out[0].id, out[1].id);
  auto expect_error = [&](const std::string& body, const std::string& msg) {
    CAF_MESSAGE("batch " << body);
    auto err = parse_batch(json::parse(body), reg, limits, now, out);
    CAF_REQUIRE(err);
    CAF_CHECK_EQUAL(err->code, ec::invalid_params);
    CAF_CHECK_EQUAL(err->message, msg);
  };
  // One bad entry rejects the whole batch and is named by its index.
  expect_error(R"({"tasks": [{"type": "sum", "params": {"a": 1, "b": 2}},
                             {"type": "sum", "params": {"a": 1}}]})",
               "tasks[1].params.b is required");
  expect_error(R"({"tasks": [{"type": "sum", "params": {"a": 1, "b": 2},
                              "idempotency_key": "k"},
                             {"type": "sum", "params": {"a": 1, "b": 2},
                              "idempotency_key": "k"}]})",
               "tasks[1].idempotency_key repeats an earlier entry");
  expect_error(R"({"task": []})",
               "the body must be {\"tasks\": [...]}: tasks is required");
  expect_error(R"({"tasks": {}})", "tasks must be an array");
  expect_error(R"({"tasks": []})", "tasks must not be empty");
  expect_error(R"({"tasks": [{"type": "sum", "params": {"a": 1, "b": 2}}],
                   "priority": 1})",
               "priority is not a known field of a batch");
  limits.max_batch = 2;
  expect_error(R"({"tasks": [1, 2, 3]})",
               "tasks has 3 entries; a batch holds at most 2");
}

CAF_TEST(a list filter by params takes a small JSON object) {
  list_query q;
  CAF_REQUIRE_EQUAL(list("/v1/tasks?params=%7B%22a%22%3A%20%5B1%5D%7D", q), "");
  CAF_CHECK_EQUAL(q.params, R"({"a":[1]})");
  for (auto bad : {"%5B1%5D", "%7B", "1", "%22x%22", "%7B%22a%22%3A%22%5Cu0000%22%7D"}) {
    list_query r;
    CAF_MESSAGE(bad);
    CAF_CHECK_NOT_EQUAL(list(std::string{"/v1/tasks?params="} + bad, r), "");
  }
  std::string deep;
  for (int i = 0; i < 9; ++i)
    deep += "%7B%22a%22%3A";
  deep += "1";
  for (int i = 0; i < 9; ++i)
    deep += "%7D";
  list_query r;
  CAF_CHECK_NOT_EQUAL(list("/v1/tasks?params=" + deep, r), "");
  list_query big;
  CAF_CHECK_NOT_EQUAL(list("/v1/tasks?params=%7B%22a%22%3A%22" + std::string(5000, 'x')
                             + "%22%7D",
                           big),
                      "");
}

CAF_TEST(stats and event stream queries) {
  auto parse = [](const std::string& target, http_request& req) {
    req = http_request{};
    CAF_REQUIRE(split_target(target, req.path, req.query));
  };
  http_request req;
  int64_t window = 0, bucket = 0;
  parse("/v1/stats", req);
  CAF_CHECK(!parse_stats_query(req, window, bucket));
  CAF_CHECK_EQUAL(window, 3'600'000);
  CAF_CHECK_EQUAL(bucket, 60'000);
  parse("/v1/stats?window=7d&bucket=6h", req);
  CAF_CHECK(!parse_stats_query(req, window, bucket));
  CAF_CHECK_EQUAL(window, 7 * 86'400'000LL);
  CAF_CHECK_EQUAL(bucket, 6 * 3'600'000LL);
  for (auto bad : {"/v1/stats?window=1y", "/v1/stats?window=32d&bucket=1d",
                   "/v1/stats?bucket=500", "/v1/stats?window=2d&bucket=1m",
                   "/v1/stats?window=-1h", "/v1/stats?x=1"}) {
    CAF_MESSAGE(bad);
    parse(bad, req);
    CAF_CHECK(parse_stats_query(req, window, bucket).has_value());
  }
  parse("/v1/activity", req);
  CAF_CHECK(!parse_activity_query(req, window));
  CAF_CHECK_EQUAL(window, 3'600'000);
  parse("/v1/activity?window=5m", req);
  CAF_CHECK(!parse_activity_query(req, window));
  CAF_CHECK_EQUAL(window, 300'000);
  for (auto bad : {"/v1/activity?window=2h", "/v1/activity?window=9s",
                   "/v1/activity?window=x", "/v1/activity?bucket=1m"}) {
    CAF_MESSAGE(bad);
    parse(bad, req);
    CAF_CHECK(parse_activity_query(req, window).has_value());
  }
  event_filter f;
  std::optional<event_position> from;
  parse("/v1/events?type=sum,fail&status=FAILED&kind=failed,retried", req);
  req.last_event_id = "7-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-3";
  CAF_REQUIRE(!parse_event_query(req, f, from));
  CAF_CHECK_EQUAL(f.types, (std::vector<std::string>{"sum", "fail"}));
  CAF_CHECK_EQUAL(f.statuses, std::vector<std::string>{"FAILED"});
  CAF_CHECK_EQUAL(f.kinds, (std::vector<std::string>{"failed", "retried"}));
  CAF_REQUIRE(from.has_value());
  CAF_CHECK_EQUAL(from->seq, 3);
  task_event_record ev;
  ev.type = "fail";
  ev.status = task_status::failed;
  ev.attempt = 3;
  ev.seq = 6;
  CAF_CHECK(f.matches(ev));
  ev.type = "sum2";
  CAF_CHECK(!f.matches(ev));
  for (auto bad : {"/v1/events?status=DONE", "/v1/events?kind=", "/v1/events?type=a,,b",
                   "/v1/events?kind=started,nope", "/v1/events?last_event_id=1-2"}) {
    CAF_MESSAGE(bad);
    event_filter g;
    std::optional<event_position> h;
    parse(bad, req);
    auto err = parse_event_query(req, g, h);
    // (An empty kind is no filter.)
    if (std::string{bad} == "/v1/events?kind=")
      CAF_CHECK(!err);
    else
      CAF_CHECK(err.has_value());
  }
}

CAF_TEST(parse_list_query reads filters limit and cursor) {
  list_query q;
  CAF_REQUIRE_EQUAL(list("/v1/tasks", q), "");
  CAF_CHECK_EQUAL(q.limit, 100);
  CAF_CHECK_EQUAL(q.status, "");
  CAF_CHECK_EQUAL(q.type, "");
  CAF_CHECK_EQUAL(q.after_created_at, 0);
  CAF_CHECK_EQUAL(q.after_id, "");
  auto cursor = encode_cursor(now, uuid);
  list_query q2;
  CAF_REQUIRE_EQUAL(list("/v1/tasks?status=FAILED&type=sum&limit=1000&cursor="
                           + cursor,
                         q2),
                    "");
  CAF_CHECK_EQUAL(q2.status, "FAILED");
  CAF_CHECK_EQUAL(q2.type, "sum");
  CAF_CHECK_EQUAL(q2.limit, 1000);
  CAF_CHECK_EQUAL(q2.after_created_at, now);
  CAF_CHECK_EQUAL(q2.after_id, uuid);
  // Empty values mean "not given".
  list_query q3;
  CAF_REQUIRE_EQUAL(list("/v1/tasks?status=&cursor=", q3), "");
  CAF_CHECK_EQUAL(q3.status, "");
  CAF_CHECK_EQUAL(q3.after_created_at, 0);
}

CAF_TEST(parse_list_query refuses bad values) {
  const std::string bad_limit
    = "query parameter limit must be an integer between 1 and 1000";
  for (auto target :
       {"/v1/tasks?limit=0", "/v1/tasks?limit=1001", "/v1/tasks?limit=abc",
        "/v1/tasks?limit=", "/v1/tasks?limit=-1", "/v1/tasks?limit=1e2",
        "/v1/tasks?limit=99999999999999999999999"}) {
    list_query q;
    CAF_MESSAGE(target);
    CAF_CHECK_EQUAL(list(target, q), bad_limit);
  }
  for (auto target : {"/v1/tasks?status=DONE", "/v1/tasks?status=pending"}) {
    list_query q;
    CAF_MESSAGE(target);
    CAF_CHECK_EQUAL(list(target, q),
                    "query parameter status must be one of PENDING, "
                    "PROCESSING, COMPLETED, FAILED, CANCELLED");
  }
  for (auto target : {"/v1/tasks?cursor=garbage", "/v1/tasks?cursor=12_34",
                      "/v1/tasks?cursor=_0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
                      "/v1/tasks?cursor=9999999999999999999_0f1e2d3c-4b5a-"
                      "4978-8695-a4b3c2d1e0f9"}) {
    list_query q;
    CAF_MESSAGE(target);
    CAF_CHECK_EQUAL(list(target, q),
                    "query parameter cursor is malformed: pass next_cursor of "
                    "the previous page");
  }
  list_query q;
  CAF_CHECK_EQUAL(list("/v1/tasks?sort=asc", q),
                  "query parameter sort is not known (status, type, limit, "
                  "cursor, params)");
}

CAF_TEST(plan_request refuses what no actor needs to see) {
  auto p = plan("GET", "/v1/tasks/%zz");
  CAF_CHECK_EQUAL(p.r.label, "other");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 400);
  p = plan("DELETE", "/v1/tasks");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 405);
  CAF_CHECK_EQUAL(p.refusal->headers.at(0).second, "GET, POST");
  p = plan("GET", "/v1/nothing");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 404);
  p = plan("POST", "/v1/tasks", R"({"type": "sum", "params": {"a": 1}})");
  CAF_CHECK_EQUAL(p.r.label, "/v1/tasks");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 422);
  p = plan("POST", "/v1/tasks", "{");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 400);
  p = plan("GET", "/v1/tasks/42");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 400);
  p = plan("GET", "/v1/tasks?limit=0");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 400);
}

CAF_TEST(plan_request needs the token on every route but the probes) {
  // Authorization is decided on the matched route, not on a path prefix.
  for (auto target : {"/v1/tasks", "/openapi.json", "/get-task-output",
                      "/v1/nothing", "/nothing", "/v1/cluster"}) {
    CAF_MESSAGE("GET " << target);
    auto p = plan("GET", target, {}, {}, "s3cret");
    CAF_REQUIRE(p.refusal);
    CAF_CHECK_EQUAL(p.refusal->status, 401);
    CAF_CHECK_EQUAL(p.refusal->headers.at(0).first, "WWW-Authenticate");
  }
  auto p = plan("POST", "/run-task", R"({"task_name": "sum", "a": 1, "b": 2})",
                {}, "s3cret");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 401);
  p = plan("GET", "/v1/tasks", {}, "Bearer wrong", "s3cret");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 401);
  p = plan("GET", "/v1/tasks", {}, "Bearer s3cret", "s3cret");
  CAF_CHECK(!p.refusal);
  for (auto target : {"/health", "/ready", "/metrics", "/"}) {
    p = plan("GET", target, {}, {}, "s3cret");
    CAF_CHECK(!p.refusal);
  }
  p = plan("GET", "/health", {}, {}, "s3cret");
  CAF_CHECK_EQUAL(p.r.kind, route_kind::health);
}

CAF_TEST(a request the token refuses is refused at its head) {
  // Its body is never read: an unauthenticated client cannot make the
  // gateway hold 2 MiB per connection.
  request_reader r{8192, 1 << 20, auth_head_check("s3cret")};
  http_request req;
  ec code = ec::none;
  std::string message;
  std::string head = "POST /v1/tasks HTTP/1.1\r\nHost: a\r\nContent-Length: "
                     "1000000\r\n\r\n";
  r.append(head.data(), head.size());
  CAF_CHECK(r.next(req, code, message) == request_reader::status::error);
  CAF_CHECK_EQUAL(code, ec::unauthorized);
  // With the token, or on an open route, the body is read as usual.
  for (auto ok : {std::string{"POST /v1/tasks HTTP/1.1\r\nAuthorization: bearer "
                              "s3cret\r\nContent-Length: 2\r\n\r\n{}"},
                  std::string{"GET /health HTTP/1.1\r\nContent-Length: 2\r\n"
                              "\r\n{}"}}) {
    request_reader r2{8192, 1 << 20, auth_head_check("s3cret")};
    r2.append(ok.data(), ok.size());
    CAF_CHECK(r2.next(req, code, message) == request_reader::status::request);
  }
  // Without a token configured nothing is checked at the head.
  CAF_CHECK(!auth_head_check(""));
  CAF_CHECK(authorized("POST", "/v1/tasks", "", ""));
  CAF_CHECK(!authorized("POST", "/v1/tasks", "", "s3cret"));
  CAF_CHECK(authorized("HEAD", "/health", "", "s3cret"));
  // The pages of the dashboard and the API reference hold no data.
  CAF_CHECK(authorized("GET", "/", "", "s3cret"));
  CAF_CHECK(authorized("GET", "/assets/index-3f2a.js", "", "s3cret"));
  CAF_CHECK(authorized("GET", "/docs", "", "s3cret"));
  CAF_CHECK(authorized("GET", "/docs/swagger-ui-bundle.js", "", "s3cret"));
  CAF_CHECK(!authorized("GET", "/assets/a/b", "", "s3cret"));
  CAF_CHECK(!authorized("GET", "/v1/activity", "", "s3cret"));
  CAF_CHECK(!authorized("GET", "/openapi.json", "", "s3cret"));
}

CAF_TEST(a target that is not a path is refused before routing) {
  // "Xv1/tasks" used to be routed as /v1/tasks, and without the token.
  for (auto target : {"Xv1/tasks", "*", "http://host/v1/tasks", ""}) {
    CAF_MESSAGE("target " << target);
    auto p = plan("GET", target, {}, {}, "s3cret");
    CAF_REQUIRE(p.refusal);
    CAF_CHECK_EQUAL(p.refusal->status, 400);
    CAF_CHECK_EQUAL(p.r.label, "other");
  }
  auto p = plan("POST", "Xv1/tasks", R"({"type": "sum", "params": {"a": 1, "b": 2}})");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 400);
  CAF_CHECK(p.group.empty());
}

CAF_TEST(the bearer scheme is case-insensitive) {
  CAF_CHECK(bearer_matches("Bearer s3cret", "s3cret"));
  CAF_CHECK(bearer_matches("bearer s3cret", "s3cret"));
  CAF_CHECK(bearer_matches("BEARER  s3cret ", "s3cret"));
  CAF_CHECK(!bearer_matches("Bearer S3CRET", "s3cret"));
  CAF_CHECK(!bearer_matches("Basic s3cret", "s3cret"));
  CAF_CHECK(!bearer_matches("Bearers3cret", "s3cret"));
  CAF_CHECK(!bearer_matches("Bearer ", "s3cret"));
  CAF_CHECK(!bearer_matches("", "s3cret"));
}

CAF_TEST(HEAD is routed as GET) {
  auto p = plan("HEAD", "/health");
  CAF_CHECK(!p.refusal);
  CAF_CHECK_EQUAL(p.r.kind, route_kind::health);
  p = plan("HEAD", "/v1/tasks");
  CAF_CHECK(!p.refusal);
  CAF_CHECK_EQUAL(p.r.kind, route_kind::list_tasks);
  p = plan("HEAD", "/v1/tasks/batch");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 405);
}

CAF_TEST(what the database would refuse is refused with the field) {
  auto p = plan("POST", "/v1/tasks",
                "{\"type\": \"text_stats\", \"params\": {\"text\": \"a\\u0000b\"}}");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 422);
  CAF_CHECK_NOT_EQUAL(p.refusal->body.find("params.text must not contain"),
                      std::string::npos);
  p = plan("POST", "/v1/tasks",
           "{\"type\": \"sum\", \"params\": {\"a\": 1, \"b\": 2, \"x\\u0000\": 1}}");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 422);
  CAF_CHECK_NOT_EQUAL(p.refusal->body.find("params (a key)"), std::string::npos);
  p = plan("POST", "/v1/tasks/batch",
           "{\"tasks\": [{\"type\": \"sum\", \"params\": {\"a\": 1, \"b\": 2}},"
           " {\"type\": \"sum\", \"params\": {\"a\": 1, \"b\": 2}, "
           "\"idempotency_key\": \"k\\u0000\"}]}");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 422);
  CAF_CHECK_NOT_EQUAL(p.refusal->body.find("tasks[1].idempotency_key"),
                      std::string::npos);
  p = plan("POST", "/run-task",
           "{\"task_name\": \"fail\", \"message\": \"x\\u0000\"}");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 422);
  CAF_CHECK_NOT_EQUAL(p.refusal->body.find("params.message"), std::string::npos);
  for (auto key : {std::string{"\xff\xfe"}, std::string{"a\0b", 3},
                   std::string{"\xc0\xaf"}, std::string{"\xed\xa0\x80"}}) {
    CAF_CHECK(submit(R"({"type": "sum", "params": {"a": 1, "b": 2}})",
                           key)
              == "the Idempotency-Key header must be UTF-8 text without a "
                 "NUL character");
  }
  CAF_CHECK_EQUAL(submit(R"({"type": "sum", "params": {"a": 1, "b": 2}})",
                               "\xc3\xa9t\xc3\xa9"),
                  "");
}

CAF_TEST(query values that decode to bad text are bad requests) {
  for (auto target :
       {"/v1/tasks?type=%ff", "/v1/tasks?status=%00", "/v1/tasks?limit=%ff",
        "/v1/tasks/%00", "/v1/tasks?type=%c0%af",
        "/v1/tasks?cursor=9223372036854775807_"
        "00000000-0000-0000-0000-000000000000",
        "/v1/tasks?cursor=253402300800000_00000000-0000-0000-0000-000000000000"}) {
    CAF_MESSAGE("GET " << target);
    auto p = plan("GET", target);
    CAF_REQUIRE(p.refusal);
    CAF_CHECK_EQUAL(p.refusal->status, 400);
  }
  auto p = plan("GET", "/v1/tasks?type=%c3%a9&cursor=253402300799999_"
                       "00000000-0000-0000-0000-000000000000");
  CAF_CHECK(!p.refusal);
}

CAF_TEST(plan_request hands the checked arguments on) {
  auto upper_uuid = uuid;
  for (auto& c : upper_uuid)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto p = plan("POST", "/v1/tasks",
                R"({"type": "sum", "params": {"a": 1, "b": 2}})");
  CAF_REQUIRE(!p.refusal);
  CAF_REQUIRE_EQUAL(p.group.size(), 1u);
  CAF_CHECK_EQUAL(p.group[0].type, "sum");
  p = plan("POST", "/v1/tasks/batch",
           R"({"tasks": [{"type": "sum", "params": {"a": 1, "b": 2}},
                         {"type": "sleep", "params": {"ms": 1}}]})");
  CAF_REQUIRE(!p.refusal);
  CAF_CHECK_EQUAL(p.group.size(), 2u);
  p = plan("POST", "/run-task", R"({"task_name": "sum", "a": 1, "b": 2})");
  CAF_REQUIRE(!p.refusal);
  CAF_CHECK_EQUAL(p.group.size(), 1u);
  p = plan("GET", "/v1/tasks/" + upper_uuid + "?wait_ms=250");
  CAF_REQUIRE(!p.refusal);
  CAF_CHECK_EQUAL(p.task_id, uuid);
  CAF_CHECK_EQUAL(p.wait_ms, 250);
  p = plan("POST", "/v1/tasks/" + upper_uuid + "/retry");
  CAF_REQUIRE(!p.refusal);
  CAF_CHECK_EQUAL(p.r.kind, route_kind::retry);
  CAF_CHECK_EQUAL(p.task_id, uuid);
  p = plan("GET", "/v1/tasks?status=FAILED&limit=5");
  CAF_REQUIRE(!p.refusal);
  CAF_CHECK_EQUAL(p.query.status, "FAILED");
  CAF_CHECK_EQUAL(p.query.limit, 5);
}

CAF_TEST(a body nested deeper than the limit is refused unparsed) {
  auto nested = [](int depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  json out;
  CAF_CHECK(!parse_body(nested(max_body_depth), out));
  auto err = parse_body(nested(max_body_depth + 1), out);
  CAF_REQUIRE(err);
  CAF_CHECK_EQUAL(err->code, ec::bad_request);
  CAF_CHECK_EQUAL(err->message,
                  "the body nests arrays and objects deeper than 64 levels");
  // Copying this overflowed the stack of the gateway (found with
  // fuzz/http_request: regression-deep-nesting).
  auto p = plan("POST", "/v1/tasks",
                R"({"type": "sum", "params": )" + nested(200000) + "}");
  CAF_REQUIRE(p.refusal);
  CAF_CHECK_EQUAL(p.refusal->status, 400);
  // Brackets inside strings do not nest, escaped quotes do not end them.
  CAF_CHECK(!nests_deeper_than(R"(["\\", "\"[[[", "{{"])", 1));
  CAF_CHECK_EQUAL(scan_brackets(R"([{"a": "[{"}, [], {}])").containers, 4u);
  CAF_CHECK(nests_deeper_than(R"(["\\", [1]])", 1));
}

CAF_TEST(a body of many small arrays is refused unparsed) {
  std::string many = "[";
  for (size_t i = 0; i < max_body_containers; ++i)
    many += "[],";
  many += "1]";
  json out;
  auto err = parse_body(many, out);
  CAF_REQUIRE(err);
  CAF_CHECK_EQUAL(err->message,
                  "the body holds more than 100000 arrays and objects");
  many.erase(1, 3);
  CAF_CHECK(!parse_body(many, out));
}

CAF_TEST(a heartbeat carries progress of bounded size) {
  std::string progress = "stale";
  CAF_CHECK(!parse_heartbeat(json::object(), progress));
  CAF_CHECK_EQUAL(progress, "");
  CAF_CHECK(!parse_heartbeat(json{{"progress", nullptr}}, progress));
  CAF_CHECK_EQUAL(progress, "");
  CAF_CHECK(!parse_heartbeat(json{{"progress", {{"done", 3}, {"of", 10}}}},
                             progress));
  CAF_CHECK_EQUAL(progress, R"({"done":3,"of":10})");
  auto err = parse_heartbeat(json{{"progress", std::string(70000, 'x')}},
                             progress);
  CAF_REQUIRE(err);
  CAF_CHECK_EQUAL(err->code, ec::invalid_params);
  CAF_CHECK_EQUAL(err->message, "progress must be at most 65536 bytes of JSON");
  CAF_CHECK_EQUAL(progress, "");
  err = parse_heartbeat(json{{"progress", {{"a", std::string("x\0y", 3)}}}},
                        progress);
  CAF_REQUIRE(err);
  CAF_CHECK_EQUAL(err->message,
                  "progress.a must not contain a NUL character (\\u0000)");
  err = parse_heartbeat(json{{"progres", 1}}, progress);
  CAF_REQUIRE(err);
  CAF_CHECK_EQUAL(err->code, ec::invalid_params);
  auto p = plan("POST", "/v1/leases/s.t/heartbeat", R"({"progress": [1, 2]})");
  CAF_REQUIRE(!p.refusal);
  CAF_CHECK_EQUAL(p.progress, "[1,2]");
}

CAF_TEST_FIXTURE_SCOPE_END()
