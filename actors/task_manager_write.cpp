#include "actors/task_manager_internal.hpp"

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "messages/error.hpp"

namespace tasker::manager {

namespace {

void end_write(task_manager_pointer self, uint64_t token,
               const caf::error& err) {
  auto& st = self->state;
  auto i = st.writes.find(token);
  if (i == st.writes.end())
    return;
  auto done = std::move(i->second.done);
  st.writes.erase(i);
  done(err);
}

} // namespace

void write_record(task_manager_pointer self, task_record rec,
                  std::function<void(const caf::error&)> done) {
  auto& st = self->state;
  auto token = st.next_write++;
  st.writes[token] = {std::move(rec), std::move(done)};
  send_write(self, token);
}

void send_write(task_manager_pointer self, uint64_t token) {
  auto& st = self->state;
  auto i = st.writes.find(token);
  if (i == st.writes.end())
    return;
  auto seq = ++i->second.seq;
  self->request(st.deps->persistence, caf::infinite, write_atom_v, i->second.rec)
    .then([self, token](ok_atom) { end_write(self, token, caf::error{}); },
          [self, token, seq](caf::error& err) {
            auto& st = self->state;
            auto j = st.writes.find(token);
            if (j == st.writes.end() || j->second.seq != seq)
              return; // sent again meanwhile
            if (err.category() == caf::atom("system")
                && ++j->second.bounces <= 50) {
              self->delayed_send(self, std::chrono::milliseconds(100),
                                 resend_atom_v, token);
              return;
            }
            end_write(self, token, err);
          });
}

void write_recovered(task_manager_pointer self, const task_record& rec) {
  write_record(self, rec, [self, id = rec.id](const caf::error& err) {
    if (err)
      log::error(self->state.name, "terminal state of a recovered task not "
                                   "written; the next start settles it",
                 {{"task_id", id}, {"error", message_of(err)}});
  });
}

} // namespace tasker::manager
