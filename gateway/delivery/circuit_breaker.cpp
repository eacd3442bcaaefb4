#include "gateway/delivery/circuit_breaker.h"

namespace inloop::gateway {

std::string_view circuitStateName(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half-open";
  }
  return "closed";
}

bool CircuitBreaker::tryAcquire(std::int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == CircuitState::kClosed) return true;
  if (state_ == CircuitState::kOpen) {
    if (now < openedAt_ + settings_.openMillis) return false;
    state_ = CircuitState::kHalfOpen;
    probeInFlight_ = false;
  }
  if (probeInFlight_) return false;
  probeInFlight_ = true;
  return true;
}

void CircuitBreaker::onSuccess(std::int64_t) {
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = CircuitState::kClosed;
  failures_ = 0;
  probeInFlight_ = false;
}

void CircuitBreaker::onFailure(std::int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++failures_;
  if (state_ == CircuitState::kHalfOpen ||
      (state_ == CircuitState::kClosed && failures_ >= settings_.failureThreshold)) {
    state_ = CircuitState::kOpen;
    openedAt_ = now;
  }
  probeInFlight_ = false;
}

void CircuitBreaker::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  probeInFlight_ = false;
}

CircuitState CircuitBreaker::state(std::int64_t now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == CircuitState::kOpen && now >= openedAt_ + settings_.openMillis) {
    return CircuitState::kHalfOpen;
  }
  return state_;
}

std::int64_t CircuitBreaker::retryAt() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_ == CircuitState::kOpen ? openedAt_ + settings_.openMillis : 0;
}

int CircuitBreaker::consecutiveFailures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

}  // namespace inloop::gateway
