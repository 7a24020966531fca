#include "actors/node_table.hpp"

#include <algorithm>

namespace tasker {

const char* status_of(const worker_node& n) {
  if (n.live == liveness::dead)
    return "DEAD";
  if (n.live == liveness::suspect)
    return "SUSPECT";
  return n.draining ? "DRAINING" : "ALIVE";
}

bool has_room(const worker_node& n, const std::string& type) {
  auto& types = n.info.task_types;
  return n.live == liveness::alive && !n.draining && n.busy < n.info.slots
         && (types.empty()
             || std::find(types.begin(), types.end(), type) != types.end());
}

worker_node* pick_node(node_table& nodes, const std::string& type) {
  worker_node* best = nullptr;
  for (auto& [id, n] : nodes) {
    if (!has_room(n, type))
      continue;
    if (best == nullptr) {
      best = &n;
      continue;
    }
    auto lhs = int64_t{n.busy} * best->info.slots;
    auto rhs = int64_t{best->busy} * n.info.slots;
    if (lhs < rhs || (lhs == rhs && n.last_assigned < best->last_assigned))
      best = &n;
  }
  return best;
}

worker_node& add_node(node_table& nodes, node_info info, node_actor handle,
                      millis now) {
  auto base = info.name.empty() ? std::string{"node"} : info.name;
  if (auto old = nodes.find(base);
      old != nodes.end() && old->second.live == liveness::dead)
    nodes.erase(old);
  auto id = base;
  for (int n = 2; nodes.count(id) > 0; ++n)
    id = base + "-" + std::to_string(n);
  info.name = id;
  worker_node n;
  n.id = id;
  n.info = std::move(info);
  n.handle = std::move(handle);
  n.joined_at = now;
  n.last_seen = now;
  return nodes.emplace(id, std::move(n)).first->second;
}

std::vector<worker_view> worker_views(const node_table& nodes) {
  std::vector<worker_view> out;
  out.reserve(nodes.size());
  for (auto& [id, n] : nodes)
    out.push_back(worker_view{id, n.info.name, n.info.address, status_of(n),
                              n.info.task_types, n.info.slots, n.busy,
                              n.completed, n.failed, n.joined_at, n.last_seen,
                              n.info.protocol_version});
  return out;
}

} // namespace tasker
