#pragma once

// Task types an operator declares in a file (the `task_types` option)
// instead of compiling them in: name, description, a JSON Schema of the
// params (tasks/schema.hpp), default timeout and attempts, and how they run.
// The file's format is in docs/API.md ("Declared task types").

#include <string>

#include "tasks/registry.hpp"

namespace tasker {

/// Most bytes of a task types file.
constexpr size_t max_task_types_file_bytes = 1024 * 1024;

/// Reads the declared task types from `path` and adds them to `reg`. Throws
/// std::runtime_error that names the file and the place of the first
/// problem (`task_types[1].params.properties.size.maximum: ...`).
void add_declared_types(registry& reg, const std::string& path);

/// The same from the file's parsed content (`where` names it in errors).
void add_declared_types(registry& reg, const nlohmann::json& file,
                        const std::string& where);

} // namespace tasker
