#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include <nlohmann/json.hpp>

namespace tasker {

class json_schema;

/// Declares the parameters of a task type once, and derives from that both
/// validation (with messages that name the field) and the JSON Schema.
class params_spec {
public:
  /// A number (integer or floating point).
  params_spec& number(std::string name, std::string description);
  /// An integer in [min, max], with a default when not required.
  params_spec& integer(std::string name, std::string description, int64_t min,
                       int64_t max, std::optional<int64_t> default_value = {});
  /// A string of at most `max_bytes` bytes, with a default when not required.
  params_spec& string(std::string name, std::string description,
                      int64_t max_bytes,
                      std::optional<std::string> default_value = {});
  /// A boolean, with a default when not required.
  params_spec& boolean(std::string name, std::string description,
                       std::optional<bool> default_value = {});

  /// The params of a declared task type: a JSON Schema in tasker's subset
  /// (tasks/schema.hpp) for the params object. It describes an object
  /// (`type` may be left out) whose properties are those declared
  /// (`additionalProperties` is false unless it says otherwise). Throws
  /// std::invalid_argument naming the place (`where`) of a problem.
  static params_spec declared(const nlohmann::json& schema,
                              const std::string& where);

  /// Checks `params` and fills in defaults. Returns "" when valid, else a
  /// message naming the offending field (`params.a must be a number`).
  std::string validate(nlohmann::json& params) const;

  /// The JSON Schema (draft 2020-12) of the parameters.
  nlohmann::json schema() const;

private:
  enum class kind { number, integer, string, boolean };

  struct field {
    std::string name;
    std::string description;
    kind type = kind::number;
    bool required = true;
    int64_t min = 0;
    int64_t max = 0;
    nlohmann::json default_value;
  };

  std::vector<field> fields_;
  /// A declared type's schema, compiled and as exported.
  std::shared_ptr<const json_schema> declared_;
  nlohmann::json declared_json_;
};

} // namespace tasker
