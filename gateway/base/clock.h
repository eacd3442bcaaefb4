#pragma once

// Clock: the one place the gateway reads the time. Everything that needs "now"
// (store timestamps, retry schedules, token expiry) takes a Clock& so tests can
// drive time by hand with ManualClock instead of sleeping.
//
// Times are milliseconds since the Unix epoch (UTC), as std::int64_t.
// Thread safety: both implementations may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace inloop::gateway {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, milliseconds since 1970-01-01T00:00:00Z.
  virtual std::int64_t nowMillis() const = 0;
};

// The operating system's real-time clock (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  std::int64_t nowMillis() const override;
};

// A clock that only moves when told to. For tests: whatever waits for a time
// (the delivery engine's workers, a test waiting on a ChangeSignal) registers
// a listener, which set() and advance() call after moving the clock, on the
// calling thread, so moving time wakes it instead of it polling the clock.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t startMillis = 1714557600000) : now_(startMillis) {}

  std::int64_t nowMillis() const override { return now_.load(); }
  void set(std::int64_t millis);
  void advance(std::int64_t millis);
  // Adds a listener called after every set()/advance(). It must stay valid
  // until the clock is destroyed or no longer moved.
  void onChange(std::function<void()> listener);

 private:
  void changed();

  std::atomic<std::int64_t> now_;
  std::mutex listenersMutex_;
  std::vector<std::function<void()>> listeners_;
};

// FHIR instant text for `epochMillis` in UTC with millisecond precision:
// "2024-05-01T10:00:00.000Z". Valid for years 0001..9999; values outside are
// clamped to that range.
std::string formatInstant(std::int64_t epochMillis);

// Epoch milliseconds of a FHIR instant ("2026-12-07T09:00:00Z", an offset or
// fractional seconds allowed); nullopt for anything that is not an instant.
std::optional<std::int64_t> parseInstant(std::string_view text);

}  // namespace inloop::gateway
