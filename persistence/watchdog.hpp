#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/telemetry.hpp"

namespace tasker {

/// Watches the database while nothing else talks to it: pings it on its own
/// connection every `interval` and sets `health::db_up`. A ping that does not
/// answer within `timeout` (a stopped or unreachable server) counts as down
/// at once; the stuck ping is left to finish on its own thread. A failed
/// ping drops the connection; the next one connects anew.
class db_watchdog {
public:
  db_watchdog(std::string url, telemetry_ptr tel,
              std::chrono::milliseconds interval,
              std::chrono::milliseconds timeout);
  ~db_watchdog();

  db_watchdog(const db_watchdog&) = delete;
  db_watchdog& operator=(const db_watchdog&) = delete;

private:
  /// What the prober thread and the watch thread share.
  struct shared;

  void watch();

  telemetry_ptr tel_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<shared> sh_;
  std::thread watcher_;
};

} // namespace tasker
