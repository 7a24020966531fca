#include "gateway/validation.hpp"

#include <algorithm>
#include <memory>

#include <curl/curl.h>
#include <cmath>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/format.hpp"
#include "gateway/encoding.hpp"

namespace tasker {

namespace {

constexpr int64_t max_delay_ms = int64_t{366} * 24 * 3600 * 1000;

/// Reads an optional integer field in [lo, hi].
std::optional<api_error> int_field(const nlohmann::json& body,
                                   const std::string& prefix, const char* name,
                                   int64_t lo, int64_t hi, int64_t& out) {
  auto i = body.find(name);
  if (i == body.end() || i->is_null())
    return std::nullopt;
  auto fail = [&] {
    return api_error{ec::invalid_params,
                     prefix + name + " must be an integer between "
                       + std::to_string(lo) + " and " + std::to_string(hi)};
  };
  if (i->is_number_integer()) {
    if (i->is_number_unsigned() && i->get<uint64_t>() > static_cast<uint64_t>(hi))
      return fail();
    out = i->get<int64_t>();
  } else if (i->is_number_float()) {
    auto d = i->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo)
        || d > static_cast<double>(hi))
      return fail();
    out = static_cast<int64_t>(d);
  } else {
    return fail();
  }
  if (out < lo || out > hi)
    return fail();
  return std::nullopt;
}

std::optional<api_error> int_param(const http_request& req, const char* name,
                                   int64_t lo, int64_t hi, int64_t& out) {
  auto val = req.param(name);
  if (val == nullptr)
    return std::nullopt;
  auto fail = api_error{ec::bad_request,
                        std::string{"query parameter "} + name
                          + " must be an integer between " + std::to_string(lo)
                          + " and " + std::to_string(hi)};
  if (val->empty() || val->size() > 18
      || val->find_first_not_of("0123456789") != std::string::npos)
    return fail;
  out = std::stoll(*val);
  if (out < lo || out > hi)
    return fail;
  return std::nullopt;
}

/// The place of the first string or key in `val` that PostgreSQL would
/// refuse (a NUL character; the JSON parser already refused invalid UTF-8),
/// appended to `at` (as `params.a.b[2]`); false when there is none.
bool find_refused_string(const nlohmann::json& val, std::string& at) {
  // (The place is spelled out only on the way back from a refused value.)
  if (val.is_string())
    return val.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (!val.is_structured())
    return false;
  for (auto& x : val.items()) {
    if (val.is_object() && x.key().find('\0') != std::string::npos) {
      at.insert(0, " (a key)");
      return true;
    }
    if (find_refused_string(x.value(), at)) {
      at.insert(0, val.is_array() ? "[" + x.key() + "]" : "." + x.key());
      return true;
    }
  }
  return false;
}

} // namespace

std::optional<api_error> check_json_body(const http_request& req) {
  auto& ct = req.content_type;
  if (ct.empty())
    return api_error{ec::unsupported_media_type,
                     "the body must be JSON: send Content-Type: "
                     "application/json"};
  auto media = lower(ct.substr(0, ct.find(';')));
  media.erase(media.find_last_not_of(' ') + 1);
  if (media != "application/json")
    return api_error{ec::unsupported_media_type,
                     "the body must be JSON (application/json), not '" + ct
                       + "'"};
  return std::nullopt;
}

std::optional<api_error> parse_body(const std::string& body,
                                    nlohmann::json& out) {
  auto [deeper, containers] = scan_brackets(body, max_body_depth,
                                            max_body_containers);
  if (deeper)
    return api_error{ec::bad_request,
                     "the body nests arrays and objects deeper than "
                       + std::to_string(max_body_depth) + " levels"};
  if (containers > max_body_containers)
    return api_error{ec::bad_request,
                     "the body holds more than "
                       + std::to_string(max_body_containers)
                       + " arrays and objects"};
  try {
    out = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    return api_error{ec::bad_request,
                     std::string{"the body is not valid JSON: "} + e.what()};
  }
  return std::nullopt;
}

std::optional<api_error>
parse_submission(const nlohmann::json& body, const registry& reg,
                 const submit_limits& limits, const std::string& header_key,
                 const std::string& prefix, millis now, task_record& out) {
  if (!body.is_object())
    return api_error{ec::invalid_params,
                     (prefix.empty() ? std::string{"the body"} : prefix.substr(0, prefix.size() - 1))
                       + " must be a JSON object with type and params"};
  auto invalid = [&prefix](const std::string& message) {
    return api_error{ec::invalid_params, prefix + message};
  };
  static const char* known[] = {"type",       "params",   "priority",
                                "max_attempts", "timeout_ms", "delay_ms",
                                "run_at",     "idempotency_key",
                                "callback_url"};
  for (auto& [key, val] : body.items())
    if (std::find(std::begin(known), std::end(known), key) == std::end(known))
      return invalid(key + " is not a known field of a submission");
  auto type = body.find("type");
  if (type == body.end() || type->is_null())
    return invalid("type is required");
  if (!type->is_string())
    return invalid("type must be a string");
  auto params_it = body.find("params");
  if (params_it == body.end() || params_it->is_null())
    return invalid("params is required");
  // PostgreSQL refuses a NUL character in jsonb: one such submission would
  // fail the group commit it shares with others.
  if (std::string at; find_refused_string(*params_it, at))
    return invalid("params" + at
                   + " must not contain a NUL character (\\u0000)");
  // Validation fills in defaults; the task keeps the params as submitted.
  auto params = *params_it;
  auto type_name = type->get<std::string>();
  if (reg.find(type_name) == nullptr)
    return invalid("type: " + reg.validate(type_name, params));
  if (auto err = reg.validate(type_name, params); !err.empty())
    return invalid(err);
  // (A declared type's own defaults come before the configured ones.)
  auto& t = *reg.find(type_name);
  int64_t priority = 0,
          max_attempts = t.max_attempts.value_or(limits.default_max_attempts),
          timeout_ms = t.timeout_ms.value_or(limits.default_timeout_ms),
          delay_ms = 0;
  std::optional<api_error> err;
  if ((err = int_field(body, prefix, "priority", 0, 9, priority))
      || (err = int_field(body, prefix, "max_attempts", 1, 100, max_attempts))
      || (err = int_field(body, prefix, "timeout_ms", 1, 86400000, timeout_ms))
      || (err = int_field(body, prefix, "delay_ms", 0, max_delay_ms, delay_ms)))
    return err;
  millis scheduled = now + delay_ms;
  std::string run_at_text;
  if (auto i = body.find("run_at"); i != body.end() && !i->is_null()) {
    if (body.contains("delay_ms") && !body["delay_ms"].is_null())
      return invalid("run_at and delay_ms exclude each other");
    auto t = i->is_string() ? parse_time(i->get<std::string>()) : std::nullopt;
    if (!t)
      return invalid("run_at must be an RFC 3339 time such as "
                     "2026-11-22T10:00:00.000Z");
    if (*t - now > max_delay_ms)
      return invalid("run_at must be within a year from now");
    run_at_text = i->get<std::string>();
    scheduled = std::max(*t, now);
  }
  std::string key;
  if (auto i = body.find("idempotency_key"); i != body.end() && !i->is_null()) {
    if (i->is_string())
      key = i->get<std::string>();
    if (key.empty() || key.size() > 255)
      return invalid("idempotency_key must be a string of 1 to 255 "
                     "characters");
    if (!is_storable_text(key))
      return invalid("idempotency_key must not contain a NUL character "
                     "(\\u0000)");
  }
  if (!header_key.empty()) {
    if (header_key.size() > 255)
      return api_error{ec::invalid_params,
                       "the Idempotency-Key header must have at most 255 "
                       "characters"};
    if (!is_storable_text(header_key))
      return api_error{ec::invalid_params,
                       "the Idempotency-Key header must be UTF-8 text without "
                       "a NUL character"};
    if (!key.empty() && key != header_key)
      return invalid("idempotency_key differs from the Idempotency-Key "
                     "header");
    key = header_key;
  }
  std::string callback;
  if (auto i = body.find("callback_url"); i != body.end() && !i->is_null()) {
    if (!i->is_string())
      return invalid("callback_url must be a string");
    callback = i->get<std::string>();
    if (auto why = check_callback_url(callback); !why.empty())
      return invalid("callback_url " + why);
  }
  out = task_record{};
  out.id = make_uuid();
  out.callback_url = callback;
  out.type = type_name;
  out.params = params_it->dump(-1, ' ', false,
                               nlohmann::json::error_handler_t::replace);
  out.status = task_status::pending;
  out.priority = static_cast<int32_t>(priority);
  out.max_attempts = static_cast<int32_t>(max_attempts);
  out.timeout_ms = timeout_ms;
  out.idempotency_key = key;
  out.created_at = now;
  out.updated_at = now;
  out.scheduled_at = scheduled;
  if (!key.empty()) {
    // What makes two submissions "the same body" for idempotency.
    nlohmann::json canon{{"type", type_name},   {"params", params},
                         {"priority", priority}, {"max_attempts", max_attempts},
                         {"timeout_ms", timeout_ms}, {"delay_ms", delay_ms},
                         {"run_at", run_at_text},
                         {"callback_url", callback}};
    out.request_hash = hash_hex(canon.dump());
  }
  return std::nullopt;
}

std::optional<api_error> parse_batch(const nlohmann::json& body,
                                     const registry& reg,
                                     const submit_limits& limits, millis now,
                                     std::vector<task_record>& out) {
  if (!body.is_object() || !body.contains("tasks"))
    return api_error{ec::invalid_params,
                     "the body must be {\"tasks\": [...]}: tasks is required"};
  auto& tasks = body["tasks"];
  if (!tasks.is_array())
    return api_error{ec::invalid_params, "tasks must be an array"};
  if (tasks.empty())
    return api_error{ec::invalid_params, "tasks must not be empty"};
  if (tasks.size() > static_cast<size_t>(limits.max_batch))
    return api_error{ec::invalid_params,
                     "tasks has " + std::to_string(tasks.size())
                       + " entries; a batch holds at most "
                       + std::to_string(limits.max_batch)};
  for (auto& [key, val] : body.items())
    if (key != "tasks")
      return api_error{ec::invalid_params,
                       key + " is not a known field of a batch"};
  out.clear();
  out.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    task_record rec;
    auto prefix = "tasks[" + std::to_string(i) + "].";
    if (auto err = parse_submission(tasks[i], reg, limits, {}, prefix, now, rec))
      return err;
    for (auto& prev : out)
      if (!rec.idempotency_key.empty()
          && prev.idempotency_key == rec.idempotency_key)
        return api_error{ec::invalid_params,
                         prefix + "idempotency_key repeats an earlier entry"};
    out.push_back(std::move(rec));
  }
  return std::nullopt;
}

std::optional<api_error> parse_seed_submission(const nlohmann::json& body,
                                               const registry& reg,
                                               const submit_limits& limits,
                                               millis now, task_record& out) {
  if (!body.is_object())
    return api_error{ec::invalid_params, "the body must be a JSON object"};
  auto name = body.find("task_name");
  if (name == body.end() || !name->is_string())
    return api_error{ec::invalid_params,
                     "task_name is required and must be a string"};
  if (auto type = name->get<std::string>(); reg.find(type) == nullptr) {
    auto no_params = nlohmann::json::object();
    return api_error{ec::invalid_params,
                     "task_name: " + reg.validate(type, no_params)};
  }
  nlohmann::json sub{{"type", *name}, {"params", nlohmann::json::object()}};
  for (auto& [key, val] : body.items())
    if (key != "task_name")
      sub["params"][key] = val;
  return parse_submission(sub, reg, limits, {}, {}, now, out);
}

std::optional<api_error> parse_list_query(const http_request& req,
                                          list_query& out) {
  for (auto& [key, val] : req.query)
    if (key != "status" && key != "type" && key != "limit" && key != "cursor"
        && key != "params")
      return api_error{ec::bad_request,
                       "query parameter " + key
                         + " is not known (status, type, limit, cursor, "
                           "params)"};
  if (auto s = req.param("status"); s != nullptr && !s->empty()) {
    task_status st;
    if (!from_string(*s, st))
      return api_error{ec::bad_request,
                       "query parameter status must be one of PENDING, "
                       "PROCESSING, COMPLETED, FAILED, CANCELLED"};
    out.status = *s;
  }
  if (auto t = req.param("type"))
    out.type = *t;
  int64_t limit = 100;
  if (auto err = int_param(req, "limit", 1, 1000, limit))
    return err;
  out.limit = static_cast<int32_t>(limit);
  if (auto p = req.param("params"); p != nullptr && !p->empty()) {
    auto refuse = api_error{ec::bad_request,
                            "query parameter params must be a JSON object of "
                            "at most 4096 bytes, 8 levels and 256 arrays and "
                            "objects, without NUL characters"};
    auto shape = scan_brackets(*p, 8, 256);
    if (p->size() > 4096 || shape.deeper || shape.containers > 256)
      return refuse;
    auto js = nlohmann::json::parse(*p, nullptr, false);
    std::string at;
    if (js.is_discarded() || !js.is_object() || find_refused_string(js, at))
      return refuse;
    out.params = js.dump();
  }
  if (auto c = req.param("cursor"); c != nullptr && !c->empty())
    if (!decode_cursor(*c, out.after_created_at, out.after_id))
      return api_error{ec::bad_request,
                       "query parameter cursor is malformed: pass next_cursor "
                       "of the previous page"};
  return std::nullopt;
}

std::string check_callback_url(const std::string& url) {
  if (url.size() > 2048)
    return "must have at most 2048 characters";
  // (libcurl parses it as the webhook sender will; control characters and
  // spaces are refused by it.)
  std::unique_ptr<CURLU, void (*)(CURLU*)> h{curl_url(), curl_url_cleanup};
  if (!h || curl_url_set(h.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
    return "must be an absolute http or https URL";
  auto part = [&h](CURLUPart what) {
    char* text = nullptr;
    std::string out;
    if (curl_url_get(h.get(), what, &text, 0) == CURLUE_OK && text != nullptr)
      out = text;
    curl_free(text);
    return out;
  };
  auto scheme = part(CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https")
    return "must be an http or https URL";
  if (part(CURLUPART_HOST).empty())
    return "must name a host";
  if (!part(CURLUPART_USER).empty() || !part(CURLUPART_PASSWORD).empty())
    return "must not carry credentials (the body is signed instead)";
  return {};
}

std::optional<api_error> parse_stats_query(const http_request& req,
                                           int64_t& window_ms,
                                           int64_t& bucket_ms) {
  for (auto& [key, val] : req.query)
    if (key != "window" && key != "bucket")
      return api_error{ec::bad_request, "query parameter " + key
                                          + " is not known (window, bucket)"};
  auto duration = [&](const char* key, const char* fallback, int64_t& out)
    -> std::optional<api_error> {
    auto val = req.param(key);
    auto ms = parse_duration_ms(val != nullptr && !val->empty() ? *val
                                                                 : fallback);
    if (!ms || *ms <= 0)
      return api_error{ec::bad_request,
                       std::string{"query parameter "} + key
                         + " must be a duration such as 90s, 15m, 6h or 7d"};
    out = *ms;
    return std::nullopt;
  };
  if (auto err = duration("window", "1h", window_ms))
    return err;
  if (auto err = duration("bucket", "1m", bucket_ms))
    return err;
  if (window_ms > 31 * 86'400'000LL)
    return api_error{ec::bad_request, "window must be at most 31d"};
  if (bucket_ms < 1000)
    return api_error{ec::bad_request, "bucket must be at least 1s"};
  if (window_ms / bucket_ms > 1440)
    return api_error{ec::bad_request,
                     "window / bucket must be at most 1440 buckets"};
  return std::nullopt;
}

std::optional<api_error> parse_activity_query(const http_request& req,
                                              int64_t& window_ms) {
  for (auto& [key, val] : req.query)
    if (key != "window")
      return api_error{ec::bad_request,
                       "query parameter " + key + " is not known (window)"};
  auto val = req.param("window");
  auto ms = parse_duration_ms(val != nullptr && !val->empty() ? *val : "1h");
  if (!ms || *ms < 10'000 || *ms > 3'600'000)
    return api_error{ec::bad_request,
                     "query parameter window must be a duration from 10s to 1h"};
  window_ms = *ms;
  return std::nullopt;
}

bool event_filter::matches(const task_event_record& ev) const {
  auto listed = [](const std::vector<std::string>& list, const char* x) {
    return list.empty() || std::find(list.begin(), list.end(), x) != list.end();
  };
  return listed(types, ev.type.c_str()) && listed(statuses, to_string(ev.status))
         && listed(kinds, event_kind(ev.status, ev.attempt, ev.seq));
}

std::optional<api_error> parse_event_query(const http_request& req,
                                           event_filter& filter,
                                           std::optional<event_position>& from) {
  for (auto& [key, val] : req.query)
    if (key != "type" && key != "status" && key != "kind"
        && key != "last_event_id")
      return api_error{ec::bad_request,
                       "query parameter " + key
                         + " is not known (type, status, kind, "
                           "last_event_id)"};
  auto list = [&](const char* key, std::vector<std::string>& out,
                  const std::vector<std::string>& allowed)
    -> std::optional<api_error> {
    auto val = req.param(key);
    if (val == nullptr || val->empty())
      return std::nullopt;
    size_t from = 0;
    for (;;) {
      auto comma = val->find(',', from);
      auto name = val->substr(from, comma == std::string::npos
                                      ? std::string::npos
                                      : comma - from);
      if (name.empty() || name.size() > 128)
        return api_error{ec::bad_request,
                         std::string{"query parameter "} + key
                           + " must be a comma-separated list of names"};
      if (!allowed.empty()
          && std::find(allowed.begin(), allowed.end(), name) == allowed.end())
        return api_error{ec::bad_request,
                         std::string{"query parameter "} + key + " holds "
                           + name + ", which is not one of "
                           + nlohmann::json(allowed).dump()};
      out.push_back(std::move(name));
      if (out.size() > 32)
        return api_error{ec::bad_request, std::string{"query parameter "} + key
                                            + " lists more than 32 names"};
      if (comma == std::string::npos)
        return std::nullopt;
      from = comma + 1;
    }
  };
  if (auto err = list("type", filter.types, {}))
    return err;
  if (auto err = list("status", filter.statuses,
                      {"PENDING", "PROCESSING", "COMPLETED", "FAILED",
                       "CANCELLED"}))
    return err;
  if (auto err = list("kind", filter.kinds,
                      {"submitted", "started", "retry_scheduled", "completed",
                       "failed", "cancelled", "retried"}))
    return err;
  const std::string* last = nullptr;
  if (!req.last_event_id.empty())
    last = &req.last_event_id;
  else if (auto p = req.param("last_event_id"); p != nullptr && !p->empty())
    last = p;
  if (last != nullptr) {
    event_position pos;
    if (!event_position::parse(*last, pos))
      return api_error{ec::bad_request,
                       "Last-Event-ID is not the id of an event of this "
                       "stream"};
    from = std::move(pos);
  }
  return std::nullopt;
}

std::optional<api_error> parse_wait_ms(const http_request& req, int64_t& out) {
  for (auto& [key, val] : req.query)
    if (key != "wait_ms")
      return api_error{ec::bad_request,
                       "query parameter " + key + " is not known (wait_ms)"};
  out = 0;
  return int_param(req, "wait_ms", 0, 60000, out);
}

std::optional<api_error> check_id(const std::string& id) {
  if (!is_uuid(id))
    return api_error{ec::bad_request,
                     "'" + id + "' is not a task id: ids are UUIDs such as "
                     "7f7c0b7e-2f1e-4a5b-9a43-0c0d2a1f6e11"};
  return std::nullopt;
}

} // namespace tasker

namespace tasker {

namespace {

/// Refuses a body field other than `known`.
std::optional<api_error> only_fields(const nlohmann::json& body,
                                     std::initializer_list<const char*> known) {
  if (!body.is_object())
    return api_error{ec::invalid_params, "the body must be a JSON object"};
  for (auto& [key, val] : body.items())
    if (std::none_of(known.begin(), known.end(),
                     [&key = key](const char* k) { return key == k; })) {
      std::string list;
      for (auto k : known)
        list += (list.empty() ? "" : ", ") + std::string{k};
      return api_error{ec::invalid_params,
                       key + " is not a known field (fields: " + list + ")"};
    }
  return std::nullopt;
}

/// An integer field in [lo, hi], or `out` unchanged when absent.
template <class T>
std::optional<api_error> bounded(const nlohmann::json& body, const char* key,
                                 int64_t lo, int64_t hi, T& out) {
  auto i = body.find(key);
  if (i == body.end() || i->is_null())
    return std::nullopt;
  if (!i->is_number_integer() || i->get<int64_t>() < lo
      || i->get<int64_t>() > hi
      || (i->is_number_unsigned() && i->get<uint64_t>() > uint64_t(hi)))
    return api_error{ec::invalid_params,
                     std::string{key} + " must be an integer between "
                       + std::to_string(lo) + " and " + std::to_string(hi)};
  out = static_cast<T>(i->get<int64_t>());
  return std::nullopt;
}

} // namespace

std::optional<api_error> parse_worker_session(const nlohmann::json& body,
                                              const registry& reg,
                                              node_info& out) {
  if (auto err = only_fields(body, {"name", "task_types", "slots"}))
    return err;
  auto name = body.find("name");
  if (name == body.end() || !name->is_string()
      || name->get_ref<const std::string&>().empty()
      || name->get_ref<const std::string&>().size() > 255
      || !is_storable_text(name->get<std::string>()))
    return api_error{ec::invalid_params,
                     "name is required: a text of 1 to 255 bytes"};
  out.name = name->get<std::string>();
  auto types = body.find("task_types");
  if (types == body.end() || !types->is_array() || types->empty()
      || types->size() > 1000)
    return api_error{ec::invalid_params,
                     "task_types is required: an array of 1 to 1000 task "
                     "types"};
  for (size_t i = 0; i < types->size(); ++i) {
    auto& t = (*types)[i];
    if (!t.is_string() || reg.find(t.get<std::string>()) == nullptr)
      return api_error{ec::invalid_params,
                       "task_types[" + std::to_string(i)
                         + "] is not a registered task type"};
    out.task_types.push_back(t.get<std::string>());
  }
  out.slots = 1;
  if (auto err = bounded(body, "slots", 1, 1000, out.slots))
    return err;
  out.address = "http";
  out.protocol_version = protocol_version;
  return std::nullopt;
}

std::optional<api_error> parse_lease_request(const nlohmann::json& body,
                                             int32_t& max_tasks,
                                             int64_t& wait_ms) {
  max_tasks = 1;
  wait_ms = 0;
  if (auto err = only_fields(body, {"max_tasks", "wait_ms"}))
    return err;
  if (auto err = bounded(body, "max_tasks", 1, 1000, max_tasks))
    return err;
  return bounded(body, "wait_ms", 0, max_lease_wait_ms, wait_ms);
}

std::optional<api_error> parse_heartbeat(const nlohmann::json& body,
                                         std::string& progress) {
  progress.clear();
  if (auto err = only_fields(body, {"progress"}))
    return err;
  auto value = body.value("progress", nlohmann::json{});
  if (value.is_null())
    return std::nullopt;
  if (std::string at; find_refused_string(value, at))
    return api_error{ec::invalid_params,
                     "progress" + at
                       + " must not contain a NUL character (\\u0000)"};
  progress = value.dump();
  if (progress.size() > max_progress_bytes) {
    progress.clear();
    return api_error{ec::invalid_params,
                     "progress must be at most "
                       + std::to_string(max_progress_bytes)
                       + " bytes of JSON"};
  }
  return std::nullopt;
}

std::optional<api_error> parse_lease_outcome(const nlohmann::json& body,
                                             bool completed,
                                             task_outcome& out) {
  out = task_outcome{};
  out.ok = completed;
  if (completed) {
    if (auto err = only_fields(body, {"result"}))
      return err;
    auto result = body.value("result", nlohmann::json{});
    if (std::string at; find_refused_string(result, at))
      return api_error{ec::invalid_params,
                       "result" + at
                         + " must not contain a NUL character (\\u0000)"};
    out.result = result.dump();
    return std::nullopt;
  }
  if (auto err = only_fields(body, {"error", "retryable"}))
    return err;
  auto error = body.find("error");
  if (error == body.end() || !error->is_string()
      || error->get_ref<const std::string&>().size() > 65536
      || !is_storable_text(error->get<std::string>()))
    return api_error{ec::invalid_params,
                     "error is required: a text of at most 65536 bytes "
                     "without NUL"};
  out.error = error->get<std::string>();
  auto retryable = body.find("retryable");
  if (retryable != body.end() && !retryable->is_boolean())
    return api_error{ec::invalid_params, "retryable must be true or false"};
  out.retryable = retryable == body.end() || retryable->get<bool>();
  return std::nullopt;
}

} // namespace tasker
