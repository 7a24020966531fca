#pragma once

#include <chrono>
#include <string>

#include <caf/fwd.hpp>

namespace tasker {

struct event_hub_settings {
  std::string db_url;
  /// How often the live tail reads the table while the gateway wants it.
  std::chrono::milliseconds poll{100};
};

/// Spawns the event stream's reader: a detached actor with a database
/// connection of its own that reads `task_events` in stream order
/// (docs/ARCHITECTURE.md, "The event stream"). It serves the gateway:
///
/// - `(events_atom, caf::actor gateway, bool on)`: with `true`, the gateway
///   wants the live tail. The hub answers `(events_atom, event_position
///   head)` (the last settled event), then sends every settled event after
///   it in batches, `(events_atom, event_position prev, event_position next,
///   std::vector<task_event_record>)`, each starting where the last ended.
///   With `false`, it stops reading.
/// - `(events_atom, uint64_t stream, event_position after)`: a catch-up page
///   for stream N: at most 1,000 events after `after` and up to the head,
///   answered `(events_atom, stream, std::vector<task_event_record>,
///   event_position scanned_to)`. The hub answers the gateway in order, so a
///   page is bounded by the head of the last batch the gateway received.
///
/// A database error is logged (once until it is back) and tried again a
/// second later; a page it could not read comes back empty, scanned to where
/// it started.
caf::actor spawn_event_hub(caf::actor_system& sys, event_hub_settings cfg);

} // namespace tasker
