#include "tasks/schema.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tasker {

namespace {

using nlohmann::json;

constexpr int max_depth = 32;

/// -1, 0 or 1 as `a` is less than, equal to or greater than `b` (two JSON
/// numbers; integers compare exactly).
int compare(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    auto neg = [](const json& x) {
      return !x.is_number_unsigned() && x.get<int64_t>() < 0;
    };
    if (neg(a) != neg(b))
      return neg(a) ? -1 : 1;
    if (neg(a)) {
      auto x = a.get<int64_t>(), y = b.get<int64_t>();
      return (x > y) - (x < y);
    }
    auto x = a.get<uint64_t>(), y = b.get<uint64_t>();
    return (x > y) - (x < y);
  }
  auto x = a.get<double>(), y = b.get<double>();
  return (x > y) - (x < y);
}

/// A JSON value in a message: shortened past 64 characters.
std::string shown(const json& x) {
  auto text = x.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= 64 ? text : text.substr(0, 61) + "...";
}

/// Characters (code points) of valid UTF-8.
uint64_t characters(const std::string& s) {
  return static_cast<uint64_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

/// A non-negative integer keyword's value (2.0 counts as 2).
uint64_t count_of(const json& x, const std::string& at) {
  if (x.is_number_unsigned())
    return x.get<uint64_t>();
  if (x.is_number_float()) {
    auto d = x.get<double>();
    if (d >= 0 && d < 0x1p63 && std::floor(d) == d)
      return static_cast<uint64_t>(d);
  }
  throw std::invalid_argument(at + " must be a non-negative integer");
}

struct type_name {
  const char* name;
  unsigned bit;
  const char* shown;
};

// (In the order a message lists them.)
constexpr type_name type_names[] = {
  {"string", 64, "a string"},  {"integer", 32, "an integer"},
  {"number", 16, "a number"},  {"boolean", 2, "true or false"},
  {"array", 8, "an array"},    {"object", 4, "an object"},
  {"null", 1, "null"},
};

unsigned bits_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return 1;
    case json::value_t::boolean:
      return 2;
    case json::value_t::object:
      return 4;
    case json::value_t::array:
      return 8;
    case json::value_t::string:
      return 64;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return 16 | 32;
    case json::value_t::number_float: {
      // (An integer is a number without a fractional part: 1.0 is one.)
      auto d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d ? 16 | 32 : 16;
    }
    default:
      return 0;
  }
}

} // namespace

json_schema json_schema::compile(const json& js, const std::string& where) {
  return compile(js, where, 0);
}

json_schema json_schema::compile(const json& js, const std::string& where,
                                 int depth) {
  if (depth > max_depth)
    throw std::invalid_argument(where + " is nested more than "
                                + std::to_string(max_depth) + " levels deep");
  json_schema s;
  if (js.is_boolean()) {
    s.never_ = !js.get<bool>();
    return s;
  }
  if (!js.is_object())
    throw std::invalid_argument(where + " must be a schema: an object, true "
                                        "or false");
  auto number = [](const json& x, const std::string& at) {
    if (!x.is_number())
      throw std::invalid_argument(at + " must be a number");
    return x;
  };
  auto sub = [depth](const json& x, const std::string& at) {
    return std::make_shared<const json_schema>(compile(x, at, depth + 1));
  };
  for (auto& [key, val] : js.items()) {
    auto at = where + "." + key;
    if (key == "type") {
      auto one = [&](const json& t) {
        auto i = std::find_if(std::begin(type_names), std::end(type_names),
                              [&](auto& n) { return t == n.name; });
        if (i == std::end(type_names))
          throw std::invalid_argument(at + ": " + shown(t)
                                      + " is not a JSON Schema type");
        s.types_ |= i->bit;
      };
      if (val.is_array() && !val.empty())
        std::for_each(val.begin(), val.end(), one);
      else
        one(val);
    } else if (key == "enum") {
      if (!val.is_array())
        throw std::invalid_argument(at + " must be an array");
      s.enum_.emplace(val.begin(), val.end());
    } else if (key == "const") {
      s.const_ = val;
    } else if (key == "minimum") {
      s.minimum_ = number(val, at);
    } else if (key == "maximum") {
      s.maximum_ = number(val, at);
    } else if (key == "exclusiveMinimum") {
      s.exclusive_minimum_ = number(val, at);
    } else if (key == "exclusiveMaximum") {
      s.exclusive_maximum_ = number(val, at);
    } else if (key == "minLength") {
      s.min_length_ = count_of(val, at);
    } else if (key == "maxLength") {
      s.max_length_ = count_of(val, at);
    } else if (key == "minItems") {
      s.min_items_ = count_of(val, at);
    } else if (key == "maxItems") {
      s.max_items_ = count_of(val, at);
    } else if (key == "items") {
      if (val.is_array())
        throw std::invalid_argument(at + ": an array of schemas (tuple "
                                         "validation) is not supported");
      s.items_ = sub(val, at);
    } else if (key == "properties") {
      if (!val.is_object())
        throw std::invalid_argument(at + " must be an object");
      for (auto& [name, prop] : val.items())
        s.properties_.emplace(name, compile(prop, at + "." + name, depth + 1));
    } else if (key == "required") {
      if (!val.is_array()
          || !std::all_of(val.begin(), val.end(),
                          [](auto& x) { return x.is_string(); }))
        throw std::invalid_argument(at + " must be an array of names");
      for (auto& name : val)
        s.required_.push_back(name);
    } else if (key == "additionalProperties") {
      s.additional_ = sub(val, at);
    } else if (key == "default") {
      s.default_ = val;
    } else if (key != "title" && key != "description" && key != "examples"
               && key != "$comment" && key != "$schema") {
      throw std::invalid_argument(
        at + " is not supported; a schema may use type, enum, const, "
             "minimum, maximum, exclusiveMinimum, exclusiveMaximum, "
             "minLength, maxLength, items, minItems, maxItems, properties, "
             "required, additionalProperties, default, title, description, "
             "examples");
    }
  }
  // A default is filled in without being checked again: it must be valid.
  for (auto& [name, prop] : s.properties_)
    if (prop.default_)
      if (auto why = prop.validate(*prop.default_, "the default");
          !why.empty())
        throw std::invalid_argument(where + ".properties." + name
                                    + ".default is not valid: " + why);
  return s;
}

std::string json_schema::validate(const json& v,
                                  const std::string& path) const {
  if (never_)
    return path + " is not allowed";
  if (types_ != 0 && (types_ & bits_of(v)) == 0) {
    std::string out = path + " must be ";
    bool first = true;
    for (auto& t : type_names)
      // (An integer allowed as a number is not named twice.)
      if ((types_ & t.bit) != 0
          && !(t.bit == integer_bit && (types_ & number_bit) != 0)) {
        out += first ? "" : " or ";
        out += t.shown;
        first = false;
      }
    return out;
  }
  if (const_ && !(v == *const_))
    return path + " must be " + shown(*const_);
  if (enum_ && std::find(enum_->begin(), enum_->end(), v) == enum_->end()) {
    std::string out = path + " must be one of ";
    for (size_t i = 0; i < enum_->size() && i < 10; ++i)
      out += (i > 0 ? ", " : "") + shown((*enum_)[i]);
    return out + (enum_->size() > 10 ? ", ..." : "");
  }
  if (v.is_number()) {
    auto got = ", got " + shown(v);
    bool below = minimum_ && compare(v, *minimum_) < 0;
    bool above = maximum_ && compare(v, *maximum_) > 0;
    if (minimum_ && maximum_ && (below || above))
      return path + " must be between " + shown(*minimum_) + " and "
             + shown(*maximum_) + got;
    if (below)
      return path + " must be at least " + shown(*minimum_) + got;
    if (above)
      return path + " must be at most " + shown(*maximum_) + got;
    if (exclusive_minimum_ && compare(v, *exclusive_minimum_) <= 0)
      return path + " must be greater than " + shown(*exclusive_minimum_)
             + got;
    if (exclusive_maximum_ && compare(v, *exclusive_maximum_) >= 0)
      return path + " must be less than " + shown(*exclusive_maximum_) + got;
  }
  if (v.is_string()) {
    auto n = characters(v.get_ref<const std::string&>());
    if (min_length_ && n < *min_length_)
      return path + " must be at least " + std::to_string(*min_length_)
             + " characters long";
    if (max_length_ && n > *max_length_)
      return path + " is longer than the limit of "
             + std::to_string(*max_length_) + " characters";
  }
  if (v.is_array()) {
    if (min_items_ && v.size() < *min_items_)
      return path + " must have at least " + std::to_string(*min_items_)
             + " items";
    if (max_items_ && v.size() > *max_items_)
      return path + " must have at most " + std::to_string(*max_items_)
             + " items";
    if (items_)
      for (size_t i = 0; i < v.size(); ++i)
        if (auto why = items_->validate(v[i], path + "[" + std::to_string(i)
                                                  + "]");
            !why.empty())
          return why;
  }
  if (v.is_object()) {
    for (auto& name : required_)
      if (!v.contains(name))
        return path + "." + name + " is required";
    for (auto& [key, val] : v.items()) {
      auto at = path + "." + key;
      if (auto p = properties_.find(key); p != properties_.end()) {
        if (auto why = p->second.validate(val, at); !why.empty())
          return why;
      } else if (additional_ && additional_->never_) {
        return at + " is not a known parameter";
      } else if (additional_) {
        if (auto why = additional_->validate(val, at); !why.empty())
          return why;
      }
    }
  }
  return "";
}

void json_schema::fill_defaults(json& v) const {
  if (v.is_array() && items_)
    for (auto& x : v)
      items_->fill_defaults(x);
  if (!v.is_object())
    return;
  for (auto& [name, prop] : properties_) {
    if (auto i = v.find(name); i != v.end())
      prop.fill_defaults(*i);
    else if (prop.default_)
      prop.fill_defaults(v[name] = *prop.default_);
  }
}

} // namespace tasker
