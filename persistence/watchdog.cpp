#include "persistence/watchdog.hpp"

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "persistence/database.hpp"

namespace tasker {

struct db_watchdog::shared {
  explicit shared(std::string url) : db(std::move(url)) {
    // nop
  }

  std::mutex mtx;
  std::condition_variable cv;
  bool stop = false;
  /// Pings asked for and pings answered; equal when the prober is idle.
  uint64_t asked = 0;
  uint64_t answered = 0;
  bool last_ok = false;
  std::string last_error;
  database db;
};

db_watchdog::db_watchdog(std::string url, telemetry_ptr tel,
                         std::chrono::milliseconds interval,
                         std::chrono::milliseconds timeout)
  : tel_(std::move(tel)),
    interval_(interval),
    timeout_(timeout),
    sh_(std::make_shared<shared>(std::move(url))) {
  // The prober owns the connection. It is detached: a ping to a stopped
  // server may block until the server continues, and must not hold up
  // shutdown; it keeps the shared state alive itself.
  std::thread{[sh = sh_] {
    std::unique_lock<std::mutex> guard{sh->mtx};
    for (;;) {
      sh->cv.wait(guard, [&] { return sh->stop || sh->asked > sh->answered; });
      if (sh->stop)
        return;
      guard.unlock();
      bool ok = true;
      std::string error;
      try {
        sh->db.ping();
      } catch (const std::exception& e) {
        ok = false;
        error = e.what();
        sh->db.reset();
      }
      guard.lock();
      sh->last_ok = ok;
      sh->last_error = std::move(error);
      sh->answered = sh->asked;
      sh->cv.notify_all();
    }
  }}.detach();
  watcher_ = std::thread{[this] { watch(); }};
}

db_watchdog::~db_watchdog() {
  {
    std::lock_guard<std::mutex> guard{sh_->mtx};
    sh_->stop = true;
  }
  sh_->cv.notify_all();
  watcher_.join();
}

void db_watchdog::watch() {
  auto& sh = *sh_;
  bool was_up = true;
  std::unique_lock<std::mutex> guard{sh.mtx};
  while (!sh.stop) {
    bool up = false;
    std::string why;
    if (sh.asked == sh.answered) {
      ++sh.asked;
      sh.cv.notify_all();
      auto answered = sh.cv.wait_for(guard, timeout_, [&] {
        return sh.stop || sh.answered == sh.asked;
      });
      if (sh.stop)
        break;
      up = answered && sh.last_ok;
      why = answered ? sh.last_error
                     : "no answer within " + std::to_string(timeout_.count())
                         + " ms";
    } else {
      why = "an earlier ping is still waiting for an answer";
    }
    tel_->state.db_up = up;
    if (up != was_up) {
      guard.unlock();
      if (up)
        log::info("watchdog", "database reachable again");
      else
        log::warning("watchdog", "database unreachable", {{"error", why}});
      guard.lock();
      was_up = up;
    }
    sh.cv.wait_for(guard, interval_, [&] { return sh.stop; });
  }
}

} // namespace tasker
