#include <catch2/catch.hpp>

#include "gateway/delivery/rate_limiter.h"

using inloop::gateway::RateLimiter;

TEST_CASE("rate limiter: a burst of one second, then one token per 1/rate", "[gateway][delivery]") {
  RateLimiter limiter(4);  // 4 per second: a token every 250 ms
  const std::int64_t t0 = 1'000'000;
  for (int i = 0; i < 4; ++i) CHECK(limiter.tryTake(t0) == 0);
  CHECK(limiter.tryTake(t0) == 250);
  CHECK(limiter.tryTake(t0 + 100) == 150);
  CHECK(limiter.tryTake(t0 + 250) == 0);
  CHECK(limiter.tryTake(t0 + 250) == 250);
  // Long idle refills only up to the burst.
  const std::int64_t later = t0 + 60'000;
  for (int i = 0; i < 4; ++i) CHECK(limiter.tryTake(later) == 0);
  CHECK(limiter.tryTake(later) > 0);
}

TEST_CASE("rate limiter: refunds, slow rates, unlimited and a clock stepping back",
          "[gateway][delivery]") {
  RateLimiter slow(0.5);  // one every 2 s, burst of one
  CHECK(slow.tryTake(10'000) == 0);
  CHECK(slow.tryTake(10'000) == 2000);
  slow.refund();  // the claim found nothing to send
  CHECK(slow.tryTake(10'000) == 0);
  CHECK(slow.tryTake(5'000) == 2000);  // the clock stepped back: no new tokens
  CHECK(slow.tryTake(12'000) == 0);

  RateLimiter unlimited(0);
  for (int i = 0; i < 1000; ++i) REQUIRE(unlimited.tryTake(0) == 0);
}
