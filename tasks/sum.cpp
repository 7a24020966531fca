// Task type `sum`: adds two numbers.
#include "tasks/registry.hpp"

namespace tasker {

namespace {

struct sum_params {
  nlohmann::json a;
  nlohmann::json b;

  static sum_params from_json(const nlohmann::json& js) {
    return {js.at("a"), js.at("b")};
  }
};

handler_result run_sum(const sum_params& p, const task_context&) {
  // Integers stay integers unless the sum overflows.
  auto fits = [](const nlohmann::json& x) {
    return x.is_number_integer()
           && (!x.is_number_unsigned() || x.get<uint64_t>() <= INT64_MAX);
  };
  if (fits(p.a) && fits(p.b)) {
    int64_t x = p.a.get<int64_t>(), y = p.b.get<int64_t>(), z = 0;
    if (!__builtin_add_overflow(x, y, &z))
      return handler_result::success({{"sum", z}});
  }
  return handler_result::success({{"sum", p.a.get<double>() + p.b.get<double>()}});
}

} // namespace

void register_sum(registry& reg) {
  reg.add<sum_params>(
    "sum", "Adds two numbers: {\"sum\": a + b}.",
    params_spec{}.number("a", "the first addend").number("b", "the second addend"),
    run_sum);
}

} // namespace tasker
