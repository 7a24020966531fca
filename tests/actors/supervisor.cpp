// Tests of the one-child supervisor on the deterministic scheduler.
#define CAF_SUITE actors.supervisor

#include "actors/supervisor.hpp"

#include "messages/atoms.hpp"
#include "tests/fixture.hpp"

#include <caf/exit_reason.hpp>

using namespace tasker;
using namespace tasker::testing;

namespace {

caf::behavior child(caf::event_based_actor*) {
  return {
    [](int32_t x) { return x; },
  };
}

struct fixture : actor_fixture<> {
  std::vector<caf::actor> children;
  int restarted = 0;
  std::string last_reason;
  caf::actor sup;

  void start(size_t max_restarts = 3) {
    supervisor_hooks hooks;
    hooks.spawn = [this](uint64_t restarts) {
      CAF_CHECK_EQUAL(restarts, children.size());
      children.push_back(sys.spawn(child));
      return children.back();
    };
    hooks.restarted = [this](const caf::actor& c, uint64_t restarts,
                             const std::string& why) {
      CAF_CHECK_EQUAL(c, children.back());
      last_reason = why;
      CAF_CHECK_EQUAL(restarts, children.size() - 1);
      ++restarted;
    };
    supervisor_config cfg{"child", max_restarts, std::chrono::seconds(60)};
    sup = sys.spawn(supervisor, cfg, hooks);
    sched.run();
  }

  bool alive(const caf::actor& a) {
    return caf::actor_cast<caf::abstract_actor*>(a) != nullptr
           && !caf::actor_cast<caf::abstract_actor*>(a)->getf(
             caf::abstract_actor::is_terminated_flag);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

CAF_TEST(a child that dies is spawned again) {
  start();
  CAF_REQUIRE_EQUAL(children.size(), 1u);
  caf::anon_send_exit(children[0], caf::exit_reason::kill);
  sched.run();
  CAF_REQUIRE_EQUAL(children.size(), 2u);
  CAF_CHECK_EQUAL(restarted, 1);
  CAF_CHECK_EQUAL(last_reason, caf::to_string(caf::make_error(caf::exit_reason::kill)));
  CAF_CHECK(alive(children[1]));
  CAF_CHECK(alive(sup));
  auto restarts = ask<uint64_t>(sup, status_atom_v);
  sched.run();
  CAF_REQUIRE(restarts->value);
  CAF_CHECK_EQUAL(*restarts->value, 1u);
  // Stopping the supervisor stops the child.
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(!alive(children[1]));
  CAF_CHECK(!alive(sup));
}

CAF_TEST(restarts that come too fast make it give up) {
  start(2);
  // Whoever monitors the supervisor learns that it gave up, and why.
  caf::error reason;
  auto observer = sys.spawn([&](caf::event_based_actor* self) {
    self->monitor(sup);
    self->set_down_handler(
      [&](const caf::down_msg& msg) { reason = msg.reason; });
    return caf::behavior{[](ok_atom) {}};
  });
  keep(observer);
  sched.run();
  for (int i = 0; i < 3; ++i) {
    caf::anon_send_exit(children.back(), caf::exit_reason::kill);
    sched.run();
  }
  CAF_CHECK_EQUAL(restarted, 2);
  CAF_CHECK_EQUAL(children.size(), 3u);
  CAF_CHECK(!alive(sup));
  CAF_CHECK_EQUAL(reason, caf::exit_reason::kill);
}

CAF_TEST(a child that stops normally ends the supervisor) {
  start();
  caf::anon_send_exit(children[0], caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK_EQUAL(children.size(), 1u);
  CAF_CHECK_EQUAL(restarted, 0);
  CAF_CHECK(!alive(sup));
}

CAF_TEST(a relay keeps one handle across restarts) {
  auto front = sys.spawn(relay);
  keep(front);
  supervisor_hooks hooks;
  hooks.spawn = [this, front](uint64_t) {
    children.push_back(sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      return {
        [](int32_t x) { return x * 2; },
      };
    }));
    caf::anon_send(front, retarget_atom_v, children.back());
    return children.back();
  };
  hooks.restarted = [this](const caf::actor&, uint64_t, const std::string&) {
    ++restarted;
  };
  sup = sys.spawn(supervisor, supervisor_config{"doubler"}, hooks);
  keep(sup);
  sched.run();
  auto first = ask<int32_t>(front, int32_t{21});
  sched.run();
  CAF_REQUIRE(first->value);
  CAF_CHECK_EQUAL(*first->value, 42);
  // The child dies and is replaced; the same handle reaches the new one.
  caf::anon_send_exit(children[0], caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(restarted, 1);
  CAF_REQUIRE_EQUAL(children.size(), 2u);
  auto second = ask<int32_t>(front, int32_t{5});
  sched.run();
  CAF_REQUIRE(second->value);
  CAF_CHECK_EQUAL(*second->value, 10);
}

CAF_TEST_FIXTURE_SCOPE_END()
