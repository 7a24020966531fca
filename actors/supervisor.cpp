#include "actors/supervisor.hpp"

#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "messages/atoms.hpp"

namespace tasker {

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         supervisor_config cfg, supervisor_hooks hooks) {
  auto start = [self, hooks] {
    auto& st = self->state;
    st.child = hooks.adopt && st.restarts == 0 ? hooks.adopt
                                               : hooks.spawn(st.restarts);
    self->monitor(st.child);
  };
  start();
  self->set_down_handler([self, cfg, hooks, start](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.child.address())
      return;
    if (msg.reason == caf::exit_reason::normal
        || msg.reason == caf::exit_reason::user_shutdown) {
      self->quit(msg.reason);
      return;
    }
    auto now = self->clock().now();
    while (!st.recent.empty() && now - st.recent.front() > cfg.window)
      st.recent.pop_front();
    if (st.recent.size() >= cfg.max_restarts) {
      log::error(supervisor_state::name, "restarts come too fast, giving up",
                 {{"child", cfg.name},
                  {"restarts", st.recent.size()},
                  {"window_ms", cfg.window.count()},
                  {"reason", caf::to_string(msg.reason)}});
      self->quit(msg.reason);
      return;
    }
    st.recent.push_back(now);
    ++st.restarts;
    log::warning(supervisor_state::name, "child died, restarting it",
                 {{"child", cfg.name},
                  {"reason", caf::to_string(msg.reason)},
                  {"restarts", st.restarts}});
    start();
    if (hooks.restarted)
      hooks.restarted(st.child, st.restarts, caf::to_string(msg.reason));
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->send_exit(self->state.child, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](status_atom) { return self->state.restarts; },
    [self](get_atom) { return self->state.child; },
  };
}

caf::behavior relay(caf::stateful_actor<relay_state>* self) {
  self->set_default_handler(
    [self](caf::scheduled_actor*,
           caf::message_view& x) -> caf::result<caf::message> {
      auto& target = self->state.target;
      if (!target)
        return caf::make_error(caf::sec::request_receiver_down);
      return self->delegate(target, x.move_content_to_message());
    });
  return {
    [self](retarget_atom, caf::actor& target) {
      self->state.target = std::move(target);
    },
  };
}

} // namespace tasker
