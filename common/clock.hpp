#pragma once

#include <cstdint>

namespace caf {
class local_actor;
} // namespace caf

namespace tasker {

/// Milliseconds since the Unix epoch; 0 stands for "not set" in records.
using millis = int64_t;

/// Returns the current wall-clock time in milliseconds since the epoch.
millis now_ms();

/// Where the virtual clock of CAF's test coordinator starts, in epoch
/// milliseconds (2025-11-22T10:00:00Z).
constexpr millis virtual_epoch_ms = 1'763'805'600'000;

/// The time as the actor `self` sees it, in epoch milliseconds: the wall
/// clock, or under CAF's test coordinator its virtual clock, counted from
/// `virtual_epoch_ms`, which moves only when a test advances it. Actors take
/// their time from here, so that timers and timestamps agree in tests.
millis now_ms(const caf::local_actor* self);

} // namespace tasker
