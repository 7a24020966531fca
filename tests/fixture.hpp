// What several test suites share: the actor system configuration, a fixture
// on the deterministic scheduler that asks actors from client actors, and
// helpers that build task records. Include it after defining CAF_SUITE.
#pragma once

#include "common/log.hpp"
#include "gateway/encoding.hpp"
#include "messages/registration.hpp"
#include "messages/type_ids.hpp"
#include "messages/types.hpp"

#include <caf/test/dsl.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tasker::testing {

/// The actor system configuration of the tests: tasker's message types.
struct test_config : caf::actor_system_config {
  test_config() {
    tasker::add_message_types(*this);
  }
};

/// The reply to a request, filled in by a client actor.
template <class T>
struct reply {
  bool done = false;
  std::optional<T> value;
  caf::error err;
};

/// A fixture on the deterministic scheduler. It keeps the actors a test
/// spawns and stops them at the end: cyclic references (actors that know each
/// other, clients waiting for replies) and timers that never stop by
/// themselves would otherwise keep the actor system from shutting down.
template <class Config = test_config>
struct actor_fixture : test_coordinator_fixture<Config> {
  std::vector<caf::actor> spawned;

  actor_fixture() {
    tasker::log::set_level("error");
  }

  ~actor_fixture() override {
    for (auto& hdl : spawned)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    this->sched.run();
  }

  /// The time as the actors see it (`now_ms(self)`): the virtual clock of
  /// the test coordinator, which moves only with `advance_time` and
  /// triggered timeouts.
  millis now() {
    return now_ms(this->self.ptr());
  }

  /// Stops `hdl` when the test ends.
  template <class Handle>
  void keep(const Handle& hdl) {
    spawned.push_back(caf::actor_cast<caf::actor>(hdl));
  }

  /// Sends a request from a fresh client actor; the reply lands in the
  /// returned object once the scheduler runs.
  template <class T, class Handle, class... Ts>
  std::shared_ptr<reply<T>> ask(const Handle& hdl, Ts... xs) {
    auto out = std::make_shared<reply<T>>();
    auto client = this->sys.spawn([=](caf::event_based_actor* self) {
      self->request(hdl, caf::infinite, xs...)
        .then(
          [out](T& x) {
            out->done = true;
            out->value = std::move(x);
          },
          [out](caf::error& err) {
            out->done = true;
            out->err = std::move(err);
          });
    });
    keep(client);
    return out;
  }

  /// Asks `hdl` for a report of type `Reply` (status_atom, workers_atom),
  /// runs the scheduler and renders the answer, which must have come, as the
  /// gateway does for `/v1/cluster` and `/v1/workers`.
  template <class Reply, class Handle, class... Ts>
  nlohmann::json ask_json(const Handle& hdl, Ts... xs) {
    auto r = ask<Reply>(hdl, xs...);
    this->sched.run();
    CAF_REQUIRE(r->value);
    return render(*r->value);
  }

  static nlohmann::json render(const std::vector<worker_view>& workers) {
    return workers_json(workers);
  }

  template <class Status>
  static nlohmann::json render(const Status& x) {
    return status_json(x);
  }
};

using strings = std::vector<std::string>;

/// A task id in canonical UUID form.
inline const std::string uuid = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";

/// A `sum` task with fixed times: created and scheduled at 1000, updated at
/// 1000 + attempts.
inline task_record make_record(const std::string& id,
                               task_status st = task_status::pending,
                               int32_t attempts = 0) {
  task_record rec;
  rec.id = id;
  rec.type = "sum";
  rec.params = R"({"a":1,"b":2})";
  rec.status = st;
  rec.attempts = attempts;
  rec.created_at = 1000;
  rec.updated_at = 1000 + attempts;
  rec.scheduled_at = 1000;
  return rec;
}

/// The ids of `xs`, in order.
inline strings ids_of(const std::vector<task_record>& xs) {
  strings out;
  for (auto& x : xs)
    out.push_back(x.id);
  return out;
}

} // namespace tasker::testing
