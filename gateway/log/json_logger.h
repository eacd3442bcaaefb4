#pragma once

// JsonLogger: structured logs, one JSON object per line, to a stream (stdout in
// the daemon; systemd/journald and container runtimes collect it).
//
// Every line has "ts" (UTC, milliseconds), "level" and "event", then the
// caller's fields in order. Callers pass record ids, versions, statuses,
// principals and latencies; NEVER patient names, birth dates, MRNs or notes
// (the logger cannot know, so the rule is on the callers: gateway code logs
// only fields it builds itself, never a record's own members).
// Thread safety: log() may be called from any thread; lines never interleave.

#include <atomic>
#include <iosfwd>
#include <mutex>
#include <string_view>

#include "fhir/json.h"
#include "gateway/base/clock.h"

namespace inloop::gateway {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// "debug", "info", "warning", "error"; unknown names give kInfo.
LogLevel logLevelFromName(std::string_view name);

class JsonLogger {
 public:
  // `out` (and `clock`, when given) must outlive the logger; timestamps come
  // from `clock`, the system clock by default.
  JsonLogger(std::ostream& out, LogLevel minLevel, const Clock* clock = nullptr);

  bool enabled(LogLevel level) const { return level >= minLevel_.load(); }
  // Changes the threshold (a reload of inloop.json); safe from any thread.
  void setLevel(LogLevel minLevel) { minLevel_.store(minLevel); }
  // Writes one line and flushes. `fields` must be an object (or null: none).
  void log(LogLevel level, std::string_view event, const fhir::Json& fields = fhir::Json());

 private:
  std::mutex mutex_;
  std::ostream& out_;
  SystemClock systemClock_;
  const Clock* clock_;
  std::atomic<LogLevel> minLevel_;
};

}  // namespace inloop::gateway
