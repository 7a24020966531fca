#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

namespace tasker {

struct webhook_settings {
  std::string db_url;
  /// The key of the HMAC-SHA256 signature of each body (empty: unsigned).
  std::string secret;
  /// Longest attempt, connecting included.
  std::chrono::milliseconds timeout{5000};
  /// Attempts of one delivery before it counts as failed.
  int32_t max_attempts = 10;
  /// Back-off before attempt n+1: base * 2^(n-1), at most `retry_max`, with
  /// jitter.
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_max{300000};
  /// Attempts in flight at once.
  int32_t concurrency = 16;
  /// Whether a callback may reach loopback, private, link-local and other
  /// non-public addresses.
  bool allow_private = false;
  /// How often the table is read for due deliveries while none is in
  /// flight.
  std::chrono::milliseconds poll{250};
};

/// The body's signature as sent in `X-Tasker-Signature`: `sha256=` and the
/// hex HMAC-SHA256 of `body` under `secret`.
std::string webhook_signature(const std::string& secret,
                              const std::string& body);

/// Whether an address (IPv4 or IPv6, in network byte order as a sockaddr)
/// is public: not loopback, private, link-local, unique-local, shared,
/// multicast, unspecified or reserved (IPv4-mapped IPv6 addresses are
/// judged by their IPv4 address).
bool public_address(const void* sockaddr, size_t len);

/// Spawns the webhook sender: a detached actor with a database connection
/// of its own and a libcurl multi handle. It claims due rows of
/// `webhook_deliveries` (each terminal transition of a task with a
/// `callback_url` wrote one, in the same statement), POSTs each as JSON
/// (`{"delivery_id", "event", "task"}`) with `X-Tasker-Delivery`,
/// `X-Tasker-Attempt` and, with a secret, `X-Tasker-Signature`, at most
/// `concurrency` at once, each bounded by `timeout`; a 2xx answer delivers
/// it, anything else is tried again with back-off until `max_attempts`. A
/// callback that resolves to a non-public address is refused unless
/// `allow_private`. Redirects are not followed; proxies are not used.
caf::actor spawn_webhook_sender(caf::actor_system& sys, webhook_settings cfg);

} // namespace tasker
