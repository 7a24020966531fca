// Two simulated nodes (caf/test/io_dsl.hpp): a coordinator's dispatcher on
// "earth" and a worker node on "mars", talking over the simulated network,
// so every message crosses the wire protocol.
#define CAF_SUITE nodes.cluster

#include <caf/test/io_dsl.hpp>

#include "actors/dispatcher.hpp"
#include "messages/error.hpp"
#include "messages/registration.hpp"

#include <memory>
#include <string>
#include <vector>

using namespace tasker;

namespace {

struct cluster_config : caf::actor_system_config {
  cluster_config() {
    load<caf::io::middleman>();
    tasker::add_message_types(*this);
  }
};

using base_fixture = test_coordinator_fixture<cluster_config>;

/// What the worker node on mars received.
struct node_log {
  std::vector<task_assignment> runs;
  int drains = 0;
};

node_actor::behavior_type remote_node(node_actor::pointer,
                                      std::shared_ptr<node_log> log) {
  return {
    [log](run_atom, std::vector<task_assignment>& runs) {
      for (auto& a : runs)
        log->runs.push_back(std::move(a));
    },
    [](cancel_atom, std::string&, int32_t) {},
    [](done_atom, task_outcome&) {},
    [log](drain_atom) { ++log->drains; },
    [](tick_atom) {},
    [](flush_atom) {},
  };
}

/// What the task actor (on earth) heard.
struct owner_log {
  std::vector<int32_t> starts;
  std::vector<task_outcome> results;
};

task_actor::behavior_type owner(task_actor::pointer,
                                std::shared_ptr<owner_log> log) {
  return {
    [log](start_atom, int32_t attempt, std::string&, millis, uint64_t) {
      log->starts.push_back(attempt);
    },
    [](redispatch_atom, uint64_t, caf::actor&) {},
    [](rewrite_atom, caf::actor&) {},
    [log](result_atom, task_outcome& out) {
      log->results.push_back(std::move(out));
    },
    [](timeout_atom, int32_t) {},
    [](progress_atom, int32_t, std::string&) {},
    [](dispatch_atom) {},
    [](wait_atom, uint64_t) {},
    [](get_atom, int64_t) { return task_record{}; },
    [](cancel_atom) { return task_record{}; },
  };
}

struct fixture : point_to_point_fixture<base_fixture> {
  dispatcher_actor disp;
  dispatcher_actor disp_on_mars;
  std::shared_ptr<owner_log> owned = std::make_shared<owner_log>();
  task_actor task;
  std::vector<caf::actor> actors;

  fixture() {
    dispatcher_config cfg;
    cfg.cluster_secret = "s3cret";
    cfg.tick_interval = caf::timespan{0};
    disp = earth.sys.spawn(dispatcher, cfg, std::make_shared<telemetry>());
    task = earth.sys.spawn(owner, owned);
    prepare_connection(earth, mars, "earth", 4242);
    earth.publish(disp, 4242);
    disp_on_mars = mars.remote_actor<dispatcher_actor>("earth", 4242);
  }

  ~fixture() {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    caf::anon_send_exit(task, caf::exit_reason::kill);
    caf::anon_send_exit(disp, caf::exit_reason::kill);
    run();
  }

  /// Spawns a node on mars and lets it join with `secret`; returns the
  /// answer (the node id, or an error).
  std::pair<std::shared_ptr<node_log>, std::shared_ptr<caf::expected<std::string>>>
  join(const std::string& name, const std::string& secret,
       node_actor* out = nullptr) {
    auto log = std::make_shared<node_log>();
    auto node = mars.sys.spawn(remote_node, log);
    actors.push_back(caf::actor_cast<caf::actor>(node));
    if (out != nullptr)
      *out = node;
    auto answer = std::make_shared<caf::expected<std::string>>(
      caf::make_error(caf::sec::runtime_error, "no answer"));
    node_info info{name, "mars", {"sum"}, 2, protocol_version};
    auto client = mars.sys.spawn([=](caf::event_based_actor* self) {
      self->request(disp_on_mars, caf::infinite, join_atom_v, info, secret, node)
        .then([answer](std::string& id) { *answer = std::move(id); },
              [answer](caf::error& err) { *answer = std::move(err); });
    });
    actors.push_back(client);
    run();
    return {log, answer};
  }

  void enqueue(const std::string& id, int32_t attempt) {
    task_assignment a{id, "sum", R"({"a":1,"b":2})", attempt, 60000, 0, 1};
    caf::anon_send(disp, enqueue_atom_v, a, task);
    run();
  }

  /// The worker reports an outcome over the network.
  void report(const std::string& id, int32_t attempt) {
    task_outcome out;
    out.id = id;
    out.attempt = attempt;
    out.ok = true;
    out.result = R"({"sum":3})";
    out.worker_id = "mars-node/slot-1";
    caf::anon_send(disp_on_mars, result_atom_v, std::vector<task_outcome>{out});
    run();
  }

  size_t listed_workers() {
    auto n = std::make_shared<size_t>(0);
    auto client = earth.sys.spawn([=](caf::event_based_actor* self) {
      self->request(disp, caf::infinite, workers_atom_v)
        .then([n](std::vector<worker_view>& workers) {
          *n = workers.size();
        });
    });
    actors.push_back(client);
    run();
    return *n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_tests, fixture)

CAF_TEST(a node joins over the network and runs attempts) {
  auto [log, answer] = join("mars-node", "s3cret");
  CAF_REQUIRE(*answer);
  CAF_CHECK_EQUAL(**answer, "mars-node");
  CAF_CHECK_EQUAL(listed_workers(), 1u);
  enqueue("t1", 1);
  // The assignment crossed the network whole.
  CAF_REQUIRE_EQUAL(log->runs.size(), 1u);
  CAF_CHECK_EQUAL(log->runs[0].id, "t1");
  CAF_CHECK_EQUAL(log->runs[0].params, R"({"a":1,"b":2})");
  CAF_CHECK_EQUAL(owned->starts, std::vector<int32_t>{1});
  report("t1", 1);
  CAF_REQUIRE_EQUAL(owned->results.size(), 1u);
  CAF_CHECK_EQUAL(owned->results[0].result, R"({"sum":3})");
  CAF_CHECK_EQUAL(owned->results[0].worker_id, "mars-node/slot-1");
}

CAF_TEST(a wrong secret is refused and the node never listed) {
  auto [log, answer] = join("intruder", "guess");
  CAF_REQUIRE(!*answer);
  CAF_CHECK_EQUAL(code_of(answer->error()), ec::unauthorized);
  CAF_CHECK_EQUAL(listed_workers(), 0u);
  enqueue("t1", 1);
  CAF_CHECK(log->runs.empty());
}

CAF_TEST(a lost node fails its attempt and a late result is dropped) {
  node_actor node;
  auto [log, answer] = join("mars-node", "s3cret", &node);
  CAF_REQUIRE(*answer);
  enqueue("t1", 1);
  CAF_REQUIRE_EQUAL(log->runs.size(), 1u);
  // The node's actor on mars goes away: the dispatcher hears it over the
  // network and gives the attempt back as failed.
  caf::anon_send_exit(node, caf::exit_reason::kill);
  run();
  CAF_REQUIRE_EQUAL(owned->results.size(), 1u);
  CAF_CHECK(!owned->results[0].ok);
  CAF_CHECK(owned->results[0].retryable);
  CAF_CHECK_EQUAL(owned->results[0].attempt, 1);
  // A result for that attempt arriving later is not applied again.
  report("t1", 1);
  CAF_CHECK_EQUAL(owned->results.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
