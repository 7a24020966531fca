#include "cli/parse.hpp"

#include "common/format.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace tasker::cli {

int exit_code_for_http_status(long status) {
  return status >= 200 && status < 300 ? exit_ok : exit_server_error;
}

int exit_code_for_task_status(const std::string& status) {
  return status == "COMPLETED" ? exit_ok : exit_task_failed;
}

bool is_terminal_status(const std::string& status) {
  return status == "COMPLETED" || status == "FAILED" || status == "CANCELLED";
}

std::string api_error_text(long status, const std::string& body) {
  auto js = nlohmann::json::parse(body, nullptr, false);
  if (js.is_object()) {
    auto err = js.find("error");
    if (err != js.end() && err->is_object()) {
      auto code = err->value("code", std::string{});
      auto message = err->value("message", std::string{});
      if (!code.empty() || !message.empty())
        return code + ": " + message + " (HTTP " + std::to_string(status) + ")";
    }
  }
  // Not the API's error shape (a proxy in between, say): show its start.
  std::string start = body.substr(0, 200);
  for (auto& c : start)
    if (static_cast<unsigned char>(c) < 0x20)
      c = ' ';
  return "HTTP " + std::to_string(status) + (start.empty() ? "" : ": " + start);
}

parsed_args parse_args(const std::vector<std::string>& args,
                       const std::vector<option_spec>& spec) {
  parsed_args out;
  bool options_end = false;
  for (size_t i = 0; i < args.size(); ++i) {
    auto& arg = args[i];
    if (options_end || arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
      // A lone "-" (stdin) and negative numbers stay positional.
      out.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_end = true;
      continue;
    }
    auto name = arg;
    std::optional<std::string> value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    auto match =
        std::find_if(spec.begin(), spec.end(),
                     [&](const option_spec& s) { return s.name == name; });
    if (match == spec.end()) {
      out.error = "unknown option " + name;
      return out;
    }
    if (!match->takes_value) {
      if (value) {
        out.error = "option " + name + " takes no value";
        return out;
      }
      out.options[name] = "";
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        out.error = "option " + name + " needs a value";
        return out;
      }
      value = args[++i];
    }
    out.options[name] = *value;
  }
  return out;
}

namespace {

/// Where a param argument's key ends: the position of its `=` or `:=`.
std::optional<size_t> key_end(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    return std::nullopt;
  if (arg[eq - 1] == ':')
    return eq == 1 ? std::nullopt : std::optional<size_t>{eq - 1};
  return eq;
}

} // namespace

bool is_param_arg(const std::string& arg) {
  return arg.compare(0, 2, "--") != 0 && key_end(arg).has_value();
}

param_arg parse_param_arg(const std::string& arg) {
  param_arg out;
  auto end = key_end(arg);
  if (!end || arg.compare(0, 2, "--") == 0) {
    out.error = "'" + arg + "' is not key=value or key:=json";
    return out;
  }
  out.key = arg.substr(0, *end);
  bool forced = arg[*end] == ':';
  auto text = arg.substr(*end + (forced ? 2 : 1));
  // Deep nesting is refused before parsing, as the gateway does.
  bool too_deep = nests_deeper_than(text, 64);
  auto js = too_deep ? nlohmann::json(nlohmann::json::value_t::discarded)
                     : nlohmann::json::parse(text, nullptr, false);
  if (forced) {
    if (js.is_discarded())
      out.error = out.key + ":= needs valid JSON, got '" + text + "'";
    else
      out.value = std::move(js);
    return out;
  }
  // A run of digits too long for an integer parses as a float and would lose
  // digits: an id like that is meant as a string. So is text with spaces
  // around it ("key= 12"), which JSON would accept.
  bool lossy =
      js.is_number_float() && text.find_first_of(".eE") == std::string::npos;
  bool padded = !text.empty() &&
                (std::isspace(static_cast<unsigned char>(text.front())) ||
                 std::isspace(static_cast<unsigned char>(text.back())));
  if (js.is_discarded() || lossy || padded)
    out.value = text;
  else
    out.value = std::move(js);
  return out;
}

std::optional<int64_t> parse_cli_duration_ms(const std::string& str) {
  if (str.size() > 2 && str.compare(str.size() - 2, 2, "ms") == 0) {
    auto digits = str.substr(0, str.size() - 2);
    if (digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    return std::stoll(digits);
  }
  return parse_duration_ms(str);
}

std::optional<int64_t> parse_count(const std::string& str) {
  if (str.empty() || str.size() > 18 ||
      str.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoll(str);
}

namespace {

std::string trim(const std::string& str) {
  auto first = str.find_first_not_of(" \t\r");
  if (first == std::string::npos)
    return {};
  auto last = str.find_last_not_of(" \t\r");
  return str.substr(first, last - first + 1);
}

} // namespace

file_settings parse_cli_config(const std::string& text) {
  file_settings out;
  size_t number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    auto raw = text.substr(pos, nl == std::string::npos ? std::string::npos
                                                        : nl - pos);
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    ++number;
    auto line = trim(raw);
    if (line.empty() || line[0] == '#')
      continue;
    auto fail = [&](const std::string& why) {
      out.error = "line " + std::to_string(number) + ": " + why;
      return out;
    };
    auto eq = line.find('=');
    if (eq == std::string::npos)
      return fail("expected key = value");
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (key == "url")
      out.url = value;
    else if (key == "token")
      out.token = value;
    else
      return fail("unknown key '" + key + "' (expected url or token)");
  }
  return out;
}

settings resolve_settings(const std::optional<std::string>& flag_url,
                          const std::optional<std::string>& flag_token,
                          const std::optional<std::string>& env_url,
                          const std::optional<std::string>& env_token,
                          const file_settings& file,
                          const std::string& default_url) {
  settings out;
  out.url = flag_url   ? *flag_url
            : env_url  ? *env_url
            : file.url ? *file.url
                       : default_url;
  out.token = flag_token   ? *flag_token
              : env_token  ? *env_token
              : file.token ? *file.token
                           : std::string{};
  return out;
}

std::string normalize_base_url(const std::string& url) {
  std::string rest;
  if (url.compare(0, 7, "http://") == 0)
    rest = url.substr(7);
  else if (url.compare(0, 8, "https://") == 0)
    rest = url.substr(8);
  else
    return {};
  if (rest.empty() || rest[0] == '/' ||
      rest.find_first_of("?# \t\r\n") != std::string::npos)
    return {};
  auto out = url;
  while (!out.empty() && out.back() == '/')
    out.pop_back();
  return out;
}

std::string url_encode(const std::string& str) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(str.size());
  for (unsigned char c : str) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string derived_idempotency_key(size_t line_number,
                                    const std::string& line) {
  // The number and the text, separated by a newline (which no line holds).
  auto input = std::to_string(line_number) + "\n" + line;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha256(), nullptr);
  static const char hex[] = "0123456789abcdef";
  std::string out = "file-";
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

sse_parser::sse_parser(size_t max_line_bytes) : max_(max_line_bytes) {
  // (nothing else)
}

void sse_parser::reset() {
  line_.clear();
  skip_lf_ = false;
  overflow_ = false;
  type_.clear();
  data_.clear();
  has_data_ = false;
}

bool sse_parser::feed(const char* data, size_t size,
                      const std::function<void(const sse_event&)>& emit) {
  if (overflow_)
    return false;
  size_t i = 0;
  while (i < size) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (data[i] == '\n') {
        ++i;
        continue;
      }
    }
    // Take the run of bytes up to the next end of line at once.
    size_t j = i;
    while (j < size && data[j] != '\n' && data[j] != '\r')
      ++j;
    if (line_.size() + (j - i) > max_) {
      overflow_ = true;
      line_.clear();
      return false;
    }
    line_.append(data + i, j - i);
    if (j == size)
      break;
    skip_lf_ = data[j] == '\r';
    i = j + 1;
    if (!line(emit)) {
      overflow_ = true;
      return false;
    }
    line_.clear();
  }
  return true;
}

bool sse_parser::line(const std::function<void(const sse_event&)>& emit) {
  if (line_.empty()) {
    if (has_data_) {
      sse_event ev;
      ev.type = type_.empty() ? std::string{"message"} : type_;
      ev.id = last_id_;
      ev.data = std::move(data_);
      if (!ev.data.empty() && ev.data.back() == '\n')
        ev.data.pop_back();
      emit(ev);
    }
    type_.clear();
    data_.clear();
    has_data_ = false;
    return true;
  }
  if (line_[0] == ':') {
    ++comments_;
    return true;
  }
  std::string field, value;
  if (auto colon = line_.find(':'); colon != std::string::npos) {
    field = line_.substr(0, colon);
    auto start = colon + 1;
    if (start < line_.size() && line_[start] == ' ')
      ++start;
    value = line_.substr(start);
  } else {
    field = line_;
  }
  if (field == "event") {
    type_ = value;
  } else if (field == "data") {
    if (data_.size() + value.size() + 1 > max_)
      return false;
    data_ += value;
    data_ += '\n';
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string::npos)
      last_id_ = value;
  } else if (field == "retry") {
    if (auto ms = parse_count(value); ms && value.size() <= 9)
      retry_ms_ = *ms;
  }
  // Other fields are ignored, as the standard says.
  return true;
}

line_reader::line_reader(std::function<size_t(char*, size_t)> read,
                         size_t max_line_bytes)
  : read_(std::move(read)), max_(max_line_bytes) {
  // (nothing else)
}

bool line_reader::fill() {
  if (eof_)
    return false;
  // Keep only what is not consumed, then read more after it.
  buf_.erase(0, pos_);
  pos_ = 0;
  char chunk[65536];
  auto n = read_(chunk, sizeof(chunk));
  if (n == 0) {
    eof_ = true;
    return false;
  }
  buf_.append(chunk, n);
  return true;
}

bool line_reader::next(std::string& out, bool& too_long) {
  out.clear();
  too_long = false;
  for (;;) {
    auto nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      if (!too_long)
        out.assign(buf_, pos_, nl - pos_);
      pos_ = nl + 1;
      break;
    }
    if (buf_.size() - pos_ > max_) {
      // Past the bound: drop what we have and skip to the end of the line.
      too_long = true;
      pos_ = buf_.size();
    }
    if (!fill()) {
      if (pos_ >= buf_.size() && !too_long)
        return false;
      if (!too_long)
        out.assign(buf_, pos_, std::string::npos);
      pos_ = buf_.size();
      break;
    }
  }
  ++number_;
  if (too_long)
    out.clear();
  else if (!out.empty() && out.back() == '\r')
    out.pop_back();
  return true;
}

batch_error_ref parse_batch_error(const std::string& message) {
  batch_error_ref out;
  out.message = message;
  if (message.compare(0, 6, "tasks[") != 0)
    return out;
  auto close = message.find("].", 6);
  if (close == std::string::npos || close == 6)
    return out;
  auto index = parse_count(message.substr(6, close - 6));
  if (!index)
    return out;
  out.index = static_cast<size_t>(*index);
  out.message = message.substr(close + 2);
  return out;
}

std::optional<std::string> conflict_key(const std::string& message) {
  static const std::string prefix = "idempotency key '";
  static const std::string suffix = "' was used before";
  auto start = message.find(prefix);
  if (start == std::string::npos)
    return std::nullopt;
  start += prefix.size();
  auto end = message.rfind(suffix);
  if (end == std::string::npos || end < start)
    return std::nullopt;
  return message.substr(start, end - start);
}

std::optional<int64_t> parse_retry_after(const std::string& value) {
  auto text = trim(value);
  if (text.size() > 9)
    return std::nullopt;
  return parse_count(text);
}

} // namespace tasker::cli
