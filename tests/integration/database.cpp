// Integration tests of tasker::database against a real PostgreSQL. Each test
// runs in a database of its own, created and dropped by the fixture, in the
// cluster given by TASKER_TEST_PG_URL.
#define CAF_SUITE integration.database

#include "persistence/database.hpp"

#include "actors/task_state.hpp"
#include "common/format.hpp"
#include "persistence/leadership.hpp"
#include "persistence/migrations.hpp"
#include "persistence/sql.hpp"
#include "tests/fixture.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>

using namespace tasker;
using namespace tasker::testing;
using json = nlohmann::json;

namespace {

/// Returns `url` with its database replaced by `name`. Handles URLs
/// (`postgresql://user@host:port/db?opts`) and key=value strings.
std::string with_database(const std::string& url, const std::string& name) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos)
    return url + " dbname=" + name; // The last dbname wins.
  auto path = url.find('/', scheme + 3);
  auto query = url.find('?', scheme + 3);
  if (path == std::string::npos || (query != std::string::npos && query < path))
    path = query == std::string::npos ? url.size() : query;
  auto rest = query == std::string::npos ? std::string{} : url.substr(query);
  return url.substr(0, path) + "/" + name + rest;
}

/// A fresh database for one test, dropped again at the end.
class scratch_database {
public:
  scratch_database() {
    auto env = std::getenv("TASKER_TEST_PG_URL");
    if (env == nullptr || *env == '\0')
      CAF_FAIL("TASKER_TEST_PG_URL is not set: the integration tests need a "
               "PostgreSQL cluster in which they may create databases; "
               "scripts/test.sh starts one and sets it (or set it yourself, "
               "e.g. postgresql://postgres@127.0.0.1:55432/postgres)");
    admin_url_ = env;
    std::random_device rd;
    std::mt19937_64 rng{(uint64_t{rd()} << 32) ^ rd()};
    char buf[17];
    snprintf(buf, sizeof(buf), "%016llx",
             static_cast<unsigned long long>(rng()));
    name_ = std::string{"tasker_it_"} + buf;
    try {
      pqxx::connection conn{admin_url_};
      pqxx::nontransaction tx{conn};
      tx.exec("CREATE DATABASE " + tx.quote_name(name_));
    } catch (const std::exception& e) {
      CAF_FAIL("cannot create a test database in " << admin_url_ << ": "
                                                    << e.what());
    }
    url_ = with_database(admin_url_, name_);
  }

  ~scratch_database() {
    try {
      pqxx::connection conn{admin_url_};
      pqxx::nontransaction tx{conn};
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_)
              + " WITH (FORCE)");
    } catch (const std::exception& e) {
      CAF_MESSAGE("could not drop " << name_ << ": " << e.what());
    }
  }

  const std::string& url() const {
    return url_;
  }

  const std::string& name() const {
    return name_;
  }

private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

constexpr millis t0 = 1'763'805'600'000;

task_record make(millis created_at = t0, std::string type = "sum",
                 task_status st = task_status::pending) {
  task_record r;
  r.id = make_uuid();
  r.type = std::move(type);
  r.params = R"({"a": 1, "b": 2})";
  r.status = st;
  r.priority = 3;
  r.max_attempts = 4;
  r.timeout_ms = 2500;
  r.created_at = created_at;
  r.updated_at = created_at;
  r.scheduled_at = created_at;
  return r;
}

/// A task like make() with an idempotency key and the hash of its request.
task_record keyed(millis created_at, std::string key, std::string hash) {
  auto r = make(created_at);
  r.idempotency_key = std::move(key);
  r.request_hash = std::move(hash);
  return r;
}

struct fixture {
  // Declared first: dropped after `db` has closed its connection.
  scratch_database scratch;
  database db{scratch.url()};

  fixture() {
    db.migrate();
  }

  /// Applies a batch of insert groups only.
  batch_outcome insert(std::vector<std::vector<task_record>> groups) {
    write_batch b;
    b.insert_groups = std::move(groups);
    return db.apply(b);
  }

  /// Applies a batch of updates only, each with the event of its state.
  void update(std::vector<task_record> recs) {
    write_batch b;
    for (auto& rec : recs)
      b.events.push_back(event_of(rec));
    b.updates = std::move(recs);
    auto out = db.apply(b);
    CAF_CHECK(out.groups.empty());
  }

  task_record fetch(const std::string& id) {
    auto rec = db.get(id);
    if (!rec)
      CAF_FAIL("task " << id << " is not stored");
    return *rec;
  }

  /// Checks that a stored row equals what was written (JSON compared as
  /// values: jsonb normalizes spacing).
  void check_same(const task_record& got, const task_record& want) {
    CAF_CHECK_EQUAL(got.id, want.id);
    CAF_CHECK_EQUAL(got.type, want.type);
    CAF_CHECK_EQUAL(json::parse(got.params).dump(),
                    json::parse(want.params).dump());
    CAF_CHECK_EQUAL(got.status, want.status);
    if (want.result.empty())
      CAF_CHECK_EQUAL(got.result, "");
    else
      CAF_CHECK_EQUAL(json::parse(got.result).dump(),
                      json::parse(want.result).dump());
    CAF_CHECK_EQUAL(got.error, want.error);
    CAF_CHECK_EQUAL(got.priority, want.priority);
    CAF_CHECK_EQUAL(got.attempts, want.attempts);
    CAF_CHECK_EQUAL(got.max_attempts, want.max_attempts);
    CAF_CHECK_EQUAL(got.timeout_ms, want.timeout_ms);
    CAF_CHECK_EQUAL(got.idempotency_key, want.idempotency_key);
    CAF_CHECK_EQUAL(got.request_hash, want.request_hash);
    CAF_CHECK_EQUAL(got.worker_id, want.worker_id);
    CAF_CHECK_EQUAL(got.created_at, want.created_at);
    CAF_CHECK_EQUAL(got.updated_at, want.updated_at);
    CAF_CHECK_EQUAL(got.scheduled_at, want.scheduled_at);
    CAF_CHECK_EQUAL(got.started_at, want.started_at);
    CAF_CHECK_EQUAL(got.completed_at, want.completed_at);
    CAF_CHECK_EQUAL(got.seq, want.seq);
  }

  /// The kinds of a task's events, in order.
  std::vector<std::string> kinds(const std::string& id) {
    std::vector<std::string> out;
    for (auto& ev : db.events(id, 1000))
      out.emplace_back(event_kind(ev.status, ev.attempt, ev.seq));
    return out;
  }

  /// How many events the table holds of these tasks.
  int64_t event_rows(const std::vector<std::string>& ids) {
    pqxx::connection c{scratch.url()};
    pqxx::nontransaction tx{c};
    return tx
      .exec_params1("SELECT count(*) FROM task_events WHERE task_id::text IN "
                    "(SELECT jsonb_array_elements_text($1::jsonb))",
                    json(ids).dump())[0]
      .as<int64_t>();
  }

  /// Reads every page of a query, `limit` rows at a time, following the
  /// cursor the way the API does (encode, then decode).
  std::vector<task_record> all_pages(list_query q, size_t* pages = nullptr) {
    std::vector<task_record> out;
    size_t n = 0;
    for (;;) {
      auto page = db.list(q);
      ++n;
      CAF_CHECK_LESS_OR_EQUAL(page.tasks.size(), static_cast<size_t>(q.limit));
      out.insert(out.end(), page.tasks.begin(), page.tasks.end());
      if (!page.more)
        break;
      CAF_REQUIRE(!page.tasks.empty());
      auto& last = page.tasks.back();
      q.after_created_at = last.created_at;
      q.after_id = last.id;
      if (n > 1000)
        CAF_FAIL("paging does not end");
    }
    if (pages != nullptr)
      *pages = n;
    return out;
  }
};

} // namespace

CAF_TEST(with_database replaces the database of a URL) {
  CAF_CHECK_EQUAL(
    with_database("postgresql://postgres@127.0.0.1:55432/postgres", "x"),
                  "postgresql://postgres@127.0.0.1:55432/x");
  CAF_CHECK_EQUAL(with_database("postgresql://u@h/db?sslmode=disable", "x"),
                  "postgresql://u@h/x?sslmode=disable");
  CAF_CHECK_EQUAL(with_database("postgresql://u@h:5432", "x"),
                  "postgresql://u@h:5432/x");
  CAF_CHECK_EQUAL(with_database("postgres://h?port=5", "x"),
                  "postgres://h/x?port=5");
  CAF_CHECK_EQUAL(with_database("host=/tmp port=5432", "x"),
                  "host=/tmp port=5432 dbname=x");
}

CAF_TEST_FIXTURE_SCOPE(database_tests, fixture)

CAF_TEST(migrate applies once and is idempotent) {
  // The fixture migrated the fresh database once already.
  CAF_CHECK_EQUAL(db.migrate(), 0);
  CAF_CHECK_EQUAL(db.migrate(), 0);
  pqxx::connection conn{scratch.url()};
  pqxx::nontransaction tx{conn};
  auto versions = tx.exec("SELECT version FROM schema_migrations ORDER BY 1");
  CAF_CHECK_EQUAL(versions.size(), migrations().size());
  auto tables = tx.exec1("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_name IN ('tasks', 'workers')");
  CAF_CHECK_EQUAL(tables[0].as<int>(), 2);
  CAF_CHECK(db.unfinished(0, "", t0 + 1000000, 100).empty());
}

CAF_TEST(migrate on an empty database applies every migration) {
  scratch_database other;
  database fresh{other.url()};
  CAF_CHECK_EQUAL(fresh.migrate(), static_cast<int>(migrations().size()));
  CAF_CHECK_EQUAL(fresh.migrate(), 0);
  fresh.reset();
}

CAF_TEST(inserted groups are stored and readable) {
  auto a = make();
  auto b = make(t0 + 1, "text_stats");
  b.params = R"({"text": "the cat", "top_n": 3})";
  auto c = keyed(t0 + 2, "order-1", "00000000000000aa");
  auto out = insert({{a, b}, {c}});
  CAF_REQUIRE_EQUAL(out.groups.size(), 2u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids_of(out.groups[0].tasks), ids_of({a, b}));
  CAF_CHECK_EQUAL(out.groups[1].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids_of(out.groups[1].tasks), ids_of({c}));
  check_same(fetch(a.id), a);
  check_same(fetch(b.id), b);
  check_same(fetch(c.id), c);
  CAF_CHECK(!db.get(make_uuid()));
}

CAF_TEST(an empty group beside others commits as a barrier) {
  auto a = make();
  auto out = insert({{}, {a}, {}});
  CAF_REQUIRE_EQUAL(out.groups.size(), 3u);
  CAF_CHECK(out.groups[0].tasks.empty());
  CAF_CHECK(out.groups[2].tasks.empty());
  CAF_CHECK_EQUAL(out.groups[1].status, insert_status::inserted);
  check_same(fetch(a.id), a);
}

CAF_TEST(the same key and body returns the first task) {
  auto first = keyed(t0, "order-42", "1111111111111111");
  insert({{first}});
  auto again = keyed(t0 + 50, "order-42", "1111111111111111");
  auto out = insert({{again}});
  CAF_REQUIRE_EQUAL(out.groups.size(), 1u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::existing);
  CAF_REQUIRE_EQUAL(out.groups[0].tasks.size(), 1u);
  check_same(out.groups[0].tasks[0], first);
  CAF_CHECK(!db.get(again.id));
}

CAF_TEST(the same key with another body stores nothing of its group) {
  auto first = keyed(t0, "order-42", "1111111111111111");
  insert({{first}});
  // One batch: a conflicting group and an unrelated group.
  auto plain = make(t0 + 10);
  auto clash = keyed(t0 + 11, "order-42", "2222222222222222");
  auto other = keyed(t0 + 12, "order-43", "3333333333333333");
  auto out = insert({{plain, clash}, {other}});
  CAF_REQUIRE_EQUAL(out.groups.size(), 2u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::conflict);
  CAF_CHECK_EQUAL(out.groups[0].conflict_key, "order-42");
  CAF_CHECK(out.groups[0].tasks.empty());
  // All or none: the group's task without a key is not stored either.
  CAF_CHECK(!db.get(plain.id));
  CAF_CHECK(!db.get(clash.id));
  CAF_CHECK_EQUAL(out.groups[1].status, insert_status::inserted);
  check_same(fetch(other.id), other);
  // The first task is untouched.
  check_same(fetch(first.id), first);
  // The withdrawn tasks left no events; the stored ones have theirs.
  CAF_CHECK_EQUAL(event_rows({plain.id, clash.id}), 0);
  CAF_CHECK_EQUAL(kinds(other.id), strings{"submitted"});
  CAF_CHECK_EQUAL(kinds(first.id), strings{"submitted"});
}

CAF_TEST(a key used twice in one batch stores the first and returns it twice) {
  auto x = keyed(t0, "twice", "4444444444444444");
  auto y = keyed(t0 + 1, "twice", "4444444444444444");
  auto out = insert({{x}, {y}});
  CAF_REQUIRE_EQUAL(out.groups.size(), 2u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::inserted);
  CAF_CHECK_EQUAL(out.groups[1].status, insert_status::existing);
  CAF_REQUIRE_EQUAL(out.groups[1].tasks.size(), 1u);
  CAF_CHECK_EQUAL(out.groups[1].tasks[0].id, x.id);
  CAF_CHECK(!db.get(y.id));
}

CAF_TEST(a group that matched a task of a conflicting group is stored) {
  auto old = keyed(t0, "k7", "7777777777777777");
  insert({{old}});
  // p conflicts on k7, so t1 is withdrawn; q sent k6 with the same body as
  // t1 and r sent k9 with the same body as t4: neither key is taken any
  // more once p is withdrawn, so q's own tasks are stored and r gets them.
  auto t1 = keyed(t0 + 1, "k6", "6666666666666666");
  auto t2 = keyed(t0 + 2, "k7", "8888888888888888");
  auto t3 = keyed(t0 + 3, "k6", "6666666666666666");
  auto t4 = keyed(t0 + 4, "k9", "9999999999999999");
  auto t5 = keyed(t0 + 5, "k9", "9999999999999999");
  auto out = insert({{t1, t2}, {t3, t4}, {t5}});
  CAF_REQUIRE_EQUAL(out.groups.size(), 3u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::conflict);
  CAF_CHECK_EQUAL(out.groups[0].conflict_key, "k7");
  CAF_CHECK(!db.get(t1.id));
  CAF_CHECK(!db.get(t2.id));
  CAF_CHECK_EQUAL(out.groups[1].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids_of(out.groups[1].tasks), ids_of({t3, t4}));
  check_same(fetch(t3.id), t3);
  check_same(fetch(t4.id), t4);
  CAF_CHECK_EQUAL(out.groups[2].status, insert_status::existing);
  CAF_CHECK_EQUAL(ids_of(out.groups[2].tasks), ids_of({t4}));
  CAF_CHECK(!db.get(t5.id));
  // Every task a group was answered with is stored.
  for (auto& g : out.groups)
    for (auto& t : g.tasks)
      CAF_CHECK(db.get(t.id).has_value());
}

CAF_TEST(updates apply the latest state of each task) {
  auto a = make();
  auto b = make(t0 + 1);
  insert({{a, b}});
  // The write buffer coalesces what a writer sends in one batch.
  write_buffer buf;
  auto a1 = a;
  apply_start(a1, 1, "node-1/slot-0", t0 + 100);
  buf.add_update(a1);
  auto b1 = b;
  apply_start(b1, 1, "node-1/slot-1", t0 + 101);
  buf.add_update(b1);
  auto a2 = a1;
  task_outcome ok;
  ok.id = a.id;
  ok.attempt = 1;
  ok.ok = true;
  ok.result = R"({"sum": 3})";
  apply_outcome(a2, ok, {}, 0.5, t0 + 200);
  buf.add_update(a2);
  auto taken = buf.take(100);
  CAF_REQUIRE_EQUAL(taken.batch.updates.size(), 2u);
  db.apply(taken.batch);
  check_same(fetch(a.id), a2);
  check_same(fetch(b.id), b1);
  CAF_CHECK_EQUAL(fetch(a.id).status, task_status::completed);
  CAF_CHECK_EQUAL(fetch(b.id).worker_id, "node-1/slot-1");
}

CAF_TEST(a terminal row is not overwritten except by a retry) {
  auto a = make();
  insert({{a}});
  auto running = a;
  apply_start(running, 1, "w", t0 + 10);
  update({running});
  auto cancelled = running;
  apply_cancel(cancelled, t0 + 20);
  cancelled.error = "cancelled by request";
  update({cancelled});
  check_same(fetch(a.id), cancelled);
  // A late result of the cancelled attempt must not revive or complete it.
  auto late = running;
  task_outcome ok;
  ok.id = a.id;
  ok.attempt = 1;
  ok.ok = true;
  ok.result = "1";
  apply_outcome(late, ok, {}, 0.5, t0 + 30);
  CAF_REQUIRE_EQUAL(late.status, task_status::completed);
  update({late});
  check_same(fetch(a.id), cancelled);
  // Nor may an older PENDING state with attempts (a retry back-off).
  auto pending = running;
  pending.status = task_status::pending;
  update({pending});
  CAF_CHECK_EQUAL(fetch(a.id).status, task_status::cancelled);
  // A retry (PENDING with a fresh budget) does change it.
  auto retried = cancelled;
  CAF_REQUIRE(apply_retry(retried, t0 + 40));
  update({retried});
  auto got = fetch(a.id);
  check_same(got, retried);
  CAF_CHECK_EQUAL(got.status, task_status::pending);
  CAF_CHECK_EQUAL(got.attempts, 0);
  CAF_CHECK_EQUAL(got.result, "");
  CAF_CHECK_EQUAL(got.completed_at, 0);
}

CAF_TEST(every transition writes one event in order and a refused one none) {
  auto a = make();
  insert({{a}});
  auto running = a;
  apply_start(running, 1, "node-1/slot-0", t0 + 10);
  update({running});
  // Written again (a rewrite after a restart): the same event, once.
  update({running});
  auto backoff = running;
  task_outcome boom{a.id, 1, false, "", "boom", true, "", 0, 0};
  apply_outcome(backoff, boom, {}, 0.5, t0 + 20);
  // The next attempt's start and its end coalesce in one update.
  auto again = backoff;
  apply_start(again, 2, "node-2/slot-1", t0 + 3000);
  auto failed = again;
  task_outcome fatal{a.id, 2, false, "", "fatal", false, "", 0, 0};
  apply_outcome(failed, fatal, {}, 0.5, t0 + 3100);
  write_buffer buf;
  buf.add_update(backoff);
  buf.add_update(again);
  buf.add_update(failed);
  db.apply(buf.take(100).batch);
  check_same(fetch(a.id), failed);
  CAF_CHECK_EQUAL(kinds(a.id), (strings{"submitted", "started",
                                        "retry_scheduled", "started",
                                        "failed"}));
  // A late state of a finished task is refused, and so is its event.
  update({backoff});
  auto late = again;
  task_outcome ok{a.id, 2, true, "1", "", false, "", 0, 0};
  apply_outcome(late, ok, {}, 0.5, t0 + 3200);
  update({late});
  CAF_CHECK_EQUAL(fetch(a.id).status, task_status::failed);
  CAF_CHECK_EQUAL(kinds(a.id).size(), 5u);
  // A retry by request starts again, numbered on.
  auto retried = failed;
  apply_retry(retried, t0 + 4000);
  update({retried});
  auto events = db.events(a.id, 1000);
  CAF_REQUIRE_EQUAL(events.size(), 6u);
  for (size_t i = 0; i < events.size(); ++i)
    CAF_CHECK_EQUAL(events[i].seq, static_cast<int32_t>(i));
  CAF_CHECK_EQUAL(std::string{event_kind(events[5].status, events[5].attempt,
                                         events[5].seq)},
                  "retried");
  // What each says: who ran it, why it failed, when.
  CAF_CHECK_EQUAL(events[0].type, "sum");
  CAF_CHECK_EQUAL(events[0].at, t0);
  CAF_CHECK_EQUAL(events[1].worker_id, "node-1/slot-0");
  CAF_CHECK_EQUAL(events[1].attempt, 1);
  CAF_CHECK_EQUAL(events[2].error, "boom");
  CAF_CHECK_EQUAL(events[2].started_at, t0 + 10);
  CAF_CHECK_GREATER(events[2].scheduled_at, t0 + 20);
  CAF_CHECK_EQUAL(events[4].error, "fatal");
  CAF_CHECK_EQUAL(events[4].worker_id, "node-2/slot-1");
  CAF_CHECK_EQUAL(events[4].at, t0 + 3100);
  CAF_CHECK_EQUAL(events[4].started_at, t0 + 3000);
  // Stream positions grow with the writing transaction.
  for (size_t i = 1; i < events.size(); ++i)
    CAF_CHECK(events[i - 1].position() < events[i].position());
  CAF_CHECK(db.events(a.id, 2).size() == 2u);
}

CAF_TEST(retention deletes the events of the tasks it deletes) {
  auto old = make(t0);
  auto young = make(t0 + 100000);
  insert({{old, young}});
  for (auto* rec : {&old, &young}) {
    auto done = *rec;
    apply_cancel(done, rec->created_at + 10);
    update({done});
  }
  CAF_CHECK_EQUAL(event_rows({old.id, young.id}), 4);
  millis last_at = 0;
  auto gone = db.prune(t0 + 50000, 0, "", 100, last_at);
  CAF_CHECK_EQUAL(gone, strings{old.id});
  CAF_CHECK_EQUAL(event_rows({old.id}), 0);
  CAF_CHECK_EQUAL(kinds(young.id), (strings{"submitted", "cancelled"}));
}

CAF_TEST(an update of a row that does not exist changes nothing) {
  auto ghost = make();
  update({ghost});
  CAF_CHECK(!db.get(ghost.id));
}

CAF_TEST(list pages newest first without gaps or duplicates) {
  // 25 tasks; three at a time share a created_at, so the id breaks ties.
  std::vector<task_record> all;
  for (int i = 0; i < 25; ++i) {
    auto r = make(t0 + (i / 3) * 1000, i % 2 == 0 ? "sum" : "sleep",
                  i % 5 == 0 ? task_status::completed : task_status::pending);
    all.push_back(r);
  }
  insert({std::vector<task_record>(all.begin(), all.begin() + 10),
          std::vector<task_record>(all.begin() + 10, all.end())});
  auto newest_first = all;
  std::sort(newest_first.begin(), newest_first.end(),
            [](const task_record& x, const task_record& y) {
              return x.created_at != y.created_at ? x.created_at > y.created_at
                                                  : x.id > y.id;
            });
  for (int32_t limit : {1, 5, 7, 25, 100}) {
    CAF_MESSAGE("limit " << limit);
    list_query q;
    q.limit = limit;
    size_t pages = 0;
    auto got = all_pages(q, &pages);
    CAF_CHECK_EQUAL(ids_of(got), ids_of(newest_first));
    // No empty trailing page when the rows divide evenly.
    CAF_CHECK_EQUAL(pages, (25u + limit - 1) / limit);
  }
  auto first = db.list(list_query{"", "", 5, 0, ""});
  CAF_CHECK(first.more);
  CAF_CHECK_EQUAL(first.tasks.size(), 5u);
  check_same(first.tasks[0], newest_first[0]);
}

CAF_TEST(a page of large tasks ends early and paging still sees every task) {
  std::vector<task_record> all;
  for (int i = 0; i < 12; ++i) {
    auto r = make(t0 + i);
    r.params = R"({"a": 1, "b": 2, "pad": ")" + std::string(300, 'p') + "\"}";
    all.push_back(r);
  }
  insert({all});
  db.max_page_bytes = 1000; // about three tasks
  list_query q;
  q.limit = 100;
  auto first = db.list(q);
  CAF_CHECK(first.more);
  CAF_CHECK_EQUAL(first.tasks.size(), 4u);
  size_t pages = 0;
  auto got = all_pages(q, &pages);
  CAF_CHECK_EQUAL(got.size(), 12u);
  CAF_CHECK_EQUAL(pages, 3u);
}

CAF_TEST(list filters by status and type) {
  std::vector<task_record> all;
  for (int i = 0; i < 30; ++i)
    all.push_back(make(t0 + i, i % 3 == 0 ? "sleep" : "sum",
                       i % 4 == 0 ? task_status::failed
                                  : task_status::pending));
  insert({all});
  auto expected = [&](const std::string& status, const std::string& type) {
    std::vector<task_record> out;
    for (auto& r : all)
      if ((status.empty() || status == to_string(r.status))
          && (type.empty() || type == r.type))
        out.push_back(r);
    std::reverse(out.begin(), out.end()); // created_at ascending in `all`
    return ids_of(out);
  };
  for (auto [status, type] : std::vector<std::pair<std::string, std::string>>{
         {"FAILED", ""}, {"", "sleep"}, {"FAILED", "sleep"},
         {"PENDING", "sum"}, {"COMPLETED", ""}, {"", "nope"}}) {
    CAF_MESSAGE("status '" << status << "' type '" << type << "'");
    list_query q;
    q.status = status;
    q.type = type;
    q.limit = 4;
    auto got = all_pages(q);
    auto want = expected(status, type);
    CAF_CHECK_EQUAL(ids_of(got), want);
    for (auto& r : got) {
      if (!status.empty())
        CAF_CHECK_EQUAL(to_string(r.status), status);
      if (!type.empty())
        CAF_CHECK_EQUAL(r.type, type);
    }
  }
  CAF_CHECK_EQUAL(expected("FAILED", "sleep").size(), 3u);
}

CAF_TEST(unfinished returns pending and processing tasks by schedule) {
  auto p1 = make(t0, "sum", task_status::pending);
  p1.scheduled_at = t0 + 500;
  auto p2 = make(t0 + 1, "sum", task_status::pending);
  p2.scheduled_at = t0 + 100;
  auto run = make(t0 + 2, "sleep", task_status::processing);
  run.attempts = 1;
  run.worker_id = "node-1/slot-0";
  run.started_at = t0 + 300;
  run.scheduled_at = t0 + 300;
  auto done = make(t0 + 3, "sum", task_status::completed);
  done.result = R"({"sum": 3})";
  auto failed = make(t0 + 4, "fail", task_status::failed);
  failed.error = "x";
  auto cancelled = make(t0 + 5, "sum", task_status::cancelled);
  insert({{p1, p2, run, done, failed, cancelled}});
  auto got = db.unfinished(0, "", t0 + 1000000, 100);
  CAF_CHECK_EQUAL(ids_of(got), ids_of({p2, run, p1}));
  CAF_REQUIRE_EQUAL(got.size(), 3u);
  check_same(got[1], run);
  // Pages: after a position, up to a time, at most N.
  auto first = db.unfinished(0, "", t0 + 1000000, 2);
  CAF_CHECK_EQUAL(ids_of(first), ids_of({p2, run}));
  auto rest = db.unfinished(first.back().scheduled_at, first.back().id,
                            t0 + 1000000, 2);
  CAF_CHECK_EQUAL(ids_of(rest), ids_of({p1}));
  // Only what is due by then.
  CAF_CHECK_EQUAL(ids_of(db.unfinished(0, "", t0 + 300, 100)),
                  ids_of({p2, run}));
  CAF_CHECK_EQUAL(ids_of(db.unfinished(t0 + 300, "ffffffff-ffff-ffff-ffff-"
                                                 "ffffffffffff",
                                       t0 + 1000, 100)),
                  ids_of({p1}));
}

CAF_TEST(tasks with the same schedule page by id without gaps) {
  std::vector<task_record> all;
  for (int i = 0; i < 7; ++i) {
    auto rec = make(t0 + i);
    rec.scheduled_at = t0;
    all.push_back(rec);
  }
  insert({all});
  std::vector<task_record> got;
  millis at = 0;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = db.unfinished(at, after, t0, 3);
    got.insert(got.end(), page.begin(), page.end());
    if (page.size() < 3)
      break;
    at = page.back().scheduled_at;
    after = page.back().id;
  }
  std::sort(all.begin(), all.end(),
            [](auto& x, auto& y) { return x.id < y.id; });
  CAF_CHECK_EQUAL(ids_of(got), ids_of(all));
}

CAF_TEST(a commit cut off before it happened stores nothing and says so) {
  // Submissions without keys are one statement that commits by itself; with
  // a key, a transaction of several. The server ends the session just before
  // the statement, or between the last statement and COMMIT.
  for (bool with_key : {false, true}) {
    CAF_MESSAGE("with an idempotency key: " << with_key);
    auto a = make(t0 + (with_key ? 10 : 0));
    auto b = with_key ? keyed(t0 + 11, "order-cut", "00000000000000cc")
                      : make(t0 + 1);
    db.fault_hook = [this, with_key](const char* point) {
      if (std::string{point} != "before_commit")
        return;
      pqxx::connection killer{scratch.url()};
      pqxx::nontransaction tx{killer};
      auto n = tx.exec1(std::string{"SELECT count(pg_terminate_backend(pid)) "
                                    "FROM pg_stat_activity WHERE pid <> "
                                    "pg_backend_pid() AND datname = "
                                    "current_database() AND state = '"}
                        + (with_key ? "idle in transaction" : "idle") + "'")[0]
                 .as<int>();
      CAF_CHECK_EQUAL(n, 1);
    };
    write_batch batch;
    batch.insert_groups = {{a, b}};
    bool broken = false;
    try {
      db.apply(batch);
    } catch (const pqxx::broken_connection&) {
      broken = true;
    }
    CAF_CHECK(broken);
    db.fault_hook = nullptr;
    // Nothing of it landed, and the next call works on a new connection.
    CAF_CHECK(!db.get(a.id));
    CAF_CHECK(!db.get(b.id));
    auto out = insert({{a, b}});
    CAF_CHECK_EQUAL(out.groups[0].status, insert_status::inserted);
    check_same(fetch(a.id), a);
    check_same(fetch(b.id), b);
  }
}

CAF_TEST(a statement whose answer was lost is read back as done) {
  // One statement, committed by itself; the connection breaks before its
  // answer arrives.
  auto a = make();
  auto b = make(t0 + 1);
  db.fault_hook = [](const char* point) {
    if (std::string{point} == "after_commit")
      throw pqxx::broken_connection{"connection lost after the statement"};
  };
  write_batch batch;
  batch.insert_groups = {{a}, {b}};
  auto out = db.apply(batch);
  db.fault_hook = nullptr;
  CAF_REQUIRE_EQUAL(out.groups.size(), 2u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids_of(out.groups[0].tasks), ids_of({a}));
  CAF_CHECK_EQUAL(ids_of(out.groups[1].tasks), ids_of({b}));
  check_same(fetch(a.id), a);
  check_same(fetch(b.id), b);
}

CAF_TEST(a commit whose answer was lost is read back as done) {
  auto a = make();
  auto c = keyed(t0 + 2, "order-7", "00000000000000bb");
  db.fault_hook = [](const char* point) {
    if (std::string{point} == "after_commit")
      throw pqxx::in_doubt_error{"connection lost during COMMIT"};
  };
  write_batch batch;
  batch.insert_groups = {{a}, {c}};
  auto out = db.apply(batch);
  db.fault_hook = nullptr;
  CAF_REQUIRE_EQUAL(out.groups.size(), 2u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids_of(out.groups[0].tasks), ids_of({a}));
  CAF_CHECK_EQUAL(ids_of(out.groups[1].tasks), ids_of({c}));
  check_same(fetch(a.id), a);
  check_same(fetch(c.id), c);
}

CAF_TEST(an in-doubt commit of updates only is reported for a rewrite) {
  auto a = make();
  insert({{a}});
  auto done = a;
  done.status = task_status::completed;
  done.result = "3";
  done.attempts = 1;
  done.updated_at = done.completed_at = t0 + 100;
  db.fault_hook = [](const char* point) {
    if (std::string{point} == "after_commit")
      throw pqxx::in_doubt_error{"connection lost during COMMIT"};
  };
  write_batch batch;
  batch.updates = {done};
  bool broken = false;
  try {
    db.apply(batch);
  } catch (const pqxx::broken_connection&) {
    broken = true;
  }
  db.fault_hook = nullptr;
  CAF_CHECK(broken);
  // Writing it again (what persistence does with a broken batch's updates)
  // leaves the same row.
  db.apply(batch);
  check_same(fetch(a.id), done);
}

CAF_TEST(a refused member does not fail the rest of its group commit) {
  // One submission with a NUL in its params used to fail every submission
  // of its group commit (500), and a refused update dropped them all.
  auto a = make();
  insert({{a}});
  auto good1 = make(t0 + 1);
  auto bad = make(t0 + 2);
  bad.params = R"({"a": "x\u0000y", "b": 2})";
  auto good2 = make(t0 + 3);
  auto good3 = keyed(t0 + 4, "order-9", "00000000000000bb");
  write_batch b;
  b.insert_groups = {{good1}, {bad, make(t0 + 5)}, {good2, good3}};
  auto a1 = a;
  apply_start(a1, 1, "node-1/slot-0", t0 + 100);
  auto ghost = make(t0 + 6);
  ghost.result = R"({"x": "\u0000"})";
  ghost.status = task_status::completed;
  b.updates = {a1, ghost};
  bool refused = false;
  try {
    db.apply(b);
  } catch (const pqxx::data_exception&) {
    refused = true;
  }
  CAF_CHECK(refused);
  auto out = db.apply_apart(b);
  CAF_REQUIRE_EQUAL(out.groups.size(), 3u);
  CAF_CHECK_EQUAL(out.groups[0].status, insert_status::inserted);
  CAF_CHECK_EQUAL(out.groups[1].status, insert_status::refused);
  CAF_CHECK_NOT_EQUAL(out.groups[1].error, "");
  CAF_CHECK(out.groups[1].tasks.empty());
  CAF_CHECK_EQUAL(out.groups[2].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids_of(out.groups[2].tasks), ids_of({good2, good3}));
  check_same(fetch(good1.id), good1);
  check_same(fetch(good2.id), good2);
  check_same(fetch(good3.id), good3);
  CAF_CHECK(!db.get(bad.id));
  CAF_CHECK(!db.get(b.insert_groups[1][1].id));
  // The good update was written; the refused one was dropped.
  check_same(fetch(a.id), a1);
}

CAF_TEST(a registry snapshot replaces the workers table) {
  auto snapshot = [](const std::string& rows) {
    write_batch b;
    b.workers = rows;
    return b;
  };
  db.apply(snapshot(
    R"([{"id":"node-a","address":"10.0.0.1","status":"ALIVE",)"
    R"("task_types":["sum"],"slots":4,"joined_at":1763800000000,)"
    R"("last_seen":1763800001000,"metadata":{"busy":1}},)"
    R"({"id":"node-b","address":"10.0.0.2","status":"SUSPECT",)"
    R"("task_types":[],"slots":8,"joined_at":1763800000000,)"
    R"("last_seen":1763800000500,"metadata":{}}])"));
  pqxx::connection conn{scratch.url()};
  auto rows = [&] {
    pqxx::nontransaction tx{conn};
    std::vector<std::string> out;
    for (auto row : tx.exec("SELECT id || ':' || status || ':' || slots || ':' "
                            "|| (extract(epoch from last_seen) * 1000)::bigint "
                            "|| ':' || metadata::text FROM workers ORDER BY id"))
      out.push_back(row[0].as<std::string>());
    return out;
  };
  CAF_CHECK_EQUAL(rows(), (strings{"node-a:ALIVE:4:1763800001000:{\"busy\": 1}",
                                   "node-b:SUSPECT:8:1763800000500:{}"}));
  // The next snapshot updates node-a and drops node-b, which left.
  db.apply(snapshot(
    R"([{"id":"node-a","address":"10.0.0.1","status":"DRAINING",)"
    R"("task_types":["sum"],"slots":4,"joined_at":1763800000000,)"
    R"("last_seen":1763800002000,"metadata":{"busy":0}}])"));
  CAF_CHECK_EQUAL(rows(), (strings{"node-a:DRAINING:4:1763800002000:{\"busy\": 0}"}));
  // An empty registry empties the table.
  db.apply(snapshot("[]"));
  CAF_CHECK(rows().empty());
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(only data and constraint errors count as refused content) {
  // A read-only database, a full disk or a timeout says nothing about the
  // batch: its updates must be kept and tried again, not dropped.
  CAF_CHECK(content_refused(pqxx::data_exception{
    "unsupported Unicode escape sequence", "", "22P05"}));
  CAF_CHECK(content_refused(pqxx::unique_violation{"duplicate key", "", "23505"}));
  try {
    throw nlohmann::json::type_error::create(316, "invalid UTF-8", nullptr);
  } catch (const std::exception& e) {
    CAF_CHECK(content_refused(e));
  }
  CAF_CHECK(!content_refused(pqxx::sql_error{
    "cannot execute UPDATE in a read-only transaction", "", "25006"}));
  CAF_CHECK(!content_refused(pqxx::insufficient_resources{
    "could not extend file", "", "53100"}));
  CAF_CHECK(!content_refused(pqxx::broken_connection{"gone"}));
  CAF_CHECK(!content_refused(std::runtime_error{"anything else"}));
}

// -- standby coordinators: the fence and the lease (migration 006) -----------

namespace {

/// A connection that carries `epoch` as tasker.epoch (none: unfenced).
std::unique_ptr<pqxx::connection> fenced_connection(const std::string& url,
                                                    const char* epoch) {
  auto c = std::make_unique<pqxx::connection>(url);
  if (epoch != nullptr)
    c->set_variable("tasker.epoch", epoch);
  return c;
}

/// The SQLSTATE a write of every fenced table gets on `c` ("": written).
std::string write_state(pqxx::connection& c) {
  try {
    pqxx::work tx{c};
    tx.exec("UPDATE tasks SET priority = priority WHERE false");
    tx.exec("DELETE FROM task_events WHERE false");
    tx.exec("DELETE FROM workers WHERE false");
    tx.exec("UPDATE webhook_deliveries SET attempts = attempts WHERE false");
    tx.commit();
    return "";
  } catch (const pqxx::sql_error& e) {
    return e.sqlstate();
  }
}

/// Raises the epoch as a takeover does (the fence lock, exclusively).
void take_over(const std::string& url) {
  pqxx::connection c{url};
  pqxx::work tx{c};
  tx.exec("SELECT pg_advisory_xact_lock(7355610)");
  tx.exec("UPDATE coordinator_leader SET epoch = epoch + 1");
  tx.commit();
}

} // namespace

CAF_TEST(the fence refuses every write of an epoch that is over) {
  scratch_database scratch;
  database{scratch.url()}.migrate();
  auto e0 = fenced_connection(scratch.url(), "0");
  auto e1 = fenced_connection(scratch.url(), "1");
  auto standby = fenced_connection(scratch.url(), "-1");
  auto tool = fenced_connection(scratch.url(), nullptr);
  CAF_CHECK_EQUAL(write_state(*e0), "");
  CAF_CHECK_EQUAL(write_state(*e1), "TF001");
  CAF_CHECK_EQUAL(write_state(*standby), "TF001");
  take_over(scratch.url());
  // Epoch 0 is over: its connection writes nothing any more; epoch 1's does.
  CAF_CHECK_EQUAL(write_state(*e0), "TF001");
  CAF_CHECK_EQUAL(write_state(*e1), "");
  CAF_CHECK_EQUAL(write_state(*standby), "TF001");
  // A connection without the setting (an operator's, a tool's) is not fenced.
  CAF_CHECK_EQUAL(write_state(*tool), "");
  // The database class carries the process's fencing epoch (0: none).
  take_over(scratch.url());
  write_batch batch;
  batch.workers = "[]";
  set_fencing_epoch(1);
  std::string state;
  try {
    database{scratch.url()}.apply(batch);
  } catch (const pqxx::sql_error& e) {
    state = e.sqlstate();
  }
  CAF_CHECK_EQUAL(state, "TF001");
  set_fencing_epoch(2);
  database{scratch.url()}.apply(batch);
  set_fencing_epoch(0);
}

CAF_TEST(a takeover waits for the writes that passed the fence) {
  scratch_database scratch;
  database{scratch.url()}.migrate();
  auto writer = fenced_connection(scratch.url(), "0");
  pqxx::work open{*writer};
  open.exec("UPDATE tasks SET priority = priority WHERE false");
  // The write holds the fence lock (shared) until it ends: a takeover
  // cannot raise the epoch under it.
  {
    pqxx::connection c{scratch.url()};
    pqxx::work tx{c};
    tx.exec("SET LOCAL lock_timeout = '200ms'");
    std::string state;
    try {
      tx.exec("SELECT pg_advisory_xact_lock(7355610)");
    } catch (const pqxx::sql_error& e) {
      state = e.sqlstate();
    }
    CAF_CHECK_EQUAL(state, "55P03");
  }
  open.commit();
  take_over(scratch.url());
  CAF_CHECK_EQUAL(write_state(*writer), "TF001");
}

CAF_TEST(one of two coordinators leads; the other takes over when it resigns) {
  scratch_database scratch;
  database{scratch.url()}.migrate();
  auto settings = [&](const char* id, const char* name) {
    leadership_settings s;
    s.db_url = scratch.url();
    s.id = id;
    s.name = name;
    s.http_address = std::string{name} + ":8080";
    s.cluster_address = std::string{name} + ":4242";
    s.version = "test";
    s.lease = std::chrono::milliseconds(1000);
    s.renew_every = std::chrono::milliseconds(100);
    s.poll_every = std::chrono::milliseconds(50);
    return s;
  };
  using role = leadership_view::role;
  auto v1 = std::make_shared<leadership_view>();
  auto v2 = std::make_shared<leadership_view>();
  {
    leadership l1{settings("id-1", "one"), v1};
    leadership l2{settings("id-2", "two"), v2};
    l1.compete();
    CAF_REQUIRE(l1.wait_change(role::standby, std::chrono::seconds(5))
                == role::active);
    CAF_CHECK_EQUAL(v1->epoch(), 1);
    CAF_CHECK_EQUAL(fencing_epoch(), 1);
    l2.compete();
    // The second one stands by while the first renews, and sees it.
    CAF_CHECK(l2.wait_change(role::standby, std::chrono::milliseconds(1500))
              == role::standby);
    auto seen = v2->read();
    CAF_CHECK_EQUAL(seen.active_id, "id-1");
    CAF_CHECK_EQUAL(seen.active_cluster, "one:4242");
    CAF_CHECK_EQUAL(seen.coordinators.size(), 2u);
    // The first one hands over: the second takes over at once (not after
    // the lease), one epoch on.
    auto resigned = std::chrono::steady_clock::now();
    l1.resign();
    CAF_REQUIRE(l2.wait_change(role::standby, std::chrono::seconds(5))
                == role::active);
    CAF_CHECK(std::chrono::steady_clock::now() - resigned
              < std::chrono::milliseconds(900));
    CAF_CHECK_EQUAL(v2->epoch(), 2);
    CAF_CHECK_EQUAL(v2->takeovers(), 1u);
    CAF_CHECK(v2->metrics_text().find("tasker_coordinator_takeovers_total 1")
              != std::string::npos);
  }
  set_fencing_epoch(0);
  pqxx::connection c{scratch.url()};
  pqxx::nontransaction tx{c};
  auto rows = tx.exec("SELECT name, role FROM coordinators ORDER BY name");
  CAF_REQUIRE_EQUAL(rows.size(), 2u);
  CAF_CHECK_EQUAL(rows[0][1].as<std::string>(), "stopped");
}
