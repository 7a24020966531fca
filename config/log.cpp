#include "config/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

#include <nlohmann/json.hpp>

#include "messages/format.hpp"
#include "messages/types.hpp"

namespace tasker::log {

namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};
std::mutex out_mtx;

const char* name_of(level lvl) {
  switch (lvl) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warning:
      return "warning";
    case level::error:
      return "error";
  }
  return "info";
}

} // namespace

void set_level(const std::string& name) {
  for (auto lvl : {level::debug, level::info, level::warning, level::error})
    if (name == name_of(lvl))
      min_level = static_cast<int>(lvl);
}

bool enabled(level lvl) {
  return static_cast<int>(lvl) >= min_level.load(std::memory_order_relaxed);
}

namespace {

/// Appends `str` as a JSON string.
void append_quoted(std::string& out, const std::string& str) {
  out += nlohmann::json(str).dump(-1, ' ', false,
                                  nlohmann::json::error_handler_t::replace);
}

} // namespace

void write(level lvl, const char* component, const std::string& message,
           const nlohmann::json* fields) {
  if (!enabled(lvl))
    return;
  // Built by hand: this runs for every task, and a JSON object per line
  // costs several times more.
  std::string line;
  line.reserve(160 + message.size());
  line += "{\"timestamp\":\"";
  line += format_time(now_ms());
  line += "\",\"level\":\"";
  line += name_of(lvl);
  line += "\",\"component\":\"";
  line += component;
  line += "\",\"message\":";
  append_quoted(line, message);
  if (fields != nullptr && fields->is_object())
    for (auto& [key, val] : fields->items()) {
      line += ',';
      append_quoted(line, key);
      line += ':';
      line += val.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  line += "}\n";
  std::lock_guard<std::mutex> guard{out_mtx};
  fwrite(line.data(), 1, line.size(), stderr);
}

void debug(const char* c, const std::string& m) { write(level::debug, c, m); }
void info(const char* c, const std::string& m) { write(level::info, c, m); }
void warning(const char* c, const std::string& m) { write(level::warning, c, m); }
void error(const char* c, const std::string& m) { write(level::error, c, m); }

void debug(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::debug, c, m, &f);
}
void info(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::info, c, m, &f);
}
void warning(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::warning, c, m, &f);
}
void error(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::error, c, m, &f);
}

} // namespace tasker::log
