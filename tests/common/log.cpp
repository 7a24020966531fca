// Tests of the log line formats: JSON (the default) and text for people,
// whose escaping keeps every value on its own line.
#define CAF_SUITE common.log

#include "common/log.hpp"

#include "tests/fixture.hpp"

#include <string>

using namespace tasker;
using log::format;
using log::format_line;

namespace {

constexpr int64_t t0 = 1796164800123; // 2026-12-01T22:40:00.123Z

std::string text(const std::string& message, const nlohmann::json& fields,
                 const char* level = "info") {
  return format_line(format::text, t0, level, "gateway", message, fields);
}

/// The text line's fields: what follows "gateway: listening ".
std::string field(const nlohmann::json& value) {
  auto line = text("m", {{"k", value}});
  auto prefix = std::string{"2026-12-01T22:40:00.123Z INFO  gateway: m k="};
  CAF_REQUIRE_EQUAL(line.compare(0, prefix.size(), prefix), 0);
  CAF_REQUIRE_EQUAL(line.back(), '\n');
  return line.substr(prefix.size(), line.size() - prefix.size() - 1);
}

} // namespace

CAF_TEST(json lines are one object with the fields) {
  auto line = format_line(format::json, t0, "warning", "gateway", "listening",
                          {{"host", "127.0.0.1"}, {"port", 8080}});
  CAF_CHECK_EQUAL(line,
                  "{\"timestamp\":\"2026-12-01T22:40:00.123Z\",\"level\":"
                  "\"warning\",\"component\":\"gateway\",\"message\":"
                  "\"listening\",\"host\":\"127.0.0.1\",\"port\":8080}\n");
  auto hostile = format_line(format::json, t0, "info", "gateway", "a\nb",
                             {{"k\n", "x\r\ny"}});
  CAF_CHECK_EQUAL(hostile.find('\n'), hostile.size() - 1);
  auto parsed = nlohmann::json::parse(hostile);
  CAF_CHECK_EQUAL(parsed["message"], "a\nb");
  CAF_CHECK_EQUAL(parsed["k\n"], "x\r\ny");
}

CAF_TEST(text lines read as time level component message and fields) {
  CAF_CHECK_EQUAL(text("listening", {{"host", "127.0.0.1"}, {"port", 8080}}),
                  "2026-12-01T22:40:00.123Z INFO  gateway: listening "
                  "host=127.0.0.1 port=8080\n");
  CAF_CHECK_EQUAL(text("stopped", {}),
                  "2026-12-01T22:40:00.123Z INFO  gateway: stopped\n");
  CAF_CHECK_EQUAL(text("x", {}, "debug").substr(25, 6), "DEBUG ");
  CAF_CHECK_EQUAL(text("x", {}, "warning").substr(25, 6), "WARN  ");
  CAF_CHECK_EQUAL(text("x", {}, "error").substr(25, 6), "ERROR ");
  // Fields come in key order, as in the JSON object.
  CAF_CHECK_EQUAL(text("m", {{"b", 1}, {"a", 2}}).substr(40), "m a=2 b=1\n");
}

CAF_TEST(text values are bare when plain and quoted otherwise) {
  CAF_CHECK_EQUAL(field("abc-12_3.4/x:y@z"), "abc-12_3.4/x:y@z");
  CAF_CHECK_EQUAL(field("überall→"), "überall→");
  CAF_CHECK_EQUAL(field(""), "\"\"");
  CAF_CHECK_EQUAL(field("two words"), "\"two words\"");
  CAF_CHECK_EQUAL(field("a=b"), "\"a=b\"");
  CAF_CHECK_EQUAL(field("say \"hi\""), "\"say \\\"hi\\\"\"");
  CAF_CHECK_EQUAL(field("C:\\dir"), "\"C:\\\\dir\"");
  CAF_CHECK_EQUAL(field(42), "42");
  CAF_CHECK_EQUAL(field(-1.5), "-1.5");
  CAF_CHECK_EQUAL(field(true), "true");
  CAF_CHECK_EQUAL(field(nullptr), "null");
  CAF_CHECK_EQUAL(field(nlohmann::json::array({"sum", "sleep"})),
                  "[\"sum\",\"sleep\"]");
  CAF_CHECK_EQUAL(field({{"a", 1}}), "{\"a\":1}");
  CAF_CHECK_EQUAL(field(nlohmann::json::array({"a b"})),
                  "\"[\\\"a b\\\"]\"");
}

CAF_TEST(text keys are quoted when not plain) {
  CAF_CHECK_EQUAL(text("m", {{"a key", 1}}).substr(40), "m \"a key\"=1\n");
  CAF_CHECK_EQUAL(text("m", {{"k=v", 1}}).substr(40), "m \"k=v\"=1\n");
}

CAF_TEST(text escapes what could break or forge a line) {
  // A value that tries to end the line and write one of its own.
  auto forged = "x\n2026-12-01T22:40:00.000Z ERROR gateway: forged";
  auto line = text("m", {{"k", forged}});
  CAF_CHECK_EQUAL(line.find('\n'), line.size() - 1);
  CAF_CHECK_EQUAL(field(forged),
                  "\"x\\n2026-12-01T22:40:00.000Z ERROR gateway: forged\"");
  CAF_CHECK_EQUAL(field("a\rb"), "\"a\\rb\"");
  CAF_CHECK_EQUAL(field("a\tb"), "\"a\\tb\"");
  CAF_CHECK_EQUAL(field(std::string{"a\0b", 3}), "\"a\\x00b\"");
  CAF_CHECK_EQUAL(field("\x1b[31mred"), "\"\\x1b[31mred\"");
  CAF_CHECK_EQUAL(field("del\x7f"), "\"del\\x7f\"");
  // C1 controls (NEL), the Unicode line and paragraph separators, and
  // bidirectional overrides.
  CAF_CHECK_EQUAL(field("a\xc2\x85z"), "\"a\\u0085z\"");
  CAF_CHECK_EQUAL(field("a\xe2\x80\xa8z"), "\"a\\u2028z\"");
  CAF_CHECK_EQUAL(field("a\xe2\x80\xa9z"), "\"a\\u2029z\"");
  CAF_CHECK_EQUAL(field("a\xe2\x80\xae" "z"), "\"a\\u202ez\"");
  CAF_CHECK_EQUAL(field("a\xe2\x81\xa6z"), "\"a\\u2066z\"");
  // Bytes that are not UTF-8: stray, truncated, overlong, a surrogate.
  CAF_CHECK_EQUAL(field("a\x80z"), "\"a\\x80z\"");
  CAF_CHECK_EQUAL(field("a\xe2\x80"), "\"a\\xe2\\x80\"");
  CAF_CHECK_EQUAL(field("a\xc0\xaf"), "\"a\\xc0\\xaf\"");
  CAF_CHECK_EQUAL(field("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"");
  CAF_CHECK_EQUAL(field("\xf4\x90\x80\x80"), "\"\\xf4\\x90\\x80\\x80\"");
  CAF_CHECK_EQUAL(field("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
  // Inside arrays and objects, JSON escapes C0 itself; the rest is quoted.
  CAF_CHECK_EQUAL(field(nlohmann::json::array({"a\nb"})), "[\"a\\nb\"]");
  CAF_CHECK_EQUAL(field(nlohmann::json::array({"a\xe2\x80\xa8z"})),
                  "\"[\\\"a\\u2028z\\\"]\"");
}

CAF_TEST(text escapes the message and keys too) {
  auto line = text("bad\nERROR forged \"q\" \\", {{"k\ney", "v"}});
  CAF_CHECK_EQUAL(line, "2026-12-01T22:40:00.123Z INFO  gateway: "
                        "bad\\nERROR forged \"q\" \\\\ \"k\\ney\"=v\n");
  auto ctl = format_line(format::text, t0, "info", "a\x1b" "b", "m", {});
  CAF_CHECK_EQUAL(ctl, "2026-12-01T22:40:00.123Z INFO  a\\x1bb: m\n");
}

CAF_TEST(set_format takes json and text only) {
  CAF_CHECK(log::set_format("text"));
  CAF_CHECK(log::set_format("json"));
  CAF_CHECK(!log::set_format("xml"));
  CAF_CHECK(!log::set_format("JSON"));
}
