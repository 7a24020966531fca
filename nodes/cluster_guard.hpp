#pragma once

#include "messages/interfaces.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tasker {

/// The exchange a worker node passes on the cluster port before any
/// byte reaches CAF's BASP (nodes/README.md, "The cluster port and
/// strangers"): the coordinator sends a challenge (magic and 32 random
/// bytes), the node answers with the magic and an HMAC of the nonce under the
/// cluster secret, the coordinator answers one verdict byte.
namespace cluster_handshake {

/// Opens the challenge and the response: the protocol's name and version
/// (16 bytes, no terminator on the wire).
inline constexpr char magic[] = "tasker-cluster/1";

/// Bytes of the magic on the wire.
inline constexpr size_t magic_size = sizeof(magic) - 1;

/// Random bytes in a challenge.
inline constexpr size_t nonce_size = 32;

/// Bytes of an HMAC-SHA256.
inline constexpr size_t mac_size = 32;

/// Bytes of a challenge: magic, then the nonce.
inline constexpr size_t challenge_size = magic_size + nonce_size;

/// Bytes of a response: magic, then the MAC.
inline constexpr size_t response_size = magic_size + mac_size;

/// What the MAC covers before the nonce, so that it proves nothing else.
inline constexpr char mac_label[] = "tasker-join";

/// Verdict byte: the node proved the secret; BASP follows on the connection.
inline constexpr char accepted = 'Y';

/// Verdict byte: wrong (or no) secret; the coordinator closes.
inline constexpr char refused = 'N';

/// How long a node waits for the challenge once connected. The guard sends
/// it as it accepts, from a thread that waits for nothing else: a port that
/// stays silent is not a guard (a TLS coordinator's, say).
inline constexpr std::chrono::milliseconds challenge_wait{2000};

using challenge = std::array<uint8_t, challenge_size>;

using response = std::array<uint8_t, response_size>;

using mac_bytes = std::array<uint8_t, mac_size>;

/// Returns whether the first `n` received bytes agree with the magic (as far
/// as they go: `n` may be shorter than the magic, or longer).
bool starts_with_magic(const uint8_t* bytes, size_t n);

/// Returns the challenge made of the magic and `nonce` (nonce_size bytes).
challenge make_challenge(const uint8_t* nonce);

/// Returns a challenge with a fresh nonce from OpenSSL's RAND_bytes, or
/// false when the generator fails.
bool random_challenge(challenge& out);

/// Returns HMAC-SHA256(key = secret, message = mac_label || nonce), nonce
/// being nonce_size bytes.
mac_bytes mac(const std::string& secret, const uint8_t* nonce);

/// Returns the node's response to a challenge, or false when the challenge
/// does not start with the magic (not a tasker coordinator, or another
/// version).
bool answer(const std::string& secret, const challenge& c, response& out);

/// Returns whether a response proves `secret` for this challenge (constant
/// time in the MAC). Always false with an empty secret.
bool verify(const std::string& secret, const challenge& c, const response& r);

} // namespace cluster_handshake

/// What the guard has seen since it started (read from any thread).
struct cluster_guard_stats {
  /// Connections that proved the secret and went on to BASP.
  std::atomic<uint64_t> admitted{0};
  /// Connections in the exchange closed (the oldest) to make room for a new
  /// one past max_handshakes.
  std::atomic<uint64_t> refused_busy{0};
  /// Connections closed because the exchange took too long.
  std::atomic<uint64_t> timed_out{0};
  /// Connections whose first bytes were not the magic (closed at once).
  std::atomic<uint64_t> bad_magic{0};
  /// Responses with a wrong MAC (or any, without a secret): verdict 'N'.
  std::atomic<uint64_t> bad_mac{0};
  /// Connections the peer closed, or that failed, during the exchange.
  std::atomic<uint64_t> dropped{0};
  /// Connections in the exchange now.
  std::atomic<uint64_t> pending{0};
};

/// Settings of the guard on the cluster port.
struct cluster_guard_config {
  /// Address to listen on (empty: every address).
  std::string host = "127.0.0.1";
  /// Port to listen on; 0 picks a free one.
  uint16_t port = 0;
  /// The cluster secret; empty refuses every node.
  std::string secret;
  /// A connection that has not finished the exchange by then is closed.
  std::chrono::milliseconds handshake_timeout{5000};
  /// Most connections in the exchange at once; past it the oldest is closed.
  size_t max_handshakes = 64;
  /// Where it counts what it sees (shared with whoever reports them); made
  /// by the guard when null.
  std::shared_ptr<cluster_guard_stats> stats;
};

/// The listening socket of the cluster port and a thread of its own
/// (plain nonblocking sockets and poll(), never a CAF thread) that runs the
/// challenge-response with every connection and hands those that pass to
/// `admit`; the others get 'N' or are closed. Every buffer is fixed: 48 bytes
/// read per pending connection at most, `max_handshakes` connections pending
/// at most.
class cluster_guard {
public:
  /// Takes an authenticated, connected socket (and the guard's port); called
  /// on the guard's thread, owns the descriptor from then on.
  using admit_fn = std::function<void(int fd, uint16_t port)>;

  /// Binds the listening socket (SO_REUSEADDR) and starts the thread, or
  /// returns why it could not bind.
  static caf::expected<std::unique_ptr<cluster_guard>>
  start(cluster_guard_config cfg, admit_fn admit);

  /// Stops the thread (see stop()).
  ~cluster_guard();

  uint16_t port() const {
    return port_;
  }

  /// Wakes and joins the thread, closes the listening socket and every
  /// connection still in the exchange. Connections already handed to BASP
  /// stay. Idempotent.
  void stop();

private:
  struct pending_conn;

  /// Takes over a bound listening socket and an eventfd (use start()).
  cluster_guard(cluster_guard_config cfg, admit_fn admit, int listener,
                int wake, uint16_t port);

  /// The guard's thread: accepts, runs the exchanges, closes the late.
  void run();
  /// Accepts what the listener has queued (up to a limit); false when
  /// accepting failed (no descriptors left, say).
  bool accept_all(std::vector<pending_conn>& pending);
  /// Reads what a pending connection sent; returns whether it is still
  /// pending.
  bool on_readable(pending_conn& c);
  /// Logs a warning with the running count, at most once a second.
  void warn(const char* message, const std::atomic<uint64_t>& count,
            std::chrono::steady_clock::time_point& last);

  cluster_guard_config cfg_;
  admit_fn admit_;
  int listener_;
  int wake_;
  uint16_t port_;
  std::shared_ptr<cluster_guard_stats> stats_;
  std::chrono::steady_clock::time_point last_busy_log_{};
  std::chrono::steady_clock::time_point last_timeout_log_{};
  std::chrono::steady_clock::time_point last_magic_log_{};
  std::chrono::steady_clock::time_point last_mac_log_{};
  std::chrono::steady_clock::time_point last_accept_log_{};
  std::thread thread_;
};

/// Starts the guard on the cluster port with `whom` (the dispatcher) as what
/// BASP offers on it: each authenticated socket becomes a scribe (with
/// `tls`, one that runs the TLS handshake first) handed to the BASP broker
/// as `publish` does with an accepted one (server handshake, then BASP).
caf::expected<std::unique_ptr<cluster_guard>>
guard_cluster_port(caf::actor_system& sys, const dispatcher_actor& whom,
                   cluster_guard_config cfg, bool tls);

/// Connects to a coordinator's guarded cluster port, passes the exchange
/// with `secret` and has BASP connect over the socket (with `tls`, inside a
/// TLS session begun on it); returns the dispatcher. Blocks (at most about
/// `timeout` per step): call it from a thread of its own, never an actor's.
/// A refused secret is `ec::unauthorized`.
caf::expected<dispatcher_actor>
join_cluster(caf::actor_system& sys, const std::string& host, uint16_t port,
             const std::string& secret, std::chrono::milliseconds timeout,
             bool tls);

} // namespace tasker
