#include "gateway/encoding.hpp"

#include <charconv>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/format.hpp"

namespace tasker {

namespace {

void append_string(std::string& out, const std::string& str) {
  out += nlohmann::json(str).dump(-1, ' ', false,
                                  nlohmann::json::error_handler_t::replace);
}

void append_opt_string(std::string& out, const std::string& str) {
  if (str.empty())
    out += "null";
  else
    append_string(out, str);
}

void append_time(std::string& out, millis t) {
  if (t == 0) {
    out += "null";
    return;
  }
  out += '"';
  out += format_time(t);
  out += '"';
}

/// The seed API's lower-case name of a status (`running` for PROCESSING).
const char* to_seed_string(task_status x) {
  switch (x) {
    case task_status::pending:
      return "pending";
    case task_status::processing:
      return "running";
    case task_status::completed:
      return "completed";
    case task_status::failed:
      return "failed";
    case task_status::cancelled:
      return "cancelled";
  }
  return "pending";
}

} // namespace

void append_task_json(std::string& out, const task_record& rec) {
  out += "{\"id\":\"";
  out += rec.id;
  out += "\",\"type\":";
  append_string(out, rec.type);
  out += ",\"status\":\"";
  out += to_string(rec.status);
  out += "\",\"params\":";
  out += rec.params.empty() ? "{}" : rec.params;
  out += ",\"result\":";
  out += rec.result.empty() ? "null" : rec.result;
  out += ",\"error\":";
  if (rec.error.empty() && rec.status != task_status::failed)
    out += "null";
  else
    append_string(out, rec.error);
  out += ",\"priority\":";
  out += std::to_string(rec.priority);
  out += ",\"attempts\":";
  out += std::to_string(rec.attempts);
  out += ",\"max_attempts\":";
  out += std::to_string(rec.max_attempts);
  out += ",\"timeout_ms\":";
  out += std::to_string(rec.timeout_ms);
  out += ",\"idempotency_key\":";
  append_opt_string(out, rec.idempotency_key);
  out += ",\"worker_id\":";
  append_opt_string(out, rec.worker_id);
  out += ",\"created_at\":";
  append_time(out, rec.created_at);
  out += ",\"updated_at\":";
  append_time(out, rec.updated_at);
  out += ",\"scheduled_at\":";
  append_time(out, rec.scheduled_at);
  out += ",\"started_at\":";
  append_time(out, rec.started_at);
  out += ",\"completed_at\":";
  append_time(out, rec.completed_at);
  out += '}';
}

std::string task_json(const task_record& rec) {
  std::string out;
  out.reserve(512 + rec.params.size() + rec.result.size());
  append_task_json(out, rec);
  return out;
}

std::string page_json(const task_page& page) {
  std::string out = "{\"tasks\":[";
  for (size_t i = 0; i < page.tasks.size(); ++i) {
    if (i > 0)
      out += ',';
    append_task_json(out, page.tasks[i]);
  }
  out += "],\"next_cursor\":";
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
  std::string out = "{\"tasks\":[";
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i > 0)
      out += ',';
    append_task_json(out, recs[i]);
  }
  out += "]}";
  return out;
}

std::string seed_task_json(const task_record& rec) {
  nlohmann::json js{{"task_id", rec.id},
                    {"task_name", rec.type},
                    {"status", to_seed_string(rec.status)},
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
  if (id.size() != 36)
    return false;
  for (size_t i = 0; i < id.size(); ++i) {
    auto c = id[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

} // namespace tasker
