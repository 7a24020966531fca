#pragma once

// What the two halves of the gateway share: gateway.cpp, the HTTP/1.1
// connection engine of the broker (connections, pipelining order, budgets,
// deadlines), and handlers.cpp, what each request asks of the actors and how
// their answers become responses.

#include "gateway/gateway.hpp"

namespace tasker::gateway_detail {

/// Identifies the response slot of one request.
using ticket = gateway_state::pending;

/// Fills the response slot of `t` with `res` and sends what is ready, in
/// request order (nothing when the client left or the slot was answered
/// already). `from_sweep`: the sweep removed the slot's deadline itself.
void complete(gateway_broker* self, const ticket& t, const http_response& res,
              bool from_sweep = false);

/// Answers one request, now or later through `complete`.
void handle(gateway_broker* self, const ticket& t, http_request& req);

} // namespace tasker::gateway_detail
