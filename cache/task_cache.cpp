#include "cache/task_cache.hpp"

#include <random>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/format.hpp"
#include "common/log.hpp"

namespace tasker {

namespace {

/// The version of the entry format; an entry of another version is corrupt.
constexpr int entry_version = 1;

/// What params and result of an entry may hold: as much as a request body
/// may (gateway/validation.hpp).
constexpr int max_entry_depth = 64;
constexpr size_t max_entry_containers = 100000;

/// Eight random hex digits.
std::string random_epoch() {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", dist(rd));
  return buf;
}

bool get_string(const nlohmann::json& js, const char* name, std::string& out) {
  auto i = js.find(name);
  if (i == js.end() || !i->is_string())
    return false;
  out = i->get<std::string>();
  return true;
}

template <class T>
bool get_int(const nlohmann::json& js, const char* name, T lo, T hi, T& out) {
  auto i = js.find(name);
  if (i == js.end() || !i->is_number_integer())
    return false;
  auto v = i->get<int64_t>();
  if (v < static_cast<int64_t>(lo) || v > static_cast<int64_t>(hi))
    return false;
  out = static_cast<T>(v);
  return true;
}

} // namespace

std::string encode_cache_entry(const task_record& rec) {
  nlohmann::json js{{"v", entry_version},
                    {"id", rec.id},
                    {"type", rec.type},
                    {"params", rec.params},
                    {"status", to_string(rec.status)},
                    {"result", rec.result},
                    {"error", rec.error},
                    {"priority", rec.priority},
                    {"attempts", rec.attempts},
                    {"max_attempts", rec.max_attempts},
                    {"timeout_ms", rec.timeout_ms},
                    {"idempotency_key", rec.idempotency_key},
                    {"request_hash", rec.request_hash},
                    {"worker_id", rec.worker_id},
                    {"created_at", rec.created_at},
                    {"updated_at", rec.updated_at},
                    {"scheduled_at", rec.scheduled_at},
                    {"started_at", rec.started_at},
                    {"completed_at", rec.completed_at},
                    {"callback_url", rec.callback_url}};
  // Invalid UTF-8 (which validation keeps out of records) is replaced
  // rather than thrown on.
  return js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool decode_cache_entry(const std::string& text, const std::string& id,
                        task_record& out, std::string& why) {
  // The entry is one object of strings and numbers: anything that nests is
  // refused before it is parsed (a parse builds every container).
  auto outer = scan_brackets(text, 1, 1);
  if (outer.deeper || outer.containers > 1) {
    why = "not a flat JSON object";
    return false;
  }
  auto js = nlohmann::json::parse(text, nullptr, false);
  if (js.is_discarded() || !js.is_object()) {
    why = "not a JSON object";
    return false;
  }
  int version = 0;
  if (!get_int(js, "v", 0, 1000, version) || version != entry_version) {
    why = "unknown entry version";
    return false;
  }
  task_record rec;
  std::string status;
  constexpr millis max_time = int64_t{1} << 50;
  bool ok = get_string(js, "id", rec.id) && get_string(js, "type", rec.type)
            && get_string(js, "params", rec.params)
            && get_string(js, "status", status)
            && get_string(js, "result", rec.result)
            && get_string(js, "error", rec.error)
            && get_int(js, "priority", INT32_MIN, INT32_MAX, rec.priority)
            && get_int(js, "attempts", 0, INT32_MAX, rec.attempts)
            && get_int(js, "max_attempts", 0, INT32_MAX, rec.max_attempts)
            && get_int(js, "timeout_ms", int64_t{0}, max_time, rec.timeout_ms)
            && get_string(js, "idempotency_key", rec.idempotency_key)
            && get_string(js, "request_hash", rec.request_hash)
            && get_string(js, "worker_id", rec.worker_id)
            && get_int(js, "created_at", millis{0}, max_time, rec.created_at)
            && get_int(js, "updated_at", millis{0}, max_time, rec.updated_at)
            && get_int(js, "scheduled_at", millis{0}, max_time,
                       rec.scheduled_at)
            && get_int(js, "started_at", millis{0}, max_time, rec.started_at)
            && get_int(js, "completed_at", millis{0}, max_time,
                       rec.completed_at)
            && get_string(js, "callback_url", rec.callback_url);
  if (!ok) {
    why = "a field is missing or has the wrong type or range";
    return false;
  }
  if (rec.id != id) {
    why = "the entry is another task's";
    return false;
  }
  if (!from_string(status, rec.status)) {
    why = "unknown status";
    return false;
  }
  // Params and result go out in responses as they are: they must be JSON
  // that the API itself would take (depth, containers, no NUL).
  auto acceptable = [](const std::string& json_text) {
    auto stats = scan_brackets(json_text, max_entry_depth,
                               max_entry_containers);
    return !stats.deeper && stats.containers <= max_entry_containers
           && json_text.find('\0') == std::string::npos
           && nlohmann::json::accept(json_text);
  };
  if (rec.type.empty() || !acceptable(rec.params)
      || (!rec.result.empty() && !acceptable(rec.result))) {
    why = "params or result are not acceptable JSON";
    return false;
  }
  // A state from the future (beyond a day of clock skew) is planted.
  if (rec.updated_at > now_ms() + 86'400'000) {
    why = "updated_at lies in the future";
    return false;
  }
  out = std::move(rec);
  return true;
}

task_cache::task_cache(cache_settings settings, telemetry_ptr tel)
  : settings_(std::move(settings)), tel_(std::move(tel)) {
  std::lock_guard<std::mutex> guard{mtx_};
  new_epoch_locked();
}

void task_cache::new_epoch_locked() {
  prefix_ = "tasker:task:" + random_epoch() + ":";
  stale_.clear();
}

std::string task_cache::key(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return prefix_ + id;
}

std::string task_cache::prefix() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return prefix_;
}

bool task_cache::trusted(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return stale_.count(id) == 0 && unwritten_.count(id) == 0
         && deleted_.count(id) == 0;
}

void task_cache::deleted(const std::vector<std::string>& ids) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& id : ids) {
    if (!deleted_.insert(id).second)
      continue;
    deleted_order_.push_back(id);
    if (deleted_order_.size() > settings_.max_stale) {
      deleted_.erase(deleted_order_.front());
      deleted_order_.pop_front();
    }
  }
}

bool task_cache::was_deleted(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return deleted_.count(id) > 0;
}

void task_cache::observe_server(const std::string& run_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (run_id.empty() || run_id == run_id_)
    return;
  bool changed = !run_id_.empty();
  run_id_ = run_id;
  if (!changed)
    return;
  new_epoch_locked();
  log::warning("cache", "Redis is another server now (restarted or failed "
                        "over); every entry written before is left unread",
               {{"key_prefix", prefix_}});
}

void task_cache::note_unwritten(const std::vector<task_record>& states) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& rec : states)
    ++unwritten_[rec.id];
}

void task_cache::written(const std::string& id, uint64_t notes) {
  if (notes == 0)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = unwritten_.find(id);
  if (i == unwritten_.end())
    return;
  if (i->second <= notes)
    unwritten_.erase(i);
  else
    i->second -= notes;
}

void task_cache::mark_stale(const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stale_.size() >= settings_.max_stale) {
    new_epoch_locked();
    log::warning("cache", "too many cache entries may be behind the "
                          "database; every entry written so far is left "
                          "unread",
                 {{"key_prefix", prefix_}});
    return;
  }
  stale_.insert(id);
}

void task_cache::healed(const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  stale_.erase(id);
}

bool task_cache::reads_paused() const {
  return now_ms() < paused_until_ms_.load();
}

void task_cache::read_failed(const std::string& error) {
  auto pause = std::min<int64_t>(std::max<int64_t>(pause_ms_.load() * 2, 100),
                                 5000);
  pause_ms_ = pause;
  paused_until_ms_ = now_ms() + pause;
  set_up(false, error);
}

void task_cache::read_succeeded() {
  pause_ms_ = 0;
  set_up(true);
}

void task_cache::set_up(bool up, const std::string& error) {
  auto now = up ? cache_state::up : cache_state::down;
  auto before = tel_->state.cache.exchange(now);
  if (before == now)
    return;
  if (up)
    log::info("cache", "the Redis cache is reachable");
  else
    log::warning("cache", "the Redis cache is unreachable; tasker goes on "
                          "without it",
                 {{"error", error}});
}

bool differs(const task_record& x, const task_record& y) {
  return x.status != y.status || x.attempts != y.attempts
         || x.updated_at != y.updated_at || x.result != y.result
         || x.error != y.error || x.worker_id != y.worker_id
         || x.scheduled_at != y.scheduled_at
         || x.completed_at != y.completed_at;
}

} // namespace tasker
