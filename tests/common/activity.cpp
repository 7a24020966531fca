// Tests of the last hour in 10 s slots that GET /v1/activity serves.
#define CAF_SUITE common.activity

#include "common/activity.hpp"

#include "tests/fixture.hpp"

using namespace tasker;

namespace {

constexpr int64_t t0 = 1'763'805'600'000; // a slot boundary

using gauge = activity::gauge;

int64_t queue_of(const activity::slot_view& s) {
  return s.gauges[static_cast<size_t>(gauge::queue_depth)];
}

} // namespace

CAF_TEST(an empty record has no slots) {
  activity a;
  auto w = a.window(t0, 3'600'000);
  CAF_CHECK(w.slots.empty());
  CAF_CHECK_EQUAL(w.finished, 0u);
  CAF_CHECK_EQUAL(w.p50_ms, -1);
}

CAF_TEST(counts go to the slot of their time and the window starts at the first) {
  activity a;
  a.submitted(t0 + 1);
  a.submitted(t0 + 9'999);
  a.submitted(t0 + 10'000);
  a.finished(t0 + 25'000, 0, 12.0);
  a.finished(t0 + 25'001, 1, 12.0);
  a.finished(t0 + 25'002, 2, 12.0);
  auto w = a.window(t0 + 31'000, 3'600'000);
  CAF_REQUIRE_EQUAL(w.slots.size(), 4u);
  CAF_CHECK_EQUAL(w.slots[0].start_ms, t0);
  CAF_CHECK_EQUAL(w.slots[0].submitted, 2u);
  CAF_CHECK_EQUAL(w.slots[1].submitted, 1u);
  CAF_CHECK_EQUAL(w.slots[2].completed, 1u);
  CAF_CHECK_EQUAL(w.slots[2].failed, 1u);
  CAF_CHECK_EQUAL(w.slots[2].cancelled, 1u);
  CAF_CHECK_EQUAL(w.slots[3].submitted, 0u);
  CAF_CHECK_EQUAL(w.finished, 3u);
  // A shorter window keeps the newest slots.
  auto last = a.window(t0 + 31'000, 20'000);
  CAF_REQUIRE_EQUAL(last.slots.size(), 2u);
  CAF_CHECK_EQUAL(last.slots[0].start_ms, t0 + 20'000);
}

CAF_TEST(gauges carry over slots where they did not change) {
  activity a;
  a.set(t0, gauge::queue_depth, 7);
  a.set(t0 + 35'000, gauge::queue_depth, 3);
  auto w = a.window(t0 + 55'000, 3'600'000);
  CAF_REQUIRE_EQUAL(w.slots.size(), 6u);
  CAF_CHECK_EQUAL(queue_of(w.slots[0]), 7);
  CAF_CHECK_EQUAL(queue_of(w.slots[1]), 7);
  CAF_CHECK_EQUAL(queue_of(w.slots[2]), 7);
  CAF_CHECK_EQUAL(queue_of(w.slots[3]), 3);
  CAF_CHECK_EQUAL(queue_of(w.slots[5]), 3);
  // A window that starts after the last change still sees the value.
  auto late = a.window(t0 + 55'000, 10'000);
  CAF_REQUIRE_EQUAL(late.slots.size(), 1u);
  CAF_CHECK_EQUAL(queue_of(late.slots[0]), 3);
}

CAF_TEST(percentiles are bucket bounds within 19 percent) {
  activity a;
  for (int i = 1; i <= 100; ++i)
    a.finished(t0, 0, static_cast<double>(i)); // 1..100 ms
  auto w = a.window(t0, 10'000);
  CAF_REQUIRE_EQUAL(w.slots.size(), 1u);
  CAF_CHECK_EQUAL(w.finished, 100u);
  CAF_CHECK(w.p50_ms >= 50 && w.p50_ms <= 50 * 1.19);
  CAF_CHECK(w.p95_ms >= 95 && w.p95_ms <= 95 * 1.19);
  CAF_CHECK(w.p99_ms >= 99 && w.p99_ms <= 99 * 1.19);
  CAF_CHECK_EQUAL(w.slots[0].p50_ms, w.p50_ms);
  CAF_CHECK_EQUAL(activity::bucket_of(0.5), 0u);
  CAF_CHECK_EQUAL(activity::bucket_of(-3), 0u);
  CAF_CHECK_EQUAL(activity::bucket_of(1e300), activity::buckets - 1);
}

CAF_TEST(an hour later the old slots are gone) {
  activity a;
  a.submitted(t0);
  a.submitted(t0 + 3'600'000);
  auto w = a.window(t0 + 3'600'000, 3'600'000);
  CAF_REQUIRE_EQUAL(w.slots.size(), 360u);
  uint64_t total = 0;
  for (auto& s : w.slots)
    total += s.submitted;
  CAF_CHECK_EQUAL(total, 1u);
  CAF_CHECK_EQUAL(w.slots.back().submitted, 1u);
}
