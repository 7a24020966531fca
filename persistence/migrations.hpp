#pragma once

#include <vector>

namespace tasker {

/// One numbered schema change.
struct migration {
  int version;
  const char* name;
  const char* sql;
};

/// Every migration, in order. Append; never edit one that has shipped.
const std::vector<migration>& migrations();

} // namespace tasker
