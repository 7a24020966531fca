#pragma once

#include <caf/fwd.hpp>
#include <caf/io/fwd.hpp>

namespace tasker {

/// Makes the scribe that carries BASP over a node connection whose socket
/// passed the cluster guard's exchange: a plain one, or with `tls` one that
/// runs CAF's OpenSSL session over the socket (the TLS handshake, with the
/// certificates of the actor system's OpenSSL manager, then BASP inside).
/// `accepted` tells the coordinator's side (TLS server) from the node's.
/// Takes the descriptor; returns null (and closes it) when no TLS session
/// can be made.
caf::io::scribe_ptr make_node_scribe(caf::actor_system& sys, int fd, bool tls,
                                     bool accepted);

} // namespace tasker
