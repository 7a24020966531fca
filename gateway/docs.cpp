// The OpenAPI document and the operator dashboard.
#include "gateway/docs.hpp"

#include <nlohmann/json.hpp>

namespace tasker {

namespace {

using nlohmann::json;

json ref(const std::string& name) {
  return {{"$ref", "#/components/schemas/" + name}};
}

json json_content(json schema) {
  return {{"application/json", {{"schema", std::move(schema)}}}};
}

json reply(const char* description, json schema) {
  return {{"description", description}, {"content", json_content(std::move(schema))}};
}

json with_errors(json ok, std::initializer_list<const char*> codes) {
  for (auto c : codes)
    ok[c] = reply("error", ref("Error"));
  return ok;
}

json id_param() {
  return {{"name", "id"}, {"in", "path"}, {"required", true},
          {"schema", {{"type", "string"}, {"format", "uuid"}}}};
}

} // namespace

std::string openapi_json(const registry& reg) {
  json str{{"type", "string"}}, integer{{"type", "integer"}};
  json nstr{{"type", {"string", "null"}}};
  json time{{"type", {"string", "null"}}, {"format", "date-time"}};
  auto tasks_of = [](const char* name) -> json {
    return {{"type", "object"},
            {"properties", {{"tasks", {{"type", "array"}, {"items", ref(name)}}}}}};
  };
  json task{
    {"type", "object"},
    {"properties",
     {{"id", {{"type", "string"}, {"format", "uuid"}}},
      {"type", str},
      {"status",
       {{"type", "string"},
        {"enum", {"PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"}}}},
      {"params", {{"type", "object"}}}, {"result", json::object()},
      {"error", nstr}, {"progress", json::object()},
      {"priority", integer}, {"attempts", integer},
      {"max_attempts", integer}, {"timeout_ms", integer},
      {"idempotency_key", nstr}, {"worker_id", nstr}, {"callback_url", nstr},
      {"created_at", time}, {"updated_at", time}, {"scheduled_at", time},
      {"started_at", time}, {"completed_at", time}}}};
  json one_of = json::array();
  for (auto& t : reg.describe())
    one_of.push_back({{"type", "object"},
                      {"required", {"type", "params"}},
                      {"properties",
                       {{"type", {{"const", t["type"]}}},
                        {"params", t["params_schema"]}}}});
  json submission{
    {"type", "object"},
    {"required", {"type", "params"}},
    {"properties",
     {{"type", str},
      {"params", {{"type", "object"}}},
      {"priority", {{"type", "integer"}, {"minimum", 0}, {"maximum", 9}}},
      {"max_attempts", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}},
      {"timeout_ms", {{"type", "integer"}, {"minimum", 1}, {"maximum", 86400000}}},
      {"delay_ms", {{"type", "integer"}, {"minimum", 0}}},
      {"run_at", {{"type", "string"}, {"format", "date-time"}}},
      {"idempotency_key", {{"type", "string"}, {"maxLength", 255}}},
      {"callback_url", {{"type", "string"}, {"format", "uri"}, {"maxLength", 2048}}}}},
    {"allOf", {{{"oneOf", one_of}}}}};
  json error{{"type", "object"},
             {"properties",
              {{"error", {{"type", "object"}, {"properties", {{"code", str}, {"message", str}}}}}}}};
  json nint{{"type", {"integer", "null"}}};
  json event{
    {"type", "object"},
    {"properties",
     {{"id", {{"type", "string"}, {"description", "position in the event stream"}}},
      {"task_id", {{"type", "string"}, {"format", "uuid"}}},
      {"seq", integer},
      {"kind",
       {{"type", "string"},
        {"enum", {"submitted", "started", "retry_scheduled", "completed", "failed",
                  "cancelled", "retried"}}}},
      {"type", str}, {"status", task["properties"]["status"]},
      {"attempt", integer}, {"worker_id", nstr}, {"error", nstr},
      {"at", time}, {"scheduled_at", time}, {"started_at", time},
      {"duration_ms", nint}, {"wait_ms", nint}}}};
  json history{
    {"type", "object"},
    {"properties",
     {{"task_id", {{"type", "string"}, {"format", "uuid"}}},
      {"events", {{"type", "array"}, {"items", ref("TaskEvent")}}},
      {"more", {{"type", "boolean"}}},
      {"callbacks",
       {{"type", "array"},
        {"items",
         {{"type", "object"},
          {"properties",
           {{"seq", integer}, {"url", str},
            {"state", {{"type", "string"}, {"enum", {"pending", "delivered", "failed"}}}},
            {"attempts", integer}, {"next_at", time}, {"last_status", nint},
            {"last_error", nstr}, {"delivered_at", time}}}}}}}}}};
  auto page = tasks_of("Task");
  page["properties"]["next_cursor"] = nstr;
  json doc{
    {"openapi", "3.1.0"},
    {"info", {{"title", "tasker"}, {"version", "1"}}},
    {"components",
     {{"schemas",
       {{"Task", task}, {"TaskEvent", event}, {"Submission", submission},
        {"Error", error}}}}},
    {"paths",
     {{"/v1/tasks",
       {{"post",
         {{"summary", "Submit one task"},
          {"requestBody", {{"required", true}, {"content", json_content(ref("Submission"))}}},
          {"responses",
           with_errors({{"202", reply("stored", ref("Task"))},
                        {"200", reply("idempotent repeat", ref("Task"))}},
                       {"400", "409", "413", "415", "422", "429", "503"})}}},
        {"get",
         {{"summary", "List tasks, newest first"},
          {"parameters",
           {{{"name", "status"}, {"in", "query"}, {"schema", str}},
            {{"name", "type"}, {"in", "query"}, {"schema", str}},
            {{"name", "limit"}, {"in", "query"},
             {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}}},
            {{"name", "cursor"}, {"in", "query"}, {"schema", str}},
            {{"name", "params"}, {"in", "query"}, {"schema", str},
             {"description", "a JSON object the params must contain"}}}},
          {"responses",
           with_errors({{"200", reply("a page", page)}}, {"400"})}}}}},
      {"/v1/tasks/batch",
       {{"post",
         {{"summary", "Submit up to 1000 tasks, all or none"},
          {"requestBody",
           {{"required", true}, {"content", json_content(tasks_of("Submission"))}}},
          {"responses",
           with_errors({{"202", reply("stored", tasks_of("Task"))}},
                       {"400", "409", "413", "415", "422", "503"})}}}}},
      {"/v1/tasks/{id}",
       {{"get",
         {{"summary", "Read a task, optionally waiting for a terminal state"},
          {"parameters",
           {id_param(),
            {{"name", "wait_ms"}, {"in", "query"},
             {"schema", {{"type", "integer"}, {"minimum", 0}, {"maximum", 60000}}}}}},
          {"responses", with_errors({{"200", reply("the task", ref("Task"))}},
                                    {"400", "404"})}}}}},
      {"/v1/tasks/{id}/events",
       {{"get",
         {{"summary", "A task's history: its first 1000 transitions, in order"},
          {"parameters", {id_param()}},
          {"responses", with_errors({{"200", reply("the history", history)}},
                                    {"400", "404", "503"})}}}}},
      {"/v1/stats",
       {{"get",
         {{"summary", "Per task type and time bucket: counts, run time and "
                      "queue wait percentiles"},
          {"parameters",
           {{{"name", "window"}, {"in", "query"}, {"schema", str}},
            {{"name", "bucket"}, {"in", "query"}, {"schema", str}}}},
          {"responses",
           with_errors({{"200", {{"description", "the buckets"}}}},
                       {"400", "503"})}}}}},
      {"/v1/events",
       {{"get",
         {{"summary", "Every transition of every task, as Server-Sent Events "
                      "(each event's data is a TaskEvent)"},
          {"parameters",
           {{{"name", "type"}, {"in", "query"}, {"schema", str}},
            {{"name", "status"}, {"in", "query"}, {"schema", str}},
            {{"name", "kind"}, {"in", "query"}, {"schema", str}},
            {{"name", "last_event_id"}, {"in", "query"}, {"schema", str}},
            {{"name", "Last-Event-ID"}, {"in", "header"}, {"schema", str}}}},
          {"responses",
           with_errors({{"200", {{"description", "the stream"},
                                 {"content",
                                  {{"text/event-stream", {{"schema", str}}}}}}}},
                       {"400", "503"})}}}}},
      {"/v1/tasks/{id}/cancel",
       {{"post",
         {{"summary", "Cancel a task that is not terminal"},
          {"parameters", {id_param()}},
          {"responses", with_errors({{"200", reply("cancelled", ref("Task"))}},
                                    {"400", "404", "409"})}}}}},
      {"/v1/tasks/{id}/retry",
       {{"post",
         {{"summary", "Run a FAILED or CANCELLED task again"},
          {"parameters", {id_param()}},
          {"responses", with_errors({{"202", reply("queued", ref("Task"))}},
                                    {"400", "404", "409"})}}}}},
      {"/v1/task-types",
       {{"get", {{"summary", "Registered task types with their params schemas"},
                 {"responses", {{"200", {{"description", "task types"}}}}}}}}},
      {"/v1/workers",
       {{"get", {{"summary", "Worker nodes"},
                 {"responses", {{"200", {{"description", "worker nodes"}}}}}}}}},
      {"/v1/workers/{id}/drain",
       {{"post", {{"summary", "Drain a worker node"},
                  {"parameters", {id_param()}},
                  {"responses", with_errors({{"202", {{"description", "draining"}}}},
                                            {"404"})}}}}},
      {"/v1/cluster",
       {{"get", {{"summary", "Supervision and health"},
                 {"responses", {{"200", {{"description", "cluster status"}}}}}}}}},
      {"/health", {{"get", {{"responses", {{"200", {{"description", "alive"}}}}}}}}},
      {"/ready",
       {{"get", {{"responses", {{"200", {{"description", "ready"}}},
                                {"503", {{"description", "not ready"}}}}}}}}},
      {"/metrics",
       {{"get", {{"responses", {{"200", {{"description", "Prometheus text"}}}}}}}}},
      {"/run-task",
       {{"post", {{"summary", "Seed API: submit with a flat body"},
                  {"responses", {{"202", {{"description", "{task_id}"}}}}}}}}},
      {"/get-task-output",
       {{"get", {{"summary", "Seed API: read a task"},
                 {"responses", {{"200", {{"description", "the task"}}}}}}}}}}}};
  return doc.dump();
}

const std::string& dashboard_html() {
  static const std::string page = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tasker</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:1.5em}
table{border-collapse:collapse} td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}
.s-COMPLETED{color:#070} .s-FAILED{color:#b00} .s-CANCELLED{color:#777} .s-PROCESSING{color:#05a}
pre{background:#f6f6f6;padding:8px}
</style></head><body>
<h1>tasker</h1>
<div id="ready"></div>
<p>API token (when auth is on): <input id="tok" type="password" size="24"> <button onclick="setTok()">use</button></p>
<h2>Cluster</h2><pre id="cluster"></pre>
<h2>Worker nodes</h2><table id="workers"></table>
<h2>Recent tasks</h2><table id="tasks"></table>
<script>
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))}
function tok(){return localStorage.getItem('tasker_token')||''}
function setTok(){localStorage.setItem('tasker_token',document.getElementById('tok').value);refresh()}
async function j(u){const t=tok();const r=await fetch(u,{headers:t?{Authorization:'Bearer '+t}:{}});return [r.status,await r.json().catch(()=>null)]}
async function refresh(){
  const [rs]=await j('/ready'); document.getElementById('ready').textContent=rs==200?'ready':'not ready';
  const [,c]=await j('/v1/cluster'); document.getElementById('cluster').textContent=JSON.stringify(c,null,2);
  const [,w]=await j('/v1/workers');
  document.getElementById('workers').innerHTML='<tr><th>id</th><th>status</th><th>slots</th><th>busy</th><th>completed</th><th>failed</th></tr>'+
    (w&&w.workers||[]).map(n=>`<tr><td>${esc(n.id)}</td><td>${esc(n.status)}</td><td>${n.slots}</td><td>${n.busy}</td><td>${n.completed}</td><td>${n.failed}</td></tr>`).join('');
  const [,t]=await j('/v1/tasks?limit=20');
  document.getElementById('tasks').innerHTML='<tr><th>id</th><th>type</th><th>status</th><th>attempts</th><th>created</th></tr>'+
    (t&&t.tasks||[]).map(x=>`<tr><td>${esc(x.id)}</td><td>${esc(x.type)}</td><td class="s-${esc(x.status)}">${esc(x.status)}</td><td>${x.attempts}/${x.max_attempts}</td><td>${esc(x.created_at)}</td></tr>`).join('');
}
refresh(); setInterval(refresh,2000);
</script></body></html>
)html";
  return page;
}

} // namespace tasker
