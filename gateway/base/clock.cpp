#include "gateway/base/clock.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "fhir/primitives.h"

namespace inloop::gateway {

std::int64_t SystemClock::nowMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ManualClock::set(std::int64_t millis) {
  now_.store(millis);
  changed();
}

void ManualClock::advance(std::int64_t millis) {
  now_.fetch_add(millis);
  changed();
}

void ManualClock::onChange(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(listenersMutex_);
  listeners_.push_back(std::move(listener));
}

void ManualClock::changed() {
  std::vector<std::function<void()>> listeners;
  {
    std::lock_guard<std::mutex> lock(listenersMutex_);
    listeners = listeners_;
  }
  for (const auto& listener : listeners) listener();
}

namespace {

// Days since 1970-01-01 -> civil date (Howard Hinnant's algorithm, proleptic
// Gregorian), so formatting does not depend on the C library's time zone state.
void civilFromDays(std::int64_t days, std::int64_t* year, unsigned* month, unsigned* day) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<std::int64_t>(yoe) + era * 400 + (*month <= 2 ? 1 : 0);
}

}  // namespace

std::string formatInstant(std::int64_t epochMillis) {
  // 0001-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z
  constexpr std::int64_t kMin = -62135596800000;
  constexpr std::int64_t kMax = 253402300799999;
  epochMillis = std::clamp(epochMillis, kMin, kMax);
  constexpr std::int64_t kMillisPerDay = 86400000;
  std::int64_t days = epochMillis / kMillisPerDay;
  std::int64_t rest = epochMillis % kMillisPerDay;
  if (rest < 0) {
    rest += kMillisPerDay;
    --days;
  }
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civilFromDays(days, &year, &month, &day);
  const auto ms = static_cast<int>(rest % 1000);
  const auto secs = static_cast<int>(rest / 1000);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(year),
                month, day, secs / 3600, (secs / 60) % 60, secs % 60, ms);
  return buf;
}

std::optional<std::int64_t> parseInstant(std::string_view text) {
  if (!fhir::isValidInstant(text)) return std::nullopt;
  return fhir::toEpochMillis(text);
}

}  // namespace inloop::gateway
