#include "actors/task_manager_internal.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker::manager {

namespace {

/// The error for a group the database did not store, or none when stored.
caf::error insert_error(const insert_result& res) {
  switch (res.status) {
    case insert_status::inserted:
    case insert_status::existing:
      return {};
    case insert_status::conflict:
      return make_error(ec::conflict, "idempotency key '" + res.conflict_key
                                        + "' was used before with a "
                                          "different body");
    case insert_status::refused:
      // (The database's words stay in the log: they quote the values.)
      return make_error(ec::invalid_params,
                        "the database refused a value of this submission "
                        "(logged as \"the database refused a submission\")");
    case insert_status::unavailable:
      return make_error(ec::unavailable,
                        "the database did not accept the tasks: " + res.error);
  }
  return make_error(ec::internal, "unknown insert status");
}

/// Answers submission `token`, unless it was answered already (timed out).
template <class T>
void answer_submit(task_manager_state& st, uint64_t token, T&& x) {
  if (auto client = st.submissions.take_client(token))
    client->deliver(std::forward<T>(x));
}

/// Gives the stored tasks of a submission their actors (or leaves them in
/// the database when due beyond the horizon). `tasks` answers the submitted
/// ids `order` one for one: a task with another id is an earlier
/// submission's (matched by idempotency key) and is skipped, as are live ones.
void admit_stored(task_manager_pointer self, const std::vector<task_record>& tasks,
                  const std::vector<std::string>& order) {
  auto& st = self->state;
  auto bound = spawn_bound(st);
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto& rec = tasks[i];
    if (i >= order.size() || rec.id != order[i] || st.live.count(rec.id) > 0)
      continue;
    log::info(st.name, "Created task " + rec.id + " in database",
              {{"task_id", rec.id}, {"type", rec.type}});
    st.deps->tel->stats.task_submitted(rec.type);
    if (rec.scheduled_at <= bound)
      spawn_task(self, rec);
    else
      ++st.parked; // loaded when it comes within the horizon
  }
}

/// A submission that could not be settled now is tried again in 250 ms, for
/// about a minute at least; then its client hears that it may not have been
/// stored (if it was, the next start recovers its tasks).
void retry_settle(task_manager_pointer self, uint64_t token,
                  const caf::error& err) {
  auto& st = self->state;
  if (st.submissions.in_doubt(token) == nullptr)
    return;
  if (st.submissions.settle_failed(token)) {
    self->delayed_send(self, std::chrono::milliseconds(250), settle_atom_v,
                       token);
    return;
  }
  log::error(st.name, "cannot settle a submission the persistence actor "
                      "died holding",
             {{"error", message_of(err)}});
  answer_submit(st, token,
                make_error(ec::unavailable, "the submission may not have "
                                            "been stored; retry it"));
}

/// Settles a submission as read back: `found` holds its tasks as stored (in
/// group order, as a commit answers), or nothing when it was not stored.
void settled(task_manager_pointer self, uint64_t token,
             std::vector<task_record> found) {
  auto& st = self->state;
  auto order = st.submissions.settled(token, !found.empty());
  if (!order)
    return;
  if (found.empty()) {
    log::warning(st.name, "a submission the persistence actor died holding "
                          "was not stored",
                 {{"tasks", order->size()}});
    answer_submit(st, token,
                  make_error(ec::unavailable,
                             "the submission was not stored; retry it"));
    return;
  }
  log::info(st.name, "a submission the persistence actor died holding was "
                     "stored",
            {{"tasks", found.size()}});
  admit_stored(self, found, *order);
  answer_submit(st, token, submit_reply{std::move(found), false});
}

/// Reads a stored submission's other tasks, one by one, after its first.
void read_rest(task_manager_pointer self, uint64_t token, task_record first) {
  auto& st = self->state;
  auto& ids = *st.submissions.in_doubt(token);
  struct readback {
    size_t left = 0;
    std::vector<task_record> found;
    caf::error failed;
  };
  auto rb = std::make_shared<readback>();
  rb->left = ids.size() - 1;
  rb->found.resize(ids.size()); // (each at its place in the group)
  rb->found[0] = std::move(first);
  auto done = [self, token, rb] {
    if (--rb->left > 0)
      return;
    if (rb->failed)
      retry_settle(self, token, rb->failed);
    else
      settled(self, token, std::move(rb->found));
  };
  for (size_t x = 1; x < ids.size(); ++x)
    self->request(st.reader, std::chrono::seconds(30), fetch_atom_v, ids[x])
      .then(
        [rb, done, x](task_record& rec) {
          rb->found[x] = std::move(rec);
          done();
        },
        [rb, done](caf::error& err) {
          rb->failed = err; // (all or none: each must be there)
          done();
        });
}

/// How often the submissions' deadlines are swept: a client hears of its
/// timeout at most this late.
std::chrono::milliseconds sweep_interval(const task_manager_state& st) {
  return std::min(st.cfg.submit_timeout, std::chrono::milliseconds(100));
}

} // namespace

caf::typed_response_promise<submit_reply>
submit(task_manager_pointer self, std::vector<task_record>& group) {
  auto rp = self->make_response_promise<submit_reply>();
  auto& st = self->state;
  // Only tasks due within the horizon will be held; later ones wait in
  // the database and do not count.
  auto bound = spawn_bound(st);
  size_t n = 0;
  for (auto& rec : group)
    n += rec.scheduled_at <= bound ? 1 : 0;
  std::vector<std::string> ids;
  ids.reserve(group.size());
  for (auto& rec : group)
    ids.push_back(rec.id);
  auto token = st.submissions.admit(std::move(ids), n, st.live.size(),
                                    st.cfg.max_pending, rp);
  if (!token) {
    rp.deliver(make_error(ec::overloaded,
                          "the coordinator holds "
                            + std::to_string(st.live.size())
                            + " unfinished tasks, its limit is "
                            + std::to_string(st.cfg.max_pending)
                            + "; retry later"));
    return rp;
  }
  // The client's answer may leave before the commit (timeout); the
  // commit's outcome is still applied when it comes.
  if (st.cfg.submit_timeout.count() > 0) {
    st.submissions.expire_at(*token,
                             now_ms(self) + st.cfg.submit_timeout.count());
    if (!st.sweeping) {
      st.sweeping = true;
      self->delayed_send(self, sweep_interval(st), expire_atom_v);
    }
  }
  self
    ->request(st.deps->persistence, caf::infinite, insert_atom_v,
              std::move(group))
    .then(
      [self, token = *token](insert_result& res) mutable {
        auto& st = self->state;
        auto order = st.submissions.answered(token);
        if (!order)
          return; // settled by a read-back
        if (auto err = insert_error(res)) {
          answer_submit(st, token, std::move(err));
          return;
        }
        admit_stored(self, res.tasks, *order);
        answer_submit(st, token,
                      submit_reply{std::move(res.tasks),
                                   res.status == insert_status::existing});
      },
      [self, token = *token](caf::error& err) mutable {
        auto& st = self->state;
        if (err.category() == caf::atom("system")) {
          // Not an answer from the database: the persistence actor died
          // with the submission (and is being restarted).
          log::warning(st.name, "the persistence actor died holding a "
                                "submission; reading it back",
                       {{"error", message_of(err)}});
          doubt(self, token);
          return;
        }
        if (st.submissions.answered(token)) // (else settled by a read-back)
          answer_submit(st, token, err);
      });
  return rp;
}

void sweep_deadlines(task_manager_pointer self) {
  auto& st = self->state;
  for (auto& client : st.submissions.expire_due(now_ms(self)))
    client.deliver(make_error(
      ec::unavailable, "the database did not confirm the tasks within "
                         + std::to_string(st.cfg.submit_timeout.count())
                         + " ms; they may still be stored: retry with the "
                           "same idempotency key to be safe"));
  st.sweeping = st.submissions.expiring();
  if (st.sweeping)
    self->delayed_send(self, sweep_interval(st), expire_atom_v);
}

void doubt(task_manager_pointer self, uint64_t token) {
  if (self->state.submissions.doubt(token))
    self->delayed_send(self, std::chrono::milliseconds(50), settle_atom_v,
                       token);
}

void settle_in_doubt(task_manager_pointer self, uint64_t token) {
  auto& st = self->state;
  auto ids = st.submissions.in_doubt(token);
  if (ids == nullptr)
    return;
  if (ids->empty()) {
    settled(self, token, {});
    return;
  }
  self
    ->request(st.deps->persistence, std::chrono::seconds(10), insert_atom_v,
              std::vector<task_record>{})
    .then(
      [self, token](insert_result&) {
        auto& st = self->state;
        auto ids = st.submissions.in_doubt(token);
        if (ids == nullptr)
          return;
        self
          ->request(st.reader, std::chrono::seconds(30), fetch_atom_v,
                    ids->front())
          .then(
            [self, token](task_record& first) {
              auto ids = self->state.submissions.in_doubt(token);
              if (ids == nullptr)
                return;
              if (ids->size() == 1)
                settled(self, token, {std::move(first)});
              else
                read_rest(self, token, std::move(first));
            },
            [self, token](caf::error& err) {
              if (code_of(err) == ec::not_found)
                settled(self, token, {});
              else
                retry_settle(self, token, err);
            });
      },
      [self, token](caf::error& err) { retry_settle(self, token, err); });
}

} // namespace tasker::manager
