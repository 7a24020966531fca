#include "gateway/plan.hpp"

#include <nlohmann/json.hpp>

#include "common/format.hpp"

namespace tasker {

request_plan plan_request(const http_request& req, const registry& reg,
                          const credentials& creds,
                          const submit_limits& limits, millis now) {
  request_plan plan;
  auto refuse = [&](http_response res) {
    plan.refusal = std::move(res);
    return std::move(plan);
  };
  auto refuse_with = [&](const api_error& err) {
    return refuse(error_response(err.code, err.message));
  };
  if (!req.target_error.empty()) {
    plan.r.label = "other";
    return refuse(error_response(ec::bad_request, req.target_error));
  }
  // HEAD is GET without the body (RFC 9110 9.3.2).
  plan.r = match_route(req.method == "HEAD" ? "GET" : req.method, req.path);
  auto& r = plan.r;
  if (!authorized(req.method, req.path, req.authorization, creds))
    return refuse(error_response(ec::unauthorized,
                                 refusal_message(req.method, req.path)));
  switch (r.kind) {
    case route_kind::not_found:
      return refuse(error_response(ec::not_found, "no such path: " + req.path));
    case route_kind::method_not_allowed: {
      auto res = error_response(ec::method_not_allowed,
                                req.method + " is not allowed on " + req.path
                                  + " (allowed: " + r.allow + ")");
      res.headers.emplace_back("Allow", r.allow);
      return refuse(std::move(res));
    }
    case route_kind::submit:
    case route_kind::batch:
    case route_kind::run_task: {
      if (auto err = check_json_body(req))
        return refuse_with(*err);
      nlohmann::json body;
      if (auto err = parse_body(req.body, body))
        return refuse_with(*err);
      std::optional<api_error> err;
      if (r.kind == route_kind::batch) {
        err = parse_batch(body, reg, limits, now, plan.group);
      } else {
        task_record rec;
        err = r.kind == route_kind::submit
                ? parse_submission(body, reg, limits, req.idempotency_key, {},
                                   now, rec)
                : parse_seed_submission(body, reg, limits, now, rec);
        plan.group.push_back(std::move(rec));
      }
      if (err)
        return refuse_with(*err);
      return plan;
    }
    case route_kind::get_task:
    case route_kind::task_events:
    case route_kind::cancel:
    case route_kind::retry:
      if (auto err = check_id(r.id))
        return refuse_with(*err);
      if (r.kind == route_kind::get_task)
        if (auto err = parse_wait_ms(req, plan.wait_ms))
          return refuse_with(*err);
      plan.task_id = lower(r.id);
      return plan;
    case route_kind::get_task_output: {
      auto id = req.param("task_id");
      if (id == nullptr)
        return refuse(error_response(ec::bad_request,
                                     "query parameter task_id is required"));
      if (auto err = check_id(*id))
        return refuse_with(*err);
      plan.task_id = lower(*id);
      return plan;
    }
    case route_kind::open_session:
    case route_kind::lease:
    case route_kind::lease_heartbeat:
    case route_kind::lease_complete:
    case route_kind::lease_fail: {
      // (An empty body is an empty object: a worker may send none.)
      auto body = nlohmann::json::object();
      if (!req.body.empty()) {
        if (auto err = check_json_body(req))
          return refuse_with(*err);
        if (auto err = parse_body(req.body, body))
          return refuse_with(*err);
      }
      std::optional<api_error> err;
      if (r.kind == route_kind::open_session)
        err = parse_worker_session(body, reg, plan.worker);
      else if (r.kind == route_kind::lease)
        err = parse_lease_request(body, plan.max_tasks, plan.wait_ms);
      else if (r.kind == route_kind::lease_heartbeat)
        err = parse_heartbeat(body, plan.progress);
      else
        err = parse_lease_outcome(body, r.kind == route_kind::lease_complete,
                                  plan.outcome);
      if (err)
        return refuse_with(*err);
      return plan;
    }
    case route_kind::list_tasks:
      if (auto err = parse_list_query(req, plan.query))
        return refuse_with(*err);
      return plan;
    case route_kind::stats:
      if (auto err = parse_stats_query(req, plan.stats_window_ms,
                                       plan.stats_bucket_ms))
        return refuse_with(*err);
      return plan;
    case route_kind::activity:
      if (auto err = parse_activity_query(req, plan.stats_window_ms))
        return refuse_with(*err);
      return plan;
    case route_kind::event_stream:
      if (auto err = parse_event_query(req, plan.events, plan.events_from))
        return refuse_with(*err);
      return plan;
    default:
      // Served from the gateway's state, or asked without checked arguments.
      return plan;
  }
}

} // namespace tasker
