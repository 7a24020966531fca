// Tests of the batching persistence actor on the deterministic scheduler,
// with test actors standing in for the database writers.
#define CAF_SUITE persistence.persistence

#include "persistence/persistence.hpp"

#include "messages/error.hpp"
#include "tests/fixture.hpp"

#include <deque>
#include <set>

using namespace tasker;
using namespace tasker::testing;
using namespace std::chrono_literals;

namespace {

/// What a fake writer received, and how it answers.
struct writer_log {
  std::vector<write_batch> batches;
  /// Errors for the next answers, in order; then success.
  std::deque<caf::error> failures;
  /// Hold answers until the test releases them with `ok_atom`.
  bool hold = false;
  using promise = caf::typed_response_promise<batch_outcome>;
  std::vector<std::pair<promise, write_batch>> held;
};

/// The writer interface plus a handle for the test to release commits.
using fake_writer_actor = writer_actor::extend<caf::reacts_to<ok_atom>>;

/// Answers a batch: with the next scripted failure, else as committed.
void answer(writer_log& log, caf::typed_response_promise<batch_outcome>& rp,
            const write_batch& batch) {
  if (!log.failures.empty()) {
    rp.deliver(log.failures.front());
    log.failures.pop_front();
    return;
  }
  batch_outcome out;
  for (auto& group : batch.insert_groups)
    out.groups.push_back(insert_result{insert_status::inserted, group, {}, {}});
  rp.deliver(std::move(out));
}

fake_writer_actor::behavior_type fake_writer(fake_writer_actor::pointer self,
                                             std::shared_ptr<writer_log> log) {
  return {
    [self, log](write_atom, write_batch& batch)
      -> caf::typed_response_promise<batch_outcome> {
      log->batches.push_back(batch);
      auto rp = self->make_response_promise<batch_outcome>();
      if (log->hold)
        log->held.emplace_back(rp, batch);
      else
        answer(*log, rp, batch);
      return rp;
    },
    [log](ok_atom) {
      auto held = std::move(log->held);
      log->held.clear();
      for (auto& [rp, batch] : held)
        answer(*log, rp, batch);
    },
  };
}

struct fixture : actor_fixture<> {
  std::vector<std::shared_ptr<writer_log>> logs;
  std::vector<fake_writer_actor> writers;
  persistence_actor pers;

  /// Spawns `n` fake writers and the persistence actor.
  void start(size_t n = 1, int32_t batch_max_rows = 2000) {
    std::vector<writer_actor> ws;
    for (size_t i = 0; i < n; ++i) {
      auto log = std::make_shared<writer_log>();
      auto w = sys.spawn(fake_writer, log);
      keep(w);
      logs.push_back(log);
      writers.push_back(w);
      ws.push_back(w);
    }
    pers = sys.spawn(persistence, ws, cache_link{}, batch_max_rows,
                     std::make_shared<telemetry>());
    keep(pers);
    sched.run();
  }

  writer_log& w0() {
    return *logs.at(0);
  }

  void update(const task_record& r) {
    self->send(pers, update_atom_v, r);
  }

  /// Writes task `id` as COMPLETED after attempt 1; answered once committed.
  std::shared_ptr<reply<ok_atom>> write_completed(const std::string& id) {
    return ask<ok_atom>(pers, write_atom_v,
                        make_record(id, task_status::completed, 1));
  }

  /// Inserts `group`; answered once committed.
  std::shared_ptr<reply<insert_result>>
  insert(const std::vector<task_record>& group) {
    return ask<insert_result>(pers, insert_atom_v, group);
  }

  void release(size_t writer = 0) {
    self->send(writers.at(writer), ok_atom_v);
    sched.run();
  }

  nlohmann::json status() {
    return ask_json<persistence_status>(pers, status_atom_v);
  }

  /// Lets `d` pass in virtual time; returns how many batches writer 0 got.
  size_t batches_after(caf::timespan d) {
    advance_time(d);
    sched.run();
    return w0().batches.size();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(persistence_tests, fixture)

CAF_TEST(an insert is answered only after the writer commits) {
  start();
  w0().hold = true;
  std::vector<task_record> group{make_record("a"), make_record("b")};
  auto r = insert(group);
  sched.run();
  CAF_REQUIRE_EQUAL(w0().batches.size(), 1u);
  CAF_REQUIRE_EQUAL(w0().batches[0].insert_groups.size(), 1u);
  CAF_CHECK_EQUAL(w0().batches[0].insert_groups[0], group);
  CAF_CHECK(w0().batches[0].updates.empty());
  CAF_CHECK(!r->done);
  release();
  CAF_REQUIRE(r->done);
  CAF_REQUIRE(r->value);
  CAF_CHECK_EQUAL(r->value->status, insert_status::inserted);
  CAF_CHECK_EQUAL(r->value->tasks, group);
}

CAF_TEST(an empty insert is a barrier behind the submissions before it) {
  start();
  w0().hold = true;
  auto first = insert({make_record("a")});
  sched.run();
  CAF_REQUIRE_EQUAL(w0().batches.size(), 1u);
  auto barrier = insert({});
  sched.run();
  // Not answered while the submission before it is being committed.
  CAF_CHECK(!barrier->done);
  release();
  CAF_CHECK(first->done);
  CAF_CHECK(!barrier->done);
  // It went to the same writer in the next batch, and is answered after it.
  CAF_REQUIRE_EQUAL(w0().batches.size(), 2u);
  CAF_REQUIRE_EQUAL(w0().batches[1].insert_groups.size(), 1u);
  CAF_CHECK(w0().batches[1].insert_groups[0].empty());
  release();
  CAF_REQUIRE(barrier->done);
  CAF_REQUIRE(barrier->value);
  CAF_CHECK(barrier->value->tasks.empty());
}

CAF_TEST(updates arriving together share one batch) {
  start();
  update(make_record("a", task_status::processing, 1));
  update(make_record("b", task_status::processing, 1));
  update(make_record("a", task_status::completed, 1));
  update(make_record("c", task_status::processing, 1));
  for (int i = 0; i < 4; ++i)
    expect((update_atom, task_record), from(self).to(pers).with(_, _));
  // Only now, after the four updates, does the flush run.
  expect((flush_atom, int32_t), from(pers).to(pers).with(_, 0));
  expect((write_atom, write_batch), from(pers).to(writers[0]).with(_, _));
  sched.run();
  CAF_REQUIRE_EQUAL(w0().batches.size(), 1u);
  auto& b = w0().batches[0];
  CAF_CHECK(b.insert_groups.empty());
  CAF_CHECK_EQUAL(ids_of(b.updates), (strings{"a", "b", "c"}));
  // The later state of a wins.
  CAF_CHECK_EQUAL(b.updates[0].status, task_status::completed);
  auto st = status();
  CAF_CHECK_EQUAL(st["batches"].get<int>(), 1);
  CAF_CHECK_EQUAL(st["rows_written"].get<int>(), 3);
  CAF_CHECK_EQUAL(st["backlog_rows"].get<int>(), 0);
}

CAF_TEST(writes during a commit go together into the next one) {
  start();
  w0().hold = true;
  update(make_record("a", task_status::processing, 1));
  sched.run();
  CAF_REQUIRE_EQUAL(w0().batches.size(), 1u);
  // The first commit is still running: these wait in the buffer.
  update(make_record("b", task_status::processing, 1));
  auto w = write_completed("a");
  auto ins = insert({make_record("d")});
  sched.run();
  CAF_CHECK_EQUAL(w0().batches.size(), 1u);
  CAF_CHECK(!w->done);
  CAF_CHECK(!ins->done);
  CAF_CHECK_EQUAL(status()["backlog_rows"].get<int>(), 4);
  release();
  // The second batch holds everything that arrived meanwhile.
  CAF_REQUIRE_EQUAL(w0().batches.size(), 2u);
  auto& b = w0().batches[1];
  CAF_REQUIRE_EQUAL(b.insert_groups.size(), 1u);
  CAF_CHECK_EQUAL(ids_of(b.insert_groups[0]), strings{"d"});
  CAF_CHECK_EQUAL(ids_of(b.updates), (strings{"b", "a"}));
  CAF_CHECK(!w->done);
  CAF_CHECK(!ins->done);
  release();
  CAF_CHECK(w->done && w->value);
  CAF_CHECK(ins->done && ins->value);
}

CAF_TEST(a batch holds at most batch_max_rows rows) {
  start(1, 2);
  for (auto id : {"a", "b", "c", "d", "e"})
    update(make_record(id, task_status::processing, 1));
  sched.run();
  CAF_REQUIRE_EQUAL(w0().batches.size(), 3u);
  CAF_CHECK_EQUAL(ids_of(w0().batches[0].updates), (strings{"a", "b"}));
  CAF_CHECK_EQUAL(ids_of(w0().batches[1].updates), (strings{"c", "d"}));
  CAF_CHECK_EQUAL(ids_of(w0().batches[2].updates), strings{"e"});
  CAF_CHECK_EQUAL(status()["max_batch_rows"].get<int>(), 2);
}

CAF_TEST(an unavailable database keeps the updates and retries them) {
  start();
  w0().hold = true;
  update(make_record("x", task_status::processing, 1));
  sched.run();
  // While the first commit runs, an update, a write and an insert arrive.
  update(make_record("a", task_status::processing, 1));
  auto w = write_completed("b");
  auto ins = insert({make_record("n")});
  sched.run();
  release();
  CAF_REQUIRE_EQUAL(w0().batches.size(), 2u);
  CAF_CHECK_EQUAL(w0().batches[1].insert_groups.size(), 1u);
  CAF_CHECK_EQUAL(ids_of(w0().batches[1].updates), (strings{"a", "b"}));
  // The second commit fails: the connection was lost.
  w0().hold = false;
  w0().failures.push_back(make_error(ec::unavailable, "connection lost"));
  release();
  // Inserts are not retried: the client hears "unavailable" and may retry.
  CAF_REQUIRE(ins->done);
  CAF_CHECK_EQUAL(code_of(ins->err), ec::unavailable);
  CAF_CHECK(!w->done);
  CAF_CHECK_EQUAL(status()["failed_batches"].get<int>(), 1);
  CAF_CHECK_EQUAL(status()["backlog_rows"].get<int>(), 2);
  // A newer state of a arrives while the retry waits.
  update(make_record("a", task_status::completed, 1));
  sched.run();
  CAF_CHECK_EQUAL(w0().batches.size(), 2u);
  // The first retry comes after 100 ms.
  CAF_CHECK_EQUAL(batches_after(99ms), 2u);
  CAF_REQUIRE_EQUAL(batches_after(1ms), 3u);
  auto& b = w0().batches[2];
  CAF_CHECK(b.insert_groups.empty());
  CAF_CHECK_EQUAL(ids_of(b.updates), (strings{"a", "b"}));
  for (auto& u : b.updates)
    CAF_CHECK_EQUAL(u.status, task_status::completed);
  CAF_REQUIRE(w->done);
  CAF_CHECK(w->value);
  CAF_CHECK_EQUAL(status()["backlog_rows"].get<int>(), 0);
}

CAF_TEST(the retry back-off grows while the database stays down) {
  start();
  for (int i = 0; i < 3; ++i)
    w0().failures.push_back(make_error(ec::unavailable, "down"));
  auto w = write_completed("a");
  sched.run();
  CAF_CHECK_EQUAL(w0().batches.size(), 1u);
  // Retries after 100, 200 and 400 ms.
  CAF_CHECK_EQUAL(batches_after(100ms), 2u);
  CAF_CHECK_EQUAL(batches_after(199ms), 2u);
  CAF_CHECK_EQUAL(batches_after(1ms), 3u);
  CAF_CHECK_EQUAL(batches_after(400ms), 4u);
  CAF_REQUIRE(w->done);
  CAF_CHECK(w->value);
}

CAF_TEST(a refused batch answers its waiters with an error) {
  start();
  w0().failures.push_back(make_error(ec::internal, "syntax error"));
  auto w = write_completed("a");
  sched.run();
  CAF_REQUIRE(w->done);
  CAF_CHECK_EQUAL(code_of(w->err), ec::internal);
  // Not retried.
  CAF_CHECK_EQUAL(batches_after(5s), 1u);
}

CAF_TEST(submissions never wait behind updates) {
  start(3);
  for (int i = 0; i < 5; ++i)
    update(make_record("busy-" + std::to_string(i), task_status::processing, 1));
  auto r = insert({make_record("new")});
  sched.run();
  // The submission is the whole batch of the first writer.
  CAF_REQUIRE_EQUAL(logs[0]->batches.size(), 1u);
  CAF_CHECK_EQUAL(logs[0]->batches[0].insert_groups.size(), 1u);
  CAF_CHECK(logs[0]->batches[0].updates.empty());
  size_t updates = 0;
  for (size_t w = 1; w < 3; ++w)
    for (auto& b : logs[w]->batches) {
      CAF_CHECK(b.insert_groups.empty());
      updates += b.updates.size();
    }
  CAF_CHECK_EQUAL(updates, 5u);
  sched.run();
  CAF_CHECK(r->done);
}

CAF_TEST(all writes of a task go to the same writer) {
  // The first writer takes only submissions; the others share the updates,
  // each task always on the same one.
  start(3);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i)
      update(make_record("task-" + std::to_string(i), task_status::processing,
                         round));
    sched.run();
  }
  std::set<std::string> seen[3];
  size_t rows = 0;
  for (size_t w = 0; w < 3; ++w)
    for (auto& b : logs[w]->batches)
      for (auto& u : b.updates) {
        seen[w].insert(u.id);
        ++rows;
      }
  CAF_CHECK_EQUAL(rows, 60u);
  CAF_CHECK(seen[0].empty());
  CAF_CHECK(!seen[1].empty());
  CAF_CHECK(!seen[2].empty());
  // Each task's three states went to one writer only.
  CAF_CHECK_EQUAL(seen[1].size() + seen[2].size(), 20u);
}

CAF_TEST_FIXTURE_SCOPE_END()
