// Tests of the API's JSON encoding: the task object, list pages and their
// cursors.
#define CAF_SUITE gateway.encoding

#include "gateway/encoding.hpp"

#include "tests/fixture.hpp"

#include <nlohmann/json.hpp>

using namespace tasker;
using namespace tasker::testing;
using json = nlohmann::json;

namespace {

constexpr millis now = 1'763'805'600'000; // 2025-11-22T10:00:00.000Z

} // namespace

CAF_TEST(task_json renders every field) {
  task_record r;
  r.id = uuid;
  r.type = "sum";
  r.params = R"({"a":1,"b":2})";
  r.status = task_status::completed;
  r.result = R"({"sum":3})";
  r.priority = 4;
  r.attempts = 2;
  r.max_attempts = 3;
  r.timeout_ms = 1500;
  r.idempotency_key = "order-42";
  r.request_hash = "0123456789abcdef";
  r.worker_id = "local/slot-1";
  r.created_at = now;
  r.updated_at = now + 1;
  r.scheduled_at = now + 2;
  r.started_at = now + 3;
  r.completed_at = now + 4;
  r.progress = R"({"done":3})";
  r.callback_url = "https://hooks.example/t?x=1";
  auto js = json::parse(task_json(r));
  CAF_CHECK_EQUAL(js.size(), 19u);
  CAF_CHECK_EQUAL(js["callback_url"].get<std::string>(),
                  "https://hooks.example/t?x=1");
  CAF_CHECK_EQUAL(js["id"].get<std::string>(), uuid);
  CAF_CHECK_EQUAL(js["type"].get<std::string>(), "sum");
  CAF_CHECK_EQUAL(js["status"].get<std::string>(), "COMPLETED");
  CAF_CHECK_EQUAL(js["params"].dump(), R"({"a":1,"b":2})");
  CAF_CHECK_EQUAL(js["result"].dump(), R"({"sum":3})");
  CAF_CHECK(js["error"].is_null());
  CAF_CHECK_EQUAL(js["progress"].dump(), R"({"done":3})");
  CAF_CHECK_EQUAL(js["priority"].get<int>(), 4);
  CAF_CHECK_EQUAL(js["attempts"].get<int>(), 2);
  CAF_CHECK_EQUAL(js["max_attempts"].get<int>(), 3);
  CAF_CHECK_EQUAL(js["timeout_ms"].get<int>(), 1500);
  CAF_CHECK_EQUAL(js["idempotency_key"].get<std::string>(), "order-42");
  CAF_CHECK_EQUAL(js["worker_id"].get<std::string>(), "local/slot-1");
  CAF_CHECK_EQUAL(js["created_at"].get<std::string>(),
                  "2025-11-22T10:00:00.000Z");
  CAF_CHECK_EQUAL(js["updated_at"].get<std::string>(),
                  "2025-11-22T10:00:00.001Z");
  CAF_CHECK_EQUAL(js["scheduled_at"].get<std::string>(),
                  "2025-11-22T10:00:00.002Z");
  CAF_CHECK_EQUAL(js["started_at"].get<std::string>(),
                  "2025-11-22T10:00:00.003Z");
  CAF_CHECK_EQUAL(js["completed_at"].get<std::string>(),
                  "2025-11-22T10:00:00.004Z");
  // The request hash is internal.
  CAF_CHECK(!js.contains("request_hash"));
}

CAF_TEST(task_json renders unset fields as null) {
  task_record r;
  r.id = uuid;
  r.type = "sleep";
  r.params = "";
  r.created_at = now;
  r.updated_at = now;
  r.scheduled_at = now;
  auto js = json::parse(task_json(r));
  CAF_CHECK_EQUAL(js["status"].get<std::string>(), "PENDING");
  CAF_CHECK_EQUAL(js["params"].dump(), "{}");
  for (auto key : {"result", "error", "progress", "idempotency_key",
                   "worker_id", "started_at", "completed_at"}) {
    CAF_MESSAGE(key);
    CAF_CHECK(js[key].is_null());
  }
  // A FAILED task always has an error string, even an empty one.
  r.status = task_status::failed;
  js = json::parse(task_json(r));
  CAF_CHECK(js["error"].is_string());
  r.error = "line 1\n\"quoted\" \xff";
  js = json::parse(task_json(r));
  CAF_CHECK(js["error"].is_string());
}

CAF_TEST(page_json has a cursor only when more rows follow) {
  task_record a;
  a.id = uuid;
  a.type = "sum";
  a.created_at = now;
  task_page page;
  page.tasks = {a};
  page.more = true;
  auto js = json::parse(page_json(page));
  CAF_CHECK_EQUAL(js["tasks"].size(), 1u);
  CAF_CHECK_EQUAL(js["next_cursor"].get<std::string>(),
                  encode_cursor(now, uuid));
  page.more = false;
  js = json::parse(page_json(page));
  CAF_CHECK(js["next_cursor"].is_null());
  js = json::parse(page_json(task_page{}));
  CAF_CHECK(js["tasks"].empty());
  CAF_CHECK(js["next_cursor"].is_null());
  js = json::parse(batch_json({a, a}));
  CAF_CHECK_EQUAL(js["tasks"].size(), 2u);
}

CAF_TEST(cursors round trip) {
  millis at = 0;
  std::string id;
  auto c = encode_cursor(1763805600123, uuid);
  CAF_REQUIRE(decode_cursor(c, at, id));
  CAF_CHECK_EQUAL(at, 1763805600123);
  CAF_CHECK_EQUAL(id, uuid);
  auto upper = encode_cursor(1, "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9");
  CAF_REQUIRE(decode_cursor(upper, at, id));
  CAF_CHECK_EQUAL(at, 1);
  // The largest time a cursor can hold: the end of the year 9999, past
  // which PostgreSQL's timestamps overflow (that was a 500).
  CAF_REQUIRE(decode_cursor(encode_cursor(253402300799999, uuid), at, id));
  CAF_CHECK_EQUAL(at, 253402300799999);
  CAF_CHECK(!decode_cursor(encode_cursor(253402300800000, uuid), at, id));
  CAF_CHECK(!decode_cursor(encode_cursor(INT64_MAX, uuid), at, id));
}

CAF_TEST(decode_cursor rejects garbage) {
  for (auto bad : std::vector<std::string>{
         "",
         "garbage",
         "123",
         "123_",
         "_" + uuid,
         "-5_" + uuid,
         "12a_" + uuid,
         "123_not-a-uuid",
         "123_" + uuid + "0",
         "123_" + uuid.substr(1),
         "123_0f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f9",
         "123_0f1e2d3cx4b5a-4978-8695-a4b3c2d1e0f9",
         "123_0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg",
         "12345678901234567890_" + uuid,
         // 19 digits but larger than any int64.
         "9999999999999999999_" + uuid,
         "9223372036854775808_" + uuid,
       }) {
    millis at = 0;
    std::string id;
    CAF_MESSAGE("cursor '" << bad << "'");
    CAF_CHECK(!decode_cursor(bad, at, id));
  }
}
