#include "tasks/params.hpp"

#include <stdexcept>

#include "tasks/schema.hpp"

namespace tasker {

params_spec params_spec::declared(const nlohmann::json& schema,
                                  const std::string& where) {
  if (!schema.is_object())
    throw std::invalid_argument(where + " must be a JSON Schema object");
  auto js = schema;
  if (auto t = js.find("type"); t == js.end())
    js["type"] = "object";
  else if (*t != "object")
    throw std::invalid_argument(where + ".type must be \"object\": params "
                                        "are a JSON object");
  if (!js.contains("additionalProperties"))
    js["additionalProperties"] = false;
  js["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  params_spec out;
  out.declared_
    = std::make_shared<const json_schema>(json_schema::compile(js, where));
  out.declared_json_ = std::move(js);
  return out;
}

params_spec& params_spec::number(std::string name, std::string description) {
  fields_.push_back(
    {std::move(name), std::move(description), kind::number, true, 0, 0, {}});
  return *this;
}

params_spec& params_spec::integer(std::string name, std::string description,
                                  int64_t min, int64_t max,
                                  std::optional<int64_t> default_value) {
  fields_.push_back({std::move(name), std::move(description), kind::integer,
                     !default_value, min, max,
                     default_value ? nlohmann::json(*default_value) : nullptr});
  return *this;
}

params_spec& params_spec::string(std::string name, std::string description,
                                 int64_t max_bytes,
                                 std::optional<std::string> default_value) {
  fields_.push_back({std::move(name), std::move(description), kind::string,
                     !default_value, 0, max_bytes,
                     default_value ? nlohmann::json(*default_value) : nullptr});
  return *this;
}

params_spec& params_spec::boolean(std::string name, std::string description,
                                  std::optional<bool> default_value) {
  fields_.push_back({std::move(name), std::move(description), kind::boolean,
                     !default_value, 0, 0,
                     default_value ? nlohmann::json(*default_value) : nullptr});
  return *this;
}

std::string params_spec::validate(nlohmann::json& params) const {
  if (!params.is_object())
    return "params must be a JSON object";
  if (declared_) {
    auto why = declared_->validate(params, "params");
    if (why.empty())
      declared_->fill_defaults(params);
    return why;
  }
  for (auto& [key, val] : params.items()) {
    bool known = false;
    for (auto& f : fields_)
      known = known || f.name == key;
    if (!known)
      return "params." + key + " is not a known parameter";
  }
  for (auto& f : fields_) {
    auto path = "params." + f.name;
    auto i = params.find(f.name);
    if (i == params.end() || i->is_null()) {
      if (f.required)
        return path + " is required";
      params[f.name] = f.default_value;
      continue;
    }
    auto& val = *i;
    switch (f.type) {
      case kind::number:
        if (!val.is_number())
          return path + " must be a number";
        break;
      case kind::integer: {
        auto out_of_range = [&] {
          return path + " must be between " + std::to_string(f.min) + " and "
                 + std::to_string(f.max);
        };
        int64_t x = 0;
        if (val.is_number_integer()) {
          if (val.is_number_unsigned() && val.get<uint64_t>() > INT64_MAX)
            return out_of_range();
          x = val.get<int64_t>();
        } else if (val.is_number_float()) {
          auto d = val.get<double>();
          // Converting a double outside int64's range is undefined; such a
          // value is outside every field's range anyway.
          if (!(d >= -0x1p63 && d < 0x1p63))
            return out_of_range();
          if (d != static_cast<double>(static_cast<int64_t>(d)))
            return path + " must be an integer";
          x = static_cast<int64_t>(d);
          val = x;
        } else {
          return path + " must be an integer";
        }
        if (x < f.min || x > f.max)
          return out_of_range() + ", got " + std::to_string(x);
        break;
      }
      case kind::string:
        if (!val.is_string())
          return path + " must be a string";
        if (static_cast<int64_t>(val.get_ref<const std::string&>().size())
            > f.max)
          return path + " is longer than the limit of " + std::to_string(f.max)
                 + " bytes";
        break;
      case kind::boolean:
        if (!val.is_boolean())
          return path + " must be true or false";
        break;
    }
  }
  return "";
}

nlohmann::json params_spec::schema() const {
  if (declared_)
    return declared_json_;
  nlohmann::json props = nlohmann::json::object();
  nlohmann::json required = nlohmann::json::array();
  for (auto& f : fields_) {
    static constexpr const char* type_names[] = {"number", "integer", "string",
                                                 "boolean"};
    nlohmann::json p{{"description", f.description},
                     {"type", type_names[static_cast<size_t>(f.type)]}};
    if (f.type == kind::integer) {
      p["minimum"] = f.min;
      p["maximum"] = f.max;
    } else if (f.type == kind::string) {
      p["maxLength"] = f.max;
    }
    if (!f.default_value.is_null())
      p["default"] = f.default_value;
    if (f.required)
      required.push_back(f.name);
    props[f.name] = std::move(p);
  }
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"type", "object"},
          {"properties", std::move(props)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

} // namespace tasker
