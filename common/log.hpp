#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace tasker::log {

/// Severity of a log line.
enum class level { debug = 0, info, warning, error };

/// Sets the lowest level that is written; parses debug/info/warning/error.
void set_level(const std::string& name);

/// Returns whether a line at this level would be written.
bool enabled(level lvl);

/// Writes one JSON object on a line to stderr: timestamp, level, component,
/// message and the extra fields (such as task_id, duration_ms).
void write(level lvl, const char* component, const std::string& message,
           const nlohmann::json* fields = nullptr);

/// Writes out buffered lines (info and debug lines wait up to 100 ms).
void flush();

void debug(const char* component, const std::string& message);
void info(const char* component, const std::string& message);
void warning(const char* component, const std::string& message);
void error(const char* component, const std::string& message);

void debug(const char* component, const std::string& message,
           const nlohmann::json& fields);
void info(const char* component, const std::string& message,
          const nlohmann::json& fields);
void warning(const char* component, const std::string& message,
             const nlohmann::json& fields);
void error(const char* component, const std::string& message,
           const nlohmann::json& fields);

} // namespace tasker::log
