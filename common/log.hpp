#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tasker::log {

/// Sets the lowest level that is written; parses debug/info/warning/error.
void set_level(const std::string& name);

/// Writes out buffered lines (info and debug lines wait up to 100 ms).
void flush();

// Each writes one JSON object on a line to stderr: timestamp, level,
// component, message and the extra fields (such as task_id, duration_ms).
void debug(const char* component, const std::string& message,
           const nlohmann::json& fields = {});
void info(const char* component, const std::string& message,
          const nlohmann::json& fields = {});
void warning(const char* component, const std::string& message,
             const nlohmann::json& fields = {});
void error(const char* component, const std::string& message,
           const nlohmann::json& fields = {});

} // namespace tasker::log
