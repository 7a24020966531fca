// Tests of the wire protocol (serialization of the types that cross nodes)
// and of the formatting helpers.
#define CAF_SUITE messages.types

#include "messages/types.hpp"

#include "common/format.hpp"
#include "messages/error.hpp"
#include "tests/fixture.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <set>

using namespace tasker;
using namespace tasker::testing;

namespace {

/// The tests' configuration for a plain actor system.
struct types_config : test_config {
  types_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.inline-output", true);
  }
};

struct fixture {
  types_config cfg;
  caf::actor_system sys{cfg};

  /// Serializes `x` and reads it back into a fresh value.
  template <class T>
  T round_trip(T x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    if (auto err = sink(x))
      CAF_FAIL("serialization failed: " << sys.render(err));
    CAF_CHECK(!buf.empty());
    T y;
    caf::binary_deserializer source{sys, buf};
    if (auto err = source(y))
      CAF_FAIL("deserialization failed: " << sys.render(err));
    CAF_CHECK_EQUAL(source.remaining(), 0u);
    return y;
  }

  /// Serializes `x` inside a message, as a remote send does: this needs the
  /// type to be registered under its name.
  template <class T>
  T message_round_trip(const T& x) {
    auto msg = caf::make_message(x);
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    if (auto err = sink(msg))
      CAF_FAIL("serialization failed: " << sys.render(err));
    caf::message copy;
    caf::binary_deserializer source{sys, buf};
    if (auto err = source(copy))
      CAF_FAIL("deserialization failed: " << sys.render(err));
    CAF_REQUIRE(copy.match_elements<T>());
    return copy.get_as<T>(0);
  }
};

task_record full_record() {
  task_record r;
  r.id = uuid;
  r.type = "text_stats";
  r.params = R"({"text":"ünïcödé \"q\"","top_n":3})";
  r.status = task_status::failed;
  r.result = R"({"x":1})";
  r.error = "boom\nline 2";
  r.priority = 9;
  r.attempts = 3;
  r.max_attempts = 100;
  r.timeout_ms = 86400000;
  r.idempotency_key = "order-42";
  r.request_hash = "0123456789abcdef";
  r.worker_id = "node-2/slot-5";
  r.created_at = 1763805600000;
  r.updated_at = 1763805600001;
  r.scheduled_at = 1763805600002;
  r.started_at = 1763805600003;
  r.completed_at = INT64_MAX;
  return r;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(types_tests, fixture)

CAF_TEST(task_assignment round trip) {
  task_assignment a{uuid, "sum", R"({"a":1,"b":2})", 2, 60000, 7,
                    1763805600000};
  CAF_CHECK_EQUAL(round_trip(a), a);
  CAF_CHECK_EQUAL(message_round_trip(a), a);
  // Every field takes part: a changed copy differs.
  auto b = a;
  b.scheduled_at += 1;
  CAF_CHECK(!(round_trip(b) == a));
}

CAF_TEST(task_outcome round trip) {
  task_outcome ok;
  ok.id = uuid;
  ok.attempt = 1;
  ok.ok = true;
  ok.result = R"({"sum":3})";
  ok.retryable = false;
  ok.worker_id = "node-1/slot-0";
  ok.started_at = 1763805600000;
  ok.finished_at = 1763805600042;
  CAF_CHECK_EQUAL(round_trip(ok), ok);
  CAF_CHECK_EQUAL(message_round_trip(ok), ok);
  task_outcome failed;
  failed.id = ok.id;
  failed.attempt = 3;
  failed.error = std::string("binary \0 byte", 13);
  failed.retryable = true;
  CAF_CHECK_EQUAL(round_trip(failed), failed);
  CAF_CHECK_EQUAL(message_round_trip(failed), failed);
}

CAF_TEST(node_info round trip) {
  node_info n{"node-2", "10.0.0.2:4242", {"sum", "sleep", "text_stats"}, 16,
              protocol_version};
  CAF_CHECK_EQUAL(round_trip(n), n);
  CAF_CHECK_EQUAL(message_round_trip(n), n);
  node_info any{"n", "", {}, 0, 0};
  CAF_CHECK_EQUAL(round_trip(any), any);
}

CAF_TEST(task_record round trip) {
  auto r = full_record();
  CAF_CHECK_EQUAL(round_trip(r), r);
  CAF_CHECK_EQUAL(message_round_trip(r), r);
  task_record empty;
  CAF_CHECK_EQUAL(round_trip(empty), empty);
  for (auto st : {task_status::pending, task_status::processing,
                  task_status::completed, task_status::failed,
                  task_status::cancelled}) {
    auto x = r;
    x.status = st;
    CAF_CHECK_EQUAL(round_trip(x).status, st);
  }
  std::vector<task_record> many{r, empty, r};
  CAF_CHECK_EQUAL(message_round_trip(many), many);
}

CAF_TEST(the wire types are registered under stable names) {
  std::set<std::string> names;
  for (auto& kv : cfg.type_names_by_rtti)
    names.insert(kv.second);
  for (auto name : {"tasker::task_assignment", "tasker::task_outcome",
                    "tasker::node_info", "tasker::task_record",
                    "tasker::node_actor", "tasker::dispatcher_actor"}) {
    CAF_MESSAGE(name);
    CAF_CHECK(names.count(name) == 1);
  }
}

CAF_TEST(tasker errors render with their message) {
  auto err = make_error(ec::conflict, "task x is COMPLETED");
  CAF_CHECK_EQUAL(code_of(err), ec::conflict);
  CAF_CHECK_EQUAL(message_of(err), "task x is COMPLETED");
  CAF_CHECK_EQUAL(sys.render(err), "tasker.conflict: task x is COMPLETED");
  CAF_CHECK_EQUAL(code_of(caf::make_error(caf::sec::request_timeout)),
                  ec::unavailable);
  CAF_CHECK_EQUAL(code_of(caf::make_error(caf::sec::runtime_error)),
                  ec::internal);
  CAF_CHECK_EQUAL(code_of(caf::error{}), ec::none);
  for (auto [code, status] :
       std::vector<std::pair<ec, int>>{{ec::bad_request, 400},
                                       {ec::not_found, 404},
                                       {ec::method_not_allowed, 405},
                                       {ec::conflict, 409},
                                       {ec::payload_too_large, 413},
                                       {ec::unsupported_media_type, 415},
                                       {ec::invalid_params, 422},
                                       {ec::overloaded, 429},
                                       {ec::internal, 500},
                                       {ec::unavailable, 503}})
    CAF_CHECK_EQUAL(http_status(code), status);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(format_time renders RFC 3339 UTC with milliseconds) {
  CAF_CHECK_EQUAL(format_time(0), "1970-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_time(1763805600123), "2025-11-22T10:00:00.123Z");
  CAF_CHECK_EQUAL(format_time(951782400000), "2000-02-29T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_time(-1), "1969-12-31T23:59:59.999Z");
}

CAF_TEST(parse_time reads what format_time writes) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{999},
                     int64_t{951782400000}, int64_t{1763805600123},
                     int64_t{4102444799999}}) {
    auto text = format_time(ms);
    CAF_MESSAGE(text);
    auto back = parse_time(text);
    CAF_REQUIRE(back);
    CAF_CHECK_EQUAL(*back, ms);
  }
}

CAF_TEST(parse_time applies offsets and optional fractions) {
  const int64_t t = 1763805600000; // 2025-11-22T10:00:00Z
  auto at = [](const char* str) { return parse_time(str).value_or(-1); };
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00Z"), t);
  CAF_CHECK_EQUAL(at("2025-11-22t10:00:00z"), t);
  CAF_CHECK_EQUAL(at("2025-11-22 10:00:00Z"), t);
  CAF_CHECK_EQUAL(at("2025-11-22T12:30:00+02:30"), t);
  CAF_CHECK_EQUAL(at("2025-11-22T05:00:00-05:00"), t);
  CAF_CHECK_EQUAL(at("2025-11-23T00:00:00+14:00"), t);
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00.5Z"), t + 500);
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00.05Z"), t + 50);
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00.123456789Z"), t + 123);
  CAF_CHECK_EQUAL(at("2025-11-22T11:00:00.250+01:00"), t + 250);
}

CAF_TEST(parse_time refuses malformed times) {
  for (auto bad : {"", "2025-11-22", "2025-11-22T10:00:00",
                   "2025-11-22T10:00Z", "2025-13-01T00:00:00Z",
                   "2025-00-01T00:00:00Z", "2025-11-32T00:00:00Z",
                   "2025-11-22T24:00:00Z", "2025-11-22T10:60:00Z",
                   "2025-11-22T10:00:00.Z", "2025-11-22T10:00:00+0200",
                   "2025-11-22T10:00:00+02:00x", "2025-11-22T10:00:00Zjunk",
                   "2025-11-22X10:00:00Z", "25-11-22T10:00:00Z",
                   "2025-11-22T10:00:00+24:00", "tomorrow"}) {
    CAF_MESSAGE("'" << bad << "'");
    CAF_CHECK(!parse_time(bad));
  }
}

CAF_TEST(make_uuid makes distinct version 4 UUIDs) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = make_uuid();
    CAF_REQUIRE(is_uuid(id));
    CAF_CHECK_EQUAL(id, lower(id));
    CAF_CHECK_EQUAL(id[14], '4');
    CAF_CHECK(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
    seen.insert(id);
  }
  CAF_CHECK_EQUAL(seen.size(), 1000u);
}

CAF_TEST(is_uuid accepts the canonical form in any case only) {
  CAF_CHECK(is_uuid("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"));
  CAF_CHECK(is_uuid("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"));
  for (auto bad : {"", "0f1e2d3c4b5a49788695a4b3c2d1e0f9",
                   "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f",
                   "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f90",
                   "0f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f9",
                   "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg",
                   "{0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}",
                   "0f1e2d3c--4b5a-4978-8695-a4b3c2d1e0f"}) {
    CAF_MESSAGE("'" << bad << "'");
    CAF_CHECK(!is_uuid(bad));
  }
}
