#include "messages/registration.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/error.hpp"
#include "messages/type_ids.hpp"

namespace tasker {

const char* to_string(ec x) {
  switch (x) {
    case ec::none:
      return "none";
    case ec::bad_request:
      return "bad_request";
    case ec::unauthorized:
      return "unauthorized";
    case ec::not_found:
      return "not_found";
    case ec::method_not_allowed:
      return "method_not_allowed";
    case ec::conflict:
      return "conflict";
    case ec::payload_too_large:
      return "payload_too_large";
    case ec::unsupported_media_type:
      return "unsupported_media_type";
    case ec::invalid_params:
      return "invalid_params";
    case ec::overloaded:
      return "overloaded";
    case ec::unavailable:
      return "unavailable";
    case ec::internal:
      return "internal";
    case ec::request_timeout:
      return "request_timeout";
  }
  return "internal";
}

int http_status(ec x) {
  switch (x) {
    case ec::none:
      return 200;
    case ec::bad_request:
      return 400;
    case ec::unauthorized:
      return 401;
    case ec::not_found:
      return 404;
    case ec::method_not_allowed:
      return 405;
    case ec::conflict:
      return 409;
    case ec::payload_too_large:
      return 413;
    case ec::unsupported_media_type:
      return 415;
    case ec::invalid_params:
      return 422;
    case ec::overloaded:
      return 429;
    case ec::unavailable:
      return 503;
    case ec::internal:
      return 500;
    case ec::request_timeout:
      return 408;
  }
  return 500;
}

caf::error make_error(ec code, std::string message) {
  return caf::make_error(code, std::move(message));
}

ec code_of(const caf::error& err) {
  if (!err)
    return ec::none;
  if (err.category() == caf::atom("tasker"))
    return static_cast<ec>(err.code());
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return ec::unavailable;
  }
  return ec::internal;
}

std::string message_of(const caf::error& err) {
  if (err.category() == caf::atom("tasker") && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return caf::to_string(err);
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::tasker>();
  cfg.add_error_category(caf::atom("tasker"),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           std::string out = "tasker.";
                           out += to_string(static_cast<ec>(code));
                           if (ctx.match_elements<std::string>()) {
                             out += ": ";
                             out += ctx.get_as<std::string>(0);
                           }
                           return out;
                         });
}

} // namespace tasker
