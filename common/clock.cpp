#include "common/clock.hpp"

#include <chrono>

#include <caf/detail/test_actor_clock.hpp>
#include <caf/local_actor.hpp>

namespace tasker {

millis now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

millis now_ms(const caf::local_actor* self) {
  auto* test = dynamic_cast<const caf::detail::test_actor_clock*>(
    &self->clock());
  if (test == nullptr)
    return now_ms();
  using namespace std::chrono;
  return virtual_epoch_ms
         + duration_cast<milliseconds>(test->current_time.time_since_epoch())
             .count();
}

} // namespace tasker
