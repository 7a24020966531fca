// Tests of the Redis status cache's pure parts: the entry codec (every
// entry read back is hostile input), Redis URLs, and the stale set.
#define CAF_SUITE cache.task_cache

#include "cache/task_cache.hpp"

#include "tests/fixture.hpp"

#include <nlohmann/json.hpp>

using namespace tasker;
using namespace tasker::testing;
using json = nlohmann::json;

namespace {

task_record finished() {
  auto rec = make_record("t-1", task_status::completed, 2);
  rec.params = R"({"a": 1, "b": [2, 3]})";
  rec.result = R"({"sum": 6})";
  rec.worker_id = "node-a";
  rec.idempotency_key = "order-1";
  rec.request_hash = "00000000000000aa";
  rec.created_at = 1'700'000'000'000;
  rec.updated_at = rec.completed_at = 1'700'000'000'500;
  rec.started_at = 1'700'000'000'100;
  rec.priority = -3;
  return rec;
}

/// The entry of `finished()` with one field replaced.
std::string with(const char* field, json value) {
  auto js = json::parse(encode_cache_entry(finished()));
  js[field] = std::move(value);
  return js.dump();
}

bool decodes(const std::string& text, std::string* why = nullptr) {
  task_record out;
  std::string w;
  auto ok = decode_cache_entry(text, "t-1", out, w);
  if (why != nullptr)
    *why = w;
  return ok;
}

} // namespace

CAF_TEST(an entry decodes to the record it was made from) {
  auto rec = finished();
  task_record out;
  std::string why;
  CAF_REQUIRE(decode_cache_entry(encode_cache_entry(rec), rec.id, out, why));
  CAF_CHECK_EQUAL(out.id, rec.id);
  CAF_CHECK_EQUAL(out.type, rec.type);
  CAF_CHECK_EQUAL(out.params, rec.params);
  CAF_CHECK_EQUAL(out.result, rec.result);
  CAF_CHECK(out.status == rec.status);
  CAF_CHECK_EQUAL(out.attempts, rec.attempts);
  CAF_CHECK_EQUAL(out.priority, rec.priority);
  CAF_CHECK_EQUAL(out.worker_id, rec.worker_id);
  CAF_CHECK_EQUAL(out.idempotency_key, rec.idempotency_key);
  CAF_CHECK_EQUAL(out.request_hash, rec.request_hash);
  CAF_CHECK_EQUAL(out.created_at, rec.created_at);
  CAF_CHECK_EQUAL(out.updated_at, rec.updated_at);
  CAF_CHECK_EQUAL(out.started_at, rec.started_at);
  CAF_CHECK_EQUAL(out.completed_at, rec.completed_at);
  CAF_CHECK(!differs(out, rec));
}

CAF_TEST(entries that are not a task record are refused) {
  std::string why;
  CAF_CHECK(!decodes("", &why));
  CAF_CHECK(!decodes("not json"));
  CAF_CHECK(!decodes("[]"));
  CAF_CHECK(!decodes(R"({"v": 1})"));
  // Truncated (a GETRANGE cut it off).
  auto whole = encode_cache_entry(finished());
  CAF_CHECK(!decodes(whole.substr(0, whole.size() / 2)));
  CAF_CHECK(!decodes(with("v", 2)));
  CAF_CHECK(!decodes(with("status", "DONE")));
  CAF_CHECK(!decodes(with("status", 3)));
  CAF_CHECK(!decodes(with("attempts", -1)));
  CAF_CHECK(!decodes(with("attempts", "2")));
  CAF_CHECK(!decodes(with("attempts", 1.5)));
  CAF_CHECK(!decodes(with("priority", int64_t{1} << 40)));
  CAF_CHECK(!decodes(with("created_at", -5)));
  CAF_CHECK(!decodes(with("params", json::object())));
  CAF_CHECK(!decodes(with("params", "{not json")));
  CAF_CHECK(!decodes(with("result", "[1,")));
  CAF_CHECK(!decodes(with("type", "")));
  CAF_CHECK(!decodes(with("worker_id", nullptr)));
  CAF_MESSAGE("another task's entry");
  CAF_CHECK(!decodes(with("id", "t-2"), &why));
  CAF_CHECK_EQUAL(why, "the entry is another task's");
  // An empty result (a task without one) is fine.
  CAF_CHECK(decodes(with("result", "")));
}

CAF_TEST(what a client sees change makes two states differ) {
  auto a = finished();
  auto b = a;
  b.progress = "{\"done\": 1}"; // kept in memory only
  CAF_CHECK(!differs(a, b));
  b = a;
  b.status = task_status::processing;
  CAF_CHECK(differs(a, b));
  b = a;
  b.attempts = 3;
  CAF_CHECK(differs(a, b));
  b = a;
  b.result = "{\"sum\": 7}";
  CAF_CHECK(differs(a, b));
}

CAF_TEST(redis urls) {
  std::string why;
  auto ep = parse_redis_url("redis://127.0.0.1:6380/2", why);
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(ep->host, "127.0.0.1");
  CAF_CHECK_EQUAL(ep->port, 6380);
  CAF_CHECK_EQUAL(ep->db, 2);
  CAF_CHECK(ep->socket_path.empty());
  ep = parse_redis_url("redis://cache.internal", why);
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(ep->host, "cache.internal");
  CAF_CHECK_EQUAL(ep->port, 6379);
  CAF_CHECK_EQUAL(ep->db, 0);
  ep = parse_redis_url("redis://:s%40cret@[::1]:7000", why);
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(ep->host, "::1");
  CAF_CHECK_EQUAL(ep->password, "s@cret");
  CAF_CHECK(ep->user.empty());
  ep = parse_redis_url("redis://app:pw@h/1", why);
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(ep->user, "app");
  CAF_CHECK_EQUAL(ep->password, "pw");
  ep = parse_redis_url("unix:///run/redis/redis.sock?db=3", why);
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(ep->socket_path, "/run/redis/redis.sock");
  CAF_CHECK_EQUAL(ep->db, 3);
  ep = parse_redis_url("unix://:pw@/tmp/r.sock", why);
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(ep->socket_path, "/tmp/r.sock");
  CAF_CHECK_EQUAL(ep->password, "pw");
  for (auto bad : {"", "127.0.0.1:6379", "http://h", "redis://", "redis://h:0",
                   "redis://h:65536", "redis://h/x", "redis://h/1?db=2x",
                   "redis://h?timeout=1", "unix://relative.sock",
                   "unix:///s?db=-1", "rediss://h"}) {
    why.clear();
    CAF_CHECK_EQUAL(parse_redis_url(bad, why).has_value(), false);
    CAF_CHECK(!why.empty());
  }
}

CAF_TEST(a task whose write failed is not trusted until healed) {
  cache_settings cs;
  cs.max_stale = 2;
  task_cache cache{cs, std::make_shared<telemetry>()};
  auto prefix = cache.prefix();
  CAF_CHECK_EQUAL(cache.key("x"), prefix + "x");
  CAF_CHECK(cache.trusted("x"));
  cache.mark_stale("x");
  CAF_CHECK(!cache.trusted("x"));
  cache.healed("x");
  CAF_CHECK(cache.trusted("x"));
  CAF_MESSAGE("past max_stale ids, every entry written so far is left unread");
  cache.mark_stale("a");
  cache.mark_stale("b");
  CAF_CHECK(!cache.trusted("a"));
  cache.mark_stale("c");
  CAF_CHECK(cache.prefix() != prefix);
  CAF_CHECK(cache.trusted("a"));
  CAF_CHECK(cache.trusted("b"));
}

CAF_TEST(entries that could hurt a reader are refused) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  CAF_CHECK(!decodes(with("result", deep)));
  CAF_CHECK(!decodes(with("params", "{\"a\": " + deep + "}")));
  std::string many = "[";
  for (int i = 0; i < 100001; ++i)
    many += i == 0 ? "[]" : ",[]";
  many += "]";
  CAF_CHECK(!decodes(with("result", many)));
  // 64 levels are what a request body may hold.
  std::string ok_deep(64, '[');
  ok_deep += std::string(64, ']');
  CAF_CHECK(decodes(with("result", ok_deep)));
  // The entry itself is flat.
  auto js = json::parse(encode_cache_entry(finished()));
  js["extra"] = json::array({1, 2});
  CAF_CHECK(!decodes(js.dump()));
  // A state from the future is planted.
  CAF_CHECK(!decodes(with("updated_at", now_ms() + 2 * 86'400'000)));
}

CAF_TEST(deleted tasks and another server are not trusted) {
  cache_settings cs;
  task_cache cache{cs, std::make_shared<telemetry>()};
  cache.deleted({"gone"});
  CAF_CHECK(cache.was_deleted("gone"));
  CAF_CHECK(!cache.trusted("gone"));
  CAF_CHECK(cache.trusted("other"));
  CAF_MESSAGE("a committed state on its way is not trusted until written");
  cache.note_unwritten({make_record("w"), make_record("w")});
  CAF_CHECK(!cache.trusted("w"));
  cache.written("w", 1);
  CAF_CHECK(!cache.trusted("w"));
  cache.written("w", 1);
  CAF_CHECK(cache.trusted("w"));
  CAF_MESSAGE("the first server seen keeps the epoch; another one changes it");
  auto prefix = cache.prefix();
  cache.observe_server("aaa");
  CAF_CHECK_EQUAL(cache.prefix(), prefix);
  cache.observe_server("aaa");
  CAF_CHECK_EQUAL(cache.prefix(), prefix);
  cache.observe_server("bbb");
  CAF_CHECK(cache.prefix() != prefix);
}
