#pragma once

#include <string>

#include "config/config.hpp"

namespace tasker {

/// A private redis-server under the data dir, for `tasker dev --redis`: on a
/// unix socket only, nothing saved to disk (the cache heals from the
/// database).
class dev_redis {
public:
  explicit dev_redis(const config& cfg);

  /// Stops the server if this object started it.
  ~dev_redis();

  /// Starts the server (or finds the one an earlier `tasker dev` left
  /// running). Returns its URL, or an empty string (after logging why).
  std::string start();

private:
  std::string dir_;
  int pid_ = 0;
};

} // namespace tasker
