// Tests of the client's pure parsing: params, durations, arguments, the
// config file, Server-Sent Events, batch errors and exit codes.
#define CAF_SUITE cli.parse

#include "cli/parse.hpp"

#include "tests/fixture.hpp"

#include <string>
#include <vector>

using namespace tasker::cli;
using nlohmann::json;

namespace {

json param(const std::string& arg) {
  auto p = parse_param_arg(arg);
  CAF_CHECK_EQUAL(p.error, "");
  return p.value;
}

std::vector<sse_event> events_of(sse_parser& parser, const std::string& bytes) {
  std::vector<sse_event> out;
  CAF_CHECK(parser.feed(bytes.data(), bytes.size(),
                        [&](const sse_event& ev) { out.push_back(ev); }));
  return out;
}

} // namespace

CAF_TEST(key = value takes JSON values as JSON and the rest as strings) {
  CAF_CHECK_EQUAL(param("a=1"), json(1));
  CAF_CHECK_EQUAL(param("a=-2.5"), json(-2.5));
  CAF_CHECK_EQUAL(param("a=true"), json(true));
  CAF_CHECK_EQUAL(param("a=null"), json(nullptr));
  CAF_CHECK_EQUAL(param("a=[1,2]"), json::parse("[1,2]"));
  CAF_CHECK_EQUAL(param("a={\"b\":1}"), json::parse("{\"b\":1}"));
  CAF_CHECK_EQUAL(param("a=\"42\""), json("42"));
  CAF_CHECK_EQUAL(param("text=the cat"), json("the cat"));
  CAF_CHECK_EQUAL(param("a="), json(""));
  CAF_CHECK_EQUAL(param("zip=01234"), json("01234"));
  CAF_CHECK_EQUAL(param("a=x=y"), json("x=y"));
  // Digits that would lose precision as a float, and padded text, stay text.
  CAF_CHECK_EQUAL(param("id=123456789012345678901234567890"),
                  json("123456789012345678901234567890"));
  CAF_CHECK_EQUAL(param("a= 12"), json(" 12"));
  CAF_CHECK_EQUAL(parse_param_arg("top_n=3").key, "top_n");
}

CAF_TEST(key : = json forces JSON and refuses what is not ) {
  CAF_CHECK_EQUAL(param("a:=1"), json(1));
  CAF_CHECK_EQUAL(param("a:=\"1\""), json("1"));
  CAF_CHECK_EQUAL(param("tags:=[\"x\"]"), json::parse("[\"x\"]"));
  CAF_CHECK_EQUAL(parse_param_arg("a:=1").key, "a");
  CAF_CHECK_NOT_EQUAL(parse_param_arg("a:=nope").error, "");
  CAF_CHECK_NOT_EQUAL(parse_param_arg("a:={").error, "");
  CAF_CHECK_NOT_EQUAL(parse_param_arg("a:=" + std::string(100, '[')).error, "");
}

CAF_TEST(param arguments need a key) {
  CAF_CHECK(is_param_arg("a=1"));
  CAF_CHECK(is_param_arg("a:=1"));
  CAF_CHECK(!is_param_arg("sum"));
  CAF_CHECK(!is_param_arg("=1"));
  CAF_CHECK(!is_param_arg(":=1"));
  CAF_CHECK(!is_param_arg("--priority=1"));
  CAF_CHECK_NOT_EQUAL(parse_param_arg("=1").error, "");
}

CAF_TEST(durations take ms s m h d) {
  CAF_CHECK_EQUAL(parse_cli_duration_ms("500ms").value_or(-1), 500);
  CAF_CHECK_EQUAL(parse_cli_duration_ms("10s").value_or(-1), 10000);
  CAF_CHECK_EQUAL(parse_cli_duration_ms("5m").value_or(-1), 300000);
  CAF_CHECK_EQUAL(parse_cli_duration_ms("1h").value_or(-1), 3600000);
  CAF_CHECK_EQUAL(parse_cli_duration_ms("2d").value_or(-1), 172800000);
  CAF_CHECK(!parse_cli_duration_ms("10"));
  CAF_CHECK(!parse_cli_duration_ms("ms"));
  CAF_CHECK(!parse_cli_duration_ms("-1s"));
  CAF_CHECK(!parse_cli_duration_ms("1.5s"));
  CAF_CHECK(!parse_cli_duration_ms("10x"));
}

CAF_TEST(parse_args splits options and positional arguments) {
  std::vector<option_spec> spec{{"--wait", false}, {"--limit", true}};
  auto p = parse_args({"sum", "a=1", "--limit", "5", "--wait", "b=2"}, spec);
  CAF_CHECK_EQUAL(p.error, "");
  CAF_CHECK_EQUAL(p.positional,
                  (std::vector<std::string>{"sum", "a=1", "b=2"}));
  CAF_CHECK_EQUAL(p.options["--limit"], "5");
  CAF_CHECK(p.has("--wait"));
  CAF_CHECK_EQUAL(parse_args({"--limit=7"}, spec).options["--limit"], "7");
  CAF_CHECK_EQUAL(parse_args({"--", "--wait"}, spec).positional.size(), 1u);
  CAF_CHECK_NOT_EQUAL(parse_args({"--nope"}, spec).error, "");
  CAF_CHECK_NOT_EQUAL(parse_args({"--limit"}, spec).error, "");
  CAF_CHECK_NOT_EQUAL(parse_args({"--wait=1"}, spec).error, "");
  CAF_CHECK_EQUAL(parse_args({"-"}, spec).positional.size(), 1u);
}

CAF_TEST(the config file sets url and token) {
  auto f = parse_cli_config("# mine\n\nurl = http://h:9000\n"
                            "token = \"s3cret\"\r\n");
  CAF_CHECK_EQUAL(f.error, "");
  CAF_CHECK_EQUAL(f.url.value_or(""), "http://h:9000");
  CAF_CHECK_EQUAL(f.token.value_or(""), "s3cret");
  CAF_CHECK_EQUAL(parse_cli_config("url http://x\n").error,
                  "line 1: expected key = value");
  CAF_CHECK_NOT_EQUAL(parse_cli_config("\nport = 1\n").error.find("line 2"),
                      std::string::npos);
}

CAF_TEST(settings come from flag then environment then file then default) {
  file_settings file;
  file.url = "http://file:1";
  file.token = "file-token";
  auto s = resolve_settings({}, {}, {}, {}, file, "http://default:8080");
  CAF_CHECK_EQUAL(s.url, "http://file:1");
  CAF_CHECK_EQUAL(s.token, "file-token");
  s = resolve_settings({}, {}, std::string{"http://env:2"},
                       std::string{"env-token"}, file, "http://default:8080");
  CAF_CHECK_EQUAL(s.url, "http://env:2");
  CAF_CHECK_EQUAL(s.token, "env-token");
  s = resolve_settings(std::string{"http://flag:3"}, std::string{"flag-token"},
                       std::string{"http://env:2"}, std::string{"env-token"},
                       file, "http://default:8080");
  CAF_CHECK_EQUAL(s.url, "http://flag:3");
  CAF_CHECK_EQUAL(s.token, "flag-token");
  s = resolve_settings({}, {}, {}, {}, file_settings{}, "http://default:8080");
  CAF_CHECK_EQUAL(s.url, "http://default:8080");
  CAF_CHECK_EQUAL(s.token, "");
}

CAF_TEST(server URLs are http or https with a host) {
  CAF_CHECK_EQUAL(normalize_base_url("http://127.0.0.1:8080/"),
                  "http://127.0.0.1:8080");
  CAF_CHECK_EQUAL(normalize_base_url("https://h/prefix"), "https://h/prefix");
  CAF_CHECK_EQUAL(normalize_base_url("localhost:8080"), "");
  CAF_CHECK_EQUAL(normalize_base_url("ftp://h"), "");
  CAF_CHECK_EQUAL(normalize_base_url("http://"), "");
  CAF_CHECK_EQUAL(normalize_base_url("http://h/?x=1"), "");
  CAF_CHECK_EQUAL(url_encode("a b/c,d~"), "a%20b%2Fc%2Cd~");
}

CAF_TEST(derived keys depend on the line number and text only) {
  auto k = derived_idempotency_key(3, "{\"type\":\"sum\"}");
  CAF_CHECK_EQUAL(k.size(), 5u + 64u);
  CAF_CHECK_EQUAL(k.compare(0, 5, "file-"), 0);
  CAF_CHECK_EQUAL(k, derived_idempotency_key(3, "{\"type\":\"sum\"}"));
  CAF_CHECK_NOT_EQUAL(k, derived_idempotency_key(4, "{\"type\":\"sum\"}"));
  CAF_CHECK_NOT_EQUAL(k, derived_idempotency_key(3, "{\"type\":\"sum\" }"));
  // SHA-256 of "1\nx".
  CAF_CHECK_EQUAL(
      derived_idempotency_key(1, "x"),
      "file-"
      "16c10dfd2a1bf2524789fa04db59df3db58b29f3ad69c261017b7bda410dd76b");
}

CAF_TEST(sse lines make events) {
  sse_parser parser;
  auto evs = events_of(parser, "retry: 2000\n\nid: 7-a-0\ndata: {\"x\":1}\n\n"
                               ": keep-alive\n\n");
  CAF_REQUIRE_EQUAL(evs.size(), 1u);
  CAF_CHECK_EQUAL(evs[0].type, "message");
  CAF_CHECK_EQUAL(evs[0].id, "7-a-0");
  CAF_CHECK_EQUAL(evs[0].data, "{\"x\":1}");
  CAF_CHECK_EQUAL(parser.retry_ms().value_or(-1), 2000);
  CAF_CHECK_EQUAL(parser.last_event_id(), "7-a-0");
  CAF_CHECK_EQUAL(parser.comments(), 1u);
}

CAF_TEST(sse events may arrive a byte at a time and end lines in CR or CRLF) {
  sse_parser parser;
  std::string stream =
      "event: dropped\r\ndata: a\rdata:b\r\n\r\nid: 9\ndata\n\n";
  std::vector<sse_event> evs;
  for (char c : stream)
    CAF_CHECK(
        parser.feed(&c, 1, [&](const sse_event& ev) { evs.push_back(ev); }));
  CAF_REQUIRE_EQUAL(evs.size(), 2u);
  CAF_CHECK_EQUAL(evs[0].type, "dropped");
  CAF_CHECK_EQUAL(evs[0].data, "a\nb");
  CAF_CHECK_EQUAL(evs[0].id, "");
  CAF_CHECK_EQUAL(evs[1].type, "message");
  CAF_CHECK_EQUAL(evs[1].data, "");
  CAF_CHECK_EQUAL(evs[1].id, "9");
}

CAF_TEST(sse without data dispatches nothing and reset drops a partial event) {
  sse_parser parser;
  CAF_CHECK(events_of(parser, "id: 5\n\nevent: x\n\n").empty());
  CAF_CHECK_EQUAL(parser.last_event_id(), "5");
  CAF_CHECK(events_of(parser, "data: half").empty());
  parser.reset();
  auto evs = events_of(parser, "data: whole\n\n");
  CAF_REQUIRE_EQUAL(evs.size(), 1u);
  CAF_CHECK_EQUAL(evs[0].data, "whole");
  CAF_CHECK_EQUAL(evs[0].id, "5");
}

CAF_TEST(sse lines and data are bounded) {
  sse_parser parser{16};
  std::string ok = "data: 0123456789\n";
  CAF_CHECK(parser.feed(ok.data(), ok.size(), [](const sse_event&) {}));
  std::string more = "data: 0123456789\n";
  CAF_CHECK(!parser.feed(more.data(), more.size(), [](const sse_event&) {}));
  sse_parser lines{16};
  std::string longer(17, 'x');
  CAF_CHECK(!lines.feed(longer.data(), longer.size(), [](const sse_event&) {}));
  // Once over the bound, the parser stays stopped.
  CAF_CHECK(!lines.feed("\n", 1, [](const sse_event&) {}));
}

CAF_TEST(line_reader bounds lines and counts them) {
  std::string text = "a\r\n\nbbbbbbbbbbbbbbbbbbbbbbbb\nc";
  size_t pos = 0;
  line_reader reader{
      [&](char* buf, size_t size) {
        // Two bytes at a time, to cross every boundary.
        size_t n = std::min<size_t>({size, 2, text.size() - pos});
        text.copy(buf, n, pos);
        pos += n;
        return n;
      },
      8};
  std::string line;
  bool too_long = false;
  CAF_REQUIRE(reader.next(line, too_long));
  CAF_CHECK_EQUAL(line, "a");
  CAF_REQUIRE(reader.next(line, too_long));
  CAF_CHECK_EQUAL(line, "");
  CAF_REQUIRE(reader.next(line, too_long));
  CAF_CHECK(too_long);
  CAF_CHECK_EQUAL(reader.line_number(), 3u);
  CAF_REQUIRE(reader.next(line, too_long));
  CAF_CHECK(!too_long);
  CAF_CHECK_EQUAL(line, "c");
  CAF_CHECK_EQUAL(reader.line_number(), 4u);
  CAF_CHECK(!reader.next(line, too_long));
}

CAF_TEST(batch errors point at their entry) {
  auto ref = parse_batch_error("tasks[12].params.a must be a number");
  CAF_CHECK_EQUAL(ref.index.value_or(0), 12u);
  CAF_CHECK_EQUAL(ref.message, "params.a must be a number");
  CAF_CHECK(!parse_batch_error("tasks must not be empty").index);
  CAF_CHECK(!parse_batch_error("tasks[x].a").index);
  CAF_CHECK_EQUAL(conflict_key("idempotency key 'file-ab' was used before with "
                               "a different body")
                      .value_or(""),
                  "file-ab");
  CAF_CHECK(!conflict_key("cancel of a finished task"));
  CAF_CHECK_EQUAL(parse_retry_after(" 3 ").value_or(-1), 3);
  CAF_CHECK(!parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
}

CAF_TEST(exit codes) {
  CAF_CHECK_EQUAL(exit_code_for_http_status(200), 0);
  CAF_CHECK_EQUAL(exit_code_for_http_status(202), 0);
  CAF_CHECK_EQUAL(exit_code_for_http_status(404), 4);
  CAF_CHECK_EQUAL(exit_code_for_http_status(503), 4);
  CAF_CHECK_EQUAL(exit_code_for_task_status("COMPLETED"), 0);
  CAF_CHECK_EQUAL(exit_code_for_task_status("FAILED"), 1);
  CAF_CHECK_EQUAL(exit_code_for_task_status("CANCELLED"), 1);
  CAF_CHECK_EQUAL(exit_code_for_task_status("PENDING"), 1);
  CAF_CHECK(is_terminal_status("CANCELLED"));
  CAF_CHECK(!is_terminal_status("PROCESSING"));
  CAF_CHECK_EQUAL(api_error_text(404, "{\"error\":{\"code\":\"not_found\","
                                      "\"message\":\"no such task\"}}"),
                  "not_found: no such task (HTTP 404)");
  CAF_CHECK_EQUAL(api_error_text(502, "<html>\nbad gateway"),
                  "HTTP 502: <html> bad gateway");
}
