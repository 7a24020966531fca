#pragma once

#include <caf/type_id.hpp>

// Self-messages: what an actor sends itself (timers, deferred work) or, for
// `done_atom`, what an executor sends the node agent that owns it. No other
// component sends them. Each has an atom of its own, so that what a handler
// means never depends on who sent it. (CAF's `tick_atom` and `flush_atom` are
// self-messages too, where the interfaces say so.)

/// Task manager: settle submission N, which the persistence actor died
/// holding (was it stored or not?).
CAF_ADD_ATOM(tasker, tasker, settle_atom, "settle")
/// Task manager: send its write N again (the persistence actor was gone).
CAF_ADD_ATOM(tasker, tasker, resend_atom, "resend")
/// Task manager: submission N waited too long for its commit.
CAF_ADD_ATOM(tasker, tasker, expire_atom, "expire")
/// Task actor: the scheduled time of the next attempt has come.
CAF_ADD_ATOM(tasker, tasker, dispatch_atom, "dispatch")
/// Task actor: the deadline of waiter N has passed.
CAF_ADD_ATOM(tasker, tasker, wait_atom, "wait")
/// Node agent: an executor finished an attempt.
CAF_ADD_ATOM(tasker, tasker, done_atom, "done")
