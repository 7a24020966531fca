#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tasker {

/// One coordinator as the `coordinators` table shows it.
struct coordinator_entry {
  std::string id;
  std::string name;
  std::string http_address;
  std::string cluster_address;
  /// active, standby or stopped, as it last said.
  std::string role;
  int64_t epoch = 0;
  std::string version;
  int64_t started_at = 0;
  int64_t renewed_at = 0;
  /// Not stopped, and renewed within the lease (at least 2 s; by the
  /// database's clock).
  bool alive = false;
};

/// What a coordinator process knows about leadership: written by the
/// leadership thread, read by the gateway and the main thread. It lives as
/// long as the process (across the active and standby phases).
class leadership_view {
public:
  enum class role : int { standby = 0, active = 1 };

  role current_role() const { return role_.load(); }
  bool active() const { return current_role() == role::active; }
  /// The epoch this process holds while active; the current one (as last
  /// read) while standing by.
  int64_t epoch() const { return epoch_.load(); }
  uint64_t takeovers() const { return takeovers_.load(); }
  uint64_t stepdowns() const { return stepdowns_.load(); }
  /// The active one: whether its last renewal is within the lease (not
  /// ready otherwise).
  bool lease_current() const { return lease_current_.load(); }
  /// A standby: whether its writes reach the active coordinator (set by
  /// the standby's link).
  bool forwarding() const { return forwarding_.load(); }
  void set_forwarding(bool on) { forwarding_ = on; }

  struct snapshot {
    std::string self_id;
    std::string self_name;
    role self_role = role::standby;
    int64_t epoch = 0;
    /// The active coordinator's id (empty: none, or its lease ran out).
    std::string active_id;
    std::string active_name;
    std::string active_http;
    std::string active_cluster;
    /// The active one's last renewal (ms since the epoch; 0: none).
    int64_t leader_renewed_at = 0;
    /// When this process last became active or stood down (ms; 0: never).
    int64_t changed_at = 0;
    uint64_t takeovers = 0;
    uint64_t stepdowns = 0;
    int64_t lease_ms = 0;
    std::vector<coordinator_entry> coordinators;
  };
  snapshot read() const;

  /// The leadership metrics in Prometheus' text format.
  std::string metrics_text() const;

private:
  friend class leadership;
  std::atomic<role> role_{role::standby};
  std::atomic<int64_t> epoch_{0};
  std::atomic<uint64_t> takeovers_{0};
  std::atomic<uint64_t> stepdowns_{0};
  std::atomic<bool> forwarding_{false};
  std::atomic<bool> lease_current_{false};
  mutable std::mutex mtx_;
  snapshot snap_;
};

using leadership_view_ptr = std::shared_ptr<leadership_view>;

struct leadership_settings {
  std::string db_url;
  /// This process (a new UUID per start), its name and how others reach it.
  std::string id;
  std::string name;
  std::string http_address;
  std::string cluster_address;
  std::string version;
  /// A standby takes over when the active one has not renewed for this long
  /// (or at once when the active one's session is gone).
  std::chrono::milliseconds lease{3000};
  /// How often the active one renews, and a standby looks.
  std::chrono::milliseconds renew_every{500};
  std::chrono::milliseconds poll_every{200};
};

/// The leadership lease of one coordinator process, on a thread and a
/// database connection of its own (docs/ARCHITECTURE.md, "Standby
/// coordinators"). While standing by it competes: it takes the session
/// advisory lock 7355609 (free as soon as the active one's session ends) or,
/// once the active one's lease ran out, ends the session that holds it;
/// then, under advisory lock 7355610 taken exclusively (which waits for
/// every fenced write in flight), it adds one to the epoch. While active it
/// renews the lease; when the renewal finds another epoch (or, after a lost
/// connection, the lock taken), it is deposed. A lease it cannot renew in
/// time only makes it not ready (`lease_current`). Being elected or deposed
/// is told to the main thread through `wait_change`.
class leadership {
public:
  leadership(leadership_settings settings, leadership_view_ptr view);
  ~leadership();

  leadership(const leadership&) = delete;
  leadership& operator=(const leadership&) = delete;

  /// Starts competing (the first time: starts the thread). Call it again
  /// after a step-down, once the active phase is over.
  void compete();

  /// Waits up to `timeout` for this process to be elected (returns
  /// `active`) or deposed (returns `standby`); returns the current role
  /// either way.
  leadership_view::role wait_change(leadership_view::role from,
                                    std::chrono::milliseconds timeout);

  /// Gives the lease up (after the active phase stopped in order): a
  /// standby takes over at its next look. Ends the thread.
  void resign();

  /// Sets the addresses others reach this process's ports at, once they
  /// listen (a port may be picked by the system); an empty one is kept.
  void set_addresses(std::string http, std::string cluster);

  const leadership_settings& settings() const { return settings_; }

private:
  void run();

  leadership_settings settings_;
  leadership_view_ptr view_;
  std::mutex mtx_;
  std::condition_variable cv_;
  /// Competing: set by `compete`, cleared when deposed.
  bool competing_ = false;
  bool quit_ = false;
  bool resign_ = false;
  /// The addresses changed: write this process's row at once.
  bool upsert_due_ = false;
  std::thread thread_;
};

/// The epoch every database connection of this process carries (the
/// setting tasker.epoch) while it is the active coordinator; 0: none
/// (unfenced: tools, tests); -1 while
/// standing by (no task write passes).
void set_fencing_epoch(int64_t epoch);
int64_t fencing_epoch();

/// The SQLSTATE of a write refused by the fence.
inline constexpr const char* fenced_sqlstate = "TF001";

} // namespace tasker
