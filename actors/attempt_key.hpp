#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>

namespace tasker {

/// One attempt of one task: how the dispatcher keys what runs.
struct attempt_key {
  std::string id;
  int32_t attempt = 0;

  friend bool operator==(const attempt_key& x, const attempt_key& y) {
    return x.attempt == y.attempt && x.id == y.id;
  }

  friend bool operator<(const attempt_key& x, const attempt_key& y) {
    return std::tie(x.id, x.attempt) < std::tie(y.id, y.attempt);
  }
};

struct attempt_key_hash {
  size_t operator()(const attempt_key& x) const noexcept {
    return std::hash<std::string>{}(x.id) * 31
           + static_cast<size_t>(x.attempt);
  }
};

} // namespace tasker
