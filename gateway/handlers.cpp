#include "gateway/gateway_internal.hpp"

#include "common/format.hpp"
#include "common/log.hpp"
#include "gateway/docs.hpp"
#include "gateway/encoding.hpp"
#include "gateway/plan.hpp"
#include "gateway/web_assets.hpp"

namespace tasker::gateway_detail {

namespace {

/// The most events `GET /v1/tasks/{id}/events` answers with.
constexpr size_t max_history_events = 1000;

/// A place among the queries waiting for the reader (one database
/// connection, one query at a time: a flood of lists would queue there for
/// every other client, and be answered to clients long gone). Past the
/// bound the request is answered 503 at once and null returned. The place
/// is given back when the last copy of the handle goes, answered or not.
std::shared_ptr<void> reader_slot(gateway_broker* self, const ticket& t) {
  auto& st = self->state;
  auto counter = st.lists_in_flight;
  if (*counter >= st.cfg.max_lists_in_flight) {
    ++st.list_refusals;
    complete(self, t,
             error_response(ec::unavailable,
                            "too many list requests at once; retry later"));
    return nullptr;
  }
  ++*counter;
  return std::shared_ptr<void>{counter.get(), [counter](void*) { --*counter; }};
}

/// A built-in file of the dashboard or the API reference, or 404. Pages say
/// where scripts, styles and requests may come from: only here.
http_response web_response(std::string_view path) {
  auto f = find_web_file(path);
  if (f == nullptr)
    return error_response(ec::not_found,
                          "no such path: " + std::string{path}
                            + (web_file_count == 0
                                 ? " (this build has no dashboard)"
                                 : ""));
  http_response res{200, std::string{f->body}, std::string{f->content_type}, {}};
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (f->immutable) {
    res.headers.emplace_back("Cache-Control",
                             "public, max-age=31536000, immutable");
  } else {
    res.headers.emplace_back("Cache-Control", "no-cache");
  }
  if (f->content_type.rfind("text/html", 0) == 0) {
    res.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'self'; img-src 'self' data:; style-src 'self' "
      "'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri "
      "'none'; form-action 'self'; frame-ancestors 'none'");
    res.headers.emplace_back("X-Frame-Options", "DENY");
    res.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  return res;
}

/// `GET /v1/activity`: the coordinator's last hour from memory, as columns
/// (one entry per 10 s slot) for charts.
nlohmann::json activity_json(const activity::window_view& w, int64_t window_ms) {
  using nlohmann::json;
  auto ms = [](double v) { return v < 0 ? json() : json(v); };
  json at = json::array(), submitted = json::array(), completed = json::array(),
       failed = json::array(), cancelled = json::array(), queue = json::array(),
       in_flight = json::array(), live = json::array(), backlog = json::array(),
       p50 = json::array(), p95 = json::array(), p99 = json::array();
  for (auto& s : w.slots) {
    at.push_back(format_time(s.start_ms));
    submitted.push_back(s.submitted);
    completed.push_back(s.completed);
    failed.push_back(s.failed);
    cancelled.push_back(s.cancelled);
    auto g = [&s](activity::gauge x) { return s.gauges[static_cast<size_t>(x)]; };
    queue.push_back(g(activity::gauge::queue_depth));
    in_flight.push_back(g(activity::gauge::in_flight));
    live.push_back(g(activity::gauge::live_tasks));
    backlog.push_back(g(activity::gauge::backlog));
    p50.push_back(ms(s.p50_ms));
    p95.push_back(ms(s.p95_ms));
    p99.push_back(ms(s.p99_ms));
  }
  return {{"window_ms", window_ms},
          {"slot_ms", activity::slot_ms},
          {"latency_ms",
           {{"finished", w.finished}, {"p50", ms(w.p50_ms)},
            {"p95", ms(w.p95_ms)}, {"p99", ms(w.p99_ms)}}},
          {"slots",
           {{"at", at}, {"submitted", submitted}, {"completed", completed},
            {"failed", failed}, {"cancelled", cancelled},
            {"queue_depth", queue}, {"in_flight", in_flight},
            {"live_task_actors", live}, {"persistence_backlog", backlog},
            {"latency_p50_ms", p50}, {"latency_p95_ms", p95},
            {"latency_p99_ms", p99}}}};
}

http_response from_error(const caf::error& err) {
  return error_response(code_of(err), message_of(err));
}

/// Sends a request to an actor and completes the ticket with the mapped
/// answer; errors become API errors.
template <class Result, class Handle, class F, class... Ts>
void ask(gateway_broker* self, const ticket& t, const Handle& dest,
         caf::timespan timeout, F on_value, Ts&&... xs) {
  // The gateway keeps its own deadlines (one sweep instead of a clock entry
  // per request); the actors it asks are local and always answer.
  self->state.http->expect_by(t, std::chrono::steady_clock::now() + timeout);
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
    .then(
      [self, t, on_value](Result& val) mutable {
        complete(self, t, on_value(val));
      },
      [self, t](caf::error& err) { complete(self, t, from_error(err)); });
}

const char* cache_state_name(const telemetry& tel) {
  switch (tel.state.cache.load()) {
    case cache_state::off:
      return "off";
    case cache_state::up:
      return "up";
    case cache_state::down:
      break;
  }
  return "down";
}

/// The Redis status cache in /v1/cluster.
nlohmann::json cache_json(const gateway_deps& deps) {
  nlohmann::json js{{"state", cache_state_name(*deps.tel)}};
  if (!deps.cache)
    return js;
  auto c = deps.tel->stats.cache_totals();
  js["key_prefix"] = deps.cache->prefix();
  js["ttl_s"] = deps.cache->settings().ttl_s;
  js["hits"] = c.hits;
  js["misses"] = c.misses;
  js["read_errors"] = c.read_errors;
  js["corrupt"] = c.corrupt;
  js["inconsistent"] = c.inconsistent;
  js["writes"] = c.writes;
  js["write_errors"] = c.write_errors;
  js["write_failures"] = c.write_failures;
  js["db_fallbacks"] = c.db_fallbacks;
  return js;
}

/// A supervisor's restarts in /v1/cluster: how many, when and why the last.
nlohmann::json restarts_json(const restart_record& r, uint64_t restarts) {
  return {{"restarts", restarts},
          {"last_restart_at",
           r.last_at == 0 ? nlohmann::json() : nlohmann::json(format_time(r.last_at))},
          {"last_restart_reason",
           r.last_reason.empty() ? nlohmann::json() : nlohmann::json(r.last_reason)}};
}

/// The supervision tree of docs/ARCHITECTURE.md with what each part
/// reports: a node is {name, role, children}, and a supervisor's has its
/// restarts.
nlohmann::json supervision_tree(const gateway_state& st,
                                const manager_status& manager,
                                const dispatcher_status& disp,
                                const persistence_status& pers,
                                const nlohmann::json& supervisors) {
  using nlohmann::json;
  auto node = [](const char* name, const char* role, json detail = json::object(),
                 json children = json::array()) {
    json n{{"name", name}, {"role", role}, {"children", std::move(children)}};
    n.update(detail);
    return n;
  };
  auto supervised = [&](const char* name, json child) {
    return node(name, "supervisor", supervisors.at(name),
                json::array({std::move(child)}));
  };
  auto& ts = supervisors.at("task_manager");
  json task_actors = node("task actors", "task actors",
                          {{"count", manager.live_task_actors},
                           {"restarts", manager.restarts},
                           {"last_restart_at", ts["last_restart_at"]},
                           {"last_restart_reason", ts["last_restart_reason"]}});
  json children = json::array({
    node("writers", "database writers", {{"count", pers.writers}}),
    supervised("persistence",
               node("batcher", "actor",
                    {{"backlog_rows", pers.backlog_rows},
                     {"last_batch_rows", pers.last_batch_rows}})),
    supervised("dispatcher",
               node("dispatcher", "actor",
                    {{"generation", disp.generation},
                     {"queue_depth", disp.queue_depth},
                     {"in_flight", disp.in_flight}},
                    json::array({node("worker nodes", "monitored",
                                      {{"count", disp.nodes}})}))),
    node("task_manager", "restarts its task actors from the database",
         {{"spawned", manager.spawned}, {"finished", manager.finished}},
         json::array({task_actors})),
    supervised("gateway",
               node("gateway", "broker",
                    {{"connections", st.http->counters().connections},
                     {"event_streams", st.streams->size()}})),
  });
  return node("coordinator", "root", json::object(), std::move(children));
}

/// Leadership as this process knows it, for /v1/cluster.
nlohmann::json leadership_json(const leadership_view& view) {
  auto s = view.read();
  auto time_or_null = [](int64_t ms) {
    return ms > 0 ? nlohmann::json(format_time(ms)) : nlohmann::json();
  };
  auto coordinators = nlohmann::json::array();
  for (auto& c : s.coordinators)
    coordinators.push_back(
      {{"id", c.id},
       {"name", c.name},
       {"role", c.role},
       {"alive", c.alive},
       {"epoch", c.epoch},
       {"http_address", c.http_address},
       {"cluster_address", c.cluster_address},
       {"version", c.version},
       {"started_at", time_or_null(c.started_at)},
       {"last_renewal", time_or_null(c.renewed_at)},
       {"self", c.id == s.self_id}});
  nlohmann::json active;
  if (!s.active_id.empty())
    active = {{"id", s.active_id},
              {"name", s.active_name},
              {"http_address", s.active_http},
              {"cluster_address", s.active_cluster},
              {"last_renewal", time_or_null(s.leader_renewed_at)}};
  return {{"role", s.self_role == leadership_view::role::active ? "active"
                                                                 : "standby"},
          {"epoch", s.epoch},
          {"coordinator", {{"id", s.self_id}, {"name", s.self_name}}},
          {"lease_ms", s.lease_ms},
          {"active", active},
          {"changed_at", time_or_null(s.changed_at)},
          {"takeovers", s.takeovers},
          {"stepdowns", s.stepdowns},
          {"coordinators", coordinators}};
}

/// Whether this gateway belongs to a standby coordinator.
bool standing_by(const gateway_deps& deps) {
  return deps.standby && deps.leader;
}

/// A standby's /ready: ready while its database is up and it reaches the
/// active coordinator (its writes go there).
http_response standby_ready(const gateway_deps& deps) {
  auto s = deps.leader->read();
  bool db = deps.tel->state.db_up;
  bool ready = db && !s.active_id.empty() && deps.leader->forwarding();
  nlohmann::json js{{"ready", ready},
                    {"role", "standby"},
                    {"epoch", s.epoch},
                    {"database", db ? "up" : "down"},
                    {"cache", "off"},
                    {"recovery", "done"},
                    {"active", s.active_id.empty()
                                 ? nlohmann::json()
                                 : nlohmann::json(s.active_name)},
                    {"forwarding", deps.leader->forwarding()}};
  auto res = json_response(ready ? 200 : 503, js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!ready)
    res.headers.emplace_back("Retry-After", "1");
  return res;
}

void cluster_status(gateway_broker* self, const ticket& t) {
  auto timeout = std::chrono::seconds(5);
  if (standing_by(self->state.deps)) {
    // A standby has no task manager, dispatcher or persistence of its own:
    // the active coordinator's /v1/cluster shows those.
    auto& st = self->state;
    bool db = st.deps.tel->state.db_up;
    auto lead = leadership_json(*st.deps.leader);
    nlohmann::json js{{"ready", db && !lead["active"].is_null()
                                  && st.deps.leader->forwarding()},
                      {"role", "standby"},
                      {"forwarding", st.deps.leader->forwarding()},
                      {"epoch", lead["epoch"]},
                      {"database", db ? "up" : "down"},
                      {"leadership", lead},
                      {"gateway",
                       {{"connections", st.http->counters().connections},
                        {"requests", st.http->counters().requests},
                        {"event_streams", st.streams->size()}}}};
    complete(self, t, json_response(200, js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    return;
  }
  auto fail = [self, t](caf::error& err) { complete(self, t, from_error(err)); };
  self->request(self->state.deps.manager, timeout, status_atom_v).then(
    [self, t, timeout, fail](manager_status& manager) {
      self->request(self->state.deps.dispatcher, timeout, status_atom_v).then(
        [self, t, timeout, fail, manager](dispatcher_status& disp) {
          auto& deps = self->state.deps;
          self->request(deps.persistence, timeout, status_atom_v).then(
            [self, t, manager, disp](persistence_status& pers) {
              auto& st = self->state;
              auto& ts = st.deps.tel->state;
              auto http = st.http->counters();
              auto& sv = st.deps.tel->supervision;
              auto restarts = [&sv](const char* name) {
                auto r = sv.of(name);
                return restarts_json(r, r.restarts);
              };
              nlohmann::json supervisors{
                {"task_manager",
                 restarts_json(sv.of("task_actors"), manager.restarts)},
                {"gateway", restarts("gateway")},
                {"persistence", restarts("persistence")},
                {"dispatcher", restarts("dispatcher")}};
              nlohmann::json js{
                {"ready", ts.db_up && ts.recovered},
                {"role", "active"},
                {"epoch", st.deps.leader ? st.deps.leader->epoch() : 0},
                {"database", ts.db_up ? "up" : "down"},
                {"cache", cache_json(st.deps)},
                {"task_manager", status_json(manager)},
                {"dispatcher", status_json(disp)},
                {"persistence", status_json(pers)},
                {"cluster_port", st.deps.cluster_port
                                   ? status_json(st.deps.cluster_port())
                                   : nlohmann::json()},
                {"supervisors", supervisors},
                {"supervision_tree",
                 supervision_tree(st, manager, disp, pers, supervisors)},
                {"gateway",
                 {{"connections", http.connections},
                  {"requests", http.requests},
                  {"refused_connections", http.refused_connections},
                  {"timed_out_requests", http.timed_out_requests},
                  {"idle_closed", http.idle_closed},
                  {"unread_closed", http.unread_closed},
                  {"held_request_bytes", http.held_request_bytes},
                  {"held_response_bytes", http.held_response_bytes},
                  {"lists_in_flight", *st.lists_in_flight},
                  {"list_refusals", st.list_refusals},
                  {"event_streams", st.streams->size()},
                  {"event_stream_refusals", st.stream_refusals},
                  {"events_sent", st.streams->sent()},
                  {"event_streams_dropped", st.streams->dropped()},
                  {"buffer_refusals", http.buffer_refusals}}}};
              if (st.deps.leader)
                js["leadership"] = leadership_json(*st.deps.leader);
              complete(self, t, json_response(200, js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
            },
            fail);
        },
        fail);
    },
    fail);
}

} // namespace

void handle(gateway_broker* self, const ticket& t0, http_request& req) {
  auto& st = self->state;
  auto& deps = st.deps;
  auto plan = plan_request(req, *deps.reg,
                           credentials{st.cfg.auth_token, st.cfg.worker_token,
                                       st.cfg.cluster_secret},
                           st.cfg.limits,
                           now_ms(self));
  ticket t = t0;
  t.label = plan.r.label;
  auto done = [&](http_response res) { complete(self, t, res); };
  if (plan.refusal) {
    done(std::move(*plan.refusal));
    return;
  }
  auto& r = plan.r;
  if (worker_route(r.kind) && !deps.pull_hub) {
    done(error_response(ec::unavailable, "HTTP workers are not served here"));
    return;
  }
  switch (r.kind) {
    case route_kind::not_found:
    case route_kind::method_not_allowed:
      // plan_request refuses both.
      done(error_response(ec::internal, "internal error"));
      return;
    case route_kind::health:
      done(json_response(200, "{\"status\":\"ok\"}"));
      return;
    case route_kind::ready: {
      if (standing_by(deps)) {
        done(standby_ready(deps));
        return;
      }
      bool db = deps.tel->state.db_up, rec = deps.tel->state.recovered;
      // Nor is a lease this coordinator could not renew in time.
      bool lease = !deps.leader || deps.leader->lease_current();
      // The cache is not needed to be ready: without it tasker reads the
      // database.
      nlohmann::json js{{"ready", db && rec && lease},
                        {"database", db ? "up" : "down"},
                        {"cache", cache_state_name(*deps.tel)},
                        {"recovery", rec ? "done" : "running"}};
      if (deps.leader) {
        js["role"] = "active";
        js["epoch"] = deps.leader->epoch();
        js["lease"] = lease ? "current" : "expired";
      }
      auto res = json_response(db && rec && lease ? 200 : 503, js.dump());
      if (!(db && rec && lease))
        res.headers.emplace_back("Retry-After", "1");
      done(res);
      return;
    }
    case route_kind::metrics:
      done({200,
            deps.tel->stats.serialize()
              + (deps.leader ? deps.leader->metrics_text() : std::string{}),
            "text/plain; version=0.0.4; charset=utf-8", {}});
      return;
    case route_kind::openapi:
      done(json_response(200, st.openapi));
      return;
    case route_kind::dashboard:
      done(web_response("/index.html"));
      return;
    case route_kind::docs_page:
      done(web_response("/docs/index.html"));
      return;
    case route_kind::web_asset:
      done(web_response("/assets/" + r.id));
      return;
    case route_kind::docs_asset:
      done(web_response("/docs/" + r.id));
      return;
    case route_kind::activity: {
      auto now = now_ms(self);
      done(json_response(200, activity_json(deps.tel->stats.recent().window(
                                              now, plan.stats_window_ms),
                                            plan.stats_window_ms)
                                .dump()));
      return;
    }
    case route_kind::task_types:
      done(json_response(200, st.task_types));
      return;
    case route_kind::submit:
    case route_kind::batch:
    case route_kind::run_task:
      ask<submit_reply>(self, t, deps.manager, std::chrono::seconds(30),
          [kind = r.kind](submit_reply& rep) {
            auto status = rep.existing ? 200 : 202;
            if (kind == route_kind::batch)
              return json_response(status, batch_json(rep.tasks));
            auto& first = rep.tasks.front();
            if (kind == route_kind::run_task)
              return json_response(
                status, nlohmann::json{{"task_id", first.id}}.dump());
            auto res = json_response(status, task_json(first));
            res.headers.emplace_back("Location", "/v1/tasks/" + first.id);
            return res;
          },
          submit_atom_v, std::move(plan.group));
      return;
    case route_kind::get_task:
      ask<task_record>(self, t, deps.manager,
          std::chrono::milliseconds(plan.wait_ms + 30000),
          [](task_record& rec) { return json_response(200, task_json(rec)); },
          get_atom_v, plan.task_id, plan.wait_ms);
      return;
    case route_kind::get_task_output:
      ask<task_record>(self, t, deps.manager, std::chrono::seconds(30),
          [](task_record& rec) {
            return json_response(200, seed_task_json(rec));
          },
          get_atom_v, plan.task_id, int64_t{0});
      return;
    case route_kind::list_tasks: {
      auto slot = reader_slot(self, t);
      if (!slot)
        return;
      ask<task_page>(self, t, deps.reader, std::chrono::seconds(30),
          [slot](task_page& page) { return json_response(200, page_json(page)); },
          list_atom_v, plan.query);
      return;
    }
    case route_kind::task_events: {
      auto slot = reader_slot(self, t);
      if (!slot)
        return;
      ask<task_history>(self, t, deps.reader, std::chrono::seconds(30),
          [slot, id = plan.task_id](task_history& h) {
            return json_response(200, history_json(id, h, max_history_events));
          },
          events_atom_v, plan.task_id,
          static_cast<int32_t>(max_history_events + 1));
      return;
    }
    case route_kind::stats: {
      auto slot = reader_slot(self, t);
      if (!slot)
        return;
      ask<std::vector<stats_row>>(self, t, deps.reader,
          std::chrono::seconds(30),
          [slot, w = plan.stats_window_ms,
           b = plan.stats_bucket_ms](std::vector<stats_row>& rows) {
            return json_response(200, stats_json(w, b, rows));
          },
          stats_atom_v, plan.stats_window_ms, plan.stats_bucket_ms);
      return;
    }
    case route_kind::event_stream: {
      if (t.head) {
        done({200, "", "text/event-stream", {{"Cache-Control", "no-store"}}});
        return;
      }
      if (!deps.events) {
        done(error_response(ec::unavailable, "the event stream is not served "
                                             "here"));
        return;
      }
      if (st.streams->size() >= st.cfg.max_event_streams) {
        ++st.stream_refusals;
        done(error_response(ec::unavailable,
                            "too many event streams are open; retry later"));
        return;
      }
      // No length: the body is the stream, until either side closes.
      // `retry` tells an EventSource to reconnect after 2 s.
      std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"
                         "\r\nCache-Control: no-store\r\nX-Accel-Buffering: "
                         "no\r\nConnection: close\r\n\r\nretry: 2000\n\n";
      if (st.http->start_stream(t, std::move(head),
                                std::chrono::steady_clock::now()))
        st.streams->add(t, std::move(plan.events),
                        std::move(plan.events_from));
      return;
    }
    case route_kind::cancel:
      ask<task_record>(self, t, deps.manager, std::chrono::seconds(30),
          [](task_record& rec) { return json_response(200, task_json(rec)); },
          cancel_atom_v, plan.task_id);
      return;
    case route_kind::retry:
      ask<task_record>(self, t, deps.manager, std::chrono::seconds(30),
          [](task_record& rec) { return json_response(202, task_json(rec)); },
          retry_atom_v, plan.task_id);
      return;
    case route_kind::workers:
      ask<std::vector<worker_view>>(self, t, deps.dispatcher,
                                    std::chrono::seconds(5),
          [](std::vector<worker_view>& workers) {
            return json_response(
              200, nlohmann::json{{"workers", workers_json(workers)}}.dump());
          },
          workers_atom_v);
      return;
    case route_kind::drain:
      ask<bool>(self, t, deps.dispatcher, std::chrono::seconds(5),
          [id = r.id](bool found) {
            if (!found)
              return error_response(ec::not_found, "no worker node " + id);
            nlohmann::json js{{"id", id}, {"status", "DRAINING"}};
            return json_response(202, js.dump());
          },
          drain_atom_v, r.id);
      return;
    case route_kind::cluster:
      cluster_status(self, t);
      return;
    case route_kind::open_session: {
      auto lease_timeout = st.cfg.lease_timeout_ms;
      self->state.http->expect_by(t, std::chrono::steady_clock::now()
                                       + std::chrono::seconds(30));
      self->request(deps.pull_hub, std::chrono::seconds(30), join_atom_v,
                    plan.worker)
        .then(
          [self, t, lease_timeout](std::string& sid, std::string& node) {
            nlohmann::json js{{"session", sid},
                              {"worker_id", node},
                              {"lease_timeout_ms", lease_timeout}};
            auto res = json_response(201, js.dump());
            res.headers.emplace_back("Location", "/v1/workers/sessions/" + sid);
            complete(self, t, res);
          },
          [self, t](caf::error& err) { complete(self, t, from_error(err)); });
      return;
    }
    case route_kind::lease: {
      auto lease_timeout = st.cfg.lease_timeout_ms;
      auto wait = std::chrono::milliseconds(plan.wait_ms + 30000);
      self->state.http->expect_by(t, std::chrono::steady_clock::now() + wait);
      self
        ->request(deps.pull_hub, wait, lease_atom_v, r.id, plan.max_tasks,
                  plan.wait_ms)
        .then(
          [self, t, lease_timeout](std::vector<leased_task>& tasks,
                                   bool draining) {
            complete(self, t,
                     json_response(200,
                                   leases_json(tasks, draining, lease_timeout,
                                               *self->state.deps.reg)));
          },
          [self, t](caf::error& err) { complete(self, t, from_error(err)); });
      return;
    }
    case route_kind::close_session: {
      auto sid = r.id;
      ask<ok_atom>(self, t, deps.pull_hub, std::chrono::seconds(10),
          [sid](ok_atom) {
            return json_response(
              200, nlohmann::json{{"session", sid}, {"status", "CLOSED"}}.dump());
          },
          stop_atom_v, sid);
      return;
    }
    case route_kind::lease_heartbeat:
      ask<bool>(self, t, deps.pull_hub, std::chrono::seconds(10),
          [](bool cancelled) {
            return json_response(
              200, nlohmann::json{{"cancelled", cancelled}}.dump());
          },
          heartbeat_atom_v, r.id, std::move(plan.progress));
      return;
    case route_kind::lease_complete:
    case route_kind::lease_fail: {
      auto token = r.id;
      ask<ok_atom>(self, t, deps.pull_hub, std::chrono::seconds(10),
          [token](ok_atom) {
            return json_response(
              200,
              nlohmann::json{{"lease", token}, {"status", "accepted"}}.dump());
          },
          result_atom_v, r.id, std::move(plan.outcome));
      return;
    }
    case route_kind::crash: {
      auto name = r.id;
      if (!deps.coordinator) {
        done(error_response(ec::not_found, "no such path: /v1/debug/crash/"
                                             + name));
        return;
      }
      log::warning(gateway_state::name, "fault injection: crashing an actor",
                   {{"actor", name}});
      auto crashed
        = json_response(202, nlohmann::json{{"crashed", name}}.dump());
      // (Answered first: crashing the gateway ends this connection.)
      if (name == "gateway") {
        done(std::move(crashed));
        self->delayed_send(self, std::chrono::milliseconds(50), crash_atom_v);
        return;
      }
      ask<bool>(self, t, deps.coordinator, std::chrono::seconds(5),
          [name, crashed](bool found) {
            return found ? crashed
                         : error_response(ec::not_found,
                                          "no actor " + name
                                            + " to crash; one of dispatcher, "
                                              "persistence, gateway, "
                                              "task_manager, reader");
          },
          crash_atom_v, name);
      return;
    }
  }
}

} // namespace tasker::gateway_detail
