// Tests of the SQL helpers: record encoding and the write buffer
// that coalesces a writer's pending writes.
#define CAF_SUITE persistence.sql

#include "persistence/sql.hpp"

#include "tests/fixture.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

using namespace tasker;
using namespace tasker::testing;
using json = nlohmann::json;

namespace {

std::vector<task_record> group(std::initializer_list<std::string> ids) {
  std::vector<task_record> out;
  for (auto& id : ids)
    out.push_back(make_record(id));
  return out;
}

using tokens = std::vector<uint64_t>;

} // namespace

CAF_TEST(the latest state of a task wins and tokens accumulate) {
  write_buffer buf;
  CAF_CHECK(buf.empty());
  buf.add_update(make_record("a", task_status::processing, 1), 0);
  buf.add_update(make_record("b", task_status::processing, 1), 0);
  buf.add_update(make_record("a", task_status::pending, 1), 5);
  buf.add_update(make_record("a", task_status::completed, 2), 7);
  CAF_CHECK_EQUAL(buf.rows(), 2u);
  auto t = buf.take(100);
  CAF_CHECK(buf.empty());
  CAF_CHECK_EQUAL(buf.rows(), 0u);
  CAF_CHECK(t.batch.insert_groups.empty());
  CAF_REQUIRE_EQUAL(t.batch.updates.size(), 2u);
  // First-seen order, latest state.
  CAF_CHECK_EQUAL(t.batch.updates[0].id, "a");
  CAF_CHECK_EQUAL(t.batch.updates[0].status, task_status::completed);
  CAF_CHECK_EQUAL(t.batch.updates[0].attempts, 2);
  CAF_CHECK_EQUAL(t.batch.updates[1].id, "b");
  CAF_REQUIRE_EQUAL(t.update_tokens.size(), 2u);
  CAF_CHECK_EQUAL(t.update_tokens[0], (tokens{5, 7}));
  CAF_CHECK_EQUAL(t.update_tokens[1], tokens{});
}

CAF_TEST(take keeps insert groups whole and in order) {
  write_buffer buf;
  buf.add_insert(group({"g1a", "g1b", "g1c"}), 11);
  buf.add_insert(group({"g2a", "g2b"}), 12);
  buf.add_insert(group({"g3a", "g3b", "g3c", "g3d"}), 13);
  CAF_CHECK_EQUAL(buf.rows(), 9u);
  auto t = buf.take(6);
  // 3 + 2 rows fit, the third group (4 rows) would not.
  CAF_REQUIRE_EQUAL(t.batch.insert_groups.size(), 2u);
  CAF_CHECK_EQUAL(ids_of(t.batch.insert_groups[0]),
                  (strings{"g1a", "g1b", "g1c"}));
  CAF_CHECK_EQUAL(ids_of(t.batch.insert_groups[1]), (strings{"g2a", "g2b"}));
  CAF_CHECK_EQUAL(t.insert_tokens, (tokens{11, 12}));
  CAF_CHECK_EQUAL(buf.rows(), 4u);
  // A group larger than max_rows is taken whole rather than never.
  auto t2 = buf.take(1);
  CAF_REQUIRE_EQUAL(t2.batch.insert_groups.size(), 1u);
  CAF_CHECK_EQUAL(t2.batch.insert_groups[0].size(), 4u);
  CAF_CHECK_EQUAL(t2.insert_tokens, tokens{13});
  CAF_CHECK(buf.empty());
}

CAF_TEST(take respects max rows across inserts and updates) {
  write_buffer buf;
  buf.add_insert(group({"i1", "i2", "i3"}), 1);
  for (auto id : {"u1", "u2", "u3", "u4", "u5"})
    buf.add_update(make_record(id, task_status::processing, 1), 0);
  CAF_CHECK_EQUAL(buf.rows(), 8u);
  auto t = buf.take(4);
  CAF_CHECK_EQUAL(t.batch.insert_groups.size(), 1u);
  CAF_CHECK_EQUAL(ids_of(t.batch.updates), strings{"u1"});
  CAF_CHECK_EQUAL(t.update_tokens.size(), 1u);
  CAF_CHECK_EQUAL(buf.rows(), 4u);
  // Still coalescing correctly after a partial take: u3 is updated in place,
  // u1 (already taken) is a new entry.
  buf.add_update(make_record("u3", task_status::completed, 1), 9);
  buf.add_update(make_record("u1", task_status::completed, 1), 8);
  CAF_CHECK_EQUAL(buf.rows(), 5u);
  auto t2 = buf.take(100);
  CAF_CHECK_EQUAL(ids_of(t2.batch.updates),
                  (strings{"u2", "u3", "u4", "u5", "u1"}));
  CAF_CHECK_EQUAL(t2.batch.updates[1].status, task_status::completed);
  CAF_CHECK_EQUAL(t2.update_tokens[1], tokens{9});
  CAF_CHECK_EQUAL(t2.update_tokens[4], tokens{8});
  CAF_CHECK(buf.empty());
}

CAF_TEST(take of an empty buffer is empty) {
  write_buffer buf;
  auto t = buf.take(10);
  CAF_CHECK(t.batch.insert_groups.empty());
  CAF_CHECK(t.batch.updates.empty());
  CAF_CHECK(t.insert_tokens.empty());
  CAF_CHECK(t.update_tokens.empty());
}

CAF_TEST(requeue_updates keeps the newer state) {
  write_buffer buf;
  buf.add_update(make_record("a", task_status::processing, 1), 1);
  buf.add_update(make_record("b", task_status::processing, 1), 2);
  buf.add_insert(group({"new"}), 3);
  auto failed = buf.take(100);
  CAF_CHECK(buf.empty());
  // While the batch was in flight, a newer state of "a" arrived.
  buf.add_update(make_record("a", task_status::completed, 1), 4);
  buf.requeue_updates(std::move(failed));
  // Inserts are not requeued (their waiters are answered with an error).
  CAF_CHECK_EQUAL(buf.rows(), 2u);
  auto t = buf.take(100);
  CAF_CHECK(t.batch.insert_groups.empty());
  CAF_REQUIRE_EQUAL(t.batch.updates.size(), 2u);
  CAF_CHECK_EQUAL(t.batch.updates[0].id, "a");
  CAF_CHECK_EQUAL(t.batch.updates[0].status, task_status::completed);
  // The waiter of the old state now waits for the newer one.
  CAF_CHECK_EQUAL(t.update_tokens[0], (tokens{4, 1}));
  CAF_CHECK_EQUAL(t.batch.updates[1].id, "b");
  CAF_CHECK_EQUAL(t.batch.updates[1].status, task_status::processing);
  CAF_CHECK_EQUAL(t.update_tokens[1], tokens{2});
  // A later update of a requeued task still coalesces with it.
  buf.requeue_updates(std::move(t));
  buf.add_update(make_record("b", task_status::failed, 1), 6);
  CAF_CHECK_EQUAL(buf.rows(), 2u);
  auto t2 = buf.take(100);
  CAF_CHECK_EQUAL(t2.batch.updates[1].status, task_status::failed);
  CAF_CHECK_EQUAL(t2.update_tokens[1], (tokens{2, 6}));
}

namespace {

/// A task's state after its `seq`-th transition.
task_record step(const std::string& id, task_status status, int32_t attempts,
                 int32_t seq) {
  auto rec = make_record(id, status, attempts);
  rec.seq = seq;
  rec.updated_at = 2000 + seq;
  rec.worker_id = attempts > 0 ? "node-1" : "";
  rec.started_at = attempts > 0 ? 1900 : 0;
  if (status == task_status::pending && attempts > 0)
    rec.error = "attempt " + std::to_string(attempts) + " failed";
  return rec;
}

std::vector<std::pair<std::string, int32_t>>
events_of(const write_buffer::taken& t) {
  std::vector<std::pair<std::string, int32_t>> out;
  for (auto& ev : t.batch.events)
    out.emplace_back(ev.task_id, ev.seq);
  return out;
}

using event_ids = std::vector<std::pair<std::string, int32_t>>;

} // namespace

CAF_TEST(a coalesced update keeps every transition once) {
  write_buffer buf;
  buf.add_update(step("a", task_status::processing, 1, 1));
  buf.add_update(step("b", task_status::processing, 1, 1));
  buf.add_update(step("a", task_status::pending, 1, 2));
  // The same state again (a rewrite after a restart): no second event.
  buf.add_update(step("a", task_status::pending, 1, 2));
  buf.add_update(step("a", task_status::processing, 2, 3));
  buf.add_update(step("a", task_status::completed, 2, 4), 7);
  auto t = buf.take(100);
  CAF_REQUIRE_EQUAL(t.batch.updates.size(), 2u);
  CAF_CHECK_EQUAL(t.batch.updates[0].seq, 4);
  CAF_CHECK_EQUAL(events_of(t), (event_ids{{"a", 1},
                                           {"a", 2},
                                           {"a", 3},
                                           {"a", 4},
                                           {"b", 1}}));
  auto& retry = t.batch.events[1];
  CAF_CHECK_EQUAL(std::string{event_kind(retry.status, retry.attempt,
                                         retry.seq)},
                  "retry_scheduled");
  CAF_CHECK_EQUAL(retry.error, "attempt 1 failed");
  CAF_CHECK_EQUAL(retry.at, 2002);
  // The update's rows carry each task's events, in order.
  auto js = json::parse(update_rows_json(t.batch.updates, t.batch.events));
  CAF_REQUIRE_EQUAL(js.size(), 2u);
  CAF_CHECK_EQUAL(js[0]["seq"].get<int>(), 4);
  auto& evs = js[0]["events"];
  CAF_REQUIRE_EQUAL(evs.size(), 4u);
  std::vector<std::string> kinds;
  for (auto& ev : evs)
    kinds.push_back(ev["kind"].get<std::string>());
  CAF_CHECK_EQUAL(kinds, (strings{"started", "retry_scheduled", "started",
                                  "completed"}));
  CAF_CHECK_EQUAL(evs[0]["worker_id"].get<std::string>(), "node-1");
  CAF_CHECK_EQUAL(evs[0]["attempt"].get<int>(), 1);
  CAF_CHECK_EQUAL(evs[1]["error"].get<std::string>(), "attempt 1 failed");
  CAF_CHECK_EQUAL(evs[3]["at"].get<int64_t>(), 2004);
  CAF_CHECK_EQUAL(evs[3]["started_at"].get<int64_t>(), 1900);
  CAF_CHECK_EQUAL(js[1]["events"].size(), 1u);
  // An update with no events of its own carries none.
  CAF_CHECK(json::parse(update_rows_json(t.batch.updates))[0].count("events")
            == 0);
}

CAF_TEST(requeued transitions come before those buffered since) {
  write_buffer buf;
  buf.add_update(step("a", task_status::processing, 1, 1));
  buf.add_update(step("a", task_status::pending, 1, 2));
  buf.add_update(step("b", task_status::processing, 1, 1));
  auto failed = buf.take(100);
  // Meanwhile: "a" started again, and "a"'s seq 2 was written again.
  buf.add_update(step("a", task_status::pending, 1, 2));
  buf.add_update(step("a", task_status::processing, 2, 3));
  buf.requeue_updates(std::move(failed));
  auto t = buf.take(100);
  CAF_REQUIRE_EQUAL(t.batch.updates.size(), 2u);
  CAF_CHECK_EQUAL(t.batch.updates[0].seq, 3);
  CAF_CHECK_EQUAL(events_of(t),
                  (event_ids{{"a", 1}, {"a", 2}, {"a", 3}, {"b", 1}}));
}

CAF_TEST(the kind of an event follows from the state it reached) {
  using s = task_status;
  CAF_CHECK_EQUAL(std::string{event_kind(s::pending, 0, 0)}, "submitted");
  CAF_CHECK_EQUAL(std::string{event_kind(s::processing, 1, 1)}, "started");
  CAF_CHECK_EQUAL(std::string{event_kind(s::pending, 1, 2)}, "retry_scheduled");
  CAF_CHECK_EQUAL(std::string{event_kind(s::pending, 0, 5)}, "retried");
  CAF_CHECK_EQUAL(std::string{event_kind(s::completed, 1, 2)}, "completed");
  CAF_CHECK_EQUAL(std::string{event_kind(s::failed, 3, 6)}, "failed");
  CAF_CHECK_EQUAL(std::string{event_kind(s::cancelled, 0, 1)}, "cancelled");
}

CAF_TEST(records_json is valid JSON with nulls for unset fields) {
  CAF_CHECK_EQUAL(records_json({}), "[]");
  task_record bare;
  bare.id = uuid;
  bare.type = "sum";
  bare.params = "";
  auto js = json::parse(records_json({bare}));
  CAF_REQUIRE(js.is_array());
  CAF_REQUIRE_EQUAL(js.size(), 1u);
  auto& r = js[0];
  CAF_CHECK_EQUAL(r["id"].get<std::string>(), uuid);
  CAF_CHECK_EQUAL(r["params"].dump(), "{}");
  CAF_CHECK_EQUAL(r["status"].get<std::string>(), "PENDING");
  for (auto key : {"result", "error", "idempotency_key", "request_hash",
                   "worker_id", "created_at", "updated_at", "scheduled_at",
                   "started_at", "completed_at"}) {
    CAF_MESSAGE(key);
    CAF_CHECK(r[key].is_null());
  }
  CAF_CHECK_EQUAL(r["max_attempts"].get<int>(), 3);
  CAF_CHECK_EQUAL(r["timeout_ms"].get<int64_t>(), 60000);
}

CAF_TEST(update_rows_json carries the state an update writes and nothing else) {
  CAF_CHECK_EQUAL(update_rows_json({}), "[]");
  task_record a = make_record(uuid, task_status::completed, 2);
  a.result = R"({"x":[1,2]})";
  a.worker_id = "node-1/\"slot\" 2";
  a.started_at = 1500;
  a.completed_at = 1600;
  a.request_hash = "0123456789abcdef";
  task_record b = make_record("11111111-2222-4333-8444-555555555555");
  b.status = task_status::failed; // FAILED with no message: "" not null.
  b.error = "";
  task_record c = make_record("21111111-2222-4333-8444-555555555555");
  c.error = "bad \xff";
  auto js = json::parse(update_rows_json({a, b, c}));
  CAF_REQUIRE_EQUAL(js.size(), 3u);
  auto& r = js[0];
  std::vector<std::string> keys;
  for (auto& kv : r.items())
    keys.push_back(kv.key());
  std::sort(keys.begin(), keys.end());
  CAF_CHECK_EQUAL(keys, (std::vector<std::string>{
                          "attempts", "completed_at", "error", "id",
                          "result", "scheduled_at", "seq", "started_at",
                          "status", "updated_at", "worker_id"}));
  CAF_CHECK_EQUAL(r["id"].get<std::string>(), uuid);
  CAF_CHECK_EQUAL(r["status"].get<std::string>(), "COMPLETED");
  CAF_CHECK_EQUAL(r["result"].dump(), R"({"x":[1,2]})");
  CAF_CHECK(r["error"].is_null());
  CAF_CHECK_EQUAL(r["attempts"].get<int>(), 2);
  CAF_CHECK_EQUAL(r["worker_id"].get<std::string>(), "node-1/\"slot\" 2");
  CAF_CHECK_EQUAL(r["updated_at"].get<int64_t>(), 1002);
  CAF_CHECK_EQUAL(r["scheduled_at"].get<int64_t>(), 1000);
  CAF_CHECK_EQUAL(r["started_at"].get<int64_t>(), 1500);
  CAF_CHECK_EQUAL(r["completed_at"].get<int64_t>(), 1600);
  CAF_CHECK(js[1]["error"].is_string());
  CAF_CHECK(js[1]["result"].is_null());
  CAF_CHECK(js[1]["worker_id"].is_null());
  CAF_CHECK(js[1]["started_at"].is_null());
  CAF_CHECK_EQUAL(js[2]["error"].get<std::string>(), "bad \xEF\xBF\xBD");
}

CAF_TEST(records_json carries every field) {
  task_record a = make_record(uuid, task_status::failed, 3);
  a.type = "text \"stats\"";
  a.result = R"({"x":[1,2]})";
  a.error = "line 1\nline \"2\" \xff";
  a.priority = 9;
  a.idempotency_key = "k\\1";
  a.request_hash = "0123456789abcdef";
  a.worker_id = "node-1/slot-2";
  a.started_at = 1500;
  a.completed_at = 1600;
  task_record b = make_record("11111111-2222-4333-8444-555555555555");
  b.status = task_status::failed; // FAILED with no message: "" not null.
  auto js = json::parse(records_json({a, b}));
  CAF_REQUIRE_EQUAL(js.size(), 2u);
  auto& r = js[0];
  CAF_CHECK_EQUAL(r["type"].get<std::string>(), "text \"stats\"");
  CAF_CHECK_EQUAL(r["params"].dump(), R"({"a":1,"b":2})");
  CAF_CHECK_EQUAL(r["status"].get<std::string>(), "FAILED");
  CAF_CHECK_EQUAL(r["result"].dump(), R"({"x":[1,2]})");
  // Invalid UTF-8 is replaced (U+FFFD) rather than breaking the JSON.
  CAF_CHECK_EQUAL(r["error"].get<std::string>(),
                  "line 1\nline \"2\" \xEF\xBF\xBD");
  CAF_CHECK_EQUAL(r["priority"].get<int>(), 9);
  CAF_CHECK_EQUAL(r["attempts"].get<int>(), 3);
  CAF_CHECK_EQUAL(r["idempotency_key"].get<std::string>(), "k\\1");
  CAF_CHECK_EQUAL(r["request_hash"].get<std::string>(), "0123456789abcdef");
  CAF_CHECK_EQUAL(r["worker_id"].get<std::string>(), "node-1/slot-2");
  CAF_CHECK_EQUAL(r["created_at"].get<int64_t>(), 1000);
  CAF_CHECK_EQUAL(r["updated_at"].get<int64_t>(), 1003);
  CAF_CHECK_EQUAL(r["scheduled_at"].get<int64_t>(), 1000);
  CAF_CHECK_EQUAL(r["started_at"].get<int64_t>(), 1500);
  CAF_CHECK_EQUAL(r["completed_at"].get<int64_t>(), 1600);
  CAF_CHECK(js[1]["error"].is_string());
}

