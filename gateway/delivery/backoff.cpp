#include "gateway/delivery/backoff.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <random>

namespace inloop::gateway {

UniformRandom systemRandom() {
  struct State {
    std::mutex mutex;
    std::mt19937_64 engine{std::random_device{}()};
    std::uniform_real_distribution<double> dist{0.0, 1.0};
  };
  auto state = std::make_shared<State>();
  return [state]() {
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->dist(state->engine);
  };
}

std::int64_t backoffCeiling(const BackoffPolicy& policy, std::int64_t failures) {
  const std::int64_t base = std::max<std::int64_t>(policy.baseMillis, 0);
  const std::int64_t cap = std::max<std::int64_t>(policy.capMillis, 0);
  std::int64_t ceiling = base;
  for (std::int64_t i = 1; i < failures && ceiling < cap; ++i) {
    ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
  }
  return std::min(ceiling, cap);
}

std::int64_t retryDelay(const BackoffPolicy& policy, std::int64_t failures,
                        std::optional<std::int64_t> retryAfterMillis, const UniformRandom& random) {
  const std::int64_t ceiling = backoffCeiling(policy, failures);
  double r = random ? random() : 0.5;
  if (!(r >= 0.0)) r = 0.0;  // also NaN
  if (r >= 1.0) r = std::nextafter(1.0, 0.0);
  // Inclusive upper bound: floor(r * (ceiling + 1)) lies in [0, ceiling].
  std::int64_t delay = static_cast<std::int64_t>(r * static_cast<double>(ceiling + 1));
  delay = std::clamp<std::int64_t>(delay, 0, ceiling);
  if (retryAfterMillis && *retryAfterMillis > 0) {
    delay = std::max(delay, std::min(*retryAfterMillis, policy.maxRetryAfterMillis));
  }
  return delay;
}

}  // namespace inloop::gateway
