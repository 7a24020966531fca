#include "common/clock.hpp"

#include <chrono>

namespace tasker {

millis now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace tasker
