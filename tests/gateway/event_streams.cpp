// Tests of the gateway's event streams: live batches, catch-up pages, the
// hand-over between them, filters, and the drop of a client that does not
// read. Writes go to a fake engine.
#define CAF_SUITE gateway.event_streams

#include "gateway/event_streams.hpp"

#include <caf/test/unit_test.hpp>

#include <map>

using namespace tasker;

namespace {

/// An event of task `task` with `seq`, written by transaction `tx`.
task_event_record ev(uint64_t tx, char task, int32_t seq,
                     task_status st = task_status::pending,
                     std::string type = "sum") {
  task_event_record e;
  e.tx = tx;
  e.task_id = std::string(8, task) + "-0000-4000-8000-000000000000";
  e.seq = seq;
  e.type = std::move(type);
  e.status = st;
  e.attempt = st == task_status::pending ? 0 : 1;
  e.at = 1'700'000'000'000;
  return e;
}

struct fixture {
  std::map<conn_id, std::string> written;
  std::map<conn_id, size_t> unsent;
  std::map<conn_id, bool> gone;
  /// Clients that read nothing: what they are sent stays unsent.
  std::map<conn_id, bool> stuck;
  std::vector<conn_id> closed;
  std::vector<std::pair<uint64_t, event_position>> pages;
  std::vector<bool> tails;
  event_streams streams{
    1000, event_streams::hooks{
            [this](const ticket& t, std::string_view bytes)
              -> std::optional<size_t> {
              if (gone[t.conn])
                return std::nullopt;
              written[t.conn].append(bytes.data(), bytes.size());
              if (stuck[t.conn])
                unsent[t.conn] += bytes.size();
              return unsent[t.conn];
            },
            [this](const ticket& t) { closed.push_back(t.conn); },
            [this](uint64_t id, const event_position& after) {
              pages.emplace_back(id, after);
            },
            [this](bool on) { tails.push_back(on); }}};

  static ticket at(conn_id conn) {
    return ticket{conn, 1, 0, true, false, "/v1/events"};
  }

  /// The ids of the events written on `conn`, in order (`with_starts`:
  /// also the ids without data that say where a stream starts).
  std::vector<std::string> ids(conn_id conn, bool with_starts = false) {
    std::vector<std::string> out;
    auto& text = written[conn];
    for (size_t i = text.find("id: "); i != std::string::npos;
         i = text.find("id: ", i + 1)) {
      auto eol = text.find('\n', i);
      if (with_starts || text.compare(eol + 1, 6, "data: ") == 0)
        out.push_back(text.substr(i + 4, eol - i - 4));
    }
    return out;
  }
};

std::string id(uint64_t tx, char task, int32_t seq) {
  return ev(tx, task, seq).position().str();
}

using strings = std::vector<std::string>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(event_streams_tests, fixture)

CAF_TEST(a live stream starts at the head and gets what follows) {
  streams.add(at(1), {}, std::nullopt);
  CAF_CHECK_EQUAL(tails, std::vector<bool>{true});
  streams.on_head(ev(5, 'a', 0).position());
  streams.on_live(ev(5, 'a', 0).position(), ev(7, 'b', 1).position(),
                  {ev(6, 'b', 0), ev(7, 'b', 1, task_status::processing)});
  CAF_CHECK_EQUAL(ids(1), (strings{id(6, 'b', 0), id(7, 'b', 1)}));
  CAF_CHECK(written[1].find("\"kind\":\"started\"") != std::string::npos);
  CAF_CHECK(pages.empty());
  CAF_CHECK_EQUAL(streams.sent(), 2u);
  // It was told where it started.
  auto all = ids(1, true);
  CAF_REQUIRE(!all.empty());
  CAF_CHECK_EQUAL(all.front(), id(5, 'a', 0));
}

CAF_TEST(a stream opened after an idle time starts at the fresh head) {
  streams.add(at(1), {}, std::nullopt);
  streams.on_head(ev(5, 'a', 0).position());
  streams.on_live(ev(5, 'a', 0).position(), ev(6, 'a', 1).position(),
                  {ev(6, 'a', 1)});
  gone[1] = true;
  streams.keep_alive(); // (finds the client gone: the hub idles)
  CAF_CHECK_EQUAL(tails, (std::vector<bool>{true, false}));
  // Much later: the head the gateway knew is old; the stream waits for the
  // hub's fresh one, and reads nothing from before it.
  streams.add(at(2), {}, std::nullopt);
  CAF_CHECK(ids(2, true).empty());
  streams.on_head(ev(900, 'z', 0).position());
  CAF_CHECK(pages.empty());
  CAF_CHECK_EQUAL(ids(2, true), strings{id(900, 'z', 0)});
  streams.on_live(ev(900, 'z', 0).position(), ev(901, 'y', 0).position(),
                  {ev(901, 'y', 0)});
  CAF_CHECK_EQUAL(ids(2), strings{id(901, 'y', 0)});
}

CAF_TEST(a filter passes only what it names) {
  event_filter f;
  f.kinds = {"completed"};
  f.types = {"sum"};
  streams.add(at(1), f, std::nullopt);
  streams.on_head({});
  streams.on_live({}, ev(3, 'c', 2).position(),
                  {ev(1, 'a', 0), ev(2, 'a', 1, task_status::completed),
                   ev(3, 'c', 2, task_status::completed, "fail")});
  CAF_CHECK_EQUAL(ids(1), strings{id(2, 'a', 1)});
}

CAF_TEST(a resumed stream catches up by pages and then goes live) {
  streams.add(at(1), {}, ev(2, 'a', 0).position());
  streams.on_head(ev(9, 'z', 0).position());
  CAF_REQUIRE_EQUAL(pages.size(), 1u);
  CAF_CHECK_EQUAL(pages[0].second, ev(2, 'a', 0).position());
  // A live batch while it catches up is not sent: the pages cover it.
  streams.on_live(ev(9, 'z', 0).position(), ev(10, 'y', 0).position(),
                  {ev(10, 'y', 0)});
  CAF_CHECK(ids(1).empty());
  // The first page (the hub's head was 10 by then): not there yet.
  streams.on_page(pages[0].first, {ev(3, 'a', 1), ev(4, 'b', 0)},
                  ev(4, 'b', 0).position());
  CAF_REQUIRE_EQUAL(pages.size(), 2u);
  CAF_CHECK_EQUAL(pages[1].second, ev(4, 'b', 0).position());
  streams.on_page(pages[1].first, {ev(9, 'z', 0), ev(10, 'y', 0)},
                  ev(10, 'y', 0).position());
  CAF_CHECK_EQUAL(pages.size(), 2u);
  // Live now: the next batch is sent, nothing twice.
  streams.on_live(ev(10, 'y', 0).position(), ev(11, 'y', 1).position(),
                  {ev(11, 'y', 1)});
  CAF_CHECK_EQUAL(ids(1), (strings{id(3, 'a', 1), id(4, 'b', 0), id(9, 'z', 0),
                                   id(10, 'y', 0), id(11, 'y', 1)}));
}

CAF_TEST(a stream ahead of the head skips what it has seen) {
  streams.add(at(1), {}, ev(8, 'a', 2).position());
  streams.on_head(ev(5, 'a', 0).position());
  CAF_REQUIRE_EQUAL(pages.size(), 1u);
  streams.on_page(pages[0].first, {}, ev(8, 'a', 2).position());
  streams.on_live(ev(5, 'a', 0).position(), ev(9, 'b', 0).position(),
                  {ev(7, 'a', 1), ev(8, 'a', 2), ev(9, 'b', 0)});
  CAF_CHECK_EQUAL(ids(1), strings{id(9, 'b', 0)});
}

CAF_TEST(a gap in the live batches is read from the database) {
  streams.add(at(1), {}, std::nullopt);
  streams.on_head(ev(5, 'a', 0).position());
  // The hub restarted further on: the stream asks for what it missed.
  streams.on_head(ev(8, 'a', 0).position());
  CAF_REQUIRE_EQUAL(pages.size(), 1u);
  CAF_CHECK_EQUAL(pages[0].second, ev(5, 'a', 0).position());
}

CAF_TEST(a client that does not read is dropped with a final event) {
  stuck[1] = true;
  streams.add(at(1), {}, std::nullopt);
  streams.add(at(2), {}, std::nullopt);
  streams.on_head({});
  std::vector<task_event_record> batch;
  for (int i = 0; i < 5; ++i)
    batch.push_back(ev(static_cast<uint64_t>(i + 1), 'a', i));
  streams.on_live({}, batch.back().position(), batch);
  CAF_CHECK_EQUAL(streams.size(), 1u);
  CAF_CHECK_EQUAL(streams.dropped(), 1u);
  CAF_CHECK_EQUAL(closed, std::vector<conn_id>{1});
  CAF_CHECK(written[1].find("event: dropped\ndata: {") != std::string::npos);
  CAF_CHECK(written[1].find("\"last_event_id\":\"" + id(5, 'a', 4))
            != std::string::npos);
  // The client that reads got all five; once it leaves, its stream goes.
  CAF_CHECK_EQUAL(ids(2).size(), 5u);
  gone[2] = true;
  streams.keep_alive();
  CAF_CHECK_EQUAL(streams.size(), 0u);
  CAF_CHECK_EQUAL(tails, (std::vector<bool>{true, false}));
}

CAF_TEST(a catch-up page waits for room) {
  streams.on_head(ev(9, 'z', 0).position());
  unsent[1] = 600;
  streams.add(at(1), {}, ev(1, 'a', 0).position());
  CAF_CHECK(pages.empty());
  unsent[1] = 0;
  streams.tick();
  CAF_CHECK_EQUAL(pages.size(), 1u);
  streams.tick();
  CAF_CHECK_EQUAL(pages.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(event positions parse and order as the database orders them) {
  event_position p;
  CAF_REQUIRE(event_position::parse(
    "18279-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-0", p));
  CAF_CHECK_EQUAL(p.tx, 18279u);
  CAF_CHECK_EQUAL(p.task_id, "9c9a58d3-f525-4f83-a10e-2b3929a9ef08");
  CAF_CHECK_EQUAL(p.seq, 0);
  CAF_CHECK_EQUAL(p.str(), "18279-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-0");
  CAF_CHECK(event_position::parse(event_position{}.str(), p));
  CAF_CHECK_EQUAL(p, event_position{});
  for (auto bad : {"", "-", "1-2-3", "x-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-0",
                   "1-9C9A58D3-F525-4F83-A10E-2B3929A9EF08-0",
                   "1-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-",
                   "1-9c9a58d3-f525-4f83-a10e-2b3929a9ef08--2",
                   "1-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-99999999999",
                   "1-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-1x",
                   "99999999999999999999-9c9a58d3-f525-4f83-a10e-2b3929a9ef08-1",
                   "1-9c9a58d3+f525-4f83-a10e-2b3929a9ef08-1"}) {
    CAF_MESSAGE(bad);
    CAF_CHECK(!event_position::parse(bad, p));
  }
  auto a = event_position{2, "0a", 5}, b = event_position{2, "0b", 0},
       c = event_position{3, "00", -1};
  CAF_CHECK(a < b);
  CAF_CHECK(b < c);
  CAF_CHECK(!(c < a));
}
