// Tests of the dispatcher's queue of attempts, without actors.
#define CAF_SUITE actors.ready_queue

#include "actors/ready_queue.hpp"

#include "tests/fixture.hpp"

using namespace tasker;

namespace {

task_assignment attempt(const std::string& id, const std::string& type,
                        int32_t priority = 0, millis at = 0, int32_t n = 1) {
  task_assignment a;
  a.id = id;
  a.type = type;
  a.priority = priority;
  a.scheduled_at = at;
  a.attempt = n;
  return a;
}

auto any = [](const std::string&) { return true; };

/// Takes out every attempt `can_run` lets through, in order.
template <class Predicate>
std::vector<std::string> drain(ready_queue<int>& q, Predicate can_run) {
  std::vector<std::string> out;
  while (auto type = q.best_type(can_run))
    out.push_back(q.pop(*type).assignment.id);
  return out;
}

} // namespace

CAF_TEST(priority then scheduled time then arrival across types) {
  ready_queue<int> q;
  q.push(attempt("late", "sum", 0, 20), 1);
  q.push(attempt("early", "sleep", 0, 10), 2);
  q.push(attempt("urgent", "sum", 9, 30), 3);
  q.push(attempt("second", "sleep", 0, 10), 4);
  CAF_CHECK_EQUAL(q.size(), 4u);
  CAF_CHECK_EQUAL(drain(q, any), (std::vector<std::string>{
                                   "urgent", "early", "second", "late"}));
  CAF_CHECK_EQUAL(q.size(), 0u);
}

CAF_TEST(only types some node runs are taken) {
  ready_queue<int> q;
  q.push(attempt("a", "sleep", 9), 1);
  q.push(attempt("b", "sum"), 2);
  auto sum_only = [](const std::string& type) { return type == "sum"; };
  CAF_CHECK_EQUAL(drain(q, sum_only), std::vector<std::string>{"b"});
  CAF_CHECK_EQUAL(q.size(), 1u);
  CAF_CHECK(!q.best_type([](const std::string&) { return false; }));
}

CAF_TEST(a newer attempt replaces the queued one and remove needs its number) {
  ready_queue<int> q;
  q.push(attempt("t", "sum", 0, 0, 1), 1);
  q.push(attempt("t", "sum", 0, 0, 2), 7);
  CAF_CHECK_EQUAL(q.size(), 1u);
  CAF_CHECK(!q.remove("t", 1));
  auto type = q.best_type(any);
  CAF_REQUIRE(type);
  auto e = q.pop(*type);
  CAF_CHECK_EQUAL(e.assignment.attempt, 2);
  CAF_CHECK_EQUAL(e.owner, 7);
  q.push(attempt("u", "sum"), 1);
  CAF_CHECK(q.remove("u", 1));
  CAF_CHECK_EQUAL(q.size(), 0u);
  CAF_CHECK(!q.best_type(any));
}
