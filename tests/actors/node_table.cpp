// Tests of the dispatcher's choices among worker nodes, without actors.
#define CAF_SUITE actors.node_table

#include "actors/node_table.hpp"

#include "tests/fixture.hpp"

using namespace tasker;

namespace {

node_info info(const std::string& name, int32_t slots,
               std::vector<std::string> types = {}) {
  node_info x;
  x.name = name;
  x.slots = slots;
  x.task_types = std::move(types);
  return x;
}

std::string picked(node_table& nodes, const std::string& type) {
  auto* n = pick_node(nodes, type);
  return n == nullptr ? std::string{"none"} : n->id;
}

} // namespace

CAF_TEST(a joining node gets its name or the next free suffix) {
  node_table nodes;
  CAF_CHECK_EQUAL(add_node(nodes, info("a", 2), {}, 10).id, "a");
  auto& second = add_node(nodes, info("a", 2), {}, 20);
  CAF_CHECK_EQUAL(second.id, "a-2");
  CAF_CHECK_EQUAL(second.info.name, "a-2");
  CAF_CHECK_EQUAL(second.joined_at, 20);
  CAF_CHECK_EQUAL(second.last_seen, 20);
  CAF_CHECK_EQUAL(add_node(nodes, info("", 1), {}, 30).id, "node");
  // A DEAD node gives its id back; a SUSPECT one keeps it.
  nodes.at("a").live = liveness::dead;
  CAF_CHECK_EQUAL(add_node(nodes, info("a", 4), {}, 40).info.slots, 4);
  CAF_CHECK_EQUAL(nodes.at("a").live, liveness::alive);
  nodes.at("a").live = liveness::suspect;
  CAF_CHECK_EQUAL(add_node(nodes, info("a", 1), {}, 50).id, "a-3");
  CAF_CHECK_EQUAL(nodes.size(), 4u);
}

CAF_TEST(the least loaded node with room runs the type) {
  node_table nodes;
  add_node(nodes, info("big", 4), {}, 0);
  add_node(nodes, info("small", 1), {}, 0);
  add_node(nodes, info("sums", 8, {"sum"}), {}, 0);
  CAF_CHECK_EQUAL(picked(nodes, "sleep"), "big"); // 0/4 ties 0/1: id order
  nodes.at("big").busy = 1;                       // 1/4 against 0/1
  CAF_CHECK_EQUAL(picked(nodes, "sleep"), "small");
  nodes.at("small").busy = 1;                     // full
  CAF_CHECK_EQUAL(picked(nodes, "sleep"), "big");
  CAF_CHECK_EQUAL(picked(nodes, "sum"), "sums");  // 0/8 against 1/4
  nodes.at("big").busy = 4;
  CAF_CHECK_EQUAL(picked(nodes, "sleep"), "none");
}

CAF_TEST(equally loaded nodes take turns) {
  node_table nodes;
  add_node(nodes, info("a", 2), {}, 0).last_assigned = 7;
  add_node(nodes, info("b", 2), {}, 0).last_assigned = 3;
  CAF_CHECK_EQUAL(picked(nodes, "sum"), "b");
  nodes.at("b").last_assigned = 9;
  CAF_CHECK_EQUAL(picked(nodes, "sum"), "a");
}

CAF_TEST(only alive nodes that are not draining get work) {
  node_table nodes;
  auto& n = add_node(nodes, info("a", 2), {}, 0);
  CAF_CHECK_EQUAL(status_of(n), std::string{"ALIVE"});
  CAF_CHECK(has_room(n, "sum"));
  n.draining = true;
  CAF_CHECK_EQUAL(status_of(n), std::string{"DRAINING"});
  CAF_CHECK(!has_room(n, "sum"));
  n.draining = false;
  n.live = liveness::suspect;
  CAF_CHECK_EQUAL(status_of(n), std::string{"SUSPECT"});
  CAF_CHECK(!has_room(n, "sum"));
  n.live = liveness::dead;
  n.draining = true;
  CAF_CHECK_EQUAL(status_of(n), std::string{"DEAD"});
  CAF_CHECK_EQUAL(picked(nodes, "sum"), "none");
  auto views = worker_views(nodes);
  CAF_REQUIRE_EQUAL(views.size(), 1u);
  CAF_CHECK_EQUAL(views[0].status, "DEAD");
  CAF_CHECK_EQUAL(views[0].slots, 2);
}
