// Tests of what the client prints for people: tables, tasks, events and the
// progress bar.
#define CAF_SUITE cli.output

#include "cli/output.hpp"

#include "tests/fixture.hpp"

#include <string>

using namespace tasker::cli;
using nlohmann::json;

CAF_TEST(control characters are escaped) {
  CAF_CHECK_EQUAL(printable("a\nb\tc"), "a\\nb\\tc");
  CAF_CHECK_EQUAL(printable("\x1b[31mred"), "\\x1b[31mred");
  CAF_CHECK_EQUAL(printable("\xc2\x9b"
                            "2J"),
                  "\\x9b2J");
  CAF_CHECK_EQUAL(printable("caf\xc3\xa9"), "caf\xc3\xa9");
  CAF_CHECK_EQUAL(cell_text(json(nullptr)), "-");
  CAF_CHECK_EQUAL(cell_text(json("x")), "x");
  CAF_CHECK_EQUAL(cell_text(json::parse("{\"a\":[1]}")), "{\"a\":[1]}");
}

CAF_TEST(tables align columns by characters) {
  table t{{"ID", "STATUS"}};
  t.add({"caf\xc3\xa9", "OK"});
  t.add({"a", "FAILED"});
  CAF_CHECK_EQUAL(t.str(), "ID    STATUS\n"
                           "caf\xc3\xa9  OK\n"
                           "a     FAILED\n");
  CAF_CHECK_EQUAL(truncate("abcdefgh", 5), "ab...");
  CAF_CHECK_EQUAL(truncate("abc", 5), "abc");
  CAF_CHECK_EQUAL(display_width("\xc3\xa9\xc3\xa9"), 2u);
}

CAF_TEST(tasks print as key value lines without nulls) {
  auto task = json::parse(R"({"id": "x", "type": "sum", "status": "COMPLETED",
                              "result": {"sum": 3}, "error": null,
                              "attempts": 1, "extra": true})");
  CAF_CHECK_EQUAL(render_task(task), "id:       x\n"
                                     "type:     sum\n"
                                     "status:   COMPLETED\n"
                                     "result:   {\"sum\":3}\n"
                                     "attempts: 1\n"
                                     "extra:    true\n");
}

CAF_TEST(events print as one line) {
  auto ev = json::parse(R"({"at": "T", "kind": "failed", "status": "FAILED",
                            "type": "fail", "task_id": "id", "attempt": 1,
                            "worker_id": null, "error": "boom\n"})");
  CAF_CHECK_EQUAL(render_event_line(ev),
                  "T  failed           FAILED      fail  id  attempt=1  "
                  "error=boom\\n");
}

CAF_TEST(the progress line shows count share rate and time left) {
  auto line = render_progress(50, 200, 2.0, 80);
  CAF_MESSAGE(line);
  CAF_CHECK_NOT_EQUAL(line.find("50/200"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(line.find(" 25%"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(line.find("25 tasks/s"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(line.find("ETA 6s"), std::string::npos);
  CAF_CHECK_EQUAL(line.front(), '[');
  CAF_CHECK(line.size() <= 80);
  CAF_CHECK_EQUAL(render_progress(10, 0, 1.0, 80), "10 tasks 10 tasks/s");
  CAF_CHECK(render_progress(50, 200, 2.0, 30).size() <= 30);
  CAF_CHECK_EQUAL(human_duration(185), "3m05s");
  CAF_CHECK_EQUAL(human_duration(7800), "2h10m");
}
