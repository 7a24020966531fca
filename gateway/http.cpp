#include "gateway/http.hpp"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include "common/format.hpp"

namespace tasker {

namespace http = boost::beast::http;

const std::string* http_request::param(const std::string& name) const {
  for (auto& kv : query)
    if (kv.first == name)
      return &kv.second;
  return nullptr;
}

http_response error_response(ec code, const std::string& message) {
  nlohmann::json body{{"error", {{"code", to_string(code)}, {"message", message}}}};
  http_response res;
  res.status = http_status(code);
  res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (code == ec::unavailable || code == ec::overloaded)
    res.headers.emplace_back("Retry-After", "1");
  if (code == ec::unauthorized)
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
  return res;
}

http_response json_response(int status, std::string body) {
  http_response res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

const std::string continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";

std::string serialize(const http_response& res, bool keep_alive, bool head) {
  auto reason = http::obsolete_reason(http::int_to_status(
    static_cast<unsigned>(res.status)));
  std::string out;
  out.reserve(res.body.size() + 160);
  out.append("HTTP/1.1 ").append(std::to_string(res.status)).append(" ");
  out.append(reason.data(), reason.size());
  out.append("\r\nContent-Type: ").append(res.content_type);
  out.append("\r\nContent-Length: ").append(std::to_string(res.body.size()));
  for (auto& [name, value] : res.headers)
    out.append("\r\n").append(name).append(": ").append(value);
  out += keep_alive ? "\r\nConnection: keep-alive\r\n\r\n"
                    : "\r\nConnection: close\r\n\r\n";
  if (!head)
    out += res.body;
  return out;
}

namespace {

bool decode(const std::string& in, std::string& out, bool plus_is_space) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    auto c = in[i];
    if (c == '%') {
      // Exactly two hex digits (from_chars takes no sign for unsigned).
      if (i + 2 >= in.size())
        return false;
      unsigned byte = 0;
      auto first = in.data() + i + 1, last = first + 2;
      if (std::from_chars(first, last, byte, 16).ptr != last)
        return false;
      out += static_cast<char>(byte);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

} // namespace

bool split_target(const std::string& target, std::string& path,
                  std::vector<std::pair<std::string, std::string>>& query) {
  auto qpos = target.find('?');
  if (!decode(target.substr(0, qpos), path, false))
    return false;
  if (qpos == std::string::npos)
    return true;
  for (auto start = qpos + 1; start <= target.size();) {
    auto amp = std::min(target.find('&', start), target.size());
    auto part = target.substr(start, amp - start);
    start = amp + 1;
    if (part.empty())
      continue;
    auto eq = part.find('=');
    std::string key, value;
    if (!decode(part.substr(0, eq), key, true))
      return false;
    if (eq != std::string::npos && !decode(part.substr(eq + 1), value, true))
      return false;
    query.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

std::string check_target(const std::string& target, std::string& path,
                         std::vector<std::pair<std::string, std::string>>& query) {
  // Only origin-form is routed: anything else (`*`, `http://...`, `Xv1/...`)
  // would otherwise be matched by what follows its first character.
  if (target.empty() || target[0] != '/')
    return "the request target must be a path that starts with /";
  if (!split_target(target, path, query))
    return "malformed percent-encoding in the request target";
  auto bad = !is_storable_text(path);
  for (auto& [key, value] : query)
    bad = bad || !is_storable_text(key) || !is_storable_text(value);
  if (bad)
    return "the request target decodes to invalid UTF-8 or a NUL character";
  return {};
}

struct request_reader::impl {
  http::request_parser<http::string_body> parser;
};

request_reader::request_reader(uint64_t header_limit, uint64_t body_limit,
                               head_check check)
  : header_limit_(header_limit),
    body_limit_(body_limit),
    check_(std::move(check)) {
  reset_parser();
}

request_reader::~request_reader() = default;

void request_reader::reset_parser() {
  header_scanned_ = 0;
  expect_continue_ = false;
  parser_ = std::make_unique<impl>();
  parser_->parser.header_limit(static_cast<std::uint32_t>(header_limit_));
  parser_->parser.body_limit(body_limit_);
}

void request_reader::append(const char* data, size_t size) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.append(data, size);
}

bool request_reader::mid_request() const {
  return buffered() > 0 || parser_->parser.got_some();
}

size_t request_reader::held() const {
  return buf_.size() + parser_->parser.get().body().size();
}

bool request_reader::take_expect_continue() {
  if (!expect_continue_ || parser_->parser.is_done())
    return false;
  expect_continue_ = false;
  return true;
}

std::pair<ec, std::string> request_reader::check_header() {
  auto refuse = [](std::string why) {
    return std::make_pair(ec::bad_request, std::move(why));
  };
  auto& h = parser_->parser.get();
  auto te = h[http::field::transfer_encoding];
  if (!te.empty() && h.version() < 11)
    // RFC 9112 6.1: HTTP/1.0 has no transfer codings; a proxy in between
    // would frame the body otherwise.
    return refuse("Transfer-Encoding is not allowed in an HTTP/1.0 request");
  if (!te.empty()) {
    // RFC 9112 6.1, 6.3: a request body is framed by chunked or by
    // Content-Length, nothing else; read as "no body", another coding would
    // let the body pass for the next request (request smuggling).
    std::string codings;
    for (auto c : te)
      if (c != ' ' && c != '\t')
        codings += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (codings != "chunked")
      return refuse("Transfer-Encoding '" + std::string{te}
                    + "' is not supported: send the body with Content-Length "
                      "or Transfer-Encoding: chunked");
    if (h.count(http::field::content_length) > 0)
      return refuse("a request must not have both Content-Length and "
                    "Transfer-Encoding");
  }
  if (lower(std::string{h[http::field::expect]}) == "100-continue")
    expect_continue_ = true;
  auto& p = parser_->parser;
  auto body_follows = p.chunked() || p.content_length().value_or(0) > 0;
  if (check_ && body_follows) {
    http_request head;
    head.method = std::string{h.method_string()};
    head.target = std::string{h.target()};
    head.authorization = std::string{h[http::field::authorization]};
    head.target_error = check_target(head.target, head.path, head.query);
    if (auto refusal = check_(head))
      return std::move(*refusal);
  }
  return {ec::none, {}};
}

request_reader::status request_reader::next(http_request& out, ec& code,
                                            std::string& message) {
  auto& p = parser_->parser;
  auto fail = [&](ec c, std::string msg) {
    code = c;
    message = std::move(msg);
    return status::error;
  };
  while (pos_ < buf_.size()) {
    boost::beast::error_code err;
    auto size = buf_.size() - pos_;
    auto in_header = !p.is_header_done();
    if (in_header) {
      // Beast gets a header whole and alone: it applies its limit to the
      // bytes of one call, so a header in pieces could pass it, and how it
      // judges a bad line depends on what it has of the rest. Lines must end
      // in CRLF: one that ends in LF alone is refused at once instead of
      // waiting for a blank line that never comes. Only the first
      // `header_limit_` bytes are looked at, so that the verdict does not
      // depend on how far past them the reads went.
      auto window = std::min<size_t>(size, header_limit_);
      auto last = buf_.data() + pos_ + window;
      size_t end = std::string::npos;
      for (const char* i = buf_.data() + pos_ + header_scanned_;
           (i = static_cast<const char*>(memchr(i, '\n', last - i)))
           != nullptr;
           ++i) {
        auto at = static_cast<size_t>(i - buf_.data());
        if (at == pos_ || buf_[at - 1] != '\r')
          return fail(ec::bad_request,
                      "malformed HTTP request: header lines must end in CRLF");
        if (at >= pos_ + 3 && buf_[at - 2] == '\n') {
          end = at - 3;
          break;
        }
      }
      if (end != std::string::npos) {
        size = end + 4 - pos_;
        header_scanned_ = 0;
      } else if (window < header_limit_) {
        header_scanned_ = window;
        break;
      } else {
        err = http::error::header_limit;
      }
    } else if (p.chunked()) {
      // Beast leaves a chunk header or trailer unread until it has its end,
      // however long. It gets a window of the header limit: a line or a
      // trailer judged on the same bytes however they arrived.
      size = std::min<size_t>(size, header_limit_);
    }
    size_t n = 0;
    if (!err)
      n = p.put(boost::asio::buffer(buf_.data() + pos_, size), err);
    pos_ += n;
    if (err == http::error::need_more && !in_header) {
      // Beast takes body bytes as they come and leaves unread only a chunk
      // header or trailer it has not seen the end of: one that does not end
      // within a full window is over the limit.
      if (size - n >= header_limit_)
        return fail(ec::bad_request,
                    "malformed HTTP request: a chunk header or trailer is "
                    "longer than the limit of "
                      + std::to_string(header_limit_) + " bytes");
      break;
    }
    if (err) {
      if (err == http::error::body_limit)
        return fail(ec::payload_too_large,
                    "the request body is larger than the limit of "
                      + std::to_string(body_limit_) + " bytes");
      if (err == http::error::header_limit)
        return fail(ec::bad_request,
                    "the request header is larger than the limit of "
                      + std::to_string(header_limit_) + " bytes");
      if (err == http::error::need_more)
        // Beast asks for more of a header it has whole.
        return fail(ec::bad_request, "malformed HTTP request: a line of the "
                                     "header is cut short");
      return fail(ec::bad_request, "malformed HTTP request: " + err.message());
    }
    if (in_header && p.is_header_done())
      if (auto [c, why] = check_header(); c != ec::none)
        return fail(c, std::move(why));
    if (!p.is_done())
      continue;
    auto req = p.release();
    reset_parser();
    if (pos_ == buf_.size() || pos_ > 65536) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    out = http_request{};
    out.method = std::string{req.method_string()};
    out.target = std::string{req.target()};
    out.keep_alive = req.keep_alive();
    out.content_type = std::string{req[http::field::content_type]};
    out.authorization = std::string{req[http::field::authorization]};
    out.idempotency_key = std::string{req["Idempotency-Key"]};
    out.last_event_id = std::string{req["Last-Event-ID"]};
    out.body = std::move(req.body());
    out.target_error = check_target(out.target, out.path, out.query);
    return status::request;
  }
  return status::need_more;
}

} // namespace tasker
