#include "gateway/gateway_internal.hpp"

#include "common/log.hpp"
#include "gateway/docs.hpp"
#include "gateway/encoding.hpp"
#include "gateway/plan.hpp"

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

void cluster_status(gateway_broker* self, const ticket& t) {
  auto timeout = std::chrono::seconds(5);
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
              auto restarts = [](uint64_t n) {
                return nlohmann::json{{"restarts", n}};
              };
              nlohmann::json js{
                {"ready", ts.db_up && ts.recovered},
                {"database", ts.db_up ? "up" : "down"},
                {"cache", cache_json(st.deps)},
                {"task_manager", status_json(manager)},
                {"dispatcher", status_json(disp)},
                {"persistence", status_json(pers)},
                {"cluster_port", st.deps.cluster_port
                                   ? status_json(st.deps.cluster_port())
                                   : nlohmann::json()},
                {"supervisors",
                 {{"task_manager", restarts(manager.restarts)},
                  {"gateway", restarts(ts.gateway_restarts.load())},
                  {"persistence", restarts(ts.persistence_restarts.load())},
                  {"dispatcher", restarts(ts.dispatcher_restarts.load())}}},
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
              complete(self, t, json_response(200, js.dump()));
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
      bool db = deps.tel->state.db_up, rec = deps.tel->state.recovered;
      // The cache is not needed to be ready: without it tasker reads the
      // database.
      nlohmann::json js{{"ready", db && rec},
                        {"database", db ? "up" : "down"},
                        {"cache", cache_state_name(*deps.tel)},
                        {"recovery", rec ? "done" : "running"}};
      auto res = json_response(db && rec ? 200 : 503, js.dump());
      if (!(db && rec))
        res.headers.emplace_back("Retry-After", "1");
      done(res);
      return;
    }
    case route_kind::metrics:
      done({200, deps.tel->stats.serialize(),
            "text/plain; version=0.0.4; charset=utf-8", {}});
      return;
    case route_kind::openapi:
      done(json_response(200, st.openapi));
      return;
    case route_kind::dashboard:
      done({200, dashboard_html(), "text/html; charset=utf-8", {}});
      return;
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
