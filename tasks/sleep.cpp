// Task type `sleep`: waits, and stops early when cancelled.
#include "tasks/registry.hpp"

namespace tasker {

namespace {

struct sleep_params {
  int64_t ms = 0;

  static sleep_params from_json(const nlohmann::json& js) {
    return {js.at("ms").get<int64_t>()};
  }
};

handler_result run_sleep(const sleep_params& p, const task_context& ctx) {
  if (!ctx.sleep_for(p.ms))
    return handler_result::failure("stopped: the attempt was cancelled", false);
  return handler_result::success({{"slept_ms", p.ms}});
}

} // namespace

void register_sleep(registry& reg) {
  reg.add<sleep_params>(
    "sleep", "Sleeps for ms milliseconds.",
    params_spec{}.integer("ms", "how long to sleep", 0, 3600000), run_sleep);
}

} // namespace tasker
