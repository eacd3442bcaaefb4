#pragma once

// Lexical checks for FHIR R4 primitive types (http://hl7.org/fhir/R4/datatypes.html),
// with real calendar validity (2026-02-30 is rejected, 2024-02-29 accepted) and
// time-zone offsets limited to -14:00..+14:00. Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string_view>

namespace inloop::fhir {

// id: [A-Za-z0-9\-\.]{1,64}
bool isValidId(std::string_view s);
// date: YYYY, YYYY-MM or YYYY-MM-DD.
bool isValidDate(std::string_view s);
// A full YYYY-MM-DD date (what the plan-record format requires).
bool isValidFullDate(std::string_view s);
// dateTime: a date (any precision), or YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm).
bool isValidDateTime(std::string_view s);
// instant: YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm).
bool isValidInstant(std::string_view s);
// time: hh:mm:ss[.f{1,9}]
bool isValidTime(std::string_view s);
// decimal: the JSON number grammar, with no leading zeros.
bool isValidDecimal(std::string_view s);
// integer: optional sign, no leading zeros, within 32 bits.
bool isValidInteger(std::string_view s);
// uri: non-empty, no whitespace or control characters.
bool isValidUri(std::string_view s);
// code: non-empty, no leading/trailing whitespace, no runs of more than one space.
bool isValidCode(std::string_view s);
// string: non-empty with at least one non-whitespace character (FHIR forbids
// empty strings), no control characters except tab, CR, LF.
bool isValidString(std::string_view s);

// Milliseconds since 1970-01-01T00:00:00Z of a dateTime or instant with a time
// part, or of the start of a full date taken as UTC; nullopt when not valid or
// when only year or year-month is given. For ordering checks such as per-1.
std::optional<std::int64_t> toEpochMillis(std::string_view dateOrDateTime);

}  // namespace inloop::fhir
