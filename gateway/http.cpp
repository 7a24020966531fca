#include "gateway/http.hpp"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

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
  return res;
}

http_response json_response(int status, std::string body) {
  http_response res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

std::string serialize(const http_response& res, bool keep_alive) {
  auto reason = http::obsolete_reason(http::int_to_status(
    static_cast<unsigned>(res.status)));
  std::string out;
  out.reserve(res.body.size() + 160);
  out += "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\nContent-Type: ";
  out += res.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(res.body.size());
  for (auto& [name, value] : res.headers) {
    out += "\r\n";
    out += name;
    out += ": ";
    out += value;
  }
  out += keep_alive ? "\r\nConnection: keep-alive\r\n\r\n"
                    : "\r\nConnection: close\r\n\r\n";
  out += res.body;
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool decode(const std::string& in, std::string& out, bool plus_is_space) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    auto c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      auto hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out += static_cast<char>(hi * 16 + lo);
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
  auto rest = target.substr(qpos + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    auto amp = rest.find('&', start);
    auto part = rest.substr(start, amp == std::string::npos ? std::string::npos
                                                             : amp - start);
    if (!part.empty()) {
      auto eq = part.find('=');
      std::string key, value;
      if (!decode(part.substr(0, eq), key, true))
        return false;
      if (eq != std::string::npos && !decode(part.substr(eq + 1), value, true))
        return false;
      query.emplace_back(std::move(key), std::move(value));
    }
    if (amp == std::string::npos)
      break;
    start = amp + 1;
  }
  return true;
}

struct request_reader::impl {
  http::request_parser<http::string_body> parser;
};

request_reader::request_reader(uint64_t header_limit, uint64_t body_limit)
  : header_limit_(header_limit), body_limit_(body_limit) {
  reset_parser();
}

request_reader::~request_reader() = default;

void request_reader::reset_parser() {
  header_scanned_ = 0;
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

request_reader::status request_reader::next(http_request& out, ec& code,
                                            std::string& message) {
  auto& p = parser_->parser;
  while (pos_ < buf_.size()) {
    boost::beast::error_code err;
    auto size = buf_.size() - pos_;
    auto in_header = !p.is_header_done();
    if (in_header) {
      // Beast gets a header whole and alone: it applies its limit to the
      // bytes of one call, so a header in pieces could pass it, and how it
      // judges a bad line depends on what it has of the rest.
      auto end = buf_.find("\r\n\r\n", pos_ + header_scanned_);
      if (end == std::string::npos) {
        if (size < header_limit_) {
          header_scanned_ = std::max<size_t>(size, 3) - 3;
          break;
        }
        err = http::error::header_limit;
      } else if (end + 4 - pos_ > header_limit_) {
        err = http::error::header_limit;
      } else {
        size = end + 4 - pos_;
        header_scanned_ = 0;
      }
    }
    size_t n = 0;
    if (!err)
      n = p.put(boost::asio::buffer(buf_.data() + pos_, size), err);
    pos_ += n;
    if (err == http::error::need_more && !in_header)
      break;
    if (err) {
      if (err == http::error::body_limit) {
        code = ec::payload_too_large;
        message = "the request body is larger than the limit of "
                  + std::to_string(body_limit_) + " bytes";
      } else if (err == http::error::header_limit) {
        code = ec::bad_request;
        message = "the request header is larger than the limit of "
                  + std::to_string(header_limit_) + " bytes";
      } else if (err == http::error::need_more) {
        // Beast asks for more of a header it has whole.
        code = ec::bad_request;
        message = "malformed HTTP request: a line of the header is cut short";
      } else {
        code = ec::bad_request;
        message = "malformed HTTP request: " + err.message();
      }
      return status::error;
    }
    if (!p.is_done())
      continue;
    auto req = p.release();
    reset_parser();
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > 65536) {
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
    out.body = std::move(req.body());
    out.malformed_target = !split_target(out.target, out.path, out.query);
    return status::request;
  }
  return status::need_more;
}

} // namespace tasker
