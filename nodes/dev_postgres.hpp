#pragma once

#include <string>

#include "config/config.hpp"

namespace tasker {

/// A private PostgreSQL cluster under the data dir, for `tasker dev`.
class dev_postgres {
public:
  explicit dev_postgres(const config& cfg);

  /// Stops the cluster if this object started it.
  ~dev_postgres();

  /// Creates the cluster on first use and starts it. Returns the libpq URL,
  /// or an empty string (after logging why) on failure.
  std::string start();

private:
  std::string dir_;
  int port_;
  bool started_ = false;
};

} // namespace tasker
