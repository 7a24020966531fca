#pragma once

// The task manager's submission protocol, without actors: admission against
// `max_pending`, the commit's answer, the client's timeout, and the settling
// of a submission whose commit nobody will report (the persistence actor died
// holding it). The manager asks it what to do and does it; tests drive it
// alone. `Client` answers a submission's client (a response promise in the
// manager).

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tasker {

template <class Client>
class submission_tracker {
public:
  using ids = std::vector<std::string>;

  /// Tries a settling gets before its client hears that the submission may
  /// not have been stored.
  static constexpr int max_settle_tries = 240;

  /// Admits a group whose `due` tasks get actors once stored, while `live`
  /// tasks are held: its token, or nothing when that would pass
  /// `max_pending` (then the caller answers `client`).
  std::optional<uint64_t> admit(ids group, size_t due, size_t live,
                                size_t max_pending, const Client& client) {
    if (due > 0 && live + admitting_ + due > max_pending)
      return std::nullopt;
    admitting_ += due;
    auto token = next_++;
    subs_.emplace(token, entry{std::move(group), due, false, 0});
    clients_.emplace(token, client);
    return token;
  }

  /// The client of `token` to answer, taken; nothing when it was answered
  /// already (timed out).
  std::optional<Client> take_client(uint64_t token) {
    auto i = clients_.find(token);
    if (i == clients_.end())
      return std::nullopt;
    auto c = std::move(i->second);
    clients_.erase(i);
    return c;
  }

  /// The client of `token` waited too long (the commit's outcome is still
  /// applied when it comes): the client to answer, if it still waits.
  std::optional<Client> expire(uint64_t token) {
    auto c = take_client(token);
    timeouts_ += c ? 1 : 0;
    return c;
  }

  /// The client of `token` is to be answered `unavailable` at `at` (any
  /// clock) if its insert has not answered by then. Deadlines are kept in the
  /// order given: a constant timeout gives them in time order.
  void expire_at(uint64_t token, int64_t at) {
    deadlines_.emplace_back(at, token);
  }

  /// The clients whose deadline passed by `now` and who still wait, taken
  /// (the commits' outcomes are still applied when they come).
  std::vector<Client> expire_due(int64_t now) {
    std::vector<Client> out;
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
      if (auto c = expire(deadlines_.front().second))
        out.push_back(std::move(*c));
      deadlines_.pop_front();
    }
    return out;
  }

  /// Deadlines not yet swept (some clients may have been answered since).
  bool expiring() const {
    return !deadlines_.empty();
  }

  /// The insert of `token` answered (stored, refused or failed): its ids in
  /// order, or nothing when a read-back settles it instead.
  std::optional<ids> answered(uint64_t token) {
    auto i = subs_.find(token);
    if (i == subs_.end() || i->second.in_doubt)
      return std::nullopt;
    admitting_ -= i->second.admitted;
    auto out = std::move(i->second.order);
    subs_.erase(i);
    return out;
  }

  /// The persistence actor died holding `token`: nobody will answer its
  /// insert, a read-back settles it. False when it was not inserting.
  bool doubt(uint64_t token) {
    auto i = subs_.find(token);
    if (i == subs_.end() || i->second.in_doubt)
      return false;
    admitting_ -= i->second.admitted;
    i->second.admitted = 0;
    i->second.in_doubt = true;
    return true;
  }

  /// The submissions whose insert has not answered.
  std::vector<uint64_t> inserting() const {
    std::vector<uint64_t> out;
    for (auto& [token, e] : subs_)
      if (!e.in_doubt)
        out.push_back(token);
    return out;
  }

  /// The ids of in-doubt `token`, to read back; null when not in doubt.
  const ids* in_doubt(uint64_t token) const {
    auto i = subs_.find(token);
    return i == subs_.end() || !i->second.in_doubt ? nullptr
                                                   : &i->second.order;
  }

  /// A read-back found in-doubt `token` stored or not: its ids, or nothing
  /// when it is not in doubt.
  std::optional<ids> settled(uint64_t token, bool stored) {
    if (in_doubt(token) == nullptr)
      return std::nullopt;
    ++(stored ? stored_ : not_stored_);
    auto out = std::move(subs_[token].order);
    subs_.erase(token);
    return out;
  }

  /// A try to settle `token` failed: true to try again; false when it gives
  /// up (it is forgotten; if stored, the next start recovers its tasks).
  bool settle_failed(uint64_t token) {
    auto i = subs_.find(token);
    if (i == subs_.end() || !i->second.in_doubt)
      return false;
    if (++i->second.tries < max_settle_tries)
      return true;
    subs_.erase(i);
    return false;
  }

  /// Tasks of inserting submissions, counted against `max_pending`.
  size_t admitting() const {
    return admitting_;
  }
  uint64_t timeouts() const {
    return timeouts_;
  }
  /// In-doubt submissions found stored and not stored.
  uint64_t stored() const {
    return stored_;
  }
  uint64_t not_stored() const {
    return not_stored_;
  }

private:
  struct entry {
    ids order;
    size_t admitted = 0;
    bool in_doubt = false;
    int tries = 0;
  };

  size_t admitting_ = 0;
  uint64_t next_ = 1;
  std::unordered_map<uint64_t, entry> subs_;
  std::unordered_map<uint64_t, Client> clients_;
  /// (deadline, token) in admission order.
  std::deque<std::pair<int64_t, uint64_t>> deadlines_;
  uint64_t timeouts_ = 0;
  uint64_t stored_ = 0;
  uint64_t not_stored_ = 0;
};

} // namespace tasker
