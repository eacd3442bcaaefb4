#include "fhir/validator.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fhir/primitives.h"
#include "fhir/structure_defs.h"

namespace inloop::fhir {

namespace {

constexpr std::string_view kSupportedResources[] = {
    "CarePlan",          "Goal",          "Observation", "MedicationStatement",
    "MedicationRequest", "Communication", "Provenance",  "OperationOutcome",
    "Patient",           "Bundle",
};

constexpr std::size_t kMaxEchoedChars = 64;

std::string child(const std::string& path, std::string_view name) {
  std::string p = path;
  p += '.';
  p += name;
  return p;
}

std::string indexed(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Quotes a short value for a message (codes, ids, uris: never free text, which
// may be patient data), cut at kMaxEchoedChars.
std::string quoted(std::string_view s) {
  std::string out = "'";
  out += s.substr(0, kMaxEchoedChars);
  if (s.size() > kMaxEchoedChars) out += "...";
  out += "'";
  return out;
}

bool isChoice(const ElementDef& e) { return e.name.ends_with("[x]"); }

std::string_view baseName(const ElementDef& e) {
  return isChoice(e) ? e.name.substr(0, e.name.size() - 3) : e.name;
}

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// A choice element's JSON name is its base name plus the type name with a
// capital first letter; profiles of Quantity use "Quantity" (doseQuantity).
bool suffixMatches(std::string_view suffix, std::string_view type) {
  if (type == "SimpleQuantity") type = "Quantity";
  if (suffix.empty() || suffix.size() != type.size()) return false;
  return suffix[0] == upper(type[0]) && suffix.substr(1) == type.substr(1);
}

struct Match {
  const ElementDef* def = nullptr;
  std::string_view type;
  int ownIndex = -1;  // index in TypeDef::elements, -1 for base elements
};

Match matchIn(std::span<const ElementDef> elements, std::string_view key, bool own) {
  for (std::size_t i = 0; i < elements.size(); ++i) {
    const ElementDef& e = elements[i];
    const int index = own ? static_cast<int>(i) : -1;
    if (!isChoice(e)) {
      if (e.name == key) return Match{&e, e.types, index};
      continue;
    }
    std::string_view base = baseName(e);
    if (key.size() <= base.size() || !key.starts_with(base)) continue;
    std::string_view suffix = key.substr(base.size());
    std::string_view types = e.types;
    while (!types.empty()) {
      std::size_t bar = types.find('|');
      std::string_view type = types.substr(0, bar);
      if (suffixMatches(suffix, type)) return Match{&e, type, index};
      if (bar == std::string_view::npos) break;
      types.remove_prefix(bar + 1);
    }
  }
  return Match{};
}

Match matchElement(const TypeDef& t, std::string_view key) {
  Match m = matchIn(t.elements, key, true);
  if (m.def != nullptr) return m;
  return matchIn(baseElements(t.kind), key, false);
}

bool isResourceKind(TypeKind kind) {
  return kind == TypeKind::kResource || kind == TypeKind::kDomainResource;
}

bool isQuantityType(std::string_view name) {
  return name == "Quantity" || name == "SimpleQuantity" || name == "Age" || name == "Count" ||
         name == "Distance" || name == "Duration";
}

// True if `obj` has any variant of the choice element `base` ("value" ->
// valueQuantity, _valueString...).
bool hasChoice(const Json& obj, std::string_view base) {
  for (const Json::Member& m : obj.members()) {
    std::string_view key = m.first;
    if (key.starts_with('_')) key.remove_prefix(1);
    if (key.size() > base.size() && key.starts_with(base) && key[base.size()] >= 'A' &&
        key[base.size()] <= 'Z') {
      return true;
    }
  }
  return false;
}

bool has(const Json& obj, std::string_view name) {
  if (obj.find(name) != nullptr) return true;
  std::string companion = "_";
  companion += name;
  return obj.find(companion) != nullptr;
}

const std::string* stringAt(const Json& obj, std::string_view name) {
  const Json* v = obj.find(name);
  return (v != nullptr && v->isString()) ? &v->text() : nullptr;
}

// base64Binary: the base64 alphabet in groups of four, '=' padding at the end
// only; whitespace is allowed by the R4 regex.
bool isValidBase64(std::string_view s) {
  std::size_t n = 0;
  std::size_t pad = 0;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=') {
      ++pad;
      ++n;
      continue;
    }
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (pad > 0 || !(alnum || c == '+' || c == '/')) return false;
    ++n;
  }
  return n > 0 && n % 4 == 0 && pad <= 2;
}

// Narrative.div: an XHTML <div> in the XHTML namespace. Returns why not, or
// nullptr. The content itself is not parsed.
const char* xhtmlProblem(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  if (!s.starts_with("<div") || s.size() < 5 ||
      !(s[4] == ' ' || s[4] == '>' || s[4] == '/' || s[4] == '\n' || s[4] == '\t' ||
        s[4] == '\r')) {
    return "narrative div must start with <div";
  }
  std::size_t close = s.find('>');
  if (close == std::string_view::npos) return "narrative div start tag is not closed";
  std::string_view open = s.substr(0, close);
  if (open.find("xmlns=\"http://www.w3.org/1999/xhtml\"") == std::string_view::npos &&
      open.find("xmlns='http://www.w3.org/1999/xhtml'") == std::string_view::npos) {
    return "narrative div must declare xmlns=\"http://www.w3.org/1999/xhtml\"";
  }
  if (!open.ends_with("/") && !s.ends_with("</div>")) return "narrative div must end with </div>";
  // txt-1 (only basic HTML, no active content), for the cases that matter when a
  // receiver renders the narrative: scripts, frames, forms, styles, event handlers.
  std::string lower(s);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  constexpr std::string_view kActive[] = {
      "<script",     "<iframe",   "<frame",   "<object",   "<embed",       "<form",
      "<input",      "<button",   "<style",   "<link",     "<meta",        "<base",
      "javascript:", " onclick=", " onload=", " onerror=", " onmouseover="};
  for (std::string_view a : kActive) {
    if (lower.find(a) != std::string::npos) {
      return "txt-1: the narrative SHALL contain only basic HTML (no scripts, frames, forms, "
             "styles or event handlers)";
    }
  }
  // txt-2: some non-whitespace content outside the tags (an image counts).
  bool content = lower.find("<img") != std::string::npos;
  bool inTag = false;
  for (char c : s) {
    if (c == '<') inTag = true;
    if (!inTag && c != ' ' && c != '\t' && c != '\r' && c != '\n') content = true;
    if (c == '>') inTag = false;
  }
  if (!content) return "txt-2: the narrative SHALL have some non-whitespace content";
  return nullptr;
}

enum class Role {
  kRoot,       // the document, a Bundle entry resource, a response outcome: own %rootResource
  kContained,  // in `contained`: ref-1 resolves against the container
};

class Validator {
 public:
  Validator(const ValidationOptions& options, Issues* issues)
      : options_(options), issues_(issues) {}

  void resource(const Json& r, const std::string& path, Role role);

 private:
  void object(const Json& v, const TypeDef& t, const std::string& path);
  void element(const Json& v, const Json* companion, const ElementDef& e, std::string_view type,
               const std::string& path);
  void item(const Json& v, const ElementDef& e, std::string_view type, const std::string& path);
  void primitiveExtension(const Json& v, const Json* partner, const ElementDef& e,
                          const std::string& path);
  void primitive(const Json& v, std::string_view type, std::string_view binding,
                 const std::string& path);
  void invariants(const Json& v, const TypeDef& t, const std::string& path);
  void quantity(const Json& v, std::string_view type, const std::string& path);
  void period(const Json& v, const std::string& path);
  void range(const Json& v, const std::string& path);
  void reference(const Json& v, const std::string& path);
  void timingRepeat(const Json& v, const std::string& path);
  void observation(const Json& v, const std::string& path);
  void bundle(const Json& v, const std::string& path);
  void domainResource(const Json& r, const std::string& path, Role role);

  void add(Severity severity, std::string_view code, const std::string& path, std::string message);
  void error(std::string_view code, const std::string& path, std::string message) {
    add(Severity::kError, code, path, std::move(message));
  }
  void warning(std::string_view code, const std::string& path, std::string message) {
    add(Severity::kWarning, code, path, std::move(message));
  }

  const ValidationOptions& options_;
  Issues* issues_;
  bool truncated_ = false;
  const Json* root_ = nullptr;  // %rootResource, for ref-1
};

void Validator::add(Severity severity, std::string_view code, const std::string& path,
                    std::string message) {
  if (truncated_) return;
  if (issues_->size() >= options_.maxIssues) {
    truncated_ = true;
    issues_->push_back(Issue{
        Severity::kError, "too-costly", path,
        "more than " + std::to_string(options_.maxIssues) + " issues; the rest are not reported"});
    return;
  }
  issues_->push_back(Issue{severity, std::string(code), path, std::move(message)});
}

void Validator::resource(const Json& r, const std::string& path, Role role) {
  const std::string where = path.empty() ? std::string("resourceType") : path;
  if (!r.isObject()) {
    error("structure", where, "a resource must be a JSON object");
    return;
  }
  const Json* type = r.find("resourceType");
  if (type == nullptr) {
    error("required", where, "resourceType is missing");
    return;
  }
  if (!type->isString()) {
    error("structure", where, "resourceType must be a string");
    return;
  }
  const TypeDef* t = isSupportedResourceType(type->text()) ? findType(type->text()) : nullptr;
  if (t == nullptr) {
    error("not-supported", where,
          "resource type " + quoted(type->text()) + " is not supported by this validator");
    return;
  }
  const std::string base = path.empty() ? type->text() : path;
  const Json* savedRoot = root_;
  if (role == Role::kRoot) root_ = &r;
  object(r, *t, base);
  if (t->kind == TypeKind::kDomainResource) domainResource(r, base, role);
  root_ = savedRoot;
}

void Validator::domainResource(const Json& r, const std::string& path, Role role) {
  if (role == Role::kContained) {
    if (r.find("contained") != nullptr) {
      error("invariant", child(path, "contained"),
            "dom-2: a contained resource SHALL NOT contain additional contained resources");
    }
    if (const Json* meta = r.find("meta"); meta != nullptr && meta->isObject()) {
      if (has(*meta, "versionId") || has(*meta, "lastUpdated")) {
        error("invariant", child(path, "meta"),
              "dom-4: a contained resource SHALL NOT have a meta.versionId or meta.lastUpdated");
      }
      if (has(*meta, "security")) {
        error("invariant", child(path, "meta"),
              "dom-5: a contained resource SHALL NOT have a security label");
      }
    }
    // dom-3 (every contained resource is referenced) needs a walk of all
    // references; not checked.
    return;
  }
  if (!options_.warnMissingNarrative) return;
  // dom-6 is a guideline ("best practice") in R4, hence a warning; neither
  // Medplum nor FHIR.js report it at all.
  const Json* text = r.find("text");
  if (text == nullptr || !text->isObject() || text->find("div") == nullptr) {
    warning("invariant", path,
            "dom-6: a resource should have narrative for robust management (text.div)");
  }
}

void Validator::object(const Json& v, const TypeDef& t, const std::string& path) {
  if (!v.isObject()) {
    error("structure", path, "expected a JSON object (" + std::string(t.name) + ")");
    return;
  }
  if (v.members().empty()) {
    error("invariant", path, "ele-1: empty object; every element must have a value or children");
    return;
  }
  const bool isResource = isResourceKind(t.kind);
  std::vector<int> counts(t.elements.size(), 0);
  std::vector<std::string_view> variants(t.elements.size());
  bool onlyId = true;
  for (const Json::Member& member : v.members()) {
    const std::string& key = member.first;
    const Json& value = member.second;
    if (isResource && key == "resourceType") continue;
    if (key != "id") onlyId = false;
    const bool underscore = key.starts_with('_');
    std::string_view name = underscore ? std::string_view(key).substr(1) : std::string_view(key);
    Match m = matchElement(t, name);
    const bool isPrimitive = m.def != nullptr && isPrimitiveType(m.type);
    if (m.def == nullptr || (underscore && !isPrimitive)) {
      error("structure", child(path, key),
            "unknown element " + quoted(key) + " in " + std::string(t.name));
      continue;
    }
    const Json* partner = nullptr;
    if (underscore) {
      partner = v.find(name);
      primitiveExtension(value, partner, *m.def, child(path, name));
      if (partner != nullptr) continue;  // counted with the value itself
    } else {
      const Json* companion = isPrimitive ? v.find("_" + key) : nullptr;
      element(value, companion, *m.def, m.type, child(path, key));
    }
    if (m.ownIndex < 0) continue;
    const auto i = static_cast<std::size_t>(m.ownIndex);
    counts[i] += value.isArray() ? static_cast<int>(value.size()) : 1;
    if (isChoice(*m.def)) {
      if (!variants[i].empty() && variants[i] != name) {
        error("structure", child(path, name),
              "only one variant of " + std::string(m.def->name) + " is allowed, found " +
                  std::string(variants[i]) + " and " + std::string(name));
      }
      variants[i] = name;
    }
  }
  if (onlyId && !isResource) {
    error("invariant", path, "ele-1: element has an id but no value and no children");
  }
  for (std::size_t i = 0; i < t.elements.size(); ++i) {
    const ElementDef& e = t.elements[i];
    if (counts[i] < e.min) {
      error("required", child(path, e.name),
            "missing required element " + std::string(e.name) + " (min " + std::to_string(e.min) +
                ")");
    }
  }
  invariants(v, t, path);
}

void Validator::element(const Json& v, const Json* companion, const ElementDef& e,
                        std::string_view type, const std::string& path) {
  if (e.max <= 1) {
    if (v.isArray()) {
      error("structure", path,
            "must be a single value, not an array (max cardinality " + std::to_string(e.max) + ")");
      return;
    }
    item(v, e, type, path);
    return;
  }
  if (!v.isArray()) {
    error("structure", path, "must be an array (max cardinality *)");
    return;
  }
  if (v.items().empty()) {
    error("invariant", path, "ele-1: empty array; leave the element out instead");
    return;
  }
  if (v.size() > static_cast<std::size_t>(e.max)) {
    error("structure", path,
          "too many items: " + std::to_string(v.size()) + " (max " + std::to_string(e.max) + ")");
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Json& it = v.items()[i];
    const bool extended = companion != nullptr && companion->isArray() && i < companion->size() &&
                          companion->items()[i].isObject();
    // In a primitive array, null marks an item whose value lives only in `_name`.
    if (it.isNull() && extended) continue;
    item(it, e, type, indexed(path, i));
  }
}

void Validator::item(const Json& v, const ElementDef& e, std::string_view type,
                     const std::string& path) {
  if (v.isNull()) {
    error("structure", path, "null is not allowed; leave the element out instead");
    return;
  }
  if (isPrimitiveType(type)) {
    primitive(v, type, e.binding, path);
    return;
  }
  if (type == "Resource") {
    resource(v, path, e.name == "contained" ? Role::kContained : Role::kRoot);
    return;
  }
  const TypeDef* t = findType(type);
  if (t == nullptr) {
    // A legal R4 type this validator does not model (e.g. SampledData).
    if (!v.isObject()) {
      error("structure", path, "expected a JSON object (" + std::string(type) + ")");
    } else {
      warning("not-supported", path,
              "type " + std::string(type) + " is not checked by this validator");
    }
    return;
  }
  object(v, *t, path);
}

void Validator::primitiveExtension(const Json& v, const Json* partner, const ElementDef& e,
                                   const std::string& path) {
  const TypeDef* element = findType("Element");
  if (e.max <= 1) {
    if (v.isArray()) {
      error("structure", path, "primitive extension must be a single object");
      return;
    }
    object(v, *element, path);
    return;
  }
  if (!v.isArray()) {
    error("structure", path, "primitive extension of a repeating element must be an array");
    return;
  }
  if (v.items().empty()) {
    error("invariant", path, "ele-1: empty array; leave the element out instead");
    return;
  }
  if (partner != nullptr && partner->isArray() && partner->size() != v.size()) {
    error("structure", path,
          "primitive extension array must have as many items as the value array");
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Json& it = v.items()[i];
    if (it.isNull()) continue;
    object(it, *element, indexed(path, i));
  }
}

void Validator::primitive(const Json& v, std::string_view type, std::string_view binding,
                          const std::string& path) {
  const std::string typeName(type);
  if (type == "boolean") {
    if (!v.isBool()) error("structure", path, "expected true or false (boolean)");
    return;
  }
  if (type == "integer" || type == "positiveInt" || type == "unsignedInt") {
    if (!v.isNumber()) {
      error("structure", path, "expected a JSON number (" + typeName + ")");
      return;
    }
    std::optional<std::int64_t> n = v.toInt64();
    if (!isValidInteger(v.text()) || !n) {
      error("value", path, quoted(v.text()) + " is not a valid " + typeName);
    } else if (type == "positiveInt" && *n < 1) {
      error("value", path, "positiveInt must be 1 or more");
    } else if (type == "unsignedInt" && *n < 0) {
      error("value", path, "unsignedInt must be 0 or more");
    }
    return;
  }
  if (type == "decimal") {
    if (!v.isNumber()) {
      error("structure", path, "expected a JSON number (decimal)");
    } else if (!isValidDecimal(v.text())) {
      error("value", path, quoted(v.text()) + " is not a valid decimal");
    }
    return;
  }
  if (!v.isString()) {
    error("structure", path, "expected a JSON string (" + typeName + ")");
    return;
  }
  const std::string& s = v.text();
  if (s.empty()) {
    error("value", path, "ele-1: empty string; leave the element out instead");
    return;
  }
  // Only codes, ids and uris are quoted back: strings and dates may be patient data.
  bool ok = true;
  std::string expect;
  if (type == "string" || type == "markdown") {
    ok = isValidString(s);
    expect = "must contain non-whitespace characters and no control characters";
  } else if (type == "code") {
    ok = isValidCode(s);
    expect = quoted(s) + " is not a valid code (no leading/trailing or double spaces)";
  } else if (type == "id") {
    ok = isValidId(s);
    expect = quoted(s) + " is not a valid id ([A-Za-z0-9-.]{1,64})";
  } else if (type == "uri" || type == "url" || type == "canonical") {
    ok = isValidUri(s);
    expect = "is not a valid " + typeName + " (no whitespace or control characters)";
  } else if (type == "oid") {
    ok = isValidUri(s) && s.starts_with("urn:oid:");
    expect = "is not a valid oid (urn:oid:...)";
  } else if (type == "uuid") {
    ok = isValidUri(s) && s.starts_with("urn:uuid:");
    expect = "is not a valid uuid (urn:uuid:...)";
  } else if (type == "date") {
    ok = isValidDate(s);
    expect = "is not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)";
  } else if (type == "dateTime") {
    ok = isValidDateTime(s);
    expect = "is not a valid dateTime (a date, or YYYY-MM-DDThh:mm:ss with a time zone)";
  } else if (type == "instant") {
    ok = isValidInstant(s);
    expect = "is not a valid instant (YYYY-MM-DDThh:mm:ss[.sss] with a time zone)";
  } else if (type == "time") {
    ok = isValidTime(s);
    expect = "is not a valid time (hh:mm:ss)";
  } else if (type == "base64Binary") {
    ok = isValidBase64(s);
    expect = "is not valid base64Binary";
  } else if (type == "xhtml") {
    const char* problem = xhtmlProblem(s);
    ok = problem == nullptr;
    if (!ok) expect = problem;
  }
  if (!ok) {
    error("value", path, expect.starts_with("is ") ? "value " + expect : expect);
    return;
  }
  if (!binding.empty() && !valueSetContains(binding, s)) {
    error("code-invalid", path,
          quoted(s) + " is not in the required value set " + std::string(binding) + " (" +
              std::string(findValueSet(binding)) + ")");
  }
}

void Validator::invariants(const Json& v, const TypeDef& t, const std::string& path) {
  const std::string_view name = t.name;
  if (isQuantityType(name)) {
    quantity(v, name, path);
  } else if (name == "Period") {
    period(v, path);
  } else if (name == "Range") {
    range(v, path);
  } else if (name == "Ratio") {
    // rat-1: numerator and denominator both present or both absent, and then
    // an extension.
    const bool num = has(v, "numerator");
    const bool den = has(v, "denominator");
    if (num != den || (!num && !has(v, "extension"))) {
      error("invariant", path,
            "rat-1: numerator and denominator SHALL both be present, or both absent with an "
            "extension present");
    }
  } else if (name == "Reference") {
    reference(v, path);
  } else if (name == "Attachment") {
    if (has(v, "data") && !has(v, "contentType")) {
      error("invariant", path, "att-1: if the Attachment has data, it SHALL have a contentType");
    }
  } else if (name == "ContactPoint") {
    if (has(v, "value") && !has(v, "system")) {
      error("invariant", path, "cpt-2: a system is required if a value is provided");
    }
  } else if (name == "Extension") {
    if (has(v, "extension") == hasChoice(v, "value")) {
      error("invariant", path,
            "ext-1: an Extension must have either extensions or value[x], not both");
    }
  } else if (name == "Timing.repeat") {
    timingRepeat(v, path);
  } else if (name == "CarePlan.activity") {
    if (has(v, "detail") && has(v, "reference")) {
      error("invariant", path,
            "cpl-3: provide a reference or detail, not both (CarePlan.activity)");
    }
  } else if (name == "Goal.target") {
    if (hasChoice(v, "detail") && !has(v, "measure")) {
      error("invariant", path, "gol-1: Goal.target.measure is required if detail[x] is present");
    }
  } else if (name == "Observation") {
    observation(v, path);
  } else if (name == "Observation.referenceRange") {
    if (!has(v, "low") && !has(v, "high") && !has(v, "text")) {
      error("invariant", path,
            "obs-3: a referenceRange must have at least a low or a high or text");
    }
  } else if (name == "Patient.contact") {
    if (!has(v, "name") && !has(v, "telecom") && !has(v, "address") && !has(v, "organization")) {
      error("invariant", path,
            "pat-1: a contact SHALL at least contain contact details or a reference to an "
            "organization");
    }
  } else if (name == "Bundle") {
    bundle(v, path);
  }
}

void Validator::quantity(const Json& v, std::string_view type, const std::string& path) {
  if (has(v, "code") && !has(v, "system")) {
    error("invariant", path,
          "qty-3: if a code for the unit is present, the system SHALL also be present");
  }
  if (type == "SimpleQuantity" && has(v, "comparator")) {
    error("invariant", child(path, "comparator"),
          "sqty-1: the comparator is not used on a SimpleQuantity");
  }
}

void Validator::period(const Json& v, const std::string& path) {
  const std::string* start = stringAt(v, "start");
  const std::string* end = stringAt(v, "end");
  if (start == nullptr || end == nullptr) return;
  if (!isValidDateTime(*start) || !isValidDateTime(*end)) return;  // reported already
  const bool startTimed = start->find('T') != std::string::npos;
  const bool endTimed = end->find('T') != std::string::npos;
  bool after = false;
  if (startTimed && endTimed) {
    std::optional<std::int64_t> a = toEpochMillis(*start);
    std::optional<std::int64_t> b = toEpochMillis(*end);
    after = a && b && *a > *b;
  } else {
    // Dates of different precision are compared on their common prefix
    // ("2026-03" is after "2026-02-15"); FHIRPath leaves a date compared to a
    // dateTime undetermined, so a timed side is cut to its date, which only
    // flags periods that end on an earlier calendar date.
    std::string_view a = std::string_view(*start).substr(0, startTimed ? 10 : start->size());
    std::string_view b = std::string_view(*end).substr(0, endTimed ? 10 : end->size());
    const std::size_t n = std::min(a.size(), b.size());
    after = a.substr(0, n) > b.substr(0, n);
    // A time-zone offset can move a timed value across midnight: be lenient.
    if (startTimed != endTimed && after) {
      std::optional<std::int64_t> ma = toEpochMillis(a.size() == 10 ? a : std::string_view());
      std::optional<std::int64_t> mb = toEpochMillis(b.size() == 10 ? b : std::string_view());
      if (ma && mb && *ma - *mb <= 24LL * 3600 * 1000) after = false;
    }
  }
  if (after) error("invariant", path, "per-1: if present, start SHALL have a lower value than end");
}

void Validator::range(const Json& v, const std::string& path) {
  const Json* low = v.find("low");
  const Json* high = v.find("high");
  if (low == nullptr || high == nullptr || !low->isObject() || !high->isObject()) return;
  const Json* lv = low->find("value");
  const Json* hv = high->find("value");
  if (lv == nullptr || hv == nullptr) return;
  // Only quantities in the same unit are comparable without UCUM conversion.
  const std::string* lc = stringAt(*low, "code");
  const std::string* hc = stringAt(*high, "code");
  if ((lc == nullptr) != (hc == nullptr) || (lc != nullptr && *lc != *hc)) return;
  std::optional<double> l = lv->toDouble();
  std::optional<double> h = hv->toDouble();
  if (l && h && *l > *h) {
    error("invariant", path, "rng-2: if present, low SHALL have a lower value than high");
  }
}

void Validator::reference(const Json& v, const std::string& path) {
  const std::string* ref = stringAt(v, "reference");
  if (ref == nullptr || !ref->starts_with('#')) return;
  const std::string_view id = std::string_view(*ref).substr(1);
  bool found = false;
  if (const Json* contained = root_ != nullptr ? root_->find("contained") : nullptr;
      contained != nullptr && !id.empty()) {
    for (const Json& c : contained->items()) {
      const std::string* cid = c.isObject() ? stringAt(c, "id") : nullptr;
      if (cid != nullptr && *cid == id) found = true;
    }
  }
  if (!found) {
    error("invariant", child(path, "reference"),
          "ref-1: local reference " + quoted(*ref) +
              " SHALL resolve to a contained resource with that id");
  }
}

void Validator::timingRepeat(const Json& v, const std::string& path) {
  auto value = [&](std::string_view name) -> std::optional<double> {
    const Json* j = v.find(name);
    return (j != nullptr && j->isNumber()) ? j->toDouble() : std::nullopt;
  };
  if (has(v, "duration") && !has(v, "durationUnit")) {
    error("invariant", path, "tim-1: if there's a duration, there needs to be duration units");
  }
  if (has(v, "period") && !has(v, "periodUnit")) {
    error("invariant", path, "tim-2: if there's a period, there needs to be period units");
  }
  if (auto d = value("duration"); d && *d < 0) {
    error("invariant", path, "tim-4: duration SHALL be a non-negative value");
  }
  if (auto p = value("period"); p && *p < 0) {
    error("invariant", path, "tim-5: period SHALL be a non-negative value");
  }
  if (has(v, "periodMax") && !has(v, "period")) {
    error("invariant", path, "tim-6: if there's a periodMax, there must be a period");
  }
  if (has(v, "durationMax") && !has(v, "duration")) {
    error("invariant", path, "tim-7: if there's a durationMax, there must be a duration");
  }
  if (has(v, "countMax") && !has(v, "count")) {
    error("invariant", path, "tim-8: if there's a countMax, there must be a count");
  }
}

void Validator::observation(const Json& v, const std::string& path) {
  const bool hasValue = hasChoice(v, "value");
  if (hasValue && has(v, "dataAbsentReason")) {
    error("invariant", child(path, "dataAbsentReason"),
          "obs-6: dataAbsentReason SHALL only be present if Observation.value[x] is not present");
  }
  // obs-7 (R4): "If Observation.code is the same as an Observation.component.code
  // then the value element associated with the code SHALL NOT be present", i.e.
  // value.empty() or component.code.where(coding.intersect(%resource.code.coding)
  // .exists()).empty(). Codings are compared on system and code (judgement call:
  // FHIRPath intersect compares whole Codings, so a differing display would
  // slip through there; the same system+code is the same concept).
  const Json* components = v.find("component");
  const Json* code = v.find("code");
  if (!hasValue || components == nullptr || code == nullptr || !code->isObject()) return;
  const Json* codings = code->find("coding");
  if (codings == nullptr) return;
  for (std::size_t i = 0; i < components->items().size(); ++i) {
    const Json& c = components->items()[i];
    const Json* cc = c.isObject() ? c.find("code") : nullptr;
    const Json* ccodings = (cc != nullptr && cc->isObject()) ? cc->find("coding") : nullptr;
    if (ccodings == nullptr) continue;
    bool same = false;
    for (const Json& a : codings->items()) {
      for (const Json& b : ccodings->items()) {
        if (!a.isObject() || !b.isObject()) continue;
        const std::string* as = stringAt(a, "system");
        const std::string* ac = stringAt(a, "code");
        const std::string* bs = stringAt(b, "system");
        const std::string* bc = stringAt(b, "code");
        if (ac != nullptr && bc != nullptr && *ac == *bc &&
            ((as == nullptr && bs == nullptr) || (as != nullptr && bs != nullptr && *as == *bs))) {
          same = true;
        }
      }
    }
    if (same) {
      error("invariant", child(indexed(child(path, "component"), i), "code"),
            "obs-7: a component has the same code as Observation.code, so Observation.value[x] "
            "SHALL NOT be present");
    }
  }
}

void Validator::bundle(const Json& v, const std::string& path) {
  const std::string* typePtr = stringAt(v, "type");
  const std::string type = typePtr != nullptr ? *typePtr : std::string();
  if (has(v, "total") && type != "searchset" && type != "history") {
    error("invariant", child(path, "total"),
          "bdl-1: total only when a search or history (Bundle.type searchset or history)");
  }
  if (type == "document") {
    const Json* id = v.find("identifier");
    if (id == nullptr || !id->isObject() || !has(*id, "system") || !has(*id, "value")) {
      error("invariant", path,
            "bdl-9: a document must have an identifier with a system and a value");
    }
    if (!has(v, "timestamp")) error("invariant", path, "bdl-10: a document must have a date");
  }
  const Json* entries = v.find("entry");
  if (entries == nullptr) return;
  const bool needsRequest = type == "batch" || type == "transaction" || type == "history";
  const bool needsResponse =
      type == "batch-response" || type == "transaction-response" || type == "history";
  std::vector<std::string> seen;
  for (std::size_t i = 0; i < entries->items().size(); ++i) {
    const Json& e = entries->items()[i];
    if (!e.isObject()) continue;
    const std::string p = indexed(child(path, "entry"), i);
    if (has(e, "search") && type != "searchset") {
      error("invariant", child(p, "search"), "bdl-2: entry.search only when a search");
    }
    if (needsRequest && !has(e, "request")) {
      error("invariant", p,
            "bdl-3: entry.request mandatory for batch/transaction/history, otherwise prohibited");
    } else if (!needsRequest && has(e, "request")) {
      error("invariant", child(p, "request"),
            "bdl-3: entry.request mandatory for batch/transaction/history, otherwise prohibited");
    }
    if (needsResponse && !has(e, "response")) {
      error("invariant", p,
            "bdl-4: entry.response mandatory for batch-response/transaction-response/history, "
            "otherwise prohibited");
    } else if (!needsResponse && has(e, "response")) {
      error("invariant", child(p, "response"),
            "bdl-4: entry.response mandatory for batch-response/transaction-response/history, "
            "otherwise prohibited");
    }
    if (!has(e, "resource") && !has(e, "request") && !has(e, "response")) {
      error("invariant", p, "bdl-5: an entry must have a resource, a request or a response");
    }
    const std::string* fullUrl = stringAt(e, "fullUrl");
    if (fullUrl == nullptr) continue;
    if (fullUrl->find("/_history/") != std::string::npos) {
      error("invariant", child(p, "fullUrl"),
            "bdl-8: fullUrl cannot be a version specific reference");
    }
    if (type == "history") continue;
    std::string key = *fullUrl;
    const Json* resource = e.find("resource");
    const Json* meta =
        (resource != nullptr && resource->isObject()) ? resource->find("meta") : nullptr;
    const std::string* version =
        (meta != nullptr && meta->isObject()) ? stringAt(*meta, "versionId") : nullptr;
    key += '\n';
    if (version != nullptr) key += *version;
    bool duplicate = false;
    for (const std::string& s : seen) duplicate = duplicate || s == key;
    if (duplicate) {
      error("invariant", child(p, "fullUrl"),
            "bdl-7: fullUrl " + quoted(*fullUrl) +
                " is not unique in the Bundle (same fullUrl needs a different meta.versionId)");
    } else {
      seen.push_back(std::move(key));
    }
  }
}

}  // namespace

bool isSupportedResourceType(std::string_view resourceType) {
  for (std::string_view s : kSupportedResources) {
    if (s == resourceType) return true;
  }
  return false;
}

Issues validateResource(const Json& resource, const ValidationOptions& options) {
  Issues issues;
  Validator(options, &issues).resource(resource, std::string(), Role::kRoot);
  return issues;
}

}  // namespace inloop::fhir
