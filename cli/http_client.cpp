#include "cli/http_client.hpp"

#include "cli/parse.hpp"

#include <curl/curl.h>

#include <chrono>
#include <memory>

namespace tasker::cli {

namespace {

using clock_type = std::chrono::steady_clock;

/// Most bytes kept of an error answer to a stream.
constexpr size_t max_stream_error_bytes = 64 * 1024;

struct slist_deleter {
  void operator()(curl_slist* list) const {
    curl_slist_free_all(list);
  }
};

using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

CURL* handle(void* curl) {
  return static_cast<CURL*>(curl);
}

} // namespace

/// What one transfer collects while libcurl runs it.
struct http_client::transfer {
  std::string url;
  std::string method;
  const std::string* body = nullptr;
  long timeout_ms = 0;
  std::vector<std::string> headers;
  // Streams only:
  const std::function<bool(const char*, size_t)>* on_data = nullptr;
  long idle_timeout_ms = 0;
  // Filled in while it runs:
  CURL* curl = nullptr;
  std::string received;
  size_t cap = max_response_bytes;
  long status = -1;
  bool too_large = false;
  bool stopped = false;
  bool streamed = false;
  bool idle = false;
  clock_type::time_point last_data = clock_type::now();
};

namespace {

size_t on_write(char* ptr, size_t size, size_t count, void* user) {
  auto& t = *static_cast<http_client::transfer*>(user);
  size_t n = size * count;
  t.last_data = clock_type::now();
  if (t.on_data != nullptr) {
    if (t.status < 0)
      curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.status == 200) {
      t.streamed = true;
      if (!(*t.on_data)(ptr, n)) {
        t.stopped = true;
        return 0; // (anything but n ends the transfer)
      }
      return n;
    }
  }
  if (t.received.size() + n > t.cap) {
    t.too_large = true;
    return 0;
  }
  t.received.append(ptr, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  // libcurl calls this about once a second also while nothing arrives: the
  // place to notice a stream that went silent (its keep-alives stopped).
  auto& t = *static_cast<http_client::transfer*>(user);
  if (t.idle_timeout_ms > 0 &&
      clock_type::now() - t.last_data >
          std::chrono::milliseconds(t.idle_timeout_ms)) {
    t.idle = true;
    return 1;
  }
  return 0;
}

} // namespace

http_client::http_client(std::string base_url, std::string token)
  : base_url_(std::move(base_url)), token_(std::move(token)) {
  static bool initialized = false;
  if (!initialized) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    initialized = true;
  }
  curl_ = curl_easy_init();
}

http_client::~http_client() {
  if (curl_ != nullptr)
    curl_easy_cleanup(handle(curl_));
}

http_result http_client::request(const std::string& method,
                                 const std::string& path,
                                 const std::string& body, long timeout_ms) {
  transfer t;
  t.url = base_url_ + path;
  t.method = method;
  t.body = &body;
  t.timeout_ms = timeout_ms;
  t.headers.push_back("Accept: application/json");
  return perform(t);
}

http_result
http_client::stream(const std::string& path,
                    const std::vector<std::string>& headers,
                    const std::function<bool(const char*, size_t)>& on_data,
                    long idle_timeout_ms) {
  transfer t;
  t.url = base_url_ + path;
  t.method = "GET";
  t.headers = headers;
  t.headers.push_back("Accept: text/event-stream");
  t.on_data = &on_data;
  t.idle_timeout_ms = idle_timeout_ms;
  t.cap = max_stream_error_bytes;
  return perform(t);
}

http_result http_client::perform(transfer& t) {
  http_result res;
  auto curl = handle(curl_);
  if (curl == nullptr) {
    res.failure = http_failure::unreachable;
    res.error = "libcurl could not be initialized";
    return res;
  }
  // Resetting keeps the connection cache: the next request reuses it.
  curl_easy_reset(curl);
  t.curl = curl;
  static const std::string no_body;
  slist_ptr headers;
  auto add_header = [&headers](const std::string& line) {
    auto next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  for (auto& line : t.headers)
    add_header(line);
  if (!token_.empty())
    add_header("Authorization: Bearer " + token_);
  // No "100 Continue" round trip before a large batch.
  add_header("Expect:");
  char errors[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, t.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tasker-cli/1");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errors);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(t.on_data ? 0 : t.cap));
  if (t.on_data != nullptr) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  }
  if (t.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    auto& body = t.body != nullptr ? *t.body : no_body;
    if (t.method != "POST")
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, t.method.c_str());
    if (t.method == "POST" || !body.empty()) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      // libcurl would call a body a form otherwise.
      add_header(body.empty() ? "Content-Type:"
                              : "Content-Type: application/json");
    }
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  auto rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res.status);
  res.body = std::move(t.received);
  res.streamed = t.streamed;
  struct curl_header* retry = nullptr;
  if (res.status > 0 &&
      curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &retry) ==
          CURLHE_OK &&
      retry != nullptr && retry->value != nullptr)
    res.retry_after_s = parse_retry_after(retry->value);
  if (rc == CURLE_OK)
    return res;
  std::string detail = errors[0] != 0 ? errors : curl_easy_strerror(rc);
  if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    res.failure = http_failure::too_large;
    res.error = "the answer is larger than " +
                std::to_string(t.cap / (1024 * 1024)) + " MiB";
  } else if (t.stopped) {
    res.failure = http_failure::stopped;
    res.error = "stopped";
  } else if (t.idle) {
    res.failure = http_failure::unreachable;
    res.error = "nothing arrived for " +
                std::to_string(t.idle_timeout_ms / 1000) + " s";
  } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
    res.failure = http_failure::bad_url;
    res.error = detail;
  } else {
    res.failure = http_failure::unreachable;
    res.error = detail;
  }
  return res;
}

} // namespace tasker::cli
