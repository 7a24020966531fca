#pragma once

// What the two halves of the gateway broker share: gateway.cpp, which
// carries CAF's connection events to the connection engine and its actions
// back, and handlers.cpp, what each request asks of the actors and how their
// answers become responses.

#include "gateway/gateway.hpp"

namespace tasker::gateway_detail {

/// Hands the engine the response of `t`.
void complete(gateway_broker* self, const ticket& t, const http_response& res);

/// Answers one request, now or later through `complete`.
void handle(gateway_broker* self, const ticket& t, http_request& req);

} // namespace tasker::gateway_detail
