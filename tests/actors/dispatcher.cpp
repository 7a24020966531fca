// Tests of the dispatcher on the deterministic scheduler, with test actors
// standing in for worker nodes and task actors.
#define CAF_SUITE actors.dispatcher

#include "actors/dispatcher.hpp"
#include "actors/supervisor.hpp"
#include "common/format.hpp"
#include "messages/error.hpp"

#include "tests/fixture.hpp"

#include <chrono>
#include <map>

using namespace tasker;
using namespace tasker::testing;
using namespace std::chrono_literals;

namespace {

/// What a fake worker node received.
struct node_log {
  std::vector<task_assignment> runs;
  /// How many run messages the node got.
  size_t run_messages = 0;
  std::vector<std::pair<std::string, int32_t>> cancels;
  int drains = 0;
};

node_actor::behavior_type fake_node(node_actor::pointer,
                                    std::shared_ptr<node_log> log) {
  return {
    [log](run_atom, std::vector<task_assignment>& runs) {
      ++log->run_messages;
      for (auto& a : runs)
        log->runs.push_back(std::move(a));
    },
    [log](cancel_atom, std::string& id, int32_t attempt) {
      log->cancels.emplace_back(std::move(id), attempt);
    },
    [](done_atom, task_outcome&) {},
    [log](drain_atom) { ++log->drains; },
    [](tick_atom) {},
    [](flush_atom) {},
  };
}

/// What a fake task actor (the owner of queued attempts) received.
struct owner_log {
  /// (attempt, worker) of every start.
  std::vector<std::pair<int32_t, std::string>> starts;
  /// The dispatcher generation of every start.
  std::vector<uint64_t> generations;
  std::vector<task_outcome> results;
  std::vector<int32_t> timeouts;
  /// (attempt, progress) of every progress report.
  std::vector<std::pair<int32_t, std::string>> progress;
};

task_actor::behavior_type fake_owner(task_actor::pointer,
                                     std::shared_ptr<owner_log> log) {
  return {
    [log](start_atom, int32_t attempt, std::string& worker, millis,
          uint64_t generation) {
      log->starts.emplace_back(attempt, std::move(worker));
      log->generations.push_back(generation);
    },
    [](redispatch_atom, uint64_t, caf::actor&) {},
    [](rewrite_atom, caf::actor&) {},
    [log](result_atom, task_outcome& out) {
      log->results.push_back(std::move(out));
    },
    [log](timeout_atom, int32_t attempt) { log->timeouts.push_back(attempt); },
    [log](progress_atom, int32_t attempt, std::string& progress) {
      log->progress.emplace_back(attempt, std::move(progress));
    },
    [](dispatch_atom) {},
    [](wait_atom, uint64_t) {},
    [](get_atom, int64_t) { return task_record{}; },
    [](cancel_atom) { return task_record{}; },
  };
}

struct fixture : actor_fixture<> {
  telemetry_ptr tel = std::make_shared<telemetry>();
  dispatcher_actor disp;
  std::map<std::string, std::shared_ptr<owner_log>> owner_logs;
  std::map<std::string, task_actor> owners;

  fixture() {
    // The dispatcher's tick never stops by itself: keep() it.
    dispatcher_config cfg{50ms};
    cfg.max_db_backlog = 1000;
    disp = sys.spawn(dispatcher, cfg, tel);
    keep(disp);
    sched.run();
  }

  /// Spawns a fake node and lets it join with `slots`; returns its log.
  std::shared_ptr<node_log> join(const std::string& name, int32_t slots,
                                 std::vector<std::string> types = {},
                                 node_actor* handle = nullptr) {
    auto log = std::make_shared<node_log>();
    auto node = sys.spawn(fake_node, log);
    keep(node);
    if (handle != nullptr)
      *handle = node;
    node_info info{name, "127.0.0.1:0", std::move(types), slots,
                   protocol_version};
    auto id = ask<std::string>(disp, join_atom_v, info, std::string{}, node);
    sched.run();
    CAF_CHECK_EQUAL(id->value.value_or(""), name);
    return log;
  }

  /// The fake task actor of task `id`.
  task_actor owner(const std::string& id) {
    auto i = owners.find(id);
    if (i != owners.end())
      return i->second;
    auto log = std::make_shared<owner_log>();
    auto hdl = sys.spawn(fake_owner, log);
    keep(hdl);
    owner_logs[id] = log;
    owners[id] = hdl;
    return hdl;
  }

  owner_log& of(const std::string& id) {
    return *owner_logs.at(id);
  }

  void enqueue(const std::string& id, int32_t attempt, int32_t priority = 0,
               millis scheduled_at = 1000, std::string type = "sum",
               int64_t timeout_ms = 60000) {
    task_assignment a{id,         type,     R"({"a":1,"b":2})",
                      attempt,    timeout_ms, priority,
                      scheduled_at};
    self->send(disp, enqueue_atom_v, a, owner(id));
    sched.run();
  }

  void result(const std::string& id, int32_t attempt, bool ok = true) {
    task_outcome out;
    out.id = id;
    out.attempt = attempt;
    out.ok = ok;
    out.result = ok ? "1" : "";
    out.error = ok ? "" : "boom";
    self->send(disp, result_atom_v, std::vector<task_outcome>{out});
    sched.run();
  }

  void cancel(const std::string& id, int32_t attempt) {
    self->send(disp, cancel_atom_v, id, attempt);
    sched.run();
  }

  nlohmann::json status() {
    return ask_json<dispatcher_status>(disp, status_atom_v);
  }

  static strings ids(const node_log& log) {
    strings out;
    for (auto& a : log.runs)
      out.push_back(a.id);
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(dispatcher_tests, fixture)

CAF_TEST(a node gets no more attempts than it has slots) {
  auto n = join("node-1", 2);
  for (auto id : {"t1", "t2", "t3", "t4", "t5"})
    enqueue(id, 1);
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2"}));
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 3);
  CAF_CHECK_EQUAL(status()["in_flight"].get<int>(), 2);
  // The owners of dispatched attempts hear where they run.
  CAF_REQUIRE_EQUAL(of("t1").starts.size(), 1u);
  CAF_CHECK_EQUAL(of("t1").starts[0].first, 1);
  CAF_CHECK_EQUAL(of("t1").starts[0].second, "node-1");
  CAF_CHECK(of("t3").starts.empty());
  // Each result frees one slot for exactly one more attempt.
  result("t1", 1);
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2", "t3"}));
  result("t2", 1, false);
  result("t3", 1);
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2", "t3", "t4", "t5"}));
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 0);
  CAF_CHECK_EQUAL(status()["in_flight"].get<int>(), 2);
  CAF_CHECK_EQUAL(status()["dispatched"].get<int>(), 5);
}

CAF_TEST(progress reaches the task only from the node that runs the attempt) {
  node_actor node;
  join("node-1", 1, {}, &node);
  enqueue("t1", 1);
  caf::send_as(node, disp, progress_atom_v, std::string{"t1"}, int32_t{1},
               std::string{R"({"done":1})"});
  sched.run();
  using progress_log = std::vector<std::pair<int32_t, std::string>>;
  auto expected = progress_log{{1, R"({"done":1})"}};
  CAF_CHECK_EQUAL(of("t1").progress, expected);
  // Another sender, another attempt, and an attempt that ended change
  // nothing.
  self->send(disp, progress_atom_v, std::string{"t1"}, int32_t{1},
             std::string{R"({"done":2})"});
  caf::send_as(node, disp, progress_atom_v, std::string{"t1"}, int32_t{2},
               std::string{R"({"done":3})"});
  sched.run();
  result("t1", 1);
  caf::send_as(node, disp, progress_atom_v, std::string{"t1"}, int32_t{1},
               std::string{R"({"done":4})"});
  sched.run();
  CAF_CHECK_EQUAL(of("t1").progress, expected);
}

CAF_TEST(equally loaded nodes take turns) {
  auto a = join("a", 2);
  auto b = join("b", 2);
  // One attempt at a time: every node is idle each time, so they alternate.
  for (int i = 0; i < 4; ++i) {
    auto id = "s" + std::to_string(i);
    enqueue(id, 1);
    result(id, 1);
  }
  CAF_CHECK_EQUAL(ids(*a).size(), 2u);
  CAF_CHECK_EQUAL(ids(*b).size(), 2u);
}

CAF_TEST(a draining node gets nothing new and is told to leave) {
  auto a = join("a", 1);
  auto b = join("b", 1);
  auto r = ask<bool>(disp, drain_atom_v, std::string{"a"});
  sched.run();
  CAF_REQUIRE(r->value);
  CAF_CHECK(*r->value);
  CAF_CHECK_EQUAL(a->drains, 1);
  enqueue("d1", 1);
  enqueue("d2", 1);
  CAF_CHECK(ids(*a).empty());
  CAF_CHECK_EQUAL(ids(*b), (strings{"d1"}));
  auto unknown = ask<bool>(disp, drain_atom_v, std::string{"nope"});
  sched.run();
  CAF_REQUIRE(unknown->value);
  CAF_CHECK(!*unknown->value);
}

CAF_TEST(a node with another protocol version is refused) {
  auto node = sys.spawn(fake_node, std::make_shared<node_log>());
  keep(node);
  node_info info{"old", "127.0.0.1:0", {}, 4, protocol_version + 1};
  auto r = ask<std::string>(disp, join_atom_v, info, std::string{}, node);
  sched.run();
  CAF_REQUIRE(r->done);
  CAF_CHECK(!r->value);
  CAF_CHECK_EQUAL(code_of(r->err), ec::unauthorized);
  auto workers = ask_json<std::vector<worker_view>>(disp, workers_atom_v);
  CAF_CHECK_EQUAL(workers.size(), 0u);
}

CAF_TEST(credits are spread over nodes by load) {
  auto a = join("a", 2);
  auto b = join("b", 4);
  for (int i = 0; i < 8; ++i)
    enqueue("t" + std::to_string(i), 1);
  // Never more than the slots; the least loaded node first.
  CAF_CHECK_EQUAL(a->runs.size(), 2u);
  CAF_CHECK_EQUAL(b->runs.size(), 4u);
  CAF_CHECK_EQUAL(ids(*a), (strings{"t0", "t3"}));
  CAF_CHECK_EQUAL(ids(*b), (strings{"t1", "t2", "t4", "t5"}));
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 2);
  auto js = ask_json<std::vector<worker_view>>(disp, workers_atom_v);
  CAF_REQUIRE_EQUAL(js.size(), 2u);
  CAF_CHECK_EQUAL(js[0]["id"].get<std::string>(), "a");
  CAF_CHECK_EQUAL(js[0]["busy"].get<int>(), 2);
  CAF_CHECK_EQUAL(js[1]["busy"].get<int>(), 4);
}

CAF_TEST(higher priority first then earlier schedule then arrival) {
  enqueue("low-late", 1, 0, 2000);
  enqueue("low-early", 1, 0, 1000);
  enqueue("mid-late", 1, 5, 3000);
  enqueue("top", 1, 9, 9000);
  enqueue("mid-early", 1, 5, 1000);
  enqueue("low-early-2", 1, 0, 1000);
  auto n = join("node-1", 1);
  strings order{"top", "mid-early", "mid-late", "low-early", "low-early-2",
                "low-late"};
  for (size_t i = 0; i < order.size(); ++i) {
    CAF_REQUIRE_EQUAL(n->runs.size(), i + 1);
    result(n->runs.back().id, 1);
  }
  CAF_CHECK_EQUAL(ids(*n), order);
}

CAF_TEST(a node gets only the types it runs) {
  enqueue("s1", 1, 0, 1000, "sleep");
  enqueue("x1", 1, 9, 1000, "sum");
  auto sleeper = join("sleeper", 4, {"sleep"});
  CAF_CHECK_EQUAL(ids(*sleeper), strings{"s1"});
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 1);
  auto any = join("any", 4);
  CAF_CHECK_EQUAL(ids(*any), strings{"x1"});
}

CAF_TEST(a result frees the slot and goes to the owner) {
  auto n = join("node-1", 1);
  enqueue("t1", 1);
  enqueue("t2", 1);
  CAF_CHECK_EQUAL(ids(*n), strings{"t1"});
  result("t1", 1);
  CAF_REQUIRE_EQUAL(of("t1").results.size(), 1u);
  CAF_CHECK_EQUAL(of("t1").results[0].id, "t1");
  CAF_CHECK_EQUAL(of("t1").results[0].attempt, 1);
  CAF_CHECK(of("t1").results[0].ok);
  CAF_CHECK(of("t2").results.empty());
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2"}));
}

CAF_TEST(a result for an unknown attempt is dropped) {
  auto n = join("node-1", 1);
  enqueue("t1", 2);
  enqueue("t2", 1);
  // Attempt 1 of t1 is not running (attempt 2 is); t3 never was.
  result("t1", 1);
  result("t3", 1);
  CAF_CHECK(of("t1").results.empty());
  // The slot is still taken by t1's attempt 2.
  CAF_CHECK_EQUAL(ids(*n), strings{"t1"});
  CAF_CHECK_EQUAL(status()["stale_results_dropped"].get<int>(), 2);
  // A duplicate report of the same attempt is dropped as well.
  result("t1", 2);
  result("t1", 2);
  CAF_CHECK_EQUAL(of("t1").results.size(), 1u);
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2"}));
  CAF_CHECK_EQUAL(status()["stale_results_dropped"].get<int>(), 3);
}

CAF_TEST(cancel of a queued attempt removes it) {
  enqueue("t1", 1);
  enqueue("t2", 1);
  // Another attempt number does not match.
  cancel("t1", 2);
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 2);
  cancel("t1", 1);
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 1);
  auto n = join("node-1", 4);
  CAF_CHECK_EQUAL(ids(*n), strings{"t2"});
  CAF_CHECK(of("t1").starts.empty());
  CAF_CHECK(n->cancels.empty());
}

CAF_TEST(a newer attempt of a task replaces its queued one) {
  enqueue("t1", 1);
  enqueue("t1", 2);
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 1);
  auto n = join("node-1", 4);
  CAF_REQUIRE_EQUAL(n->runs.size(), 1u);
  CAF_CHECK_EQUAL(n->runs[0].attempt, 2);
}

CAF_TEST(an attempt queued again while it runs is not started twice) {
  auto n = join("node-1", 4);
  enqueue("t1", 1);
  CAF_REQUIRE_EQUAL(n->runs.size(), 1u);
  // (What a task does when told that the dispatcher was restarted, if this
  // dispatcher had started it already.)
  enqueue("t1", 1);
  CAF_CHECK_EQUAL(n->runs.size(), 1u);
  CAF_CHECK_EQUAL(of("t1").starts.size(), 1u);
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 0);
  CAF_CHECK_EQUAL(status()["in_flight"].get<int>(), 1);
}

CAF_TEST(only the node itself keeps its id alive) {
  // The test's own actor joins as node-1.
  node_info info{"node-1", "127.0.0.1:0", {}, 1, protocol_version};
  auto id = ask<std::string>(disp, join_atom_v, info, std::string{},
                             caf::actor_cast<node_actor>(self));
  sched.run();
  CAF_REQUIRE_EQUAL(id->value.value_or(""), "node-1");
  // Its own heartbeat is answered "member".
  self->send(disp, heartbeat_atom_v, std::string{"node-1"});
  expect((heartbeat_atom, std::string), from(self).to(disp).with(_, "node-1"));
  expect((bool), from(disp).to(self).with(true));
  // Another actor naming node-1 (a node that had that id before a restart
  // of the dispatcher) hears that it is not: it joins again.
  auto other = ask<bool>(disp, heartbeat_atom_v, std::string{"node-1"});
  sched.run();
  CAF_REQUIRE(other->value);
  CAF_CHECK(!*other->value);
}

CAF_TEST(a dispatcher restarted behind its relay starts empty) {
  // The coordinator's arrangement: a relay is the one handle, a supervisor
  // spawns each new dispatcher one generation on and retargets the relay.
  auto rel = sys.spawn(relay);
  keep(rel);
  std::vector<caf::actor> generations;
  supervisor_hooks hooks;
  hooks.spawn = [&](uint64_t restarts) {
    dispatcher_config cfg{50ms};
    cfg.generation = restarts;
    auto d = caf::actor_cast<caf::actor>(sys.spawn(dispatcher, cfg, tel));
    generations.push_back(d);
    caf::anon_send(rel, retarget_atom_v, d);
    return d;
  };
  auto sup = sys.spawn(supervisor, supervisor_config{"dispatcher"}, hooks);
  keep(sup);
  sched.run();
  disp = caf::actor_cast<dispatcher_actor>(rel);
  auto n = join("node-1", 2);
  enqueue("t1", 1);
  CAF_REQUIRE_EQUAL(n->runs.size(), 1u);
  CAF_CHECK_EQUAL(of("t1").generations, std::vector<uint64_t>{0});
  // The dispatcher crashes and is replaced.
  caf::anon_send_exit(generations[0], caf::exit_reason::kill);
  sched.run();
  CAF_REQUIRE_EQUAL(generations.size(), 2u);
  CAF_CHECK_EQUAL(status()["generation"].get<int>(), 1);
  CAF_CHECK_EQUAL(status()["in_flight"].get<int>(), 0);
  // It does not know the node: the node's next heartbeat says so.
  auto member = ask<bool>(disp, heartbeat_atom_v, std::string{"node-1"});
  sched.run();
  CAF_REQUIRE(member->value);
  CAF_CHECK(!*member->value);
  // The node joins again under its old id, and the task queues its attempt
  // again; the start carries the new generation.
  auto n2 = join("node-1", 2);
  enqueue("t1", 2);
  CAF_REQUIRE_EQUAL(n2->runs.size(), 1u);
  CAF_CHECK_EQUAL(n2->runs[0].attempt, 2);
  CAF_CHECK_EQUAL(of("t1").generations, (std::vector<uint64_t>{0, 1}));
  result("t1", 2);
  CAF_REQUIRE_EQUAL(of("t1").results.size(), 1u);
  CAF_CHECK_EQUAL(of("t1").results[0].attempt, 2);
  // A late result of the first attempt, sent to the dead dispatcher's
  // successor, is dropped.
  result("t1", 1);
  CAF_CHECK_EQUAL(of("t1").results.size(), 1u);
  CAF_CHECK_EQUAL(status()["stale_results_dropped"].get<int>(), 1);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
}

CAF_TEST(cancel of a running attempt stops it on its node) {
  auto n = join("node-1", 1);
  enqueue("t1", 1);
  enqueue("t2", 1);
  cancel("t1", 1);
  CAF_REQUIRE_EQUAL(n->cancels.size(), 1u);
  CAF_CHECK_EQUAL(n->cancels[0].first, "t1");
  CAF_CHECK_EQUAL(n->cancels[0].second, 1);
  // The node still holds the slot until it reports...
  CAF_CHECK_EQUAL(ids(*n), strings{"t1"});
  // ... and its report goes nowhere, but frees the slot.
  result("t1", 1);
  CAF_CHECK(of("t1").results.empty());
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2"}));
}

CAF_TEST(a timeout is sent to the owner and withdraws the attempt) {
  auto n = join("node-1", 1);
  enqueue("slow", 1, 0, 1000, "sum", 5);
  enqueue("next", 1);
  CAF_CHECK_EQUAL(ids(*n), strings{"slow"});
  // Deadlines are checked on every tick.
  sched.run();
  CAF_CHECK(of("slow").timeouts.empty());
  advance_time(50ms);
  sched.run();
  CAF_CHECK_EQUAL(of("slow").timeouts, std::vector<int32_t>{1});
  CAF_REQUIRE_EQUAL(n->cancels.size(), 1u);
  CAF_CHECK_EQUAL(n->cancels[0].first, "slow");
  CAF_CHECK_EQUAL(status()["timeouts"].get<int>(), 1);
  // Later ticks do not repeat it.
  advance_time(50ms);
  sched.run();
  CAF_CHECK_EQUAL(of("slow").timeouts.size(), 1u);
  // The late report frees the slot but is not forwarded.
  result("slow", 1);
  CAF_CHECK(of("slow").results.empty());
  CAF_CHECK_EQUAL(ids(*n), (strings{"slow", "next"}));
}

CAF_TEST(dispatching pauses while the database is behind) {
  auto n = join("node-1", 4);
  tel->state.db_backlog = 1001; // past max_db_backlog
  enqueue("t1", 1);
  enqueue("t2", 1);
  CAF_CHECK(n->runs.empty());
  CAF_CHECK_EQUAL(status()["paused_by_db_backlog"].get<bool>(), true);
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 2);
  // Still behind at the next tick: nothing moves.
  advance_time(50ms);
  sched.run();
  CAF_CHECK(n->runs.empty());
  // Caught up: the next tick dispatches what waited, in order.
  tel->state.db_backlog = 10;
  advance_time(50ms);
  sched.run();
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2"}));
  CAF_CHECK_EQUAL(status()["paused_by_db_backlog"].get<bool>(), false);
}

CAF_TEST(no timeout before the deadline) {
  auto n = join("node-1", 1);
  enqueue("t1", 1, 0, 1000, "sum", 60000);
  for (int i = 0; i < 5; ++i) {
    advance_time(50ms);
    sched.run();
  }
  CAF_CHECK(of("t1").timeouts.empty());
  CAF_CHECK(n->cancels.empty());
}

CAF_TEST(a lost node fails its running attempts) {
  node_actor hdl;
  auto n = join("node-1", 2, {}, &hdl);
  enqueue("t1", 3);
  enqueue("t2", 1);
  enqueue("t3", 1);
  CAF_CHECK_EQUAL(ids(*n), (strings{"t1", "t2"}));
  caf::anon_send_exit(hdl, caf::exit_reason::kill);
  sched.run();
  CAF_REQUIRE_EQUAL(of("t1").results.size(), 1u);
  auto& out = of("t1").results[0];
  CAF_CHECK_EQUAL(out.attempt, 3);
  CAF_CHECK(!out.ok);
  CAF_CHECK(out.retryable);
  CAF_CHECK_EQUAL(out.error, "worker node node-1 was lost during the attempt");
  CAF_CHECK_EQUAL(of("t2").results.size(), 1u);
  CAF_CHECK_EQUAL(status()["nodes"].get<int>(), 0);
  CAF_CHECK_EQUAL(status()["dead_nodes"].get<int>(), 1);
  auto workers = ask_json<std::vector<worker_view>>(disp, workers_atom_v);
  CAF_REQUIRE_EQUAL(workers.size(), 1u);
  CAF_CHECK_EQUAL(workers[0]["status"], "DEAD");
  // The queued attempt waits for the next node.
  auto m = join("node-2", 1);
  CAF_CHECK_EQUAL(ids(*m), strings{"t3"});
}

CAF_TEST(a drained node gets no new attempts) {
  auto n = join("node-1", 1);
  auto drained = ask<bool>(disp, drain_atom_v, std::string{"node-1"});
  sched.run();
  CAF_REQUIRE(drained->value);
  CAF_CHECK(*drained->value);
  enqueue("t1", 1);
  CAF_CHECK(n->runs.empty());
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 1);
}

CAF_TEST(messages flow from enqueue to run) {
  auto n = join("node-1", 1);
  auto o = owner("t1");
  sched.run();
  task_assignment a{"t1", "sum", "{}", 1, 1000, 0, 1000};
  self->send(disp, enqueue_atom_v, a, o);
  expect((enqueue_atom, task_assignment, task_actor),
         from(self).to(disp).with(_, a, _));
  expect((start_atom, int32_t, std::string, millis, uint64_t),
         from(disp).to(o).with(_, 1, std::string{"node-1"}, _, uint64_t{0}));
  CAF_CHECK_EQUAL(n->runs.size(), 0u);
  sched.run();
  CAF_CHECK_EQUAL(ids(*n), strings{"t1"});
}

CAF_TEST(one dispatch round reaches each node in one message) {
  for (auto id : {"t1", "t2", "t3", "t4", "t5", "t6", "t7"})
    enqueue(id, 1);
  auto a = join("a", 3);
  // All three free slots of `a` are filled by one message.
  CAF_CHECK_EQUAL(ids(*a), (strings{"t1", "t2", "t3"}));
  CAF_CHECK_EQUAL(a->run_messages, 1u);
  // Outcomes arrive together, too: one message frees two slots, and their
  // replacements travel together.
  std::vector<task_outcome> outs(2);
  outs[0].id = "t1";
  outs[1].id = "t3";
  for (auto& out : outs) {
    out.attempt = 1;
    out.ok = true;
    out.result = "1";
  }
  self->send(disp, result_atom_v, outs);
  sched.run();
  CAF_CHECK_EQUAL(ids(*a), (strings{"t1", "t2", "t3", "t4", "t5"}));
  CAF_CHECK_EQUAL(a->run_messages, 2u);
  CAF_REQUIRE_EQUAL(of("t1").results.size(), 1u);
  CAF_REQUIRE_EQUAL(of("t3").results.size(), 1u);
  CAF_CHECK(of("t2").results.empty());
  CAF_CHECK_EQUAL(status()["in_flight"].get<int>(), 3);
  CAF_CHECK_EQUAL(status()["queue_depth"].get<int>(), 2);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(an outcome the database would refuse is made storable) {
  task_outcome out;
  out.id = "t";
  out.ok = true;
  out.result = R"({"sum": 3})";
  CAF_CHECK(!make_storable(out, true));
  CAF_CHECK(out.ok);
  // Not JSON, a NUL inside, invalid UTF-8: a failure that is not retried.
  for (auto bad : {std::string{"{not json"}, std::string{R"({"a": "x\u0000"})"},
                   std::string{R"({"a\u0000": 1})"}, std::string{"\"\xff\""}}) {
    auto o = out;
    o.result = bad;
    CAF_CHECK(make_storable(o, true));
    CAF_CHECK(!o.ok);
    CAF_CHECK(!o.retryable);
    CAF_CHECK_EQUAL(o.result, "");
    CAF_CHECK(is_storable_text(o.error));
  }
  // A number PostgreSQL's numeric cannot hold is stored as JSON prints it.
  auto tiny = out;
  tiny.result = R"({"x": 1e-20000})";
  make_storable(tiny, true);
  CAF_CHECK(tiny.ok);
  CAF_CHECK_EQUAL(tiny.result, R"({"x":0.0})");
  // A literal backslash-u is text, not a NUL.
  auto o = out;
  o.result = R"({"a": "\\u0000"})";
  CAF_CHECK(!make_storable(o, true));
  CAF_CHECK(o.ok);
  // The local node's results are JSON already: only the NUL escape is looked
  // at.
  o.result = R"({"a": "x\u0000"})";
  CAF_CHECK(make_storable(o, false));
  CAF_CHECK(!o.ok);
  // An error keeps its text with the bad bytes replaced.
  task_outcome failed;
  failed.error = std::string{"bad \xff byte and a \0 nul", 22};
  failed.worker_id = "w\xfe";
  CAF_CHECK(make_storable(failed, true));
  CAF_CHECK_EQUAL(failed.error, "bad \xEF\xBF\xBD byte and a \xEF\xBF\xBD nul");
  CAF_CHECK(is_storable_text(failed.worker_id));
}

