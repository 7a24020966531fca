#pragma once

#include <cstdint>

namespace tasker {

/// Milliseconds since the Unix epoch; 0 stands for "not set" in records.
using millis = int64_t;

/// Returns the current wall-clock time in milliseconds since the epoch.
millis now_ms();

} // namespace tasker
