#include "nodes/node_scribe.hpp"

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/scribe.hpp>
#include <caf/openssl/session.hpp>

namespace tasker {

namespace {

using caf::io::network::native_socket;
using caf::io::network::rw_state;

/// The stream policy of a TLS connection: reads and writes through the
/// OpenSSL session. (CAF's OpenSSL module has the same two pieces, this
/// policy and the scribe below, but keeps them internal; its own doorman
/// and connect make them from sockets CAF opened, where tasker's guard
/// opens them.)
struct tls_policy {
  explicit tls_policy(caf::openssl::session_ptr session)
    : session_(std::move(session)) {}

  rw_state read_some(size_t& result, native_socket fd, void* buf,
                     size_t len) {
    return session_->read_some(result, fd, buf, len);
  }

  rw_state write_some(size_t& result, native_socket fd, const void* buf,
                      size_t len) {
    return session_->write_some(result, fd, buf, len);
  }

  bool must_read_more(native_socket fd, size_t threshold) {
    return session_->must_read_more(fd, threshold);
  }

private:
  caf::openssl::session_ptr session_;
};

/// A scribe over a TLS stream.
class tls_scribe : public caf::io::scribe {
public:
  tls_scribe(caf::io::network::default_multiplexer& mpx, native_socket fd,
             caf::openssl::session_ptr session)
    : caf::io::scribe(caf::io::network::conn_hdl_from_socket(fd)),
      stream_(mpx, fd, std::move(session)) {}

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (launched_)
      return;
    launched_ = true;
    stream_.start(this);
    // Writes once even with nothing to send, so that the session's
    // SSL_accept or SSL_connect goes on when the socket is writable.
    stream_.force_empty_write(this);
  }

  void ack_writes(bool enable) override {
    stream_.ack_writes(enable);
  }

  std::vector<char>& wr_buf() override {
    return stream_.wr_buf();
  }

  std::vector<char>& rd_buf() override {
    return stream_.rd_buf();
  }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  void flush() override {
    stream_.flush(this);
  }

  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }

  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }

  void add_to_loop() override {
    stream_.activate(this);
  }

  void remove_from_loop() override {
    stream_.passivate();
  }

private:
  bool launched_ = false;
  caf::io::network::stream_impl<tls_policy> stream_;
};

} // namespace

caf::io::scribe_ptr make_node_scribe(caf::actor_system& sys, int fd, bool tls,
                                     bool accepted) {
  auto& backend = sys.middleman().backend();
  if (!tls)
    return backend.new_scribe(fd);
  auto* mpx = dynamic_cast<caf::io::network::default_multiplexer*>(&backend);
  caf::io::network::nonblocking(fd, true);
  auto session = mpx == nullptr ? nullptr
                                : caf::openssl::make_session(sys, fd, accepted);
  if (session == nullptr) {
    ::close(fd);
    return nullptr;
  }
  return caf::make_counted<tls_scribe>(*mpx, fd, std::move(session));
}

} // namespace tasker
