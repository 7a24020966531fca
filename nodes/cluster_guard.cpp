#include "nodes/cluster_guard.hpp"

#include "common/log.hpp"
#include "messages/error.hpp"
#include "nodes/node_scribe.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/native_socket.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

namespace tasker {

namespace cluster_handshake {

bool starts_with_magic(const uint8_t* bytes, size_t n) {
  auto k = std::min(n, magic_size);
  return std::memcmp(bytes, magic, k) == 0;
}

challenge make_challenge(const uint8_t* nonce) {
  challenge c;
  std::memcpy(c.data(), magic, magic_size);
  std::memcpy(c.data() + magic_size, nonce, nonce_size);
  return c;
}

bool random_challenge(challenge& out) {
  std::array<uint8_t, nonce_size> nonce;
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
    return false;
  out = make_challenge(nonce.data());
  return true;
}

mac_bytes mac(const std::string& secret, const uint8_t* nonce) {
  std::array<uint8_t, sizeof(mac_label) - 1 + nonce_size> msg;
  std::memcpy(msg.data(), mac_label, sizeof(mac_label) - 1);
  std::memcpy(msg.data() + sizeof(mac_label) - 1, nonce, nonce_size);
  mac_bytes out{};
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       msg.data(), msg.size(), out.data(), nullptr);
  return out;
}

bool answer(const std::string& secret, const challenge& c, response& out) {
  if (!starts_with_magic(c.data(), c.size()))
    return false;
  auto m = mac(secret, c.data() + magic_size);
  std::memcpy(out.data(), magic, magic_size);
  std::memcpy(out.data() + magic_size, m.data(), mac_size);
  return true;
}

bool verify(const std::string& secret, const challenge& c, const response& r) {
  if (secret.empty() || !starts_with_magic(r.data(), r.size()))
    return false;
  auto expected = mac(secret, c.data() + magic_size);
  return CRYPTO_memcmp(r.data() + magic_size, expected.data(), mac_size) == 0;
}

} // namespace cluster_handshake

namespace {

constexpr const char* component = "cluster_guard";

using clock_type = std::chrono::steady_clock;

/// Most connections taken from the listening socket per wake-up, so that
/// a flood of them cannot starve the exchanges under way.
constexpr int accepts_per_wake = 64;

/// The `host:port` of a socket's peer, or "?" when it has none.
std::string peer_address(int fd) {
  auto host = caf::io::network::remote_addr_of_fd(fd);
  auto port = caf::io::network::remote_port_of_fd(fd);
  return host && port ? *host + ":" + std::to_string(*port) : "?";
}

/// Whether a warning limited to one a second is due now (then marks it).
bool due(clock_type::time_point& last) {
  auto now = clock_type::now();
  if (now - last < std::chrono::seconds(1))
    return false;
  last = now;
  return true;
}

/// Sends one byte without blocking; returns whether it went out.
bool send_byte(int fd, char byte) {
  return send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1;
}

/// Milliseconds left until `deadline` (at least 0).
int millis_until(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  // Round up, so that a wait does not wake just before its deadline.
  return static_cast<int>(std::max<int64_t>(0, left.count() + 1));
}

/// Waits until `fd` is ready for `events` or the deadline passes; returns
/// an empty string when ready, else why not.
std::string wait_for(int fd, short events, clock_type::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    auto rc = poll(&p, 1, millis_until(deadline));
    if (rc > 0)
      return "";
    if (rc == 0)
      return "timed out";
    if (errno != EINTR)
      return std::strerror(errno);
  }
}

/// Writes all `n` bytes (`write`), or reads exactly `n` bytes and not one
/// more, by the deadline.
std::string transfer(int fd, uint8_t* buf, size_t n, bool write,
                     clock_type::time_point deadline) {
  size_t done = 0;
  while (done < n) {
    auto k = write ? send(fd, buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT)
                   : recv(fd, buf + done, n - done, MSG_DONTWAIT);
    if (k > 0) {
      done += static_cast<size_t>(k);
      continue;
    }
    if (k == 0 && !write)
      return "the coordinator closed the connection";
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return std::strerror(errno);
    if (auto err = wait_for(fd, write ? POLLOUT : POLLIN, deadline);
        !err.empty())
      return err;
  }
  return "";
}

/// A file descriptor closed when it goes out of scope unless released.
struct fd_guard {
  int fd;
  fd_guard(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
  int release() {
    return std::exchange(fd, -1);
  }
};

/// Resolves host:port (passive: for listening, an empty host is every
/// address) and gives each address in turn a fresh nonblocking socket, until
/// `attempt(fd, address)` takes one (returns empty); that socket is the
/// result. Otherwise the error says what went wrong last.
template <class F>
caf::expected<int> first_address(const std::string& host, uint16_t port,
                                 bool passive, caf::sec failure,
                                 const std::string& what, F attempt) {
  addrinfo hints{passive ? AI_PASSIVE : 0, AF_UNSPEC, SOCK_STREAM, 0, 0,
                 nullptr, nullptr, nullptr};
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  auto name = passive && host.empty() ? nullptr : host.c_str();
  if (auto rc = getaddrinfo(name, service.c_str(), &hints, &found); rc != 0)
    return caf::make_error(failure,
                           "cannot resolve " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list{found, freeaddrinfo};
  std::string why = "no address";
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    fd_guard fd{socket(ai->ai_family,
                       ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol)};
    if (fd.fd < 0)
      why = std::strerror(errno);
    else if (why = attempt(fd.fd, *ai); why.empty())
      return fd.release();
  }
  return caf::make_error(failure, what + host + ":" + service + ": " + why);
}

/// Connects a nonblocking TCP socket to host:port by the deadline, trying
/// each address the name resolves to.
caf::expected<int> connect_tcp(const std::string& host, uint16_t port,
                               clock_type::time_point deadline) {
  return first_address(
    host, port, false, caf::sec::cannot_connect_to_node, "",
    [deadline](int fd, const addrinfo& ai) -> std::string {
      if (connect(fd, ai.ai_addr, ai.ai_addrlen) == 0)
        return {};
      if (errno != EINPROGRESS)
        return std::strerror(errno);
      if (auto err = wait_for(fd, POLLOUT, deadline); !err.empty())
        return "connect: " + err;
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      return so_error != 0 ? std::strerror(so_error) : std::string{};
    });
}

/// Opens the listening socket on host:port.
caf::expected<int> listen_tcp(const std::string& host, uint16_t port) {
  return first_address(
    host, port, true, caf::sec::cannot_open_port, "cannot listen on ",
    [](int fd, const addrinfo& ai) -> std::string {
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (ai.ai_family == AF_INET6) {
        int zero = 0; // both IPv6 and IPv4, as CAF's acceptor does
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
      }
      if (bind(fd, ai.ai_addr, ai.ai_addrlen) != 0
          || listen(fd, SOMAXCONN) != 0)
        return std::strerror(errno);
      return {};
    });
}

} // namespace

/// A connection in the exchange: what was sent, and the (at most 48) bytes
/// received so far.
struct cluster_guard::pending_conn {
  int fd = -1;
  clock_type::time_point deadline;
  cluster_handshake::challenge sent{};
  cluster_handshake::response got{};
  size_t have = 0;
};

caf::expected<std::unique_ptr<cluster_guard>>
cluster_guard::start(cluster_guard_config cfg, admit_fn admit) {
  auto listener = listen_tcp(cfg.host, cfg.port);
  if (!listener)
    return std::move(listener.error());
  fd_guard lfd{*listener};
  auto port = caf::io::network::local_port_of_fd(lfd.fd);
  fd_guard wake{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  if (wake.fd < 0)
    return caf::make_error(caf::sec::cannot_open_port,
                           std::string{"eventfd: "} + std::strerror(errno));
  std::unique_ptr<cluster_guard> guard{
    new cluster_guard(std::move(cfg), std::move(admit), lfd.release(),
                      wake.release(), port ? *port : 0)};
  guard->thread_ = std::thread{[g = guard.get()] { g->run(); }};
  return guard;
}

cluster_guard::cluster_guard(cluster_guard_config cfg, admit_fn admit,
                             int listener, int wake, uint16_t port)
  : cfg_(std::move(cfg)),
    admit_(std::move(admit)),
    listener_(listener),
    wake_(wake),
    port_(port),
    stats_(cfg_.stats != nullptr ? cfg_.stats
                                 : std::make_shared<cluster_guard_stats>()) {
  cfg_.max_handshakes = std::max<size_t>(1, cfg_.max_handshakes);
}

cluster_guard::~cluster_guard() {
  stop();
}

void cluster_guard::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    auto rc = ::write(wake_, &one, sizeof(one));
    (void) rc; // a full counter wakes the thread just as well
    thread_.join();
  }
  for (int* fd : {&listener_, &wake_})
    if (*fd >= 0)
      ::close(std::exchange(*fd, -1));
}

void cluster_guard::warn(const char* message,
                         const std::atomic<uint64_t>& count,
                         clock_type::time_point& last) {
  if (!due(last))
    return;
  log::warning(component, message,
               {{"port", port_},
                {"so_far", count.load()},
                {"pending", stats_->pending.load()},
                {"max_handshakes", cfg_.max_handshakes}});
}

bool cluster_guard::accept_all(std::vector<pending_conn>& pending) {
  for (int i = 0; i < accepts_per_wake; ++i) {
    int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return true;
      // Out of descriptors, say: the connection stays queued and the
      // listener readable; the caller pauses accepting instead of spinning.
      if (due(last_accept_log_))
        log::warning(component, "accept failed",
                     {{"error", std::strerror(errno)}});
      return false;
    }
    if (pending.size() >= cfg_.max_handshakes) {
      // The oldest makes room, not the newest: a node answers at once, and
      // strangers that hold every place and reconnect when closed would
      // otherwise keep nodes out for as long as they like.
      auto oldest = std::min_element(
        pending.begin(), pending.end(),
        [](auto& x, auto& y) { return x.deadline < y.deadline; });
      ::close(oldest->fd);
      pending.erase(oldest);
      --stats_->pending;
      ++stats_->refused_busy;
      warn("cluster connection closed: too many in the handshake (the oldest "
           "made room)",
           stats_->refused_busy, last_busy_log_);
    }
    pending_conn c{fd, clock_type::now() + cfg_.handshake_timeout};
    // A fresh socket's send buffer takes the 48 bytes at once; one that does
    // not is not worth waiting for.
    if (!cluster_handshake::random_challenge(c.sent)
        || send(fd, c.sent.data(), c.sent.size(), MSG_NOSIGNAL | MSG_DONTWAIT)
             != static_cast<ssize_t>(c.sent.size())) {
      ++stats_->dropped;
      ::close(fd);
      continue;
    }
    pending.push_back(c);
    ++stats_->pending;
  }
  return true;
}

bool cluster_guard::on_readable(pending_conn& c) {
  using namespace cluster_handshake;
  // Ends the exchange: the connection is closed, or handed on with `admit`.
  auto done = [this](int fd_to_close) {
    if (fd_to_close >= 0)
      ::close(fd_to_close);
    --stats_->pending;
    return false;
  };
  for (;;) {
    auto got = recv(c.fd, c.got.data() + c.have, c.got.size() - c.have,
                    MSG_DONTWAIT);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return true;
    if (got <= 0) {
      ++stats_->dropped;
      return done(c.fd);
    }
    c.have += static_cast<size_t>(got);
    if (!starts_with_magic(c.got.data(), c.have)) {
      // Not a tasker node (a BASP header, say): nothing more is read.
      ++stats_->bad_magic;
      done(c.fd);
      warn("cluster connection closed: not a tasker node", stats_->bad_magic,
           last_magic_log_);
      return false;
    }
    if (c.have < c.got.size())
      continue;
    if (!verify(cfg_.secret, c.sent, c.got)) {
      ++stats_->bad_mac;
      send_byte(c.fd, refused);
      if (due(last_mac_log_))
        log::warning(component,
                     cfg_.secret.empty()
                       ? "worker node refused: no cluster secret is set"
                       : "worker node refused: wrong cluster secret",
                     {{"address", peer_address(c.fd)},
                      {"so_far", stats_->bad_mac.load()}});
      return done(c.fd);
    }
    if (!send_byte(c.fd, accepted)) {
      ++stats_->dropped;
      return done(c.fd);
    }
    ++stats_->admitted;
    admit_(c.fd, port_);
    return done(-1);
  }
}

void cluster_guard::run() {
  std::vector<pending_conn> pending;
  pending.reserve(cfg_.max_handshakes);
  std::vector<pollfd> fds;
  fds.reserve(cfg_.max_handshakes + 2);
  // Accepting pauses until then after an accept failed (no descriptors).
  auto accept_again = clock_type::time_point{};
  for (;;) {
    // Closes what ran out of time; the poll waits for the next deadline.
    auto now = clock_type::now();
    auto next = clock_type::time_point::max();
    bool accepting = now >= accept_again;
    if (!accepting)
      next = accept_again;
    for (auto i = pending.begin(); i != pending.end();) {
      if (i->deadline <= now) {
        ++stats_->timed_out;
        ::close(i->fd);
        i = pending.erase(i);
        --stats_->pending;
        warn("cluster connection closed: handshake timed out",
             stats_->timed_out, last_timeout_log_);
      } else {
        next = std::min(next, i->deadline);
        ++i;
      }
    }
    fds.clear();
    fds.push_back({wake_, POLLIN, 0});
    // (poll skips a negative descriptor)
    fds.push_back({accepting ? listener_ : -1, POLLIN, 0});
    for (auto& c : pending)
      fds.push_back({c.fd, POLLIN, 0});
    auto timeout = next == clock_type::time_point::max() ? -1
                                                         : millis_until(next);
    auto rc = poll(fds.data(), fds.size(), timeout);
    if (rc < 0) {
      if (errno != EINTR) {
        // (Out of memory, say: try again shortly rather than leave the
        // port unserved.)
        log::error(component, "poll failed", {{"error", std::strerror(errno)}});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    if (fds[0].revents != 0)
      break;
    // pending[i] is fds[i + 2]; those whose exchange ended are dropped in
    // the same pass.
    size_t out = 0;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (fds[i + 2].revents != 0 && !on_readable(pending[i]))
        continue;
      if (out != i)
        pending[out] = pending[i];
      ++out;
    }
    pending.resize(out);
    if (fds[1].revents != 0 && !accept_all(pending))
      accept_again = clock_type::now() + std::chrono::milliseconds(100);
  }
  for (auto& c : pending)
    ::close(c.fd);
  stats_->pending = 0;
}

caf::expected<std::unique_ptr<cluster_guard>>
guard_cluster_port(caf::actor_system& sys, const dispatcher_actor& whom,
                   cluster_guard_config cfg, bool tls) {
  // Looked up here, on the caller's thread: the middleman's table of brokers
  // is not for concurrent use (BASP is in it from the middleman's start).
  auto basp = sys.middleman().named_broker<caf::io::basp_broker>(
    caf::atom("BASP"));
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(whom);
  auto sigs = sys.message_types<dispatcher_actor>();
  return cluster_guard::start(
    std::move(cfg), [&sys, basp, ptr, sigs, tls](int fd, uint16_t port) {
      // What middleman_actor_impl does with a socket it accepted: a scribe
      // (with TLS, one whose session then runs the TLS handshake), handed to
      // BASP with the actor published on the port. BASP adds it, registers
      // `ptr` as published on `port`, writes its server handshake and reads
      // from then on.
      auto scribe = make_node_scribe(sys, fd, tls, true);
      if (scribe == nullptr) {
        log::error("cluster_guard", "cannot start a TLS session for a node");
        return;
      }
      caf::anon_send(basp, caf::publish_atom_v, std::move(scribe), port, ptr,
                     sigs);
    });
}

caf::expected<dispatcher_actor>
join_cluster(caf::actor_system& sys, const std::string& host, uint16_t port,
             const std::string& secret, std::chrono::milliseconds timeout,
             bool tls) {
  using namespace cluster_handshake;
  auto failed = [&](const std::string& why) {
    return caf::make_error(caf::sec::cannot_connect_to_node,
                           host + ":" + std::to_string(port) + ": " + why);
  };
  auto deadline = clock_type::now() + timeout;
  auto connected = connect_tcp(host, port, deadline);
  if (!connected)
    return std::move(connected.error());
  fd_guard fd{*connected};
  challenge c;
  if (auto err = transfer(fd.fd, c.data(), c.size(), false,
                          std::min(deadline, clock_type::now()
                                               + challenge_wait));
      !err.empty())
    return failed("reading the challenge: " + err);
  response r;
  if (!answer(secret, c, r))
    return failed("not a tasker cluster port (or another protocol version)");
  if (auto err = transfer(fd.fd, r.data(), r.size(), true, deadline);
      !err.empty())
    return failed("sending the response: " + err);
  // Exactly one byte: what follows is BASP's, for the scribe to read.
  uint8_t verdict = 0;
  if (auto err = transfer(fd.fd, &verdict, 1, false, deadline);
      !err.empty())
    return failed("reading the verdict: " + err);
  if (verdict == static_cast<uint8_t>(refused))
    return make_error(ec::unauthorized,
                      "the coordinator refused this node: wrong cluster "
                      "secret");
  if (verdict != static_cast<uint8_t>(accepted))
    return failed("unexpected verdict byte");
  // As middleman_actor_impl::connect: a scribe over the socket, and BASP's
  // client handshake over it; BASP answers with the node, the actor
  // published on the port and its interface.
  auto basp = sys.middleman().named_broker<caf::io::basp_broker>(
    caf::atom("BASP"));
  auto scribe = make_node_scribe(sys, fd.release(), tls, false);
  if (scribe == nullptr)
    return failed("cannot start a TLS session");
  caf::expected<dispatcher_actor> result = failed("no answer from BASP");
  caf::scoped_actor self{sys};
  self->request(basp, timeout, caf::connect_atom_v, std::move(scribe), port)
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& sigs) {
        // The checks of middleman::remote_actor.
        if (!ptr)
          result = caf::make_error(caf::sec::no_actor_published_at_port, port);
        else if (!sys.assignable(sigs, sys.message_types<dispatcher_actor>()))
          result = caf::make_error(
            caf::sec::unexpected_actor_messaging_interface,
            sys.message_types<dispatcher_actor>(), std::move(sigs));
        else
          result = caf::actor_cast<dispatcher_actor>(std::move(ptr));
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace tasker
