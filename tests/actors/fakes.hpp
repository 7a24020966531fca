// Test actors standing in for the dispatcher and persistence in the actor
// tests of the task actor and the task manager. Include it after defining
// CAF_SUITE.
#pragma once

#include "messages/interfaces.hpp"
#include "messages/types.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tasker::testing {

/// What the fake dispatcher received.
struct dispatcher_log {
  std::vector<task_assignment> enqueued;
  std::vector<std::pair<std::string, int32_t>> cancelled;
};

inline dispatcher_actor::behavior_type
fake_dispatcher(dispatcher_actor::pointer,
                std::shared_ptr<dispatcher_log> log) {
  return {
    [](join_atom, node_info&, std::string&, node_actor&) {
      return std::string{"n"};
    },
    [log](enqueue_atom, task_assignment& a, task_actor&) {
      log->enqueued.push_back(std::move(a));
    },
    [log](cancel_atom, std::string& id, int32_t attempt) {
      log->cancelled.emplace_back(std::move(id), attempt);
    },
    [](result_atom, std::vector<task_outcome>&) {},
    [](progress_atom, std::string&, int32_t, std::string&) {},
    [](heartbeat_atom, std::string&) { return true; },
    [](tick_atom) {},
    [](drain_atom, std::string&) { return false; },
    [](status_atom) { return dispatcher_status{}; },
    [](workers_atom) { return std::vector<worker_view>{}; },
    [](get_atom, std::string&) -> caf::result<caf::actor, caf::actor> {
      return caf::sec::unexpected_message;
    },
  };
}

/// What the fake persistence received, and how it answers writes.
struct persistence_log {
  std::vector<task_record> updates;
  std::vector<task_record> writes;
  /// Hold write replies until the test releases them with `ok_atom`.
  bool hold = false;
  /// Answer writes with this error instead.
  caf::error fail;
  /// Hold submissions unanswered (as a persistence actor that dies with
  /// them would).
  bool hold_inserts = false;
  std::vector<std::vector<task_record>> inserts;
  std::vector<caf::typed_response_promise<insert_result>> held_inserts;
  std::vector<std::vector<task_record>> held_groups;
  std::vector<caf::typed_response_promise<ok_atom>> held;
};

/// The persistence interface plus a handle for the test to release held
/// writes and submissions (`ok_atom`: all of them, as stored).
using fake_persistence_actor
  = persistence_actor::extend<caf::reacts_to<ok_atom>>;

inline fake_persistence_actor::behavior_type
fake_persistence(fake_persistence_actor::pointer self,
                 std::shared_ptr<persistence_log> log) {
  return {
    [self, log](insert_atom, std::vector<task_record>& group)
      -> caf::typed_response_promise<insert_result> {
      log->inserts.push_back(group);
      auto rp = self->make_response_promise<insert_result>();
      if (log->hold_inserts) {
        log->held_inserts.push_back(rp);
        log->held_groups.push_back(group);
      } else
        rp.deliver(insert_result{insert_status::inserted, std::move(group), {}, {}});
      return rp;
    },
    [log](update_atom, task_record& rec) { log->updates.push_back(rec); },
    [self, log](write_atom,
                task_record& rec) -> caf::typed_response_promise<ok_atom> {
      log->writes.push_back(rec);
      auto rp = self->make_response_promise<ok_atom>();
      if (log->fail)
        rp.deliver(log->fail);
      else if (log->hold)
        log->held.push_back(rp);
      else
        rp.deliver(ok_atom_v);
      return rp;
    },
    [](workers_atom, const std::vector<worker_view>&) {},
    [](flush_atom, int32_t) {},
    [](status_atom) { return persistence_status{}; },
    [log](ok_atom) {
      for (auto& rp : log->held)
        rp.deliver(ok_atom_v);
      log->held.clear();
      for (size_t i = 0; i < log->held_inserts.size(); ++i)
        log->held_inserts[i].deliver(insert_result{
          insert_status::inserted, std::move(log->held_groups[i]), {}, {}});
      log->held_inserts.clear();
      log->held_groups.clear();
    },
  };
}

} // namespace tasker::testing
