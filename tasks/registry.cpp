#include "tasks/registry.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace tasker {

bool task_context::sleep_for(int64_t ms) const {
  auto timeout = std::chrono::milliseconds(std::max<int64_t>(ms, 0));
  if (cancelled_ == nullptr) {
    std::this_thread::sleep_for(timeout);
    return true;
  }
  // One wake-up per attempt: at the deadline, or at once when cancelled.
  return !cancelled_->wait_for(timeout);
}

const task_type* registry::find(const std::string& name) const {
  auto i = types_.find(name);
  return i != types_.end() ? &i->second : nullptr;
}

std::vector<std::string> registry::names() const {
  std::vector<std::string> out;
  for (auto& kv : types_)
    out.push_back(kv.first);
  return out;
}

std::vector<std::string> registry::runnable_names() const {
  std::vector<std::string> out;
  for (auto& kv : types_)
    if (kv.second.run)
      out.push_back(kv.first);
  return out;
}

std::string registry::validate(const std::string& type,
                               nlohmann::json& params) const {
  auto t = find(type);
  if (t == nullptr) {
    std::string known;
    for (auto& kv : types_)
      known += (known.empty() ? "" : ", ") + kv.first;
    return "type '" + type + "' is not a registered task type (known: " + known
           + ")";
  }
  return t->params.validate(params);
}

nlohmann::json registry::describe() const {
  auto out = nlohmann::json::array();
  for (auto& [name, t] : types_) {
    nlohmann::json js{{"type", name},
                      {"description", t.description},
                      {"runs", t.runs},
                      {"params_schema", t.params.schema()}};
    if (t.timeout_ms)
      js["timeout_ms"] = *t.timeout_ms;
    if (t.max_attempts)
      js["max_attempts"] = *t.max_attempts;
    out.push_back(std::move(js));
  }
  return out;
}

handler_result registry::run(const std::string& type,
                             const std::string& params_json,
                             const task_context& ctx) const {
  auto t = find(type);
  if (t == nullptr || !t->run)
    return handler_result::failure("no handler for task type '" + type + "'",
                                   false);
  try {
    auto params = nlohmann::json::parse(params_json);
    if (auto err = t->params.validate(params); !err.empty())
      return handler_result::failure(err, false);
    return t->run(params, ctx);
  } catch (const std::exception& e) {
    return handler_result::failure(std::string{"handler raised: "} + e.what());
  }
}

registry builtin_registry(const task_limits& limits) {
  registry reg;
  register_sum(reg);
  register_text_stats(reg, limits);
  register_sleep(reg);
  register_fail(reg);
  return reg;
}

} // namespace tasker
