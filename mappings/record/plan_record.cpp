#include "mappings/record/plan_record.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <span>
#include <utility>

#include "fhir/binding.h"
#include "fhir/primitives.h"
#include "fhir/swar.h"
#include "mappings/record/record_binding.h"
#include "mappings/record/wire_code.h"

namespace inloop::mappings {
namespace {

using fhir::Json;

// ---- Enum wire names (index = enumerator value) ----

template <typename E>
struct WireNames;

template <>
struct WireNames<RecordType> {
  static constexpr std::array<std::string_view, 3> kValues{"care-plan", "measurement",
                                                           "medication-change"};
};
template <>
struct WireNames<Sex> {
  static constexpr std::array<std::string_view, 4> kValues{"female", "male", "other", "unknown"};
};
template <>
struct WireNames<ClinicianRole> {
  static constexpr std::array<std::string_view, 9> kValues{
      "physician",       "nurse-practitioner", "physical-therapist", "occupational-therapist",
      "psychologist",    "pharmacist",         "interventionalist",  "nurse",
      "care-coordinator"};
};
template <>
struct WireNames<ProgramKind> {
  static constexpr std::array<std::string_view, 2> kValues{"bundled-program", "a-la-carte"};
};
template <>
struct WireNames<ProgramStatus> {
  static constexpr std::array<std::string_view, 6> kValues{
      "draft", "active", "on-hold", "completed", "cancelled", "entered-in-error"};
};
template <>
struct WireNames<Comparator> {
  static constexpr std::array<std::string_view, 4> kValues{"<", "<=", ">=", ">"};
};
template <>
struct WireNames<GoalStatus> {
  static constexpr std::array<std::string_view, 6> kValues{
      "proposed", "active", "on-hold", "completed", "cancelled", "entered-in-error"};
};
template <>
struct WireNames<GoalAchievement> {
  static constexpr std::array<std::string_view, 6> kValues{
      "in-progress", "improving", "worsening", "no-change", "achieved", "not-achieved"};
};
template <>
struct WireNames<ActivityStatus> {
  static constexpr std::array<std::string_view, 7> kValues{
      "not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped"};
};
template <>
struct WireNames<FrequencyPer> {
  static constexpr std::array<std::string_view, 3> kValues{"day", "week", "month"};
};
template <>
struct WireNames<AbsentReason> {
  static constexpr std::array<std::string_view, 3> kValues{"not-performed", "patient-declined",
                                                           "unable"};
};
template <>
struct WireNames<MeasurementStatus> {
  static constexpr std::array<std::string_view, 5> kValues{"preliminary", "final", "amended",
                                                           "corrected", "entered-in-error"};
};
template <>
struct WireNames<MeasurementMethod> {
  static constexpr std::array<std::string_view, 3> kValues{"clinic", "patient-reported",
                                                           "remote-monitoring"};
};
template <>
struct WireNames<MedicationAction> {
  static constexpr std::array<std::string_view, 6> kValues{
      "start", "dose-change", "taper-step", "stop", "continue", "entered-in-error"};
};
template <>
struct WireNames<Route> {
  static constexpr std::array<std::string_view, 5> kValues{"oral", "transdermal", "sublingual",
                                                           "topical", "injection"};
};

template <typename E>
std::string_view wireOf(E value) {
  const auto& names = WireNames<E>::kValues;
  const auto i = static_cast<std::size_t>(value);
  return i < names.size() ? names[i] : std::string_view();
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// ---- Reading: the record format's text rule and field lists ----

namespace bind = fhir::bind;
using bind::kOptional;
using bind::kRequired;

// Values of patient fields and the note are never quoted back in messages.
bool isSensitive(std::string_view path) {
  return path == "$.note" || path.starts_with("$.patient.") || path == "$.patient";
}

std::size_t countChars(std::string_view s) {
  std::size_t n = 0;
  std::size_t i = 0;
  // Eight bytes at a time: every byte but a continuation byte (10xxxxxx) counts.
  for (; i + 8 <= s.size(); i += 8) {
    const std::uint64_t w = fhir::swar::loadWord(s.data() + i);
    n += 8 - static_cast<std::size_t>(std::popcount(w & ~(w << 1) & fhir::swar::kHigh));
  }
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// A string format check: nullptr when fine, else what was expected.
using FormatCheck = const char* (*)(std::string_view);

struct StringRule {
  std::size_t minChars = 1;
  std::size_t maxChars = 0;  // 0: no limit beyond the JSON reader's
  FormatCheck check = nullptr;
  bool quoteValue = true;  // false: a refusal does not echo the value
};

bool isDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YYYY-MM-DD shape without calendar check.
bool hasDateShape(std::string_view s) {
  return s.size() >= 10 && isDigits(s.substr(0, 4)) && s[4] == '-' && isDigits(s.substr(5, 2)) &&
         s[7] == '-' && isDigits(s.substr(8, 2));
}

constexpr const char* kNotCalendarDate = "not a calendar date (expected YYYY-MM-DD)";

const char* checkDate(std::string_view s) {
  if (fhir::isValidFullDate(s)) return nullptr;
  return (s.size() == 10 && hasDateShape(s)) ? kNotCalendarDate : "expected a date YYYY-MM-DD";
}

// patient.birthDate: FHIR allows a partial date (YYYY or YYYY-MM) there, and
// some registrations know only the year.
const char* checkBirthDate(std::string_view s) {
  if (fhir::isValidDate(s)) return nullptr;
  return (s.size() == 10 && hasDateShape(s)) ? kNotCalendarDate
                                             : "expected a date YYYY, YYYY-MM or YYYY-MM-DD";
}

const char* checkDateTime(std::string_view s) {
  if (s.size() == 10) return checkDate(s);
  if (s.size() > 10 && s[10] == 'T' && fhir::isValidDateTime(s)) return nullptr;
  if (hasDateShape(s) && !fhir::isValidFullDate(s.substr(0, 10))) return kNotCalendarDate;
  return "expected a date YYYY-MM-DD or a date-time YYYY-MM-DDThh:mm:ss with Z or an offset "
         "between -14:00 and +14:00";
}

const char* checkInstant(std::string_view s) {
  if (fhir::isValidInstant(s)) return nullptr;
  if (hasDateShape(s) && !fhir::isValidFullDate(s.substr(0, 10))) return kNotCalendarDate;
  return "expected an instant YYYY-MM-DDThh:mm:ss[.fff] with Z or an offset between -14:00 "
         "and +14:00";
}

const char* checkRecordId(std::string_view s) {
  const bool ok = !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  return ok ? nullptr : "expected 1-64 characters from A-Z a-z 0-9 . _ -";
}

const char* checkCode(std::string_view s) {
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  const bool good = !s.empty() && s.size() <= 64 && ok(s[0]) &&
                    std::all_of(s.begin(), s.end(), [&](char c) { return ok(c) || c == '-'; });
  return good ? nullptr
              : "expected a code: 1-64 lower-case letters, digits and '-', not starting with '-'";
}

const char* checkNpi(std::string_view s) {
  return (s.size() == 10 && isDigits(s)) ? nullptr : "expected an NPI of exactly 10 digits";
}

const char* checkRxnorm(std::string_view s) {
  return (s.size() <= 10 && isDigits(s)) ? nullptr : "expected an RxNorm code of 1-10 digits";
}

// ^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$
const char* checkIcd10(std::string_view s) {
  auto upperOrDigit = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  bool ok = s.size() >= 3 && s[0] >= 'A' && s[0] <= 'Z' && s[0] != 'U' && s[1] >= '0' &&
            s[1] <= '9' && upperOrDigit(s[2]);
  if (ok && s.size() > 3) {
    ok = s[3] == '.' && s.size() >= 5 && s.size() <= 8 &&
         std::all_of(s.begin() + 4, s.end(), upperOrDigit);
  }
  return ok ? nullptr : "expected an ICD-10-CM code such as M48.062";
}

// The code point at s[*i] (valid UTF-8, as the JSON reader guarantees); moves *i past it.
char32_t nextCodePoint(std::string_view s, std::size_t* i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(*i);
  std::size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  if (*i + len > s.size()) len = s.size() - *i;
  char32_t c = len == 1 ? b : b & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) c = (c << 6) | (byte(*i + k) & 0x3F);
  *i += len;
  return c;
}

// Invisible characters that change how text around them reads: soft hyphen,
// Arabic letter mark, Mongolian vowel separator, zero-width and directional
// marks, line and paragraph separators, bidi embeddings, overrides and
// isolates, word joiner and invisible operators, byte order mark, interlinear
// annotation marks. docs/record-format.md ("Id (local)") lists the same ranges.
bool isFormatCharacter(char32_t c) {
  return c == 0xAD || c == 0x61C || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF ||
         (c >= 0xFFF9 && c <= 0xFFFB);
}

bool isUnicodeSpace(char32_t c) {
  return c == ' ' || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Local ids (mrn, practiceId, goalId...) end up in identifiers, URLs, file
// names and log lines: printable characters only, and nothing that reads as a
// path step. Lengths are checked by the rule.
const char* checkLocalId(std::string_view s) {
  std::size_t i = 0;
  char32_t first = 0;
  char32_t last = 0;
  while (i < s.size()) {
    const char32_t c = nextCodePoint(s, &i);
    if (first == 0) first = c;
    last = c;
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) {
      return "must not contain control characters (tab, line feed and carriage return included)";
    }
    if (isFormatCharacter(c)) {
      return "must not contain invisible Unicode format or bidirectional characters (such as "
             "U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)";
    }
    if (c == '"' || c == '\'' || c == '`' || c == '\\') {
      return "must not contain quotes or backslashes";
    }
  }
  if (isUnicodeSpace(first) || isUnicodeSpace(last)) {
    return "must not start or end with whitespace";
  }
  // "a/b" is fine; "/a", "a/", "a//b", "..", "./a", "a/../b" are not.
  for (std::size_t start = 0;;) {
    const std::size_t slash = s.find('/', start);
    const std::string_view segment = s.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return "must not have an empty, \".\" or \"..\" path segment (\"/\" only between others)";
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return nullptr;
}

constexpr StringRule kText{};                  // non-empty
constexpr StringRule kAnyText{.minChars = 0};  // may be empty
// mrn, goalId...
constexpr StringRule kLocalId{.maxChars = kMaxIdChars, .check = checkLocalId, .quoteValue = false};
constexpr StringRule kNote{.minChars = 0, .maxChars = kMaxNoteChars};
constexpr StringRule kRecordIdRule{.check = checkRecordId};
constexpr StringRule kCodeRule{.check = checkCode};
constexpr StringRule kNpiRule{.check = checkNpi};
constexpr StringRule kRxnormRule{.check = checkRxnorm};
constexpr StringRule kIcd10Rule{.check = checkIcd10};
constexpr StringRule kDateRule{.check = checkDate};
constexpr StringRule kBirthDateRule{.check = checkBirthDate};
constexpr StringRule kDateTimeRule{.check = checkDateTime};
constexpr StringRule kInstantRule{.check = checkInstant};

// Text as the record format wants it: a FHIR string (no control characters
// but tab, line feed and carriage return; a non-whitespace character unless it
// may be empty), within the rule's length, in the rule's format.
struct RecordText {
  StringRule rule;

  bool read(bind::Reading& r, const Json& v, const bind::Path& p, std::string* out) const {
    if (!v.isString()) return r.wrongType(v, p, "a string"), false;
    const std::string& s = v.text();
    const std::size_t chars = countChars(s);
    if (chars < rule.minChars) return r.empty(v, p), false;
    if (rule.maxChars != 0 && chars > rule.maxChars) {
      return r.tooLong(v, p, chars, rule.maxChars), false;
    }
    // Words with no control byte and no DEL are skipped eight bytes at a time.
    std::size_t clean = 0;
    while (clean + 8 <= s.size()) {
      const std::uint64_t w = fhir::swar::loadWord(s.data() + clean);
      if ((fhir::swar::bytesBelow<0x20>(w) | fhir::swar::bytesEqual<0x7F>(w)) != 0) break;
      clean += 8;
    }
    for (unsigned char c : std::string_view(s).substr(clean)) {
      // FHIR strings cannot carry them, so the translation could not either.
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(c));
        r.error("value", v, p,
                std::string("contains control character ") + hex +
                    "; only tab, line feed and carriage return are allowed");
        return false;
      }
    }
    // FHIR strings need a non-whitespace character. Free text that "may be
    // empty" is kept as written (the translation leaves a blank one out).
    if (rule.minChars > 0 && !fhir::isValidString(s)) {  // no control character is left
      r.error("value", v, p, "must contain a non-whitespace character");
      return false;
    }
    if (rule.check != nullptr) {
      if (const char* expected = rule.check(s); expected != nullptr) {
        r.error("value", v, p, expected + (rule.quoteValue ? r.got(s, p) : std::string()));
        return false;
      }
    }
    *out = s;
    return true;
  }
  Json write(const std::string& s) const { return Json::string(s); }
};

constexpr RecordText kTextField{kText};
constexpr RecordText kAnyTextField{kAnyText};
constexpr RecordText kLocalIdField{kLocalId};
constexpr RecordText kCodeField{kCodeRule};
constexpr RecordText kNpiField{kNpiRule};
constexpr RecordText kDateField{kDateRule};
constexpr bind::Integer<std::int64_t> kPositive{.min = 1};
constexpr bind::DecimalCodec kNumber{};
const bind::DecimalCodec kNonNegative{.min = 0.0};

template <typename T>
bind::List<bind::Object<T>> listOf(const bind::Fields<T>& (*fields)(), std::size_t minItems = 0) {
  return bind::List<bind::Object<T>>{
      .item = bind::Object<T>(fields), .minItems = minItems, .maxItems = kMaxListItems};
}

// `end` must not be before `start` (both full dates, so text order is date order).
void checkOrder(bind::Reading& r, const Json& object, const bind::Path& p,
                const std::optional<std::string>& start, const std::optional<std::string>& end) {
  if (start && end && *end < *start) {
    r.error("invariant", object, p.member("end"), "end " + *end + " is before start " + *start);
  }
}

// author, performer, prescriber: a clinician; in careTeam also "lead".
const bind::Fields<Clinician>& teamMemberFields() {
  static const bind::Fields<Clinician> fields{
      bind::field("name", &Clinician::name, kRequired, kTextField),
      bind::field("npi", &Clinician::npi, kOptional, kNpiField),
      bind::field("role", &Clinician::role, kOptional, WireCode<ClinicianRole>{}),
      bind::field("lead", &Clinician::lead, kOptional, bind::Boolean{}),
  };
  return fields;
}

const bind::Fields<Clinician>& clinicianFields() {
  static const bind::Fields<Clinician> fields{
      bind::field("name", &Clinician::name, kRequired, kTextField),
      bind::field("npi", &Clinician::npi, kOptional, kNpiField),
      bind::field("role", &Clinician::role, kOptional, WireCode<ClinicianRole>{}),
      bind::computedField<Clinician>(
          "lead", kOptional,
          [](bind::Reading& r, const Json& v, const bind::Path& p, Clinician*) {
            r.error("structure", v, p,
                    "\"lead\" is only allowed for careTeam members of a care-plan record");
            return false;
          }),
  };
  return fields;
}

const bind::Fields<PersonName>& nameFields() {
  static const bind::Fields<PersonName> fields{
      bind::field("family", &PersonName::family, kRequired, kTextField),
      bind::field(
          "given", &PersonName::given, kRequired,
          bind::List<RecordText>{.item = kTextField, .minItems = 1, .maxItems = kMaxListItems}),
  };
  return fields;
}

const bind::Fields<Patient>& patientFields() {
  static const bind::Fields<Patient> fields{
      bind::field("mrn", &Patient::mrn, kRequired, kLocalIdField),
      bind::field("pcpPatientId", &Patient::pcpPatientId, kOptional, kLocalIdField),
      bind::field("name", &Patient::name, kRequired, bind::Object<PersonName>(nameFields)),
      bind::field("birthDate", &Patient::birthDate, kRequired, RecordText{kBirthDateRule}),
      bind::field("sex", &Patient::sex, kOptional, WireCode<Sex>{}),
  };
  return fields;
}

const bind::Fields<Pcp>& pcpFields() {
  static const bind::Fields<Pcp> fields{
      bind::field("practiceId", &Pcp::practiceId, kRequired, kLocalIdField),
      bind::field("clinicianNpi", &Pcp::clinicianNpi, kOptional, kNpiField),
      bind::field("name", &Pcp::name, kOptional, kAnyTextField),
  };
  return fields;
}

const bind::Fields<Program>& programFields() {
  static const bind::Fields<Program> fields{
      {
          bind::field("name", &Program::name, kRequired, kTextField),
          bind::field("kind", &Program::kind, kRequired, WireCode<ProgramKind>{}),
          bind::field("status", &Program::status, kRequired, WireCode<ProgramStatus>{}),
          bind::field("start", &Program::start, kRequired, kDateField),
          bind::field("end", &Program::end, kOptional, kDateField),
          bind::field("nextReassessment", &Program::nextReassessment, kOptional, kDateField),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, Program* program) {
        checkOrder(r, object, p, program->start, program->end);
      }};
  return fields;
}

const bind::Fields<Condition>& conditionFields() {
  static const bind::Fields<Condition> fields{
      bind::field("text", &Condition::text, kRequired, kTextField),
      bind::field("icd10", &Condition::icd10, kOptional, RecordText{kIcd10Rule}),
  };
  return fields;
}

const bind::Fields<GoalBaseline>& baselineFields() {
  static const bind::Fields<GoalBaseline> fields{
      bind::field("value", &GoalBaseline::value, kRequired, kNumber),
      bind::field("unit", &GoalBaseline::unit, kRequired, kTextField),
      bind::field("date", &GoalBaseline::date, kOptional, kDateField),
  };
  return fields;
}

const bind::Fields<GoalTarget>& targetFields() {
  static const bind::Fields<GoalTarget> fields{
      bind::field("value", &GoalTarget::value, kRequired, kNumber),
      bind::field("unit", &GoalTarget::unit, kRequired, kTextField),
      bind::field("comparator", &GoalTarget::comparator, kOptional, WireCode<Comparator>{}),
  };
  return fields;
}

const bind::Fields<Goal>& goalFields() {
  static const bind::Fields<Goal> fields{
      bind::field("goalId", &Goal::goalId, kRequired, kLocalIdField),
      bind::field("description", &Goal::description, kRequired, kTextField),
      bind::field("measure", &Goal::measure, kOptional, kCodeField),
      bind::field("baseline", &Goal::baseline, kOptional,
                  bind::Object<GoalBaseline>(baselineFields)),
      bind::field("target", &Goal::target, kOptional, bind::Object<GoalTarget>(targetFields)),
      bind::field("due", &Goal::due, kOptional, kDateField),
      bind::field("status", &Goal::status, kOptional, WireCode<GoalStatus>{}),
      bind::field("achievement", &Goal::achievement, kOptional, WireCode<GoalAchievement>{}),
  };
  return fields;
}

const bind::Fields<ActivityFrequency>& activityFrequencyFields() {
  static const bind::Fields<ActivityFrequency> fields{
      bind::field("count", &ActivityFrequency::count, kRequired, kPositive),
      bind::field("per", &ActivityFrequency::per, kRequired, WireCode<FrequencyPer>{}),
  };
  return fields;
}

const bind::Fields<Period>& periodFields() {
  static const bind::Fields<Period> fields{
      {
          bind::field("start", &Period::start, kOptional, kDateField),
          bind::field("end", &Period::end, kOptional, kDateField),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, Period* period) {
        checkOrder(r, object, p, period->start, period->end);
      }};
  return fields;
}

const bind::Fields<Activity>& activityFields() {
  static const bind::Fields<Activity> fields{
      bind::field("activityId", &Activity::activityId, kRequired, kLocalIdField),
      bind::field("type", &Activity::type, kRequired, kCodeField),
      bind::field("description", &Activity::description, kOptional, kAnyTextField),
      bind::field("status", &Activity::status, kOptional, WireCode<ActivityStatus>{}),
      bind::field("frequency", &Activity::frequency, kOptional,
                  bind::Object<ActivityFrequency>(activityFrequencyFields)),
      bind::field("period", &Activity::period, kOptional, bind::Object<Period>(periodFields)),
      bind::field("scheduled", &Activity::scheduled, kOptional, RecordText{kDateTimeRule}),
      bind::field("performer", &Activity::performer, kOptional,
                  bind::Object<Clinician>(clinicianFields)),
      bind::field("goals", &Activity::goals, kOptional,
                  bind::List<RecordText>{.item = kLocalIdField, .maxItems = kMaxListItems}),
  };
  return fields;
}

const bind::Fields<MeasurementComponent>& componentFields() {
  static const bind::Fields<MeasurementComponent> fields{
      bind::field("measure", &MeasurementComponent::measure, kRequired, kCodeField),
      bind::field("value", &MeasurementComponent::value, kRequired, kNumber),
      bind::field("unit", &MeasurementComponent::unit, kOptional, kTextField),
  };
  return fields;
}

const bind::Fields<Medication>& medicationFields() {
  static const bind::Fields<Medication> fields{
      bind::field("code", &Medication::code, kRequired, kCodeField),
      bind::field("rxnorm", &Medication::rxnorm, kOptional, RecordText{kRxnormRule}),
      bind::field("display", &Medication::display, kOptional, kAnyTextField),
  };
  return fields;
}

const bind::Fields<MedicationFrequency>& textFrequencyFields() {
  static const bind::Fields<MedicationFrequency> fields{
      bind::field("text", &MedicationFrequency::text, kRequired, kTextField),
  };
  return fields;
}

const bind::Fields<MedicationFrequency>& countFrequencyFields() {
  static const bind::Fields<MedicationFrequency> fields{
      {
          bind::field("count", &MedicationFrequency::count, kRequired, kPositive),
          bind::field("per", &MedicationFrequency::per, kRequired, WireCode<FrequencyPer>{}),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, MedicationFrequency* f) {
        if (f->per == FrequencyPer::kMonth) {
          r.error("value", *object.find("per"), p.member("per"),
                  "expected one of \"day\", \"week\" for a medication frequency, got \"month\"");
        }
      }};
  return fields;
}

const bind::Fields<Taper>& taperFields() {
  static const bind::Fields<Taper> fields{
      {
          bind::field("step", &Taper::step, kRequired, kPositive),
          bind::field("of", &Taper::of, kRequired, kPositive),
          bind::field("targetDailyMme", &Taper::targetDailyMme, kOptional, kNonNegative),
          bind::field("nextStepOn", &Taper::nextStepOn, kOptional, kDateField),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, Taper* t) {
        if (t->step > t->of) {
          r.error("invariant", object, p.member("step"),
                  "step " + std::to_string(t->step) + " is after the last step (of " +
                      std::to_string(t->of) + ")");
        }
      }};
  return fields;
}

// ---- Record bodies ----

// The care plan's references and uniqueness rules, once its lists are read.
void checkCarePlan(bind::Reading& r, const Json& doc, const bind::Path& root, CarePlanBody* b) {
  const Json* team = doc.find("careTeam");
  std::optional<std::string> firstLead;
  const bind::Path teamPath = root.member("careTeam");
  for (std::size_t i = 0; team != nullptr && i < b->careTeam.size(); ++i) {
    if (b->careTeam[i].lead != true) continue;
    const bind::Path at = teamPath.item(i);
    if (firstLead) {
      r.error("invariant", team->items()[i], at.member("lead"),
              "only one care-team member may be the lead; " + *firstLead + " already is");
    } else {
      firstLead = at.text();
    }
  }
  if (!b->careTeam.empty() && !firstLead) {
    r.warning("business-rule", *team, teamPath,
              "no care-team member has \"lead\": true; the plan names no coordinator");
  }
  // Ids must be unique; activities name goals of this record (unless the
  // goals list itself is broken: its errors are reported, not every reference).
  auto unique = [&](const char* list, const char* idName, auto ids) {
    std::map<std::string, std::string> seen;  // id -> path of its first use
    const Json* json = doc.find(list);
    const bind::Path listPath = root.member(list);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i].empty()) continue;
      const bind::Path at = listPath.item(i);
      auto [it, inserted] = seen.emplace(ids[i], at.text());
      if (!inserted) {
        r.error("duplicate", json->items()[i], at.member(idName),
                std::string("duplicate ") + idName + " " + quoted(ids[i]) + " (first used at " +
                    it->second + ")");
      }
    }
    return seen;
  };
  std::vector<std::string> goalIds;
  for (const Goal& g : b->goals) goalIds.push_back(g.goalId);
  std::vector<std::string> activityIds;
  for (const Activity& a : b->activities) activityIds.push_back(a.activityId);
  const std::map<std::string, std::string> goals = unique("goals", "goalId", goalIds);
  unique("activities", "activityId", activityIds);
  const Json* goalsJson = doc.find("goals");
  const bool goalsUsable =
      goalsJson == nullptr || (goalsJson->isArray() && goalsJson->items().size() <= kMaxListItems);
  const Json* activities = doc.find("activities");
  const bind::Path activitiesPath = root.member("activities");
  for (std::size_t i = 0; goalsUsable && i < b->activities.size(); ++i) {
    const Json* refs = activities->items()[i].find("goals");
    const std::vector<std::string>& named = b->activities[i].goals;
    const bind::Path activity = activitiesPath.item(i);
    const bind::Path refsPath = activity.member("goals");
    for (std::size_t k = 0; refs != nullptr && k < named.size(); ++k) {
      if (named[k].empty() || goals.contains(named[k])) continue;
      r.error("invariant", refs->items()[k], refsPath.item(k),
              "no goal with goalId " + quoted(named[k]) + " in this record");
    }
  }
}

const bind::Fields<CarePlanBody>& carePlanFields() {
  using B = CarePlanBody;
  static const bind::Fields<B> fields{
      {
          bind::field("program", &B::program, kRequired, bind::Object<Program>(programFields)),
          bind::field("conditions", &B::conditions, kOptional, listOf(conditionFields)),
          bind::field("careTeam", &B::careTeam, kOptional, listOf(teamMemberFields)),
          bind::field("goals", &B::goals, kOptional, listOf(goalFields)),
          bind::field("activities", &B::activities, kOptional, listOf(activityFields)),
      },
      checkCarePlan,
      bind::RuleRuns::kAlways};
  return fields;
}

// Exactly one of value / components / absent (by presence, whatever their shape).
void checkMeasurement(bind::Reading& r, const Json& doc, const bind::Path& root, MeasurementBody*) {
  constexpr std::string_view kResults[] = {"value", "components", "absent"};
  std::optional<std::string_view> first;
  for (std::string_view result : kResults) {
    const Json* v = doc.find(result);
    if (v == nullptr) continue;
    if (first) {
      r.error("invariant", *v, root.member(result),
              "not allowed together with " + quoted(*first) +
                  ": a measurement has exactly one of \"value\", \"components\" or \"absent\"");
    } else {
      first = result;
    }
  }
  if (!first) {
    r.error("required", doc, root,
            "a measurement needs exactly one of \"value\", \"components\" or \"absent\"");
  }
  const Json* unit = doc.find("unit");
  if (unit != nullptr && doc.find("components") != nullptr) {
    // Whose unit would it be? Each component carries its own.
    r.error("invariant", *unit, root.member("unit"),
            "not allowed with \"components\": each component carries its own \"unit\"");
  } else if (unit != nullptr && doc.find("value") == nullptr) {
    r.warning("business-rule", *unit, root.member("unit"),
              "ignored: \"unit\" applies only to \"value\"");
  }
  if (doc.find("goalId") != nullptr && doc.find("planId") == nullptr) {
    r.warning("business-rule", *doc.find("goalId"), root.member("goalId"),
              "\"goalId\" names a goal of the plan in \"planId\", but there is no \"planId\"");
  }
}

// goalId first: that is where the clinic's export puts it.
const bind::Fields<MeasurementBody>& measurementFields() {
  using B = MeasurementBody;
  static const bind::Fields<B> fields{
      {
          bind::field("goalId", &B::goalId, kOptional, kLocalIdField),
          bind::field("measure", &B::measure, kRequired, kCodeField),
          bind::field("value", &B::value, kOptional, kNumber),
          bind::field("unit", &B::unit, kOptional, kTextField),
          bind::field("components", &B::components, kOptional, listOf(componentFields, 1)),
          bind::field("absent", &B::absent, kOptional, WireCode<AbsentReason>{}),
          bind::field("effective", &B::effective, kRequired, RecordText{kDateTimeRule}),
          bind::field("status", &B::status, kRequired, WireCode<MeasurementStatus>{}),
          bind::field("method", &B::method, kOptional, WireCode<MeasurementMethod>{}),
          bind::field("performer", &B::performer, kOptional,
                      bind::Object<Clinician>(clinicianFields)),
      },
      checkMeasurement,
      bind::RuleRuns::kAlways};
  return fields;
}

// Dose and frequency unless the action ends something; hints for fields
// another action is meant to carry.
void checkMedicationChange(bind::Reading& r, const Json& doc, const bind::Path& root,
                           MedicationChangeBody*) {
  const Json* actionJson = doc.find("action");
  const std::optional<MedicationAction> action =
      actionJson != nullptr ? fromWire<MedicationAction>(actionJson->text()) : std::nullopt;
  if (!action || !actionJson->isString()) return;
  // A stop or a withdrawal (entered-in-error) needs only the medication: it
  // names what ends, not a regimen.
  const bool noDose =
      *action == MedicationAction::kStop || *action == MedicationAction::kEnteredInError;
  for (const char* needed : {"dose", "frequency"}) {
    if (!noDose && doc.find(needed) == nullptr) {
      r.missing(doc, root.member(needed),
                " (required unless action is \"stop\" or \"entered-in-error\")");
    }
  }
  if (const Json* previous = doc.find("previousDose"); previous != nullptr &&
                                                       *action != MedicationAction::kDoseChange &&
                                                       *action != MedicationAction::kTaperStep) {
    r.warning(
        "business-rule", *previous, root.member("previousDose"),
        "\"previousDose\" is meant for dose-change and taper-step, not " + quoted(wireOf(*action)));
  }
  if (const Json* taper = doc.find("taper");
      taper != nullptr && *action != MedicationAction::kTaperStep) {
    r.warning("business-rule", *taper, root.member("taper"),
              "\"taper\" is meant for taper-step, not " + quoted(wireOf(*action)));
  }
}

const bind::Fields<MedicationChangeBody>& medicationChangeFields() {
  using B = MedicationChangeBody;
  static const bind::Fields<B> fields{
      {
          bind::field("action", &B::action, kRequired, WireCode<MedicationAction>{}),
          bind::field("medication", &B::medication, kRequired,
                      bind::Object<Medication>(medicationFields)),
          bind::field("dose", &B::dose, kOptional, bind::Object<Quantity>(quantityFields)),
          bind::field("previousDose", &B::previousDose, kOptional,
                      bind::Object<Quantity>(quantityFields)),
          bind::field("frequency", &B::frequency, kOptional, medicationFrequencyCodec()),
          bind::field("route", &B::route, kOptional, WireCode<Route>{}),
          bind::field("asNeeded", &B::asNeeded, kOptional, bind::Boolean{}),
          bind::field("effective", &B::effective, kRequired, kDateField),
          bind::field("reason", &B::reason, kOptional, kAnyTextField),
          bind::field("prescriber", &B::prescriber, kRequired,
                      bind::Object<Clinician>(clinicianFields)),
          bind::field("dailyMme", &B::dailyMme, kOptional, kNonNegative),
          bind::field("taper", &B::taper, kOptional, bind::Object<Taper>(taperFields)),
      },
      checkMedicationChange,
      bind::RuleRuns::kAlways};
  return fields;
}

// The members every record has, before its body...
const bind::Fields<PlanRecord>& headFields() {
  using R = PlanRecord;
  static const bind::Fields<R> fields{
      bind::field("recordId", &R::recordId, kRequired, RecordText{kRecordIdRule}),
      bind::field("version", &R::version, kRequired, kPositive),
      bind::field("recordedAt", &R::recordedAt, kRequired, RecordText{kInstantRule}),
      bind::field("patient", &R::patient, kRequired, bind::Object<Patient>(patientFields)),
      bind::field("pcp", &R::pcp, kRequired, bind::Object<Pcp>(pcpFields)),
      bind::field("author", &R::author, kRequired, bind::Object<Clinician>(clinicianFields)),
      bind::field("planId", &R::planId, kOptional, RecordText{kRecordIdRule}),
  };
  return fields;
}

// ...and after it. `extensions` is kept verbatim and otherwise ignored.
const bind::Fields<PlanRecord>& tailFields() {
  using R = PlanRecord;
  static const bind::Fields<R> fields{
      bind::field("note", &R::note, kOptional, RecordText{kNote}),
      bind::field(
          "extensions", &R::extensions, kOptional,
          bind::Custom<Json>{[](bind::Reading& r, const Json& v, const bind::Path& p, Json* out) {
                               if (!v.isObject()) return r.wrongType(v, p, "an object"), false;
                               *out = v;
                               return true;
                             },
                             [](const Json& v) { return v; }}),
  };
  return fields;
}

std::span<const std::string_view> bodyFields(RecordType type) {
  switch (type) {
    case RecordType::kCarePlan:
      return carePlanFields().names();
    case RecordType::kMeasurement:
      return measurementFields().names();
    case RecordType::kMedicationChange:
      return medicationChangeFields().names();
  }
  return {};
}

bool contains(std::span<const std::string_view> names, std::string_view key) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// Unknown top-level fields, and fields that belong to another record type.
void checkTopLevelFields(bind::Reading& r, const Json& doc, std::optional<RecordType> type) {
  std::vector<std::string_view> allowed{"recordType"};
  for (const auto* list : {&headFields(), &tailFields()}) {
    allowed.insert(allowed.end(), list->names().begin(), list->names().end());
  }
  constexpr RecordType kTypes[] = {RecordType::kCarePlan, RecordType::kMeasurement,
                                   RecordType::kMedicationChange};
  for (RecordType t : kTypes) {
    if (!type || t == *type) {
      for (std::string_view f : bodyFields(t)) allowed.push_back(f);
    }
  }
  const bind::Path root;
  for (const auto& [key, value] : doc.members()) {
    if (contains(allowed, key)) continue;
    std::string owners;
    for (RecordType t : kTypes) {
      if (!contains(bodyFields(t), key)) continue;
      owners += owners.empty() ? "" : " and ";
      owners += std::string(wireOf(t));
    }
    if (!owners.empty()) {
      r.error("structure", value, root.member(key),
              "not allowed in a " + std::string(wireOf(*type)) + " record (it belongs to " +
                  owners + " records)");
    } else {
      r.unknownField(value, root.member(key), allowed);
    }
  }
}

}  // namespace

// ---- Shared record codecs (mappings/record/record_binding.h) ----

const bind::Fields<Quantity>& quantityFields() {
  static const bind::Fields<Quantity> fields{
      bind::field("value", &Quantity::value, kRequired, kNumber),
      bind::field("unit", &Quantity::unit, kRequired, kTextField),
  };
  return fields;
}

// Either {"count": n, "per": "day"|"week"} or {"text": ...}, never both.
const bind::Custom<MedicationFrequency>& medicationFrequencyCodec() {
  static const bind::Custom<MedicationFrequency> codec{
      [](bind::Reading& r, const Json& v, const bind::Path& p, MedicationFrequency* out) {
        if (!v.isObject()) return r.wrongType(v, p, "an object"), false;
        if (v.find("text") == nullptr)
          return bind::readObject(r, v, p, countFrequencyFields(), out);
        if (v.find("count") != nullptr || v.find("per") != nullptr) {
          r.error("structure", v, p,
                  "a frequency is either {\"count\", \"per\"} or {\"text\"}, not both");
          return false;
        }
        return bind::readObject(r, v, p, textFrequencyFields(), out);
      },
      [](const MedicationFrequency& f) {
        return bind::writeObject(f, f.isText() ? textFrequencyFields() : countFrequencyFields());
      }};
  return codec;
}

namespace {}  // namespace

// ---- Public: enums ----

std::string_view toWire(RecordType value) { return wireOf(value); }
std::string_view toWire(Sex value) { return wireOf(value); }
std::string_view toWire(ClinicianRole value) { return wireOf(value); }
std::string_view toWire(ProgramKind value) { return wireOf(value); }
std::string_view toWire(ProgramStatus value) { return wireOf(value); }
std::string_view toWire(Comparator value) { return wireOf(value); }
std::string_view toWire(GoalStatus value) { return wireOf(value); }
std::string_view toWire(GoalAchievement value) { return wireOf(value); }
std::string_view toWire(ActivityStatus value) { return wireOf(value); }
std::string_view toWire(FrequencyPer value) { return wireOf(value); }
std::string_view toWire(AbsentReason value) { return wireOf(value); }
std::string_view toWire(MeasurementStatus value) { return wireOf(value); }
std::string_view toWire(MeasurementMethod value) { return wireOf(value); }
std::string_view toWire(MedicationAction value) { return wireOf(value); }
std::string_view toWire(Route value) { return wireOf(value); }

template <typename E>
std::optional<E> fromWire(std::string_view wire) {
  const auto& names = WireNames<E>::kValues;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == wire) return static_cast<E>(i);
  }
  return std::nullopt;
}

template std::optional<RecordType> fromWire<RecordType>(std::string_view);
template std::optional<Sex> fromWire<Sex>(std::string_view);
template std::optional<ClinicianRole> fromWire<ClinicianRole>(std::string_view);
template std::optional<ProgramKind> fromWire<ProgramKind>(std::string_view);
template std::optional<ProgramStatus> fromWire<ProgramStatus>(std::string_view);
template std::optional<Comparator> fromWire<Comparator>(std::string_view);
template std::optional<GoalStatus> fromWire<GoalStatus>(std::string_view);
template std::optional<GoalAchievement> fromWire<GoalAchievement>(std::string_view);
template std::optional<ActivityStatus> fromWire<ActivityStatus>(std::string_view);
template std::optional<FrequencyPer> fromWire<FrequencyPer>(std::string_view);
template std::optional<AbsentReason> fromWire<AbsentReason>(std::string_view);
template std::optional<MeasurementStatus> fromWire<MeasurementStatus>(std::string_view);
template std::optional<MeasurementMethod> fromWire<MeasurementMethod>(std::string_view);
template std::optional<MedicationAction> fromWire<MedicationAction>(std::string_view);
template std::optional<Route> fromWire<Route>(std::string_view);

template <typename E>
std::span<const std::string_view> wireNames() {
  return WireNames<E>::kValues;
}

template std::span<const std::string_view> wireNames<RecordType>();
template std::span<const std::string_view> wireNames<Sex>();
template std::span<const std::string_view> wireNames<ClinicianRole>();
template std::span<const std::string_view> wireNames<ProgramKind>();
template std::span<const std::string_view> wireNames<ProgramStatus>();
template std::span<const std::string_view> wireNames<Comparator>();
template std::span<const std::string_view> wireNames<GoalStatus>();
template std::span<const std::string_view> wireNames<GoalAchievement>();
template std::span<const std::string_view> wireNames<ActivityStatus>();
template std::span<const std::string_view> wireNames<FrequencyPer>();
template std::span<const std::string_view> wireNames<AbsentReason>();
template std::span<const std::string_view> wireNames<MeasurementStatus>();
template std::span<const std::string_view> wireNames<MeasurementMethod>();
template std::span<const std::string_view> wireNames<MedicationAction>();
template std::span<const std::string_view> wireNames<Route>();

// ---- Public: reading ----

std::optional<PlanRecord> readPlanRecord(const Json& doc, fhir::Issues* issues) {
  fhir::Issues local;
  bind::Reading r(issues != nullptr ? issues : &local);
  r.limitIssues(kMaxIssues);
  r.hideValues(isSensitive);
  const bind::Path root;
  if (!doc.isObject()) {
    r.wrongType(doc, root, "an object (one plan record)");
    return std::nullopt;
  }
  std::optional<RecordType> type;
  if (const Json* t = doc.find("recordType")) {
    RecordType value{};
    if (WireCode<RecordType>{}.read(r, *t, root.member("recordType"), &value)) type = value;
  } else {
    r.missing(doc, root.member("recordType"));
  }
  checkTopLevelFields(r, doc, type);

  PlanRecord record;
  bind::readMembers(r, doc, root, headFields(), &record);
  if (type) {
    switch (*type) {
      case RecordType::kCarePlan:
        bind::readMembers(r, doc, root, carePlanFields(), &record.body.emplace<CarePlanBody>());
        if (const Json* planId = doc.find("planId")) {
          r.warning("business-rule", *planId, root.member("planId"),
                    "\"planId\" is for measurement and medication-change records; a care "
                    "plan's own id is its \"recordId\"");
        }
        break;
      case RecordType::kMeasurement:
        bind::readMembers(r, doc, root, measurementFields(),
                          &record.body.emplace<MeasurementBody>());
        break;
      case RecordType::kMedicationChange:
        bind::readMembers(r, doc, root, medicationChangeFields(),
                          &record.body.emplace<MedicationChangeBody>());
        break;
    }
  }
  bind::readMembers(r, doc, root, tailFields(), &record);
  if (r.failed()) return std::nullopt;
  return record;
}

ReadResult readPlanRecord(const Json& doc) {
  ReadResult result;
  result.record = readPlanRecord(doc, &result.issues);
  return result;
}

// ---- Public: writing ----

Json writePlanRecord(const PlanRecord& record) {
  Json o = Json::object();
  o.set("recordType", Json::string(std::string(wireOf(record.recordType()))));
  bind::writeMembers(record, headFields(), &o);
  if (const CarePlanBody* b = record.carePlan()) bind::writeMembers(*b, carePlanFields(), &o);
  if (const MeasurementBody* b = record.measurement()) {
    bind::writeMembers(*b, measurementFields(), &o);
  }
  if (const MedicationChangeBody* b = record.medicationChange()) {
    bind::writeMembers(*b, medicationChangeFields(), &o);
  }
  bind::writeMembers(record, tailFields(), &o);
  return o;
}

}  // namespace inloop::mappings
