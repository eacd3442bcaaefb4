#include "fhir/primitives.h"

#include <catch2/catch.hpp>

using namespace inloop::fhir;

TEST_CASE("primitive lexical forms", "[fhir][primitives]") {
  struct Case {
    bool (*check)(std::string_view);
    const char* name;
    const char* text;
    bool valid;
  };
  const Case cases[] = {
      {isValidId, "id", "CP-2026-0412", true},
      {isValidId, "id", "a.b", true},
      {isValidId, "id", "has_underscore", false},
      {isValidId, "id", "", false},
      {isValidId, "id", "0123456789012345678901234567890123456789012345678901234567890123", true},
      {isValidId, "id", "01234567890123456789012345678901234567890123456789012345678901234", false},
      {isValidDate, "date", "2026", true},
      {isValidDate, "date", "2026-09", true},
      {isValidDate, "date", "2026-09-01", true},
      {isValidDate, "date", "2024-02-29", true},
      {isValidDate, "date", "2026-02-29", false},
      {isValidDate, "date", "2026-02-30", false},
      {isValidDate, "date", "2026-13-01", false},
      {isValidDate, "date", "2026-00-10", false},
      {isValidDate, "date", "2026-1-1", false},
      {isValidDate, "date", "2026-09-01T10:00:00Z", false},
      {isValidFullDate, "full date", "2026-09", false},
      {isValidFullDate, "full date", "1900-02-29", false},
      {isValidFullDate, "full date", "2000-02-29", true},
      {isValidDateTime, "dateTime", "2026-09-01", true},
      {isValidDateTime, "dateTime", "2026", true},
      {isValidDateTime, "dateTime", "2026-09-01T16:20:00-04:00", true},
      {isValidDateTime, "dateTime", "2026-09-01T16:20:00.123456789Z", true},
      {isValidDateTime, "dateTime", "2026-09-01T16:20:00.1234567890Z", false},
      {isValidDateTime, "dateTime", "2026-09-01T16:20:00", false},
      {isValidDateTime, "dateTime", "2026-09-01T16:20Z", false},
      {isValidDateTime, "dateTime", "2026-09-01T24:00:00Z", false},
      {isValidDateTime, "dateTime", "2026-09-01T10:00:00+25:00", false},
      {isValidDateTime, "dateTime", "2026-09-01T10:00:00+14:00", true},
      {isValidDateTime, "dateTime", "2026-09-01T10:00:00+14:30", false},
      {isValidDateTime, "dateTime", "2026-09-01T10:00:00-12:60", false},
      {isValidDateTime, "dateTime", "2026-09T10:00:00Z", false},
      {isValidInstant, "instant", "2026-09-01T16:20:00-04:00", true},
      {isValidInstant, "instant", "2026-09-01", false},
      {isValidInstant, "instant", "2026-06-30T23:59:60Z", true},
      {isValidTime, "time", "09:30:00", true},
      {isValidTime, "time", "9:30:00", false},
      {isValidDecimal, "decimal", "1.50", true},
      {isValidDecimal, "decimal", "-0.5e10", true},
      {isValidDecimal, "decimal", "01", false},
      {isValidDecimal, "decimal", "1.", false},
      {isValidDecimal, "decimal", ".5", false},
      {isValidDecimal, "decimal", "+1", false},
      {isValidInteger, "integer", "2147483647", true},
      {isValidInteger, "integer", "2147483648", false},
      {isValidInteger, "integer", "-2147483648", true},
      {isValidInteger, "integer", "007", false},
      {isValidUri, "uri", "http://loinc.org", true},
      {isValidUri, "uri", "urn:uuid:0b5a", true},
      {isValidUri, "uri", "has space", false},
      {isValidUri, "uri", "", false},
      {isValidCode, "code", "final", true},
      {isValidCode, "code", "assess plan", true},
      {isValidCode, "code", " final", false},
      {isValidCode, "code", "final ", false},
      {isValidCode, "code", "a  b", false},
      {isValidCode, "code", "", false},
      {isValidString, "string", "text", true},
      {isValidString, "string", "   ", false},
      {isValidString, "string", "", false},
      {isValidString, "string", "a\x01", false},
  };
  for (const Case& c : cases) {
    INFO(c.name << " '" << c.text << "'");
    CHECK(c.check(c.text) == c.valid);
  }
}

TEST_CASE("epoch millis orders dates and date-times", "[fhir][primitives]") {
  CHECK(*toEpochMillis("1970-01-01T00:00:00Z") == 0);
  CHECK(*toEpochMillis("1970-01-02") == 86400000);
  CHECK(*toEpochMillis("2026-09-01T16:20:00-04:00") == *toEpochMillis("2026-09-01T20:20:00Z"));
  CHECK(*toEpochMillis("2000-03-01T00:00:00.250Z") - *toEpochMillis("2000-02-29") ==
        86400000 + 250);
  CHECK_FALSE(toEpochMillis("2026-09"));
  CHECK_FALSE(toEpochMillis("nonsense"));
}
