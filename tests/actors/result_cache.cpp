// Tests of the task manager's cache of finished tasks.
#define CAF_SUITE actors.result_cache

#include "actors/result_cache.hpp"

#include "tests/fixture.hpp"

using namespace tasker;
using namespace tasker::testing;

CAF_TEST(the oldest-added task leaves first past the capacity) {
  result_cache cache{2};
  cache.remember(make_record("a", task_status::completed));
  cache.remember(make_record("b", task_status::completed));
  // A newer state of a kept task keeps its place.
  cache.remember(make_record("a", task_status::failed));
  cache.remember(make_record("c", task_status::completed));
  CAF_CHECK_EQUAL(cache.size(), 2u);
  CAF_CHECK(cache.find("a") == nullptr);
  CAF_REQUIRE(cache.find("b") != nullptr);
  CAF_REQUIRE(cache.find("c") != nullptr);
  CAF_CHECK_EQUAL(cache.find("c")->status, task_status::completed);
}

CAF_TEST(overwrite changes only a kept task) {
  result_cache cache{2};
  cache.remember(make_record("a", task_status::failed));
  cache.overwrite(make_record("a", task_status::pending));
  cache.overwrite(make_record("b", task_status::pending));
  CAF_REQUIRE(cache.find("a") != nullptr);
  CAF_CHECK_EQUAL(cache.find("a")->status, task_status::pending);
  CAF_CHECK(cache.find("b") == nullptr);
  // "a" keeps its place: it still leaves first.
  cache.remember(make_record("c", task_status::completed));
  cache.remember(make_record("d", task_status::completed));
  CAF_CHECK(cache.find("a") == nullptr);
  CAF_CHECK_EQUAL(cache.size(), 2u);
}

CAF_TEST(a capacity of zero keeps nothing and a smaller one trims) {
  result_cache none{0};
  none.remember(make_record("a", task_status::completed));
  CAF_CHECK_EQUAL(none.size(), 0u);
  result_cache cache{3};
  for (auto id : {"a", "b", "c"})
    cache.remember(make_record(id, task_status::completed));
  cache.set_capacity(1);
  CAF_CHECK_EQUAL(cache.size(), 1u);
  CAF_CHECK(cache.find("c") != nullptr);
}

CAF_TEST(a forgotten task is gone and the capacity still holds) {
  result_cache cache{2};
  cache.remember(make_record("a", task_status::completed));
  cache.remember(make_record("b", task_status::completed));
  cache.forget("a");
  cache.forget("nobody");
  CAF_CHECK(cache.find("a") == nullptr);
  CAF_CHECK_EQUAL(cache.size(), 1u);
  cache.remember(make_record("c", task_status::completed));
  cache.remember(make_record("d", task_status::completed));
  // b left first (a's place was empty), then c and d stay.
  CAF_CHECK_EQUAL(cache.size(), 2u);
  CAF_CHECK(cache.find("b") == nullptr);
  CAF_CHECK(cache.find("c") != nullptr);
  CAF_CHECK(cache.find("d") != nullptr);
  CAF_MESSAGE("many tasks remembered and forgotten in turn");
  result_cache big{100000};
  for (int i = 0; i < 50000; ++i) {
    auto id = "t" + std::to_string(i);
    big.remember(make_record(id, task_status::completed));
    big.forget(id);
  }
  CAF_CHECK_EQUAL(big.size(), 0u);
  big.remember(make_record("last", task_status::completed));
  CAF_CHECK(big.find("last") != nullptr);
}
