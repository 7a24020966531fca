// Tests of the all-or-none resolution of submission groups with idempotency
// keys, without a database: what the inserts stored and what each skipped
// key holds go in, each group's result and what to withdraw come out.
#define CAF_SUITE persistence.idempotency

#include "persistence/idempotency.hpp"

#include "tests/fixture.hpp"

using namespace tasker;
using namespace tasker::testing;

namespace {

task_record keyed(const std::string& id, const std::string& key,
                  const std::string& hash) {
  auto rec = make_record(id);
  rec.idempotency_key = key;
  rec.request_hash = hash;
  return rec;
}

using group = std::vector<task_record>;
using id_set = std::unordered_set<std::string>;
using key_map = std::unordered_map<std::string, task_record>;

idempotency_round resolve(const std::vector<group>& groups,
                          const id_set& inserted, const key_map& by_key) {
  std::vector<const group*> ptrs;
  for (auto& g : groups)
    ptrs.push_back(&g);
  return resolve_idempotency(ptrs, inserted, by_key);
}

std::vector<std::string> ids(const insert_result& res) {
  std::vector<std::string> out;
  for (auto& rec : res.tasks)
    out.push_back(rec.id);
  return out;
}

} // namespace

CAF_TEST(new tasks are inserted) {
  auto r = resolve({{make_record("a"), keyed("b", "k", "h")}}, {"a", "b"}, {});
  CAF_REQUIRE_EQUAL(r.results.size(), 1u);
  CAF_CHECK_EQUAL(r.results[0].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids(r.results[0]), (std::vector<std::string>{"a", "b"}));
  CAF_CHECK(r.undo.empty());
  CAF_CHECK(!r.again[0]);
}

CAF_TEST(a repeat with the same body gets the earlier tasks) {
  key_map held{{"k", keyed("old", "k", "h")}};
  auto r = resolve({{keyed("new", "k", "h")}}, {}, held);
  CAF_CHECK_EQUAL(r.results[0].status, insert_status::existing);
  CAF_CHECK_EQUAL(ids(r.results[0]), std::vector<std::string>{"old"});
  // Part new, part earlier: inserted, with the earlier task in its place.
  auto mixed = resolve({{make_record("n"), keyed("new", "k", "h")}}, {"n"},
                       held);
  CAF_CHECK_EQUAL(mixed.results[0].status, insert_status::inserted);
  CAF_CHECK_EQUAL(ids(mixed.results[0]),
                  (std::vector<std::string>{"n", "old"}));
}

CAF_TEST(a key used with another body is a conflict and nothing stays) {
  key_map held{{"k", keyed("old", "k", "other")}};
  auto r = resolve({{make_record("n"), keyed("new", "k", "h")}}, {"n"}, held);
  CAF_CHECK_EQUAL(r.results[0].status, insert_status::conflict);
  CAF_CHECK_EQUAL(r.results[0].conflict_key, "k");
  CAF_CHECK(r.results[0].tasks.empty());
  CAF_CHECK_EQUAL(r.undo, id_set{"n"});
  CAF_CHECK(!r.again[0]);
  // A key the inserts skipped but nobody holds (gone meanwhile) is a
  // conflict too.
  auto gone = resolve({{keyed("new", "k", "h")}}, {}, {});
  CAF_CHECK_EQUAL(gone.results[0].status, insert_status::conflict);
}

CAF_TEST(a group that matched a withdrawn task goes round again) {
  // Group 0 inserted "x" with key k and conflicts on key j; group 1 repeats
  // key k and matched "x", which is withdrawn: k is free again. Group 2 is
  // unrelated and stays.
  key_map held{{"k", keyed("x", "k", "h")}, {"j", keyed("old", "j", "other")}};
  auto r = resolve({{keyed("x", "k", "h"), keyed("y", "j", "h")},
                    {make_record("z"), keyed("x2", "k", "h")},
                    {make_record("w")}},
                   {"x", "z", "w"}, held);
  CAF_CHECK_EQUAL(r.results[0].status, insert_status::conflict);
  CAF_CHECK(r.again[1]);
  CAF_CHECK(!r.again[2]);
  CAF_CHECK_EQUAL(r.results[2].status, insert_status::inserted);
  // What group 0 inserted, and what group 1 inserted ("z"), are withdrawn.
  CAF_CHECK_EQUAL(r.undo, (id_set{"x", "z"}));
}
