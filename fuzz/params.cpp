// libFuzzer target: bytes as the params of every built-in task type.
//
// The bytes are parsed as JSON without exceptions (texts the gateway refuses
// for their nesting are skipped), validated as the params of each type with
// the server's task limits, and where valid run by the handler the way a
// worker runs a task: from the params as the gateway stored them. `sleep`
// runs with its attempt already cancelled, so it returns at once. Checked:
// a refusal names the params, validation accepts its own output unchanged,
// no handler raises on valid params, each type's outcome is the one it
// promises, and results print as JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "gateway/validation.hpp"
#include "tasks/registry.hpp"

using namespace tasker;
using json = nlohmann::json;

namespace {

/// The task types of a server with the default settings of config/config.hpp.
struct server {
  config cfg;
  registry reg = builtin_registry(task_limits{cfg.max_text_bytes,
                                              cfg.max_top_n});
};

/// Ends the run when `ok` is false: libFuzzer reports it and keeps the input.
void require(bool ok, const char* what, const std::string& detail = {}) {
  if (ok)
    return;
  fprintf(stderr, "fuzz_params: %s\n%.4000s\n", what, detail.c_str());
  abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const server srv;
  std::string text{reinterpret_cast<const char*>(data), size};
  if (nests_deeper_than(text, max_body_depth))
    return 0;
  auto js = json::parse(text, nullptr, false);
  if (js.is_discarded())
    return 0;
  // parse_submission stores the params as submitted.
  auto stored = js.dump(-1, ' ', false, json::error_handler_t::replace);
  for (auto& type : srv.reg.names()) {
    auto params = js;
    auto err = srv.reg.validate(type, params);
    if (!err.empty()) {
      require(err.rfind("params", 0) == 0, "a refusal does not name params",
              type + ": " + err);
      continue;
    }
    auto again = params;
    require(srv.reg.validate(type, again).empty() && again == params,
            "validation does not accept its own output",
            type + ": " + params.dump());
    cancel_signal cancelled;
    if (type == "sleep")
      cancelled.raise();
    task_context ctx{&cancelled};
    auto res = srv.reg.run(type, stored, ctx);
    // `fail` fails with any message, this one included.
    require(type == "fail" || res.error.rfind("handler raised", 0) != 0,
            "a handler raised on valid params",
            type + ": " + stored + "\n" + res.error);
    if (type == "sum" || type == "text_stats")
      require(res.ok && res.result.is_object(), "a handler did not succeed",
              type + ": " + stored + "\n" + res.error);
    else if (type == "fail")
      require(!res.ok && res.error == params["message"]
                && res.retryable == params["retryable"],
              "fail did not fail as asked", stored);
    else if (type == "sleep")
      require(!res.ok && !res.retryable, "a cancelled sleep did not stop",
              stored);
    if (res.ok) {
      // As a worker reports it (node_agent.cpp).
      auto result = res.result.dump(-1, ' ', false,
                                    json::error_handler_t::replace);
      require(json::accept(result), "a result does not print as JSON",
              result);
    }
  }
  return 0;
}
