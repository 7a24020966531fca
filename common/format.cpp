#include "common/format.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

namespace tasker {

std::string format_time(int64_t ms) {
  auto secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  auto frac = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, frac);
  return buf;
}

std::optional<int64_t> parse_time(const std::string& str) {
  int y, mo, d, h, mi, s;
  int n = 0;
  if (sscanf(str.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h,
             &mi, &s, &n) != 6
      || n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
      || s > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < str.size() && str[pos] == '.') {
    auto first = ++pos;
    // (Digits past the third add 0: `scale` is 0 by then.)
    for (int64_t scale = 100;
         pos < str.size() && std::isdigit(static_cast<unsigned char>(str[pos]));
         ++pos, scale /= 10)
      millis += (str[pos] - '0') * scale;
    if (pos == first)
      return std::nullopt;
  }
  int64_t offset_min = 0;
  if (pos < str.size() && (str[pos] == 'Z' || str[pos] == 'z')) {
    ++pos;
  } else if (pos < str.size() && (str[pos] == '+' || str[pos] == '-')) {
    int oh, om;
    if (str.size() != pos + 6 || sscanf(str.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2
        || str[pos + 3] != ':' || oh > 23 || om > 59)
      return std::nullopt;
    offset_min = (oh * 60 + om) * (str[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != str.size())
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  auto secs = static_cast<int64_t>(timegm(&tm));
  return (secs - offset_min * 60) * 1000 + millis;
}

void append_json_string(std::string& out, const std::string& str) {
  out += nlohmann::json(str).dump(-1, ' ', false,
                                  nlohmann::json::error_handler_t::replace);
}

std::optional<int64_t> parse_duration_ms(const std::string& str) {
  if (str.size() < 2)
    return std::nullopt;
  auto digits = str.substr(0, str.size() - 1);
  if (digits.size() > 9
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int64_t n = std::stoll(digits);
  switch (str.back()) {
    case 's':
      return n * 1000;
    case 'm':
      return n * 60'000;
    case 'h':
      return n * 3'600'000;
    case 'd':
      return n * 86'400'000;
    default:
      return std::nullopt;
  }
}

std::string make_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = (rng() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  uint64_t lo = (rng() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[37];
  snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
           static_cast<unsigned>(hi >> 32),
           static_cast<unsigned>((hi >> 16) & 0xffff),
           static_cast<unsigned>(hi & 0xffff),
           static_cast<unsigned>(lo >> 48),
           static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

bool is_uuid(const std::string& str) {
  if (str.size() != 36)
    return false;
  for (size_t i = 0; i < str.size(); ++i) {
    auto dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? str[i] != '-'
             : !std::isxdigit(static_cast<unsigned char>(str[i])))
      return false;
  }
  return true;
}

std::string lower(std::string str) {
  for (auto& c : str)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return str;
}

bool constant_time_equal(const std::string& x, const std::string& y) {
  if (x.size() != y.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < x.size(); ++i)
    diff |= static_cast<unsigned char>(x[i] ^ y[i]);
  return diff == 0;
}

namespace {

/// The length of the well-formed UTF-8 sequence at `i` (no overlong forms,
/// surrogates or code points past U+10FFFF), or 0.
size_t utf8_length(const std::string& str, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(str[k]); };
  auto c = byte(i);
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > str.size())
    return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

} // namespace

bool is_storable_text(const std::string& str) {
  // (A NUL can only start a sequence: continuation bytes are 0x80 to 0xBF.)
  for (size_t i = 0, n; i < str.size(); i += n)
    if (str[i] == '\0' || (n = utf8_length(str, i)) == 0)
      return false;
  return true;
}

std::string to_storable_text(const std::string& str) {
  static const std::string replacement = "\xEF\xBF\xBD"; // U+FFFD
  std::string out;
  out.reserve(str.size());
  for (size_t i = 0, n; i < str.size(); i += n) {
    n = utf8_length(str, i);
    if (n == 0 || str[i] == '\0')
      out += replacement, n = 1;
    else
      out.append(str, i, n);
  }
  return out;
}

std::string hash_hex(const std::string& str) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : str) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bracket_stats scan_brackets(const std::string& text, int max_depth,
                            size_t max_containers) {
  bracket_stats out;
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{' || c == ']' || c == '}') {
      bool open = c == '[' || c == '{';
      depth += open ? 1 : -1;
      out.containers += open ? 1 : 0;
      out.deeper = depth > max_depth;
      if (out.deeper || out.containers > max_containers)
        break;
    }
  }
  return out;
}

} // namespace tasker
