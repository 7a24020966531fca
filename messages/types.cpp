#include "messages/types.hpp"

#include <climits>
#include <cstdint>

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
  text(",\"callback_url\":", rec.callback_url, rec.callback_url.empty());
  time(",\"created_at\":", rec.created_at);
  time(",\"updated_at\":", rec.updated_at);
  time(",\"scheduled_at\":", rec.scheduled_at);
  time(",\"started_at\":", rec.started_at);
  time(",\"completed_at\":", rec.completed_at);
  out += '}';
}

std::string event_position::str() const {
  return std::to_string(tx) + "-" + task_id + "-" + std::to_string(seq);
}

bool event_position::parse(const std::string& text, event_position& out) {
  // <tx>-<8-4-4-4-12 hex>-<seq>: the UUID holds four dashes.
  auto first = text.find('-');
  if (first == 0 || first == std::string::npos || first > 20
      || text.size() < first + 1 + 36 + 2)
    return false;
  auto id = text.substr(first + 1, 36);
  for (size_t i = 0; i < id.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    auto c = id[i];
    if (dash ? c != '-'
             : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  }
  if (text[first + 37] != '-')
    return false;
  auto tx_text = text.substr(0, first);
  auto seq_text = text.substr(first + 38);
  uint64_t tx = 0;
  for (auto c : tx_text) {
    if (c < '0' || c > '9')
      return false;
    auto digit = static_cast<uint64_t>(c - '0');
    // (xid8's text is an unsigned 64-bit number; PostgreSQL's bigint, which
    // the statements compare through, holds up to 2^63-1.)
    if (tx > (uint64_t{INT64_MAX} - digit) / 10)
      return false;
    tx = tx * 10 + digit;
  }
  bool negative = !seq_text.empty() && seq_text[0] == '-';
  auto digits = seq_text.substr(negative ? 1 : 0);
  if (digits.empty() || digits.size() > 10)
    return false;
  int64_t seq = 0;
  for (auto c : digits) {
    if (c < '0' || c > '9')
      return false;
    seq = seq * 10 + (c - '0');
  }
  if (negative)
    seq = -seq;
  if (seq < -1 || seq > INT32_MAX)
    return false;
  out.tx = tx;
  out.task_id = std::move(id);
  out.seq = static_cast<int32_t>(seq);
  return true;
}

bool operator<(const event_position& x, const event_position& y) {
  if (x.tx != y.tx)
    return x.tx < y.tx;
  // (Lower-case UUID text orders as PostgreSQL orders uuid: by its bytes.)
  if (x.task_id != y.task_id)
    return x.task_id < y.task_id;
  return x.seq < y.seq;
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

namespace {

/// An event's error: the task's, cut to `max_event_error` bytes (at a
/// character's start) with "…" after the cut.
std::string event_error(const std::string& error) {
  if (error.size() <= max_event_error)
    return error;
  auto cut = max_event_error;
  while (cut > 0 && (static_cast<unsigned char>(error[cut]) & 0xC0) == 0x80)
    --cut;
  return error.substr(0, cut) + "\xE2\x80\xA6";
}

} // namespace

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
        ev.error = event_error(rec.error);
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
      ev.error = event_error(rec.error);
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
