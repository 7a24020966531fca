#include "persistence/sql.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>
#include <limits>
#include <string_view>

#include "common/format.hpp"

namespace tasker {

std::string records_json(const std::vector<task_record>& recs) {
  std::string out;
  out.reserve(recs.size() * 400);
  out += '[';
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i > 0)
      out += ',';
    append_task_json(out, recs[i], task_json_style::rows);
  }
  out += ']';
  return out;
}

namespace {

/// Appends transitions as a JSON array of `task_events` rows (without the
/// task's id and type: the row they go with gives those).
void append_events(std::string& out,
                   const std::vector<const task_event_record*>& events) {
  auto time = [&out](const char* key, millis t) {
    out += key;
    out += t == 0 ? std::string{"null"} : std::to_string(t);
  };
  auto text = [&out](const char* key, const std::string& str) {
    out += key;
    if (str.empty())
      out += "null";
    else
      append_json_string(out, str);
  };
  out += '[';
  for (size_t i = 0; i < events.size(); ++i) {
    auto& ev = *events[i];
    out += i > 0 ? ",{\"seq\":" : "{\"seq\":";
    out += std::to_string(ev.seq);
    out += ",\"kind\":\"";
    out += event_kind(ev.status, ev.attempt, ev.seq);
    out += "\",\"status\":\"";
    out += to_string(ev.status);
    out += "\",\"attempt\":";
    out += std::to_string(ev.attempt);
    text(",\"worker_id\":", ev.worker_id);
    text(",\"error\":", ev.error);
    time(",\"at\":", ev.at);
    time(",\"scheduled_at\":", ev.scheduled_at);
    time(",\"started_at\":", ev.started_at);
    out += '}';
  }
  out += ']';
}

} // namespace

std::string update_rows_json(const std::vector<task_record>& recs,
                             const std::vector<task_event_record>& events) {
  std::string out;
  out.reserve(recs.size() * 200 + events.size() * 160);
  std::unordered_map<std::string_view, std::vector<const task_event_record*>>
    by_task;
  by_task.reserve(events.size());
  for (auto& ev : events)
    by_task[ev.task_id].push_back(&ev);
  out += '[';
  auto time = [&out](const char* key, millis t) {
    out += key;
    out += t == 0 ? std::string{"null"} : std::to_string(t);
  };
  for (size_t i = 0; i < recs.size(); ++i) {
    auto& rec = recs[i];
    out += i > 0 ? ",{\"id\":\"" : "{\"id\":\"";
    out += rec.id;
    out += "\",\"status\":\"";
    out += to_string(rec.status);
    out += "\",\"result\":";
    out += rec.result.empty() ? "null" : rec.result;
    out += ",\"error\":";
    // (As in the rows style: empty is null, but a failed task's error.)
    if (rec.error.empty() && rec.status != task_status::failed)
      out += "null";
    else
      append_json_string(out, rec.error);
    out += ",\"attempts\":";
    out += std::to_string(rec.attempts);
    out += ",\"worker_id\":";
    if (rec.worker_id.empty())
      out += "null";
    else
      append_json_string(out, rec.worker_id);
    time(",\"updated_at\":", rec.updated_at);
    time(",\"scheduled_at\":", rec.scheduled_at);
    time(",\"started_at\":", rec.started_at);
    time(",\"completed_at\":", rec.completed_at);
    out += ",\"seq\":";
    out += std::to_string(rec.seq);
    if (auto i = by_task.find(rec.id); i != by_task.end()) {
      out += ",\"events\":";
      append_events(out, i->second);
    }
    out += '}';
  }
  out += ']';
  return out;
}

std::string worker_rows_json(const std::vector<worker_view>& workers) {
  auto rows = nlohmann::json::array();
  for (auto& w : workers)
    rows.push_back({{"id", w.id},
                    {"address", w.address},
                    {"status", w.status},
                    {"task_types", w.task_types},
                    {"slots", w.slots},
                    {"joined_at", w.joined_at},
                    {"last_seen", w.last_seen},
                    {"metadata",
                     {{"name", w.name},
                      {"busy", w.busy},
                      {"completed", w.completed},
                      {"failed", w.failed},
                      {"protocol_version", w.protocol_version}}}});
  return rows.dump();
}

void write_buffer::add_insert(std::vector<task_record> group, uint64_t token) {
  // (An empty group, a barrier, counts as a row so that it is flushed.)
  rows_ += std::max<size_t>(group.size(), 1);
  inserts_.push_back({std::move(group), token});
}

void write_buffer::add_update(task_record rec, uint64_t token) {
  auto [i, added] = update_index_.emplace(rec.id, updates_.size());
  if (added) {
    updates_.emplace_back();
    ++rows_;
  }
  auto& entry = updates_[i->second];
  note_event(entry, rec);
  entry.rec = std::move(rec);
  if (token != 0)
    entry.tokens.push_back(token);
}

void write_buffer::note_event(pending_update& entry, const task_record& rec) {
  // (The same state written again, after a restart of the persistence
  // actor, is the same transition: its event is there already.)
  if (!entry.events.empty() && entry.events.back().seq == rec.seq)
    return;
  entry.events.push_back(event_of(rec));
}

void write_buffer::set_workers(std::string snapshot) {
  if (workers_.empty())
    ++rows_;
  workers_ = std::move(snapshot);
}

void write_buffer::requeue_updates(taken&& failed) {
  if (!failed.batch.workers.empty() && workers_.empty())
    set_workers(std::move(failed.batch.workers));
  for (size_t i = 0; i < failed.batch.updates.size(); ++i) {
    auto& rec = failed.batch.updates[i];
    auto& tokens = failed.update_tokens[i];
    auto [j, added] = update_index_.emplace(rec.id, updates_.size());
    if (added) {
      updates_.push_back({std::move(rec), std::move(tokens), {}});
      ++rows_;
    } else {
      // A newer state is already buffered; its commit answers these waiters.
      auto& entry = updates_[j->second];
      entry.tokens.insert(entry.tokens.end(), tokens.begin(), tokens.end());
    }
  }
  // The failed batch's transitions come before those buffered since.
  std::unordered_map<std::string, std::vector<task_event_record>> earlier;
  for (auto& ev : failed.batch.events)
    earlier[ev.task_id].push_back(std::move(ev));
  for (auto& [id, evs] : earlier) {
    auto j = update_index_.find(id);
    if (j == update_index_.end())
      continue; // (cannot happen: every event has its update)
    auto& mine = updates_[j->second].events;
    auto first_newer = mine.empty() ? std::numeric_limits<int32_t>::max()
                                    : mine.front().seq;
    std::vector<task_event_record> merged;
    for (auto& ev : evs)
      if (ev.seq < first_newer)
        merged.push_back(std::move(ev));
    merged.insert(merged.end(), std::make_move_iterator(mine.begin()),
                  std::make_move_iterator(mine.end()));
    mine = std::move(merged);
  }
}

write_buffer::taken write_buffer::take(size_t max_rows) {
  taken out;
  size_t n = 0, gi = 0;
  auto weight = [](const pending_insert& x) {
    return std::max<size_t>(x.group.size(), 1);
  };
  for (; gi < inserts_.size() && (n == 0 || n + weight(inserts_[gi]) <= max_rows);
       ++gi) {
    n += weight(inserts_[gi]);
    out.batch.insert_groups.push_back(std::move(inserts_[gi].group));
    out.insert_tokens.push_back(inserts_[gi].token);
  }
  inserts_.erase(inserts_.begin(), inserts_.begin() + static_cast<ptrdiff_t>(gi));
  size_t ui = 0;
  for (; ui < updates_.size() && (n == 0 || n < max_rows); ++ui, ++n) {
    update_index_.erase(updates_[ui].rec.id);
    for (auto& ev : updates_[ui].events)
      out.batch.events.push_back(std::move(ev));
    out.batch.updates.push_back(std::move(updates_[ui].rec));
    out.update_tokens.push_back(std::move(updates_[ui].tokens));
  }
  updates_.erase(updates_.begin(), updates_.begin() + static_cast<ptrdiff_t>(ui));
  // The updates left moved `ui` places to the front: so do their indexes.
  for (auto& entry : update_index_)
    entry.second -= ui;
  if (!workers_.empty()) {
    out.batch.workers = std::exchange(workers_, {});
    ++n;
  }
  rows_ -= n;
  return out;
}

} // namespace tasker
