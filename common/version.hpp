#pragma once

#include <string>

namespace tasker {

/// The release, from CMakeLists.txt's project() (e.g. "0.14.0").
const char* version();

/// The git commit built: 12 hex digits, with "-dirty" when the tree had
/// changes; "unknown" when built outside a git checkout (a source tarball)
/// and not given with -DTASKER_COMMIT=....
const char* version_commit();

/// The build date, YYYY-MM-DD in UTC (SOURCE_DATE_EPOCH's when it is set).
const char* build_date();

/// What `tasker --version` prints:
/// "tasker 0.14.0 (commit 1a2b3c4d5e6f, built 2026-12-01)".
std::string version_string();

} // namespace tasker
