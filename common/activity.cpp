#include "common/activity.hpp"

#include <algorithm>
#include <cmath>

namespace tasker {

namespace {

constexpr double growth = 1.189207115002721; // 2^(1/4)

/// The `q` quantile of a latency histogram, as its bucket's upper bound;
/// -1 for an empty one.
double quantile(const std::array<uint64_t, activity::buckets>& h, uint64_t n,
                double q) {
  if (n == 0)
    return -1;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
  uint64_t seen = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    seen += h[i];
    if (seen >= std::max<uint64_t>(rank, 1))
      return activity::upper_ms(i);
  }
  return activity::upper_ms(h.size() - 1);
}

} // namespace

size_t activity::bucket_of(double ms) {
  if (!(ms >= 1)) // also NaN
    return 0;
  auto b = static_cast<size_t>(std::floor(std::log(ms) / std::log(growth))) + 1;
  return std::min(b, buckets - 1);
}

double activity::upper_ms(size_t bucket) {
  return std::pow(growth, static_cast<double>(bucket));
}

activity::slot& activity::current(int64_t now_ms) {
  auto index = now_ms / slot_ms;
  if (first_index_ < 0)
    first_index_ = index;
  auto& s = ring_[static_cast<size_t>(index) % slots];
  if (s.index != index) {
    // Slots nobody wrote in since `latest_index_` keep the gauges as they
    // were; `window` carries them over.
    s = slot{};
    s.index = index;
    s.gauges = last_;
  }
  latest_index_ = std::max(latest_index_, index);
  return s;
}

void activity::submitted(int64_t now_ms, uint64_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  current(now_ms).submitted += n;
}

void activity::finished(int64_t now_ms, int status, double latency_ms) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& s = current(now_ms);
  switch (status) {
    case 0:
      ++s.completed;
      break;
    case 1:
      ++s.failed;
      break;
    default:
      ++s.cancelled;
  }
  ++s.latency[bucket_of(latency_ms)];
}

void activity::set(int64_t now_ms, gauge g, int64_t value) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = static_cast<size_t>(g);
  last_[i] = value;
  current(now_ms).gauges[i] = value;
}

activity::window_view activity::window(int64_t now_ms, int64_t window_ms) const {
  std::lock_guard<std::mutex> guard{mtx_};
  window_view out;
  if (first_index_ < 0)
    return out;
  auto now_index = now_ms / slot_ms;
  auto count = std::clamp<int64_t>((window_ms + slot_ms - 1) / slot_ms, 1,
                                   static_cast<int64_t>(slots));
  auto from = std::max(first_index_, now_index - count + 1);
  std::array<uint64_t, buckets> total{};
  std::array<int64_t, static_cast<size_t>(gauge::count)> carried{};
  // The gauges before the window: the last slot written before `from`.
  for (auto i = from - 1; i >= std::max(first_index_, now_index - int64_t{slots} + 1); --i) {
    auto& s = ring_[static_cast<size_t>(i) % slots];
    if (s.index == i) {
      carried = s.gauges;
      break;
    }
  }
  for (auto i = from; i <= now_index; ++i) {
    auto& s = ring_[static_cast<size_t>(i) % slots];
    slot_view v;
    v.start_ms = i * slot_ms;
    if (s.index == i) {
      v.submitted = s.submitted;
      v.completed = s.completed;
      v.failed = s.failed;
      v.cancelled = s.cancelled;
      v.gauges = s.gauges;
      carried = s.gauges;
      std::array<uint64_t, buckets> h{};
      uint64_t n = 0;
      for (size_t b = 0; b < buckets; ++b) {
        h[b] = s.latency[b];
        total[b] += s.latency[b];
        n += s.latency[b];
      }
      v.p50_ms = quantile(h, n, 0.50);
      v.p95_ms = quantile(h, n, 0.95);
      v.p99_ms = quantile(h, n, 0.99);
      out.finished += n;
    } else {
      v.gauges = carried;
    }
    out.slots.push_back(v);
  }
  out.p50_ms = quantile(total, out.finished, 0.50);
  out.p95_ms = quantile(total, out.finished, 0.95);
  out.p99_ms = quantile(total, out.finished, 0.99);
  return out;
}

} // namespace tasker
