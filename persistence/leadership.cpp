#include "persistence/leadership.hpp"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "persistence/database.hpp"

namespace tasker {

namespace {

constexpr const char* component = "leadership";

/// Session lock of the active coordinator (free once its session ends).
constexpr int64_t leader_lock = 7355609;
/// Taken shared by every fenced write, exclusively by a takeover.
constexpr int64_t fence_lock = 7355610;

std::atomic<int64_t> current_fencing_epoch{0};

using steady = std::chrono::steady_clock;

/// The rows of pg_locks that hold advisory lock `key` in this database,
/// other than this session's.
std::string lock_holders(int64_t key) {
  return "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND database = "
         "(SELECT oid FROM pg_database WHERE datname = current_database()) "
         "AND classid = 0 AND objid = "
         + std::to_string(key)
         + " AND objsubid = 1 AND granted AND pid <> pg_backend_pid()";
}

/// A timestamp column in ms since the epoch; NULL when it is not finite.
std::string ms_of(const std::string& column) {
  return "CASE WHEN isfinite(" + column + ") THEN (extract(epoch FROM "
         + column + ") * 1000)::bigint END";
}

int64_t ms_or_zero(const pqxx::field& f) {
  return f.is_null() ? 0 : f.as<int64_t>();
}

std::string text_or_empty(const pqxx::field& f) {
  return f.is_null() ? std::string{} : f.as<std::string>();
}

const char* role_name(leadership_view::role r) {
  return r == leadership_view::role::active ? "active" : "standby";
}

} // namespace

void set_fencing_epoch(int64_t epoch) {
  current_fencing_epoch = epoch;
}

int64_t fencing_epoch() {
  return current_fencing_epoch.load();
}

leadership::leadership(leadership_settings settings, leadership_view_ptr view)
  : settings_(std::move(settings)), view_(std::move(view)) {
  std::lock_guard<std::mutex> guard{view_->mtx_};
  view_->snap_.self_id = settings_.id;
  view_->snap_.self_name = settings_.name;
  view_->snap_.lease_ms = settings_.lease.count();
}

leadership::~leadership() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void leadership::compete() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    competing_ = true;
  }
  cv_.notify_all();
  if (!thread_.joinable())
    thread_ = std::thread{[this] { run(); }};
}

leadership_view::role
leadership::wait_change(leadership_view::role from,
                        std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard{mtx_};
  cv_.wait_for(guard, timeout,
               [&] { return view_->current_role() != from || quit_; });
  return view_->current_role();
}

void leadership::resign() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    resign_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void leadership::set_addresses(std::string http, std::string cluster) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!http.empty())
    settings_.http_address = std::move(http);
  if (!cluster.empty())
    settings_.cluster_address = std::move(cluster);
  // (written at the next renewal)
  upsert_due_ = true;
}

void leadership::run() {
  // Tighter than the other connections' bounds (`bounded_url`): a renewal
  // must not wait longer than the lease.
  auto url = with_param(with_param(settings_.db_url, "connect_timeout", "2"),
                        "tcp_user_timeout", "2000");
  std::unique_ptr<pqxx::connection> conn;
  bool holds_lock = false;
  int64_t my_epoch = 0;
  // When the last renewal that succeeded was sent.
  steady::time_point renewed{};
  steady::time_point upserted{};
  steady::time_point cleaned{};
  std::string last_error;
  std::string list_error;
  auto started_ms = now_ms();

  auto is_active = [&] { return view_->active(); };
  auto upsert_due = [&] {
    std::lock_guard<std::mutex> guard{mtx_};
    return upsert_due_;
  };
  auto depose = [&](const std::string& why) {
    log::warning(component, "this coordinator stands down: " + why,
                 {{"epoch", my_epoch}, {"coordinator", settings_.name}});
    // Closing the connection lets the lock go for whoever takes over.
    conn.reset();
    holds_lock = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      competing_ = false;
      view_->role_ = leadership_view::role::standby;
      view_->lease_current_ = false;
      view_->stepdowns_ += 1;
      std::lock_guard<std::mutex> vguard{view_->mtx_};
      view_->snap_.changed_at = now_ms();
    }
    cv_.notify_all();
  };
  auto connect = [&] {
    conn = std::make_unique<pqxx::connection>(url);
    // (longer than the takeover's lock_timeout, so that a lock wait ends
    // as a lock timeout)
    conn->set_variable("statement_timeout",
                       std::to_string(std::max<int64_t>(
                         settings_.lease.count(), 1500)));
    holds_lock = false;
  };
  auto try_lock = [&] {
    pqxx::nontransaction tx{*conn};
    holds_lock = tx.exec1("SELECT pg_try_advisory_lock("
                          + std::to_string(leader_lock) + ")")[0]
                   .as<bool>();
    return holds_lock;
  };
  auto upsert_self = [&](const char* role, int64_t epoch) {
    std::string cluster, http;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      cluster = settings_.cluster_address;
      http = settings_.http_address;
      upsert_due_ = false;
    }
    pqxx::nontransaction tx{*conn};
    tx.exec_params(
      "INSERT INTO coordinators (id, name, http_address, cluster_address, "
      "role, epoch, version, started_at, renewed_at) VALUES ($1, $2, $3, $4, "
      "$5, $6, $7, to_timestamp($8::double precision / 1000), "
      "clock_timestamp()) ON CONFLICT (id) DO UPDATE SET role = "
      "EXCLUDED.role, epoch = EXCLUDED.epoch, cluster_address = "
      "EXCLUDED.cluster_address, http_address = EXCLUDED.http_address, "
      "renewed_at = EXCLUDED.renewed_at",
      settings_.id, settings_.name, http, cluster, role,
      epoch, settings_.version, started_ms);
    upserted = steady::now();
  };
  // Reads the leader row and the coordinators into the view; returns the
  // age of the lease in ms (nothing: no active coordinator).
  auto look = [&]() -> std::optional<int64_t> {
    pqxx::nontransaction tx{*conn};
    auto l = tx.exec1(
      "SELECT l.epoch, l.holder, " + ms_of("l.renewed_at")
      + ", CASE WHEN isfinite(l.renewed_at) THEN (extract(epoch FROM "
        "clock_timestamp() - l.renewed_at) * 1000)::bigint END, c.name, "
        "c.http_address, c.cluster_address FROM coordinator_leader l LEFT "
        "JOIN coordinators c ON c.id = l.holder WHERE l.id = 1");
    std::optional<int64_t> age;
    if (!l[1].is_null() && !l[3].is_null())
      age = l[3].as<int64_t>();
    // The listing is for people: what it cannot read keeps the last one and
    // never stops an election.
    std::optional<std::vector<coordinator_entry>> all;
    try {
      auto rows = tx.exec_params(
        "SELECT id, name, http_address, cluster_address, role, epoch, version, "
        + ms_of("started_at") + ", " + ms_of("renewed_at")
        + ", role <> 'stopped' AND renewed_at > clock_timestamp() - $1 * "
          "interval '1 millisecond' FROM coordinators ORDER BY started_at, id "
          "LIMIT 100",
        std::max<int64_t>(settings_.lease.count(), 2000));
      all.emplace();
      for (const auto& r : rows) {
        coordinator_entry e;
        e.id = r[0].as<std::string>();
        e.name = r[1].as<std::string>();
        e.http_address = r[2].as<std::string>();
        e.cluster_address = r[3].as<std::string>();
        e.role = r[4].as<std::string>();
        e.epoch = r[5].as<int64_t>();
        e.version = r[6].as<std::string>();
        e.started_at = ms_or_zero(r[7]);
        e.renewed_at = ms_or_zero(r[8]);
        e.alive = !r[9].is_null() && r[9].as<bool>();
        all->push_back(std::move(e));
      }
      list_error.clear();
    } catch (const pqxx::sql_error& e) {
      if (list_error != e.what())
        log::warning(component, "cannot list the coordinators",
                     {{"error", e.what()}});
      list_error = e.what();
    }
    bool live = age && *age <= settings_.lease.count();
    if (!is_active())
      view_->epoch_ = l[0].as<int64_t>();
    std::lock_guard<std::mutex> guard{view_->mtx_};
    auto& s = view_->snap_;
    s.active_id = live ? text_or_empty(l[1]) : std::string{};
    s.active_name = live ? text_or_empty(l[4]) : std::string{};
    s.active_http = live ? text_or_empty(l[5]) : std::string{};
    s.active_cluster = live ? text_or_empty(l[6]) : std::string{};
    s.leader_renewed_at = ms_or_zero(l[2]);
    if (all)
      s.coordinators = std::move(*all);
    return age;
  };
  // Raises the epoch under the fence lock; ends the sessions that hold the
  // fence lock past a short wait (writes of the deposed coordinator stuck
  // in their transaction). Returns the new epoch.
  auto take_over = [&]() -> int64_t {
    for (int round = 0;; ++round) {
      try {
        pqxx::work tx{*conn};
        tx.exec("SET LOCAL lock_timeout = '500ms'");
        tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(fence_lock)
                + ")");
        auto epoch = tx.exec_params1(
                         "UPDATE coordinator_leader SET epoch = epoch + 1, "
                         "holder = $1, holder_pid = pg_backend_pid(), "
                         "renewed_at = clock_timestamp() WHERE id = 1 "
                         "RETURNING epoch",
                         settings_.id)[0]
                       .as<int64_t>();
        tx.commit();
        return epoch;
      } catch (const pqxx::sql_error& e) {
        if ((e.sqlstate() != "55P03" && e.sqlstate() != "57014")
            || round >= 20)
          throw;
        pqxx::nontransaction tx{*conn};
        auto ended = tx.exec("SELECT pg_terminate_backend(pid) FROM ("
                             + lock_holders(fence_lock) + ") h");
        log::warning(component,
                     "ended the deposed coordinator's sessions that held "
                     "writes open",
                     {{"sessions", ended.size()}});
      }
    }
  };

  for (;;) {
    bool active = is_active();
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait_for(guard, active ? settings_.renew_every : settings_.poll_every,
                   [&] { return quit_ || resign_; });
      if (quit_ && !resign_)
        break;
      if (resign_) {
        guard.unlock();
        if (active && conn) {
          try {
            pqxx::nontransaction tx{*conn};
            tx.exec_params("UPDATE coordinator_leader SET holder = NULL, "
                           "holder_pid = NULL, renewed_at = NULL WHERE id = 1 "
                           "AND epoch = $1 AND holder = $2",
                           my_epoch, settings_.id);
            tx.exec("SELECT pg_advisory_unlock_all()");
            log::info(component, "handed the leadership over",
                      {{"epoch", my_epoch}});
          } catch (const std::exception& e) {
            log::warning(component, "could not hand the leadership over; a "
                                    "standby takes over when the lease ends",
                         {{"error", e.what()}});
          }
        }
        try {
          if (conn) {
            pqxx::nontransaction tx{*conn};
            tx.exec_params("UPDATE coordinators SET role = 'stopped', "
                           "renewed_at = clock_timestamp() WHERE id = $1",
                           settings_.id);
          }
        } catch (const std::exception&) {
          // (the row ages out)
        }
        break;
      }
      if (!competing_ && !active)
        continue;
    }
    try {
      if (!conn || !conn->is_open())
        connect();
      if (active) {
        auto sent = steady::now();
        bool ours = false;
        {
          pqxx::nontransaction tx{*conn};
          ours = !tx.exec_params("UPDATE coordinator_leader SET renewed_at = "
                                 "clock_timestamp(), holder_pid = "
                                 "pg_backend_pid() WHERE id = 1 AND epoch = "
                                 "$1 AND holder = $2 RETURNING 1",
                                 my_epoch, settings_.id)
                    .empty();
        }
        if (!ours) {
          depose("another coordinator took over (the epoch moved on)");
          continue;
        }
        if (!holds_lock && !try_lock()) {
          depose("another coordinator holds the leadership lock");
          continue;
        }
        renewed = sent;
        if (steady::now() - upserted >= std::chrono::seconds(1) || upsert_due())
          upsert_self("active", my_epoch);
        if (steady::now() - cleaned >= std::chrono::minutes(1)) {
          pqxx::nontransaction tx{*conn};
          tx.exec("DELETE FROM coordinators WHERE renewed_at < "
                  "clock_timestamp() - interval '1 day'");
          cleaned = steady::now();
        }
        look();
      } else {
        if (steady::now() - upserted >= std::chrono::seconds(1) || upsert_due())
          upsert_self("standby", view_->epoch());
        auto age = look();
        if (!holds_lock && !try_lock()
            && (!age || *age > settings_.lease.count())) {
          // The active one stopped renewing (stopped, or cut off from the
          // database) but its session lives on: end it.
          // Only the recorded leader's session: another standby may hold
          // the lock in the middle of its own takeover. (After three leases
          // without a renewal, whoever holds it.)
          bool anyone = !age || *age > 3 * settings_.lease.count();
          pqxx::result ended;
          {
            pqxx::nontransaction tx{*conn};
            ended = tx.exec(
              "SELECT pg_terminate_backend(pid) FROM ("
              + lock_holders(leader_lock) + ") h"
              + (anyone ? std::string{}
                        : std::string{" WHERE pid = (SELECT holder_pid FROM "
                                      "coordinator_leader WHERE id = 1)"}));
          }
          if (!ended.empty())
            log::warning(component,
                         "the active coordinator's lease ran out; ended its "
                         "session",
                         {{"lease_age_ms", age ? *age : -1}});
          try_lock();
        }
        if (holds_lock) {
          auto sent = steady::now();
          my_epoch = take_over();
          renewed = sent;
          set_fencing_epoch(my_epoch);
          {
            std::lock_guard<std::mutex> guard{mtx_};
            view_->epoch_ = my_epoch;
            view_->lease_current_ = true;
            view_->role_ = leadership_view::role::active;
            view_->takeovers_ += 1;
            std::lock_guard<std::mutex> vguard{view_->mtx_};
            view_->snap_.changed_at = now_ms();
          }
          cv_.notify_all();
          log::info(component, "this coordinator is now the active one",
                    {{"epoch", my_epoch}, {"coordinator", settings_.name}});
          upsert_self("active", my_epoch);
          look();
        }
      }
      last_error.clear();
    } catch (const std::exception& e) {
      // Only a broken connection is dropped (and the lock with it): an SQL
      // error leaves the session, and the leadership, as they are.
      if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr
          || !conn || !conn->is_open()) {
        conn.reset();
        holds_lock = false;
      }
      if (last_error != e.what()) {
        last_error = e.what();
        log::warning(component, "leadership query failed",
                     {{"error", e.what()}, {"role", role_name(view_->current_role())}});
      }
    }
    // An active coordinator that cannot renew (its database is down, or it
    // is cut off from it) is not ready: a load balancer sends elsewhere. It
    // stands down only once it learns that another one took over: during a
    // database outage nobody can, and its tasks stay in memory meanwhile
    // (whatever it writes in the meantime is fenced by the epoch anyway).
    bool current = is_active() && steady::now() - renewed <= settings_.lease;
    if (current != view_->lease_current_.load()) {
      view_->lease_current_ = current;
      if (is_active() && !current)
        log::warning(component, "the lease could not be renewed in time; "
                                "not ready until it is",
                     {{"epoch", my_epoch}});
      else if (current && renewed != steady::time_point{})
        log::info(component, "the lease is renewed again",
                  {{"epoch", my_epoch}});
    }
    // Cut off from the database for two leases, it stands down: a standby
    // that reaches the database has taken over by now, and the worker nodes
    // this one holds move to it (during a database outage, it is elected
    // again once the database is back).
    if (is_active() && steady::now() - renewed > 2 * settings_.lease)
      depose("the lease could not be renewed for two leases");
  }
}

} // namespace tasker
