#include "messages/types.hpp"

#include "common/format.hpp"

namespace tasker {

const char* to_string(task_status x) {
  static constexpr const char* names[] = {"PENDING", "PROCESSING", "COMPLETED",
                                          "FAILED", "CANCELLED"};
  auto i = static_cast<size_t>(x);
  return i < std::size(names) ? names[i] : names[0];
}

void append_task_json(std::string& out, const task_record& rec,
                      task_json_style style) {
  auto text = [&out](const char* key, const std::string& str, bool null) {
    out += key;
    if (null)
      out += "null";
    else
      append_json_string(out, str);
  };
  auto number = [&out](const char* key, int64_t n) {
    out += key;
    out += std::to_string(n);
  };
  auto time = [&out, style](const char* key, millis t) {
    out += key;
    if (t == 0)
      out += "null";
    else if (style == task_json_style::rows)
      out += std::to_string(t);
    else
      (out += '"', out += format_time(t), out += '"');
  };
  out += "{\"id\":\"";
  out += rec.id;
  out += '"';
  text(",\"type\":", rec.type, false);
  out += ",\"status\":\"";
  out += to_string(rec.status);
  out += "\",\"params\":";
  out += rec.params.empty() ? "{}" : rec.params;
  out += ",\"result\":";
  out += rec.result.empty() ? "null" : rec.result;
  text(",\"error\":", rec.error,
       rec.error.empty() && rec.status != task_status::failed);
  if (style == task_json_style::api) {
    out += ",\"progress\":";
    out += rec.progress.empty() ? "null" : rec.progress;
  }
  number(",\"priority\":", rec.priority);
  number(",\"attempts\":", rec.attempts);
  number(",\"max_attempts\":", rec.max_attempts);
  number(",\"timeout_ms\":", rec.timeout_ms);
  text(",\"idempotency_key\":", rec.idempotency_key,
       rec.idempotency_key.empty());
  if (style == task_json_style::rows)
    text(",\"request_hash\":", rec.request_hash, rec.request_hash.empty());
  text(",\"worker_id\":", rec.worker_id, rec.worker_id.empty());
  time(",\"created_at\":", rec.created_at);
  time(",\"updated_at\":", rec.updated_at);
  time(",\"scheduled_at\":", rec.scheduled_at);
  time(",\"started_at\":", rec.started_at);
  time(",\"completed_at\":", rec.completed_at);
  out += '}';
}

const char* event_kind(task_status status, int32_t attempt, int32_t seq) {
  switch (status) {
    case task_status::pending:
      if (seq == 0)
        return "submitted";
      return attempt == 0 ? "retried" : "retry_scheduled";
    case task_status::processing:
      return "started";
    case task_status::completed:
      return "completed";
    case task_status::failed:
      return "failed";
    case task_status::cancelled:
      return "cancelled";
  }
  return "submitted";
}

task_event_record event_of(const task_record& rec) {
  task_event_record ev;
  ev.task_id = rec.id;
  ev.seq = rec.seq;
  ev.type = rec.type;
  ev.status = rec.status;
  ev.attempt = rec.attempts;
  ev.at = rec.updated_at;
  switch (rec.status) {
    case task_status::pending:
      ev.scheduled_at = rec.scheduled_at;
      // (A retry scheduled after a failed attempt says why it failed.)
      if (rec.attempts > 0) {
        ev.error = rec.error;
        ev.started_at = rec.started_at;
        ev.worker_id = rec.worker_id;
      }
      break;
    case task_status::processing:
      ev.worker_id = rec.worker_id;
      ev.scheduled_at = rec.scheduled_at;
      ev.started_at = rec.started_at;
      break;
    case task_status::completed:
    case task_status::failed:
      ev.error = rec.error;
      ev.worker_id = rec.worker_id;
      ev.started_at = rec.started_at;
      break;
    case task_status::cancelled:
      // (Cancelled while pending or running: the record does not say which,
      // so no attempt is named.)
      break;
  }
  return ev;
}

bool from_string(const std::string& str, task_status& x) {
  for (int i = 0; i <= static_cast<int>(task_status::cancelled); ++i)
    if (str == to_string(static_cast<task_status>(i))) {
      x = static_cast<task_status>(i);
      return true;
    }
  return false;
}

} // namespace tasker
