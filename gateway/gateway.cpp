#include "gateway/gateway_internal.hpp"

#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/system_messages.hpp>

#include "common/log.hpp"
#include "gateway/docs.hpp"
#include "gateway/routes.hpp"

namespace tasker {

using namespace gateway_detail;

namespace {

using caf::io::connection_handle;

auto now() {
  return std::chrono::steady_clock::now();
}

void forget(gateway_broker* self, int64_t conn) {
  self->state.open.erase(conn);
  self->state.stopped.erase(conn);
}

/// Reads again from a connection the engine wants read (see `carry_out`).
void retrigger(gateway_broker* self, int64_t conn) {
  auto& st = self->state;
  if (st.open.count(conn) != 0 && st.stopped.count(conn) == 0)
    self->trigger(connection_handle::from_int(conn));
}

/// Carries out one of the engine's actions on CAF's connection.
void carry_out(gateway_broker* self, const io_action& a) {
  auto hdl = connection_handle::from_int(a.conn);
  switch (a.kind) {
    case io_action::write:
      self->write(hdl, a.bytes.size(), a.bytes.data());
      return;
    case io_action::flush:
      self->flush(hdl);
      return;
    // Not halt() and trigger(): CAF 0.17 queues a connection's removal from
    // its event loop and applies it after the current batch of events. A
    // trigger() in that batch finds the connection still registered and
    // does nothing, and a halt() after a trigger() in one batch cancels the
    // pending registration while CAF believes the connection reads: either
    // way it is never read again (a pipelining client hung). So reading
    // stops after one more read (at most `at_most` bytes, which the engine
    // holds), where CAF passivates the connection itself, right after a
    // read; and a resume lost in such a batch is repeated (a trigger of a
    // connection that reads does nothing).
    case io_action::stop_reading:
      if (self->state.stopped.insert(a.conn).second)
        self->trigger(hdl, 1);
      return;
    case io_action::resume_reading:
      self->state.stopped.erase(a.conn);
      self->trigger(hdl);
      self->delayed_send(self, std::chrono::milliseconds(1), resume_atom_v,
                         a.conn);
      return;
    case io_action::report_writes:
    case io_action::quiet_writes:
      self->ack_writes(hdl, a.kind == io_action::report_writes);
      return;
    case io_action::abort:
      // CAF's close first sends what is buffered, which a client that does
      // not read never lets happen. (On the real network backend a
      // connection's handle is its socket.)
      if (dynamic_cast<caf::io::network::default_multiplexer*>(
            &self->system().middleman().backend())
          != nullptr)
        ::shutdown(static_cast<int>(a.conn), SHUT_RDWR);
      self->close(hdl);
      forget(self, a.conn);
      return;
    case io_action::close:
      self->close(hdl);
      forget(self, a.conn);
      return;
  }
}

} // namespace

namespace gateway_detail {

void complete(gateway_broker* self, const ticket& t, const http_response& res) {
  self->state.http->complete(t, res, now());
}

} // namespace gateway_detail

caf::behavior gateway(gateway_broker* self, gateway_config cfg,
                      gateway_deps deps, caf::actor listener) {
  auto& st = self->state;
  st.cfg = cfg;
  st.deps = std::move(deps);
  st.openapi = openapi_json(*st.deps.reg);
  st.task_types = nlohmann::json{{"task_types", st.deps.reg->describe()}}.dump();
  // A request whose head the token refuses is answered before its body is
  // read.
  st.http.emplace(cfg,
                  auth_head_check(credentials{cfg.auth_token,
                                              cfg.worker_token,
                                              cfg.cluster_secret}),
                  connection_engine::hooks{
                    [self](const ticket& t, http_request& req) {
                      handle(self, t, req);
                    },
                    [tel = st.deps.tel](const std::string& label, int status) {
                      tel->stats.http_request(label, status);
                    },
                    [self](const io_action& a) { carry_out(self, a); }});
  st.streams.emplace(
    cfg.event_buffer_bytes,
    event_streams::hooks{
      [self](const ticket& t, std::string_view bytes) {
        return self->state.http->stream_write(t, bytes, now());
      },
      [self](const ticket& t) { self->state.http->stream_close(t, now()); },
      [self](uint64_t id, const event_position& after) {
        self->send(self->state.deps.events, events_atom_v, id, after);
      },
      [self](bool on) {
        self->send(self->state.deps.events, events_atom_v,
                   caf::actor_cast<caf::actor>(self), on);
      }});
  st.last_keepalive = now();
  auto res = self->add_tcp_doorman(cfg.port, cfg.host.c_str(), true);
  if (!res) {
    self->quit(res.error());
    return {};
  }
  self->send(listener, ok_atom_v, res->second);
  self->delayed_send(self, std::chrono::milliseconds(250), tick_atom_v);
  return {
    [self](events_atom, const event_position& head) {
      self->state.streams->on_head(head);
    },
    [self](events_atom, const event_position& prev,
           const event_position& next,
           const std::vector<task_event_record>& events) {
      self->state.streams->on_live(prev, next, events);
    },
    [self](events_atom, uint64_t stream,
           const std::vector<task_event_record>& events,
           const event_position& scanned_to) {
      self->state.streams->on_page(stream, events, scanned_to);
    },
    [self](tick_atom) {
      auto& st = self->state;
      auto t = now();
      if (t - st.last_keepalive >= st.cfg.event_keepalive) {
        st.last_keepalive = t;
        st.streams->keep_alive();
      }
      st.streams->tick();
      self->state.http->tick(now());
      self->delayed_send(self, std::chrono::milliseconds(250), tick_atom_v);
      // (The last guard against a resume lost in CAF's batch: see carry_out.)
      // (trigger() only asks the multiplexer to read: the set stays as is.)
      for (auto conn : self->state.open)
        retrigger(self, conn);
    },
    [self](resume_atom, int64_t conn) { retrigger(self, conn); },
    [](const caf::io::connection_passivated_msg&) {
      // (Reading stopped as asked: see carry_out.)
    },
    [self](crash_atom) {
      // Fault injection: dies the way an uncaught exception would end it.
      self->quit(caf::exit_reason::kill);
    },
    [self](const caf::io::new_connection_msg& msg) {
      using caf::io::receive_policy;
      if (self->state.http->open(msg.handle.id(), now())) {
        self->state.open.insert(msg.handle.id());
        self->configure_read(msg.handle, receive_policy::at_most(16384));
      }
    },
    [self](const caf::io::new_data_msg& msg) {
      self->state.http->received(msg.handle.id(), msg.buf.data(),
                                 msg.buf.size(), now());
    },
    [self](const caf::io::data_transferred_msg& msg) {
      self->state.http->transferred(msg.handle.id(), msg.remaining, now());
    },
    [self](const caf::io::connection_closed_msg& msg) {
      forget(self, msg.handle.id());
      self->state.http->closed(msg.handle.id());
    },
    [self](const caf::io::acceptor_closed_msg&) {
      log::warning(self->state.name, "listening socket closed");
    },
  };
}

} // namespace tasker
