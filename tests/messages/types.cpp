// Tests of the wire protocol: serialization of the types that cross nodes.
#define CAF_SUITE messages.types

#include "messages/types.hpp"

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
