#pragma once

#include <string>

#include "tasks/registry.hpp"

namespace tasker {

/// The OpenAPI 3 document of the API, with the task types' schemas.
std::string openapi_json(const registry& reg);

} // namespace tasker
