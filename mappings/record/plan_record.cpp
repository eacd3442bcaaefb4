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

using fhir::bind::quotedList;

std::string suggestion(std::string_view word, std::span<const std::string_view> candidates) {
  auto c = fhir::bind::closest(word, candidates);
  return c ? "; did you mean " + quoted(*c) + "?" : std::string();
}

// ---- Issue collection ----

enum class Need { kOptional, kRequired };

class Context {
 public:
  explicit Context(fhir::Issues* issues) : issues_(issues) {}

  void error(std::string code, std::string path, std::string message) {
    ++errors_;
    add(fhir::Severity::kError, std::move(code), std::move(path), std::move(message));
  }
  void warning(std::string code, std::string path, std::string message) {
    add(fhir::Severity::kWarning, std::move(code), std::move(path), std::move(message));
  }
  bool failed() const { return errors_ > 0; }

 private:
  void add(fhir::Severity severity, std::string code, std::string path, std::string message) {
    if (count_ == kMaxIssues) {
      issues_->push_back(fhir::Issue{
          fhir::Severity::kError, "too-costly", "$",
          "too many problems; stopped listing them after " + std::to_string(kMaxIssues)});
    }
    if (count_++ >= kMaxIssues) return;
    issues_->push_back(fhir::Issue{severity, std::move(code), std::move(path), std::move(message)});
  }

  fhir::Issues* issues_;
  std::size_t errors_ = 0;
  std::size_t count_ = 0;
};

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

// At most 40 characters of `s`, cut at a character boundary.
std::string preview(std::string_view s) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars > 40) {
      return std::string(s.substr(0, i)) + "...";
    }
  }
  return std::string(s);
}

// "string \"120\"", "number 1.5", "an object"... for "got ..." in messages.
std::string describe(const Json& v, std::string_view path) {
  const bool hide = isSensitive(path);
  switch (v.type()) {
    case Json::Type::kNull:
      return "null";
    case Json::Type::kBool:
      return hide ? "a boolean" : (v.asBool() ? "true" : "false");
    case Json::Type::kNumber:
      return hide ? "a number" : "number " + preview(v.text());
    case Json::Type::kString:
      return hide ? "a string" : "string " + quoted(preview(v.text()));
    case Json::Type::kArray:
      return "an array";
    case Json::Type::kObject:
      return "an object";
  }
  return "a value";
}

std::string gotValue(std::string_view value, std::string_view path) {
  return isSensitive(path) ? std::string() : ", got " + quoted(preview(value));
}

// One JSON object being read: path tracking and unknown-member reporting.
class Obj {
 public:
  // Reports a non-object and every member whose key is not in `known`.
  Obj(Context& ctx, const Json& json, std::string path, std::span<const std::string_view> known)
      : ctx_(ctx), json_(json), path_(std::move(path)) {
    if (!json.isObject()) {
      ctx_.error("structure", path_, "expected an object, got " + describe(json, path_));
      return;
    }
    valid_ = true;
    if (known.empty()) return;  // the caller checks the members itself
    for (const auto& [key, value] : json.members()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      ctx_.error("structure", at(key), "unknown field " + quoted(key) + suggestion(key, known));
    }
  }

  bool valid() const { return valid_; }
  Context& ctx() const { return ctx_; }
  const Json& json() const { return json_; }
  const std::string& path() const { return path_; }
  std::string at(std::string_view key) const {
    std::string p;
    p.reserve(path_.size() + 1 + key.size());
    p += path_;
    p += '.';
    p += key;
    return p;
  }
  bool has(std::string_view key) const { return valid_ && json_.find(key) != nullptr; }

  // The member, or nullptr (reporting it when required).
  const Json* member(std::string_view key, Need need, std::string_view why = {}) const {
    if (!valid_) return nullptr;
    const Json* v = json_.find(key);
    if (v == nullptr && need == Need::kRequired) {
      ctx_.error("required", at(key), "missing required field " + quoted(key) + std::string(why));
    }
    return v;
  }

 private:
  Context& ctx_;
  const Json& json_;
  std::string path_;
  bool valid_ = false;
};

// ---- Scalar readers: value forms (json, path) and member forms (obj, key, need) ----

bool expectType(Context& ctx, const Json& v, const std::string& path, Json::Type type,
                const char* expected) {
  if (v.type() == type) return true;
  ctx.error("structure", path, std::string("expected ") + expected + ", got " + describe(v, path));
  return false;
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

std::optional<std::string> stringValue(Context& ctx, const Json& v, const std::string& path,
                                       const StringRule& rule) {
  if (!expectType(ctx, v, path, Json::Type::kString, "a string")) return std::nullopt;
  const std::string& s = v.text();
  const std::size_t chars = countChars(s);
  if (chars < rule.minChars) {
    ctx.error("value", path, "must not be empty");
    return std::nullopt;
  }
  if (rule.maxChars != 0 && chars > rule.maxChars) {
    ctx.error("too-long", path,
              "too long: " + std::to_string(chars) + " characters, at most " +
                  std::to_string(rule.maxChars));
    return std::nullopt;
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
      ctx.error("value", path,
                std::string("contains control character ") + hex +
                    "; only tab, line feed and carriage return are allowed");
      return std::nullopt;
    }
  }
  // FHIR strings need a non-whitespace character. Free text that "may be
  // empty" is kept as written (the translation leaves a blank one out).
  if (rule.minChars > 0 && !fhir::isValidString(s)) {  // no control character is left
    ctx.error("value", path, "must contain a non-whitespace character");
    return std::nullopt;
  }
  if (rule.check != nullptr) {
    if (const char* expected = rule.check(s); expected != nullptr) {
      ctx.error("value", path, expected + (rule.quoteValue ? gotValue(s, path) : std::string()));
      return std::nullopt;
    }
  }
  return s;
}

std::optional<std::string> str(const Obj& o, std::string_view key, Need need,
                               const StringRule& rule) {
  const Json* v = o.member(key, need);
  return v ? stringValue(o.ctx(), *v, o.at(key), rule) : std::nullopt;
}

template <typename E>
std::optional<E> enumValue(Context& ctx, const Json& v, const std::string& path) {
  if (!expectType(ctx, v, path, Json::Type::kString, "a string")) return std::nullopt;
  if (auto e = fromWire<E>(v.text())) return e;
  const auto& names = WireNames<E>::kValues;
  ctx.error("value", path,
            "expected one of " + quotedList(names) + gotValue(v.text(), path) +
                suggestion(v.text(), names));
  return std::nullopt;
}

template <typename E>
std::optional<E> enumField(const Obj& o, std::string_view key, Need need) {
  const Json* v = o.member(key, need);
  return v ? enumValue<E>(o.ctx(), *v, o.at(key)) : std::nullopt;
}

enum class Sign { kAny, kNonNegative };

std::optional<Decimal> decimalValue(Context& ctx, const Json& v, const std::string& path,
                                    Sign sign = Sign::kAny) {
  if (!expectType(ctx, v, path, Json::Type::kNumber, "a number")) return std::nullopt;
  std::optional<Decimal> d = Decimal::fromText(v.text());
  if (!d) {
    ctx.error("value", path, "number out of range" + gotValue(v.text(), path));
    return std::nullopt;
  }
  if (sign == Sign::kNonNegative && d->value < 0) {
    ctx.error("value", path, "must not be negative" + gotValue(v.text(), path));
    return std::nullopt;
  }
  return d;
}

std::optional<Decimal> decimalField(const Obj& o, std::string_view key, Need need,
                                    Sign sign = Sign::kAny) {
  const Json* v = o.member(key, need);
  return v ? decimalValue(o.ctx(), *v, o.at(key), sign) : std::nullopt;
}

std::optional<std::int64_t> integerField(const Obj& o, std::string_view key, Need need,
                                         std::int64_t min) {
  const Json* v = o.member(key, need);
  if (v == nullptr) return std::nullopt;
  const std::string path = o.at(key);
  Context& ctx = o.ctx();
  if (!expectType(ctx, *v, path, Json::Type::kNumber, "an integer")) return std::nullopt;
  const std::string& t = v->text();
  const bool integral = isDigits(t.starts_with('-') ? std::string_view(t).substr(1) : t);
  if (!integral) {
    ctx.error("structure", path, "expected an integer, got " + describe(*v, path));
    return std::nullopt;
  }
  const std::optional<std::int64_t> n = v->toInt64();
  if (!n) {
    ctx.error("value", path, "integer out of range" + gotValue(t, path));
    return std::nullopt;
  }
  if (*n < min) {
    ctx.error("value", path, "must be at least " + std::to_string(min) + gotValue(t, path));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> boolField(const Obj& o, std::string_view key, Need need) {
  const Json* v = o.member(key, need);
  if (v == nullptr || !expectType(o.ctx(), *v, o.at(key), Json::Type::kBool, "true or false")) {
    return std::nullopt;
  }
  return v->asBool();
}

// An object-valued member read by `read(ctx, json, path)`.
template <typename Read>
auto objectField(const Obj& o, std::string_view key, Need need, Read read,
                 std::string_view why = {}) -> decltype(read(o.ctx(), o.json(), std::string())) {
  const Json* v = o.member(key, need, why);
  if (v == nullptr) return std::nullopt;
  return read(o.ctx(), *v, o.at(key));
}

// A list member; `item(json, path)` reads one element (nullopt when broken).
// Lists longer than kMaxListItems are rejected without reading their items.
template <typename T, typename Item>
std::vector<T> listField(const Obj& o, std::string_view key, Need need, std::size_t minItems,
                         Item item) {
  std::vector<T> out;
  const Json* v = o.member(key, need);
  if (v == nullptr) return out;
  const std::string path = o.at(key);
  Context& ctx = o.ctx();
  if (!expectType(ctx, *v, path, Json::Type::kArray, "a list")) return out;
  const std::size_t n = v->items().size();
  if (n > kMaxListItems) {
    ctx.error(
        "too-long", path,
        "too many items: " + std::to_string(n) + ", at most " + std::to_string(kMaxListItems));
    return out;
  }
  if (n < minItems) {
    ctx.error("required", path,
              "needs at least " + std::to_string(minItems) + (minItems == 1 ? " item" : " items"));
    return out;
  }
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::optional<T> t = item(v->items()[i], path + "[" + std::to_string(i) + "]");
    if (t) out.push_back(std::move(*t));
  }
  return out;
}

// ---- Object readers: (ctx, json, path) -> optional<T> ----

constexpr std::string_view kClinicianFields[] = {"name", "npi", "role"};
constexpr std::string_view kTeamMemberFields[] = {"name", "npi", "role", "lead"};

std::optional<Clinician> clinicianValue(Context& ctx, const Json& json, const std::string& path,
                                        bool teamMember) {
  std::span<const std::string_view> known = kTeamMemberFields;
  if (!teamMember) {
    known = kClinicianFields;
    if (json.isObject() && json.find("lead") != nullptr) {
      ctx.error("structure", path + ".lead",
                "\"lead\" is only allowed for careTeam members of a care-plan record");
      // Not reported again as an unknown field below.
      known = kTeamMemberFields;
    }
  }
  Obj o(ctx, json, path, known);
  if (!o.valid()) return std::nullopt;
  Clinician c;
  c.name = str(o, "name", Need::kRequired, kText).value_or("");
  c.npi = str(o, "npi", Need::kOptional, kNpiRule);
  c.role = enumField<ClinicianRole>(o, "role", Need::kOptional);
  if (teamMember) c.lead = boolField(o, "lead", Need::kOptional);
  return c;
}

std::optional<Clinician> clinician(Context& ctx, const Json& json, const std::string& path) {
  return clinicianValue(ctx, json, path, false);
}

constexpr std::string_view kNameFields[] = {"family", "given"};
constexpr std::string_view kPatientFields[] = {"mrn", "pcpPatientId", "name", "birthDate", "sex"};
constexpr std::string_view kPcpFields[] = {"practiceId", "clinicianNpi", "name"};

std::optional<PersonName> personName(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kNameFields);
  if (!o.valid()) return std::nullopt;
  PersonName n;
  n.family = str(o, "family", Need::kRequired, kText).value_or("");
  n.given = listField<std::string>(
      o, "given", Need::kRequired, 1,
      [&](const Json& v, const std::string& p) { return stringValue(ctx, v, p, kText); });
  return n;
}

std::optional<Patient> patient(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kPatientFields);
  if (!o.valid()) return std::nullopt;
  Patient p;
  p.mrn = str(o, "mrn", Need::kRequired, kLocalId).value_or("");
  p.pcpPatientId = str(o, "pcpPatientId", Need::kOptional, kLocalId);
  p.name = objectField(o, "name", Need::kRequired, personName).value_or(PersonName{});
  p.birthDate = str(o, "birthDate", Need::kRequired, kBirthDateRule).value_or("");
  p.sex = enumField<Sex>(o, "sex", Need::kOptional);
  return p;
}

std::optional<Pcp> pcp(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kPcpFields);
  if (!o.valid()) return std::nullopt;
  Pcp p;
  p.practiceId = str(o, "practiceId", Need::kRequired, kLocalId).value_or("");
  p.clinicianNpi = str(o, "clinicianNpi", Need::kOptional, kNpiRule);
  p.name = str(o, "name", Need::kOptional, kAnyText);
  return p;
}

// `end` must not be before `start` (both full dates, so text order is date order).
void checkOrder(Context& ctx, const std::optional<std::string>& start,
                const std::optional<std::string>& end, const std::string& endPath) {
  if (start && end && *end < *start) {
    ctx.error("invariant", endPath, "end " + *end + " is before start " + *start);
  }
}

constexpr std::string_view kProgramFields[] = {"name",  "kind", "status",
                                               "start", "end",  "nextReassessment"};

std::optional<Program> program(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kProgramFields);
  if (!o.valid()) return std::nullopt;
  Program p;
  p.name = str(o, "name", Need::kRequired, kText).value_or("");
  p.kind = enumField<ProgramKind>(o, "kind", Need::kRequired).value_or(ProgramKind{});
  p.status = enumField<ProgramStatus>(o, "status", Need::kRequired).value_or(ProgramStatus{});
  std::optional<std::string> start = str(o, "start", Need::kRequired, kDateRule);
  p.start = start.value_or("");
  p.end = str(o, "end", Need::kOptional, kDateRule);
  p.nextReassessment = str(o, "nextReassessment", Need::kOptional, kDateRule);
  checkOrder(ctx, start, p.end, o.at("end"));
  return p;
}

constexpr std::string_view kConditionFields[] = {"text", "icd10"};

std::optional<Condition> condition(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kConditionFields);
  if (!o.valid()) return std::nullopt;
  Condition c;
  c.text = str(o, "text", Need::kRequired, kText).value_or("");
  c.icd10 = str(o, "icd10", Need::kOptional, kIcd10Rule);
  return c;
}

constexpr std::string_view kBaselineFields[] = {"value", "unit", "date"};
constexpr std::string_view kTargetFields[] = {"value", "unit", "comparator"};
constexpr std::string_view kQuantityFields[] = {"value", "unit"};

std::optional<GoalBaseline> baseline(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kBaselineFields);
  if (!o.valid()) return std::nullopt;
  GoalBaseline b;
  b.value = decimalField(o, "value", Need::kRequired).value_or(Decimal{});
  b.unit = str(o, "unit", Need::kRequired, kText).value_or("");
  b.date = str(o, "date", Need::kOptional, kDateRule);
  return b;
}

std::optional<GoalTarget> target(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kTargetFields);
  if (!o.valid()) return std::nullopt;
  GoalTarget t;
  t.value = decimalField(o, "value", Need::kRequired).value_or(Decimal{});
  t.unit = str(o, "unit", Need::kRequired, kText).value_or("");
  t.comparator = enumField<Comparator>(o, "comparator", Need::kOptional);
  return t;
}

std::optional<Quantity> quantity(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kQuantityFields);
  if (!o.valid()) return std::nullopt;
  Quantity q;
  q.value = decimalField(o, "value", Need::kRequired).value_or(Decimal{});
  q.unit = str(o, "unit", Need::kRequired, kText).value_or("");
  return q;
}

constexpr std::string_view kGoalFields[] = {"goalId", "description", "measure", "baseline",
                                            "target", "due",         "status",  "achievement"};

std::optional<Goal> goal(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kGoalFields);
  if (!o.valid()) return std::nullopt;
  Goal g;
  g.goalId = str(o, "goalId", Need::kRequired, kLocalId).value_or("");
  g.description = str(o, "description", Need::kRequired, kText).value_or("");
  g.measure = str(o, "measure", Need::kOptional, kCodeRule);
  g.baseline = objectField(o, "baseline", Need::kOptional, baseline);
  g.target = objectField(o, "target", Need::kOptional, target);
  g.due = str(o, "due", Need::kOptional, kDateRule);
  g.status = enumField<GoalStatus>(o, "status", Need::kOptional);
  g.achievement = enumField<GoalAchievement>(o, "achievement", Need::kOptional);
  return g;
}

constexpr std::string_view kActivityFrequencyFields[] = {"count", "per"};
constexpr std::string_view kPeriodFields[] = {"start", "end"};

std::optional<ActivityFrequency> activityFrequency(Context& ctx, const Json& json,
                                                   const std::string& path) {
  Obj o(ctx, json, path, kActivityFrequencyFields);
  if (!o.valid()) return std::nullopt;
  ActivityFrequency f;
  f.count = integerField(o, "count", Need::kRequired, 1).value_or(1);
  f.per = enumField<FrequencyPer>(o, "per", Need::kRequired).value_or(FrequencyPer{});
  return f;
}

std::optional<Period> period(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kPeriodFields);
  if (!o.valid()) return std::nullopt;
  Period p;
  p.start = str(o, "start", Need::kOptional, kDateRule);
  p.end = str(o, "end", Need::kOptional, kDateRule);
  checkOrder(ctx, p.start, p.end, o.at("end"));
  return p;
}

constexpr std::string_view kActivityFields[] = {"activityId", "type",      "description",
                                                "status",     "frequency", "period",
                                                "scheduled",  "performer", "goals"};

// `goalIds`: the record's goals, which activity.goals must reference; null when
// the goals list itself is broken (its errors are reported, not every reference).
std::optional<Activity> activity(Context& ctx, const Json& json, const std::string& path,
                                 const std::map<std::string, std::string>* goalIds) {
  Obj o(ctx, json, path, kActivityFields);
  if (!o.valid()) return std::nullopt;
  Activity a;
  a.activityId = str(o, "activityId", Need::kRequired, kLocalId).value_or("");
  a.type = str(o, "type", Need::kRequired, kCodeRule).value_or("");
  a.description = str(o, "description", Need::kOptional, kAnyText);
  a.status = enumField<ActivityStatus>(o, "status", Need::kOptional);
  a.frequency = objectField(o, "frequency", Need::kOptional, activityFrequency);
  a.period = objectField(o, "period", Need::kOptional, period);
  a.scheduled = str(o, "scheduled", Need::kOptional, kDateTimeRule);
  a.performer = objectField(o, "performer", Need::kOptional, clinician);
  a.goals = listField<std::string>(
      o, "goals", Need::kOptional, 0,
      [&](const Json& v, const std::string& p) -> std::optional<std::string> {
        std::optional<std::string> id = stringValue(ctx, v, p, kLocalId);
        if (id && goalIds != nullptr && goalIds->find(*id) == goalIds->end()) {
          ctx.error("invariant", p, "no goal with goalId " + quoted(*id) + " in this record");
        }
        return id;
      });
  return a;
}

constexpr std::string_view kComponentFields[] = {"measure", "value", "unit"};

std::optional<MeasurementComponent> component(Context& ctx, const Json& json,
                                              const std::string& path) {
  Obj o(ctx, json, path, kComponentFields);
  if (!o.valid()) return std::nullopt;
  MeasurementComponent c;
  c.measure = str(o, "measure", Need::kRequired, kCodeRule).value_or("");
  c.value = decimalField(o, "value", Need::kRequired).value_or(Decimal{});
  c.unit = str(o, "unit", Need::kOptional, kText);
  return c;
}

constexpr std::string_view kMedicationFields[] = {"code", "rxnorm", "display"};

std::optional<Medication> medication(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kMedicationFields);
  if (!o.valid()) return std::nullopt;
  Medication m;
  m.code = str(o, "code", Need::kRequired, kCodeRule).value_or("");
  m.rxnorm = str(o, "rxnorm", Need::kOptional, kRxnormRule);
  m.display = str(o, "display", Need::kOptional, kAnyText);
  return m;
}

constexpr std::string_view kMedicationFrequencyFields[] = {"count", "per", "text"};

std::optional<MedicationFrequency> medicationFrequency(Context& ctx, const Json& json,
                                                       const std::string& path) {
  Obj o(ctx, json, path, kMedicationFrequencyFields);
  if (!o.valid()) return std::nullopt;
  MedicationFrequency f;
  if (o.has("text")) {
    if (o.has("count") || o.has("per")) {
      ctx.error("structure", path,
                "a frequency is either {\"count\", \"per\"} or {\"text\"}, not both");
      return std::nullopt;
    }
    f.text = str(o, "text", Need::kRequired, kText).value_or("");
    return f;
  }
  f.count = integerField(o, "count", Need::kRequired, 1).value_or(1);
  std::optional<FrequencyPer> per = enumField<FrequencyPer>(o, "per", Need::kRequired);
  if (per == FrequencyPer::kMonth) {
    ctx.error("value", o.at("per"),
              "expected one of \"day\", \"week\" for a medication frequency, got \"month\"");
  }
  f.per = per.value_or(FrequencyPer::kDay);
  return f;
}

constexpr std::string_view kTaperFields[] = {"step", "of", "targetDailyMme", "nextStepOn"};

std::optional<Taper> taper(Context& ctx, const Json& json, const std::string& path) {
  Obj o(ctx, json, path, kTaperFields);
  if (!o.valid()) return std::nullopt;
  Taper t;
  std::optional<std::int64_t> step = integerField(o, "step", Need::kRequired, 1);
  std::optional<std::int64_t> of = integerField(o, "of", Need::kRequired, 1);
  if (step && of && *step > *of) {
    ctx.error("invariant", o.at("step"),
              "step " + std::to_string(*step) + " is after the last step (of " +
                  std::to_string(*of) + ")");
  }
  t.step = step.value_or(1);
  t.of = of.value_or(1);
  t.targetDailyMme = decimalField(o, "targetDailyMme", Need::kOptional, Sign::kNonNegative);
  t.nextStepOn = str(o, "nextStepOn", Need::kOptional, kDateRule);
  return t;
}

// ---- Record bodies ----

constexpr std::string_view kCommonFields[] = {"recordType", "recordId",  "version", "recordedAt",
                                              "patient",    "pcp",       "author",  "planId",
                                              "note",       "extensions"};
constexpr std::string_view kCarePlanFields[] = {"program", "conditions", "careTeam", "goals",
                                                "activities"};
constexpr std::string_view kMeasurementFields[] = {"measure",   "value",     "unit",   "components",
                                                   "absent",    "effective", "status", "method",
                                                   "performer", "goalId"};
constexpr std::string_view kMedicationChangeFields[] = {
    "action",    "medication",   "dose",   "frequency",  "route",    "asNeeded",
    "effective", "previousDose", "reason", "prescriber", "dailyMme", "taper"};

std::span<const std::string_view> bodyFields(RecordType type) {
  switch (type) {
    case RecordType::kCarePlan:
      return kCarePlanFields;
    case RecordType::kMeasurement:
      return kMeasurementFields;
    case RecordType::kMedicationChange:
      return kMedicationChangeFields;
  }
  return {};
}

bool contains(std::span<const std::string_view> names, std::string_view key) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// Unknown top-level fields, and fields that belong to another record type.
void checkTopLevelFields(Context& ctx, const Json& doc, std::optional<RecordType> type) {
  std::vector<std::string_view> allowed(std::begin(kCommonFields), std::end(kCommonFields));
  constexpr RecordType kTypes[] = {RecordType::kCarePlan, RecordType::kMeasurement,
                                   RecordType::kMedicationChange};
  for (RecordType t : kTypes) {
    if (!type || t == *type) {
      for (std::string_view f : bodyFields(t)) allowed.push_back(f);
    }
  }
  for (const auto& [key, value] : doc.members()) {
    if (contains(allowed, key)) continue;
    std::string owners;
    for (RecordType t : kTypes) {
      if (!contains(bodyFields(t), key)) continue;
      owners += owners.empty() ? "" : " and ";
      owners += std::string(wireOf(t));
    }
    if (!owners.empty()) {
      ctx.error("structure", "$." + key,
                "not allowed in a " + std::string(wireOf(*type)) + " record (it belongs to " +
                    owners + " records)");
    } else {
      ctx.error("structure", "$." + key, "unknown field " + quoted(key) + suggestion(key, allowed));
    }
  }
}

CarePlanBody readCarePlan(Context& ctx, const Obj& root) {
  CarePlanBody b;
  b.program = objectField(root, "program", Need::kRequired, program).value_or(Program{});
  b.conditions = listField<Condition>(
      root, "conditions", Need::kOptional, 0,
      [&](const Json& v, const std::string& p) { return condition(ctx, v, p); });
  std::optional<std::string> firstLead;
  b.careTeam = listField<Clinician>(
      root, "careTeam", Need::kOptional, 0,
      [&](const Json& v, const std::string& p) -> std::optional<Clinician> {
        std::optional<Clinician> c = clinicianValue(ctx, v, p, true);
        if (c && c->lead == true) {
          if (firstLead) {
            ctx.error("invariant", p + ".lead",
                      "only one care-team member may be the lead; " + *firstLead + " already is");
          } else {
            firstLead = p;
          }
        }
        return c;
      });
  if (!b.careTeam.empty() && !firstLead) {
    ctx.warning("business-rule", "$.careTeam",
                "no care-team member has \"lead\": true; the plan names no coordinator");
  }
  std::map<std::string, std::string> goalIds;  // goalId -> path of its goal
  b.goals = listField<Goal>(root, "goals", Need::kOptional, 0,
                            [&](const Json& v, const std::string& p) -> std::optional<Goal> {
                              std::optional<Goal> g = goal(ctx, v, p);
                              if (g && !g->goalId.empty()) {
                                auto [it, inserted] = goalIds.emplace(g->goalId, p);
                                if (!inserted) {
                                  ctx.error("duplicate", p + ".goalId",
                                            "duplicate goalId " + quoted(g->goalId) +
                                                " (first used at " + it->second + ")");
                                }
                              }
                              return g;
                            });
  const Json* goalsJson = root.json().find("goals");
  const bool goalsUsable =
      goalsJson == nullptr || (goalsJson->isArray() && goalsJson->items().size() <= kMaxListItems);
  std::map<std::string, std::string> activityIds;
  b.activities = listField<Activity>(
      root, "activities", Need::kOptional, 0,
      [&](const Json& v, const std::string& p) -> std::optional<Activity> {
        std::optional<Activity> a = activity(ctx, v, p, goalsUsable ? &goalIds : nullptr);
        if (a && !a->activityId.empty()) {
          auto [it, inserted] = activityIds.emplace(a->activityId, p);
          if (!inserted) {
            ctx.error("duplicate", p + ".activityId",
                      "duplicate activityId " + quoted(a->activityId) + " (first used at " +
                          it->second + ")");
          }
        }
        return a;
      });
  return b;
}

MeasurementBody readMeasurement(Context& ctx, const Obj& root, bool hasPlanId) {
  MeasurementBody b;
  b.goalId = str(root, "goalId", Need::kOptional, kLocalId);
  b.measure = str(root, "measure", Need::kRequired, kCodeRule).value_or("");
  b.value = decimalField(root, "value", Need::kOptional);
  b.unit = str(root, "unit", Need::kOptional, kText);
  b.components = listField<MeasurementComponent>(
      root, "components", Need::kOptional, 1,
      [&](const Json& v, const std::string& p) { return component(ctx, v, p); });
  b.absent = enumField<AbsentReason>(root, "absent", Need::kOptional);
  b.effective = str(root, "effective", Need::kRequired, kDateTimeRule).value_or("");
  b.status =
      enumField<MeasurementStatus>(root, "status", Need::kRequired).value_or(MeasurementStatus{});
  b.method = enumField<MeasurementMethod>(root, "method", Need::kOptional);
  b.performer = objectField(root, "performer", Need::kOptional, clinician);

  // Exactly one of value / components / absent (by presence, whatever their shape).
  constexpr std::string_view kResults[] = {"value", "components", "absent"};
  std::optional<std::string_view> first;
  for (std::string_view r : kResults) {
    if (!root.has(r)) continue;
    if (first) {
      ctx.error("invariant", root.at(r),
                "not allowed together with " + quoted(*first) +
                    ": a measurement has exactly one of \"value\", \"components\" or \"absent\"");
    } else {
      first = r;
    }
  }
  if (!first) {
    ctx.error("required", "$",
              "a measurement needs exactly one of \"value\", \"components\" or \"absent\"");
  }
  if (root.has("unit") && root.has("components")) {
    // Whose unit would it be? Each component carries its own.
    ctx.error("invariant", "$.unit",
              "not allowed with \"components\": each component carries its own \"unit\"");
  } else if (root.has("unit") && !root.has("value")) {
    ctx.warning("business-rule", "$.unit", "ignored: \"unit\" applies only to \"value\"");
  }
  if (b.goalId && !hasPlanId) {
    ctx.warning("business-rule", "$.goalId",
                "\"goalId\" names a goal of the plan in \"planId\", but there is no \"planId\"");
  }
  return b;
}

MedicationChangeBody readMedicationChange(Context& ctx, const Obj& root) {
  MedicationChangeBody b;
  std::optional<MedicationAction> action =
      enumField<MedicationAction>(root, "action", Need::kRequired);
  b.action = action.value_or(MedicationAction{});
  b.medication =
      objectField(root, "medication", Need::kRequired, medication).value_or(Medication{});
  // A stop or a withdrawal (entered-in-error) needs only the medication: it
  // names what ends, not a regimen.
  const bool noDose =
      action == MedicationAction::kStop || action == MedicationAction::kEnteredInError;

  b.dose = objectField(root, "dose", (action && !noDose) ? Need::kRequired : Need::kOptional,
                       quantity, " (required unless action is \"stop\" or \"entered-in-error\")");
  b.previousDose = objectField(root, "previousDose", Need::kOptional, quantity);
  b.frequency = objectField(
      root, "frequency", (action && !noDose) ? Need::kRequired : Need::kOptional,
      medicationFrequency, " (required unless action is \"stop\" or \"entered-in-error\")");
  b.route = enumField<Route>(root, "route", Need::kOptional);
  b.asNeeded = boolField(root, "asNeeded", Need::kOptional);
  b.effective = str(root, "effective", Need::kRequired, kDateRule).value_or("");
  b.reason = str(root, "reason", Need::kOptional, kAnyText);
  b.prescriber = objectField(root, "prescriber", Need::kRequired, clinician).value_or(Clinician{});
  b.dailyMme = decimalField(root, "dailyMme", Need::kOptional, Sign::kNonNegative);
  b.taper = objectField(root, "taper", Need::kOptional, taper);

  if (action && root.has("previousDose") && *action != MedicationAction::kDoseChange &&
      *action != MedicationAction::kTaperStep) {
    ctx.warning(
        "business-rule", "$.previousDose",
        "\"previousDose\" is meant for dose-change and taper-step, not " + quoted(wireOf(*action)));
  }
  if (action && root.has("taper") && *action != MedicationAction::kTaperStep) {
    ctx.warning("business-rule", "$.taper",
                "\"taper\" is meant for taper-step, not " + quoted(wireOf(*action)));
  }
  return b;
}

// ---- Writing ----

void put(Json* o, std::string_view key, const std::string& s) {
  o->set(std::string(key), Json::string(s));
}
void put(Json* o, std::string_view key, const std::optional<std::string>& s) {
  if (s) put(o, key, *s);
}
void put(Json* o, std::string_view key, const Decimal& d) {
  o->set(std::string(key), Json::numberText(d.text));
}
void put(Json* o, std::string_view key, const std::optional<Decimal>& d) {
  if (d) put(o, key, *d);
}
void put(Json* o, std::string_view key, std::int64_t n) {
  o->set(std::string(key), Json::number(n));
}
void put(Json* o, std::string_view key, const std::optional<bool>& b) {
  if (b) o->set(std::string(key), Json::boolean(*b));
}
template <typename E>
requires std::is_enum_v<E>
void put(Json* o, std::string_view key, E e) {
  o->set(std::string(key), Json::string(std::string(wireOf(e))));
}
template <typename E>
requires std::is_enum_v<E>
void put(Json* o, std::string_view key, const std::optional<E>& e) {
  if (e) put(o, key, *e);
}
void put(Json* o, std::string_view key, Json value) { o->set(std::string(key), std::move(value)); }

template <typename T, typename Write>
void putList(Json* o, std::string_view key, const std::vector<T>& items, Write write) {
  if (items.empty()) return;
  Json list = Json::array();
  for (const T& item : items) list.push(write(item));
  put(o, key, std::move(list));
}

template <typename T, typename Write>
void putObject(Json* o, std::string_view key, const std::optional<T>& value, Write write) {
  if (value) put(o, key, write(*value));
}

Json writeString(const std::string& s) { return Json::string(s); }

Json writeClinician(const Clinician& c) {
  Json o = Json::object();
  put(&o, "name", c.name);
  put(&o, "npi", c.npi);
  put(&o, "role", c.role);
  put(&o, "lead", c.lead);
  return o;
}

Json writeQuantity(const Quantity& q) {
  Json o = Json::object();
  put(&o, "value", q.value);
  put(&o, "unit", q.unit);
  return o;
}

Json writePatient(const Patient& p) {
  Json o = Json::object();
  put(&o, "mrn", p.mrn);
  put(&o, "pcpPatientId", p.pcpPatientId);
  Json name = Json::object();
  put(&name, "family", p.name.family);
  Json given = Json::array();
  for (const std::string& g : p.name.given) given.push(Json::string(g));
  put(&name, "given", std::move(given));
  put(&o, "name", std::move(name));
  put(&o, "birthDate", p.birthDate);
  put(&o, "sex", p.sex);
  return o;
}

Json writePcp(const Pcp& p) {
  Json o = Json::object();
  put(&o, "practiceId", p.practiceId);
  put(&o, "clinicianNpi", p.clinicianNpi);
  put(&o, "name", p.name);
  return o;
}

Json writeGoal(const Goal& g) {
  Json o = Json::object();
  put(&o, "goalId", g.goalId);
  put(&o, "description", g.description);
  put(&o, "measure", g.measure);
  putObject(&o, "baseline", g.baseline, [](const GoalBaseline& b) {
    Json j = Json::object();
    put(&j, "value", b.value);
    put(&j, "unit", b.unit);
    put(&j, "date", b.date);
    return j;
  });
  putObject(&o, "target", g.target, [](const GoalTarget& t) {
    Json j = Json::object();
    put(&j, "value", t.value);
    put(&j, "unit", t.unit);
    put(&j, "comparator", t.comparator);
    return j;
  });
  put(&o, "due", g.due);
  put(&o, "status", g.status);
  put(&o, "achievement", g.achievement);
  return o;
}

Json writeActivity(const Activity& a) {
  Json o = Json::object();
  put(&o, "activityId", a.activityId);
  put(&o, "type", a.type);
  put(&o, "description", a.description);
  put(&o, "status", a.status);
  putObject(&o, "frequency", a.frequency, [](const ActivityFrequency& f) {
    Json j = Json::object();
    put(&j, "count", f.count);
    put(&j, "per", f.per);
    return j;
  });
  putObject(&o, "period", a.period, [](const Period& p) {
    Json j = Json::object();
    put(&j, "start", p.start);
    put(&j, "end", p.end);
    return j;
  });
  put(&o, "scheduled", a.scheduled);
  putObject(&o, "performer", a.performer, writeClinician);
  putList(&o, "goals", a.goals, writeString);
  return o;
}

void writeBody(Json* o, const CarePlanBody& b) {
  Json p = Json::object();
  put(&p, "name", b.program.name);
  put(&p, "kind", b.program.kind);
  put(&p, "status", b.program.status);
  put(&p, "start", b.program.start);
  put(&p, "end", b.program.end);
  put(&p, "nextReassessment", b.program.nextReassessment);
  put(o, "program", std::move(p));
  putList(o, "conditions", b.conditions, [](const Condition& c) {
    Json j = Json::object();
    put(&j, "text", c.text);
    put(&j, "icd10", c.icd10);
    return j;
  });
  putList(o, "careTeam", b.careTeam, writeClinician);
  putList(o, "goals", b.goals, writeGoal);
  putList(o, "activities", b.activities, writeActivity);
}

void writeBody(Json* o, const MeasurementBody& b) {
  // goalId first: that is where the clinic's export puts it.
  put(o, "goalId", b.goalId);
  put(o, "measure", b.measure);
  put(o, "value", b.value);
  put(o, "unit", b.unit);
  putList(o, "components", b.components, [](const MeasurementComponent& c) {
    Json j = Json::object();
    put(&j, "measure", c.measure);
    put(&j, "value", c.value);
    put(&j, "unit", c.unit);
    return j;
  });
  put(o, "absent", b.absent);
  put(o, "effective", b.effective);
  put(o, "status", b.status);
  put(o, "method", b.method);
  putObject(o, "performer", b.performer, writeClinician);
}

void writeBody(Json* o, const MedicationChangeBody& b) {
  put(o, "action", b.action);
  Json m = Json::object();
  put(&m, "code", b.medication.code);
  put(&m, "rxnorm", b.medication.rxnorm);
  put(&m, "display", b.medication.display);
  put(o, "medication", std::move(m));
  putObject(o, "dose", b.dose, writeQuantity);
  putObject(o, "previousDose", b.previousDose, writeQuantity);
  putObject(o, "frequency", b.frequency, [](const MedicationFrequency& f) {
    Json j = Json::object();
    if (f.isText()) {
      put(&j, "text", f.text);
    } else {
      put(&j, "count", f.count);
      put(&j, "per", f.per);
    }
    return j;
  });
  put(o, "route", b.route);
  put(o, "asNeeded", b.asNeeded);
  put(o, "effective", b.effective);
  put(o, "reason", b.reason);
  put(o, "prescriber", writeClinician(b.prescriber));
  put(o, "dailyMme", b.dailyMme);
  putObject(o, "taper", b.taper, [](const Taper& t) {
    Json j = Json::object();
    put(&j, "step", t.step);
    put(&j, "of", t.of);
    put(&j, "targetDailyMme", t.targetDailyMme);
    put(&j, "nextStepOn", t.nextStepOn);
    return j;
  });
}

}  // namespace

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
  Context ctx(issues != nullptr ? issues : &local);
  if (!doc.isObject()) {
    ctx.error("structure", "$", "expected an object (one plan record), got " + describe(doc, "$"));
    return std::nullopt;
  }
  Obj root(ctx, doc, "$", {});
  std::optional<RecordType> type = enumField<RecordType>(root, "recordType", Need::kRequired);
  checkTopLevelFields(ctx, doc, type);

  PlanRecord r;
  r.recordId = str(root, "recordId", Need::kRequired, kRecordIdRule).value_or("");
  r.version = integerField(root, "version", Need::kRequired, 1).value_or(1);
  r.recordedAt = str(root, "recordedAt", Need::kRequired, kInstantRule).value_or("");
  r.patient = objectField(root, "patient", Need::kRequired, patient).value_or(Patient{});
  r.pcp = objectField(root, "pcp", Need::kRequired, pcp).value_or(Pcp{});
  r.author = objectField(root, "author", Need::kRequired, clinician).value_or(Clinician{});
  r.planId = str(root, "planId", Need::kOptional, kRecordIdRule);
  if (type) {
    switch (*type) {
      case RecordType::kCarePlan:
        r.body = readCarePlan(ctx, root);
        if (root.has("planId")) {
          ctx.warning("business-rule", "$.planId",
                      "\"planId\" is for measurement and medication-change records; a care "
                      "plan's own id is its \"recordId\"");
        }
        break;
      case RecordType::kMeasurement:
        r.body = readMeasurement(ctx, root, root.has("planId"));
        break;
      case RecordType::kMedicationChange:
        r.body = readMedicationChange(ctx, root);
        break;
    }
  }
  r.note = str(root, "note", Need::kOptional, kNote);
  if (const Json* ext = root.member("extensions", Need::kOptional)) {
    if (expectType(ctx, *ext, "$.extensions", Json::Type::kObject, "an object")) {
      r.extensions = *ext;
    }
  }
  if (ctx.failed()) return std::nullopt;
  return r;
}

ReadResult readPlanRecord(const Json& doc) {
  ReadResult result;
  result.record = readPlanRecord(doc, &result.issues);
  return result;
}

// ---- Public: writing ----

Json writePlanRecord(const PlanRecord& record) {
  Json o = Json::object();
  put(&o, "recordType", record.recordType());
  put(&o, "recordId", record.recordId);
  put(&o, "version", record.version);
  put(&o, "recordedAt", record.recordedAt);
  put(&o, "patient", writePatient(record.patient));
  put(&o, "pcp", writePcp(record.pcp));
  put(&o, "author", writeClinician(record.author));
  put(&o, "planId", record.planId);
  std::visit([&](const auto& body) { writeBody(&o, body); }, record.body);
  put(&o, "note", record.note);
  if (record.extensions) put(&o, "extensions", *record.extensions);
  return o;
}

}  // namespace inloop::mappings
