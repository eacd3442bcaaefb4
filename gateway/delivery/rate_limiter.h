#pragma once

// RateLimiter: a token bucket enforcing a destination's `rateLimitPerSecond`.
//
// The bucket holds at most max(1, rate) tokens (a burst of one second's worth)
// and refills continuously. Time comes from the caller (milliseconds from the
// injected Clock), so tests drive it by hand. Thread-safe: the workers of one
// destination share one limiter.

#include <cstdint>
#include <mutex>

namespace inloop::gateway {

class RateLimiter {
 public:
  // `perSecond` <= 0 means unlimited: tryTake always succeeds.
  explicit RateLimiter(double perSecond);

  // Takes one token at `nowMillis`. Returns 0 when taken, otherwise the
  // milliseconds until a token will be available (nothing is taken).
  std::int64_t tryTake(std::int64_t nowMillis);
  // Gives back a token taken for a send that did not happen (nothing was due).
  void refund();

 private:
  void refill(std::int64_t nowMillis);

  const double perMilli_;
  const double capacity_;
  std::mutex mutex_;
  double tokens_;
  std::int64_t lastMillis_ = -1;
};

}  // namespace inloop::gateway
