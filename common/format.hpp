#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace tasker {

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds
/// (`2026-11-22T10:00:00.123Z`).
std::string format_time(int64_t ms);

/// Parses an RFC 3339 time (`Z` or `+hh:mm` offset, optional fraction) into
/// epoch milliseconds.
std::optional<int64_t> parse_time(const std::string& str);

/// Parses a duration written as a number and a unit, `s`, `m`, `h` or `d`
/// (`7d`, `90s`): milliseconds, or nothing when it is not one (at most nine
/// digits).
std::optional<int64_t> parse_duration_ms(const std::string& str);

/// Appends `str` as a JSON string; bytes that are not UTF-8 become U+FFFD.
void append_json_string(std::string& out, const std::string& str);

/// Returns a new random (version 4) UUID in canonical lower-case form.
std::string make_uuid();

/// Returns whether `str` is a UUID in canonical form (any case).
bool is_uuid(const std::string& str);

/// Returns a UUID in lower case.
std::string lower(std::string str);

/// Compares two secrets in time that depends only on their lengths.
bool constant_time_equal(const std::string& x, const std::string& y);

/// Whether PostgreSQL stores `str` in a text or jsonb column: well-formed
/// UTF-8 without a NUL character.
bool is_storable_text(const std::string& str);

/// `str` with each NUL character and each byte that is not part of
/// well-formed UTF-8 replaced by U+FFFD.
std::string to_storable_text(const std::string& str);

/// Whether a JSON text nests arrays and objects deeper than `max_depth`, and
/// how many it opens, read from its brackets outside strings up to the first
/// one past `max_depth` or `max_containers`. Reads the text only, so it also
/// answers for malformed JSON: such text is refused before it is parsed,
/// since printing and walking a parsed value recurse per level.
struct bracket_stats {
  bool deeper = false;
  size_t containers = 0;
};
bracket_stats scan_brackets(const std::string& text, int max_depth = INT_MAX,
                            size_t max_containers = SIZE_MAX);

inline bool nests_deeper_than(const std::string& text, int max_depth) {
  return scan_brackets(text, max_depth).deeper;
}

/// A stable 64-bit FNV-1a hash of `str`, as 16 hex digits.
std::string hash_hex(const std::string& str);

} // namespace tasker
