// Tests of the task actor on the deterministic scheduler, with small test
// actors standing in for the dispatcher, persistence and the task manager.
#define CAF_SUITE actors.task

#include "actors/task.hpp"

#include "messages/error.hpp"
#include "tests/actors/fakes.hpp"
#include "tests/fixture.hpp"

#include <chrono>
#include <optional>

using namespace tasker;
using namespace tasker::testing;
using namespace std::chrono_literals;

namespace {

// -- test actors --------------------------------------------------------------

/// What the fake task manager received.
struct manager_log {
  std::vector<task_record> finished;
};

task_manager_actor::behavior_type
fake_manager(task_manager_actor::pointer, std::shared_ptr<manager_log> log) {
  auto unused = [] {
    return make_error(ec::internal, "not used in this test");
  };
  return {
    [unused](submit_atom,
             std::vector<task_record>&) -> caf::result<submit_reply> {
      return unused();
    },
    [unused](get_atom, std::string&, int64_t) -> caf::result<task_record> {
      return unused();
    },
    [unused](cancel_atom, std::string&) -> caf::result<task_record> {
      return unused();
    },
    [unused](retry_atom, std::string&) -> caf::result<task_record> {
      return unused();
    },
    [log](finished_atom, task_record& rec) {
      log->finished.push_back(std::move(rec));
    },
    [](forget_atom, std::vector<std::string>&) {},
    [](recover_atom) {},
    [](redispatch_atom, uint64_t, caf::actor&) {},
    [](rewrite_atom, caf::actor&) {},
    [](expire_atom) {},
    [](settle_atom, uint64_t) {},
    [](resend_atom, uint64_t) {},
    [](status_atom) { return manager_status{}; },
  };
}

// -- fixture ------------------------------------------------------------------

struct fixture : actor_fixture<> {
  std::shared_ptr<dispatcher_log> disp_log = std::make_shared<dispatcher_log>();
  std::shared_ptr<persistence_log> pers_log
    = std::make_shared<persistence_log>();
  std::shared_ptr<manager_log> mgr_log = std::make_shared<manager_log>();
  fake_persistence_actor pers;
  backoff_policy backoff{30, 30};
  task_deps_ptr deps;

  fixture() {
    auto disp = sys.spawn(fake_dispatcher, disp_log);
    pers = sys.spawn(fake_persistence, pers_log);
    auto mgr = sys.spawn(fake_manager, mgr_log);
    keep(disp);
    keep(pers);
    keep(mgr);
    auto d = std::make_shared<task_deps>();
    d->dispatcher = disp;
    d->persistence = pers;
    d->manager = mgr;
    d->backoff = backoff;
    d->tel = std::make_shared<telemetry>();
    deps = d;
    sched.run();
  }

  task_record record(task_status st = task_status::pending,
                     int32_t attempts = 0, int32_t max_attempts = 3) {
    auto rec = make_record(uuid, st, attempts);
    rec.max_attempts = max_attempts;
    rec.priority = 4;
    rec.timeout_ms = 5000;
    rec.created_at = now() - 1000;
    rec.updated_at = rec.created_at;
    rec.scheduled_at = rec.created_at;
    if (st == task_status::processing) {
      rec.worker_id = "node-1";
      rec.started_at = rec.created_at + 1;
    }
    return rec;
  }

  task_actor spawn_task(task_record rec) {
    auto t = sys.spawn(task, std::move(rec), deps);
    keep(t);
    sched.run();
    return t;
  }

  /// Attempt 1 (of a task that ran it alone) ended without a result: PENDING
  /// is written with `error`, attempt 2 is queued after the back-off, and a
  /// late result of attempt 1 changes nothing.
  void check_retry_after_lost_attempt(const task_actor& t,
                                      const std::string& error) {
    CAF_REQUIRE_EQUAL(pers_log->updates.size(), 2u);
    auto& u = pers_log->updates[1];
    CAF_CHECK_EQUAL(u.status, task_status::pending);
    CAF_CHECK_EQUAL(u.attempts, 1);
    CAF_CHECK_EQUAL(u.error, error);
    CAF_CHECK_GREATER(u.scheduled_at, u.updated_at);
    CAF_CHECK(pers_log->writes.empty());
    advance_time(30ms);
    sched.run();
    CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 2u);
    CAF_CHECK_EQUAL(disp_log->enqueued[1].attempt, 2);
    self->send(t, result_atom_v, outcome(1, true, "1"));
    sched.run();
    CAF_CHECK(pers_log->writes.empty());
    CAF_CHECK_EQUAL(get(t).status, task_status::pending);
  }

  /// A task whose attempt 1 succeeded, with its COMPLETED write sent, and
  /// how it ends (see `watch`).
  std::pair<task_actor, std::shared_ptr<std::optional<caf::error>>>
  succeed_first_attempt() {
    auto t = spawn_task(record());
    auto down = watch(t);
    start(t, 1);
    self->send(t, result_atom_v, outcome(1, true, "7"));
    sched.run();
    CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
    return {t, down};
  }

  /// The dispatcher as an untyped handle (how a restart announces it).
  caf::actor disp_handle() {
    return caf::actor_cast<caf::actor>(deps->dispatcher);
  }

  /// Reads the task as clients see it now.
  task_record get(const task_actor& t) {
    auto r = ask<task_record>(t, get_atom_v, int64_t{0});
    sched.run();
    if (!r->done || !r->value)
      CAF_FAIL("get_atom got no task_record");
    return *r->value;
  }

  task_outcome outcome(int32_t attempt, bool ok, std::string text) {
    task_outcome out;
    out.id = uuid;
    out.attempt = attempt;
    out.ok = ok;
    if (ok)
      out.result = std::move(text);
    else
      out.error = std::move(text);
    out.retryable = true;
    out.worker_id = "node-1/slot-0";
    return out;
  }

  /// Starts attempt `n` on node-1 (by dispatcher generation `gen`).
  void start(const task_actor& t, int32_t n, uint64_t gen = 0) {
    self->send(t, start_atom_v, n, std::string{"node-1"}, now(), gen);
    sched.run();
  }

  /// Watches an actor: the returned object holds its exit reason once it
  /// has terminated.
  std::shared_ptr<std::optional<caf::error>> watch(const task_actor& t) {
    auto out = std::make_shared<std::optional<caf::error>>();
    auto watcher = sys.spawn([=](caf::event_based_actor* self) {
      self->set_down_handler(
        [out](caf::down_msg& msg) { *out = std::move(msg.reason); });
      self->monitor(t);
      return caf::behavior{[](int32_t) {}};
    });
    keep(watcher);
    sched.run();
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(task_tests, fixture)

CAF_TEST(a pending task enqueues attempt 1) {
  auto rec = record();
  auto t = spawn_task(rec);
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 1u);
  auto& a = disp_log->enqueued[0];
  CAF_CHECK_EQUAL(a.id, uuid);
  CAF_CHECK_EQUAL(a.type, "sum");
  CAF_CHECK_EQUAL(a.params, R"({"a":1,"b":2})");
  CAF_CHECK_EQUAL(a.attempt, 1);
  CAF_CHECK_EQUAL(a.timeout_ms, 5000);
  CAF_CHECK_EQUAL(a.priority, 4);
  CAF_CHECK_EQUAL(a.scheduled_at, rec.scheduled_at);
  CAF_CHECK(pers_log->updates.empty());
  CAF_CHECK(pers_log->writes.empty());
  CAF_CHECK_EQUAL(get(t).status, task_status::pending);
}

CAF_TEST(a task that is not due yet waits for its time) {
  auto rec = record();
  rec.scheduled_at = now() + 30;
  spawn_task(rec);
  CAF_CHECK(disp_log->enqueued.empty());
  advance_time(29ms);
  sched.run();
  CAF_CHECK(disp_log->enqueued.empty());
  advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 1u);
  CAF_CHECK_EQUAL(disp_log->enqueued[0].attempt, 1);
}

CAF_TEST(a successful attempt is shown only once COMPLETED is written) {
  pers_log->hold = true;
  auto t = spawn_task(record());
  auto down = watch(t);
  start(t, 1);
  // The start is recorded without waiting.
  CAF_REQUIRE_EQUAL(pers_log->updates.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->updates[0].status, task_status::processing);
  CAF_CHECK_EQUAL(pers_log->updates[0].attempts, 1);
  CAF_CHECK_EQUAL(pers_log->updates[0].worker_id, "node-1");
  CAF_CHECK_EQUAL(get(t).status, task_status::processing);
  // A reader waits for a terminal state.
  auto waiter = ask<task_record>(t, get_atom_v, int64_t{60000});
  sched.run();
  CAF_CHECK(!waiter->done);
  self->send(t, result_atom_v, outcome(1, true, R"({"sum":3})"));
  sched.run();
  // COMPLETED is being written: nobody sees it yet.
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  auto& w = pers_log->writes[0];
  CAF_CHECK_EQUAL(w.status, task_status::completed);
  CAF_CHECK_EQUAL(w.result, R"({"sum":3})");
  CAF_CHECK_EQUAL(w.attempts, 1);
  CAF_CHECK_EQUAL(w.worker_id, "node-1/slot-0");
  CAF_CHECK_NOT_EQUAL(w.completed_at, 0);
  CAF_CHECK(!waiter->done);
  CAF_CHECK_EQUAL(get(t).status, task_status::processing);
  CAF_CHECK(mgr_log->finished.empty());
  CAF_CHECK(!*down);
  // The write commits.
  self->send(pers, ok_atom_v);
  sched.run();
  CAF_REQUIRE(waiter->done);
  CAF_REQUIRE(waiter->value);
  CAF_CHECK_EQUAL(waiter->value->status, task_status::completed);
  CAF_CHECK_EQUAL(waiter->value->result, R"({"sum":3})");
  CAF_REQUIRE_EQUAL(mgr_log->finished.size(), 1u);
  CAF_CHECK_EQUAL(mgr_log->finished[0], w);
  // The task actor has left, normally.
  CAF_REQUIRE(*down);
  CAF_CHECK(!**down);
}

CAF_TEST(a reader wait ends after wait_ms with the current state) {
  auto t = spawn_task(record());
  auto waiter = ask<task_record>(t, get_atom_v, int64_t{250});
  sched.run();
  CAF_CHECK(!waiter->done);
  advance_time(249ms);
  sched.run();
  CAF_CHECK(!waiter->done);
  advance_time(1ms);
  sched.run();
  CAF_REQUIRE(waiter->done);
  CAF_REQUIRE(waiter->value);
  CAF_CHECK_EQUAL(waiter->value->status, task_status::pending);
}

CAF_TEST(a retryable failure enqueues the next attempt after the back-off) {
  auto t = spawn_task(record());
  start(t, 1);
  auto before = now();
  self->send(t, result_atom_v, outcome(1, false, "flaky"));
  sched.run();
  // PENDING again, recorded without a commit wait; not re-queued yet.
  CAF_REQUIRE_EQUAL(pers_log->updates.size(), 2u);
  auto& u = pers_log->updates[1];
  CAF_CHECK_EQUAL(u.status, task_status::pending);
  CAF_CHECK_EQUAL(u.error, "flaky");
  CAF_CHECK_EQUAL(u.attempts, 1);
  // Back-off of 30 ms with jitter: 22 to 30 ms from now.
  CAF_CHECK_GREATER_OR_EQUAL(u.scheduled_at, before + 22);
  CAF_CHECK_LESS_OR_EQUAL(u.scheduled_at, now() + 30);
  CAF_CHECK(pers_log->writes.empty());
  auto shown = get(t);
  CAF_CHECK_EQUAL(shown.status, task_status::pending);
  CAF_CHECK_EQUAL(shown.error, "flaky");
  CAF_CHECK_EQUAL(disp_log->enqueued.size(), 1u);
  // Not before the back-off has passed.
  advance_time(21ms);
  sched.run();
  CAF_CHECK_EQUAL(disp_log->enqueued.size(), 1u);
  advance_time(9ms);
  sched.run();
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 2u);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].attempt, 2);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].scheduled_at, u.scheduled_at);
  // Attempt 2 succeeds.
  start(t, 2);
  self->send(t, result_atom_v, outcome(2, true, "42"));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::completed);
  CAF_CHECK_EQUAL(pers_log->writes[0].attempts, 2);
  CAF_CHECK_EQUAL(pers_log->writes[0].error, "");
  CAF_REQUIRE_EQUAL(mgr_log->finished.size(), 1u);
}

CAF_TEST(the last failed attempt makes the task FAILED) {
  auto t = spawn_task(record(task_status::pending, 0, 1));
  start(t, 1);
  self->send(t, result_atom_v, outcome(1, false, "no luck"));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::failed);
  CAF_CHECK_EQUAL(pers_log->writes[0].error, "no luck");
  CAF_REQUIRE_EQUAL(mgr_log->finished.size(), 1u);
  CAF_CHECK_EQUAL(mgr_log->finished[0].status, task_status::failed);
  CAF_CHECK_EQUAL(disp_log->enqueued.size(), 1u);
}

CAF_TEST(a result that is not JSON fails the task without retry) {
  auto t = spawn_task(record());
  start(t, 1);
  self->send(t, result_atom_v, outcome(1, true, "{not json"));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::failed);
  CAF_CHECK_EQUAL(pers_log->writes[0].error,
                  "the handler returned a result that is not JSON");
  CAF_CHECK_EQUAL(pers_log->writes[0].result, "");
}

CAF_TEST(a timeout with attempts left schedules a retry) {
  auto t = spawn_task(record());
  start(t, 1);
  // A timeout for another attempt is ignored.
  self->send(t, timeout_atom_v, int32_t{2});
  sched.run();
  CAF_CHECK_EQUAL(pers_log->updates.size(), 1u);
  self->send(t, timeout_atom_v, int32_t{1});
  sched.run();
  check_retry_after_lost_attempt(t, "attempt 1 timed out after 5000 ms");
}

CAF_TEST(a timeout of the last attempt makes the task FAILED) {
  auto t = spawn_task(record(task_status::pending, 0, 1));
  auto down = watch(t);
  start(t, 1);
  self->send(t, timeout_atom_v, int32_t{1});
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::failed);
  CAF_CHECK_EQUAL(pers_log->writes[0].error,
                  "attempt 1 timed out after 5000 ms");
  CAF_REQUIRE_EQUAL(mgr_log->finished.size(), 1u);
  CAF_REQUIRE(*down);
  CAF_CHECK(!**down);
}

CAF_TEST(cancel answers CANCELLED only after the write commits) {
  pers_log->hold = true;
  auto t = spawn_task(record());
  auto down = watch(t);
  auto cancel = ask<task_record>(t, cancel_atom_v);
  sched.run();
  // The queued attempt 1 is withdrawn.
  CAF_REQUIRE_EQUAL(disp_log->cancelled.size(), 1u);
  CAF_CHECK_EQUAL(disp_log->cancelled[0].first, uuid);
  CAF_CHECK_EQUAL(disp_log->cancelled[0].second, 1);
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::cancelled);
  CAF_CHECK_EQUAL(pers_log->writes[0].error, "cancelled by request");
  CAF_CHECK(!cancel->done);
  CAF_CHECK_EQUAL(get(t).status, task_status::pending);
  // A second cancel while the first is being written is a conflict.
  auto again = ask<task_record>(t, cancel_atom_v);
  sched.run();
  CAF_REQUIRE(again->done);
  CAF_CHECK_EQUAL(code_of(again->err), ec::conflict);
  // A result arriving now changes nothing.
  self->send(t, result_atom_v, outcome(1, true, "1"));
  sched.run();
  CAF_CHECK_EQUAL(pers_log->writes.size(), 1u);
  self->send(pers, ok_atom_v);
  sched.run();
  CAF_REQUIRE(cancel->done);
  CAF_REQUIRE(cancel->value);
  CAF_CHECK_EQUAL(cancel->value->status, task_status::cancelled);
  CAF_CHECK_EQUAL(cancel->value->error, "cancelled by request");
  CAF_CHECK_NOT_EQUAL(cancel->value->completed_at, 0);
  CAF_REQUIRE_EQUAL(mgr_log->finished.size(), 1u);
  CAF_CHECK_EQUAL(mgr_log->finished[0].status, task_status::cancelled);
  CAF_REQUIRE(*down);
  CAF_CHECK(!**down);
}

CAF_TEST(cancel of a running task withdraws the running attempt) {
  auto t = spawn_task(record(task_status::processing, 2, 3));
  // A processing task is not enqueued again.
  CAF_CHECK(disp_log->enqueued.empty());
  auto cancel = ask<task_record>(t, cancel_atom_v);
  sched.run();
  CAF_REQUIRE_EQUAL(disp_log->cancelled.size(), 1u);
  CAF_CHECK_EQUAL(disp_log->cancelled[0].second, 2);
  CAF_REQUIRE(cancel->done);
  CAF_REQUIRE(cancel->value);
  CAF_CHECK_EQUAL(cancel->value->status, task_status::cancelled);
}

CAF_TEST(a failed terminal write keeps the last durable state visible) {
  pers_log->fail = make_error(ec::unavailable, "database down");
  auto t = spawn_task(record());
  auto down = watch(t);
  start(t, 1);
  auto waiter = ask<task_record>(t, get_atom_v, int64_t{60000});
  sched.run();
  self->send(t, result_atom_v, outcome(1, true, "7"));
  sched.run();
  CAF_REQUIRE(waiter->done);
  CAF_REQUIRE(waiter->value);
  // Readers never saw COMPLETED: it was not stored.
  CAF_CHECK_EQUAL(waiter->value->status, task_status::processing);
  CAF_CHECK(mgr_log->finished.empty());
  // The actor ends with the error; its supervisor decides what follows.
  CAF_REQUIRE(*down);
  CAF_CHECK_EQUAL(code_of(**down), ec::unavailable);
}

CAF_TEST(a restarted persistence actor gets the state of a running task again) {
  auto t = spawn_task(record());
  start(t, 1);
  CAF_REQUIRE_EQUAL(pers_log->updates.size(), 1u);
  self->send(t, rewrite_atom_v, caf::actor_cast<caf::actor>(pers));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->updates.size(), 2u);
  CAF_CHECK_EQUAL(pers_log->updates[1], pers_log->updates[0]);
  CAF_CHECK(pers_log->writes.empty());
}

CAF_TEST(a terminal write lost with the persistence actor is sent again) {
  pers_log->hold = true;
  auto [t, down] = succeed_first_attempt();
  // The write died with the persistence actor (held, never answered); the
  // restarted one gets it again.
  pers_log->held.clear();
  self->send(t, rewrite_atom_v, caf::actor_cast<caf::actor>(pers));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 2u);
  CAF_CHECK_EQUAL(pers_log->writes[1], pers_log->writes[0]);
  CAF_CHECK(!*down);
  self->send(pers, ok_atom_v);
  sched.run();
  CAF_REQUIRE_EQUAL(mgr_log->finished.size(), 1u);
  CAF_CHECK_EQUAL(mgr_log->finished[0].status, task_status::completed);
  CAF_REQUIRE(*down);
  CAF_CHECK(!**down);
}

CAF_TEST(a terminal write bounced by a dead persistence actor is retried) {
  // (What a request that reached a persistence actor just as it died gets.)
  pers_log->fail = caf::make_error(caf::sec::request_receiver_down);
  auto [t, down] = succeed_first_attempt();
  // Not given up: the task waits and writes again.
  CAF_CHECK(!*down);
  pers_log->fail = caf::error{};
  advance_time(100ms);
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 2u);
  CAF_REQUIRE_EQUAL(mgr_log->finished.size(), 1u);
  CAF_REQUIRE(*down);
  CAF_CHECK(!**down);
}

CAF_TEST(a stale result or start is ignored) {
  auto t = spawn_task(record(task_status::processing, 2, 3));
  // Attempt 1 ended long ago; its result must not complete attempt 2.
  self->send(t, result_atom_v, outcome(1, true, R"({"old":true})"));
  sched.run();
  CAF_CHECK(pers_log->writes.empty());
  CAF_CHECK(pers_log->updates.empty());
  auto shown = get(t);
  CAF_CHECK_EQUAL(shown.status, task_status::processing);
  CAF_CHECK_EQUAL(shown.attempts, 2);
  // A start for an attempt other than the next one is ignored too.
  start(t, 2);
  start(t, 3);
  CAF_CHECK(pers_log->updates.empty());
  // The current attempt's result counts.
  self->send(t, result_atom_v, outcome(2, true, R"({"new":true})"));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::completed);
  CAF_CHECK_EQUAL(pers_log->writes[0].result, R"({"new":true})");
}

CAF_TEST(progress of the running attempt is shown until it ends) {
  pers_log->hold = true;
  auto t = spawn_task(record());
  start(t, 1);
  self->send(t, progress_atom_v, int32_t{1}, std::string{R"({"done":1})"});
  self->send(t, progress_atom_v, int32_t{2}, std::string{R"({"done":9})"});
  sched.run();
  CAF_CHECK_EQUAL(get(t).progress, R"({"done":1})");
  // Progress is never written: the start was the last update.
  CAF_REQUIRE_EQUAL(pers_log->updates.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->updates[0].progress, "");
  self->send(t, result_atom_v, outcome(1, true, R"({"sum":3})"));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].progress, "");
  self->send(pers, ok_atom_v);
  sched.run();
}

CAF_TEST(after a dispatcher restart a queued attempt is queued again) {
  auto t = spawn_task(record());
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 1u);
  self->send(t, redispatch_atom_v, uint64_t{1}, disp_handle());
  sched.run();
  // The same attempt again (the new dispatcher ignores it if it already has
  // it); nothing written, no attempt counted.
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 2u);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].attempt, 1);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].id, disp_log->enqueued[0].id);
  CAF_CHECK(pers_log->updates.empty());
  CAF_CHECK_EQUAL(get(t).status, task_status::pending);
}

CAF_TEST(after a dispatcher restart an attempt it had started counts as lost) {
  auto t = spawn_task(record());
  start(t, 1, 0);
  CAF_REQUIRE_EQUAL(pers_log->updates.size(), 1u);
  self->send(t, redispatch_atom_v, uint64_t{1}, disp_handle());
  sched.run();
  check_retry_after_lost_attempt(t, "the dispatcher restarted during attempt 1");
  // The same restart announced again changes nothing either.
  self->send(t, redispatch_atom_v, uint64_t{1}, disp_handle());
  sched.run();
  CAF_CHECK_EQUAL(pers_log->updates.size(), 2u);
}

CAF_TEST(an attempt started by the new dispatcher survives its announcement) {
  auto t = spawn_task(record());
  // The new dispatcher (generation 1) started attempt 1 before the task
  // heard of the restart: that attempt is alive.
  start(t, 1, 1);
  self->send(t, redispatch_atom_v, uint64_t{1}, disp_handle());
  sched.run();
  CAF_CHECK_EQUAL(pers_log->updates.size(), 1u);
  CAF_CHECK_EQUAL(disp_log->enqueued.size(), 1u);
  CAF_CHECK_EQUAL(get(t).status, task_status::processing);
  self->send(t, result_atom_v, outcome(1, true, "7"));
  sched.run();
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::completed);
  CAF_CHECK_EQUAL(pers_log->writes[0].attempts, 1);
}

CAF_TEST(the first messages flow as expected) {
  // The same start as above, message by message.
  auto t = sys.spawn(task, record(), deps);
  keep(t);
  sched.run_once(); // initializes the task actor
  auto disp = deps->dispatcher;
  expect((enqueue_atom, task_assignment, task_actor),
         from(t).to(disp).with(_, _, _));
  inject((start_atom, int32_t, std::string, millis, uint64_t),
         from(self).to(t).with(start_atom_v, 1, std::string{"node-1"},
                               now(), uint64_t{0}));
  expect((update_atom, task_record), from(t).to(pers).with(_, _));
  CAF_CHECK_EQUAL(pers_log->updates.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
