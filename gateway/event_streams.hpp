#pragma once

// The gateway's Server-Sent Events streams (GET /v1/events): which events
// each stream still owes its client, from the event hub's live batches and
// catch-up pages. Pure: the gateway broker carries its writes to the
// connection engine and its requests to the hub; tests drive it alone.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/connection_engine.hpp"
#include "gateway/validation.hpp"
#include "messages/types.hpp"

namespace tasker {

/// One Server-Sent Events frame: `id: <position>` and the event object as
/// `data`.
std::string sse_frame(const task_event_record& ev);

class event_streams {
public:
  struct hooks {
    /// Writes on a stream; returns what its client has not taken yet, or
    /// nothing when the stream is gone.
    std::function<std::optional<size_t>(const ticket&, std::string_view)>
      write;
    /// Ends a stream once what is written has left.
    std::function<void(const ticket&)> close;
    /// Asks the hub for the page after a position (`on_page` answers).
    std::function<void(uint64_t stream, const event_position& after)> page;
    /// Turns the hub's live tail on (with the first stream) or off (with
    /// the last).
    std::function<void(bool on)> tail;
  };

  /// `buffer_bytes`: what a client may leave unread before it is dropped.
  event_streams(size_t buffer_bytes, hooks h);

  /// Starts a stream after `from`, or from the live head when none is given.
  void add(const ticket& t, event_filter filter,
           std::optional<event_position> from);

  /// The hub's head: where the live tail starts (again).
  void on_head(const event_position& head);

  /// A live batch of the hub: the settled events after `prev`, up to `next`.
  void on_live(const event_position& prev, const event_position& next,
               const std::vector<task_event_record>& events);

  /// A catch-up page of stream `id`: its events, and how far the hub read.
  void on_page(uint64_t id, const std::vector<task_event_record>& events,
               const event_position& scanned_to);

  /// Writes a keep-alive comment on every stream (and so finds those whose
  /// clients left).
  void keep_alive();

  /// Asks for the next page for streams that were waiting for room.
  void tick();

  size_t size() const {
    return streams_.size();
  }

  /// Streams dropped for reading too slowly, since the start.
  uint64_t dropped() const {
    return dropped_;
  }

  /// Events written to streams, since the start.
  uint64_t sent() const {
    return sent_;
  }

private:
  struct stream {
    ticket t;
    event_filter filter;
    /// The last position passed on (sent, or skipped by the filter).
    std::optional<event_position> position;
    /// Catching up from the database (else live, once it has a position).
    bool catching_up = false;
    /// A page is asked for and not answered yet.
    bool awaiting = false;
  };

  using iterator = std::map<uint64_t, stream>::iterator;

  /// Writes the events after the stream's position that its filter passes;
  /// false when the stream is gone (removed).
  bool deliver(iterator i, const std::vector<task_event_record>& events,
               const event_position& upto);

  /// Writes bytes; false when the stream is gone or was dropped (removed).
  bool write(iterator i, std::string_view bytes);
  /// Starts a stream without a resume point at `head`, and tells its client
  /// (false when the client is gone).
  bool start_at(iterator i, const event_position& head);

  /// Asks for the next page when its client has room for it.
  void next_page(iterator i);

  void remove(iterator i);

  size_t buffer_bytes_;
  hooks hooks_;
  std::map<uint64_t, stream> streams_;
  uint64_t next_id_ = 1;
  std::optional<event_position> head_;
  uint64_t dropped_ = 0;
  uint64_t sent_ = 0;
};

} // namespace tasker
