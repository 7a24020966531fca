// The leadership view's readers, apart from the leadership thread's code so
// that the gateway links without libpqxx (the fuzz build).
#include "persistence/leadership.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace tasker {

leadership_view::snapshot leadership_view::read() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto s = snap_;
  s.self_role = role_.load();
  s.epoch = epoch_.load();
  s.takeovers = takeovers_.load();
  s.stepdowns = stepdowns_.load();
  return s;
}

std::string leadership_view::metrics_text() const {
  using namespace prometheus;
  Registry registry;
  BuildGauge()
    .Name("tasker_coordinator_active")
    .Help("1 while this coordinator is the active one, 0 while it stands by")
    .Register(registry)
    .Add({})
    .Set(active() ? 1 : 0);
  BuildGauge()
    .Name("tasker_coordinator_epoch")
    .Help("The leadership epoch this coordinator holds (active) or last saw")
    .Register(registry)
    .Add({})
    .Set(static_cast<double>(epoch()));
  BuildCounter()
    .Name("tasker_coordinator_takeovers_total")
    .Help("Times this coordinator process became the active one")
    .Register(registry)
    .Add({})
    .Increment(static_cast<double>(takeovers()));
  BuildCounter()
    .Name("tasker_coordinator_stepdowns_total")
    .Help("Times this coordinator process stopped being the active one "
          "without being asked to (deposed or unable to renew its lease)")
    .Register(registry)
    .Add({})
    .Increment(static_cast<double>(stepdowns()));
  return TextSerializer{}.Serialize(registry.Collect());
}

} // namespace tasker
