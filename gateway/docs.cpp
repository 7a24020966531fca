// The OpenAPI document.
#include "gateway/docs.hpp"

#include <set>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/routes.hpp"
#include "messages/error.hpp"

// The project's version (CMakeLists.txt sets it for this file).
#ifndef TASKER_VERSION
#define TASKER_VERSION "0.0.0"
#endif

namespace tasker {

namespace {

using nlohmann::json;

json schema_ref(const std::string& name) {
  return {{"$ref", "#/components/schemas/" + name}};
}

json json_content(json schema) {
  return {{"application/json", {{"schema", std::move(schema)}}}};
}

json described(json schema, const char* description) {
  schema["description"] = description;
  return schema;
}

/// An object schema; `closed` refuses other properties (what a request
/// body with an unknown field gets: 422).
json object(json properties, json required = json::array(),
            bool closed = false) {
  json js{{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty())
    js["required"] = std::move(required);
  if (closed)
    js["additionalProperties"] = false;
  return js;
}

/// An object of an answer: every property is always there.
json record(json properties) {
  auto required = json::array();
  for (auto& item : properties.items())
    required.push_back(item.key());
  return object(std::move(properties), std::move(required));
}

json array_of(json items) {
  return {{"type", "array"}, {"items", std::move(items)}};
}

const json str{{"type", "string"}};
const json integer{{"type", "integer"}};
const json boolean{{"type", "boolean"}};
const json counter{{"type", "integer"}, {"minimum", 0}};
const json nstr{{"type", {"string", "null"}}};
const json nint{{"type", {"integer", "null"}}};
const json uuid{{"type", "string"}, {"format", "uuid"}};
const json time_of{{"type", "string"}, {"format", "date-time"}};
const json ntime{{"type", {"string", "null"}}, {"format", "date-time"}};

/// An answer with a JSON body.
json reply(const std::string& description, json schema) {
  return {{"description", description}, {"content", json_content(std::move(schema))}};
}

/// An answer with a body of another media type.
json text_reply(const char* description, const char* media) {
  return {{"description", description},
          {"content", {{media, {{"schema", str}}}}}};
}

json header_ref(const char* name) {
  return {{"$ref", std::string{"#/components/headers/"} + name}};
}

// ------------------------------------------------------------------ errors

/// The named responses of the errors (components.responses), by `ec`.
struct error_info {
  const char* name;
  ec code;
  const char* description;
  const char* example;
};

constexpr error_info error_infos[] = {
  {"BadRequest", ec::bad_request,
   "Malformed HTTP, malformed JSON (or nested too deep, or too many arrays "
   "and objects), a malformed id or a bad query parameter.",
   "query parameter limit must be an integer between 1 and 1000"},
  {"Unauthorized", ec::unauthorized,
   "A token is configured and the bearer token is missing or wrong (the "
   "body of such a request is not read).",
   unauthorized_message},
  {"NotFound", ec::not_found, "No such task, worker, session or path.",
   "no task with id 7f7c0b7e-2f1e-4a5b-9a43-0c0d2a1f6e11"},
  {"RequestTimeout", ec::request_timeout,
   "The whole request (head and body) did not arrive within the configured "
   "time.",
   "the request did not arrive within 10000 ms"},
  {"Conflict", ec::conflict,
   "The idempotency key was used with another body, the task's status does "
   "not allow the change, or the lease is no longer held.",
   "idempotency key 'order-42' was used before with a different body"},
  {"PayloadTooLarge", ec::payload_too_large,
   "The body is over the configured limit (default 2 MiB).",
   "the request body is larger than the limit of 2097152 bytes"},
  {"UnsupportedMediaType", ec::unsupported_media_type,
   "A body that is not JSON (send Content-Type: application/json).",
   "the body must be JSON: send Content-Type: application/json"},
  {"InvalidParams", ec::invalid_params,
   "Unknown task type, unknown, missing or wrongly typed field, value out of "
   "range, a NUL character; the message names the field.",
   "params.a is required"},
  {"Overloaded", ec::overloaded,
   "Admission control: the queue (or the HTTP worker sessions) is over its "
   "configured bound; retry after Retry-After.",
   "the coordinator holds 100000 unfinished tasks, its limit is 100000; "
   "retry later"},
  {"InternalError", ec::internal, "A bug or an unexpected failure in tasker.",
   "internal error"},
  {"Unavailable", ec::unavailable,
   "The database cannot be reached or take writes (nothing was accepted), "
   "too many list requests or event streams at once, too much request data "
   "being received, or tasker did not answer in time; retry after "
   "Retry-After.",
   "too many list requests at once; retry later"},
};

/// Every error code (the Errors table of docs/API.md, and `internal`).
constexpr ec error_codes[] = {
  ec::bad_request,       ec::unauthorized,   ec::not_found,
  ec::method_not_allowed, ec::conflict,       ec::payload_too_large,
  ec::unsupported_media_type, ec::request_timeout, ec::invalid_params,
  ec::overloaded,        ec::unavailable,    ec::internal,
};

const error_info& error_named(const std::string& name) {
  for (auto& e : error_infos)
    if (name == e.name)
      return e;
  throw std::logic_error("no error response " + name);
}

json error_responses() {
  json out = json::object();
  for (auto& e : error_infos) {
    json example{
      {"error", {{"code", to_string(e.code)}, {"message", e.example}}}};
    json media{{"schema", schema_ref("Error")}, {"example", std::move(example)}};
    json res{{"description", e.description},
             {"content", {{"application/json", std::move(media)}}}};
    if (e.code == ec::unavailable || e.code == ec::overloaded)
      res["headers"]["Retry-After"] = header_ref("RetryAfter");
    if (e.code == ec::unauthorized)
      res["headers"]["WWW-Authenticate"] = header_ref("WWWAuthenticate");
    out[e.name] = std::move(res);
  }
  return out;
}

// -------------------------------------------------------------- operations

/// Who may call an operation (routes.hpp, `authorized`).
enum class access { open, client, worker };

/// What any request can get, whatever its route: malformed HTTP (400), a
/// request that arrives too slowly (408), a body over the limit (413), a bug
/// (500), too much data being received or an answer too slow (503).
constexpr const char* transport_errors[] = {
  "BadRequest", "RequestTimeout", "PayloadTooLarge", "InternalError",
  "Unavailable"};

/// One operation: its answers, then the named error responses `errors`,
/// the transport errors and (unless open) 401.
json operation(const char* id, const char* tag, const char* summary,
               const char* description, access who, json responses,
               std::initializer_list<const char*> errors = {}) {
  auto add = [&responses](const char* name) {
    auto status = std::to_string(http_status(error_named(name).code));
    if (!responses.contains(status))
      responses[status]
        = {{"$ref", std::string{"#/components/responses/"} + name}};
  };
  for (auto e : errors)
    add(e);
  for (auto e : transport_errors)
    add(e);
  json op{{"operationId", id},
          {"tags", {tag}},
          {"summary", summary},
          {"description", description}};
  switch (who) {
    case access::open:
      op["security"] = json::array();
      break;
    case access::client:
      add("Unauthorized");
      break;
    case access::worker:
      add("Unauthorized");
      op["security"] = json::array({{{"workerToken", json::array()}}});
      break;
  }
  op["responses"] = std::move(responses);
  return op;
}

json param_ref(const char* name) {
  return {{"$ref", std::string{"#/components/parameters/"} + name}};
}

json query(const char* name, const char* description, json schema) {
  return {{"name", name},
          {"in", "query"},
          {"description", description},
          {"schema", std::move(schema)}};
}

json body(json schema, bool required = true) {
  return {{"required", required}, {"content", json_content(std::move(schema))}};
}

// ------------------------------------------------------------- task types

/// A component name for a task type's submission: `Submission.<name>`, with
/// characters a component name cannot hold (^[a-zA-Z0-9._-]+$) replaced by
/// `_` and a `-2`, `-3`, ... suffix where two names would meet.
std::string component_name(const std::string& type,
                           std::set<std::string>& used) {
  std::string base = "Submission.";
  // (ASCII only, whatever the locale.)
  for (char c : type)
    base += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
              ? c
              : '_';
  if (type.empty())
    base += '_';
  auto name = base;
  for (int n = 2; used.count(name) != 0; ++n)
    name = base + "-" + std::to_string(n);
  used.insert(name);
  return name;
}

/// The fields of a submission besides `type` and `params` (API.md
/// "Submitting").
json submission_common() {
  json js = object(
    {{"priority",
      {{"type", "integer"}, {"minimum", 0}, {"maximum", 9}, {"default", 0},
       {"description", "higher runs first"}}},
     {"max_attempts",
      {{"type", "integer"}, {"minimum", 1}, {"maximum", 100},
       {"description", "attempts before the task FAILED (default: the "
                       "type's, else the configured default, 3)"}}},
     {"timeout_ms",
      {{"type", "integer"}, {"minimum", 1}, {"maximum", 86400000},
       {"description", "bounds one attempt (default: the type's, else the "
                       "configured default, 60000)"}}},
     {"delay_ms",
      {{"type", "integer"}, {"minimum", 0},
       {"maximum", int64_t{366} * 24 * 3600 * 1000},
       {"description", "defers the first attempt"}}},
     {"run_at",
      {{"type", "string"}, {"format", "date-time"},
       {"description", "defers the first attempt to this time (within a "
                       "year; not with delay_ms)"}}},
     {"idempotency_key",
      {{"type", "string"}, {"minLength", 1}, {"maxLength", 255},
       {"description", "a repeat with the same key and body returns the "
                       "first task (200); another body is 409 (the "
                       "Idempotency-Key header is the same)"}}},
     {"callback_url",
      {{"type", "string"}, {"format", "uri"}, {"maxLength", 2048},
       {"description", "an http or https URL that receives the task's "
                       "terminal states (webhooks)"}}}});
  js["description"] = "The fields every submission may have besides type and "
                      "params.";
  return js;
}

} // namespace

std::string openapi_json(const registry& reg) {
  // Submissions, one schema per task type.
  json schemas = json::object();
  json one_of = json::array(), mapping = json::object(),
       type_names = json::array();
  std::set<std::string> used;
  for (auto& t : reg.describe()) {
    auto type = t["type"].get<std::string>();
    auto name = component_name(type, used);
    auto params = t["params_schema"];
    // (A component schema is no schema resource of its own.)
    if (params.is_object())
      params.erase("$schema");
    auto about = t["description"].get<std::string>();
    json sub{{"description", "A submission of a " + type + " task."
                               + (about.empty() ? "" : " " + about)},
             {"allOf", {schema_ref("SubmissionCommon")}},
             {"type", "object"},
             {"required", {"type", "params"}},
             {"properties",
              {{"type", {{"type", "string"}, {"const", type}}},
               {"params", std::move(params)}}},
             {"unevaluatedProperties", false}};
    schemas[name] = std::move(sub);
    one_of.push_back(schema_ref(name));
    mapping[type] = "#/components/schemas/" + name;
    type_names.push_back(type);
  }
  json submission;
  if (one_of.empty()) {
    submission = {{"allOf", {schema_ref("SubmissionCommon")}},
                  {"type", "object"},
                  {"required", {"type", "params"}},
                  {"properties", {{"type", str}, {"params", {{"type", "object"}}}}}};
  } else {
    submission = {{"oneOf", one_of},
                  {"discriminator",
                   {{"propertyName", "type"}, {"mapping", mapping}}}};
  }
  submission["description"]
    = "A task to run: its type, its params (validated by the type's schema) "
      "and the common fields.";
  schemas["Submission"] = std::move(submission);
  schemas["SubmissionCommon"] = submission_common();
  schemas["BatchSubmission"] = object(
    {{"tasks",
      {{"type", "array"}, {"minItems", 1}, {"maxItems", 1000},
       {"items", schema_ref("Submission")}}}},
    {"tasks"}, true);

  // Tasks.
  json status{{"type", "string"},
              {"enum", {"PENDING", "PROCESSING", "COMPLETED", "FAILED",
                        "CANCELLED"}}};
  schemas["TaskStatus"] = status;
  schemas["Task"] = record(
    {{"id", uuid},
     {"type", str},
     {"status", schema_ref("TaskStatus")},
     {"params", {{"type", "object"}, {"description", "as submitted"}}},
     {"result", {{"description", "the result (any JSON), null until "
                                 "COMPLETED"}}},
     {"error", described(nstr, "the last attempt's error")},
     {"progress", {{"description", "what an HTTP worker last reported for "
                                   "the running attempt (any JSON), else "
                                   "null"}}},
     {"priority", {{"type", "integer"}, {"minimum", 0}, {"maximum", 9}}},
     {"attempts", described(counter, "attempts started")},
     {"max_attempts", integer},
     {"timeout_ms", integer},
     {"idempotency_key", nstr},
     {"worker_id", nstr},
     {"callback_url", nstr},
     {"created_at", time_of},
     {"updated_at", time_of},
     {"scheduled_at", ntime},
     {"started_at", ntime},
     {"completed_at", ntime}});
  schemas["TaskPage"] = record(
    {{"tasks", array_of(schema_ref("Task"))},
     {"next_cursor",
      described(nstr, "pass as cursor for the next page; null on the last")}});
  schemas["TaskBatch"] = record({{"tasks", array_of(schema_ref("Task"))}});

  // History and the event stream.
  schemas["TaskEvent"] = record(
    {{"id", described(str, "the event's position in the event stream "
                           "(opaque)")},
     {"task_id", uuid},
     {"seq", described(counter, "the task's transitions from 0, without "
                                "gaps")},
     {"kind",
      {{"type", "string"},
       {"enum", {"submitted", "started", "retry_scheduled", "completed",
                 "failed", "cancelled", "retried"}}}},
     {"type", str},
     {"status", schema_ref("TaskStatus")},
     {"attempt", counter},
     {"worker_id", nstr},
     {"error", nstr},
     {"at", ntime},
     {"scheduled_at", ntime},
     {"started_at", ntime},
     {"duration_ms", described(nint, "how long the attempt ran, on events "
                                     "that end one")},
     {"wait_ms", described(nint, "on started: how long the task waited once "
                                 "due")}});
  schemas["WebhookDelivery"] = record(
    {{"seq", described(counter, "the terminal event delivered")},
     {"url", str},
     {"state",
      {{"type", "string"}, {"enum", {"pending", "delivered", "failed"}}}},
     {"attempts", counter},
     {"next_at", ntime},
     {"last_status", nint},
     {"last_error", nstr},
     {"delivered_at", ntime}});
  schemas["TaskHistory"] = record(
    {{"task_id", uuid},
     {"events", array_of(schema_ref("TaskEvent"))},
     {"more", described(boolean, "the task has more than the events listed")},
     {"callbacks", array_of(schema_ref("WebhookDelivery"))}});
  json percentiles = record({{"p50", {{"type", {"number", "null"}}}},
                             {"p95", {{"type", {"number", "null"}}}},
                             {"p99", {{"type", {"number", "null"}}}}});
  percentiles["description"] = "milliseconds; null when nothing was measured";
  schemas["Percentiles"] = std::move(percentiles);
  schemas["Stats"] = record(
    {{"window_ms", integer},
     {"bucket_ms", integer},
     {"types",
      array_of(record(
        {{"type", str},
         {"buckets",
          array_of(record({{"start", time_of},
                           {"submitted", counter},
                           {"completed", counter},
                           {"failed", counter},
                           {"cancelled", counter},
                           {"runs", counter},
                           {"run_ms", schema_ref("Percentiles")},
                           {"starts", counter},
                           {"wait_ms", schema_ref("Percentiles")}}))}}))}});

  {
    auto series = [](json item, const char* description) {
      return described(array_of(std::move(item)), description);
    };
    json ms{{"type", {"number", "null"}}};
    schemas["Activity"] = record(
      {{"window_ms", integer},
       {"slot_ms", described(integer, "the width of a slot (10 s)")},
       {"latency_ms",
        described(record({{"finished", counter},
                          {"p50", ms},
                          {"p95", ms},
                          {"p99", ms}}),
                  "submission-to-terminal latency of the tasks that finished "
                  "in the window (null: none did)")},
       {"slots",
        described(
          record({{"at", series(time_of, "each slot's start")},
                  {"submitted", series(counter, "tasks submitted")},
                  {"completed", series(counter, "tasks completed")},
                  {"failed", series(counter, "tasks failed")},
                  {"cancelled", series(counter, "tasks cancelled")},
                  {"queue_depth", series(integer, "at the slot's end")},
                  {"in_flight", series(integer, "at the slot's end")},
                  {"live_task_actors", series(integer, "at the slot's end")},
                  {"persistence_backlog", series(integer, "at the slot's end")},
                  {"latency_p50_ms", series(ms, "null: none finished")},
                  {"latency_p95_ms", series(ms, "null: none finished")},
                  {"latency_p99_ms", series(ms, "null: none finished")}}),
          "columns, one entry per slot, oldest first")}});
  }

  // Task types, worker nodes, the cluster.
  json task_type = object(
    {{"type", str},
     {"description", str},
     {"runs",
      {{"type", "string"}, {"enum", {"builtin", "command", "http", "pull"}}}},
     {"params_schema", {{"type", "object"},
                        {"description", "a JSON Schema of the params"}}},
     {"timeout_ms", described(integer, "the type's own default")},
     {"max_attempts", described(integer, "the type's own default")}},
    {"type", "description", "runs", "params_schema"});
  schemas["TaskTypeList"] = record({{"task_types", array_of(task_type)}});
  schemas["Worker"] = record(
    {{"id", str},
     {"name", str},
     {"address", described(str, "host:port of a worker node, http for an "
                                "HTTP worker's session")},
     {"status",
      {{"type", "string"}, {"enum", {"ALIVE", "SUSPECT", "DRAINING", "DEAD"}}}},
     {"kind",
      {{"type", "string"},
       {"enum", {"local", "http", "node"}},
       {"description", "the coordinator's own slots, an HTTP worker's "
                       "session or a worker node"}}},
     {"task_types", array_of(str)},
     {"slots", counter},
     {"busy", counter},
     {"completed", counter},
     {"failed", counter},
     {"joined_at", time_of},
     {"last_seen", time_of}});
  schemas["WorkerList"] = record({{"workers", array_of(schema_ref("Worker"))}});
  schemas["Draining"] = record(
    {{"id", str}, {"status", {{"type", "string"}, {"const", "DRAINING"}}}});
  auto counters = [](std::initializer_list<const char*> names) {
    json props = json::object();
    for (auto n : names)
      props[n] = counter;
    return record(std::move(props));
  };
  json cache_state{{"type", "string"}, {"enum", {"off", "up", "down"}}};
  json database{{"type", "string"}, {"enum", {"up", "down"}}};
  json cache = object(
    {{"state", cache_state},
     {"key_prefix", str},
     {"ttl_s", integer},
     {"hits", counter},
     {"misses", counter},
     {"read_errors", counter},
     {"corrupt", counter},
     {"inconsistent", counter},
     {"writes", counter},
     {"write_errors", counter},
     {"write_failures", counter},
     {"db_fallbacks", counter}},
    {"state"});
  cache["description"] = "the Redis status cache (the counts only when it is "
                         "configured)";
  auto manager = counters({"live_task_actors", "cached_results", "spawned",
                           "finished", "recovered", "lost_attempts",
                           "loaded_from_database", "delayed_parked",
                           "restarts", "submit_timeouts", "admitting",
                           "in_doubt_stored", "in_doubt_not_stored"});
  manager["properties"]["resident_until"]
    = described(str, "a time; empty while recovering");
  manager["properties"]["recovery_done"] = boolean;
  manager["required"].push_back("resident_until");
  manager["required"].push_back("recovery_done");
  auto dispatcher = counters({"queue_depth", "in_flight", "nodes",
                              "dead_nodes", "dispatched", "timeouts",
                              "stale_results_dropped", "generation"});
  dispatcher["properties"]["paused_by_db_backlog"] = boolean;
  dispatcher["required"].push_back("paused_by_db_backlog");
  dispatcher["properties"]["queues"] = described(
    array_of(record({{"type", str}, {"priority", integer}, {"depth", counter}})),
    "the ready queue by task type, then priority (higher first)");
  dispatcher["required"].push_back("queues");
  auto persistence = counters({"writers", "batches", "rows_written",
                               "failed_batches", "last_batch_rows",
                               "max_batch_rows", "backlog_rows",
                               "waiting_submits"});
  persistence["properties"]["db_up"] = boolean;
  persistence["required"].push_back("db_up");
  auto cluster_port = counters({"admitted", "in_exchange", "wrong_secret",
                                "not_tasker", "timed_out", "refused_busy",
                                "dropped"});
  cluster_port["type"] = {"object", "null"};
  cluster_port["description"] = "the cluster port's handshakes (null when it "
                                "is not open)";
  json restarts = record({{"restarts", counter},
                         {"last_restart_at", ntime},
                         {"last_restart_reason", nstr}});
  schemas["SupervisionNode"] = {
    {"type", "object"},
    {"description", "A part of the supervision tree (docs/ARCHITECTURE.md) "
                    "with what it reports (counts; a supervisor's restarts)."},
    {"required", {"name", "role", "children"}},
    {"properties",
     {{"name", str},
      {"role", str},
      {"children", array_of(schema_ref("SupervisionNode"))}}},
    {"additionalProperties",
     {{"type", {"integer", "string", "null"}}}}};
  json role_enum{{"type", "string"}, {"enum", {"active", "standby"}}};
  json epoch_schema = described(
    counter, "the leadership epoch: one more at every takeover "
             "(docs/ARCHITECTURE.md, \"Standby coordinators\")");
  json coordinator_row = record(
    {{"id", str},
     {"name", str},
     {"role", {{"type", "string"}, {"enum", {"active", "standby", "stopped"}}}},
     {"alive", described(boolean, "renewed within the lease and not stopped")},
     {"epoch", counter},
     {"http_address", str},
     {"cluster_address", str},
     {"version", str},
     {"started_at", ntime},
     {"last_renewal", ntime},
     {"self", described(boolean, "the coordinator that answers")}});
  json active_coordinator = record({{"id", str},
                                    {"name", str},
                                    {"http_address", str},
                                    {"cluster_address", str},
                                    {"last_renewal", ntime}});
  active_coordinator["type"] = {"object", "null"};
  active_coordinator["description"]
    = "the active coordinator while its lease runs (null: none)";
  schemas["Leadership"] = record(
    {{"role", role_enum},
     {"epoch", epoch_schema},
     {"coordinator", record({{"id", str}, {"name", str}})},
     {"lease_ms", counter},
     {"active", std::move(active_coordinator)},
     {"changed_at", described(ntime, "when this process last became active "
                                     "or stood down")},
     {"takeovers", counter},
     {"stepdowns", counter},
     {"coordinators", array_of(coordinator_row)}});
  auto cluster_status = record(
    {{"ready", boolean},
     {"database", database},
     {"cache", std::move(cache)},
     {"task_manager", std::move(manager)},
     {"dispatcher", std::move(dispatcher)},
     {"persistence", std::move(persistence)},
     {"cluster_port", std::move(cluster_port)},
     {"supervisors", record({{"task_manager", restarts},
                             {"gateway", restarts},
                             {"persistence", restarts},
                             {"dispatcher", restarts}})},
     {"supervision_tree", schema_ref("SupervisionNode")},
     {"gateway",
      counters({"connections", "requests", "refused_connections",
                "timed_out_requests", "idle_closed", "unread_closed",
                "held_request_bytes", "held_response_bytes",
                "lists_in_flight", "list_refusals", "event_streams",
                "event_stream_refusals", "events_sent",
                "event_streams_dropped", "buffer_refusals"})}});
  cluster_status["properties"]["role"]
    = {{"type", "string"}, {"const", "active"}};
  cluster_status["properties"]["epoch"] = epoch_schema;
  cluster_status["properties"]["leadership"] = schema_ref("Leadership");
  cluster_status["required"].push_back("role");
  cluster_status["required"].push_back("epoch");
  schemas["ClusterStatus"] = std::move(cluster_status);
  schemas["StandbyClusterStatus"] = record(
    {{"ready", described(boolean, "the database is up and the active "
                                  "coordinator is reachable")},
     {"role", {{"type", "string"}, {"const", "standby"}}},
     {"epoch", epoch_schema},
     {"forwarding", described(boolean, "writes reach the active coordinator")},
     {"database", database},
     {"leadership", schema_ref("Leadership")},
     {"gateway", counters({"connections", "requests", "event_streams"})}});
  schemas["Health"]
    = record({{"status", {{"type", "string"}, {"const", "ok"}}}});
  schemas["Readiness"] = record(
    {{"ready", boolean},
     {"database", database},
     {"cache", described(cache_state, "the cache does not decide readiness")},
     {"recovery", {{"type", "string"}, {"enum", {"done", "running"}}}}});
  schemas["Readiness"]["properties"]["role"] = role_enum;
  schemas["Readiness"]["properties"]["epoch"] = epoch_schema;
  schemas["Readiness"]["properties"]["active"] = described(
    nstr, "a standby's: the active coordinator's name (null: none)");
  schemas["Readiness"]["properties"]["lease"] = described(
    {{"type", "string"}, {"enum", {"current", "expired"}}},
    "the active one's: whether it renewed its lease in time (not ready "
    "otherwise)");
  schemas["Readiness"]["properties"]["forwarding"]
    = described(boolean, "a standby's: whether its writes reach the active "
                         "coordinator");

  // HTTP workers.
  json task_types_field{{"type", "array"},
                        {"minItems", 1},
                        {"maxItems", 1000},
                        {"items", str},
                        {"description", "registered task types, usually "
                                        "pull ones"}};
  if (!type_names.empty())
    task_types_field["items"] = {{"type", "string"}, {"enum", type_names}};
  schemas["SessionRequest"] = object(
    {{"name", {{"type", "string"}, {"minLength", 1},
               {"description", "1 to 255 bytes"}}},
     {"task_types", std::move(task_types_field)},
     {"slots", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000},
                {"default", 1},
                {"description", "how many tasks it holds at once"}}}},
    {"name", "task_types"}, true);
  schemas["Session"] = record(
    {{"session", str},
     {"worker_id", described(str, "the worker node the session is, in "
                                  "/v1/workers")},
     {"lease_timeout_ms", integer}});
  schemas["LeaseRequest"] = object(
    {{"max_tasks", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000},
                    {"default", 1}}},
     {"wait_ms", {{"type", "integer"}, {"minimum", 0}, {"maximum", 30000},
                  {"default", 0},
                  {"description", "how long to wait for a task"}}}},
    json::array(), true);
  schemas["LeasedTask"] = record(
    {{"lease", described(str, "the lease token of this attempt")},
     {"id", uuid},
     {"type", str},
     {"params", {{"type", "object"},
                 {"description", "with the type's defaults filled in"}}},
     {"attempt", integer},
     {"timeout_ms", integer}});
  schemas["Leases"] = record(
    {{"tasks", array_of(schema_ref("LeasedTask"))},
     {"draining", described(boolean, "stop leasing: the session is "
                                     "draining")},
     {"lease_timeout_ms", integer}});
  schemas["SessionClosed"] = record(
    {{"session", str}, {"status", {{"type", "string"}, {"const", "CLOSED"}}}});
  schemas["Heartbeat"] = object(
    {{"progress", {{"description", "becomes the task's progress while it "
                                   "runs (any JSON, at most 64 KiB)"}}}},
    json::array(), true);
  schemas["HeartbeatAnswer"] = record(
    {{"cancelled", described(boolean, "the task was cancelled or its "
                                      "attempt timed out: stop working")}});
  schemas["LeaseComplete"] = object(
    {{"result", {{"description", "the task's result (any JSON)"}}}},
    json::array(), true);
  schemas["LeaseFail"] = object(
    {{"error", {{"type", "string"}, {"description", "at most 65536 bytes"}}},
     {"retryable", {{"type", "boolean"}, {"default", true}}}},
    {"error"}, true);
  schemas["LeaseEnded"] = record(
    {{"lease", str}, {"status", {{"type", "string"}, {"const", "accepted"}}}});

  // The seed API.
  json seed_name{{"type", "string"},
                 {"description", "the task type; every other field is a "
                                 "param"}};
  if (!type_names.empty())
    seed_name["enum"] = type_names;
  schemas["SeedSubmission"] = {{"type", "object"},
                               {"required", {"task_name"}},
                               {"properties", {{"task_name", seed_name}}},
                               {"additionalProperties", true}};
  schemas["SeedSubmitted"] = record({{"task_id", uuid}});
  schemas["SeedTask"] = record(
    {{"task_id", uuid},
     {"task_name", str},
     {"status",
      {{"type", "string"},
       {"enum", {"pending", "running", "completed", "failed", "cancelled"}}}},
     {"task_output", {{"description", "the result (any JSON), else null"}}},
     {"error", nstr}});

  // Errors.
  json codes = json::array();
  for (auto c : error_codes)
    codes.push_back(to_string(c));
  schemas["Error"] = record(
    {{"error",
      record({{"code", {{"type", "string"}, {"enum", codes}}},
              {"message", described(str, "what went wrong, for a person")}})}});
  schemas["Error"]["description"]
    = "Every error answer: a code and a message a person can act on.";

  // Paths.
  json paths = json::object();
  auto task_id = param_ref("TaskId");
  auto submitted = [](const char* description, const char* schema) {
    json res = reply(description, schema_ref(schema));
    res["headers"]["Location"] = header_ref("Location");
    return res;
  };
  {
    auto post = operation(
      "submitTask", "tasks", "Submit one task",
      "Stores the task and answers 202 once its row is committed in "
      "PostgreSQL. A repeat with the same idempotency key and body answers "
      "the first task with 200.",
      access::client,
      {{"202", submitted("stored", "Task")},
       {"200", submitted("an idempotent repeat: the first task", "Task")}},
      {"Conflict", "UnsupportedMediaType", "InvalidParams", "Overloaded"});
    post["parameters"] = {
      {{"name", "Idempotency-Key"},
       {"in", "header"},
       {"description", "the same as the idempotency_key field"},
       {"schema", {{"type", "string"}, {"maxLength", 255}}}}};
    post["requestBody"] = body(schema_ref("Submission"));
    auto get = operation(
      "listTasks", "tasks", "List tasks, newest first",
      "A page of tasks; a page ends early (with a next_cursor) past about "
      "4 MiB of params and results.",
      access::client, {{"200", reply("a page", schema_ref("TaskPage"))}});
    get["parameters"] = {
      query("status", "only tasks in this status", schema_ref("TaskStatus")),
      query("type", "only tasks of this type", str),
      query("limit", "the most tasks of the page",
            {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000},
             {"default", 100}}),
      query("cursor", "next_cursor of the previous page", str),
      {{"name", "params"},
       {"in", "query"},
       {"description", "a JSON object the task's params contain (at most "
                       "4 KiB, 8 levels, 256 arrays and objects)"},
       {"content", json_content({{"type", "object"}})}}};
    paths["/v1/tasks"] = {{"post", post}, {"get", get}};
  }
  {
    auto post = operation(
      "submitBatch", "tasks", "Submit up to 1000 tasks, all or none",
      "All are validated first; all or none are stored. The answer lists "
      "the tasks in request order (200 when every one repeats an earlier "
      "submission by its idempotency key).",
      access::client,
      {{"202", reply("stored", schema_ref("TaskBatch"))},
       {"200", reply("every task an idempotent repeat", schema_ref("TaskBatch"))}},
      {"Conflict", "UnsupportedMediaType", "InvalidParams", "Overloaded"});
    post["requestBody"] = body(schema_ref("BatchSubmission"));
    paths["/v1/tasks/batch"] = {{"post", post}};
  }
  {
    auto get = operation(
      "getTask", "tasks", "Read a task",
      "With wait_ms, the answer waits until the task is terminal or wait_ms "
      "pass.",
      access::client, {{"200", reply("the task", schema_ref("Task"))}},
      {"NotFound"});
    get["parameters"] = {
      task_id,
      query("wait_ms", "hold the answer until the task is terminal or this "
                       "many ms pass",
            {{"type", "integer"}, {"minimum", 0}, {"maximum", 60000},
             {"default", 0}})};
    paths["/v1/tasks/{id}"] = {{"get", get}};
  }
  {
    auto get = operation(
      "getTaskEvents", "history", "Read a task's history",
      "Its first 1000 transitions in order, and its webhook deliveries.",
      access::client, {{"200", reply("the history", schema_ref("TaskHistory"))}},
      {"NotFound"});
    get["parameters"] = {task_id};
    paths["/v1/tasks/{id}/events"] = {{"get", get}};
  }
  {
    auto post = operation(
      "cancelTask", "tasks", "Cancel a task",
      "Cancels a task that is not terminal; a running attempt is told to "
      "stop. A terminal task is 409.",
      access::client, {{"200", reply("cancelled", schema_ref("Task"))}},
      {"NotFound", "Conflict"});
    post["parameters"] = {task_id};
    paths["/v1/tasks/{id}/cancel"] = {{"post", post}};
  }
  {
    auto post = operation(
      "retryTask", "tasks", "Run a failed or cancelled task again",
      "Runs a FAILED or CANCELLED task again, now, with a fresh attempts "
      "budget; another status is 409.",
      access::client, {{"202", reply("queued", schema_ref("Task"))}},
      {"NotFound", "Conflict"});
    post["parameters"] = {task_id};
    paths["/v1/tasks/{id}/retry"] = {{"post", post}};
  }
  {
    auto get = operation(
      "streamEvents", "history", "Follow every transition of every task",
      "Server-Sent Events: each event's data is a TaskEvent and its id the "
      "event's id; a comment line `: keep-alive` comes every 15 s. A client "
      "that reads too slowly gets a last `event: dropped`. It resumes right "
      "after Last-Event-ID (or last_event_id).",
      access::client,
      {{"200", text_reply("the stream, until either side closes",
                          "text/event-stream")}});
    get["parameters"] = {
      query("type", "task types, comma-separated", str),
      query("status", "statuses the tasks reached, comma-separated", str),
      query("kind", "event kinds, comma-separated", str),
      query("last_event_id", "resume after this event (for clients that "
                             "cannot set Last-Event-ID)",
            str),
      {{"name", "Last-Event-ID"},
       {"in", "header"},
       {"description", "resume after this event"},
       {"schema", str}}};
    paths["/v1/events"] = {{"get", get}};
  }
  {
    auto get = operation(
      "getStats", "history", "Counts and percentiles by task type and time",
      "Per task type and bucket of the last window: submitted, completed, "
      "failed, cancelled, and attempt run time and queue wait percentiles. "
      "At most 1440 buckets in a window.",
      access::client, {{"200", reply("the buckets", schema_ref("Stats"))}});
    auto duration = [](const char* fallback) -> json {
      return {{"type", "string"},
              {"pattern", "^[0-9]{1,9}[smhd]$"},
              {"default", fallback}};
    };
    get["parameters"] = {
      query("window", "how far back (at most 31d)", duration("1h")),
      query("bucket", "the width of a bucket (at least 1s)", duration("1m"))};
    paths["/v1/stats"] = {{"get", get}};
  }
  {
    auto get = operation(
      "getActivity", "history", "The coordinator's last hour, for charts",
      "From memory, in 10 s slots: tasks submitted and finished, latency "
      "percentiles and the queue gauges. It starts empty with the process.",
      access::client, {{"200", reply("the slots", schema_ref("Activity"))}});
    get["parameters"] = {query("window", "how far back (10s to 1h)",
                               {{"type", "string"},
                                {"pattern", "^[0-9]{1,9}[smhd]$"},
                                {"default", "1h"}})};
    paths["/v1/activity"] = {{"get", get}};
  }
  paths["/v1/task-types"] = {
    {"get", operation("listTaskTypes", "task types",
                      "List the registered task types",
                      "Each with its params JSON Schema and how it runs.",
                      access::client,
                      {{"200", reply("the task types", schema_ref("TaskTypeList"))}})}};
  paths["/v1/workers"] = {
    {"get", operation("listWorkers", "workers", "List the worker nodes",
                      "Worker nodes and HTTP worker sessions.", access::client,
                      {{"200", reply("the worker nodes", schema_ref("WorkerList"))}})}};
  {
    auto post = operation(
      "drainWorker", "workers", "Drain a worker node",
      "The node gets no new tasks; it leaves once its running tasks finish.",
      access::client, {{"202", reply("draining", schema_ref("Draining"))}},
      {"NotFound"});
    post["parameters"] = {param_ref("WorkerId")};
    paths["/v1/workers/{id}/drain"] = {{"post", post}};
  }
  {
    auto post = operation(
      "openWorkerSession", "http workers", "Open an HTTP worker session",
      "The session is a worker node of the dispatcher for the task types "
      "given.",
      access::worker, {{"201", reply("opened", schema_ref("Session"))}},
      {"UnsupportedMediaType", "InvalidParams", "Overloaded"});
    post["responses"]["201"]["headers"]["Location"] = header_ref("Location");
    post["requestBody"] = body(schema_ref("SessionRequest"));
    paths["/v1/workers/sessions"] = {{"post", post}};
  }
  {
    auto post = operation(
      "leaseTasks", "http workers", "Lease tasks",
      "Answers as soon as a task is there, or empty after wait_ms. An empty "
      "body is an empty object.",
      access::worker, {{"200", reply("the leased tasks", schema_ref("Leases"))}},
      {"NotFound", "UnsupportedMediaType", "InvalidParams", "Overloaded"});
    post["parameters"] = {param_ref("SessionId")};
    post["requestBody"] = body(schema_ref("LeaseRequest"), false);
    paths["/v1/workers/sessions/{session}/lease"] = {{"post", post}};
  }
  {
    auto del = operation(
      "closeWorkerSession", "http workers", "Drain an HTTP worker session",
      "No new tasks; the leases held stay valid until the worker ends them "
      "(or they expire), then it closes.",
      access::worker, {{"200", reply("draining", schema_ref("SessionClosed"))}},
      {"NotFound"});
    del["parameters"] = {param_ref("SessionId")};
    paths["/v1/workers/sessions/{session}"] = {{"delete", del}};
  }
  auto lease_op = [&](const char* id, const char* summary,
                      const char* description, const char* request,
                      bool required, json ok) {
    auto post = operation(id, "http workers", summary, description,
                          access::worker, {{"200", std::move(ok)}},
                          {"Conflict", "UnsupportedMediaType",
                           "InvalidParams"});
    post["parameters"] = {param_ref("LeaseToken")};
    post["requestBody"] = body(schema_ref(request), required);
    return post;
  };
  paths["/v1/leases/{lease}/heartbeat"] = {
    {"post",
     lease_op("heartbeatLease", "Extend a lease",
              "Extends the lease by lease_timeout_ms, and says whether the "
              "task was cancelled. A lease no longer held is 409. An empty "
              "body is an empty object.",
              "Heartbeat", false,
              reply("extended", schema_ref("HeartbeatAnswer")))}};
  paths["/v1/leases/{lease}/complete"] = {
    {"post",
     lease_op("completeLease", "End a lease with the result",
              "A lease no longer held (or a second complete) is 409.",
              "LeaseComplete", false, reply("ended", schema_ref("LeaseEnded")))}};
  paths["/v1/leases/{lease}/fail"] = {
    {"post",
     lease_op("failLease", "End a lease with an error",
              "The task runs again while attempts remain, if retryable. A "
              "lease no longer held is 409.",
              "LeaseFail", true, reply("ended", schema_ref("LeaseEnded")))}};
  paths["/v1/cluster"] = {
    {"get", operation("getCluster", "operations", "Supervision and health",
                      "Live task actors, restarts by supervisor, queue depth, "
                      "persistence backlog, database and cache state, "
                      "gateway counters, and the coordinators with their "
                      "roles and epoch. A standby coordinator answers its "
                      "role, the leadership and its gateway only.",
                      access::client,
                      {{"200", reply("the status of the active coordinator, "
                                     "or of a standby",
                                     {{"oneOf",
                                       {schema_ref("ClusterStatus"),
                                        schema_ref("StandbyClusterStatus")}}})}})}};
  paths["/health"] = {
    {"get", operation("getHealth", "operations", "Liveness",
                      "The process is alive.", access::open,
                      {{"200", reply("alive", schema_ref("Health"))}})}};
  {
    auto get = operation(
      "getReady", "operations", "Readiness",
      "The active coordinator is ready when the database is reachable and "
      "recovery has finished; a standby when the database is reachable and "
      "it reaches the active coordinator (its writes go there).",
      access::open, {{"200", reply("ready", schema_ref("Readiness"))}});
    auto not_ready = reply("not ready (the body says why), or the server is "
                           "overloaded (an error)",
                           {{"oneOf", {schema_ref("Readiness"), schema_ref("Error")}}});
    not_ready["headers"]["Retry-After"] = header_ref("RetryAfter");
    get["responses"]["503"] = std::move(not_ready);
    paths["/ready"] = {{"get", get}};
  }
  paths["/metrics"] = {
    {"get", operation("getMetrics", "operations", "Prometheus metrics",
                      "The Prometheus text exposition format, version 0.0.4.",
                      access::open,
                      {{"200", text_reply("the metrics", "text/plain")}})}};
  paths["/openapi.json"] = {
    {"get", operation("getOpenApi", "documentation", "This document",
                      "The OpenAPI document of this API, with the task types "
                      "of this server.",
                      access::client,
                      {{"200", reply("the document",
                                     {{"type", "object"},
                                      {"description", "an OpenAPI 3.1 "
                                                      "document"}})}})}};
  paths["/"] = {
    {"get", operation("getDashboard", "documentation", "The operator dashboard",
                      "The dashboard's page (it asks for the token). 404 when "
                      "the build has no dashboard.",
                      access::open,
                      {{"200", text_reply("the page", "text/html")}},
                      {"NotFound"})}};
  paths["/docs"] = {
    {"get", operation("getDocsPage", "documentation", "The API reference",
                      "The API reference page, which renders this document. "
                      "404 when the build has no dashboard.",
                      access::open,
                      {{"200", text_reply("the page", "text/html")}},
                      {"NotFound"})}};
  auto web_file = [&](const char* id, const char* summary,
                      const char* description) {
    auto get = operation(id, "documentation", summary, description,
                         access::open,
                         {{"200", text_reply("the file (its media type by "
                                             "its name)",
                                             "*/*")}},
                         {"NotFound"});
    get["parameters"] = {param_ref("WebFile")};
    return get;
  };
  paths["/assets/{file}"] = {
    {"get", web_file("getWebAsset", "A file of the dashboard",
                     "Scripts, styles and images of the pages; files named "
                     "by their content's hash may be cached for good.")}};
  paths["/docs/{file}"] = {
    {"get", web_file("getDocsAsset", "A file of the API reference",
                     "Scripts and styles of the API reference page.")}};
  {
    auto post = operation(
      "seedRunTask", "seed", "Submit a task (seed API)",
      "The original design's submit: a flat body whose task_name is the "
      "type and whose other fields are the params.",
      access::client, {{"202", reply("stored", schema_ref("SeedSubmitted"))}},
      {"UnsupportedMediaType", "InvalidParams", "Overloaded"});
    post["requestBody"] = body(schema_ref("SeedSubmission"));
    paths["/run-task"] = {{"post", post}};
  }
  {
    auto get = operation(
      "seedGetTaskOutput", "seed", "Read a task (seed API)",
      "The original design's read, with lower-case statuses.",
      access::client, {{"200", reply("the task", schema_ref("SeedTask"))}},
      {"NotFound"});
    get["parameters"] = {
      {{"name", "task_id"},
       {"in", "query"},
       {"required", true},
       {"description", "the task's id"},
       {"schema", uuid}}};
    paths["/get-task-output"] = {{"get", get}};
  }

  auto path_param = [](const char* name, const char* description,
                       json schema) -> json {
    return {{"name", name},
            {"in", "path"},
            {"required", true},
            {"description", description},
            {"schema", std::move(schema)}};
  };
  json doc{
    {"openapi", "3.1.0"},
    {"info",
     {{"title", "tasker"},
      {"version", TASKER_VERSION},
      {"description",
       "A distributed task service. The contract is docs/API.md. Bodies are "
       "JSON; times are RFC 3339 UTC with milliseconds; ids are UUIDs. HEAD "
       "is answered on every GET route, with the headers of the GET answer "
       "and no body. A path with another method gets 405 (with Allow), an "
       "unknown path 404. Every error is an Error object."}}},
    {"servers", {{{"url", "/"}, {"description", "this server"}}}},
    {"security", {{{"clientToken", json::array()}}}},
    {"tags",
     {{{"name", "tasks"}, {"description", "Submit, read, list, cancel and "
                                          "retry tasks."}},
      {{"name", "history"}, {"description", "Task history, the event "
                                            "stream and statistics."}},
      {{"name", "task types"}, {"description", "The registered task "
                                               "types."}},
      {{"name", "workers"}, {"description", "Worker nodes."}},
      {{"name", "http workers"}, {"description", "Workers that lease tasks "
                                                 "over HTTP."}},
      {{"name", "operations"}, {"description", "Probes, metrics and "
                                               "supervision."}},
      {{"name", "documentation"}, {"description", "This document and the "
                                                  "dashboard."}},
      {{"name", "seed"}, {"description", "The original design's endpoints, "
                                         "kept for its clients."}}}},
    {"paths", std::move(paths)},
    {"components",
     {{"schemas", std::move(schemas)},
      {"responses", error_responses()},
      {"parameters",
       {{"TaskId", path_param("id", "the task's id", uuid)},
        {"WorkerId", path_param("id", "the worker node's id", str)},
        {"SessionId", path_param("session", "the session of the HTTP worker",
                                 str)},
        {"LeaseToken", path_param("lease", "the lease token", str)},
        {"WebFile", path_param("file", "the file's name", str)}}},
      {"headers",
       {{"Location", {{"description", "the path of what was created"},
                      {"schema", str}}},
        {"RetryAfter", {{"description", "seconds to wait before retrying"},
                        {"schema", integer}}},
        {"WWWAuthenticate", {{"description", "the scheme to use: Bearer"},
                             {"schema", str}}}}},
      {"securitySchemes",
       {{"clientToken",
         {{"type", "http"},
          {"scheme", "bearer"},
          {"description",
           "The configured auth_token (TASKER_AUTH_TOKEN). Without one the "
           "API is open. /health, /ready, /metrics and the pages (/, /assets/*, "
           "/docs, /docs/*) never need it."}}},
        {"workerToken",
         {{"type", "http"},
          {"scheme", "bearer"},
          {"description",
           "The worker token (worker_token) or the cluster secret "
           "(cluster_secret), for the HTTP worker routes; the client token "
           "never serves for them. With neither set they need no token, "
           "unless an auth_token is set: then HTTP workers cannot "
           "connect."}}}}}}}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace tasker
