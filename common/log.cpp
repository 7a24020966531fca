#include "common/log.hpp"

#include <atomic>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <utility>
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
/// The text format's level column, five wide.
constexpr const char* level_labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

std::atomic<int> line_format{static_cast<int>(format::json)};

/// The code point of the UTF-8 sequence at `str[i]` and its length in
/// bytes; length 0 when no well-formed sequence starts there (a stray
/// continuation byte, a truncated or overlong sequence, a surrogate, past
/// U+10FFFF).
std::pair<uint32_t, size_t> decode_utf8(const std::string& str, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(str[k]); };
  auto lead = byte(i);
  size_t len;
  uint32_t cp;
  if (lead < 0x80)
    return {lead, 1};
  if (lead >= 0xc2 && lead <= 0xdf) {
    len = 2;
    cp = lead & 0x1fu;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    len = 3;
    cp = lead & 0x0fu;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    len = 4;
    cp = lead & 0x07u;
  } else {
    return {0, 0};
  }
  if (i + len > str.size())
    return {0, 0};
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80)
      return {0, 0};
    cp = (cp << 6) | (byte(i + k) & 0x3fu);
  }
  static constexpr uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return {0, 0};
  return {cp, len};
}

/// Whether a code point is written escaped in the text format: the C0 and
/// C1 controls and DEL (a newline would start a forged line, ESC a terminal
/// sequence), the Unicode line and paragraph separators, and the
/// bidirectional controls (which reorder what a reader sees).
bool escaped(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028
         || cp == 0x2029 || cp == 0x061c || cp == 0x200e || cp == 0x200f
         || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void append_hex(std::string& out, const char* prefix, uint32_t val,
                int digits) {
  static constexpr char hex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4)
    out += hex[(val >> shift) & 0xfu];
}

/// Appends `str` with a backslash before `\` (and `"` when `quoted`) and
/// every escaped() character and every byte that is not UTF-8 written as an
/// escape: \n, \r, \t, \xNN below U+0080 and for such bytes, \uNNNN above.
void append_escaped(std::string& out, const std::string& str, bool quoted) {
  for (size_t i = 0; i < str.size();) {
    auto [cp, len] = decode_utf8(str, i);
    if (len == 0) {
      append_hex(out, "\\x", static_cast<unsigned char>(str[i]), 2);
      ++i;
      continue;
    }
    if (cp == '\n')
      out += "\\n";
    else if (cp == '\r')
      out += "\\r";
    else if (cp == '\t')
      out += "\\t";
    else if (cp == '\\' || (quoted && cp == '"'))
      (out += '\\') += static_cast<char>(cp);
    else if (escaped(cp))
      append_hex(out, cp < 0x80 ? "\\x" : "\\u", cp, cp < 0x80 ? 2 : 4);
    else
      out.append(str, i, len);
    i += len;
  }
}

/// Whether `str` can be written as it is, unquoted: nothing escaped(), no
/// byte that is not UTF-8, and none of the characters in `special`.
bool plain(const std::string& str, const char* special) {
  for (size_t i = 0; i < str.size();) {
    auto [cp, len] = decode_utf8(str, i);
    if (len == 0 || escaped(cp)
        || (cp < 0x80 && std::strchr(special, static_cast<char>(cp)) != nullptr))
      return false;
    i += len;
  }
  return true;
}

/// Appends a key or a string value: as it is when plain, else quoted.
void append_text_string(std::string& out, const std::string& str) {
  if (!str.empty() && plain(str, " \"\\=")) {
    out += str;
    return;
  }
  out += '"';
  append_escaped(out, str, true);
  out += '"';
}

void append_text_value(std::string& out, const nlohmann::json& val) {
  if (val.is_string()) {
    append_text_string(out, val.get_ref<const std::string&>());
    return;
  }
  // Numbers, true, false, null, and arrays and objects as compact JSON,
  // quoted when that holds a space (inside a string) or an escaped character.
  auto text = val.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (plain(text, " ")) {
    out += text;
    return;
  }
  out += '"';
  append_escaped(out, text, true);
  out += '"';
}

std::string render(format fmt, int64_t time_ms, level lvl,
                   const char* component, const std::string& message,
                   const nlohmann::json& fields) {
  std::string line;
  line.reserve(160 + message.size());
  if (fmt == format::text) {
    line += format_time(time_ms);
    line += ' ';
    line += level_labels[static_cast<int>(lvl)];
    line += ' ';
    append_escaped(line, component, false);
    line += ": ";
    append_escaped(line, message, false);
    if (fields.is_object())
      for (auto& [key, val] : fields.items()) {
        line += ' ';
        append_text_string(line, key);
        line += '=';
        append_text_value(line, val);
      }
    line += '\n';
    return line;
  }
  // Built by hand: this runs for every task, and a JSON object per line
  // costs several times more.
  line += "{\"timestamp\":\"";
  line += format_time(time_ms);
  line += "\",\"level\":\"";
  line += level_names[static_cast<int>(lvl)];
  line += "\",\"component\":\"";
  line += component; // a name in the code, never the user's
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
  return line;
}

void write(level lvl, const char* component, const std::string& message,
           const nlohmann::json& fields) {
  if (static_cast<int>(lvl) < min_level.load(std::memory_order_relaxed))
    return;
  auto fmt = static_cast<format>(line_format.load(std::memory_order_relaxed));
  out().add(render(fmt, now_ms(), lvl, component, message, fields),
            lvl >= level::warning);
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

bool set_format(const std::string& name) {
  if (name != "json" && name != "text")
    return false;
  line_format = static_cast<int>(name == "json" ? format::json : format::text);
  return true;
}

std::string format_line(format fmt, int64_t time_ms, const char* level_name,
                        const char* component, const std::string& message,
                        const nlohmann::json& fields) {
  auto lvl = level::error;
  for (int i = 0; i < 4; ++i)
    if (std::strcmp(level_name, level_names[i]) == 0)
      lvl = static_cast<level>(i);
  return render(fmt, time_ms, lvl, component, message, fields);
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
