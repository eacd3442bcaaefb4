// Backoff math (full jitter bounds, Retry-After, cap) and the circuit breaker
// driven by hand-set times.
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>

#include "gateway/delivery/backoff.h"
#include "gateway/delivery/circuit_breaker.h"

using inloop::gateway::backoffCeiling;
using inloop::gateway::BackoffPolicy;
using inloop::gateway::CircuitBreaker;
using inloop::gateway::CircuitBreakerSettings;
using inloop::gateway::CircuitState;
using inloop::gateway::retryDelay;
using inloop::gateway::UniformRandom;

namespace {

UniformRandom fixed(double v) {
  return [v] { return v; };
}

}  // namespace

TEST_CASE("backoff ceiling doubles from base and stops at the cap", "[gateway][delivery]") {
  BackoffPolicy p;
  p.baseMillis = 1000;
  p.capMillis = 60000;
  struct Row {
    std::int64_t failures;
    std::int64_t ceiling;
  };
  const Row rows[] = {{0, 1000},  {1, 1000},  {2, 2000},  {3, 4000},     {4, 8000},
                      {6, 32000}, {7, 60000}, {8, 60000}, {1000, 60000}, {INT64_MAX, 60000}};
  for (const Row& r : rows) {
    INFO("failures " << r.failures);
    CHECK(backoffCeiling(p, r.failures) == r.ceiling);
  }
}

TEST_CASE("full jitter spans [0, ceiling] and never exceeds it", "[gateway][delivery]") {
  BackoffPolicy p;
  p.baseMillis = 500;
  p.capMillis = 10000;
  for (std::int64_t failures = 1; failures <= 10; ++failures) {
    const std::int64_t ceiling = backoffCeiling(p, failures);
    INFO("failures " << failures);
    CHECK(retryDelay(p, failures, std::nullopt, fixed(0.0)) == 0);
    CHECK(retryDelay(p, failures, std::nullopt, fixed(0.999999999)) == ceiling);
    const std::int64_t mid = retryDelay(p, failures, std::nullopt, fixed(0.5));
    CHECK(mid >= ceiling / 2 - 1);
    CHECK(mid <= ceiling / 2 + 1);
    // A broken random source (1.0, negative, NaN) stays in bounds.
    CHECK(retryDelay(p, failures, std::nullopt, fixed(1.0)) <= ceiling);
    CHECK(retryDelay(p, failures, std::nullopt, fixed(-3.0)) == 0);
  }
}

TEST_CASE("Retry-After is a floor under the jitter, bounded by maxRetryAfter",
          "[gateway][delivery]") {
  BackoffPolicy p;
  p.baseMillis = 1000;
  p.capMillis = 4000;
  p.maxRetryAfterMillis = 600000;
  CHECK(retryDelay(p, 1, std::int64_t{30000}, fixed(0.0)) == 30000);
  CHECK(retryDelay(p, 1, std::int64_t{30000}, fixed(0.99)) == 30000);
  // The jitter wins when it is longer than the receiver asked.
  CHECK(retryDelay(p, 3, std::int64_t{100}, fixed(0.999999)) == 4000);
  CHECK(retryDelay(p, 1, std::int64_t{0}, fixed(0.0)) == 0);
  CHECK(retryDelay(p, 1, std::int64_t{86400000}, fixed(0.0)) == 600000);
}

TEST_CASE("circuit breaker opens after N consecutive failures, probes after the cool-down",
          "[gateway][delivery]") {
  CircuitBreakerSettings s;
  s.failureThreshold = 3;
  s.openMillis = 1000;
  CircuitBreaker b(s);
  std::int64_t now = 5000;
  CHECK(b.state(now) == CircuitState::kClosed);
  REQUIRE(b.tryAcquire(now));
  b.onFailure(now);
  b.onFailure(now);
  b.onSuccess(now);  // a success resets the count
  b.onFailure(now);
  b.onFailure(now);
  CHECK(b.state(now) == CircuitState::kClosed);
  b.onFailure(now);
  CHECK(b.state(now) == CircuitState::kOpen);
  CHECK_FALSE(b.tryAcquire(now + 999));
  CHECK(b.retryAt() == now + 1000);

  // Half-open: exactly one probe.
  now += 1000;
  CHECK(b.state(now) == CircuitState::kHalfOpen);
  CHECK(b.tryAcquire(now));
  CHECK_FALSE(b.tryAcquire(now));
  b.onFailure(now);  // probe failed: open again for a full cool-down
  CHECK(b.state(now) == CircuitState::kOpen);
  CHECK_FALSE(b.tryAcquire(now + 500));

  now += 1000;
  CHECK(b.tryAcquire(now));
  b.release();  // nothing was sent: the probe is handed back
  CHECK(b.tryAcquire(now));
  b.onSuccess(now);
  CHECK(b.state(now) == CircuitState::kClosed);
  CHECK(b.tryAcquire(now));
  CHECK(b.tryAcquire(now));
}
