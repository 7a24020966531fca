#pragma once

#include <caf/fwd.hpp>

namespace tasker {

/// Registers every message type and the error category of tasker. Every node
/// (coordinator, worker, tests) calls this on its config before starting.
void add_message_types(caf::actor_system_config& cfg);

} // namespace tasker
