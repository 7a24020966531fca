#include "common/log.hpp"

#include <atomic>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/clock.hpp"
#include "common/format.hpp"

namespace tasker::log {

namespace {

enum class level { debug = 0, info, warning, error };

std::atomic<int> min_level{static_cast<int>(level::info)};

/// Lines wait here up to 100 ms (or 32 KiB) so that a busy coordinator does
/// not pay a write(2) per line; warnings and errors go out at once.
class line_buffer {
public:
  line_buffer() : flusher_([this] { run(); }) {}

  ~line_buffer() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stop_ = true;
    }
    cv_.notify_one();
    flusher_.join();
    flush_locked();
  }

  void add(const std::string& line, bool urgent) {
    std::lock_guard<std::mutex> guard{mtx_};
    buf_ += line;
    if (urgent || buf_.size() >= 32 * 1024)
      flush_locked();
  }

  void flush() {
    std::lock_guard<std::mutex> guard{mtx_};
    flush_locked();
  }

private:
  void flush_locked() {
    if (buf_.empty())
      return;
    fwrite(buf_.data(), 1, buf_.size(), stderr);
    fflush(stderr);
    buf_.clear();
  }

  void run() {
    std::unique_lock<std::mutex> guard{mtx_};
    while (!stop_) {
      cv_.wait_for(guard, std::chrono::milliseconds(100));
      flush_locked();
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string buf_;
  std::thread flusher_;
};

line_buffer& out() {
  static line_buffer instance;
  return instance;
}

constexpr const char* level_names[] = {"debug", "info", "warning", "error"};

void write(level lvl, const char* component, const std::string& message,
           const nlohmann::json& fields) {
  if (static_cast<int>(lvl) < min_level.load(std::memory_order_relaxed))
    return;
  // Built by hand: this runs for every task, and a JSON object per line
  // costs several times more.
  std::string line;
  line.reserve(160 + message.size());
  line += "{\"timestamp\":\"";
  line += format_time(now_ms());
  line += "\",\"level\":\"";
  line += level_names[static_cast<int>(lvl)];
  line += "\",\"component\":\"";
  line += component;
  line += "\",\"message\":";
  append_json_string(line, message);
  if (fields.is_object())
    for (auto& [key, val] : fields.items()) {
      line += ',';
      append_json_string(line, key);
      line += ':';
      line += val.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  line += "}\n";
  out().add(line, lvl >= level::warning);
}

} // namespace

void set_level(const std::string& name) {
  for (int i = 0; i < 4; ++i)
    if (name == level_names[i])
      min_level = i;
}

void flush() {
  out().flush();
}

void debug(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::debug, c, m, f);
}
void info(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::info, c, m, f);
}
void warning(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::warning, c, m, f);
}
void error(const char* c, const std::string& m, const nlohmann::json& f) {
  write(level::error, c, m, f);
}

} // namespace tasker::log
