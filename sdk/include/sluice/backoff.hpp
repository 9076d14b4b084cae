// Exponential back-off with full jitter, the one schedule used for reconnects and retries.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace sluice {

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30000};
  double multiplier = 2.0;
  // full: uniform in [0, ceiling] (AWS "full jitter", best spread for many clients retrying);
  // half: uniform in [ceiling/2, ceiling], which keeps a floor so a flapping peer is not hammered.
  enum class Jitter { full, half } jitter = Jitter::half;
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}, uint64_t seed = std::random_device{}())
      : policy_(policy), rng_(seed) {}

  // The next delay; the ceiling grows from `initial` by `multiplier` up to `max`.
  std::chrono::milliseconds next() {
    double ceiling = static_cast<double>(policy_.initial.count());
    for (uint32_t i = 0; i < attempts_ && ceiling < policy_.max.count(); ++i)
      ceiling *= policy_.multiplier;
    ceiling = std::min(ceiling, static_cast<double>(policy_.max.count()));
    ++attempts_;
    std::uniform_real_distribution<double> dist(
        policy_.jitter == BackoffPolicy::Jitter::full ? 0.0 : ceiling / 2, ceiling);
    return std::chrono::milliseconds(static_cast<int64_t>(dist(rng_)));
  }
  void reset() { attempts_ = 0; }
  uint32_t attempts() const { return attempts_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  uint32_t attempts_ = 0;
};

}  // namespace sluice
