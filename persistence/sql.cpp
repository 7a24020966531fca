#include "persistence/sql.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

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

std::string update_rows_json(const std::vector<task_record>& recs) {
  std::string out;
  out.reserve(recs.size() * 200);
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
  entry.rec = std::move(rec);
  if (token != 0)
    entry.tokens.push_back(token);
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
      updates_.push_back({std::move(rec), std::move(tokens)});
      ++rows_;
      continue;
    }
    // A newer state is already buffered; its commit answers these waiters.
    auto& entry = updates_[j->second];
    entry.tokens.insert(entry.tokens.end(), tokens.begin(), tokens.end());
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
