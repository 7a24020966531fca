// libFuzzer target: the bytes of one connection through the gateway's
// request path, everything short of the actors.
//
// The bytes reach a request_reader with the server's limits the way the
// gateway's broker feeds a connection: reads of at most 16 KiB, parsing
// stopped by an error or by a request without keep-alive. Each request is
// planned as the gateway plans it (route, bearer token, JSON body, submission
// and query checks); a refused request gets its error answer, and one the
// gateway would pass on to an actor gets the answer of an actor that
// succeeds. Checked: every answer serializes to HTTP/1.1 that Beast reads
// back with the same status and body; a JSON answer parses, and an error
// names its code and has that code's status; accepted tasks are valid again
// where a worker reads them; splitting the same bytes into other reads
// changes nothing the reader yields.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/format.hpp"
#include "config/config.hpp"
#include "gateway/encoding.hpp"
#include "gateway/http.hpp"
#include "gateway/plan.hpp"
#include "gateway/validation.hpp"
#include "tasks/registry.hpp"

using namespace tasker;
using json = nlohmann::json;
namespace http = boost::beast::http;

namespace {

/// The clock of every run, so that an input replays alike.
constexpr millis now = 1'763'805'600'000; // 2025-11-22T10:00:00.000Z

/// The size of the gateway's reads (`receive_policy::at_most` in gateway.cpp).
constexpr size_t gateway_read_size = 16384;

/// The token of a server with auth on. Requests that carry an Authorization
/// header meet such a server; the others one with auth off.
const std::string auth_token = "fuzz-token";

/// A server with the default settings of config/config.hpp.
struct server {
  config cfg;
  registry reg = builtin_registry(task_limits{cfg.max_text_bytes,
                                              cfg.max_top_n});
  submit_limits limits{cfg.default_max_attempts, cfg.default_timeout_ms,
                       cfg.max_batch};
};

/// Ends the run when `ok` is false: libFuzzer reports it and keeps the input.
void require(bool ok, const char* what, const std::string& detail = {}) {
  if (ok)
    return;
  fprintf(stderr, "fuzz_http_request: %s\n%.4000s\n", what, detail.c_str());
  abort();
}

/// A request as the reader yielded it, as text.
std::string describe(const http_request& req) {
  std::string out = "request " + req.method + " " + req.target + " path="
                    + req.path;
  for (auto& [key, value] : req.query)
    out += " q[" + key + "]=" + value;
  out += " ct=" + req.content_type + " auth=" + req.authorization
         + " key=" + req.idempotency_key
         + " keep_alive=" + std::to_string(req.keep_alive)
         + " target_error=" + req.target_error
         + " body=" + req.body;
  return out;
}

/// An error of the reader, as text.
std::string describe(ec code, const std::string& message) {
  return std::string{"error "} + to_string(code) + " " + message;
}

/// Feeds `data` to a reader in reads of at most `read_size` bytes and calls
/// `on_request` or `on_error` for what it yields, until the gateway would
/// stop reading the connection.
template <class OnRequest, class OnError>
void read_connection(const server& srv, const uint8_t* data, size_t size,
                     size_t read_size, OnRequest on_request,
                     OnError on_error) {
  request_reader reader{static_cast<uint64_t>(srv.cfg.max_header_bytes),
                        static_cast<uint64_t>(srv.cfg.max_body_bytes)};
  for (size_t pos = 0; pos < size;) {
    auto n = std::min(read_size, size - pos);
    reader.append(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    for (;;) {
      http_request req;
      ec code = ec::none;
      std::string message;
      auto res = reader.next(req, code, message);
      if (res == request_reader::status::need_more)
        break;
      if (res == request_reader::status::error) {
        on_error(code, message);
        return;
      }
      on_request(req);
      if (!req.keep_alive)
        return;
    }
  }
}

/// The error code named `name`, or `ec::none`.
ec code_named(const std::string& name) {
  for (int i = 1; i < 256; ++i)
    if (name == to_string(static_cast<ec>(i)))
      return static_cast<ec>(i);
  return ec::none;
}

/// Checks that a response leaves the gateway as well-formed HTTP/1.1.
void check_response(const http_response& res, bool keep_alive) {
  for (auto& [name, value] : res.headers)
    require(name.find_first_of("\r\n:") == std::string::npos
              && value.find_first_of("\r\n") == std::string::npos,
            "a header breaks the response head", name + ": " + value);
  auto bytes = serialize(res, keep_alive);
  require(bytes.rfind("HTTP/1.1 " + std::to_string(res.status) + " ", 0) == 0,
          "the status line is wrong", bytes);
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(bytes.size());
  boost::beast::error_code err;
  auto n = parser.put(boost::asio::buffer(bytes), err);
  require(!err && parser.is_done() && n == bytes.size(),
          "Beast cannot read the response back", err.message() + "\n" + bytes);
  auto& msg = parser.get();
  require(static_cast<int>(msg.result_int()) == res.status
            && msg.body() == res.body && msg.keep_alive() == keep_alive,
          "the response reads back differently", bytes);
  if (res.content_type.rfind("application/json", 0) != 0)
    return;
  auto js = json::parse(res.body, nullptr, false);
  require(!js.is_discarded(), "a JSON body does not parse", res.body);
  if (res.status < 400)
    return;
  auto error = js.find("error");
  require(js.is_object() && error != js.end() && error->is_object(),
          "an error body has no error object", res.body);
  auto code = error->find("code");
  auto message = error->find("message");
  require(code != error->end() && code->is_string() && message != error->end()
            && message->is_string() && !message->get<std::string>().empty(),
          "an error has no code or message", res.body);
  auto x = code_named(code->get<std::string>());
  require(x != ec::none && http_status(x) == res.status,
          "an error's code and status disagree", res.body);
}

/// Checks the arguments a plan would send to an actor.
void check_plan(const server& srv, const request_plan& plan) {
  switch (plan.r.kind) {
    case route_kind::submit:
    case route_kind::batch:
    case route_kind::run_task: {
      auto max = static_cast<size_t>(srv.limits.max_batch);
      require(!plan.group.empty() && plan.group.size() <= max
                && (plan.r.kind == route_kind::batch || plan.group.size() == 1),
              "a submission has the wrong number of tasks");
      for (auto& rec : plan.group) {
        require(is_uuid(rec.id) && srv.reg.find(rec.type) != nullptr,
                "a task has a bad id or type", rec.id + " " + rec.type);
        // A worker validates the params again from the stored text.
        auto params = json::parse(rec.params, nullptr, false);
        require(!params.is_discarded()
                  && srv.reg.validate(rec.type, params).empty(),
                "a worker would refuse params the gateway accepted",
                rec.type + " " + rec.params);
        require(rec.priority >= 0 && rec.priority <= 9
                  && rec.max_attempts >= 1 && rec.max_attempts <= 100
                  && rec.timeout_ms >= 1 && rec.timeout_ms <= 86400000
                  && rec.idempotency_key.size() <= 255
                  && rec.scheduled_at >= now,
                "a task's settings are out of range", task_json(rec));
      }
      return;
    }
    case route_kind::get_task:
    case route_kind::get_task_output:
    case route_kind::cancel:
    case route_kind::retry:
      require(is_uuid(plan.task_id) && plan.task_id == lower(plan.task_id),
              "a task id is not a lower-case UUID", plan.task_id);
      require(plan.wait_ms >= 0 && plan.wait_ms <= 60000,
              "wait_ms is out of range");
      return;
    case route_kind::list_tasks:
      require(plan.query.limit >= 1 && plan.query.limit <= 1000,
              "a list limit is out of range");
      return;
    default:
      return;
  }
}

/// A task as an actor would answer with it.
task_record stored_task(const std::string& id) {
  task_record rec;
  rec.id = id;
  rec.type = "sum";
  rec.params = R"({"a":1,"b":2})";
  rec.created_at = now;
  rec.updated_at = now;
  rec.scheduled_at = now;
  return rec;
}

/// The answer the gateway gives when the actor it asks succeeds, made from
/// the plan; routes served from the gateway's own state get a stand-in.
http_response success_answer(const request_plan& plan) {
  switch (plan.r.kind) {
    case route_kind::submit: {
      auto& rec = plan.group.front();
      auto res = json_response(202, task_json(rec));
      res.headers.emplace_back("Location", "/v1/tasks/" + rec.id);
      return res;
    }
    case route_kind::batch:
      return json_response(202, batch_json(plan.group));
    case route_kind::run_task:
      return json_response(202,
                           json{{"task_id", plan.group.front().id}}.dump());
    case route_kind::get_task:
    case route_kind::cancel:
      return json_response(200, task_json(stored_task(plan.task_id)));
    case route_kind::retry:
      return json_response(202, task_json(stored_task(plan.task_id)));
    case route_kind::get_task_output:
      return json_response(200, seed_task_json(stored_task(plan.task_id)));
    case route_kind::list_tasks: {
      // A full page: its cursor must lead to the next one.
      task_page page;
      page.tasks.push_back(stored_task("7f7c0b7e-2f1e-4a5b-9a43-0c0d2a1f6e11"));
      page.more = true;
      auto body = page_json(page);
      auto cursor = json::parse(body)["next_cursor"].get<std::string>();
      millis at = 0;
      std::string id;
      require(decode_cursor(cursor, at, id) && at == now
                && id == page.tasks.back().id,
              "a page's cursor does not decode", cursor);
      return json_response(200, std::move(body));
    }
    default:
      return json_response(200, "{}");
  }
}

/// Plans and answers one request as the gateway does.
void answer(const server& srv, const http_request& req) {
  auto token = req.authorization.empty() ? std::string{} : auth_token;
  auto plan = plan_request(req, srv.reg, token, srv.limits, now);
  require(!plan.r.label.empty(), "a request has no metrics label",
          describe(req));
  if (plan.refusal) {
    require(plan.refusal->status >= 400, "a refusal is not an error",
            plan.refusal->body);
    check_response(*plan.refusal, req.keep_alive);
    return;
  }
  check_plan(srv, plan);
  check_response(success_answer(plan), req.keep_alive);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const server srv;
  std::vector<std::string> outcomes;
  read_connection(
    srv, data, size, gateway_read_size,
    [&](const http_request& req) {
      outcomes.push_back(describe(req));
      answer(srv, req);
    },
    [&](ec code, const std::string& message) {
      outcomes.push_back(describe(code, message));
      require(code == ec::bad_request || code == ec::payload_too_large,
              "the reader reports an unexpected code", message);
      check_response(error_response(code, message), false);
    });
  // TCP may split the same bytes anywhere.
  std::vector<std::string> split;
  auto record = [&](const http_request& req) {
    split.push_back(describe(req));
  };
  auto record_error = [&](ec code, const std::string& message) {
    split.push_back(describe(code, message));
  };
  read_connection(srv, data, size, 1 + size % 13, record, record_error);
  if (split != outcomes) {
    std::string detail;
    for (auto& x : outcomes)
      detail += "in one read:  " + x + "\n";
    for (auto& x : split)
      detail += "split reads:  " + x + "\n";
    require(false, "splitting the bytes changes what the reader yields",
            detail);
  }
  return 0;
}
