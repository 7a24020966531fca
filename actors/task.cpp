#include "actors/task.hpp"

#include <random>

#include <caf/actor_cast.hpp>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker {

namespace {

double unit_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(rng);
}

/// Queues the next attempt now, or when it is due.
void schedule(task_pointer self) {
  auto& rec = self->state.rec;
  auto delay = rec.scheduled_at - now_ms(self);
  if (delay > 0) {
    self->delayed_send(self, std::chrono::milliseconds(delay), dispatch_atom_v);
    return;
  }
  task_assignment a{rec.id,         rec.type,     rec.params,
                    rec.attempts + 1, rec.timeout_ms, rec.priority,
                    rec.scheduled_at};
  self->send(self->state.dispatcher, enqueue_atom_v, std::move(a),
             caf::actor_cast<task_actor>(self));
}

void deliver_waiters(task_pointer self) {
  auto& st = self->state;
  for (auto& kv : st.waiters)
    kv.second.deliver(st.visible);
  st.waiters.clear();
  for (auto& rp : st.cancel_waiters)
    rp.deliver(st.visible);
  st.cancel_waiters.clear();
}

/// Writes the terminal state (from then on the task is finishing); shows it
/// once committed, then leaves.
void write_terminal(task_pointer self) {
  auto& st = self->state;
  st.finishing = true;
  auto seq = ++st.terminal_writes;
  self->request(st.persistence, caf::infinite, write_atom_v, st.rec)
    .then(
      [self](ok_atom) {
        auto& st = self->state;
        st.visible = st.rec;
        auto ms = st.rec.updated_at - st.rec.created_at;
        st.deps->tel->stats.task_finished(st.rec.type, to_string(st.rec.status),
                                          static_cast<double>(ms) / 1000.0);
        log::info(st.name, std::string{"task "} + to_string(st.rec.status),
                  {{"task_id", st.rec.id}, {"attempts", st.rec.attempts},
                   {"duration_ms", ms}});
        deliver_waiters(self);
        self->send(st.deps->manager, finished_atom_v, st.rec);
        self->quit();
      },
      [self, seq](caf::error& err) {
        auto& st = self->state;
        if (seq != st.terminal_writes)
          return; // a newer write is under way
        if (err.category() == caf::atom("system") && st.terminal_retries < 50) {
          // The persistence actor is gone (it is being restarted): write
          // again shortly rather than run the task again.
          ++st.terminal_retries;
          // (No handle: the one current then, which the restart's news
          // may have changed meanwhile.)
          self->delayed_send(self, std::chrono::milliseconds(100),
                             rewrite_atom_v, caf::actor{});
          return;
        }
        log::error(st.name, "terminal state not written",
                   {{"task_id", st.rec.id}, {"error", message_of(err)}});
        for (auto& rp : st.cancel_waiters)
          rp.deliver(err);
        st.cancel_waiters.clear();
        deliver_waiters(self);
        self->quit(err);
      });
}

/// Applies the end of the current attempt.
void on_outcome(task_pointer self, task_outcome out) {
  auto& st = self->state;
  if (out.ok && !nlohmann::json::accept(out.result)) {
    out.ok = false;
    out.error = "the handler returned a result that is not JSON";
    out.retryable = false;
  }
  if (!apply_outcome(st.rec, out, st.deps->backoff, unit_random(), now_ms(self))) {
    log::debug(st.name, "outcome dropped: not the current attempt",
               {{"task_id", out.id}, {"attempt", out.attempt}});
    return;
  }
  if (!out.worker_id.empty())
    st.rec.worker_id = out.worker_id;
  if (is_terminal(st.rec.status)) {
    write_terminal(self);
    return;
  }
  // PENDING again: wait out the back-off, then queue the next attempt.
  st.visible = st.rec;
  self->send(st.persistence, update_atom_v, st.rec);
  log::info(st.name, "attempt failed, retrying",
            {{"task_id", st.rec.id}, {"attempt", st.rec.attempts},
             {"error", st.rec.error},
             {"retry_in_ms", st.rec.scheduled_at - now_ms(self)}});
  schedule(self);
}

} // namespace

task_actor::behavior_type task(task_pointer self, task_record rec,
                               task_deps_ptr deps) {
  auto& st = self->state;
  st.rec = std::move(rec);
  st.visible = st.rec;
  st.deps = std::move(deps);
  st.dispatcher = st.deps->dispatcher;
  st.persistence = st.deps->persistence;
  if (st.rec.status == task_status::pending)
    schedule(self);
  return {
    [self](start_atom, int32_t attempt, const std::string& worker_id,
           millis at, uint64_t generation) {
      auto& st = self->state;
      if (st.finishing || !apply_start(st.rec, attempt, worker_id, at))
        return;
      st.started_by = generation;
      st.visible = st.rec;
      self->send(st.persistence, update_atom_v, st.rec);
    },
    [self](result_atom, task_outcome& out) {
      if (!self->state.finishing)
        on_outcome(self, std::move(out));
    },
    [self](progress_atom, int32_t attempt, std::string& progress) {
      auto& st = self->state;
      if (st.finishing || st.rec.status != task_status::processing
          || st.rec.attempts != attempt)
        return;
      st.rec.progress = progress;
      st.visible.progress = std::move(progress);
    },
    [self](timeout_atom, int32_t attempt) {
      auto& st = self->state;
      if (st.finishing || st.rec.status != task_status::processing
          || st.rec.attempts != attempt)
        return;
      auto why = "attempt " + std::to_string(attempt) + " timed out after "
                 + std::to_string(st.rec.timeout_ms) + " ms";
      on_outcome(self, {st.rec.id, attempt, false, "", why, true, "", 0, 0});
    },
    [self](redispatch_atom, uint64_t generation, caf::actor& hdl) {
      auto& st = self->state;
      st.dispatcher = caf::actor_cast<dispatcher_actor>(std::move(hdl));
      if (st.finishing)
        return;
      if (st.rec.status == task_status::processing) {
        // Started by a dispatcher that no longer exists: nobody fences or
        // times out that attempt any more, so it counts as lost (its node
        // is told to stop it when it joins the new dispatcher).
        if (st.started_by >= generation)
          return;
        auto why = "the dispatcher restarted during attempt "
                   + std::to_string(st.rec.attempts);
        on_outcome(self, {st.rec.id, st.rec.attempts, false, "", why, true, "",
                          0, now_ms(self)});
      } else if (st.rec.status == task_status::pending
                 && st.rec.scheduled_at <= now_ms(self)) {
        // Queued with the old dispatcher (or on its way to it): queue again.
        // The dispatcher ignores an attempt it already started, and one it
        // still queues is queued again (behind others of its priority and
        // time).
        schedule(self);
      }
    },
    [self](rewrite_atom, caf::actor& hdl) {
      auto& st = self->state;
      if (hdl)
        st.persistence = caf::actor_cast<persistence_actor>(std::move(hdl));
      // (Writing the same state twice changes nothing: a terminal row keeps
      // its terminal state.)
      if (st.finishing)
        write_terminal(self);
      else
        self->send(st.persistence, update_atom_v, st.rec);
    },
    [self](dispatch_atom) {
      auto& st = self->state;
      if (!st.finishing && st.rec.status == task_status::pending)
        schedule(self);
    },
    [self](wait_atom, uint64_t token) {
      auto& st = self->state;
      auto i = st.waiters.find(token);
      if (i != st.waiters.end()) {
        i->second.deliver(st.visible);
        st.waiters.erase(i);
      }
    },
    [self](get_atom, int64_t wait_ms) -> caf::typed_response_promise<task_record> {
      auto& st = self->state;
      auto rp = self->make_response_promise<task_record>();
      if (wait_ms <= 0 || is_terminal(st.visible.status)) {
        rp.deliver(st.visible);
        return rp;
      }
      auto token = st.next_waiter++;
      st.waiters.emplace(token, rp);
      self->delayed_send(self, std::chrono::milliseconds(wait_ms), wait_atom_v,
                         token);
      return rp;
    },
    [self](cancel_atom) -> caf::typed_response_promise<task_record> {
      auto& st = self->state;
      auto rp = self->make_response_promise<task_record>();
      if (st.finishing || is_terminal(st.rec.status)) {
        rp.deliver(make_error(ec::conflict,
                              std::string{"task "} + st.rec.id + " is "
                                + to_string(st.rec.status)
                                + "; only PENDING or PROCESSING tasks can be "
                                  "cancelled"));
        return rp;
      }
      // Withdraw the queued or running attempt; a running handler sees its
      // cancellation flag.
      auto attempt = st.rec.attempts
                     + (st.rec.status == task_status::processing ? 0 : 1);
      self->send(st.dispatcher, cancel_atom_v, st.rec.id, attempt);
      apply_cancel(st.rec, now_ms(self));
      st.rec.error = "cancelled by request";
      st.cancel_waiters.push_back(rp);
      write_terminal(self);
      return rp;
    },
  };
}

} // namespace tasker
