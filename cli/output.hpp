// What the command-line client prints for people: aligned tables, key: value
// lines, the progress bar. Pure functions of their input
// (tests/cli/output.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tasker::cli {

/// `str` safe to print on a terminal: control characters (C0, DEL, C1) are
/// written as escapes (`\n`, `\x1b`), so that a task's error or params can
/// neither break a table nor send terminal control sequences.
std::string printable(const std::string& str);

/// The text of a JSON value in a table cell: a string as itself, null as
/// "-", anything else as compact JSON; made printable.
std::string cell_text(const nlohmann::json& value);

/// The number of characters (UTF-8 code points) of `str`.
size_t display_width(const std::string& str);

/// `str` cut to at most `width` characters, ending in "..." when cut.
std::string truncate(const std::string& str, size_t width);

/// Aligned columns separated by two spaces, a header line first; the last
/// column is not padded.
class table {
public:
  explicit table(std::vector<std::string> header);

  void add(std::vector<std::string> row);

  /// The table as text, one line per row, each ending in a newline.
  std::string str() const;

  /// Whether no row was added.
  bool empty() const {
    return rows_.empty();
  }

private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

/// A task object as `key: value` lines with aligned values: the fields of
/// the API's task object in its order, null fields left out, then any other.
std::string render_task(const nlohmann::json& task);

/// One line per event of the event stream or a task's history: time, kind,
/// status, type, task id, then attempt, worker, duration and error when set.
std::string render_event_line(const nlohmann::json& event);

/// The progress line of `submit --file`: a bar with the share done (when
/// the total is known), the count, the rate and the time left, at most
/// `width` characters.
std::string render_progress(size_t done, size_t total, double elapsed_s,
                            size_t width);

/// A duration in seconds for people: "45s", "3m05s", "2h10m".
std::string human_duration(double seconds);

} // namespace tasker::cli
