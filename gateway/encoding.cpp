#include "gateway/encoding.hpp"

#include <charconv>
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
    out += '"';
    out += encode_cursor(last.created_at, last.id);
    out += '"';
  } else {
    out += "null";
  }
  out += '}';
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

nlohmann::json status_json(const manager_status& x) {
  return {{"live_task_actors", x.live_task_actors},
          {"cached_results", x.cached_results},
          {"spawned", x.spawned},
          {"finished", x.finished},
          {"recovered", x.recovered},
          {"lost_attempts", x.lost_attempts},
          {"loaded_from_database", x.loaded_from_database},
          {"delayed_parked", x.delayed_parked},
          {"resident_until",
           x.recovering ? std::string{} : format_time(x.resident_until)},
          {"restarts", x.restarts},
          {"submit_timeouts", x.submit_timeouts},
          {"admitting", x.admitting},
          {"in_doubt_stored", x.in_doubt_stored},
          {"in_doubt_not_stored", x.in_doubt_not_stored},
          {"recovery_done", x.recovery_done}};
}

nlohmann::json status_json(const dispatcher_status& x) {
  return {{"queue_depth", x.queue_depth},
          {"in_flight", x.in_flight},
          {"nodes", x.nodes},
          {"dead_nodes", x.dead_nodes},
          {"dispatched", x.dispatched},
          {"timeouts", x.timeouts},
          {"stale_results_dropped", x.stale_results_dropped},
          {"paused_by_db_backlog", x.paused_by_db_backlog},
          {"generation", x.generation}};
}

nlohmann::json status_json(const persistence_status& x) {
  return {{"writers", x.writers},
          {"batches", x.batches},
          {"rows_written", x.rows_written},
          {"failed_batches", x.failed_batches},
          {"last_batch_rows", x.last_batch_rows},
          {"max_batch_rows", x.max_batch_rows},
          {"backlog_rows", x.backlog_rows},
          {"waiting_submits", x.waiting_submits},
          {"db_up", x.db_up}};
}

nlohmann::json status_json(const cluster_port_status& x) {
  return {{"admitted", x.admitted},         {"in_exchange", x.in_exchange},
          {"wrong_secret", x.wrong_secret}, {"not_tasker", x.not_tasker},
          {"timed_out", x.timed_out},       {"refused_busy", x.refused_busy},
          {"dropped", x.dropped}};
}

nlohmann::json workers_json(const std::vector<worker_view>& workers) {
  auto arr = nlohmann::json::array();
  for (auto& w : workers)
    arr.push_back({{"id", w.id},
                   {"name", w.name},
                   {"address", w.address},
                   {"status", w.status},
                   {"task_types", w.task_types},
                   {"slots", w.slots},
                   {"busy", w.busy},
                   {"completed", w.completed},
                   {"failed", w.failed},
                   {"joined_at", format_time(w.joined_at)},
                   {"last_seen", format_time(w.last_seen)}});
  return arr;
}

std::string encode_cursor(millis created_at, const std::string& id) {
  return std::to_string(created_at) + "_" + id;
}

bool decode_cursor(const std::string& cursor, millis& created_at,
                   std::string& id) {
  auto sep = cursor.find('_');
  if (sep == std::string::npos || sep == 0 || sep > 19)
    return false;
  for (size_t i = 0; i < sep; ++i)
    if (cursor[i] < '0' || cursor[i] > '9')
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

} // namespace tasker
