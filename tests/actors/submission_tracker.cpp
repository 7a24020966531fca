// Tests of the task manager's submission protocol, without actors.
#define CAF_SUITE actors.submission_tracker

#include "actors/submission_tracker.hpp"

#include <caf/test/unit_test.hpp>

using namespace tasker;

namespace {

using tracker = submission_tracker<std::string>;
using ids = tracker::ids;

struct fixture {
  tracker subs;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(submission_tracker_tests, fixture)

CAF_TEST(admission counts due tasks against max_pending) {
  auto a = subs.admit({"a1", "a2", "a3"}, 3, 5, 10, "client a");
  CAF_REQUIRE(a);
  CAF_CHECK_EQUAL(subs.admitting(), 3u);
  // 5 live + 3 admitting + 3 would be 11 > 10.
  CAF_CHECK(!subs.admit({"b1", "b2", "b3"}, 3, 5, 10, "client b"));
  CAF_CHECK(!subs.take_client(*a + 1));
  // Tasks due beyond the horizon are not held and do not count.
  auto c = subs.admit({"c1", "c2", "c3"}, 0, 5, 10, "client c");
  CAF_REQUIRE(c);
  CAF_CHECK_NOT_EQUAL(*a, *c);
  CAF_CHECK_EQUAL(subs.admitting(), 3u);
  // Once a's insert answers, its tasks are live (the caller counts them).
  CAF_CHECK_EQUAL(subs.answered(*a), (ids{"a1", "a2", "a3"}));
  CAF_CHECK_EQUAL(subs.admitting(), 0u);
  CAF_CHECK(subs.admit({"d1", "d2"}, 2, 8, 10, "client d"));
}

CAF_TEST(an insert answers once and its client is answered once) {
  auto a = *subs.admit({"a1"}, 1, 0, 10, "client a");
  CAF_CHECK_EQUAL(subs.inserting(), std::vector<uint64_t>{a});
  CAF_CHECK_EQUAL(subs.answered(a), ids{"a1"});
  CAF_CHECK(!subs.answered(a));
  CAF_CHECK(subs.inserting().empty());
  CAF_CHECK_EQUAL(subs.take_client(a), std::string{"client a"});
  CAF_CHECK(!subs.take_client(a));
  // A timeout after the answer changes nothing.
  CAF_CHECK(!subs.expire(a));
  CAF_CHECK_EQUAL(subs.timeouts(), 0u);
}

CAF_TEST(a timed out client is answered at once and the commit still applies) {
  auto a = *subs.admit({"a1", "a2"}, 2, 0, 10, "client a");
  CAF_CHECK_EQUAL(subs.expire(a), std::string{"client a"});
  CAF_CHECK_EQUAL(subs.timeouts(), 1u);
  CAF_CHECK(!subs.take_client(a));
  CAF_CHECK_EQUAL(subs.admitting(), 2u);
  CAF_CHECK_EQUAL(subs.answered(a), (ids{"a1", "a2"}));
  CAF_CHECK_EQUAL(subs.admitting(), 0u);
}

CAF_TEST(deadlines are swept in order and answer only clients still waiting) {
  auto a = *subs.admit({"a1"}, 1, 0, 10, "client a");
  auto b = *subs.admit({"b1"}, 1, 0, 10, "client b");
  auto c = *subs.admit({"c1"}, 1, 0, 10, "client c");
  subs.expire_at(a, 100);
  subs.expire_at(b, 200);
  subs.expire_at(c, 300);
  CAF_CHECK(subs.expiring());
  CAF_CHECK(subs.expire_due(99).empty());
  // b's insert answers in time: its client is taken by the caller.
  CAF_CHECK_EQUAL(subs.answered(b), ids{"b1"});
  CAF_CHECK_EQUAL(subs.take_client(b), std::string{"client b"});
  CAF_CHECK_EQUAL(subs.expire_due(250), std::vector<std::string>{"client a"});
  CAF_CHECK_EQUAL(subs.timeouts(), 1u);
  CAF_CHECK(subs.expiring());
  CAF_CHECK_EQUAL(subs.expire_due(300), std::vector<std::string>{"client c"});
  CAF_CHECK(!subs.expiring());
  CAF_CHECK_EQUAL(subs.timeouts(), 2u);
  // Their inserts still count until they answer.
  CAF_CHECK_EQUAL(subs.admitting(), 2u);
}

CAF_TEST(a submission in doubt is settled by its read back only) {
  auto a = *subs.admit({"a1", "a2"}, 2, 0, 10, "client a");
  auto b = *subs.admit({"b1"}, 1, 0, 10, "client b");
  CAF_CHECK(subs.in_doubt(a) == nullptr);
  CAF_CHECK(subs.doubt(a));
  CAF_CHECK(!subs.doubt(a));
  // Its tasks no longer count; it is no longer inserting.
  CAF_CHECK_EQUAL(subs.admitting(), 1u);
  CAF_CHECK_EQUAL(subs.inserting(), std::vector<uint64_t>{b});
  CAF_REQUIRE(subs.in_doubt(a) != nullptr);
  CAF_CHECK_EQUAL(*subs.in_doubt(a), (ids{"a1", "a2"}));
  // A late answer of the lost insert is ignored.
  CAF_CHECK(!subs.answered(a));
  CAF_CHECK_EQUAL(subs.settled(a, true), (ids{"a1", "a2"}));
  CAF_CHECK(!subs.settled(a, false));
  CAF_CHECK(subs.in_doubt(a) == nullptr);
  CAF_CHECK_EQUAL(subs.take_client(a), std::string{"client a"});
  CAF_CHECK(subs.doubt(b));
  CAF_CHECK_EQUAL(subs.settled(b, false), ids{"b1"});
  CAF_CHECK_EQUAL(subs.stored(), 1u);
  CAF_CHECK_EQUAL(subs.not_stored(), 1u);
  CAF_CHECK(!subs.settled(*subs.admit({"c1"}, 1, 0, 10, "c"), true));
}

CAF_TEST(settling gives up after max_settle_tries failures) {
  auto a = *subs.admit({"a1"}, 1, 0, 10, "client a");
  CAF_CHECK(!subs.settle_failed(a)); // (not in doubt)
  subs.doubt(a);
  for (int i = 1; i < tracker::max_settle_tries; ++i)
    CAF_REQUIRE(subs.settle_failed(a));
  CAF_CHECK(!subs.settle_failed(a));
  CAF_CHECK(subs.in_doubt(a) == nullptr);
  CAF_CHECK_EQUAL(subs.stored() + subs.not_stored(), 0u);
  // Its client is still there to hear that it may not have been stored.
  CAF_CHECK_EQUAL(subs.take_client(a), std::string{"client a"});
}

CAF_TEST_FIXTURE_SCOPE_END()
