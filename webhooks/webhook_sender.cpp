#include "webhooks/webhook_sender.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/log.hpp"
#include "gateway/encoding.hpp"
#include "messages/atoms.hpp"
#include "persistence/database.hpp"

namespace tasker {

std::string webhook_signature(const std::string& secret,
                              const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
       &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 0xF];
  }
  return out;
}

namespace {

bool public_v4(uint32_t a) {
  auto in = [a](uint32_t net, int bits) {
    return (a >> (32 - bits)) == (net >> (32 - bits));
  };
  return !(in(0x00000000, 8)        // this network
           || in(0x0A000000, 8)     // 10/8
           || in(0x64400000, 10)    // 100.64/10, shared
           || in(0x7F000000, 8)     // loopback
           || in(0xA9FE0000, 16)    // link-local
           || in(0xAC100000, 12)    // 172.16/12
           || in(0xC0000000, 24)    // 192.0.0/24
           || in(0xC0000200, 24)    // documentation
           || in(0xC0A80000, 16)    // 192.168/16
           || in(0xC6120000, 15)    // benchmarking
           || in(0xC6336400, 24)    // documentation
           || in(0xCB007100, 24)    // documentation
           || in(0xE0000000, 4)     // multicast
           || in(0xF0000000, 4));   // reserved, broadcast
}

} // namespace

bool public_address(const void* addr, size_t len) {
  auto sa = static_cast<const sockaddr*>(addr);
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto v4 = static_cast<const sockaddr_in*>(addr);
    return public_v4(ntohl(v4->sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto& b = static_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr;
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                                 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(b, mapped, 12) == 0)
      return public_v4(uint32_t{b[12]} << 24 | uint32_t{b[13]} << 16
                       | uint32_t{b[14]} << 8 | b[15]);
    bool zero_prefix = std::all_of(b, b + 15, [](unsigned char c) {
      return c == 0;
    });
    if (zero_prefix && (b[15] == 0 || b[15] == 1))
      return false;                       // unspecified, loopback
    if ((b[0] & 0xFE) == 0xFC)            // fc00::/7 unique local
      return false;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) // fe80::/10 link-local
      return false;
    if (b[0] == 0xFF)                     // multicast
      return false;
    // 64:ff9b::/96 (NAT64 of any IPv4), 2001:db8::/32 (documentation).
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8)
      return false;
    return true;
  }
  return false;
}

namespace {

/// Bytes of a receiver's answer read at most (the rest is dropped).
constexpr size_t max_answer = 64 * 1024;

struct attempt {
  webhook_delivery delivery;
  std::string body;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {0};
  size_t answer_bytes = 0;
  /// The address check refused where the URL points.
  bool refused_address = false;
  bool allow_private = false;
};

size_t discard(char*, size_t size, size_t n, void* user) {
  auto a = static_cast<attempt*>(user);
  a->answer_bytes += size * n;
  // Returning less than given ends the transfer: enough was read.
  return a->answer_bytes > max_answer ? 0 : size * n;
}

curl_socket_t open_checked(void* user, curlsocktype, curl_sockaddr* addr) {
  auto a = static_cast<attempt*>(user);
  if (!a->allow_private && !public_address(&addr->addr, addr->addrlen)) {
    a->refused_address = true;
    return CURL_SOCKET_BAD;
  }
  return ::socket(addr->family, addr->socktype, addr->protocol);
}

struct sender_state {
  static inline constexpr const char* name = "webhooks";

  std::unique_ptr<database> db;
  CURLM* multi = nullptr;
  std::map<CURL*, std::unique_ptr<attempt>> flying;
  bool failing = false;
  std::mt19937_64 rng{std::random_device{}()};

  ~sender_state() {
    for (auto& [easy, a] : flying) {
      curl_multi_remove_handle(multi, easy);
      curl_easy_cleanup(easy);
      curl_slist_free_all(a->headers);
    }
    if (multi != nullptr)
      curl_multi_cleanup(multi);
  }
};

using sender_actor = caf::stateful_actor<sender_state>;

/// Runs a database call; false (logged once until it works) on failure.
template <class F>
bool with_db(sender_actor* self, F f) {
  auto& st = self->state;
  try {
    f();
    st.failing = false;
    return true;
  } catch (const std::exception& e) {
    st.db->reset();
    if (!st.failing)
      log::warning(st.name, "the webhook sender cannot reach the database; "
                            "trying again",
                   {{"error", e.what()}});
    st.failing = true;
    return false;
  }
}

void start(sender_actor* self, const webhook_settings& cfg,
           webhook_delivery d) {
  auto& st = self->state;
  auto a = std::make_unique<attempt>();
  a->allow_private = cfg.allow_private;
  // The body: the terminal event and the task as it is now.
  std::optional<task_event_record> ev;
  std::optional<task_record> rec;
  if (!with_db(self, [&] {
        ev = st.db->event(d.task_id, d.seq);
        rec = st.db->get(d.task_id);
      }))
    return; // (claimed: due again once the lease passes)
  if (!ev || !rec) {
    d.state = "failed";
    d.last_error = "the task or its event no longer exists";
    with_db(self, [&] { st.db->finish_delivery(d, 0); });
    return;
  }
  auto delivery_id = d.task_id + "-" + std::to_string(d.seq);
  a->body = "{\"delivery_id\":\"" + delivery_id + "\",\"event\":";
  append_event_json(a->body, *ev);
  a->body += ",\"task\":" + task_json(*rec) + "}";
  auto add = [&a](const std::string& h) {
    a->headers = curl_slist_append(a->headers, h.c_str());
  };
  add("Content-Type: application/json");
  add("X-Tasker-Delivery: " + delivery_id);
  add("X-Tasker-Attempt: " + std::to_string(d.attempts));
  if (!cfg.secret.empty())
    add("X-Tasker-Signature: " + webhook_signature(cfg.secret, a->body));
  add("Expect:"); // (no 100-continue round trip)
  a->delivery = std::move(d);
  auto easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, a->delivery.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "tasker-webhooks");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, a->headers);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, a->body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                   static_cast<long>(a->body.size()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(cfg.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, a.get());
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_checked);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, a.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, a->error);
  curl_multi_add_handle(st.multi, easy);
  st.flying.emplace(easy, std::move(a));
}

/// Records how a finished attempt went.
void finish(sender_actor* self, const webhook_settings& cfg, CURL* easy,
            CURLcode res) {
  auto& st = self->state;
  auto i = st.flying.find(easy);
  if (i == st.flying.end())
    return;
  auto a = std::move(i->second);
  st.flying.erase(i);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(st.multi, easy);
  curl_easy_cleanup(easy);
  curl_slist_free_all(a->headers);
  auto& d = a->delivery;
  d.last_status = static_cast<int32_t>(status);
  bool answered = res == CURLE_OK || res == CURLE_WRITE_ERROR;
  if (answered && status >= 200 && status < 300) {
    d.state = "delivered";
    d.last_error.clear();
    with_db(self, [&] { st.db->finish_delivery(d, 0); });
    return;
  }
  if (a->refused_address)
    d.last_error = "the callback resolves to a non-public address "
                   "(webhook_allow_private is off)";
  else if (!answered)
    d.last_error = a->error[0] != '\0' ? a->error : curl_easy_strerror(res);
  else
    d.last_error = "the receiver answered " + std::to_string(status);
  int64_t next = 0;
  if (d.attempts >= cfg.max_attempts) {
    d.state = "failed";
    log::warning(st.name, "webhook delivery failed",
                 {{"task_id", d.task_id}, {"seq", d.seq},
                  {"attempts", d.attempts}, {"error", d.last_error}});
  } else {
    d.state = "pending";
    auto base = static_cast<double>(cfg.retry_base.count());
    auto raw = base * std::ldexp(1.0, std::min(d.attempts - 1, 40));
    auto capped = std::min(raw, static_cast<double>(cfg.retry_max.count()));
    auto jitter = std::uniform_real_distribution<double>{0.75, 1.0}(st.rng);
    next = std::max<int64_t>(1, static_cast<int64_t>(capped * jitter));
  }
  with_db(self, [&] { st.db->finish_delivery(d, next); });
}

caf::behavior webhook_sender(sender_actor* self, webhook_settings cfg) {
  auto& st = self->state;
  st.db = std::make_unique<database>(cfg.db_url);
  st.multi = curl_multi_init();
  self->send(self, tick_atom_v);
  return {
    [=](tick_atom) {
      auto& st = self->state;
      auto room = cfg.concurrency - static_cast<int32_t>(st.flying.size());
      if (room > 0) {
        std::vector<webhook_delivery> due;
        // (A claim lasts past the attempt's timeout: a sender that dies
        // mid-attempt leaves the delivery due again then.)
        with_db(self, [&] {
          due = st.db->claim_deliveries(room, cfg.timeout.count() + 5000);
        });
        for (auto& d : due)
          start(self, cfg, std::move(d));
      }
      if (st.flying.empty()) {
        self->delayed_send(self, cfg.poll, tick_atom_v);
        return;
      }
      int running = 0;
      curl_multi_perform(st.multi, &running);
      int queued = 0;
      while (auto msg = curl_multi_info_read(st.multi, &queued))
        if (msg->msg == CURLMSG_DONE)
          finish(self, cfg, msg->easy_handle, msg->data.result);
      if (!st.flying.empty())
        curl_multi_poll(st.multi, nullptr, 0, 50, nullptr);
      self->send(self, tick_atom_v);
    },
  };
}

} // namespace

caf::actor spawn_webhook_sender(caf::actor_system& sys, webhook_settings cfg) {
  // Detached: libpqxx and libcurl's poll block.
  return sys.spawn<caf::detached>(webhook_sender, std::move(cfg));
}

} // namespace tasker
