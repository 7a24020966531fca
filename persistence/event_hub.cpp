#include "persistence/event_hub.hpp"

#include <memory>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "common/log.hpp"
#include "messages/atoms.hpp"
#include "messages/types.hpp"
#include "persistence/database.hpp"

namespace tasker {

namespace {

/// Most events per read (a batch or a page).
constexpr int32_t max_read = 1000;

struct event_hub_state {
  static inline constexpr const char* name = "event_hub";

  std::unique_ptr<database> db;
  /// Who gets the tail, and whether it wants it.
  caf::actor gateway;
  bool on = false;
  /// Where the tail stands (once read).
  std::optional<event_position> head;
  /// A poll is scheduled (one chain of them at a time).
  bool polling = false;
  /// The last read failed (logged once until one succeeds).
  bool failing = false;

  /// Runs a read; false (logged) when the database failed it.
  template <class F>
  bool attempt(F f) {
    try {
      f();
      if (failing)
        log::info(name, "the event stream reads the database again");
      failing = false;
      return true;
    } catch (const std::exception& e) {
      db->reset();
      if (!failing)
        log::warning(name, "the event stream cannot read the database; "
                           "trying again",
                     {{"error", e.what()}});
      failing = true;
      return false;
    }
  }

  /// Reads the head when it is not known; false when the database failed.
  bool know_head() {
    if (head)
      return true;
    return attempt([this] {
      head = db->stream_head().value_or(event_position{});
    });
  }
};

using hub_actor = caf::stateful_actor<event_hub_state>;

void schedule_poll(hub_actor* self, std::chrono::milliseconds after) {
  auto& st = self->state;
  if (st.polling || !st.on)
    return;
  st.polling = true;
  if (after.count() == 0)
    self->send(self, tick_atom_v);
  else
    self->delayed_send(self, after, tick_atom_v);
}

caf::behavior event_hub(hub_actor* self, event_hub_settings cfg) {
  self->state.db = std::make_unique<database>(cfg.db_url);
  return {
    [=](events_atom, caf::actor& gateway, bool on) {
      auto& st = self->state;
      st.on = on;
      if (!on)
        return;
      st.gateway = std::move(gateway);
      // (A new gateway, or one that turned the tail off and on: the head is
      // read again, and the gateway starts from it.)
      st.head.reset();
      if (st.know_head())
        self->send(st.gateway, events_atom_v, *st.head);
      schedule_poll(self, std::chrono::milliseconds(0));
    },
    [=](events_atom, uint64_t stream, event_position& after) {
      auto& st = self->state;
      std::vector<task_event_record> events;
      auto scanned = after;
      if (st.know_head() && after < *st.head) {
        st.attempt([&] {
          events = st.db->stream_between(after, *st.head, max_read);
          scanned = events.size() < static_cast<size_t>(max_read)
                      ? *st.head
                      : events.back().position();
        });
      }
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 events_atom_v, stream, std::move(events), std::move(scanned));
    },
    [=](tick_atom) {
      auto& st = self->state;
      st.polling = false;
      if (!st.on)
        return;
      if (!st.head && st.know_head())
        self->send(st.gateway, events_atom_v, *st.head);
      std::vector<task_event_record> events;
      bool ok = st.head && st.attempt([&] {
        events = st.db->stream_after(*st.head, max_read);
      });
      if (!ok) {
        schedule_poll(self, std::chrono::seconds(1));
        return;
      }
      if (!events.empty()) {
        auto prev = *st.head;
        st.head = events.back().position();
        self->send(st.gateway, events_atom_v, prev, *st.head, events);
      }
      // A full read: more may be waiting.
      schedule_poll(self, events.size() == static_cast<size_t>(max_read)
                            ? std::chrono::milliseconds(0)
                            : cfg.poll);
    },
  };
}

} // namespace

caf::actor spawn_event_hub(caf::actor_system& sys, event_hub_settings cfg) {
  // Detached: libpqxx blocks.
  return sys.spawn<caf::detached>(event_hub, std::move(cfg));
}

} // namespace tasker
