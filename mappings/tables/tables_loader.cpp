// loadMappingTables(): config/mappings/*.json read through fhir/binding.h.
//
// Each file is a list of fields over MappingTables, each entry a list of
// fields over its table type: the binding reports unknown, missing and
// mistyped fields, empty text and values outside a code list, with
// file:line:column and the JSON path. What the binding cannot know is written
// here as codecs and rules: code formats, references to other files (read in
// the order units, drug classes, measures, activities, drugs, practices),
// duplicates, ranges, panels, contact details and the safety settings.
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "fhir/binding.h"
#include "fhir/json.h"
#include "fhir/primitives.h"
#include "fhir/validator.h"
#include "mappings/forward/translate_internal.h"
#include "mappings/tables/tables.h"

namespace inloop::mappings {

namespace {

namespace bind = fhir::bind;
using bind::Path;
using bind::Reading;
using fhir::Issues;
using fhir::Json;

// ---- Formats (a Text check returns what was expected, nullptr when fine) ----

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ^\d{1,7}-\d$
bool isLoincCode(std::string_view s) {
  std::size_t dash = s.find('-');
  return dash != std::string_view::npos && dash >= 1 && dash <= 7 && dash + 2 == s.size() &&
         allDigits(s.substr(0, dash)) && allDigits(s.substr(dash + 1));
}

// SNOMED CT identifiers: 6-18 digits, no leading zero.
bool isSnomedCode(std::string_view s) {
  return allDigits(s) && s.size() >= 6 && s.size() <= 18 && s.front() != '0';
}

bool isRxNormCode(std::string_view s) { return allDigits(s) && s.size() <= 10 && s.front() != '0'; }

// Codes the clinic uses (measure, activity, drug, class codes) become FHIR
// codes in the pain center's code systems: lower-case letters, digits, '-'.
bool isClinicCode(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// A telephone or fax number as people write it: digits, spaces, + - ( ) . /,
// "x" or "ext" before an extension; at least 7 digits.
bool isPhoneNumber(std::string_view s) {
  std::size_t digits = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      ++digits;
    } else if (s.substr(i, 3) == "ext") {
      i += 2;
    } else if (std::string_view(" +-()./x").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return digits >= 7;
}

// local@domain.tld, no spaces (e-mail and Direct addresses).
bool isMailAddress(std::string_view s) {
  std::size_t at = s.find('@');
  if (at == 0 || at == std::string_view::npos || s.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  std::size_t dot = s.rfind('.');
  if (dot == std::string_view::npos || dot < at + 2 || dot + 1 == s.size()) return false;
  return s.find_first_of(" \t,;<>") == std::string_view::npos;
}

// An NPI: 10 digits whose last is the Luhn check digit over "80840" + the
// first nine (the NPI standard's check digit).
bool isValidNpi(std::string_view s) {
  if (s.size() != 10 || !allDigits(s)) return false;
  std::string full = "80840" + std::string(s.substr(0, 9));
  int sum = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    int d = full[full.size() - 1 - i] - '0';
    if (i % 2 == 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - sum % 10) % 10 == s[9] - '0';
}

// Text an admin types for a name or code: no control characters, no spaces
// around it (a stray space would make "kg " a different unit from "kg").
const char* checkText(std::string_view s) {
  const bool ok = fhir::isValidString(s) && (s.empty() || (s.front() != ' ' && s.back() != ' '));
  return ok ? nullptr : "expected text without control characters or leading or trailing spaces";
}

// A notice's wording may start or end with a space, not hold control characters.
const char* checkWording(std::string_view s) {
  return fhir::isValidString(s) ? nullptr : "expected text without control characters";
}

template <bool (*Valid)(std::string_view), const char* Expected>
const char* checkTextAnd(std::string_view s) {
  if (const char* expected = checkText(s)) return expected;
  return Valid(s) ? nullptr : Expected;
}

bool hasNoSpace(std::string_view s) { return s.find(' ') == std::string_view::npos; }

bool isAbsoluteUri(std::string_view s) {
  const bool absolute =
      s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0 || s.rfind("urn:", 0) == 0;
  return absolute && fhir::isValidUri(s);
}

bool isExtensionBase(std::string_view s) { return isAbsoluteUri(s) && s.back() == '/'; }

constexpr char kClinicCode[] =
    "expected lower-case letters, digits and '-' (at most 64 characters)";
constexpr char kUcumCode[] = "expected a UCUM code (no spaces)";
constexpr char kLoincCode[] = "expected a LOINC code such as 12345-6";
constexpr char kSnomedCode[] = "expected a SNOMED CT code (6-18 digits)";
constexpr char kRxNormCode[] = "expected an RxNorm code (digits)";
constexpr char kAbsoluteUri[] = "expected an absolute URI (https://..., http://... or urn:...)";
constexpr char kExtensionBase[] =
    "expected an absolute URI (https://..., http://... or urn:...) ending with '/'";
constexpr char kPhone[] =
    "expected a telephone number such as \"555-0100\" (digits, spaces, + - ( ) . /, x or ext "
    "before an extension; at least 7 digits)";
constexpr char kMail[] = "expected an address like name@example.org";
constexpr char kOrganizationNpi[] = "expected 10 digits ending in a valid NPI check digit";
constexpr char kNpi[] = "expected an NPI (10 digits)";

bool isNpiShape(std::string_view s) { return s.size() == 10 && allDigits(s); }

const bind::Text kText{.check = checkText};
const bind::Text kPhoneNumber{.check = checkTextAnd<isPhoneNumber, kPhone>};
const bind::Text kMailAddress{.check = checkTextAnd<isMailAddress, kMail>};

// ---- Codecs ----

// A number the tables keep as a double; `min`: the least allowed.
struct Number {
  std::optional<double> min;
  bool read(Reading& r, const Json& v, const Path& p, double* out) const {
    fhir::Decimal d;
    if (!bind::DecimalCodec{.min = min}.read(r, v, p, &d)) return false;
    *out = d.value;
    return true;
  }
  Json write(const double& d) const { return Json::number(d); }
};

// A factor: a number greater than 0, kept as written.
struct Factor {
  bool read(Reading& r, const Json& v, const Path& p, fhir::Decimal* out) const {
    if (!bind::DecimalCodec{}.read(r, v, p, out)) return false;
    if (out->value > 0) return true;
    r.outOfRange(v, p, "a number greater than 0");
    return false;
  }
  Json write(const fhir::Decimal& d) const { return Json::numberText(d.text); }
};

// "factor" of T, filling its text (as written) and its value.
template <typename T>
std::shared_ptr<const bind::Field<T>> factorField(std::string T::*text, double T::*value) {
  return bind::computedField<T>(
      "factor", bind::kRequired,
      [text, value](Reading& r, const Json& v, const Path& p, T* out) {
        fhir::Decimal d;
        if (!Factor{}.read(r, v, p, &d)) return false;
        out->*text = std::move(d.text);
        out->*value = d.value;
        return true;
      },
      [text](const T& in, Json* object) { object->set("factor", Json::numberText(in.*text)); });
}

// The names one table file declares, for references from other files.
struct Declared {
  explicit Declared(std::string_view f) : file(f) {}
  std::string_view file;  // "units.json"
  bool loaded = false;    // false: the file is missing or malformed; references go unchecked
  // Every name an entry declared, also of entries with other errors: a
  // reference to them is not reported again.
  std::set<std::string, std::less<>> names;
};

// Reports `name` at `v` unless `in` declares it (or was not loaded); false when reported.
bool checkDefined(Reading& r, const Json& v, const Path& p, const Declared& in,
                  std::string_view what, const std::string& name) {
  if (!in.loaded || in.names.count(name) != 0) return true;
  std::vector<std::string_view> known(in.names.begin(), in.names.end());
  std::optional<std::string_view> near = bind::closest(name, known);
  r.error("not-found", v, p,
          std::string(what) + " \"" + name + "\" is not defined in " + std::string(in.file) +
              (near ? "; did you mean \"" + std::string(*near) + "\"?" : ""));
  return false;
}

// The name an entry is known by, remembered in `declared`.
struct DeclaredName {
  const char* (*check)(std::string_view) = checkText;
  Declared* declared = nullptr;
  bool read(Reading& r, const Json& v, const Path& p, std::string* out) const {
    if (!bind::Text{.check = check}.read(r, v, p, out)) return false;
    declared->names.insert(*out);
    return true;
  }
  Json write(const std::string& s) const { return Json::string(s); }
};

// The code of a measure, activity, drug or drug class.
DeclaredName clinicCode(Declared* declared) {
  return DeclaredName{checkTextAnd<isClinicCode, kClinicCode>, declared};
}

// A name of another file's entry (`what`: "unit", "class", "measure").
struct Reference {
  const Declared* in = nullptr;
  const char* what = "";
  bind::Text text = kText;
  bool read(Reading& r, const Json& v, const Path& p, std::string* out) const {
    return text.read(r, v, p, out) && checkDefined(r, v, p, *in, what, *out);
  }
  Json write(const std::string& s) const { return Json::string(s); }
};

// References as list items: any non-empty text (as the lists always took).
bind::List<Reference> references(const Declared* in, const char* what, std::size_t minItems) {
  return bind::List<Reference>{
      .item = {.in = in, .what = what, .text = bind::Text{}}, .minItems = minItems, .unique = true};
}

const bind::List<bind::Text> kTextList{.unique = true};

template <const char* (*Check)(std::string_view)>
const bind::Fields<Coding>& codingFields() {
  static const bind::Fields<Coding> fields{
      bind::field("code", &Coding::code, bind::kRequired, bind::Text{.check = Check}),
      bind::field("display", &Coding::display, bind::kOptional, kText),
  };
  return fields;
}

// {"code": ..., "display": ...} of a standard code system.
struct StandardCoding {
  std::string_view system;
  const bind::Fields<Coding>& (*fields)();
  bool read(Reading& r, const Json& v, const Path& p, Coding* out) const {
    if (!bind::readObject(r, v, p, fields(), out)) return false;
    out->system = system;
    return true;
  }
  Json write(const Coding& c) const { return bind::writeObject(c, fields()); }
};

const StandardCoding kLoinc{kLoincSystem, codingFields<checkTextAnd<isLoincCode, kLoincCode>>};
const StandardCoding kSnomed{kSnomedSystem, codingFields<checkTextAnd<isSnomedCode, kSnomedCode>>};
const StandardCoding kRxNorm{kRxNormSystem, codingFields<checkTextAnd<isRxNormCode, kRxNormCode>>};

// "loinc" or "snomed" of a Measure or ActivityType: the standard coding.
template <typename T>
std::shared_ptr<const bind::Field<T>> standardCodingField(std::string_view name,
                                                          const StandardCoding& codec) {
  return bind::computedField<T>(name, bind::kOptional,
                                [&codec](Reading& r, const Json& v, const Path& p, T* out) {
                                  if (!codec.read(r, v, p, &out->coding)) return false;
                                  out->standardCode = true;
                                  return true;
                                });
}

const bind::Enum<Effect> kEffect{
    {"blood-pressure", Effect::kBloodPressure},
    {"glucose", Effect::kGlucose},
    {"mood", Effect::kMood},
    {"sedation", Effect::kSedation},
};

const bind::Fields<EffectNote>& effectNoteFields() {
  static const bind::Fields<EffectNote> fields{
      bind::field("effect", &EffectNote::effect, bind::kRequired, kEffect),
      bind::field("message", &EffectNote::message, bind::kRequired, kText),
  };
  return fields;
}

const bind::List<bind::Object<EffectNote>> kEffectNotes{.item = {effectNoteFields},
                                                        .uniqueBy = "effect"};

// An effect kept by its code (SafetySettings::managedEffects).
struct EffectCode {
  bool read(Reading& r, const Json& v, const Path& p, std::string* out) const {
    Effect e{};
    if (!kEffect.read(r, v, p, &e)) return false;
    *out = effectCode(e);
    return true;
  }
  Json write(const std::string& s) const { return Json::string(s); }
};

// ---- Contact ----

ContactPoints& pointsOf(ContactPoints& c) { return c; }
const ContactPoints& pointsOf(const ContactPoints& c) { return c; }
ContactPoints& pointsOf(OrganizationContact& o) { return o.points; }
const ContactPoints& pointsOf(const OrganizationContact& o) { return o.points; }

// phone, fax, email or direct of T's ContactPoints (T's own, or an Organization's).
template <typename T>
std::shared_ptr<const bind::Field<T>> pointField(std::string_view name, bind::Need need,
                                                 std::string ContactPoints::*member,
                                                 bind::Text codec) {
  return bind::computedField<T>(
      name, need,
      [member, codec](Reading& r, const Json& v, const Path& p, T* out) {
        return codec.read(r, v, p, &(pointsOf(*out).*member));
      },
      [name, member](const T& in, Json* object) {
        const std::string& s = pointsOf(in).*member;
        if (!s.empty()) object->set(std::string(name), Json::string(s));
      });
}

const bind::Fields<PostalAddress>& addressFields() {
  using A = PostalAddress;
  static const bind::Fields<A> fields{
      {
          bind::field("line", &A::line, bind::kOptional, kTextList),
          bind::field("city", &A::city, bind::kOptional, kText),
          bind::field("state", &A::state, bind::kOptional, kText),
          bind::field("postalCode", &A::postalCode, bind::kOptional, kText),
          bind::field("country", &A::country, bind::kOptional, kText),
      },
      [](Reading& r, const Json& object, const Path& p, A* a) {
        if (a->line.empty() && a->city.empty() && a->state.empty() && a->postalCode.empty() &&
            a->country.empty()) {
          r.error("required", object, p,
                  "give at least one of \"line\", \"city\", \"state\", \"postalCode\", "
                  "\"country\"");
        }
      }};
  return fields;
}

const bind::Fields<OrganizationContact>& organizationFields() {
  using O = OrganizationContact;
  static const bind::Fields<O> fields{
      bind::field("name", &O::name, bind::kRequired, kText),
      bind::field("npi", &O::npi, bind::kRequired,
                  bind::Text{.check = checkTextAnd<isValidNpi, kOrganizationNpi>}),
      pointField<O>("phone", bind::kRequired, &ContactPoints::phone, kPhoneNumber),
      pointField<O>("fax", bind::kOptional, &ContactPoints::fax, kPhoneNumber),
      pointField<O>("email", bind::kOptional, &ContactPoints::email, kMailAddress),
      pointField<O>("direct", bind::kOptional, &ContactPoints::direct, kMailAddress),
      bind::field("address", &O::address, bind::kOptional,
                  bind::Object<PostalAddress>{addressFields}),
  };
  return fields;
}

const bind::Fields<ClinicianContact>& clinicianFields() {
  using C = ClinicianContact;
  static const bind::Fields<C> fields{
      bind::field("name", &C::name, bind::kRequired, kText),
      bind::field("npi", &C::npi, bind::kRequired,
                  bind::Text{.check = checkTextAnd<isNpiShape, kNpi>}),
      bind::field("phone", &C::phone, bind::kRequired, kPhoneNumber),
  };
  return fields;
}

const bind::Fields<PainCenterContact>& contactFields() {
  using C = PainCenterContact;
  static const bind::Fields<C> fields{
      bind::field("organization", &C::organization, bind::kRequired,
                  bind::Object<OrganizationContact>{organizationFields}),
      bind::field(
          "clinicians", &C::clinicians, bind::kOptional,
          bind::List<bind::Object<ClinicianContact>>{.item = {clinicianFields}, .uniqueBy = "npi"}),
  };
  return fields;
}

// A practice's own numbers over the pain center's.
const bind::Fields<ContactPoints>& practiceContactFields() {
  using C = ContactPoints;
  static const bind::Fields<C> fields{
      {
          pointField<C>("phone", bind::kOptional, &C::phone, kPhoneNumber),
          pointField<C>("fax", bind::kOptional, &C::fax, kPhoneNumber),
          pointField<C>("email", bind::kOptional, &C::email, kMailAddress),
          pointField<C>("direct", bind::kOptional, &C::direct, kMailAddress),
      },
      [](Reading& r, const Json& object, const Path& p, C*) {
        if (object.members().empty()) {
          r.error("required", object, p,
                  "give at least one of \"phone\", \"fax\", \"email\", \"direct\"");
        }
      }};
  return fields;
}

// ---- Safety settings (docs/safety-loop.md) ----

using SafetyField = std::shared_ptr<const bind::Field<SafetySettings>>;

// "enabled": the correction rule cannot be turned off.
SafetyField enabledField(std::string_view id) {
  return bind::computedField<SafetySettings>(
      "enabled", bind::kOptional,
      [id](Reading& r, const Json& v, const Path& p, SafetySettings* s) {
        bool on = true;
        if (!bind::Boolean{}.read(r, v, p, &on)) return false;
        if (id == kAlwaysOnRule && !on) {
          r.error("business-rule", v, p,
                  "cannot be turned off (an entered-in-error record must never be a silent change "
                  "for primary care)");
          return false;
        }
        s->rules[std::string(id)].enabled = on;
        return true;
      });
}

// "{drug}, {step}" from "drug step".
std::string placeholderList(std::string_view names) {
  std::string out;
  while (!names.empty()) {
    const std::size_t space = names.find(' ');
    out += (out.empty() ? "{" : ", {") + std::string(names.substr(0, space)) + "}";
    names.remove_prefix(space == std::string_view::npos ? names.size() : space + 1);
  }
  return out;
}

// "wording": one field per template of rule `id` (kSafetyTemplates).
SafetyField wordingField(std::string_view id) {
  std::vector<std::shared_ptr<const bind::Field<SafetyRuleSettings>>> templates;
  for (const SafetyTemplateSpec& t : kSafetyTemplates) {
    if (t.rule != id) continue;
    templates.push_back(bind::computedField<SafetyRuleSettings>(
        t.key, bind::kOptional,
        [&t](Reading& r, const Json& v, const Path& p, SafetyRuleSettings* rule) {
          std::string text;
          if (!bind::Text{.check = checkWording}.read(r, v, p, &text)) return false;
          std::vector<std::string> bad = badPlaceholders(text, t.placeholders);
          if (!bad.empty()) {
            r.error("value", v, p,
                    "uses " + bad.front() +
                        (t.placeholders.empty() ? "; it takes no placeholders"
                                                : "; allowed: " + placeholderList(t.placeholders)) +
                        " (write { and } only around a placeholder)");
            return false;
          }
          rule->wording[std::string(t.key)] = std::move(text);
          return true;
        }));
  }
  return bind::computedField<SafetySettings>(
      "wording", bind::kOptional,
      [id, fields = bind::Fields<SafetyRuleSettings>(std::move(templates))](
          Reading& r, const Json& v, const Path& p, SafetySettings* s) {
        return bind::readObject(r, v, p, fields, &s->rules[std::string(id)]);
      });
}

// Ascending MME/day values, each greater than 0.
const bind::Custom<std::vector<double>> kThresholds{
    [](Reading& r, const Json& v, const Path& p, std::vector<double>* out) {
      if (!bind::List<Number>{}.read(r, v, p, out)) return false;
      for (std::size_t i = 0; i < out->size(); ++i) {
        if ((*out)[i] > 0 && (i == 0 || (*out)[i] > (*out)[i - 1])) continue;
        r.outOfRange(v.items()[i], p.item(i),
                     i == 0 ? "a number greater than 0"
                            : "a number greater than " + v.items()[i - 1].text() +
                                  " (thresholds are in ascending order)");
        return false;
      }
      return true;
    },
    [](const std::vector<double>& values) { return bind::List<Number>{}.write(values); }};

// ---- The loader ----

using TablesField = std::shared_ptr<const bind::Field<MappingTables>>;

class Loader {
 public:
  explicit Loader(Issues* issues) : issues_(issues) {}

  TablesLoad run(const std::vector<TableFile>& files) {
    for (const TableFile& f : files) parse(f);
    for (std::string_view name : kTableFileNames) {
      if (!seen_.count(std::string(name))) {
        fhir::addError(issues_, "required", std::string(name),
                       "file is missing (the mapping tables need all of: " + allNames() + ")");
      }
    }
    units_.loaded = loaded("units.json");
    classes_.loaded = loaded("drug-classes.json");
    measures_.loaded = loaded("measures.json");
    read("manifest.json", manifestFields());
    read("units.json", unitsFileFields());
    read("drug-classes.json",
         bind::Fields<MappingTables>{bind::field("classes", &MappingTables::drugClasses,
                                                 bind::kRequired, entries(classFields()))});
    read("measures.json",
         bind::Fields<MappingTables>{bind::field("measures", &MappingTables::measures,
                                                 bind::kRequired, entries(measureFields()))});
    checkPanels();
    checkConversionMeasures();
    read("activities.json",
         bind::Fields<MappingTables>{bind::field("activities", &MappingTables::activities,
                                                 bind::kRequired, entries(activityFields()))});
    read("drugs.json",
         bind::Fields<MappingTables>{
             bind::field("drugs", &MappingTables::drugs, bind::kRequired, entries(drugFields()))});
    warnWithoutContact();
    read("practices.json", practicesFileFields());
    TablesLoad out;
    out.issues = std::move(*issues_);
    if (!fhir::hasErrors(out.issues)) out.tables = std::move(tables_);
    return out;
  }

 private:
  // A parsed file and the Reading that locates its issues.
  struct ParsedFile {
    Json root;
    Reading reading;
  };

  static std::string allNames() {
    std::string out;
    for (std::string_view n : kTableFileNames) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
  }

  void parse(const TableFile& f) {
    if (!isTableFileName(f.name)) {
      fhir::addError(issues_, "not-supported", f.name,
                     "unexpected file; the mapping tables are " + allNames());
      return;
    }
    if (!seen_.insert(f.name).second) {
      fhir::addError(issues_, "duplicate", f.name, "file given twice");
      return;
    }
    fhir::JsonLimits limits;
    limits.allowComments = true;
    limits.maxBytes = 4u << 20;
    fhir::JsonParseError parseError;
    auto parsed = fhir::parseJson(f.text, limits, &parseError);
    if (!parsed.isOk()) {
      fhir::addError(
          issues_, "structure",
          f.name + ":" + std::to_string(parseError.line) + ":" + std::to_string(parseError.column),
          "malformed JSON: " + parseError.reason);
      return;
    }
    files_.emplace(f.name, ParsedFile{std::move(parsed).value(), Reading(issues_, f.name, f.text)});
  }

  ParsedFile* file(const std::string& name) {
    auto it = files_.find(name);
    return it == files_.end() ? nullptr : &it->second;
  }
  // Parsed as one JSON object: its names can be referred to.
  bool loaded(const std::string& name) {
    const ParsedFile* pf = file(name);
    return pf != nullptr && pf->root.isObject();
  }

  void read(const std::string& name, const bind::Fields<MappingTables>& fields) {
    if (ParsedFile* pf = file(name))
      bind::readObject(pf->reading, pf->root, Path(), fields, &tables_);
  }

  const Measure* measureByCode(std::string_view code) const {
    for (const Measure& m : tables_.measures) {
      if (m.code == code) return &m;
    }
    return nullptr;
  }

  // A file's list of entries, each named by a unique `key`.
  template <typename T>
  static bind::List<bind::Object<T>> entries(bind::Fields<T> fields,
                                             std::string_view key = "code") {
    return bind::List<bind::Object<T>>{.item = {std::move(fields)}, .uniqueBy = key};
  }

  // ---- manifest.json ----

  static bind::Fields<MappingTables> manifestFields() {
    static constexpr std::pair<std::string_view, std::string Namespaces::*> kUris[] = {
        {"record", &Namespaces::record},
        {"mrn", &Namespaces::mrn},
        {"measure", &Namespaces::measure},
        {"activity", &Namespaces::activity},
        {"drug", &Namespaces::drug},
        {"drugClass", &Namespaces::drugClass},
        {"extensionBase", &Namespaces::extensionBase},
        {"source", &Namespaces::source},
    };
    std::vector<std::shared_ptr<const bind::Field<Namespaces>>> uris;
    for (const auto& [name, member] : kUris) {
      uris.push_back(
          bind::field(name, member, bind::kRequired,
                      bind::Text{.check = name == "extensionBase"
                                              ? checkTextAnd<isExtensionBase, kExtensionBase>
                                              : checkTextAnd<isAbsoluteUri, kAbsoluteUri>}));
    }
    // Each namespace names one thing: two the same would mix code systems.
    bind::Fields<Namespaces> namespaces(std::move(uris), [](Reading& r, const Json& object,
                                                            const Path& p, Namespaces* n) {
      for (std::size_t i = 0; i < std::size(kUris); ++i) {
        for (std::size_t k = 0; k < i; ++k) {
          if (n->*kUris[i].second != n->*kUris[k].second) continue;
          r.duplicate(*object.find(kUris[i].first), p.member(kUris[i].first), n->*kUris[i].second);
          break;
        }
      }
    });
    return bind::Fields<MappingTables>{
        bind::field("version", &MappingTables::version, bind::kRequired, kText),
        bind::field("namespaces", &MappingTables::namespaces, bind::kRequired,
                    bind::Object<Namespaces>{std::move(namespaces)}),
    };
  }

  // ---- units.json ----

  bind::Fields<MappingTables> unitsFileFields() {
    bind::Fields<Unit> unit{
        bind::field("name", &Unit::name, bind::kRequired, DeclaredName{.declared = &units_}),
        bind::field("ucum", &Unit::ucum, bind::kRequired,
                    bind::Text{.check = checkTextAnd<hasNoSpace, kUcumCode>}),
        bind::field("display", &Unit::display, bind::kRequired, kText),
    };
    using C = Conversion;
    bind::Fields<C> conversion{
        {
            bind::field("from", &C::from, bind::kRequired, kText),
            bind::field("to", &C::to, bind::kRequired, kText),
            factorField<C>(&C::factor, &C::factorValue),
            bind::field("measures", &C::measures, bind::kOptional, kTextList),
        },
        [this](Reading& r, const Json& object, const Path& p, C* c) {
          const std::size_t before = r.errorCount();
          for (const char* end : {"from", "to"}) {
            const std::string& ucum = std::string_view(end) == "from" ? c->from : c->to;
            if (tables_.findUnitByUcum(ucum) != nullptr) continue;
            r.error("not-found", *object.find(end), p.member(end),
                    "\"" + ucum + "\" is not the UCUM code of any unit in units.json");
          }
          if (c->from == c->to) {
            r.error("value", *object.find("to"), p.member("to"), "converts a unit to itself");
          }
          for (const auto& [node, earlier] : conversions_) {
            const bool sameUnits = (earlier.from == c->from && earlier.to == c->to) ||
                                   (earlier.from == c->to && earlier.to == c->from);
            if (sameUnits && earlier.measures == c->measures) {
              r.error("duplicate", object, p,
                      "the same conversion (or its inverse) is defined twice");
              break;
            }
          }
          if (r.errorCount() == before) conversions_.emplace_back(&object, *c);
        }};
    return bind::Fields<MappingTables>{
        bind::field("units", &MappingTables::units, bind::kRequired,
                    entries(std::move(unit), "name")),
        bind::field("conversions", &MappingTables::conversions, bind::kRequired,
                    bind::List<bind::Object<C>>{.item = {std::move(conversion)}}),
    };
  }

  // A conversion's "measures" must be measures.json's (read after units.json).
  void checkConversionMeasures() {
    ParsedFile* pf = file("units.json");
    const Json* list = pf ? pf->root.find("conversions") : nullptr;
    if (list == nullptr || !list->isArray()) return;
    const Path root;
    const Path conversions = root.member("conversions");
    for (std::size_t i = 0; i < list->items().size(); ++i) {
      const Json& item = list->items()[i];
      auto accepted = std::find_if(conversions_.begin(), conversions_.end(),
                                   [&](const auto& c) { return c.first == &item; });
      if (accepted == conversions_.end()) continue;
      const Path at = conversions.item(i);
      const Path measures = at.member("measures");
      for (std::size_t k = 0; k < accepted->second.measures.size(); ++k) {
        checkDefined(pf->reading, item.find("measures")->items()[k], measures.item(k), measures_,
                     "measure", accepted->second.measures[k]);
      }
    }
  }

  // ---- drug-classes.json ----

  bind::Fields<DrugClass> classFields() {
    return bind::Fields<DrugClass>{
        bind::field("code", &DrugClass::code, bind::kRequired, clinicCode(&classes_)),
        bind::field("display", &DrugClass::display, bind::kRequired, kText),
        bind::field("effects", &DrugClass::effects, bind::kOptional, kEffectNotes),
    };
  }

  // ---- measures.json ----

  bind::Fields<Measure> measureFields() {
    using M = Measure;
    // "range": {"min": ..., "max": ...} in the canonical unit.
    bind::Fields<M> range{{
                              bind::field("min", &M::min, bind::kOptional, Number{}),
                              bind::field("max", &M::max, bind::kOptional, Number{}),
                          },
                          [](Reading& r, const Json& object, const Path& p, M* m) {
                            if (m->min && m->max && *m->min > *m->max) {
                              r.error("value", object, p,
                                      "min " + object.find("min")->text() +
                                          " is greater than max " + object.find("max")->text());
                            }
                          }};
    return bind::Fields<M>{
        {
            bind::field("code", &M::code, bind::kRequired, clinicCode(&measures_)),
            bind::field("display", &M::display, bind::kRequired, kText),
            standardCodingField<M>("loinc", kLoinc),
            bind::field("category", &M::category, bind::kRequired,
                        bind::Enum<MeasureCategory>{
                            {"survey", MeasureCategory::kSurvey},
                            {"activity", MeasureCategory::kActivity},
                            {"exam", MeasureCategory::kExam},
                            {"vital-signs", MeasureCategory::kVitalSigns},
                            {"laboratory", MeasureCategory::kLaboratory},
                            {"therapy", MeasureCategory::kTherapy},
                        }),
            bind::field("unit", &M::unit, bind::kRequired, kText),
            // The rule puts "unit" in front.
            bind::field("otherUnits", &M::units, bind::kOptional, kTextList),
            bind::field("direction", &M::direction, bind::kRequired,
                        bind::Enum<Direction>{
                            {"higher-is-better", Direction::kHigherIsBetter},
                            {"lower-is-better", Direction::kLowerIsBetter},
                            {"neither", Direction::kNeither},
                        }),
            bind::field("components", &M::components, bind::kOptional, kTextList),
            bind::field(
                "total", &M::total, bind::kOptional,
                bind::Enum<PanelTotal>{{"mean", PanelTotal::kMean}, {"sum", PanelTotal::kSum}}),
            bind::field("valueAllowed", &M::valueAllowed, bind::kOptional, bind::Boolean{}),
            bind::computedField<M>(
                "range", bind::kOptional,
                [range = std::move(range)](Reading& r, const Json& v, const Path& p, M* m) {
                  return bind::readObject(r, v, p, range, m);
                }),
        },
        [this](Reading& r, const Json& object, const Path& p, M* m) {
          measureRule(r, object, p, m);
        }};
  }

  void measureRule(Reading& r, const Json& object, const Path& p, Measure* m) {
    const std::size_t before = r.errorCount();
    if (!m->standardCode) m->coding = Coding{tables_.namespaces.measure, m->code, m->display};
    m->sendUnit = m->unit;
    checkDefined(r, *object.find("unit"), p.member("unit"), units_, "unit", m->unit);
    std::vector<std::string> others = std::move(m->units);
    m->units = {m->unit};
    const Path otherUnits = p.member("otherUnits");
    for (std::size_t i = 0; i < others.size(); ++i) {
      const std::string& u = others[i];
      const Json& at = object.find("otherUnits")->items()[i];
      const Path atPath = otherUnits.item(i);
      if (u == m->unit) {
        r.error("duplicate", at, atPath, "\"" + u + "\" is already the measure's \"unit\"");
        continue;
      }
      if (!checkDefined(r, at, atPath, units_, "unit", u)) continue;
      const Unit* from = tables_.findUnit(u);
      const Unit* to = tables_.findUnit(m->unit);
      if (from != nullptr && to != nullptr && !tables_.canConvert(u, m->unit, m->code)) {
        r.error("not-found", at, atPath,
                "no conversion from \"" + u + "\" (" + from->ucum + ") to the canonical unit \"" +
                    m->unit + "\" (" + to->ucum + ") in units.json");
        continue;
      }
      m->units.push_back(u);
    }
    if (m->total != PanelTotal::kNone && m->components.empty()) {
      r.error("required", *object.find("total"), p.member("total"),
              "\"total\" needs \"components\"");
    }
    if (!m->valueAllowed && m->components.empty()) {
      r.error("required", *object.find("valueAllowed"), p.member("valueAllowed"),
              "a measure without a value needs \"components\"");
    }
    if (r.errorCount() == before && !m->components.empty()) panels_.insert(&object);
  }

  // A panel's components are measures of their own, not panels (checked once
  // every measure is known).
  void checkPanels() {
    ParsedFile* pf = file("measures.json");
    const Json* list = pf ? pf->root.find("measures") : nullptr;
    if (list == nullptr || !list->isArray()) return;
    Reading& r = pf->reading;
    const Path root;
    const Path measures = root.member("measures");
    for (std::size_t i = 0; i < list->items().size(); ++i) {
      const Json& item = list->items()[i];
      if (panels_.count(&item) == 0) continue;
      const Measure* panel = measureByCode(item.find("code")->text());
      const Path at = measures.item(i);
      const Path components = at.member("components");
      for (std::size_t k = 0; k < panel->components.size(); ++k) {
        const std::string& c = panel->components[k];
        const Json& node = item.find("components")->items()[k];
        const Path cp = components.item(k);
        const Measure* component = measureByCode(c);
        if (component == nullptr) {
          // A component rejected for its own errors is not reported again.
          checkDefined(r, node, cp, measures_, "measure", c);
        } else if (c == panel->code) {
          r.error("value", node, cp, "a panel cannot be its own component");
        } else if (!component->components.empty()) {
          r.error("value", node, cp, "measure \"" + c + "\" is itself a panel; panels do not nest");
        }
      }
    }
  }

  // ---- activities.json ----

  bind::Fields<ActivityType> activityFields() {
    using A = ActivityType;
    using K = ActivityKind;
    return bind::Fields<A>{
        {
            bind::field("code", &A::code, bind::kRequired, clinicCode(&activities_)),
            bind::field("display", &A::display, bind::kRequired, kText),
            standardCodingField<A>("snomed", kSnomed),
            bind::field("kind", &A::kind, bind::kRequired,
                        bind::Enum<K>{
                            {"Appointment", K::kAppointment},
                            {"CommunicationRequest", K::kCommunicationRequest},
                            {"DeviceRequest", K::kDeviceRequest},
                            {"MedicationRequest", K::kMedicationRequest},
                            {"NutritionOrder", K::kNutritionOrder},
                            {"Task", K::kTask},
                            {"ServiceRequest", K::kServiceRequest},
                            {"VisionPrescription", K::kVisionPrescription},
                        }),
            bind::field("effects", &A::effects, bind::kOptional, kEffectNotes),
        },
        [this](Reading&, const Json&, const Path&, A* a) {
          if (!a->standardCode)
            a->coding = Coding{tables_.namespaces.activity, a->code, a->display};
        }};
  }

  // ---- drugs.json ----

  bind::Fields<Drug> drugFields() {
    using D = Drug;
    static const bind::Fields<MmeFactor> mme{
        factorField<MmeFactor>(&MmeFactor::factor, &MmeFactor::factorValue),
        bind::field("unit", &MmeFactor::unit, bind::kRequired, kText),
    };
    return bind::Fields<D>{
        {
            bind::field("code", &D::code, bind::kRequired, clinicCode(&drugs_)),
            bind::field("display", &D::display, bind::kRequired, kText),
            bind::field("rxnorm", &D::rxnorm, bind::kOptional, kRxNorm),
            bind::field("classes", &D::classes, bind::kRequired, references(&classes_, "class", 1)),
            bind::field("doseUnits", &D::doseUnits, bind::kRequired,
                        references(&units_, "unit", 1)),
            // After "classes" and "doseUnits", which it is checked against.
            bind::computedField<D>("mme", bind::kOptional,
                                   [](Reading& r, const Json& v, const Path& p, D* d) {
                                     MmeFactor factor;
                                     if (!bind::readObject(r, v, p, mme, &factor)) return false;
                                     if (std::find(d->doseUnits.begin(), d->doseUnits.end(),
                                                   factor.unit) == d->doseUnits.end()) {
                                       std::vector<std::string_view> names(d->doseUnits.begin(),
                                                                           d->doseUnits.end());
                                       r.notOneOf(*v.find("unit"), p.member("unit"), names);
                                       return false;
                                     }
                                     if (!isOpioid(*d)) {
                                       r.error("business-rule", v, p,
                                               "only drugs of class \"opioid\" have an MME factor");
                                       return false;
                                     }
                                     d->mme = std::move(factor);
                                     return true;
                                   }),
        },
        [this](Reading& r, const Json& object, const Path& p, D* d) {
          d->local = Coding{tables_.namespaces.drug, d->code, d->display};
          if (isOpioid(*d) && !d->mme) {
            r.warning("incomplete", object, p,
                      "an opioid without an \"mme\" factor is left out of daily MME");
          }
        }};
  }

  static bool isOpioid(const Drug& d) {
    return std::find(d.classes.begin(), d.classes.end(), "opioid") != d.classes.end();
  }

  // ---- practices.json ----

  void warnWithoutContact() {
    ParsedFile* pf = file("practices.json");
    if (pf == nullptr || !pf->root.isObject() || pf->root.find("contact") != nullptr) return;
    pf->reading.warning("incomplete", pf->root, Path(),
                        "no \"contact\" section: Bundles carry no Organization for the pain "
                        "center and notices give no number to call (docs/mapping-tables.md, "
                        "\"Contact\")");
  }

  // "safety": the fields of docs/safety-loop.md, one object per rule.
  bind::Fields<SafetySettings> safetyFields() {
    using S = SafetySettings;
    std::vector<SafetyField> rules;
    for (std::string_view id : kSafetyRuleIds) {
      std::vector<SafetyField> f{enabledField(id), wordingField(id)};
      if (id == kRuleManagedEffect) {
        f.push_back(bind::field("effects", &S::managedEffects, bind::kOptional,
                                bind::List<EffectCode>{.unique = true}));
      } else if (id == kRuleOpioidSedative) {
        f.push_back(bind::field("sedativeClasses", &S::sedativeClasses, bind::kOptional,
                                references(&classes_, "class", 1)));
        f.push_back(bind::field("naloxoneClass", &S::naloxoneClass, bind::kOptional,
                                Reference{&classes_, "class"}));
        f.push_back(bind::field("alertOnEveryChange", &S::sedativeAlertOnEveryChange,
                                bind::kOptional, bind::Boolean{}));
      } else if (id == kRuleMmeThreshold) {
        f.push_back(bind::field("thresholds", &S::mmeThresholds, bind::kOptional, kThresholds));
        f.push_back(bind::field("urgentFrom", &S::mmeUrgentFrom, bind::kOptional, Number{}));
      } else if (id == kRuleSteroidGlucose) {
        f.push_back(
            bind::field("icd10Prefixes", &S::diabetesIcd10Prefixes, bind::kOptional, kTextList));
        f.push_back(bind::field("conditionWords", &S::diabetesWords, bind::kOptional, kTextList));
      } else if (id == kRuleMmeMismatch) {
        f.push_back(
            bind::field("percent", &S::mismatchPercent, bind::kOptional, Number{.min = 0.0}));
        f.push_back(bind::field("mme", &S::mismatchMme, bind::kOptional, Number{.min = 0.0}));
      }
      rules.push_back(bind::computedField<S>(
          id, bind::kOptional,
          [fields = bind::Fields<S>(std::move(f))](Reading& r, const Json& v, const Path& p, S* s) {
            return bind::readObject(r, v, p, fields, s);
          }));
    }
    return bind::Fields<S>{
        bind::field("senderDisplay", &S::senderDisplay, bind::kOptional, kText),
        bind::computedField<S>("rules", bind::kOptional,
                               [fields = bind::Fields<S>(std::move(rules))](
                                   Reading& r, const Json& v, const Path& p, S* s) {
                                 return bind::readObject(r, v, p, fields, s);
                               }),
    };
  }

  bind::Fields<MeasureOverride> overrideFields() {
    using O = MeasureOverride;
    return bind::Fields<O>{
        {
            bind::field("measure", &O::measure, bind::kRequired, kText),
            bind::field("unit", &O::unit, bind::kOptional, kText),
            bind::field("display", &O::display, bind::kOptional, kText),
            bind::field("enabled", &O::enabled, bind::kOptional, bind::Boolean{}),
        },
        [this](Reading& r, const Json& object, const Path& p, O* o) {
          if (!checkDefined(r, *object.find("measure"), p.member("measure"), measures_, "measure",
                            o->measure)) {
            return;
          }
          const Measure* m = measureByCode(o->measure);
          if (!o->unit || m == nullptr) return;
          const Json& at = *object.find("unit");
          const Path unitPath = p.member("unit");
          if (!checkDefined(r, at, unitPath, units_, "unit", *o->unit)) return;
          if (tables_.findUnit(m->unit) && tables_.findUnit(*o->unit) &&
              !tables_.canConvert(m->unit, *o->unit, m->code)) {
            r.error("not-found", at, unitPath,
                    "no conversion from measure \"" + o->measure + "\"'s unit \"" + m->unit +
                        "\" to \"" + *o->unit + "\" in units.json");
          }
        }};
  }

  bind::Fields<Practice> practiceFields(const bind::Fields<SafetySettings>& safety) {
    using P = Practice;
    return bind::Fields<P>{
        bind::field("practiceId", &P::practiceId, bind::kRequired, kText),
        // Over the pain center's defaults (read before the practices).
        bind::computedField<P>("safety", bind::kOptional,
                               [this, safety](Reading& r, const Json& v, const Path& p, P* out) {
                                 SafetySettings s = tables_.safety;
                                 if (!bind::readObject(r, v, p, safety, &s)) return false;
                                 out->safety = std::move(s);
                                 return true;
                               }),
        bind::computedField<P>(
            "contact", bind::kOptional,
            [this](Reading& r, const Json& v, const Path& p, P* out) {
              if (!hasContactSection_) {
                r.error("business-rule", v, p,
                        "\"contact\" changes the pain center's contact, but practices.json has "
                        "no top-level \"contact\" section");
                return false;
              }
              ContactPoints points =
                  tables_.contact ? tables_.contact->organization.points : ContactPoints{};
              if (!bind::readObject(r, v, p, practiceContactFields(), &points)) return false;
              out->contact = std::move(points);
              return true;
            }),
        bind::field("measures", &P::measures, bind::kOptional,
                    bind::List<bind::Object<MeasureOverride>>{.item = {overrideFields()},
                                                              .uniqueBy = "measure"}),
    };
  }

  bind::Fields<MappingTables> practicesFileFields() {
    using T = MappingTables;
    const bind::Fields<SafetySettings> safety = safetyFields();
    return bind::Fields<T>{
        // The pain center's defaults: the built-in ones with this section applied.
        bind::computedField<T>("safety", bind::kOptional,
                               [safety](Reading& r, const Json& v, const Path& p, T* t) {
                                 SafetySettings s = t->safety;
                                 if (!bind::readObject(r, v, p, safety, &s)) return false;
                                 t->safety = std::move(s);
                                 return true;
                               }),
        bind::computedField<T>("contact", bind::kOptional,
                               [this](Reading& r, const Json& v, const Path& p, T* t) {
                                 hasContactSection_ = true;
                                 return readContact(r, v, p, t);
                               }),
        bind::field("practices", &T::practices, bind::kRequired,
                    entries(practiceFields(safety), "practiceId")),
    };
  }

  // "contact", and the Organization every Bundle carries, built and checked
  // once here (translateRecordJson does not validate it again).
  static bool readContact(Reading& r, const Json& v, const Path& p, MappingTables* t) {
    PainCenterContact contact;
    if (!bind::readObject(r, v, p, contactFields(), &contact)) return false;
    t->contact = std::move(contact);
    std::optional<Json> entry = translate_detail::buildOrganizationEntry(*t);
    const Json* resource = entry ? entry->find("resource") : nullptr;
    if (resource == nullptr) return true;
    const std::size_t before = r.errorCount();
    for (const fhir::Issue& issue : fhir::validateResource(*resource)) {
      if (issue.severity != fhir::Severity::kError && issue.severity != fhir::Severity::kFatal) {
        continue;
      }
      r.error("invariant", v, p,
              "the Organization made from it is not valid FHIR at " + issue.path + ": " +
                  issue.message);
    }
    if (r.errorCount() != before) return false;
    t->organizationEntry = std::make_shared<const Json>(std::move(*entry));
    t->organizationEntryJson = fhir::writeJson(*t->organizationEntry);
    return true;
  }

  Issues* issues_;
  std::set<std::string> seen_;
  std::map<std::string, ParsedFile> files_;
  Declared units_{"units.json"};
  Declared classes_{"drug-classes.json"};
  Declared measures_{"measures.json"};
  Declared activities_{"activities.json"};
  Declared drugs_{"drugs.json"};
  // Conversions accepted so far, with their JSON (for the measures check).
  std::vector<std::pair<const Json*, Conversion>> conversions_;
  // Measures accepted with components, checked once all are read.
  std::set<const Json*> panels_;
  bool hasContactSection_ = false;
  MappingTables tables_;
};

}  // namespace

TablesLoad loadMappingTables(const std::vector<TableFile>& files) {
  Issues issues;
  Loader loader(&issues);
  return loader.run(files);
}

}  // namespace inloop::mappings
