#pragma once

// Retry timing for the delivery engine: exponential backoff with FULL jitter
// (AWS architecture blog, "Exponential Backoff and Jitter"): the delay before
// retry n (n = failed attempts so far, >= 1) is uniform in
// [0, min(cap, base * 2^(n-1))]. A receiver's Retry-After is honoured: the
// delay is never shorter than it (bounded by maxRetryAfterMillis, so a broken
// receiver cannot park a message for a year).
//
// The random source is injected so tests can pin it. Pure functions; thread
// safety is that of the random source.

#include <cstdint>
#include <functional>
#include <optional>

namespace inloop::gateway {

struct BackoffPolicy {
  std::int64_t baseMillis = 1000;          // ceiling of the first retry's delay
  std::int64_t capMillis = 5 * 60 * 1000;  // largest ceiling
  std::int64_t maxRetryAfterMillis = 60 * 60 * 1000;
};

// Uniform in [0, 1). Must be callable from the engine's worker threads.
using UniformRandom = std::function<double()>;

// A thread-safe UniformRandom seeded from std::random_device.
UniformRandom systemRandom();

// min(cap, base * 2^(failures-1)) for failures >= 1 (failures < 1 counts as 1);
// never overflows.
std::int64_t backoffCeiling(const BackoffPolicy& policy, std::int64_t failures);

// The delay before the next attempt after `failures` failed attempts: full
// jitter under backoffCeiling, then at least min(retryAfter, maxRetryAfter).
std::int64_t retryDelay(const BackoffPolicy& policy, std::int64_t failures,
                        std::optional<std::int64_t> retryAfterMillis, const UniformRandom& random);

}  // namespace inloop::gateway
