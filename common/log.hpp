#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace tasker::log {

/// Sets the lowest level that is written; parses debug/info/warning/error.
void set_level(const std::string& name);

/// Writes out buffered lines (info and debug lines wait up to 100 ms).
void flush();

/// How a line is written: a JSON object (the default, for log collectors) or
/// text for people (`--log-format text`).
enum class format { json, text };

/// Sets the format of the lines written from now on; parses json/text and
/// returns false (changing nothing) on anything else.
bool set_format(const std::string& name);

/// One line as `debug` and the others write it, newline included; `level`
/// is debug, info, warning or error. JSON: {"timestamp":...,"level":...,
/// "component":...,"message":..., then the fields}. Text:
/// `2026-12-01T22:40:00.123Z INFO  gateway: listening host=127.0.0.1
/// port=8080`, each field as key=value; a string with a space, a quote, a
/// backslash or an equals sign (or empty) is quoted, arrays and objects are
/// compact JSON (quoted when they hold a space), and control characters,
/// Unicode line and paragraph separators, bidirectional overrides and bytes
/// that are not UTF-8 are escaped (\n, \t, \x1b, \u2028) in the
/// message, the component and the fields alike, so that no value can break
/// or forge a line.
std::string format_line(format fmt, int64_t time_ms, const char* level,
                        const char* component, const std::string& message,
                        const nlohmann::json& fields);

// Each writes one line to stderr (format_line): timestamp, level,
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
