#include "gateway/encoding.hpp"

#include "tasks/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/format.hpp"

namespace tasker {

std::string task_json(const task_record& rec) {
  std::string out;
  out.reserve(512 + rec.params.size() + rec.result.size());
  append_task_json(out, rec);
  return out;
}

namespace {

/// `{"tasks":[...]` of a page or batch, left open.
std::string tasks_json(const std::vector<task_record>& recs) {
  std::string out = "{\"tasks\":[";
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i > 0)
      out += ',';
    append_task_json(out, recs[i]);
  }
  out += ']';
  return out;
}

} // namespace

std::string page_json(const task_page& page) {
  auto out = tasks_json(page.tasks);
  out += ",\"next_cursor\":";
  if (page.more && !page.tasks.empty()) {
    auto& last = page.tasks.back();
    out += '"' + encode_cursor(last.created_at, last.id) + "\"}";
  } else {
    out += "null}";
  }
  return out;
}

void append_event_json(std::string& out, const task_event_record& ev) {
  auto text = [&out](const char* key, const std::string& str) {
    out += key;
    if (str.empty())
      out += "null";
    else
      append_json_string(out, str);
  };
  auto time = [&out](const char* key, millis t) {
    out += key;
    if (t == 0)
      out += "null";
    else
      (out += '"', out += format_time(t), out += '"');
  };
  auto kind = std::string{event_kind(ev.status, ev.attempt, ev.seq)};
  text("{\"id\":", ev.position().str());
  out += ",\"task_id\":\"";
  out += ev.task_id;
  out += "\",\"seq\":";
  out += std::to_string(ev.seq);
  out += ",\"kind\":\"";
  out += kind;
  out += '"';
  text(",\"type\":", ev.type);
  out += ",\"status\":\"";
  out += to_string(ev.status);
  out += "\",\"attempt\":";
  out += std::to_string(ev.attempt);
  text(",\"worker_id\":", ev.worker_id);
  text(",\"error\":", ev.error);
  time(",\"at\":", ev.at);
  time(",\"scheduled_at\":", ev.scheduled_at);
  time(",\"started_at\":", ev.started_at);
  // An attempt ended (completed, failed, retry scheduled after a failure):
  // how long it ran. An attempt started: how long it waited once due.
  bool ended = ev.status != task_status::processing && ev.attempt > 0
               && ev.started_at > 0 && kind != "cancelled";
  out += ",\"duration_ms\":";
  out += ended && ev.at >= ev.started_at ? std::to_string(ev.at - ev.started_at)
                                         : std::string{"null"};
  out += ",\"wait_ms\":";
  out += ev.status == task_status::processing && ev.scheduled_at > 0
             && ev.started_at >= ev.scheduled_at
           ? std::to_string(ev.started_at - ev.scheduled_at)
           : std::string{"null"};
  out += '}';
}

std::string stats_json(int64_t window_ms, int64_t bucket_ms,
                       const std::vector<stats_row>& rows) {
  auto pct = [](const std::vector<double>& v) {
    if (v.size() != 3)
      return nlohmann::json{{"p50", nullptr}, {"p95", nullptr}, {"p99", nullptr}};
    auto round = [](double x) { return std::round(x * 10.0) / 10.0; };
    return nlohmann::json{
      {"p50", round(v[0])}, {"p95", round(v[1])}, {"p99", round(v[2])}};
  };
  std::map<std::string, nlohmann::json> by_type;
  for (auto& r : rows) {
    auto& t = by_type[r.type];
    if (t.is_null())
      t = nlohmann::json{{"type", r.type}, {"buckets", nlohmann::json::array()}};
    t["buckets"].push_back({{"start", format_time(r.bucket)},
                            {"submitted", r.submitted},
                            {"completed", r.completed},
                            {"failed", r.failed},
                            {"cancelled", r.cancelled},
                            {"runs", r.runs},
                            {"run_ms", pct(r.run_ms)},
                            {"starts", r.starts},
                            {"wait_ms", pct(r.wait_ms)}});
  }
  auto types = nlohmann::json::array();
  for (auto& [name, t] : by_type)
    types.push_back(std::move(t));
  return nlohmann::json{{"window_ms", window_ms},
                        {"bucket_ms", bucket_ms},
                        {"types", std::move(types)}}
    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json webhook_json(const webhook_delivery& d) {
  auto time = [](millis t) {
    return t == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_time(t));
  };
  auto text = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  return {{"seq", d.seq},
          {"url", d.url},
          {"state", d.state},
          {"attempts", d.attempts},
          {"next_at", d.state == "pending" ? time(d.next_at) : nullptr},
          {"last_status", d.last_status == 0 ? nlohmann::json(nullptr)
                                             : nlohmann::json(d.last_status)},
          {"last_error", text(d.last_error)},
          {"delivered_at", time(d.delivered_at)}};
}

std::string history_json(const std::string& task_id, const task_history& h,
                         size_t limit) {
  auto& events = h.events;
  std::string out = "{\"task_id\":\"" + task_id + "\",\"events\":[";
  auto n = std::min(events.size(), limit);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0)
      out += ',';
    append_event_json(out, events[i]);
  }
  out += "],\"more\":";
  out += events.size() > limit ? "true" : "false";
  auto hooks = nlohmann::json::array();
  for (auto& d : h.deliveries)
    hooks.push_back(webhook_json(d));
  // (Invalid UTF-8 in an error a receiver sent is replaced.)
  out += ",\"callbacks\":"
         + hooks.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
         + "}";
  return out;
}

std::string batch_json(const std::vector<task_record>& recs) {
  return tasks_json(recs) + '}';
}

std::string seed_task_json(const task_record& rec) {
  nlohmann::json js{{"task_id", rec.id},
                    {"task_name", rec.type},
                    {"status", rec.status == task_status::processing
                                 ? std::string{"running"}
                                 : lower(to_string(rec.status))},
                    {"task_output", rec.result.empty()
                                      ? nlohmann::json(nullptr)
                                      : nlohmann::json::parse(rec.result)},
                    {"error", rec.error.empty() ? nlohmann::json(nullptr)
                                                : nlohmann::json(rec.error)}};
  return js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Each key is its member's name.
#define FIELD(m) {#m, x.m}

nlohmann::json status_json(const manager_status& x) {
  return {FIELD(live_task_actors), FIELD(cached_results), FIELD(spawned),
          FIELD(finished), FIELD(recovered), FIELD(lost_attempts),
          FIELD(loaded_from_database), FIELD(delayed_parked),
          {"resident_until",
           x.recovering ? std::string{} : format_time(x.resident_until)},
          FIELD(restarts), FIELD(submit_timeouts), FIELD(admitting),
          FIELD(in_doubt_stored), FIELD(in_doubt_not_stored),
          FIELD(recovery_done)};
}

nlohmann::json status_json(const dispatcher_status& x) {
  return {FIELD(queue_depth), FIELD(in_flight), FIELD(nodes),
          FIELD(dead_nodes), FIELD(dispatched), FIELD(timeouts),
          FIELD(stale_results_dropped), FIELD(paused_by_db_backlog),
          FIELD(generation), {"queues", [&x] {
            auto arr = nlohmann::json::array();
            for (auto& q : x.queues)
              arr.push_back({{"type", q.type}, {"priority", q.priority},
                             {"depth", q.depth}});
            return arr;
          }()}};
}

nlohmann::json status_json(const persistence_status& x) {
  return {FIELD(writers), FIELD(batches), FIELD(rows_written),
          FIELD(failed_batches), FIELD(last_batch_rows), FIELD(max_batch_rows),
          FIELD(backlog_rows), FIELD(waiting_submits), FIELD(db_up)};
}

nlohmann::json status_json(const cluster_port_status& x) {
  return {FIELD(admitted),   FIELD(in_exchange), FIELD(wrong_secret),
          FIELD(not_tasker), FIELD(timed_out),   FIELD(refused_busy),
          FIELD(dropped)};
}

nlohmann::json workers_json(const std::vector<worker_view>& workers) {
  auto arr = nlohmann::json::array();
  for (auto& x : workers)
    arr.push_back({FIELD(id), FIELD(name), FIELD(address), FIELD(status),
                   // The coordinator's own slots, an HTTP worker's session
                   // (the gateway names its address "http") or a CAF node.
                   {"kind", x.address == "local"  ? "local"
                            : x.address == "http" ? "http"
                                                  : "node"},
                   FIELD(task_types), FIELD(slots), FIELD(busy),
                   FIELD(completed), FIELD(failed),
                   {"joined_at", format_time(x.joined_at)},
                   {"last_seen", format_time(x.last_seen)}});
  return arr;
}

#undef FIELD

std::string encode_cursor(millis created_at, const std::string& id) {
  return std::to_string(created_at) + "_" + id;
}

bool decode_cursor(const std::string& cursor, millis& created_at,
                   std::string& id) {
  auto sep = cursor.find('_');
  if (sep == std::string::npos || sep == 0 || sep > 19
      || cursor.find_first_not_of("0123456789") < sep)
    return false;
  // 19 digits may exceed int64: refuse rather than throw (std::stoll would
  // throw out_of_range inside the gateway and end it).
  millis at = 0;
  auto [end, err] = std::from_chars(cursor.data(), cursor.data() + sep, at);
  // Past the year 9999 PostgreSQL's timestamps overflow.
  constexpr millis latest = 253402300799999;
  if (err != std::errc{} || end != cursor.data() + sep || at > latest)
    return false;
  created_at = at;
  id = cursor.substr(sep + 1);
  return is_uuid(id);
}

std::string leases_json(const std::vector<leased_task>& tasks, bool draining,
                        int64_t lease_timeout_ms, const registry& reg) {
  auto list = nlohmann::json::array();
  for (auto& l : tasks) {
    // (Stored params are JSON the gateway checked; the task keeps them as
    // submitted, its handler gets the defaults.)
    auto params = nlohmann::json::parse(l.task.params, nullptr, false);
    reg.validate(l.task.type, params);
    list.push_back({{"lease", l.lease},
                    {"id", l.task.id},
                    {"type", l.task.type},
                    {"params", std::move(params)},
                    {"attempt", l.task.attempt},
                    {"timeout_ms", l.task.timeout_ms}});
  }
  return nlohmann::json{{"tasks", std::move(list)},
                        {"draining", draining},
                        {"lease_timeout_ms", lease_timeout_ms}}
    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace tasker
