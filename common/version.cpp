// The only file that sees the commit and the date (a generated header), so
// that a new commit recompiles this file alone.
#include "common/version.hpp"

#include "common/version_info.hpp"

namespace tasker {

const char* version() {
  return TASKER_VERSION;
}

const char* version_commit() {
  return TASKER_COMMIT;
}

const char* build_date() {
  return TASKER_BUILD_DATE;
}

std::string version_string() {
  return std::string{"tasker "} + version() + " (commit " + version_commit()
         + ", built " + build_date() + ")";
}

} // namespace tasker
