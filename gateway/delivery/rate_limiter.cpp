#include "gateway/delivery/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace inloop::gateway {

RateLimiter::RateLimiter(double perSecond)
    : perMilli_(perSecond > 0 ? perSecond / 1000.0 : 0),
      capacity_(std::max(1.0, perSecond)),
      tokens_(capacity_) {}

void RateLimiter::refill(std::int64_t nowMillis) {
  if (lastMillis_ >= 0 && nowMillis > lastMillis_) {
    tokens_ = std::min(capacity_, tokens_ + static_cast<double>(nowMillis - lastMillis_) * perMilli_);
  }
  // A clock that steps back never mints tokens.
  if (lastMillis_ < 0 || nowMillis > lastMillis_) lastMillis_ = nowMillis;
}

std::int64_t RateLimiter::tryTake(std::int64_t nowMillis) {
  if (perMilli_ <= 0) return 0;
  std::lock_guard<std::mutex> lock(mutex_);
  refill(nowMillis);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil((1.0 - tokens_) / perMilli_)));
}

void RateLimiter::refund() {
  if (perMilli_ <= 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_ = std::min(capacity_, tokens_ + 1.0);
}

}  // namespace inloop::gateway
