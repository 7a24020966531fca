#pragma once

#include <cstddef>
#include <string_view>

namespace tasker {

/// A file of the dashboard or the API reference, built from web/ by the
/// project's build (`npm run build`, then scripts/embed_web.py) and compiled
/// into the binary.
struct web_file {
  /// Its URL path: "/index.html", "/assets/index-3f2a.js", "/docs/...".
  std::string_view path;
  std::string_view content_type;
  std::string_view body;
  /// Named by its content's hash, so it may be cached for good.
  bool immutable;
};

extern const web_file web_files[];
extern const size_t web_file_count;

/// The file at `path`, or null.
inline const web_file* find_web_file(std::string_view path) {
  for (size_t i = 0; i < web_file_count; ++i)
    if (web_files[i].path == path)
      return &web_files[i];
  return nullptr;
}

} // namespace tasker
