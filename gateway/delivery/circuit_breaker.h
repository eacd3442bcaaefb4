#pragma once

// CircuitBreaker: one per destination. Closed: requests flow. After
// `failureThreshold` CONSECUTIVE failures it opens: no request for
// `openMillis`; then it is half-open: exactly one probe request may go; its
// success closes the breaker, its failure opens it again for another
// `openMillis`. Failures that say nothing about the receiver's health (a
// permanent rejection of one message) are reported as successes by the caller.
//
// Time is passed in (epoch milliseconds from the engine's Clock), so tests
// drive it by hand. Thread safety: every method may be called concurrently.

#include <cstdint>
#include <mutex>
#include <string_view>

namespace inloop::gateway {

struct CircuitBreakerSettings {
  int failureThreshold = 5;
  std::int64_t openMillis = 30000;
};

enum class CircuitState { kClosed, kOpen, kHalfOpen };

// "closed", "open", "half-open".
std::string_view circuitStateName(CircuitState state);

class CircuitBreaker {
 public:
  explicit CircuitBreaker(CircuitBreakerSettings settings = {}) : settings_(settings) {}

  // True when a request may be sent now. In half-open state the first caller
  // gets the probe (true) and others get false until it reports.
  bool tryAcquire(std::int64_t now);
  void onSuccess(std::int64_t now);
  void onFailure(std::int64_t now);
  // A caller that acquired but sent nothing (message not sendable) gives the
  // probe back.
  void release();

  CircuitState state(std::int64_t now) const;
  // When an open breaker lets a probe through; 0 unless open.
  std::int64_t retryAt() const;
  int consecutiveFailures() const;

 private:
  const CircuitBreakerSettings settings_;
  mutable std::mutex mutex_;
  CircuitState state_ = CircuitState::kClosed;
  int failures_ = 0;
  std::int64_t openedAt_ = 0;
  bool probeInFlight_ = false;
};

}  // namespace inloop::gateway
