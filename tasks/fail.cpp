// Task type `fail`: never succeeds; for testing retries.
#include "tasks/registry.hpp"

namespace tasker {

namespace {

struct fail_params {
  std::string message;
  bool retryable = true;

  static fail_params from_json(const nlohmann::json& js) {
    return {js.at("message").get<std::string>(), js.at("retryable").get<bool>()};
  }
};

handler_result run_fail(const fail_params& p, const task_context&) {
  return handler_result::failure(p.message, p.retryable);
}

} // namespace

void register_fail(registry& reg) {
  reg.add<fail_params>("fail",
                       "Always fails with the given message; retried while "
                       "retryable and attempts remain.",
                       params_spec{}
                         .string("message", "the error of every attempt", 65536)
                         .boolean("retryable", "whether to retry", true),
                       run_fail);
}

} // namespace tasker
