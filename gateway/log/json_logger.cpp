#include "gateway/log/json_logger.h"

#include <ostream>
#include <string>

namespace inloop::gateway {

namespace {

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

LogLevel logLevelFromName(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

JsonLogger::JsonLogger(std::ostream& out, LogLevel minLevel, const Clock* clock)
    : out_(out), clock_(clock != nullptr ? clock : &systemClock_), minLevel_(minLevel) {}

void JsonLogger::log(LogLevel level, std::string_view event, const fhir::Json& fields) {
  if (!enabled(level)) return;
  fhir::Json line = fhir::Json::object();
  line.set("ts", fhir::Json::string(formatInstant(clock_->nowMillis())));
  line.set("level", fhir::Json::string(levelName(level)));
  line.set("event", fhir::Json::string(std::string(event)));
  for (const auto& [key, value] : fields.members()) line.set(key, value);
  std::string text = fhir::writeJson(line);
  text += '\n';
  std::lock_guard<std::mutex> lock(mutex_);
  out_ << text;
  out_.flush();
}

}  // namespace inloop::gateway
