// tasker events --follow: the event stream (GET /v1/events, Server-Sent
// Events) read with libcurl, printed an event a line, resumed after a lost
// connection with Last-Event-ID.
#include "cli/commands.hpp"

#include "cli/output.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>
#include <thread>

namespace tasker::cli {

namespace {

/// Longest line (and event data) of the stream held.
constexpr size_t max_sse_line_bytes = 1024 * 1024;

/// A stream silent this long is taken for lost: the server sends a
/// keep-alive every 15 s (event_keepalive_ms).
constexpr long idle_timeout_ms = 60000;

/// Connection attempts in a row that may fail before the command gives up.
constexpr int max_failed_attempts = 8;

/// Back-off between attempts: from the server's `retry:` (else 1 s),
/// doubling, at most 30 s.
constexpr int64_t default_retry_ms = 1000;
constexpr int64_t max_retry_ms = 30000;

/// Appends a comma-separated filter to the query, each item encoded.
void add_filter(std::string& query, const char* name, const std::string& list) {
  std::string value;
  size_t start = 0;
  for (;;) {
    auto comma = list.find(',', start);
    if (!value.empty() || start > 0)
      value += ',';
    value += url_encode(list.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  query += (query.empty() ? "?" : "&") + std::string{name} + "=" + value;
}

bool has_control(const std::string& str) {
  return std::any_of(str.begin(), str.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

} // namespace

int run_follow(context& ctx, const parsed_args& opts) {
  std::string query;
  for (auto [flag, name] :
       {std::pair{"--type", "type"}, std::pair{"--status", "status"},
        std::pair{"--kind", "kind"}})
    if (auto i = opts.options.find(flag); i != opts.options.end()) {
      auto list = i->second;
      // (The API takes statuses in capitals.)
      if (std::string{name} == "status")
        for (auto& c : list)
          c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      add_filter(query, name, list);
    }
  sse_parser parser{max_sse_line_bytes};
  if (auto i = opts.options.find("--last-event-id"); i != opts.options.end()) {
    if (i->second.empty() || has_control(i->second))
      return usage_error("--last-event-id must be an event id as the stream "
                         "sends them");
    parser.set_last_event_id(i->second);
  }
  int failures = 0;
  bool ever_connected = false;
  for (;;) {
    parser.reset();
    std::vector<std::string> headers;
    if (!parser.last_event_id().empty())
      headers.push_back("Last-Event-ID: " + parser.last_event_id());
    bool connected = false, too_long = false, closed_stdout = false;
    auto print = [&](const sse_event& ev) {
      if (ev.type == "dropped") {
        // The server dropped a client that read too slowly: resume after the
        // last event printed.
        std::cerr << "tasker: the server dropped the stream ("
                  << printable(ev.data) << "); resuming\n";
        return;
      }
      if (ev.type != "message")
        return;
      auto js = nlohmann::json::parse(ev.data, nullptr, false);
      if (ctx.json)
        std::cout << (js.is_discarded()
                          ? printable(ev.data)
                          : js.dump(-1, ' ', false,
                                    nlohmann::json::error_handler_t::replace))
                  << "\n";
      else
        std::cout << (js.is_object() ? render_event_line(js)
                                     : printable(ev.data))
                  << "\n";
      std::cout.flush();
      closed_stdout = closed_stdout || !std::cout;
    };
    auto on_data = [&](const char* data, size_t size) {
      if (!connected) {
        connected = true;
        failures = 0;
        if (!ever_connected)
          std::cerr << "tasker: following " << ctx.conf.url << "/v1/events"
                    << query << " (Ctrl-C to stop)\n";
        else
          std::cerr << "tasker: reconnected"
                    << (parser.last_event_id().empty()
                            ? std::string{}
                            : " after event " + parser.last_event_id())
                    << "\n";
        ever_connected = true;
      }
      if (!parser.feed(data, size, print)) {
        too_long = true;
        return false;
      }
      return !closed_stdout;
    };
    auto res = ctx.http->stream("/v1/events" + query, headers, on_data,
                                idle_timeout_ms);
    if (closed_stdout)
      return exit_ok;
    if (too_long) {
      std::cerr << "tasker: the event stream sent a line longer than 1 MiB\n";
      return exit_server_error;
    }
    if (res.failure == http_failure::bad_url)
      return report_failure(ctx, res);
    bool busy = res.failure == http_failure::none &&
                (res.status == 429 || res.status >= 500);
    if (res.failure == http_failure::none && res.status != 200 && !busy)
      return report_failure(ctx, res); // a bad filter, a wrong token
    if (!ever_connected && res.failure == http_failure::unreachable)
      return report_failure(ctx, res); // never there: not worth waiting
    if (!connected)
      ++failures;
    if (failures >= max_failed_attempts) {
      std::cerr << "tasker: giving up after " << failures
                << " failed attempts to reconnect\n";
      return report_failure(ctx, res);
    }
    auto base = parser.retry_ms().value_or(default_retry_ms);
    auto wait_ms =
        std::min<int64_t>(max_retry_ms, base << std::min(failures, 10));
    if (busy && res.retry_after_s)
      wait_ms =
          std::clamp<int64_t>(*res.retry_after_s * 1000, wait_ms, max_retry_ms);
    std::cerr << "tasker: the stream ended ("
              << (res.failure == http_failure::none
                      ? (res.status == 200
                             ? std::string{"closed by the server"}
                             : "HTTP " + std::to_string(res.status))
                      : res.error)
              << "); reconnecting in " << human_duration(wait_ms / 1000.0)
              << "\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

} // namespace tasker::cli
