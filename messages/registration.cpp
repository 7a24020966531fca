#include "messages/registration.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/error.hpp"
#include "messages/type_ids.hpp"

namespace tasker {

namespace {

struct code_info {
  const char* name;
  int http_status;
};

/// By `ec`, in the order of its values.
constexpr code_info codes[] = {
  {"none", 200}, {"bad_request", 400}, {"unauthorized", 401},
  {"not_found", 404}, {"method_not_allowed", 405}, {"conflict", 409},
  {"payload_too_large", 413}, {"unsupported_media_type", 415},
  {"invalid_params", 422}, {"overloaded", 429}, {"unavailable", 503},
  {"internal", 500}, {"request_timeout", 408},
};

const code_info& info_of(ec x) {
  auto i = static_cast<size_t>(x);
  return i < std::size(codes) ? codes[i] : codes[static_cast<size_t>(ec::internal)];
}

} // namespace

const char* to_string(ec x) {
  return info_of(x).name;
}

int http_status(ec x) {
  return info_of(x).http_status;
}

caf::error make_error(ec code, std::string message) {
  return caf::make_error(code, std::move(message));
}

ec code_of(const caf::error& err) {
  if (!err)
    return ec::none;
  if (err.category() == caf::atom("tasker"))
    return static_cast<ec>(err.code());
  if (err.category() == caf::atom("system"))
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
      // The actor that should answer is gone: a coordinator stopping, or
      // the active coordinator a standby forwarded to. Worth a retry.
      case caf::sec::request_receiver_down:
      case caf::sec::no_route_to_receiving_node:
        return ec::unavailable;
      default:
        break;
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
                           if (ctx.match_elements<std::string>())
                             out += ": " + ctx.get_as<std::string>(0);
                           return out;
                         });
}

} // namespace tasker
