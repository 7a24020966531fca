#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/message.hpp>

namespace tasker {

/// Every error tasker reports to clients; each maps to one HTTP status.
enum class ec : uint8_t {
  none = 0,
  /// Malformed JSON, malformed id or a bad query parameter.
  bad_request,
  /// Auth is on and the bearer token is missing or wrong.
  unauthorized,
  /// No such task, worker or path.
  not_found,
  /// Known path, wrong method.
  method_not_allowed,
  /// Idempotency key reused with another body, or a transition the task's
  /// status does not allow.
  conflict,
  /// The body is over the configured limit.
  payload_too_large,
  /// The body is not JSON.
  unsupported_media_type,
  /// Unknown type, missing or wrongly typed field, value out of range.
  invalid_params,
  /// Admission control: the queue is over its bound.
  overloaded,
  /// The database cannot be reached.
  unavailable,
  /// A bug or an unexpected failure inside tasker.
  internal,
  /// A client did not send its whole request in time (slow client).
  request_timeout,
};

/// Returns the API's name of an error code (`bad_request`, ...).
const char* to_string(ec x);

int http_status(ec x);

/// Creates a `caf::error` of the tasker category with a message for people.
caf::error make_error(ec code, std::string message);

/// Extracts the tasker code of an error; errors of other categories (such as
/// request timeouts) map to `ec::unavailable` or `ec::internal`.
ec code_of(const caf::error& err);

/// Extracts the message of an error made by `make_error`, else renders it.
std::string message_of(const caf::error& err);

} // namespace tasker

CAF_ERROR_CODE_ENUM(tasker::ec, "tasker")
