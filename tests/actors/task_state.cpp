// Tests of the task state machine: transitions, back-off and the apply_*
// functions the task actor is built on.
#define CAF_SUITE actors.task_state

#include "actors/task_state.hpp"

#include <caf/test/unit_test.hpp>

#include <initializer_list>
#include <map>
#include <utility>

using namespace tasker;

namespace {

constexpr millis t0 = 1'700'000'000'000;

task_record pending_task() {
  task_record rec;
  rec.id = "5b0c8a4e-6f0e-4d8e-9a57-1f3c2b9d0e11";
  rec.type = "sum";
  rec.params = R"({"a":1,"b":2})";
  rec.max_attempts = 3;
  rec.created_at = t0;
  rec.updated_at = t0;
  rec.scheduled_at = t0;
  return rec;
}

task_record processing_task(int32_t attempts, int32_t max_attempts = 3) {
  auto rec = pending_task();
  rec.status = task_status::processing;
  rec.attempts = attempts;
  rec.max_attempts = max_attempts;
  rec.worker_id = "local/slot-1";
  rec.started_at = t0 + 10;
  return rec;
}

task_outcome failure(int32_t attempt, bool retryable = true) {
  task_outcome out;
  out.id = pending_task().id;
  out.attempt = attempt;
  out.ok = false;
  out.error = "boom";
  out.retryable = retryable;
  return out;
}

task_outcome success(int32_t attempt, std::string result) {
  task_outcome out;
  out.id = pending_task().id;
  out.attempt = attempt;
  out.ok = true;
  out.result = std::move(result);
  return out;
}

std::string show(std::optional<task_status> x) {
  return x ? to_string(*x) : "refused";
}

/// Checks that `apply` refuses processing_task(1) put into each of `states`
/// and leaves it unchanged.
template <class Apply>
void check_refused(std::initializer_list<task_status> states, Apply apply) {
  for (auto st : states) {
    CAF_MESSAGE("status " << to_string(st));
    auto rec = processing_task(1);
    rec.status = st;
    auto before = rec;
    CAF_CHECK(!apply(rec));
    CAF_CHECK(rec == before);
  }
}

} // namespace

CAF_TEST(next_status allows exactly the transitions of the diagram) {
  using s = task_status;
  using e = task_event;
  // Every allowed (from, event) pair; everything else must be refused.
  std::map<std::pair<s, e>, s> allowed{
    {{s::pending, e::dispatched}, s::processing},
    {{s::processing, e::succeeded}, s::completed},
    {{s::processing, e::retry_scheduled}, s::pending},
    {{s::processing, e::failed}, s::failed},
    {{s::pending, e::cancelled}, s::cancelled},
    {{s::processing, e::cancelled}, s::cancelled},
    {{s::failed, e::retried}, s::pending},
    {{s::cancelled, e::retried}, s::pending},
  };
  size_t refused = 0;
  for (auto from : {s::pending, s::processing, s::completed, s::failed,
                    s::cancelled}) {
    for (auto ev : {e::dispatched, e::succeeded, e::retry_scheduled, e::failed,
                    e::cancelled, e::retried}) {
      auto got = next_status(from, ev);
      auto i = allowed.find({from, ev});
      std::optional<s> want;
      if (i != allowed.end())
        want = i->second;
      CAF_MESSAGE("from " << to_string(from) << " event "
                          << static_cast<int>(ev));
      CAF_CHECK_EQUAL(show(got), show(want));
      if (!want)
        ++refused;
    }
  }
  CAF_CHECK_EQUAL(refused, 30u - allowed.size());
}

CAF_TEST(terminal states refuse every event but retried) {
  for (auto from : {task_status::completed, task_status::failed,
                    task_status::cancelled})
    for (auto ev : {task_event::dispatched, task_event::succeeded,
                    task_event::retry_scheduled, task_event::failed,
                    task_event::cancelled})
      CAF_CHECK(!next_status(from, ev));
  // COMPLETED is final even for a retry.
  CAF_CHECK(!next_status(task_status::completed, task_event::retried));
}

CAF_TEST(backoff doubles per attempt from the base) {
  backoff_policy p{1000, 300000};
  // unit_random 0 gives the lowest jitter factor, 0.75.
  CAF_CHECK_EQUAL(backoff_ms(p, 1, 0.0), 750);
  CAF_CHECK_EQUAL(backoff_ms(p, 2, 0.0), 1500);
  CAF_CHECK_EQUAL(backoff_ms(p, 3, 0.0), 3000);
  CAF_CHECK_EQUAL(backoff_ms(p, 4, 0.0), 6000);
  // Attempt 0 (or less) is treated like the first.
  CAF_CHECK_EQUAL(backoff_ms(p, 0, 0.0), 750);
  // Top of the jitter range: just under the undamped value.
  CAF_CHECK_EQUAL(backoff_ms(p, 1, 0.5), 875);
  CAF_CHECK_LESS_OR_EQUAL(backoff_ms(p, 3, 0.999999), 4000);
  CAF_CHECK_GREATER(backoff_ms(p, 3, 0.999999), 3990);
}

CAF_TEST(backoff is capped at max_ms) {
  backoff_policy p{1000, 300000};
  // 2^9 * 1000 = 512000 > 300000.
  CAF_CHECK_EQUAL(backoff_ms(p, 10, 0.0), 225000);
  CAF_CHECK_LESS_OR_EQUAL(backoff_ms(p, 10, 0.999999), 300000);
  CAF_CHECK_GREATER(backoff_ms(p, 10, 0.999999), 299000);
  // Huge attempt numbers neither overflow nor exceed the cap.
  for (int32_t attempt : {30, 62, 63, 64, 1000, INT32_MAX}) {
    auto x = backoff_ms(p, attempt, 0.0);
    CAF_CHECK_EQUAL(x, 225000);
  }
}

CAF_TEST(backoff jitter stays within 75 to 100 percent) {
  backoff_policy p{400, 10000};
  for (int32_t attempt = 1; attempt <= 12; ++attempt) {
    int64_t undamped = std::min<int64_t>(10000, int64_t{400} << (attempt - 1));
    int64_t prev = 0;
    for (double u = 0.0; u < 1.0; u += 0.0625) {
      auto x = backoff_ms(p, attempt, u);
      CAF_CHECK_GREATER_OR_EQUAL(x, undamped * 3 / 4);
      CAF_CHECK_LESS_OR_EQUAL(x, undamped);
      // More randomness never means a shorter wait.
      CAF_CHECK_GREATER_OR_EQUAL(x, prev);
      prev = x;
    }
  }
  // Values outside [0, 1) are clamped rather than trusted.
  CAF_CHECK_EQUAL(backoff_ms(p, 1, -5.0), 300);
  CAF_CHECK_EQUAL(backoff_ms(p, 1, 7.0), 400);
  // Never 0, even with a 1 ms base.
  CAF_CHECK_EQUAL(backoff_ms(backoff_policy{1, 1}, 1, 0.0), 1);
}

CAF_TEST(apply_start starts only the next attempt of a pending task) {
  auto rec = pending_task();
  auto before = rec;
  // Attempt 2 is not the next one.
  CAF_CHECK(!apply_start(rec, 2, "local/slot-1", t0 + 5));
  CAF_CHECK(rec == before);
  CAF_CHECK(apply_start(rec, 1, "local/slot-1", t0 + 5));
  CAF_CHECK_EQUAL(rec.status, task_status::processing);
  CAF_CHECK_EQUAL(rec.attempts, 1);
  CAF_CHECK_EQUAL(rec.worker_id, "local/slot-1");
  CAF_CHECK_EQUAL(rec.started_at, t0 + 5);
  CAF_CHECK_EQUAL(rec.updated_at, t0 + 5);
  // Started twice: refused, nothing changes.
  auto started = rec;
  CAF_CHECK(!apply_start(rec, 2, "local/slot-2", t0 + 6));
  CAF_CHECK(rec == started);
  // Terminal tasks cannot start.
  for (auto st : {task_status::completed, task_status::failed,
                  task_status::cancelled}) {
    auto done = pending_task();
    done.status = st;
    CAF_CHECK(!apply_start(done, 1, "w", t0));
    CAF_CHECK_EQUAL(done.status, st);
  }
}

CAF_TEST(apply_outcome success completes the task) {
  auto rec = processing_task(1);
  rec.error = "previous attempt's error";
  CAF_CHECK(apply_outcome(rec, success(1, R"({"sum":3})"), {}, 0.5, t0 + 100));
  CAF_CHECK_EQUAL(rec.status, task_status::completed);
  CAF_CHECK_EQUAL(rec.result, R"({"sum":3})");
  CAF_CHECK_EQUAL(rec.error, "");
  CAF_CHECK_EQUAL(rec.completed_at, t0 + 100);
  CAF_CHECK_EQUAL(rec.updated_at, t0 + 100);
  CAF_CHECK_EQUAL(rec.attempts, 1);
  // An empty result is stored as JSON null.
  auto rec2 = processing_task(1);
  CAF_CHECK(apply_outcome(rec2, success(1, ""), {}, 0.5, t0 + 100));
  CAF_CHECK_EQUAL(rec2.result, "null");
}

CAF_TEST(apply_outcome retryable failure with attempts left backs off) {
  backoff_policy p{1000, 300000};
  auto rec = processing_task(1, 3);
  auto now = t0 + 200;
  CAF_CHECK(apply_outcome(rec, failure(1), p, 0.0, now));
  CAF_CHECK_EQUAL(rec.status, task_status::pending);
  CAF_CHECK_EQUAL(rec.error, "boom");
  CAF_CHECK_EQUAL(rec.attempts, 1);
  CAF_CHECK_EQUAL(rec.scheduled_at, now + 750);
  CAF_CHECK_GREATER(rec.scheduled_at, now);
  CAF_CHECK_EQUAL(rec.completed_at, 0);
  CAF_CHECK_EQUAL(rec.updated_at, now);
  // The second attempt fails too: the back-off doubles.
  CAF_CHECK(apply_start(rec, 2, "w", now + 800));
  CAF_CHECK(apply_outcome(rec, failure(2), p, 0.0, now + 900));
  CAF_CHECK_EQUAL(rec.status, task_status::pending);
  CAF_CHECK_EQUAL(rec.scheduled_at, now + 900 + 1500);
}

CAF_TEST(apply_outcome fails when attempts are exhausted or not retryable) {
  auto rec = processing_task(3, 3);
  CAF_CHECK(apply_outcome(rec, failure(3), {}, 0.5, t0 + 300));
  CAF_CHECK_EQUAL(rec.status, task_status::failed);
  CAF_CHECK_EQUAL(rec.error, "boom");
  CAF_CHECK_EQUAL(rec.completed_at, t0 + 300);
  auto rec2 = processing_task(1, 3);
  CAF_CHECK(apply_outcome(rec2, failure(1, false), {}, 0.5, t0 + 300));
  CAF_CHECK_EQUAL(rec2.status, task_status::failed);
  CAF_CHECK_EQUAL(rec2.attempts, 1);
}

CAF_TEST(apply_outcome refuses stale attempts and tasks not processing) {
  auto rec = processing_task(2, 3);
  auto before = rec;
  CAF_CHECK(!apply_outcome(rec, success(1, "{}"), {}, 0.5, t0 + 400));
  CAF_CHECK(!apply_outcome(rec, failure(1), {}, 0.5, t0 + 400));
  CAF_CHECK(!apply_outcome(rec, failure(3), {}, 0.5, t0 + 400));
  CAF_CHECK(rec == before);
  check_refused({task_status::pending, task_status::completed,
                 task_status::failed, task_status::cancelled},
                [](task_record& rec) {
                  return apply_outcome(rec, success(1, "{}"), {}, 0.5,
                                       t0 + 400);
                });
}

CAF_TEST(apply_cancel cancels pending and processing tasks only) {
  for (auto st : {task_status::pending, task_status::processing}) {
    auto rec = processing_task(1);
    rec.status = st;
    CAF_CHECK(apply_cancel(rec, t0 + 500));
    CAF_CHECK_EQUAL(rec.status, task_status::cancelled);
    CAF_CHECK_EQUAL(rec.completed_at, t0 + 500);
    CAF_CHECK_EQUAL(rec.updated_at, t0 + 500);
  }
  check_refused(
    {task_status::completed, task_status::failed, task_status::cancelled},
    [](task_record& rec) { return apply_cancel(rec, t0 + 500); });
}

CAF_TEST(apply_retry restarts failed and cancelled tasks with a fresh budget) {
  for (auto st : {task_status::failed, task_status::cancelled}) {
    auto rec = processing_task(3, 3);
    rec.status = st;
    rec.result = "null";
    rec.completed_at = t0 + 50;
    CAF_CHECK(apply_retry(rec, t0 + 600));
    CAF_CHECK_EQUAL(rec.status, task_status::pending);
    CAF_CHECK_EQUAL(rec.attempts, 0);
    CAF_CHECK_EQUAL(rec.max_attempts, 3);
    CAF_CHECK_EQUAL(rec.result, "");
    CAF_CHECK_EQUAL(rec.worker_id, "");
    CAF_CHECK_EQUAL(rec.started_at, 0);
    CAF_CHECK_EQUAL(rec.completed_at, 0);
    CAF_CHECK_EQUAL(rec.scheduled_at, t0 + 600);
    CAF_CHECK_EQUAL(rec.updated_at, t0 + 600);
    // The retried task can start its first attempt again.
    CAF_CHECK(apply_start(rec, 1, "w", t0 + 601));
  }
  check_refused(
    {task_status::pending, task_status::processing, task_status::completed},
    [](task_record& rec) { return apply_retry(rec, t0 + 600); });
}

CAF_TEST(apply_recovery counts the lost attempt) {
  // Attempts left: back to PENDING, due now.
  auto rec = processing_task(1, 3);
  CAF_CHECK(apply_recovery(rec, t0 + 700));
  CAF_CHECK_EQUAL(rec.status, task_status::pending);
  CAF_CHECK_EQUAL(rec.attempts, 1);
  CAF_CHECK_EQUAL(rec.scheduled_at, t0 + 700);
  CAF_CHECK_EQUAL(rec.updated_at, t0 + 700);
  CAF_CHECK_NOT_EQUAL(rec.error.find("attempt 1 was lost"), std::string::npos);
  // The next attempt is number 2.
  CAF_CHECK(!apply_start(rec, 1, "w", t0 + 701));
  CAF_CHECK(apply_start(rec, 2, "w", t0 + 701));
  // No attempts left: FAILED.
  auto last = processing_task(3, 3);
  CAF_CHECK(apply_recovery(last, t0 + 700));
  CAF_CHECK_EQUAL(last.status, task_status::failed);
  CAF_CHECK_EQUAL(last.completed_at, t0 + 700);
  // Tasks that were not running are left alone.
  check_refused({task_status::pending, task_status::completed,
                 task_status::failed, task_status::cancelled},
                [](task_record& rec) { return apply_recovery(rec, t0 + 700); });
}

CAF_TEST(every transition counts in seq and a refused one does not) {
  auto rec = pending_task();
  CAF_CHECK_EQUAL(rec.seq, 0);
  CAF_REQUIRE(apply_start(rec, 1, "local/slot-1", t0 + 1));
  CAF_CHECK_EQUAL(rec.seq, 1);
  // A start of the wrong attempt, an outcome of another attempt: no change.
  CAF_CHECK(!apply_start(rec, 1, "local/slot-1", t0 + 2));
  task_outcome other{rec.id, 2, false, "", "boom", true, "", 0, 0};
  CAF_CHECK(!apply_outcome(rec, other, {}, 0.5, t0 + 2));
  CAF_CHECK_EQUAL(rec.seq, 1);
  task_outcome failed{rec.id, 1, false, "", "boom", true, "", 0, 0};
  CAF_REQUIRE(apply_outcome(rec, failed, {}, 0.5, t0 + 3));
  CAF_CHECK_EQUAL(rec.seq, 2);
  CAF_REQUIRE(apply_cancel(rec, t0 + 4));
  CAF_CHECK_EQUAL(rec.seq, 3);
  CAF_CHECK(!apply_cancel(rec, t0 + 5));
  CAF_REQUIRE(apply_retry(rec, t0 + 6));
  CAF_CHECK_EQUAL(rec.seq, 4);
  CAF_REQUIRE(apply_start(rec, 1, "local/slot-2", t0 + 7));
  CAF_CHECK(apply_recovery(rec, t0 + 8));
  CAF_CHECK_EQUAL(rec.seq, 6);
  CAF_CHECK(!apply_recovery(rec, t0 + 9));
  CAF_CHECK_EQUAL(rec.seq, 6);
}
