#include "persistence/db_monitor.hpp"

#include <memory>

#include <poll.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <libpq-fe.h>

#include "common/log.hpp"
#include "messages/atoms.hpp"

namespace tasker {

namespace {

using pq_connection = std::unique_ptr<PGconn, decltype(&PQfinish)>;

/// Pings the database with `SELECT 1`, connecting first when `conn` is
/// empty, and never waits past `timeout`. Returns why the ping failed (and
/// drops the connection), or an empty string.
std::string ping(pq_connection& conn, const std::string& url,
                 std::chrono::milliseconds timeout) {
  using std::chrono::steady_clock;
  auto deadline = steady_clock::now() + timeout;
  auto fail = [&conn](std::string why) {
    while (!why.empty() && why.back() == '\n')
      why.pop_back();
    conn.reset();
    return why.empty() ? std::string{"no connection"} : why;
  };
  // Waits until the socket can be read (or written); false at the deadline.
  auto await = [&](bool write) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - steady_clock::now());
    pollfd p{PQsocket(conn.get()), static_cast<short>(write ? POLLOUT : POLLIN),
             0};
    return left.count() > 0
           && ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  };
  auto too_slow = "no answer within " + std::to_string(timeout.count()) + " ms";
  if (!conn) {
    conn.reset(PQconnectStart(url.c_str()));
    if (!conn || PQstatus(conn.get()) == CONNECTION_BAD)
      return fail(conn ? PQerrorMessage(conn.get()) : "out of memory");
    for (auto step = PGRES_POLLING_WRITING; step != PGRES_POLLING_OK;
         step = PQconnectPoll(conn.get())) {
      if (step == PGRES_POLLING_FAILED)
        return fail(PQerrorMessage(conn.get()));
      if (!await(step == PGRES_POLLING_WRITING))
        return fail(too_slow);
    }
    // Sending never blocks either (PQflush below).
    if (PQsetnonblocking(conn.get(), 1) != 0)
      return fail(PQerrorMessage(conn.get()));
  }
  if (PQsendQuery(conn.get(), "SELECT 1") == 0)
    return fail(PQerrorMessage(conn.get()));
  for (int left; (left = PQflush(conn.get())) != 0;)
    if (left < 0 || !await(true))
      return fail(left < 0 ? PQerrorMessage(conn.get()) : too_slow);
  // Each PQgetResult only once the input holds it: it would block otherwise
  // (up to the terminating null, which needs ReadyForQuery).
  std::string why;
  for (;;) {
    while (PQisBusy(conn.get()) != 0) {
      if (!await(false))
        return fail(too_slow);
      if (PQconsumeInput(conn.get()) == 0)
        return fail(PQerrorMessage(conn.get()));
    }
    auto* res = PQgetResult(conn.get());
    if (res == nullptr)
      break;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
      why = PQresultErrorMessage(res);
    PQclear(res);
  }
  return why.empty() ? why : fail(why);
}

struct db_monitor_state {
  static inline constexpr const char* name = "db_monitor";

  pq_connection conn{nullptr, &PQfinish};
  bool was_up = true;
};

caf::behavior db_monitor(caf::stateful_actor<db_monitor_state>* self,
                         std::string url, telemetry_ptr tel,
                         std::chrono::milliseconds interval,
                         std::chrono::milliseconds timeout) {
  self->send(self, tick_atom_v);
  return {
    [=](tick_atom) {
      auto& st = self->state;
      auto why = ping(st.conn, url, timeout);
      auto up = why.empty();
      tel->state.db_up = up;
      if (up != st.was_up) {
        if (up)
          log::info(st.name, "database reachable again");
        else
          log::warning(st.name, "database unreachable", {{"error", why}});
        st.was_up = up;
      }
      self->delayed_send(self, interval, tick_atom_v);
    },
  };
}

} // namespace

caf::actor spawn_db_monitor(caf::actor_system& sys, std::string url,
                            telemetry_ptr tel,
                            std::chrono::milliseconds interval,
                            std::chrono::milliseconds timeout) {
  // Detached: a ping waits on its socket for up to `timeout`.
  return sys.spawn<caf::detached>(db_monitor, std::move(url), std::move(tel),
                                  interval, timeout);
}

} // namespace tasker
