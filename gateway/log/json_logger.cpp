#include "gateway/log/json_logger.h"

#include <chrono>
#include <ctime>
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

std::string nowUtc() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis));
  return out + ms;
}

}  // namespace

LogLevel logLevelFromName(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

JsonLogger::JsonLogger(std::ostream& out, LogLevel minLevel) : out_(out), minLevel_(minLevel) {}

void JsonLogger::log(LogLevel level, std::string_view event, const fhir::Json& fields) {
  if (!enabled(level)) return;
  fhir::Json line = fhir::Json::object();
  line.set("ts", fhir::Json::string(nowUtc()));
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
