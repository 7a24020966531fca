#include "gateway/event_streams.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "gateway/encoding.hpp"

namespace tasker {

std::string sse_frame(const task_event_record& ev) {
  // (The event object is one line of JSON: no raw newline can end the
  // frame early.)
  std::string out = "id: " + ev.position().str() + "\ndata: ";
  append_event_json(out, ev);
  out += "\n\n";
  return out;
}

event_streams::event_streams(size_t buffer_bytes, hooks h)
  : buffer_bytes_(buffer_bytes), hooks_(std::move(h)) {
}

void event_streams::add(const ticket& t, event_filter filter,
                        std::optional<event_position> from) {
  if (streams_.empty()) {
    // The hub was idle: the head it had is old. Its fresh one comes first.
    head_.reset();
    hooks_.tail(true);
  }
  auto id = next_id_++;
  auto i = streams_.emplace(id, stream{t, std::move(filter), {}, false, false})
             .first;
  // (The first write sends the head of the response.)
  if (!write(i, {}))
    return;
  if (from) {
    i->second.position = std::move(from);
    i->second.catching_up = true;
    next_page(i);
  } else if (head_) {
    start_at(i, *head_);
  }
  // (Else it starts at the head the hub is about to send.)
}

bool event_streams::start_at(iterator i, const event_position& head) {
  // An `id:` without data moves the client's last event id (nothing is
  // dispatched): it says the stream is live from here, and where to resume.
  i->second.position = head;
  return write(i, "id: " + head.str() + "\n\n");
}

void event_streams::on_head(const event_position& head) {
  head_ = head;
  for (auto i = streams_.begin(); i != streams_.end();) {
    auto next = std::next(i);
    auto& s = i->second;
    if (!s.position) {
      start_at(i, head);
    } else if (!s.catching_up && *s.position < head) {
      // The hub started again from further on: read the gap.
      s.catching_up = true;
      next_page(i);
    }
    i = next;
  }
}

void event_streams::on_live(const event_position& prev,
                            const event_position& next,
                            const std::vector<task_event_record>& events) {
  head_ = next;
  for (auto i = streams_.begin(); i != streams_.end();) {
    auto after = std::next(i);
    auto& s = i->second;
    if (!s.position || s.catching_up) {
      // (A catching-up stream reads these from the database, up to this
      // head at the least.)
    } else if (*s.position < prev) {
      s.catching_up = true;
      next_page(i);
    } else {
      deliver(i, events, next);
    }
    i = after;
  }
}

void event_streams::on_page(uint64_t id,
                            const std::vector<task_event_record>& events,
                            const event_position& scanned_to) {
  auto i = streams_.find(id);
  if (i == streams_.end())
    return;
  i->second.awaiting = false;
  if (!deliver(i, events, scanned_to))
    return;
  auto& s = i->second;
  // The hub answers in order: its head was ours when it read this page.
  if (head_ && !(*s.position < *head_))
    s.catching_up = false;
  else
    next_page(i);
}

bool event_streams::deliver(iterator i,
                            const std::vector<task_event_record>& events,
                            const event_position& upto) {
  auto& s = i->second;
  std::string out;
  for (auto& ev : events) {
    auto pos = ev.position();
    if (s.position && !(*s.position < pos))
      continue;
    if (s.filter.matches(ev)) {
      out += sse_frame(ev);
      ++sent_;
    }
    s.position = std::move(pos);
  }
  if (!s.position || *s.position < upto)
    s.position = upto;
  return out.empty() || write(i, out);
}

bool event_streams::write(iterator i, std::string_view bytes) {
  auto& s = i->second;
  auto unsent = hooks_.write(s.t, bytes);
  if (!unsent) {
    remove(i);
    return false;
  }
  if (*unsent <= buffer_bytes_)
    return true;
  // A client that reads too slowly is dropped, never waited for: the last
  // it hears says so, and where to resume from.
  ++dropped_;
  auto last = s.position ? s.position->str() : std::string{};
  auto final = "event: dropped\ndata: "
               + nlohmann::json{{"reason", "the client read too slowly"},
                                {"last_event_id", last}}
                   .dump()
               + "\n\n";
  hooks_.write(s.t, final);
  hooks_.close(s.t);
  remove(i);
  return false;
}

void event_streams::next_page(iterator i) {
  auto& s = i->second;
  if (s.awaiting || !s.position)
    return;
  // Only with room for a page (1,000 events of about 500 bytes): a slow
  // reader holds back its own catch-up, and no more.
  auto unsent = hooks_.write(s.t, {});
  if (!unsent) {
    remove(i);
    return;
  }
  if (*unsent > buffer_bytes_ / 2)
    return; // (tick asks again)
  s.awaiting = true;
  hooks_.page(i->first, *s.position);
}

void event_streams::keep_alive() {
  for (auto i = streams_.begin(); i != streams_.end();) {
    auto next = std::next(i);
    write(i, ": keep-alive\n\n");
    i = next;
  }
}

void event_streams::tick() {
  for (auto i = streams_.begin(); i != streams_.end();) {
    auto next = std::next(i);
    if (i->second.catching_up && !i->second.awaiting)
      next_page(i);
    i = next;
  }
}

void event_streams::remove(iterator i) {
  streams_.erase(i);
  if (streams_.empty())
    hooks_.tail(false);
}

} // namespace tasker
