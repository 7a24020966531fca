#include "tasks/http_task.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/format.hpp"

namespace tasker {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

/// Collects an answer up to a bound.
struct answer {
  std::string body;
  uint64_t max = 0;
  bool too_big = false;
};

size_t collect(char* data, size_t size, size_t count, void* user) {
  auto& a = *static_cast<answer*>(user);
  auto n = size * count;
  if (a.body.size() + n > a.max) {
    a.too_big = true;
    return 0; // (libcurl stops with CURLE_WRITE_ERROR)
  }
  a.body.append(data, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  // Non-zero stops the transfer (CURLE_ABORTED_BY_CALLBACK).
  return static_cast<const task_context*>(user)->cancelled() ? 1 : 0;
}

/// The start of an answer, for an error.
std::string excerpt(const std::string& body) {
  auto text = to_storable_text(body.substr(0, 200));
  return text.empty() ? text : ": " + text;
}

} // namespace

http_spec parse_http_spec(const json& js, const std::string& where) {
  auto refuse = [&](const std::string& key, const std::string& why) {
    throw std::invalid_argument(where + (key.empty() ? "" : "." + key) + " "
                                + why);
  };
  if (!js.is_object())
    refuse("", "must be an object with at least url");
  static const char* known[] = {"url",        "secret",
                                "timeout_ms", "connect_timeout_ms",
                                "max_concurrency", "max_response_bytes"};
  for (auto& [key, val] : js.items())
    if (std::find(std::begin(known), std::end(known), key) == std::end(known))
      refuse(key, "is not a field of an HTTP task (fields: url, secret, "
                  "timeout_ms, connect_timeout_ms, max_concurrency, "
                  "max_response_bytes)");
  http_spec spec;
  auto url = js.value("url", json{});
  if (!url.is_string()
      || (url.get<std::string>().rfind("http://", 0) != 0
          && url.get<std::string>().rfind("https://", 0) != 0)
      || !is_storable_text(url.get<std::string>())
      || url.get<std::string>().size() > 2048)
    refuse("url", "must be an http:// or https:// URL of at most 2048 "
                  "bytes");
  spec.url = url.get<std::string>();
  if (auto s = js.find("secret"); s != js.end()) {
    if (!s->is_string())
      refuse("secret", "must be a string");
    spec.secret = s->get<std::string>();
  }
  auto integer = [&](const char* key, int64_t lo, int64_t hi, int64_t& out) {
    auto i = js.find(key);
    if (i == js.end())
      return;
    if (!i->is_number_integer() || i->get<int64_t>() < lo
        || i->get<int64_t>() > hi
        || (i->is_number_unsigned() && i->get<uint64_t>() > uint64_t(hi)))
      refuse(key, "must be an integer between " + std::to_string(lo) + " and "
                    + std::to_string(hi));
    out = i->get<int64_t>();
  };
  integer("timeout_ms", 1, 86400000, spec.timeout_ms);
  integer("connect_timeout_ms", 1, 600000, spec.connect_timeout_ms);
  integer("max_concurrency", 1, 4096, spec.max_concurrency);
  auto max_response = static_cast<int64_t>(spec.max_response_bytes);
  integer("max_response_bytes", 0, 64 * 1024 * 1024, max_response);
  spec.max_response_bytes = static_cast<uint64_t>(max_response);
  return spec;
}

std::string http_task_signature(const std::string& secret,
                                const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
       &size);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < size; ++i) {
    out += digits[mac[i] >> 4];
    out += digits[mac[i] & 15];
  }
  return out;
}

http_runner::http_runner(http_spec spec) : spec_(std::move(spec)) {
  // (Thread-safe since libcurl 7.84; done here, at start, anyway.)
  static const auto initialized = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void) initialized;
}

http_runner::~http_runner() {
  for (auto handle : idle_)
    curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* http_runner::take_handle(const task_context& ctx) {
  auto deadline = ctx.timeout_ms > 0
                    ? clock_type::now()
                        + std::chrono::milliseconds(ctx.timeout_ms)
                    : clock_type::time_point::max();
  std::unique_lock<std::mutex> guard{mtx_};
  // (Woken by a finished request; a cancel is noticed within 50 ms.)
  while (busy_ >= spec_.max_concurrency) {
    if (ctx.cancelled() || clock_type::now() >= deadline)
      return nullptr;
    cv_.wait_for(guard, std::chrono::milliseconds(50));
  }
  ++busy_;
  if (!idle_.empty()) {
    auto handle = idle_.back();
    idle_.pop_back();
    return handle;
  }
  guard.unlock();
  auto handle = curl_easy_init();
  if (handle == nullptr) {
    give_back(nullptr);
    return nullptr;
  }
  return handle;
}

void http_runner::give_back(void* handle) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    --busy_;
    if (handle != nullptr)
      idle_.push_back(handle);
  }
  cv_.notify_one();
}

handler_result http_runner::run(const std::string& type, const json& params,
                                const task_context& ctx) {
  auto started = clock_type::now();
  auto curl = static_cast<CURL*>(take_handle(ctx));
  if (curl == nullptr)
    return ctx.cancelled()
             ? handler_result::failure("the attempt was cancelled", false)
             : handler_result::failure("no connection to the endpoint was "
                                       "free within the attempt's timeout");
  struct returner {
    http_runner* self;
    CURL* curl;
    ~returner() {
      self->give_back(curl);
    }
  } back{this, curl};
  auto body = params.dump(-1, ' ', false, json::error_handler_t::replace);
  curl_slist* headers = nullptr;
  auto add = [&](const std::string& line) {
    headers = curl_slist_append(headers, line.c_str());
  };
  add("Content-Type: application/json");
  add("Expect:"); // (no 100-continue round trip)
  add("X-Tasker-Task-Id: " + ctx.task_id);
  add("X-Tasker-Task-Type: " + type);
  add("X-Tasker-Attempt: " + std::to_string(ctx.attempt));
  if (!spec_.secret.empty())
    add("X-Tasker-Signature: " + http_task_signature(spec_.secret, body));
  struct list_guard {
    curl_slist* list;
    ~list_guard() {
      curl_slist_free_all(list);
    }
  } free_headers{headers};
  auto timeout = spec_.timeout_ms;
  if (ctx.timeout_ms > 0) {
    auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
                   clock_type::now() - started)
                   .count();
    timeout = std::max<int64_t>(1, std::min(timeout, ctx.timeout_ms - spent));
  }
  answer out;
  out.max = spec_.max_response_bytes;
  // (A reset keeps the handle's connections for the next request.)
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, spec_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tasker");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(spec_.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &ctx);
  auto res = curl_easy_perform(curl);
  if (res == CURLE_ABORTED_BY_CALLBACK)
    return handler_result::failure("the attempt was cancelled", false);
  if (out.too_big)
    return handler_result::failure(
      "the endpoint's answer is larger than "
        + std::to_string(spec_.max_response_bytes) + " bytes",
      false);
  if (res == CURLE_OPERATION_TIMEDOUT)
    return handler_result::failure("the endpoint did not answer within "
                                   + std::to_string(timeout) + " ms");
  if (res != CURLE_OK)
    return handler_result::failure(std::string{"the request failed: "}
                                   + curl_easy_strerror(res));
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status == 429 || status >= 500)
    return handler_result::failure("the endpoint answered "
                                   + std::to_string(status)
                                   + excerpt(out.body));
  if (status < 200 || status > 299)
    return handler_result::failure(
      "the endpoint answered " + std::to_string(status) + excerpt(out.body),
      false);
  if (out.body.find_first_not_of(" \t\r\n") == std::string::npos)
    return handler_result::success(nullptr);
  if (nests_deeper_than(out.body, 64))
    return handler_result::failure("the endpoint's answer nests deeper than "
                                   "64 levels",
                                   false);
  try {
    return handler_result::success(json::parse(out.body));
  } catch (const json::exception& e) {
    return handler_result::failure(
      std::string{"the endpoint's answer is not JSON: "} + e.what(), false);
  }
}

} // namespace tasker
