#pragma once

#include <type_traits>

#include <caf/meta/annotation.hpp>

namespace tasker {

namespace detail {

/// An inspector that hands the fields `inspect` lists to `f`, all at once.
template <class F>
struct field_visitor {
  using result_type = void;
  F f;
  template <class... Ts>
  void operator()(Ts&&... xs) {
    f(xs...);
  }
};

using any_visitor = field_visitor<void (*)(...)>;

template <class A, class B>
bool same_field(const A& a, const B& b) {
  if constexpr (std::is_base_of<caf::meta::annotation, A>::value)
    return true; // (a type name)
  else
    return a == b;
}

} // namespace detail

/// Equality of tasker's message types: field by field, as their `inspect`
/// lists them (so a new field can never be left out).
template <class T, class = decltype(inspect(
                     std::declval<detail::any_visitor&>(), std::declval<T&>()))>
bool operator==(const T& x, const T& y) {
  bool equal = false;
  auto outer = [&](const auto&... xs) {
    auto inner = [&](const auto&... ys) {
      equal = (detail::same_field(xs, ys) && ...);
    };
    detail::field_visitor<decltype(inner)> v{inner};
    inspect(v, const_cast<T&>(y));
  };
  detail::field_visitor<decltype(outer)> v{outer};
  inspect(v, const_cast<T&>(x));
  return equal;
}

} // namespace tasker
