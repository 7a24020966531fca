// Tests of the task manager on the deterministic scheduler: it supervises
// task actors (a task actor that dies is restarted from its durable row) and
// keeps far-future tasks out of memory. Dispatcher, persistence and reader are
// small test actors.
#define CAF_SUITE actors.task_manager

#include "actors/task_manager.hpp"

#include "common/format.hpp"
#include "common/telemetry.hpp"
#include "messages/error.hpp"
#include "tests/actors/fakes.hpp"
#include "tests/fixture.hpp"

#include <map>
#include <set>

#include <nlohmann/json.hpp>

using namespace tasker;
using namespace tasker::testing;
using namespace std::chrono_literals;

namespace {

/// The rows the fake reader serves, as the database would.
struct rows {
  std::map<std::string, task_record> by_id;
  size_t reads = 0;
};

reader_actor::behavior_type fake_reader(reader_actor::pointer,
                                        std::shared_ptr<rows> db) {
  // Reads for clients and reads of the database alone: one store here.
  auto read = [db](const std::string& id) -> caf::result<task_record> {
    ++db->reads;
    auto i = db->by_id.find(id);
    if (i == db->by_id.end())
      return make_error(ec::not_found, "no task with id " + id);
    return i->second;
  };
  return {
    [read](get_atom, const std::string& id) { return read(id); },
    [read](fetch_atom, const std::string& id) { return read(id); },
    [](list_atom, const list_query&) { return task_page{}; },
    [](events_atom, const std::string&, int32_t) { return task_history{}; },
    [](stats_atom, int64_t, int64_t) { return std::vector<stats_row>{}; },
    [db](recover_atom, millis after_at, const std::string& after_id,
         millis until, int32_t limit) {
      std::vector<task_record> out;
      for (auto& [id, rec] : db->by_id)
        if (!is_terminal(rec.status)
            && std::tie(rec.scheduled_at, rec.id)
                 > std::tie(after_at, after_id)
            && rec.scheduled_at <= until
            && static_cast<int32_t>(out.size()) < limit)
          out.push_back(rec);
      return out;
    },
  };
}

struct fixture : actor_fixture<> {
  std::shared_ptr<dispatcher_log> disp_log = std::make_shared<dispatcher_log>();
  std::shared_ptr<persistence_log> pers_log
    = std::make_shared<persistence_log>();
  std::shared_ptr<rows> db = std::make_shared<rows>();
  telemetry_ptr tel = std::make_shared<telemetry>();
  task_manager_actor mgr;

  fixture() {
    auto disp = sys.spawn(fake_dispatcher, disp_log);
    auto pers = sys.spawn(fake_persistence, pers_log);
    auto reader = sys.spawn(fake_reader, db);
    keep(disp);
    keep(pers);
    keep(reader);
    task_manager_config cfg;
    cfg.horizon_ms = 60000;
    mgr = sys.spawn(task_manager, disp,
                    caf::actor_cast<persistence_actor>(pers), reader, cfg,
                    tel);
    keep(mgr);
    sched.run();
  }

  task_record submit(millis delay_ms = 0) {
    auto rec = make_record(make_uuid(), task_status::pending, 0);
    rec.created_at = rec.updated_at = now();
    rec.scheduled_at = rec.created_at + delay_ms;
    rec.timeout_ms = 5000;
    db->by_id[rec.id] = rec; // what the insert stores
    auto r = ask<submit_reply>(mgr, submit_atom_v,
                               std::vector<task_record>{rec});
    sched.run();
    CAF_REQUIRE(r->value);
    return rec;
  }

  nlohmann::json status() {
    return ask_json<manager_status>(mgr, status_atom_v);
  }

  /// A second manager, whose persistence actor logs to `log`.
  std::pair<task_manager_actor, caf::actor>
  with_persistence(std::shared_ptr<persistence_log> log) {
    auto pers = caf::actor_cast<caf::actor>(sys.spawn(fake_persistence, log));
    auto reader = sys.spawn(fake_reader, db);
    keep(reader);
    auto d = sys.spawn(fake_dispatcher, disp_log);
    keep(d);
    task_manager_config cfg;
    auto m = sys.spawn(task_manager, d, caf::actor_cast<persistence_actor>(pers),
                       reader, cfg, tel);
    keep(m);
    sched.run();
    return {m, pers};
  }

  /// The persistence actor dies, and the manager hears of its successor
  /// (logging to `log`), as the supervisor tells it.
  void restart_persistence(const task_manager_actor& m, const caf::actor& dying,
                           std::shared_ptr<persistence_log> log) {
    caf::anon_send_exit(dying, caf::exit_reason::kill);
    auto next = caf::actor_cast<caf::actor>(sys.spawn(fake_persistence, log));
    keep(next);
    sched.run();
    self->send(m, rewrite_atom_v, next);
    sched.run();
  }

  task_manager_state& state() {
    using impl = caf::stateful_actor<task_manager_state,
                                     task_manager_actor::base>;
    return deref<impl>(mgr).state;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(task_manager_tests, fixture)

CAF_TEST(recovery at start finishes on an empty database) {
  CAF_CHECK(tel->state.recovered.load());
  CAF_CHECK_EQUAL(status()["recovery_done"].get<bool>(), true);
}

CAF_TEST(a task actor that dies is restarted from its durable row) {
  auto rec = submit();
  CAF_REQUIRE_EQUAL(state().live.count(rec.id), 1u);
  auto first = state().live.at(rec.id);
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 1u);
  // The actor crashes (killed: what an uncaught exception also does).
  caf::anon_send_exit(first, caf::exit_reason::kill);
  sched.run();
  // The manager read its row again and started a new actor, which queued
  // the attempt again; the restart is counted and visible.
  CAF_REQUIRE_EQUAL(state().live.count(rec.id), 1u);
  CAF_CHECK_NOT_EQUAL(state().live.at(rec.id), first);
  CAF_CHECK_EQUAL(db->reads, 1u);
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 2u);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].id, rec.id);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].attempt, 1);
  CAF_CHECK_EQUAL(status()["restarts"].get<int>(), 1);
  // A task that finished meanwhile is not restarted: its row is terminal.
  db->by_id[rec.id].status = task_status::completed;
  caf::anon_send_exit(state().live.at(rec.id), caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(state().live.count(rec.id), 0u);
  CAF_CHECK_EQUAL(disp_log->enqueued.size(), 2u);
  CAF_CHECK_EQUAL(status()["restarts"].get<int>(), 2);
}

CAF_TEST(a dispatcher restart makes every live task queue its attempt again) {
  auto a = submit();
  auto b = submit();
  auto later = submit(3600000);
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 2u);
  auto next_log = std::make_shared<dispatcher_log>();
  auto next = sys.spawn(fake_dispatcher, next_log);
  keep(next);
  self->send(mgr, redispatch_atom_v, uint64_t{1},
             caf::actor_cast<caf::actor>(next));
  sched.run();
  // Both live tasks queued attempt 1 again, with the new dispatcher; the
  // far-future one, which has no actor, waits in the database as before.
  CAF_CHECK_EQUAL(disp_log->enqueued.size(), 2u);
  CAF_REQUIRE_EQUAL(next_log->enqueued.size(), 2u);
  std::set<std::string> again{next_log->enqueued[0].id,
                              next_log->enqueued[1].id};
  CAF_CHECK_EQUAL(again, (std::set<std::string>{a.id, b.id}));
  CAF_CHECK_EQUAL(next_log->enqueued[0].attempt, 1);
  CAF_CHECK_EQUAL(next_log->enqueued[1].attempt, 1);
  CAF_CHECK_EQUAL(state().live.count(later.id), 0u);
  // A task submitted now goes to the new dispatcher too.
  auto c = submit();
  CAF_REQUIRE_EQUAL(next_log->enqueued.size(), 3u);
  CAF_CHECK_EQUAL(next_log->enqueued[2].id, c.id);
}

CAF_TEST(submissions the persistence actor died holding are read back) {
  // The persistence actor dies holding two submissions unanswered (CAF 0.17
  // tells their requester nothing).
  auto dying_log = std::make_shared<persistence_log>();
  dying_log->hold_inserts = true;
  auto [m, dying] = with_persistence(dying_log);
  auto make = [this] {
    auto rec = make_record(make_uuid(), task_status::pending, 0);
    rec.created_at = rec.updated_at = rec.scheduled_at = now();
    return rec;
  };
  // The writer had committed the first (a batch of two) before the actor
  // died, not the second.
  auto stored = make();
  auto stored_too = make();
  auto not_stored = make();
  db->by_id[stored.id] = stored;
  db->by_id[stored_too.id] = stored_too;
  auto r1 = ask<submit_reply>(m, submit_atom_v,
                              std::vector<task_record>{stored, stored_too});
  auto r2 = ask<submit_reply>(m, submit_atom_v,
                              std::vector<task_record>{not_stored});
  sched.run();
  CAF_REQUIRE_EQUAL(dying_log->held_inserts.size(), 2u);
  CAF_CHECK(!r1->done);
  CAF_CHECK(!r2->done);
  // It dies; the manager hears of its successor.
  auto next_log = std::make_shared<persistence_log>();
  restart_persistence(m, dying, next_log);
  advance_time(50ms);
  sched.run();
  // A barrier (an empty submission) went through the successor first, then
  // the rows were read back.
  CAF_REQUIRE_GREATER_OR_EQUAL(next_log->inserts.size(), 1u);
  CAF_CHECK(next_log->inserts[0].empty());
  CAF_REQUIRE(r1->done);
  CAF_REQUIRE(r1->value);
  CAF_REQUIRE_EQUAL(r1->value->tasks.size(), 2u);
  CAF_CHECK_EQUAL(r1->value->tasks[0].id, stored.id);
  CAF_CHECK_EQUAL(r1->value->tasks[1].id, stored_too.id);
  CAF_REQUIRE(r2->done);
  CAF_REQUIRE(!r2->value);
  CAF_CHECK_EQUAL(code_of(r2->err), ec::unavailable);
  // The stored ones run; the other never will.
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 2u);
  CAF_CHECK_EQUAL(disp_log->enqueued[0].id, stored.id);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].id, stored_too.id);
  auto st = ask_json<manager_status>(m, status_atom_v);
  CAF_CHECK_EQUAL(st["in_doubt_stored"].get<int>(), 1);
  CAF_CHECK_EQUAL(st["in_doubt_not_stored"].get<int>(), 1);
  // Nothing is left counted against max_pending but the live task.
  CAF_CHECK_EQUAL(st["admitting"].get<int>(), 0);
  CAF_CHECK_EQUAL(st["live_task_actors"].get<int>(), 2);
}

CAF_TEST(a retry whose write died with the persistence actor is written again) {
  auto dying_log = std::make_shared<persistence_log>();
  dying_log->hold = true;
  auto [m, dying] = with_persistence(dying_log);
  auto rec = make_record(make_uuid(), task_status::failed, 3);
  rec.created_at = rec.updated_at = rec.scheduled_at = now();
  db->by_id[rec.id] = rec;
  auto r = ask<task_record>(m, retry_atom_v, rec.id);
  sched.run();
  CAF_REQUIRE_EQUAL(dying_log->writes.size(), 1u);
  CAF_CHECK(!r->done);
  auto next_log = std::make_shared<persistence_log>();
  restart_persistence(m, dying, next_log);
  // The same write went to the successor, which committed it: the task runs
  // again and the client has its answer.
  CAF_REQUIRE_EQUAL(next_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(next_log->writes[0], dying_log->writes[0]);
  CAF_REQUIRE(r->done);
  CAF_REQUIRE(r->value);
  CAF_CHECK_EQUAL(r->value->status, task_status::pending);
  CAF_CHECK_EQUAL(disp_log->enqueued.size(), 1u);
  // A second retry is refused while it runs.
  auto again = ask<task_record>(m, retry_atom_v, rec.id);
  sched.run();
  CAF_CHECK_EQUAL(code_of(again->err), ec::conflict);
}

CAF_TEST(a task due beyond the horizon has no actor and cancels in the database) {
  auto rec = submit(3600000);
  CAF_CHECK_EQUAL(state().live.count(rec.id), 0u);
  CAF_CHECK(disp_log->enqueued.empty());
  CAF_CHECK_EQUAL(status()["delayed_parked"].get<int>(), 1);
  // It reads from the database as PENDING.
  auto got = ask<task_record>(mgr, get_atom_v, rec.id, int64_t{0});
  sched.run();
  CAF_REQUIRE(got->value);
  CAF_CHECK_EQUAL(got->value->status, task_status::pending);
  // Cancelled there: CANCELLED is written, and a second cancel conflicts.
  auto c = ask<task_record>(mgr, cancel_atom_v, rec.id);
  sched.run();
  CAF_REQUIRE(c->value);
  CAF_CHECK_EQUAL(c->value->status, task_status::cancelled);
  CAF_REQUIRE_EQUAL(pers_log->writes.size(), 1u);
  CAF_CHECK_EQUAL(pers_log->writes[0].status, task_status::cancelled);
  auto again = ask<task_record>(mgr, cancel_atom_v, rec.id);
  sched.run();
  CAF_CHECK(!again->value);
  CAF_CHECK_EQUAL(code_of(again->err), ec::conflict);
  CAF_CHECK_EQUAL(state().live.count(rec.id), 0u);
}

CAF_TEST(a late commit answers unavailable and its tasks still run) {
  auto slow_log = std::make_shared<persistence_log>();
  slow_log->hold_inserts = true;
  auto [m, pers] = with_persistence(slow_log);
  auto make = [this] {
    auto rec = make_record(make_uuid(), task_status::pending, 0);
    rec.created_at = rec.updated_at = rec.scheduled_at = now();
    rec.timeout_ms = 5000;
    return rec;
  };
  auto first = make();
  auto r1 = ask<submit_reply>(m, submit_atom_v,
                              std::vector<task_record>{first});
  sched.run();
  advance_time(1500ms);
  sched.run();
  auto second = make();
  auto r2 = ask<submit_reply>(m, submit_atom_v,
                              std::vector<task_record>{second});
  sched.run();
  CAF_REQUIRE_EQUAL(slow_log->held_inserts.size(), 2u);
  // The default submit timeout is 2 s: at 2.1 s only the first has waited
  // that long (the sweep runs every 100 ms).
  advance_time(600ms);
  sched.run();
  CAF_REQUIRE(r1->done);
  CAF_CHECK_EQUAL(code_of(r1->err), ec::unavailable);
  CAF_CHECK(!r2->done);
  // Both commits come now: the first's task runs all the same, and the
  // second's client hears it stored.
  self->send(caf::actor_cast<fake_persistence_actor>(pers), ok_atom_v);
  sched.run();
  CAF_REQUIRE_EQUAL(disp_log->enqueued.size(), 2u);
  CAF_CHECK_EQUAL(disp_log->enqueued[0].id, first.id);
  CAF_CHECK_EQUAL(disp_log->enqueued[1].id, second.id);
  CAF_REQUIRE(r2->done);
  CAF_REQUIRE(r2->value);
  CAF_CHECK_EQUAL(r2->value->tasks[0].id, second.id);
  // No deadline left: the sweeps stop.
  advance_time(3000ms);
  sched.run();
  auto st = ask_json<manager_status>(m, status_atom_v);
  CAF_CHECK_EQUAL(st["submit_timeouts"].get<int>(), 1);
  using impl
    = caf::stateful_actor<task_manager_state, task_manager_actor::base>;
  CAF_CHECK(!deref<impl>(m).state.sweeping);
}

CAF_TEST(a task due within the horizon counts against max_pending) {
  state().cfg.max_pending = 1;
  submit(1000);
  auto rec = make_record(make_uuid(), task_status::pending, 0);
  rec.created_at = rec.updated_at = rec.scheduled_at = now();
  auto r = ask<submit_reply>(mgr, submit_atom_v, std::vector<task_record>{rec});
  sched.run();
  CAF_CHECK_EQUAL(code_of(r->err), ec::overloaded);
  // A far-future one does not.
  submit(3600000);
}

CAF_TEST_FIXTURE_SCOPE_END()
