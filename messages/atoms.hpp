#pragma once

#include <caf/type_id.hpp>

// Atoms of tasker's messages between components. CAF's own atoms (get_atom,
// ok_atom, flush_atom, tick_atom, timeout_atom, join_atom, update_atom, ...)
// are reused where they fit. Self-messages have atoms of their own, below.

CAF_ADD_ATOM(tasker, tasker, submit_atom, "submit")
CAF_ADD_ATOM(tasker, tasker, cancel_atom, "cancel")
CAF_ADD_ATOM(tasker, tasker, retry_atom, "retry")
CAF_ADD_ATOM(tasker, tasker, result_atom, "result")
CAF_ADD_ATOM(tasker, tasker, start_atom, "start")
CAF_ADD_ATOM(tasker, tasker, enqueue_atom, "enqueue")
CAF_ADD_ATOM(tasker, tasker, run_atom, "run")
CAF_ADD_ATOM(tasker, tasker, status_atom, "status")
CAF_ADD_ATOM(tasker, tasker, list_atom, "list")
CAF_ADD_ATOM(tasker, tasker, insert_atom, "insert")
CAF_ADD_ATOM(tasker, tasker, write_atom, "write")
CAF_ADD_ATOM(tasker, tasker, recover_atom, "recover")
CAF_ADD_ATOM(tasker, tasker, finished_atom, "finished")
CAF_ADD_ATOM(tasker, tasker, workers_atom, "workers")
CAF_ADD_ATOM(tasker, tasker, drain_atom, "drain")
CAF_ADD_ATOM(tasker, tasker, heartbeat_atom, "heartbeat")
CAF_ADD_ATOM(tasker, tasker, retarget_atom, "retarget")
CAF_ADD_ATOM(tasker, tasker, redispatch_atom, "redispatch")
CAF_ADD_ATOM(tasker, tasker, crash_atom, "crash")
CAF_ADD_ATOM(tasker, tasker, rewrite_atom, "rewrite")
CAF_ADD_ATOM(tasker, tasker, stop_atom, "stop")
CAF_ADD_ATOM(tasker, tasker, lease_atom, "lease")
CAF_ADD_ATOM(tasker, tasker, progress_atom, "progress")
CAF_ADD_ATOM(tasker, tasker, cache_atom, "cache")
CAF_ADD_ATOM(tasker, tasker, fetch_atom, "fetch")
CAF_ADD_ATOM(tasker, tasker, forget_atom, "forget")
CAF_ADD_ATOM(tasker, tasker, events_atom, "events")
CAF_ADD_ATOM(tasker, tasker, stats_atom, "stats")

// -- self-messages -----------------------------------------------------------
// What an actor sends itself (timers, deferred work) or, for `done_atom`, what
// an executor sends the node agent that owns it. No other component sends
// them. Each has an atom of its own, so that what a handler means never
// depends on who sent it. (CAF's `tick_atom` and `flush_atom` are
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
/// Gateway: read connection N again, if it should be read.
CAF_ADD_ATOM(tasker, tasker, resume_atom, "resume")

namespace tasker {
using caf::flush_atom, caf::flush_atom_v, caf::get_atom, caf::get_atom_v;
using caf::join_atom, caf::join_atom_v, caf::ok_atom, caf::ok_atom_v;
using caf::tick_atom, caf::tick_atom_v, caf::timeout_atom, caf::timeout_atom_v;
using caf::update_atom, caf::update_atom_v;
} // namespace tasker
