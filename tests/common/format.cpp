// Tests of the formatting helpers: RFC 3339 times and UUIDs.
#define CAF_SUITE common.format

#include "common/format.hpp"

#include "tests/fixture.hpp"

#include <set>

using namespace tasker;

CAF_TEST(format_time renders RFC 3339 UTC with milliseconds) {
  CAF_CHECK_EQUAL(format_time(0), "1970-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_time(1763805600123), "2025-11-22T10:00:00.123Z");
  CAF_CHECK_EQUAL(format_time(951782400000), "2000-02-29T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_time(-1), "1969-12-31T23:59:59.999Z");
}

CAF_TEST(parse_time reads what format_time writes) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{999},
                     int64_t{951782400000}, int64_t{1763805600123},
                     int64_t{4102444799999}}) {
    auto text = format_time(ms);
    CAF_MESSAGE(text);
    auto back = parse_time(text);
    CAF_REQUIRE(back);
    CAF_CHECK_EQUAL(*back, ms);
  }
}

CAF_TEST(parse_time applies offsets and optional fractions) {
  const int64_t t = 1763805600000; // 2025-11-22T10:00:00Z
  auto at = [](const char* str) { return parse_time(str).value_or(-1); };
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00Z"), t);
  CAF_CHECK_EQUAL(at("2025-11-22t10:00:00z"), t);
  CAF_CHECK_EQUAL(at("2025-11-22 10:00:00Z"), t);
  CAF_CHECK_EQUAL(at("2025-11-22T12:30:00+02:30"), t);
  CAF_CHECK_EQUAL(at("2025-11-22T05:00:00-05:00"), t);
  CAF_CHECK_EQUAL(at("2025-11-23T00:00:00+14:00"), t);
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00.5Z"), t + 500);
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00.05Z"), t + 50);
  CAF_CHECK_EQUAL(at("2025-11-22T10:00:00.123456789Z"), t + 123);
  CAF_CHECK_EQUAL(at("2025-11-22T11:00:00.250+01:00"), t + 250);
}

CAF_TEST(parse_time refuses malformed times) {
  for (auto bad : {"", "2025-11-22", "2025-11-22T10:00:00",
                   "2025-11-22T10:00Z", "2025-13-01T00:00:00Z",
                   "2025-00-01T00:00:00Z", "2025-11-32T00:00:00Z",
                   "2025-11-22T24:00:00Z", "2025-11-22T10:60:00Z",
                   "2025-11-22T10:00:00.Z", "2025-11-22T10:00:00+0200",
                   "2025-11-22T10:00:00+02:00x", "2025-11-22T10:00:00Zjunk",
                   "2025-11-22X10:00:00Z", "25-11-22T10:00:00Z",
                   "2025-11-22T10:00:00+24:00", "tomorrow"}) {
    CAF_MESSAGE("'" << bad << "'");
    CAF_CHECK(!parse_time(bad));
  }
}

CAF_TEST(make_uuid makes distinct version 4 UUIDs) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = make_uuid();
    CAF_REQUIRE(is_uuid(id));
    CAF_CHECK_EQUAL(id, lower(id));
    CAF_CHECK_EQUAL(id[14], '4');
    CAF_CHECK(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
    seen.insert(id);
  }
  CAF_CHECK_EQUAL(seen.size(), 1000u);
}

CAF_TEST(is_uuid accepts the canonical form in any case only) {
  CAF_CHECK(is_uuid("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"));
  CAF_CHECK(is_uuid("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"));
  for (auto bad : {"", "0f1e2d3c4b5a49788695a4b3c2d1e0f9",
                   "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f",
                   "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f90",
                   "0f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f9",
                   "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg",
                   "{0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}",
                   "0f1e2d3c--4b5a-4978-8695-a4b3c2d1e0f"}) {
    CAF_MESSAGE("'" << bad << "'");
    CAF_CHECK(!is_uuid(bad));
  }
}
