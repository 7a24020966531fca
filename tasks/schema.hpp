#pragma once

// The parameters of a declared task type are described by a JSON Schema in
// the subset tasker implements (no JSON Schema library is packaged for
// C++ in Debian): `type`, `enum`, `const`, `minimum`, `maximum`,
// `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength` (in
// characters), `items`, `minItems`, `maxItems`, `properties`, `required`,
// `additionalProperties`, `default`, and the annotations `title`,
// `description`, `examples`, `$comment`; `true` and `false` as schemas.
// Anything else is refused when the schema is compiled, so a schema never
// means less than it says. Each keyword applies to the values of its kind
// only, as in JSON Schema (`maxLength` does not refuse a number).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tasker {

class json_schema {
public:
  /// Compiles `js`. Throws std::invalid_argument naming the place (`where`,
  /// then the keywords inside) when it is malformed or uses a keyword
  /// outside the subset.
  static json_schema compile(const nlohmann::json& js,
                             const std::string& where);

  /// Checks `value`: "" when it is valid, else a message that names the
  /// place (`path`, e.g. `params.size`, `params.sizes[2]`).
  std::string validate(const nlohmann::json& value,
                       const std::string& path) const;

  /// Gives absent properties their defaults, in nested objects too.
  void fill_defaults(nlohmann::json& value) const;

private:
  /// Bit per JSON type a schema may allow; none set: any.
  enum type_bit : unsigned {
    null_bit = 1,
    boolean_bit = 2,
    object_bit = 4,
    array_bit = 8,
    number_bit = 16,
    integer_bit = 32,
    string_bit = 64,
  };

  static json_schema compile(const nlohmann::json& js,
                             const std::string& where, int depth);

  /// `false` as a schema: nothing is valid.
  bool never_ = false;
  unsigned types_ = 0;
  std::optional<nlohmann::json> const_;
  std::optional<std::vector<nlohmann::json>> enum_;
  std::optional<nlohmann::json> minimum_, maximum_;
  std::optional<nlohmann::json> exclusive_minimum_, exclusive_maximum_;
  std::optional<uint64_t> min_length_, max_length_, min_items_, max_items_;
  std::shared_ptr<const json_schema> items_;
  std::map<std::string, json_schema> properties_;
  std::vector<std::string> required_;
  /// `additionalProperties`: null when any goes.
  std::shared_ptr<const json_schema> additional_;
  std::optional<nlohmann::json> default_;
};

} // namespace tasker
