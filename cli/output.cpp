#include "cli/output.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tasker::cli {

std::string printable(const std::string& str) {
  std::string out;
  out.reserve(str.size());
  auto escape = [&out](unsigned int code) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", code);
    out += buf;
  };
  for (size_t i = 0; i < str.size(); ++i) {
    auto c = static_cast<unsigned char>(str[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      escape(c);
    } else if (c == 0xc2 && i + 1 < str.size() &&
               static_cast<unsigned char>(str[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(str[i + 1]) <= 0x9f) {
      // U+0080..U+009F: C1 controls, which some terminals obey (CSI).
      escape(static_cast<unsigned char>(str[++i]));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string cell_text(const nlohmann::json& value) {
  if (value.is_null())
    return "-";
  if (value.is_string())
    return printable(value.get<std::string>());
  return printable(
      value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

size_t display_width(const std::string& str) {
  size_t n = 0;
  for (unsigned char c : str)
    if ((c & 0xc0) != 0x80)
      ++n;
  return n;
}

std::string truncate(const std::string& str, size_t width) {
  if (display_width(str) <= width)
    return str;
  size_t keep = width > 3 ? width - 3 : 0;
  size_t chars = 0, i = 0;
  for (; i < str.size(); ++i) {
    if ((static_cast<unsigned char>(str[i]) & 0xc0) != 0x80) {
      if (chars == keep)
        break;
      ++chars;
    }
  }
  return str.substr(0, i) + "...";
}

table::table(std::vector<std::string> header) : header_(std::move(header)) {
  // (nothing else)
}

void table::add(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

std::string table::str() const {
  std::vector<size_t> widths(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i]));
  };
  measure(header_);
  for (auto& row : rows_)
    measure(row);
  std::string out;
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line.append(widths[i] - display_width(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line;
    out += '\n';
  };
  print(header_);
  for (auto& row : rows_)
    print(row);
  return out;
}

std::string render_task(const nlohmann::json& task) {
  static const char* order[] = {
      "id",           "type",         "status",      "params",
      "result",       "error",        "progress",    "priority",
      "attempts",     "max_attempts", "timeout_ms",  "idempotency_key",
      "worker_id",    "callback_url", "created_at",  "updated_at",
      "scheduled_at", "started_at",   "completed_at"};
  std::vector<std::pair<std::string, std::string>> lines;
  auto known = [&](const std::string& key) {
    return std::find(std::begin(order), std::end(order), key) !=
           std::end(order);
  };
  for (auto key : order)
    if (auto i = task.find(key); i != task.end() && !i->is_null())
      lines.emplace_back(key, cell_text(*i));
  for (auto& [key, value] : task.items())
    if (!known(key) && !value.is_null())
      lines.emplace_back(printable(key), cell_text(value));
  size_t width = 0;
  for (auto& kv : lines)
    width = std::max(width, display_width(kv.first));
  std::string out;
  for (auto& [key, value] : lines) {
    out += key;
    out += ':';
    out.append(width - display_width(key) + 1, ' ');
    out += value;
    out += '\n';
  }
  return out;
}

std::string render_event_line(const nlohmann::json& event) {
  auto field = [&](const char* key) {
    auto i = event.find(key);
    return i == event.end() ? std::string{"-"} : cell_text(*i);
  };
  auto pad = [](std::string str, size_t width) {
    auto w = display_width(str);
    if (w < width)
      str.append(width - w, ' ');
    return str;
  };
  std::string out = field("at") + "  " + pad(field("kind"), 15) + "  " +
                    pad(field("status"), 10) + "  " + field("type") + "  " +
                    field("task_id");
  auto extra = [&](const char* key, const char* label) {
    if (auto i = event.find(key); i != event.end() && !i->is_null())
      out += std::string{"  "} + label + "=" + cell_text(*i);
  };
  extra("attempt", "attempt");
  extra("worker_id", "worker");
  extra("duration_ms", "duration_ms");
  extra("error", "error");
  return out;
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  auto s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof(buf), "%llds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  return buf;
}

std::string render_progress(size_t done, size_t total, double elapsed_s,
                            size_t width) {
  double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  char tail[128];
  if (total > 0) {
    double share = std::min(1.0, static_cast<double>(done) / total);
    std::string eta = done >= total ? "0s"
                      : rate > 0    ? human_duration((total - done) / rate)
                                    : "?";
    std::snprintf(tail, sizeof(tail), " %zu/%zu %3.0f%% %.0f tasks/s ETA %s",
                  done, total, share * 100, rate, eta.c_str());
    std::string text = tail;
    // The bar takes what the numbers leave, between 10 and 40 characters.
    size_t room = width > text.size() + 2 ? width - text.size() - 2 : 0;
    size_t bar = std::min<size_t>(40, room);
    if (bar < 10)
      return truncate(text.substr(1), width);
    auto filled = static_cast<size_t>(share * bar);
    return "[" + std::string(filled, '#') + std::string(bar - filled, '.') +
           "]" + text;
  }
  std::snprintf(tail, sizeof(tail), "%zu tasks %.0f tasks/s", done, rate);
  return truncate(tail, width);
}

} // namespace tasker::cli
