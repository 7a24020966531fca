// Tests of the route table: every route, 405 with Allow, 404.
#define CAF_SUITE gateway.routes

#include "gateway/routes.hpp"

#include "tests/fixture.hpp"

using namespace tasker;
using namespace tasker::testing;

namespace {

std::string show(route_kind x) {
  // One case per kind, named after it; -Wswitch reports a kind left out.
#define TASKER_ROUTE_CASE(name)                                                \
  case route_kind::name:                                                       \
    return #name;
  switch (x) {
    TASKER_ROUTE_CASE(submit)
    TASKER_ROUTE_CASE(batch)
    TASKER_ROUTE_CASE(get_task)
    TASKER_ROUTE_CASE(list_tasks)
    TASKER_ROUTE_CASE(cancel)
    TASKER_ROUTE_CASE(retry)
    TASKER_ROUTE_CASE(task_types)
    TASKER_ROUTE_CASE(workers)
    TASKER_ROUTE_CASE(drain)
    TASKER_ROUTE_CASE(cluster)
    TASKER_ROUTE_CASE(crash)
    TASKER_ROUTE_CASE(health)
    TASKER_ROUTE_CASE(ready)
    TASKER_ROUTE_CASE(metrics)
    TASKER_ROUTE_CASE(openapi)
    TASKER_ROUTE_CASE(dashboard)
    TASKER_ROUTE_CASE(run_task)
    TASKER_ROUTE_CASE(get_task_output)
    TASKER_ROUTE_CASE(task_events)
    TASKER_ROUTE_CASE(event_stream)
    TASKER_ROUTE_CASE(stats)
    TASKER_ROUTE_CASE(activity)
    TASKER_ROUTE_CASE(web_asset)
    TASKER_ROUTE_CASE(docs_page)
    TASKER_ROUTE_CASE(docs_asset)
    TASKER_ROUTE_CASE(open_session)
    TASKER_ROUTE_CASE(lease)
    TASKER_ROUTE_CASE(close_session)
    TASKER_ROUTE_CASE(lease_heartbeat)
    TASKER_ROUTE_CASE(lease_complete)
    TASKER_ROUTE_CASE(lease_fail)
    TASKER_ROUTE_CASE(not_found)
    TASKER_ROUTE_CASE(method_not_allowed)
  }
#undef TASKER_ROUTE_CASE
  return "?";
}

} // namespace

CAF_TEST(match_route finds every route) {
  struct row {
    const char* method;
    std::string path;
    route_kind kind;
    std::string id;
    std::string label;
  };
  std::vector<row> rows{
    {"GET", "/", route_kind::dashboard, "", "/"},
    {"GET", "/health", route_kind::health, "", "/health"},
    {"GET", "/ready", route_kind::ready, "", "/ready"},
    {"GET", "/metrics", route_kind::metrics, "", "/metrics"},
    {"GET", "/openapi.json", route_kind::openapi, "", "/openapi.json"},
    {"POST", "/run-task", route_kind::run_task, "", "/run-task"},
    {"GET", "/get-task-output", route_kind::get_task_output, "",
     "/get-task-output"},
    {"POST", "/v1/tasks", route_kind::submit, "", "/v1/tasks"},
    {"POST", "/v1/tasks/", route_kind::submit, "", "/v1/tasks"},
    {"GET", "/v1/tasks", route_kind::list_tasks, "", "/v1/tasks"},
    {"POST", "/v1/tasks/batch", route_kind::batch, "", "/v1/tasks/batch"},
    {"GET", "/v1/tasks/" + uuid, route_kind::get_task, uuid, "/v1/tasks/{id}"},
    {"POST", "/v1/tasks/" + uuid + "/cancel", route_kind::cancel, uuid,
     "/v1/tasks/{id}/cancel"},
    {"GET", "/v1/tasks/" + uuid + "/events", route_kind::task_events, uuid,
     "/v1/tasks/{id}/events"},
    {"POST", "/v1/tasks/" + uuid + "/retry", route_kind::retry, uuid,
     "/v1/tasks/{id}/retry"},
    {"GET", "/v1/task-types", route_kind::task_types, "", "/v1/task-types"},
    {"GET", "/v1/events", route_kind::event_stream, "", "/v1/events"},
    {"GET", "/v1/stats", route_kind::stats, "", "/v1/stats"},
    {"GET", "/v1/activity", route_kind::activity, "", "/v1/activity"},
    {"GET", "/assets/index-3f2a.js", route_kind::web_asset, "index-3f2a.js",
     "/assets/{id}"},
    {"GET", "/docs", route_kind::docs_page, "", "/docs"},
    {"GET", "/docs/", route_kind::docs_page, "", "/docs"},
    {"GET", "/docs/swagger-ui.css", route_kind::docs_asset, "swagger-ui.css",
     "/docs/{id}"},
    {"GET", "/v1/workers", route_kind::workers, "", "/v1/workers"},
    {"POST", "/v1/workers/node-2/drain", route_kind::drain, "node-2",
     "/v1/workers/{id}/drain"},
    {"GET", "/v1/cluster", route_kind::cluster, "", "/v1/cluster"},
    {"POST", "/v1/debug/crash/dispatcher", route_kind::crash, "dispatcher",
     "/v1/debug/crash/{actor}"},
  };
  for (auto& x : rows) {
    CAF_MESSAGE(x.method << " " << x.path);
    auto r = match_route(x.method, x.path);
    CAF_CHECK_EQUAL(show(r.kind), show(x.kind));
    CAF_CHECK_EQUAL(r.id, x.id);
    CAF_CHECK_EQUAL(r.label, x.label);
    CAF_CHECK_EQUAL(r.allow, "");
  }
}

CAF_TEST(a known path with a wrong method is 405 with Allow) {
  struct row {
    const char* method;
    std::string path;
    std::string allow;
    std::string label;
  };
  std::vector<row> rows{
    {"POST", "/", "GET", "/"},
    {"POST", "/health", "GET", "/health"},
    {"DELETE", "/ready", "GET", "/ready"},
    {"POST", "/metrics", "GET", "/metrics"},
    {"PUT", "/openapi.json", "GET", "/openapi.json"},
    {"GET", "/run-task", "POST", "/run-task"},
    {"POST", "/get-task-output", "GET", "/get-task-output"},
    {"DELETE", "/v1/tasks", "GET, POST", "/v1/tasks"},
    {"PUT", "/v1/tasks", "GET, POST", "/v1/tasks"},
    {"GET", "/v1/tasks/batch", "POST", "/v1/tasks/batch"},
    {"DELETE", "/v1/tasks/" + uuid, "GET", "/v1/tasks/{id}"},
    {"GET", "/v1/tasks/" + uuid + "/cancel", "POST", "/v1/tasks/{id}/cancel"},
    {"GET", "/v1/tasks/" + uuid + "/retry", "POST", "/v1/tasks/{id}/retry"},
    {"POST", "/v1/task-types", "GET", "/v1/task-types"},
    {"POST", "/v1/workers", "GET", "/v1/workers"},
    {"GET", "/v1/workers/n/drain", "POST", "/v1/workers/{id}/drain"},
    {"POST", "/v1/cluster", "GET", "/v1/cluster"},
    {"GET", "/v1/debug/crash/gateway", "POST", "/v1/debug/crash/{actor}"},
  };
  for (auto& x : rows) {
    CAF_MESSAGE(x.method << " " << x.path);
    auto r = match_route(x.method, x.path);
    CAF_CHECK_EQUAL(show(r.kind), "method_not_allowed");
    CAF_CHECK_EQUAL(r.allow, x.allow);
    CAF_CHECK_EQUAL(r.label, x.label);
  }
}

CAF_TEST(unknown paths are 404) {
  for (auto path : {"/nope", "/v1", "/v2/tasks", "/v1/tasks/a/b/c",
                    "/v1/tasks/a/delete", "/v1/workers/a", "/v1/cluster/a",
                    "/health/x", "/v1/task-types/sum", "/v1/debug",
                    "/v1/debug/crash", "/v1/debug/other/x"}) {
    CAF_MESSAGE("GET " << path);
    auto r = match_route("GET", path);
    CAF_CHECK_EQUAL(show(r.kind), "not_found");
    CAF_CHECK_EQUAL(r.label, "other");
    CAF_CHECK_EQUAL(show(match_route("POST", path).kind), "not_found");
  }
}
