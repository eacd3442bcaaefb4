// loadMappingTables(): parsing and validation of config/mappings/*.json.
//
// Two small helpers keep the per-table code declarative: FileContext turns a
// JSON node into "file.json:LINE:COLUMN" and records issues; FieldReader reads
// the fields of one object, reports missing and mistyped ones, and at the end
// reports every field it was not asked for (a typo must not silently drop a
// mapping).
#include <algorithm>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "fhir/json.h"
#include "fhir/primitives.h"
#include "fhir/validator.h"
#include "mappings/forward/translate_internal.h"
#include "mappings/tables/tables.h"

namespace inloop::mappings {

namespace {

using fhir::Issues;
using fhir::Json;

class FileContext {
 public:
  FileContext(std::string name, std::string_view text, Issues* issues)
      : name_(std::move(name)), text_(text), issues_(issues) {}

  const std::string& name() const { return name_; }

  std::string where(std::size_t offset) const {
    auto [line, column] = fhir::lineColumnAt(text_, offset);
    return name_ + ":" + std::to_string(line) + ":" + std::to_string(column);
  }
  std::string where(const Json& node) const {
    std::size_t offset = node.sourceOffset();
    if (node.isObject() || node.isArray()) {
      // Point at the bracket itself even if the recorded offset is just before it.
      char open = node.isObject() ? '{' : '[';
      std::size_t at = text_.find(open, offset);
      if (at != std::string_view::npos && at - offset <= 1) offset = at;
    }
    return where(offset);
  }

  // Where the key of `object`'s member `key` is written; the value's place if
  // the key cannot be found (keys with escapes).
  std::string whereKey(const Json& value, const std::string& key) const {
    std::string quoted = "\"" + key + "\"";
    std::size_t at = text_.rfind(quoted, value.sourceOffset());
    return where(at == std::string_view::npos ? value.sourceOffset() : at);
  }

  void error(const Json& node, std::string code, std::string message) const {
    fhir::addError(issues_, std::move(code), where(node), std::move(message));
  }
  void errorAt(std::string path, std::string code, std::string message) const {
    fhir::addError(issues_, std::move(code), std::move(path), std::move(message));
  }
  void warning(const Json& node, std::string code, std::string message) const {
    fhir::addWarning(issues_, std::move(code), where(node), std::move(message));
  }

 private:
  std::string name_;
  std::string_view text_;
  Issues* issues_;
};

const char* typeName(Json::Type type) {
  switch (type) {
    case Json::Type::kNull:
      return "null";
    case Json::Type::kBool:
      return "true/false";
    case Json::Type::kNumber:
      return "a number";
    case Json::Type::kString:
      return "a string";
    case Json::Type::kArray:
      return "a list";
    case Json::Type::kObject:
      return "an object";
  }
  return "a value";
}

template <typename E>
using Choices = std::initializer_list<std::pair<const char*, E>>;

template <typename E>
std::string choiceList(Choices<E> choices) {
  std::string out;
  for (const auto& c : choices) {
    if (!out.empty()) out += ", ";
    out += c.first;
  }
  return out;
}

// Reads the fields of one JSON object. `what` names the object in messages
// ("measure \"odi\""). Call finish() after the last field to report unknown ones.
class FieldReader {
 public:
  FieldReader(const FileContext& file, const Json& object, std::string what)
      : file_(file), object_(object), what_(std::move(what)) {}

  const Json& object() const { return object_; }
  const std::string& what() const { return what_; }
  void rename(std::string what) { what_ = std::move(what); }

  // Marks `key` as known without reading it (another pass reads it).
  void allow(const char* key) { known_.insert(key); }

  // The member's value if present and of `type`; reports missing (when
  // `required`) and wrongly typed members.
  const Json* get(const char* key, Json::Type type, bool required) {
    known_.insert(key);
    const Json* value = object_.find(key);
    if (!value) {
      if (required) {
        file_.error(object_, "required",
                    what_ + ": missing required field \"" + std::string(key) + "\"");
      }
      return nullptr;
    }
    if (value->type() != type) {
      file_.error(*value, "structure",
                  what_ + ": \"" + key + "\" must be " + typeName(type) + ", not " +
                      typeName(value->type()));
      return nullptr;
    }
    return value;
  }

  // A non-empty string without surrounding whitespace.
  std::optional<std::string> string(const char* key, bool required) {
    const Json* value = get(key, Json::Type::kString, required);
    if (!value) return std::nullopt;
    if (!fhir::isValidString(value->text()) || value->text().empty() ||
        value->text().front() == ' ' || value->text().back() == ' ') {
      file_.error(
          *value, "value",
          what_ + ": \"" + key + "\" must be non-empty text without leading or trailing spaces");
      return std::nullopt;
    }
    return value->text();
  }

  // A number; `text` (optional) receives it as written.
  std::optional<double> number(const char* key, bool required, std::string* text = nullptr) {
    const Json* value = get(key, Json::Type::kNumber, required);
    if (!value) return std::nullopt;
    auto d = value->toDouble();
    if (!d) {
      file_.error(*value, "value", what_ + ": \"" + key + "\" is out of range");
      return std::nullopt;
    }
    if (text) *text = value->text();
    return d;
  }

  bool boolean(const char* key, bool defaultValue) {
    const Json* value = get(key, Json::Type::kBool, false);
    return value ? value->asBool() : defaultValue;
  }

  // A list of strings; each bad item is reported and skipped.
  std::vector<std::string> stringList(const char* key, bool required) {
    std::vector<std::string> out;
    const Json* list = get(key, Json::Type::kArray, required);
    if (!list) return out;
    if (required && list->items().empty()) {
      file_.error(*list, "required", what_ + ": \"" + key + "\" must not be empty");
    }
    for (const Json& item : list->items()) {
      if (!item.isString() || item.text().empty()) {
        file_.error(item, "structure",
                    what_ + ": every item of \"" + key + "\" must be a non-empty string");
        continue;
      }
      if (std::find(out.begin(), out.end(), item.text()) != out.end()) {
        file_.error(item, "duplicate",
                    what_ + ": \"" + item.text() + "\" is listed twice in \"" + key + "\"");
        continue;
      }
      out.push_back(item.text());
    }
    return out;
  }

  template <typename E>
  std::optional<E> choice(const char* key, bool required, Choices<E> choices) {
    auto text = string(key, required);
    if (!text) return std::nullopt;
    for (const auto& c : choices) {
      if (*text == c.first) return c.second;
    }
    file_.error(
        *object_.find(key), "code-invalid",
        what_ + ": \"" + key + "\" is \"" + *text + "\"; expected one of " + choiceList(choices));
    return std::nullopt;
  }

  // Reports every member that no accessor asked for.
  void finish() {
    for (const auto& [key, value] : object_.members()) {
      if (known_.count(key)) continue;
      std::string expected;
      for (const std::string& k : known_) expected += (expected.empty() ? "" : ", ") + k;
      file_.errorAt(file_.whereKey(value, key), "structure",
                    what_ + ": unknown field \"" + key + "\" (expected: " + expected + ")");
    }
  }

 private:
  const FileContext& file_;
  const Json& object_;
  std::string what_;
  std::set<std::string> known_;
};

// A parsed file, or nothing when it is missing or malformed.
struct ParsedFile {
  std::unique_ptr<FileContext> file;
  Json root;
};

constexpr Choices<MeasureCategory> kCategories = {
    {"survey", MeasureCategory::kSurvey},
    {"activity", MeasureCategory::kActivity},
    {"exam", MeasureCategory::kExam},
    {"vital-signs", MeasureCategory::kVitalSigns},
    {"laboratory", MeasureCategory::kLaboratory},
    {"therapy", MeasureCategory::kTherapy},
};
constexpr Choices<Direction> kDirections = {
    {"higher-is-better", Direction::kHigherIsBetter},
    {"lower-is-better", Direction::kLowerIsBetter},
    {"neither", Direction::kNeither},
};
constexpr Choices<PanelTotal> kTotals = {{"mean", PanelTotal::kMean}, {"sum", PanelTotal::kSum}};
constexpr Choices<ActivityKind> kKinds = {
    {"Appointment", ActivityKind::kAppointment},
    {"CommunicationRequest", ActivityKind::kCommunicationRequest},
    {"DeviceRequest", ActivityKind::kDeviceRequest},
    {"MedicationRequest", ActivityKind::kMedicationRequest},
    {"NutritionOrder", ActivityKind::kNutritionOrder},
    {"Task", ActivityKind::kTask},
    {"ServiceRequest", ActivityKind::kServiceRequest},
    {"VisionPrescription", ActivityKind::kVisionPrescription},
};
constexpr Choices<Effect> kEffects = {
    {"blood-pressure", Effect::kBloodPressure},
    {"glucose", Effect::kGlucose},
    {"mood", Effect::kMood},
    {"sedation", Effect::kSedation},
};

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
    checkTopLevel("units.json", {"units", "conversions"});
    checkTopLevel("measures.json", {"measures"});
    checkTopLevel("activities.json", {"activities"});
    checkTopLevel("drugs.json", {"drugs"});
    checkTopLevel("drug-classes.json", {"classes"});
    checkTopLevel("practices.json", {"practices", "safety", "contact"});
    loadManifest();
    loadUnits();
    loadDrugClasses();
    loadMeasures();
    checkConversionMeasures();
    loadActivities();
    loadDrugs();
    loadSafetyDefaults();
    loadContact();
    loadPractices();
    TablesLoad out;
    out.issues = std::move(*issues_);
    if (!fhir::hasErrors(out.issues)) out.tables = std::move(tables_);
    return out;
  }

 private:
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
    auto file = std::make_unique<FileContext>(f.name, f.text, issues_);
    if (!parsed->isObject()) {
      file->error(*parsed, "structure", "the file must hold one JSON object {...}");
      return;
    }
    files_[f.name] = ParsedFile{std::move(file), std::move(parsed).value()};
  }

  // The top-level object of `name`, or nullptr when missing or malformed.
  const ParsedFile* file(const std::string& name) const {
    auto it = files_.find(name);
    return it == files_.end() ? nullptr : &it->second;
  }
  bool loaded(const std::string& name) const { return file(name) != nullptr; }

  const Measure* measureByCode(std::string_view code) const {
    for (const Measure& m : tables_.measures) {
      if (m.code == code) return &m;
    }
    return nullptr;
  }

  // Reports top-level fields of `fileName` other than `keys`.
  void checkTopLevel(const std::string& fileName, std::initializer_list<const char*> keys) {
    const ParsedFile* pf = file(fileName);
    if (!pf) return;
    FieldReader top(*pf->file, pf->root, fileName);
    for (const char* key : keys) top.allow(key);
    top.finish();
  }

  // Calls `each(reader, file)` for every object in the top-level list `key`.
  template <typename F>
  void forEachEntry(const std::string& fileName, const char* key, const char* what, F each) {
    const ParsedFile* pf = file(fileName);
    if (!pf) return;
    FieldReader top(*pf->file, pf->root, fileName);
    const Json* list = top.get(key, Json::Type::kArray, true);
    if (!list) return;
    for (std::size_t i = 0; i < list->items().size(); ++i) {
      const Json& item = list->items()[i];
      if (!item.isObject()) {
        pf->file->error(item, "structure",
                        std::string(what) + " " + std::to_string(i + 1) +
                            " must be an object {...}, not " + typeName(item.type()));
        continue;
      }
      FieldReader reader(*pf->file, item, std::string(what) + " " + std::to_string(i + 1));
      each(reader, *pf->file);
      reader.finish();
    }
  }

  // Reads the entry's "code" (a clinic code) and names the reader after it.
  std::optional<std::string> readCode(FieldReader& r, const FileContext& f, const char* key,
                                      const char* what, std::set<std::string>* seen) {
    auto code = r.string(key, true);
    if (!code) return std::nullopt;
    const Json& node = *r.object().find(key);
    r.rename(std::string(what) + " \"" + *code + "\"");
    if (!isClinicCode(*code)) {
      f.error(node, "value",
              r.what() + ": \"" + key +
                  "\" must be lower-case letters, digits and '-' (at most 64 characters)");
      return std::nullopt;
    }
    if (!seen->insert(*code).second) {
      f.error(node, "duplicate", r.what() + " is defined twice");
      return std::nullopt;
    }
    return code;
  }

  // An optional standard coding {"code": ..., "display": ...} under `key`.
  std::optional<Coding> readStandardCoding(FieldReader& r, const FileContext& f, const char* key,
                                           std::string_view system, bool (*valid)(std::string_view),
                                           const char* format) {
    const Json* node = r.get(key, Json::Type::kObject, false);
    if (!node) return std::nullopt;
    FieldReader sub(f, *node, r.what() + " " + key);
    auto code = sub.string("code", true);
    auto display = sub.string("display", false);
    sub.finish();
    if (!code) return std::nullopt;
    if (!valid(*code)) {
      f.error(*node->find("code"), "code-invalid",
              sub.what() + ": \"" + *code + "\" is not a valid code (" + format + ")");
      return std::nullopt;
    }
    return Coding{std::string(system), *code, display.value_or("")};
  }

  // A reference to a unit name; reports unknown ones (when units.json loaded).
  bool checkUnit(const FileContext& f, const Json& at, const std::string& what,
                 const std::string& unit) {
    if (!loaded("units.json") || unitNames_.count(unit)) return true;
    f.error(at, "not-found", what + ": unit \"" + unit + "\" is not defined in units.json");
    return false;
  }

  // The node of list `key` item equal to `value` (for locations), else the object.
  static const Json& itemNode(const Json& object, const char* key, const std::string& value) {
    if (const Json* list = object.find(key)) {
      for (const Json& item : list->items()) {
        if (item.isString() && item.text() == value) return item;
      }
    }
    if (const Json* scalar = object.find(key)) return *scalar;
    return object;
  }

  std::vector<EffectNote> readEffects(FieldReader& r, const FileContext& f) {
    std::vector<EffectNote> out;
    const Json* list = r.get("effects", Json::Type::kArray, false);
    if (!list) return out;
    for (const Json& item : list->items()) {
      if (!item.isObject()) {
        f.error(item, "structure", r.what() + ": every effect must be an object {...}");
        continue;
      }
      FieldReader sub(f, item, r.what() + " effect");
      auto effect = sub.choice("effect", true, kEffects);
      auto message = sub.string("message", true);
      sub.finish();
      if (!effect || !message) continue;
      bool duplicate = std::any_of(out.begin(), out.end(),
                                   [&](const EffectNote& e) { return e.effect == *effect; });
      if (duplicate) {
        f.error(item, "duplicate",
                r.what() + ": effect \"" + effectCode(*effect) + "\" is listed twice");
        continue;
      }
      out.push_back(EffectNote{*effect, *message});
    }
    return out;
  }

  void loadManifest() {
    const ParsedFile* pf = file("manifest.json");
    if (!pf) return;
    const FileContext& f = *pf->file;
    FieldReader r(f, pf->root, "manifest.json");
    if (auto version = r.string("version", true)) tables_.version = *version;
    const Json* ns = r.get("namespaces", Json::Type::kObject, true);
    r.finish();
    if (!ns) return;
    FieldReader n(f, *ns, "namespaces");
    Namespaces& out = tables_.namespaces;
    std::pair<const char*, std::string*> fields[] = {
        {"record", &out.record},
        {"mrn", &out.mrn},
        {"measure", &out.measure},
        {"activity", &out.activity},
        {"drug", &out.drug},
        {"drugClass", &out.drugClass},
        {"extensionBase", &out.extensionBase},
        {"source", &out.source},
    };
    std::set<std::string> uris;
    for (auto& [key, target] : fields) {
      auto uri = n.string(key, true);
      if (!uri) continue;
      const Json& node = *ns->find(key);
      bool absolute = uri->rfind("https://", 0) == 0 || uri->rfind("http://", 0) == 0 ||
                      uri->rfind("urn:", 0) == 0;
      if (!fhir::isValidUri(*uri) || !absolute) {
        f.error(node, "value",
                "namespaces: \"" + std::string(key) +
                    "\" must be an absolute URI (https://..., http://... or urn:...)");
        continue;
      }
      if (std::string_view(key) == "extensionBase" && uri->back() != '/') {
        f.error(node, "value", "namespaces: \"extensionBase\" must end with '/'");
        continue;
      }
      if (!uris.insert(*uri).second) {
        f.error(node, "duplicate",
                "namespaces: \"" + std::string(key) +
                    "\" repeats another namespace; each must be distinct");
        continue;
      }
      *target = *uri;
    }
    n.finish();
  }

  void loadUnits() {
    forEachEntry("units.json", "units", "unit", [&](FieldReader& r, const FileContext& f) {
      auto name = r.string("name", true);
      bool duplicate = false;
      if (name) {
        r.rename("unit \"" + *name + "\"");
        duplicate = !unitNames_.insert(*name).second;
        if (duplicate) {
          f.error(*r.object().find("name"), "duplicate", r.what() + " is defined twice");
        }
      }
      auto ucum = r.string("ucum", true);
      auto display = r.string("display", true);
      if (!name || !ucum || !display || duplicate) return;
      if (ucum->find(' ') != std::string::npos) {
        f.error(*r.object().find("ucum"), "value", r.what() + ": a UCUM code has no spaces");
        return;
      }
      tables_.units.push_back(Unit{*name, *ucum, *display});
    });
    forEachEntry(
        "units.json", "conversions", "conversion", [&](FieldReader& r, const FileContext& f) {
          auto from = r.string("from", true);
          auto to = r.string("to", true);
          if (from && to) r.rename("conversion " + *from + " -> " + *to);
          std::string factorText;
          auto factor = r.number("factor", true, &factorText);
          auto measures = r.stringList("measures", false);
          if (!from || !to || !factor) return;
          bool ok = true;
          std::pair<const char*, const std::string*> ends[] = {{"from", &*from}, {"to", &*to}};
          for (const auto& [key, ucumPtr] : ends) {
            const std::string& ucum = *ucumPtr;
            if (loaded("units.json") && !tables_.findUnitByUcum(ucum)) {
              f.error(
                  *r.object().find(key), "not-found",
                  r.what() + ": \"" + ucum + "\" is not the UCUM code of any unit in units.json");
              ok = false;
            }
          }
          if (*from == *to) {
            f.error(*r.object().find("to"), "value", r.what() + ": converts a unit to itself");
            ok = false;
          }
          if (*factor <= 0) {
            f.error(*r.object().find("factor"), "value",
                    r.what() + ": \"factor\" must be greater than 0");
            ok = false;
          }
          for (const Conversion& c : tables_.conversions) {
            bool sameUnits = (c.from == *from && c.to == *to) || (c.from == *to && c.to == *from);
            if (sameUnits && c.measures == measures) {
              f.error(r.object(), "duplicate",
                      r.what() + ": the same conversion (or its inverse) is defined twice");
              ok = false;
              break;
            }
          }
          if (!ok) return;
          tables_.conversions.push_back(
              Conversion{*from, *to, factorText, *factor, std::move(measures)});
          conversionNodes_.push_back(&r.object());
        });
  }

  void loadDrugClasses() {
    forEachEntry("drug-classes.json", "classes", "class",
                 [&](FieldReader& r, const FileContext& f) {
                   auto code = readCode(r, f, "code", "class", &classCodes_);
                   auto display = r.string("display", true);
                   auto effects = readEffects(r, f);
                   if (!code || !display) return;
                   tables_.drugClasses.push_back(DrugClass{*code, *display, std::move(effects)});
                 });
  }

  void loadMeasures() {
    // Components and panels are checked once every measure is known.
    std::vector<std::pair<const Json*, const FileContext*>> panels;
    forEachEntry("measures.json", "measures", "measure", [&](FieldReader& r, const FileContext& f) {
      Measure m;
      auto code = readCode(r, f, "code", "measure", &measureCodes_);
      auto display = r.string("display", true);
      auto loinc = readStandardCoding(r, f, "loinc", kLoincSystem, isLoincCode,
                                      "LOINC codes look like 12345-6");
      auto category = r.choice("category", true, kCategories);
      auto unit = r.string("unit", true);
      auto otherUnits = r.stringList("otherUnits", false);
      auto direction = r.choice("direction", true, kDirections);
      m.components = r.stringList("components", false);
      auto total = r.choice("total", false, kTotals);
      m.valueAllowed = r.boolean("valueAllowed", true);
      bool ok = readRange(r, f, &m);
      if (!code || !display || !category || !unit || !direction || !ok) return;
      if (r.object().find("loinc") && !loinc) return;
      if (r.object().find("total") && !total) return;
      m.code = *code;
      m.display = *display;
      m.standardCode = loinc.has_value();
      m.coding = loinc ? *loinc : Coding{tables_.namespaces.measure, *code, *display};
      m.category = *category;
      m.unit = *unit;
      m.sendUnit = *unit;
      m.units.push_back(*unit);
      m.direction = *direction;
      m.total = total.value_or(PanelTotal::kNone);
      if (!checkUnit(f, *r.object().find("unit"), r.what(), *unit)) ok = false;
      for (const std::string& u : otherUnits) {
        const Json& at = itemNode(r.object(), "otherUnits", u);
        if (u == *unit) {
          f.error(at, "duplicate", r.what() + ": \"" + u + "\" is already the measure's \"unit\"");
          ok = false;
          continue;
        }
        if (!checkUnit(f, at, r.what(), u)) {
          ok = false;
          continue;
        }
        if (tables_.findUnit(*unit) && tables_.findUnit(u) &&
            !tables_.canConvert(u, *unit, *code)) {
          f.error(at, "not-found",
                  r.what() + ": no conversion from \"" + u + "\" (" + tables_.findUnit(u)->ucum +
                      ") to the canonical unit \"" + *unit + "\" (" +
                      tables_.findUnit(*unit)->ucum + ") in units.json");
          ok = false;
          continue;
        }
        m.units.push_back(u);
      }
      if (m.total != PanelTotal::kNone && m.components.empty()) {
        f.error(*r.object().find("total"), "required",
                r.what() + ": \"total\" needs \"components\"");
        ok = false;
      }
      if (!m.valueAllowed && m.components.empty()) {
        f.error(*r.object().find("valueAllowed"), "required",
                r.what() + ": a measure without a value needs \"components\"");
        ok = false;
      }
      if (!ok) return;
      if (!m.components.empty()) panels.emplace_back(&r.object(), &f);
      tables_.measures.push_back(std::move(m));
    });
    for (const auto& [node, f] : panels) {
      const std::string& code = node->find("code")->text();
      for (const std::string& c : measureByCode(code)->components) {
        const Json& at = itemNode(*node, "components", c);
        auto component = measureByCode(c);
        if (!component) {
          // A component rejected for its own errors is not reported again.
          if (measureCodes_.count(c)) continue;
          f->error(at, "not-found",
                   "measure \"" + code + "\": component \"" + c +
                       "\" is not a measure defined in measures.json");
        } else if (c == code) {
          f->error(at, "value", "measure \"" + code + "\" lists itself as a component");
        } else if (!component->components.empty()) {
          f->error(at, "value",
                   "measure \"" + code + "\": component \"" + c +
                       "\" is itself a panel; panels do not nest");
        }
      }
    }
  }

  bool readRange(FieldReader& r, const FileContext& f, Measure* m) {
    const Json* range = r.get("range", Json::Type::kObject, false);
    if (!range) return !r.object().find("range");
    FieldReader sub(f, *range, r.what() + " range");
    m->min = sub.number("min", false);
    m->max = sub.number("max", false);
    sub.finish();
    if (m->min && m->max && *m->min > *m->max) {
      f.error(*range, "value",
              r.what() + ": range min " + range->find("min")->text() + " is greater than max " +
                  range->find("max")->text());
      return false;
    }
    return true;
  }

  void checkConversionMeasures() {
    const ParsedFile* pf = file("units.json");
    if (!pf || !loaded("measures.json")) return;
    for (std::size_t i = 0; i < tables_.conversions.size(); ++i) {
      for (const std::string& m : tables_.conversions[i].measures) {
        if (measureCodes_.count(m)) continue;
        pf->file->error(itemNode(*conversionNodes_[i], "measures", m), "not-found",
                        "conversion " + tables_.conversions[i].from + " -> " +
                            tables_.conversions[i].to + ": measure \"" + m +
                            "\" is not defined in measures.json");
      }
    }
  }

  void loadActivities() {
    std::set<std::string> codes;
    forEachEntry(
        "activities.json", "activities", "activity", [&](FieldReader& r, const FileContext& f) {
          auto code = readCode(r, f, "code", "activity", &codes);
          auto display = r.string("display", true);
          auto snomed = readStandardCoding(r, f, "snomed", kSnomedSystem, isSnomedCode,
                                           "SNOMED CT codes are 6-18 digits");
          auto kind = r.choice("kind", true, kKinds);
          auto effects = readEffects(r, f);
          if (!code || !display || !kind) return;
          if (r.object().find("snomed") && !snomed) return;
          ActivityType a;
          a.code = *code;
          a.display = *display;
          a.standardCode = snomed.has_value();
          a.coding = snomed ? *snomed : Coding{tables_.namespaces.activity, *code, *display};
          a.kind = *kind;
          a.effects = std::move(effects);
          tables_.activities.push_back(std::move(a));
        });
  }

  void loadDrugs() {
    std::set<std::string> codes;
    forEachEntry("drugs.json", "drugs", "drug", [&](FieldReader& r, const FileContext& f) {
      auto code = readCode(r, f, "code", "drug", &codes);
      auto display = r.string("display", true);
      auto rxnorm = readStandardCoding(r, f, "rxnorm", kRxNormSystem, isRxNormCode,
                                       "RxNorm codes are digits");
      auto classes = r.stringList("classes", true);
      auto doseUnits = r.stringList("doseUnits", true);
      std::optional<MmeFactor> mme;
      bool ok = true;
      if (const Json* node = r.get("mme", Json::Type::kObject, false)) {
        FieldReader sub(f, *node, r.what() + " mme");
        MmeFactor factor;
        auto value = sub.number("factor", true, &factor.factor);
        auto unit = sub.string("unit", true);
        sub.finish();
        if (value && unit) {
          factor.factorValue = *value;
          factor.unit = *unit;
          if (*value <= 0) {
            f.error(*node->find("factor"), "value",
                    r.what() + ": MME \"factor\" must be greater than 0");
            ok = false;
          } else if (std::find(doseUnits.begin(), doseUnits.end(), *unit) == doseUnits.end()) {
            f.error(*node->find("unit"), "value",
                    r.what() + ": MME unit \"" + *unit + "\" is not one of its \"doseUnits\"");
            ok = false;
          }
          mme = factor;
        } else {
          ok = false;
        }
      } else if (r.object().find("mme")) {
        ok = false;
      }
      if (!code || !display || !ok) return;
      if (r.object().find("rxnorm") && !rxnorm) return;
      for (const std::string& c : classes) {
        if (!loaded("drug-classes.json") || classCodes_.count(c)) continue;
        f.error(itemNode(r.object(), "classes", c), "not-found",
                r.what() + ": class \"" + c + "\" is not defined in drug-classes.json");
        ok = false;
      }
      for (const std::string& u : doseUnits) {
        if (!checkUnit(f, itemNode(r.object(), "doseUnits", u), r.what(), u)) ok = false;
      }
      bool opioid = std::find(classes.begin(), classes.end(), "opioid") != classes.end();
      if (opioid && !mme) {
        f.warning(r.object(), "incomplete",
                  r.what() + ": an opioid without an \"mme\" factor is left out of daily MME");
      }
      if (!opioid && mme) {
        f.error(*r.object().find("mme"), "business-rule",
                r.what() + ": only drugs of class \"opioid\" have an MME factor");
        ok = false;
      }
      if (!ok) return;
      Drug d;
      d.code = *code;
      d.display = *display;
      d.rxnorm = rxnorm;
      d.local = Coding{tables_.namespaces.drug, *code, *display};
      d.classes = std::move(classes);
      d.mme = mme;
      d.doseUnits = std::move(doseUnits);
      tables_.drugs.push_back(std::move(d));
    });
  }

  void loadPractices() {
    std::set<std::string> ids;
    forEachEntry(
        "practices.json", "practices", "practice", [&](FieldReader& r, const FileContext& f) {
          auto id = r.string("practiceId", true);
          if (!id) return;
          r.rename("practice \"" + *id + "\"");
          if (!ids.insert(*id).second) {
            f.error(*r.object().find("practiceId"), "duplicate", r.what() + " is defined twice");
            return;
          }
          Practice p;
          p.practiceId = *id;
          bool ok = true;
          if (const Json* node = r.get("safety", Json::Type::kObject, false)) {
            SafetySettings settings = tables_.safety;
            if (readSafety(f, *node, r.what(), &settings)) {
              p.safety = std::move(settings);
            } else {
              ok = false;
            }
          } else if (r.object().find("safety")) {
            ok = false;
          }
          if (const Json* node = r.get("contact", Json::Type::kObject, false)) {
            if (!tables_.contact) {
              f.error(*node, "business-rule",
                      r.what() +
                          ": \"contact\" changes the pain center's contact, but practices.json "
                          "has no top-level \"contact\" section");
              ok = false;
            } else {
              FieldReader sub(f, *node, r.what() + " contact");
              p.contact = tables_.contact->organization.points;
              if (!readContactPoints(f, sub, false, &*p.contact)) ok = false;
              sub.finish();
              if (node->members().empty()) {
                f.error(*node, "required",
                        r.what() + " contact: give at least one of phone, fax, email, direct");
                ok = false;
              }
            }
          } else if (r.object().find("contact")) {
            ok = false;
          }
          if (const Json* list = r.get("measures", Json::Type::kArray, false)) {
            std::set<std::string> seen;
            for (const Json& item : list->items()) {
              if (!item.isObject()) {
                f.error(item, "structure", r.what() + ": every measure override must be an object");
                ok = false;
                continue;
              }
              FieldReader sub(f, item, r.what() + " override");
              MeasureOverride o;
              auto measure = sub.string("measure", true);
              o.unit = sub.string("unit", false);
              o.display = sub.string("display", false);
              o.enabled = sub.boolean("enabled", true);
              sub.finish();
              if (!measure) {
                ok = false;
                continue;
              }
              o.measure = *measure;
              const Json& at = *item.find("measure");
              if (!seen.insert(*measure).second) {
                f.error(at, "duplicate",
                        r.what() + ": measure \"" + *measure + "\" is overridden twice");
                ok = false;
                continue;
              }
              if (loaded("measures.json") && !measureCodes_.count(*measure)) {
                f.error(
                    at, "not-found",
                    r.what() + ": measure \"" + *measure + "\" is not defined in measures.json");
                ok = false;
                continue;
              }
              const Measure* m = measureByCode(*measure);
              if (o.unit && m) {
                const Json& unitAt = *item.find("unit");
                if (!checkUnit(f, unitAt, r.what(), *o.unit)) {
                  ok = false;
                } else if (tables_.findUnit(m->unit) && tables_.findUnit(*o.unit) &&
                           !tables_.canConvert(m->unit, *o.unit, m->code)) {
                  f.error(unitAt, "not-found",
                          r.what() + ": no conversion from measure \"" + *measure + "\"'s unit \"" +
                              m->unit + "\" to \"" + *o.unit + "\" in units.json");
                  ok = false;
                }
              }
              p.measures.push_back(std::move(o));
            }
          }
          if (ok) tables_.practices.push_back(std::move(p));
        });
  }

  // practices.json "contact": the pain center's Organization and its
  // clinicians' lines. Missing: a warning (nobody to call).
  void loadContact() {
    const ParsedFile* pf = file("practices.json");
    if (!pf) return;
    const FileContext& f = *pf->file;
    const Json* node = pf->root.find("contact");
    if (!node) {
      f.warning(pf->root, "incomplete",
                "practices.json: no \"contact\" section: Bundles carry no Organization for the "
                "pain center and notices give no number to call (docs/mapping-tables.md, "
                "\"Contact\")");
      return;
    }
    if (!node->isObject()) {
      f.error(*node, "structure", "practices.json: \"contact\" must be an object {...}");
      return;
    }
    const std::size_t errorsBefore = errorCount();
    PainCenterContact contact;
    FieldReader top(f, *node, "practices.json contact");
    if (const Json* org = top.get("organization", Json::Type::kObject, true)) {
      FieldReader r(f, *org, "contact organization");
      if (auto name = r.string("name", true)) contact.organization.name = *name;
      if (auto npi = r.string("npi", true)) {
        if (!isValidNpi(*npi)) {
          f.error(*org->find("npi"), "value",
                  "contact organization: \"npi\" must be 10 digits ending in a valid NPI check "
                  "digit");
        }
        contact.organization.npi = *npi;
      }
      readContactPoints(f, r, true, &contact.organization.points);
      if (const Json* address = r.get("address", Json::Type::kObject, false)) {
        contact.organization.address = readAddress(f, *address);
      }
      r.finish();
    }
    if (const Json* list = top.get("clinicians", Json::Type::kArray, false)) {
      for (const Json& item : list->items()) {
        if (!item.isObject()) {
          f.error(item, "structure", "contact clinicians: every clinician must be an object {...}");
          continue;
        }
        FieldReader r(f, item, "contact clinician");
        ClinicianContact c;
        if (auto name = r.string("name", true)) {
          c.name = *name;
          r.rename("contact clinician \"" + c.name + "\"");
        }
        if (auto npi = r.string("npi", true)) {
          c.npi = *npi;
          if (npi->size() != 10 || !allDigits(*npi)) {
            f.error(*item.find("npi"), "value", r.what() + ": \"npi\" must be 10 digits");
          } else if (std::any_of(contact.clinicians.begin(), contact.clinicians.end(),
                                 [&](const ClinicianContact& o) { return o.npi == c.npi; })) {
            f.error(*item.find("npi"), "duplicate",
                    r.what() + ": NPI " + c.npi + " is listed twice");
          }
        }
        if (auto phone = phoneField(f, r, "phone", true)) c.phone = *phone;
        r.finish();
        contact.clinicians.push_back(std::move(c));
      }
    }
    top.finish();
    if (errorCount() != errorsBefore) return;
    tables_.contact = std::move(contact);
    // Built and checked once here: every Bundle carries this entry as it is
    // (translateRecordJson does not validate it again).
    std::optional<fhir::Json> entry = translate_detail::buildOrganizationEntry(tables_);
    if (const fhir::Json* resource = entry ? entry->find("resource") : nullptr) {
      for (const fhir::Issue& issue : fhir::validateResource(*resource)) {
        if (issue.severity != fhir::Severity::kError && issue.severity != fhir::Severity::kFatal) {
          continue;
        }
        f.error(*node, "invariant",
                "practices.json contact: the Organization made from it is not valid FHIR at " +
                    issue.path + ": " + issue.message);
      }
      if (errorCount() == errorsBefore) {
        tables_.organizationEntry = std::make_shared<const fhir::Json>(std::move(*entry));
      }
    }
  }

  // A phone or fax number field.
  std::optional<std::string> phoneField(const FileContext& f, FieldReader& r, const char* key,
                                        bool required) {
    auto v = r.string(key, required);
    if (v && !isPhoneNumber(*v)) {
      f.error(*r.object().find(key), "value",
              r.what() + ": \"" + key +
                  "\" must be a telephone number (digits, spaces, + - ( ) . /, x or ext before an "
                  "extension; at least 7 digits), e.g. \"555-0100\"");
      return std::nullopt;
    }
    return v;
  }

  // phone, fax, email, direct of `r` over `*out`; `phoneRequired` for the
  // Organization. False on errors.
  bool readContactPoints(const FileContext& f, FieldReader& r, bool phoneRequired,
                         ContactPoints* out) {
    const std::size_t errorsBefore = errorCount();
    if (auto phone = phoneField(f, r, "phone", phoneRequired)) out->phone = *phone;
    if (auto fax = phoneField(f, r, "fax", false)) out->fax = *fax;
    for (const char* key : {"email", "direct"}) {
      auto v = r.string(key, false);
      if (!v) continue;
      if (!isMailAddress(*v)) {
        f.error(*r.object().find(key), "value",
                r.what() + ": \"" + key + "\" must be an address like name@example.org");
        continue;
      }
      (std::string_view(key) == "email" ? out->email : out->direct) = *v;
    }
    return errorCount() == errorsBefore;
  }

  PostalAddress readAddress(const FileContext& f, const Json& node) {
    FieldReader r(f, node, "contact organization address");
    PostalAddress a;
    a.line = r.stringList("line", false);
    for (auto [key, field] :
         {std::pair{"city", &a.city}, std::pair{"state", &a.state},
          std::pair{"postalCode", &a.postalCode}, std::pair{"country", &a.country}}) {
      if (auto v = r.string(key, false)) *field = *v;
    }
    r.finish();
    if (a.line.empty() && a.city.empty() && a.state.empty() && a.postalCode.empty() &&
        a.country.empty()) {
      f.error(node, "required",
              "contact organization address: give at least one of line, city, state, postalCode, "
              "country");
    }
    return a;
  }

  // practices.json "safety": the pain center's defaults for every practice.
  void loadSafetyDefaults() {
    const ParsedFile* pf = file("practices.json");
    if (!pf) return;
    const Json* node = pf->root.find("safety");
    if (!node) return;
    if (!node->isObject()) {
      pf->file->error(*node, "structure", "practices.json: \"safety\" must be an object {...}");
      return;
    }
    SafetySettings settings = tables_.safety;
    if (readSafety(*pf->file, *node, "practices.json", &settings)) {
      tables_.safety = std::move(settings);
    }
  }

  // Reads a "safety" section (docs/safety-loop.md) over `*out`; false on errors.
  bool readSafety(const FileContext& f, const Json& node, const std::string& owner,
                  SafetySettings* out) {
    bool ok = true;
    std::size_t errorsBefore = errorCount();
    FieldReader top(f, node, owner + " safety");
    if (auto sender = top.string("senderDisplay", false)) out->senderDisplay = *sender;
    if (const Json* rules = top.get("rules", Json::Type::kObject, false)) {
      for (const auto& [id, value] : rules->members()) {
        bool known = std::find(std::begin(kSafetyRuleIds), std::end(kSafetyRuleIds), id) !=
                     std::end(kSafetyRuleIds);
        if (!known) {
          std::string ids;
          for (std::string_view k : kSafetyRuleIds)
            ids += (ids.empty() ? "" : ", ") + std::string(k);
          f.errorAt(f.whereKey(value, id), "not-found",
                    owner + " safety: unknown rule \"" + id + "\" (rules: " + ids + ")");
          ok = false;
          continue;
        }
        if (!value.isObject()) {
          f.error(value, "structure",
                  owner + " safety rule \"" + id + "\" must be an object {...}");
          ok = false;
          continue;
        }
        if (!readSafetyRule(f, value, owner + " safety rule \"" + id + "\"", id, out)) ok = false;
      }
    } else if (node.find("rules")) {
      ok = false;
    }
    top.finish();
    return ok && errorCount() == errorsBefore;
  }

  std::size_t errorCount() const {
    return static_cast<std::size_t>(
        std::count_if(issues_->begin(), issues_->end(), [](const fhir::Issue& i) {
          return i.severity == fhir::Severity::kError || i.severity == fhir::Severity::kFatal;
        }));
  }

  bool readSafetyRule(const FileContext& f, const Json& node, const std::string& what,
                      const std::string& id, SafetySettings* out) {
    bool ok = true;
    FieldReader r(f, node, what);
    // Rule-specific fields, named in the "unknown field" message of this rule only.
    if (id == kRuleManagedEffect) r.allow("effects");
    if (id == kRuleOpioidSedative) {
      r.allow("sedativeClasses");
      r.allow("naloxoneClass");
      out->sedativeAlertOnEveryChange =
          r.boolean("alertOnEveryChange", out->sedativeAlertOnEveryChange);
    }
    if (id == kRuleMmeThreshold) {
      r.allow("thresholds");
      r.allow("urgentFrom");
    }
    if (id == kRuleSteroidGlucose) {
      r.allow("icd10Prefixes");
      r.allow("conditionWords");
    }
    if (id == kRuleMmeMismatch) {
      r.allow("percent");
      r.allow("mme");
    }
    SafetyRuleSettings& rule = out->rules[id];
    if (const Json* enabled = r.get("enabled", Json::Type::kBool, false)) {
      if (id == kAlwaysOnRule && !enabled->asBool()) {
        f.error(*enabled, "business-rule",
                what +
                    ": cannot be turned off (an entered-in-error record must never be a "
                    "silent change for primary care)");
        ok = false;
      } else {
        rule.enabled = enabled->asBool();
      }
    }
    if (const Json* wording = r.get("wording", Json::Type::kObject, false)) {
      for (const auto& [key, text] : wording->members()) {
        const SafetyTemplateSpec* spec = findSafetyTemplate(id, key);
        if (!spec) {
          std::string keys;
          for (const SafetyTemplateSpec& t : kSafetyTemplates) {
            if (t.rule == id) keys += (keys.empty() ? "" : ", ") + std::string(t.key);
          }
          f.errorAt(f.whereKey(text, key), "not-found",
                    what + ": unknown wording \"" + key + "\" (expected: " + keys + ")");
          ok = false;
          continue;
        }
        if (!text.isString() || text.text().empty() || !fhir::isValidString(text.text())) {
          f.error(text, "structure", what + ": wording \"" + key + "\" must be non-empty text");
          ok = false;
          continue;
        }
        std::vector<std::string> bad = badPlaceholders(text.text(), spec->placeholders);
        if (!bad.empty()) {
          std::string allowed;
          for (char c : spec->placeholders) {
            if (allowed.empty() || allowed.back() == ' ') allowed += '{';
            if (c == ' ') {
              allowed += "}, ";
            } else {
              allowed += c;
            }
          }
          if (!allowed.empty()) allowed += '}';
          f.error(text, "value",
                  what + ": wording \"" + key + "\" uses " + bad.front() +
                      (allowed.empty() ? "; it takes no placeholders (write { and } only "
                                         "around a placeholder)"
                                       : "; allowed: " + allowed +
                                             " (write { and } only around a placeholder)"));
          ok = false;
          continue;
        }
        rule.wording[key] = text.text();
      }
    } else if (node.find("wording")) {
      ok = false;
    }
    if (id == kRuleManagedEffect && node.find("effects")) {
      std::vector<std::string> effects = r.stringList("effects", false);
      for (const std::string& e : effects) {
        bool valid = false;
        for (const auto& c : kEffects) valid = valid || e == c.first;
        if (!valid) {
          f.error(itemNode(node, "effects", e), "code-invalid",
                  what + ": effect \"" + e + "\"; expected one of " + choiceList(kEffects));
          ok = false;
        }
      }
      out->managedEffects = std::move(effects);
    }
    if (id == kRuleOpioidSedative) {
      if (node.find("sedativeClasses")) {
        std::vector<std::string> classes = r.stringList("sedativeClasses", true);
        for (const std::string& c : classes) {
          if (!loaded("drug-classes.json") || classCodes_.count(c)) continue;
          f.error(itemNode(node, "sedativeClasses", c), "not-found",
                  what + ": class \"" + c + "\" is not defined in drug-classes.json");
          ok = false;
        }
        out->sedativeClasses = std::move(classes);
      }
      if (auto c = r.string("naloxoneClass", false)) {
        if (loaded("drug-classes.json") && !classCodes_.count(*c)) {
          f.error(*node.find("naloxoneClass"), "not-found",
                  what + ": class \"" + *c + "\" is not defined in drug-classes.json");
          ok = false;
        }
        out->naloxoneClass = *c;
      }
    }
    if (id == kRuleMmeThreshold) {
      if (const Json* list = r.get("thresholds", Json::Type::kArray, false)) {
        std::vector<double> values;
        for (const Json& item : list->items()) {
          std::optional<double> d = item.isNumber() ? item.toDouble() : std::nullopt;
          if (!d || *d <= 0 || (!values.empty() && *d <= values.back())) {
            f.error(item, "value",
                    what + ": \"thresholds\" must be positive numbers in ascending order");
            ok = false;
            break;
          }
          values.push_back(*d);
        }
        out->mmeThresholds = std::move(values);
      }
      if (auto u = r.number("urgentFrom", false)) out->mmeUrgentFrom = *u;
    }
    if (id == kRuleSteroidGlucose) {
      if (node.find("icd10Prefixes")) {
        out->diabetesIcd10Prefixes = r.stringList("icd10Prefixes", false);
      }
      if (node.find("conditionWords")) {
        out->diabetesWords = r.stringList("conditionWords", false);
      }
    }
    if (id == kRuleMmeMismatch) {
      for (const char* key : {"percent", "mme"}) {
        auto v = r.number(key, false);
        if (!v) continue;
        if (*v < 0) {
          f.error(*node.find(key), "value", what + ": \"" + key + "\" must not be negative");
          ok = false;
          continue;
        }
        (std::string_view(key) == "percent" ? out->mismatchPercent : out->mismatchMme) = *v;
      }
    }
    r.finish();
    return ok;
  }

  Issues* issues_;
  std::set<std::string> seen_;
  std::map<std::string, ParsedFile> files_;
  std::vector<const Json*> conversionNodes_;
  // Every code an entry declared, valid or not: references to an entry that
  // has its own errors are not reported again.
  std::set<std::string> unitNames_;
  std::set<std::string> measureCodes_;
  std::set<std::string> classCodes_;
  MappingTables tables_;
};

}  // namespace

TablesLoad loadMappingTables(const std::vector<TableFile>& files) {
  Issues issues;
  Loader loader(&issues);
  return loader.run(files);
}

}  // namespace inloop::mappings
