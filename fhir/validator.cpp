#include "fhir/validator.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fhir/primitives.h"
#include "fhir/structure_defs.h"

namespace inloop::fhir {

namespace {

constexpr std::string_view kSupportedResources[] = {
    "CarePlan",          "Goal",          "Observation", "MedicationStatement",
    "MedicationRequest", "Communication", "Provenance",  "OperationOutcome",
    "Patient",           "Organization",  "Bundle",
};

constexpr std::size_t kMaxEchoedChars = 64;

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

// The `_name` companion of a primitive element, found without building the key.
const Json* findCompanion(const Json& obj, std::string_view name) {
  for (const Json::Member& m : obj.members()) {
    const std::string& k = m.first;
    if (k.size() == name.size() + 1 && k[0] == '_' && std::string_view(k).substr(1) == name) {
      return &m.second;
    }
  }
  return nullptr;
}

bool has(const Json& obj, std::string_view name) {
  return obj.find(name) != nullptr || findCompanion(obj, name) != nullptr;
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

// True if `s` reads `lower` (ASCII lower case) ignoring ASCII case.
bool equalsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t k = 0; k < lower.size(); ++k) {
    char c = s[k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[k]) return false;
  }
  return true;
}

bool isXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// An attribute value as a browser would resolve its URL scheme: numeric
// character references decoded (ASCII only), ASCII letters lower-cased, and
// whitespace and control characters dropped ("JaVa&#x09;script:" reads
// "javascript:"). Only the first 32 characters matter for a scheme: they are
// written to `buffer` (no allocation; every attribute of every narrative
// passes here) and the view returned is into it.
std::string_view schemeView(std::string_view value, std::array<char, 32>& buffer) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < value.size() && n < buffer.size(); ++i) {
    unsigned c = static_cast<unsigned char>(value[i]);
    if (c == '&' && i + 2 < value.size() && value[i + 1] == '#') {
      const bool hex = value[i + 2] == 'x' || value[i + 2] == 'X';
      std::size_t j = i + (hex ? 3 : 2);
      unsigned code = 0;
      for (; j < value.size() && code < 0x110000; ++j) {
        const char d = value[j];
        if (d >= '0' && d <= '9') {
          code = code * (hex ? 16 : 10) + static_cast<unsigned>(d - '0');
        } else if (hex && ((d >= 'a' && d <= 'f') || (d >= 'A' && d <= 'F'))) {
          code = code * 16 + static_cast<unsigned>((d | 0x20) - 'a' + 10);
        } else {
          break;
        }
      }
      if (j < value.size() && value[j] == ';') ++j;
      c = code < 0x80 ? code : 0x80;
      i = j - 1;
    }
    if (c <= ' ' || c == 0x7F) continue;
    buffer[n++] = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return std::string_view(buffer.data(), n);
}

constexpr const char* kActiveContent =
    "txt-1: the narrative SHALL contain only basic HTML (no scripts, frames, forms, styles or "
    "event handlers)";

// txt-1 for one attribute of a start tag: event handlers (on*) and script URLs.
const char* attributeProblem(std::string_view name, std::string_view value) {
  if (name.size() > 2 && (name[0] | 0x20) == 'o' && (name[1] | 0x20) == 'n') return kActiveContent;
  if (value.empty()) return nullptr;
  std::array<char, 32> buffer;
  const std::string_view scheme = schemeView(value, buffer);
  if (scheme.starts_with("javascript:") || scheme.starts_with("vbscript:")) return kActiveContent;
  return nullptr;
}

// txt-1's elements with active content (scripts, frames, forms, styles, ...).
constexpr std::string_view kActiveTags[] = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
    "input",  "button", "style", "link",     "meta",   "base",  "svg",    "math"};
constexpr auto kActiveTagSizes = [] {
  std::pair<std::size_t, std::size_t> range{~std::size_t{0}, 0};
  for (std::string_view a : kActiveTags) {
    range.first = std::min(range.first, a.size());
    range.second = std::max(range.second, a.size());
  }
  return range;
}();

// True if the element name `name` (namespace prefix removed) is one of
// kActiveTags, ignoring ASCII case. The names narratives are made of (p, b,
// table, tr, td, ...) are told apart by length and first letter alone.
bool isActiveTag(std::string_view name) {
  if (name.size() < kActiveTagSizes.first || name.size() > kActiveTagSizes.second) return false;
  const char first = static_cast<char>(name[0] | 0x20);  // a letter's lower case
  for (std::string_view a : kActiveTags) {
    if (a.size() == name.size() && a[0] == first && equalsLower(name, a)) return true;
  }
  return false;
}

// Narrative.div: an XHTML <div> in the XHTML namespace. Returns why not, or
// nullptr. txt-1 is checked on the markup only (element names, attribute names
// and values); text between tags is content, whatever words it holds, so a
// note saying "see javascript: notes" or "onclick=" is fine once escaped.
const char* xhtmlProblem(std::string_view s) {
  while (!s.empty() && isXmlSpace(s.back())) s.remove_suffix(1);
  if (!s.starts_with("<div") || s.size() < 5 || !(isXmlSpace(s[4]) || s[4] == '>' || s[4] == '/')) {
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
  // receiver renders the narrative: scripts, frames, forms, styles, event
  // handlers, script URLs. Names are matched ignoring ASCII case and any
  // namespace prefix ("h:script").
  bool image = false;
  bool content = false;  // txt-2: non-whitespace text outside the tags
  const char* const data = s.data();
  std::size_t i = 0;
  while (i < s.size()) {
    const void* found = std::memchr(data + i, '<', s.size() - i);
    const std::size_t lt =
        found == nullptr ? s.size() : static_cast<std::size_t>(static_cast<const char*>(found) - data);
    for (std::size_t k = i; !content && k < lt; ++k) content = !isXmlSpace(data[k]);
    if (found == nullptr) break;
    const char next = lt + 1 < s.size() ? data[lt + 1] : '\0';
    if (next == '!') {
      const std::string_view rest = s.substr(lt);
      if (rest.starts_with("<!--")) {
        const std::size_t end = s.find("-->", lt + 4);
        if (end == std::string_view::npos) return "narrative div has an unclosed comment";
        i = end + 3;
        continue;
      }
      if (rest.starts_with("<![CDATA[")) {
        const std::size_t end = s.find("]]>", lt + 9);
        if (end == std::string_view::npos) return "narrative div has an unclosed CDATA section";
        for (std::size_t k = lt + 9; !content && k < end; ++k) content = !isXmlSpace(s[k]);
        i = end + 3;
        continue;
      }
    }
    if (next == '/' || next == '!' || next == '?') {
      // An end tag, a declaration or a processing instruction: no attributes.
      // End tags are short: a plain scan, not a library call.
      std::size_t gt = lt + 2;
      while (gt < s.size() && data[gt] != '>') ++gt;
      if (gt >= s.size()) return "narrative div has an unclosed tag";
      i = gt + 1;
      continue;
    }
    // A start tag: its name, then attributes name[=value], values quoted or not.
    std::size_t p = lt + 1;
    const std::size_t nameStart = p;
    while (p < s.size() && !isXmlSpace(s[p]) && s[p] != '>' && s[p] != '/') ++p;
    std::string_view name = s.substr(nameStart, p - nameStart);
    if (const std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
      name.remove_prefix(colon + 1);
    }
    if (isActiveTag(name)) return kActiveContent;
    image = image || equalsLower(name, "img");
    for (;;) {
      while (p < s.size() && (isXmlSpace(s[p]) || s[p] == '/')) ++p;
      if (p >= s.size()) return "narrative div has an unclosed tag";
      if (s[p] == '>') break;
      const std::size_t attrStart = p;
      while (p < s.size() && !isXmlSpace(s[p]) && s[p] != '=' && s[p] != '>' && s[p] != '/') ++p;
      const std::string_view attr = s.substr(attrStart, p - attrStart);
      while (p < s.size() && isXmlSpace(s[p])) ++p;
      std::string_view value;
      if (p < s.size() && s[p] == '=') {
        ++p;
        while (p < s.size() && isXmlSpace(s[p])) ++p;
        if (p < s.size() && (s[p] == '"' || s[p] == '\'')) {
          const std::size_t end = s.find(s[p], p + 1);
          if (end == std::string_view::npos) return "narrative div has an unclosed attribute value";
          value = s.substr(p + 1, end - p - 1);
          p = end + 1;
        } else {
          const std::size_t valueStart = p;
          while (p < s.size() && !isXmlSpace(s[p]) && s[p] != '>') ++p;
          value = s.substr(valueStart, p - valueStart);
        }
      }
      if (const char* problem = attributeProblem(attr, value)) return problem;
    }
    i = p + 1;
  }
  // txt-2: some non-whitespace content outside the tags (an image counts).
  if (image || content) return nullptr;
  return "txt-2: the narrative SHALL have some non-whitespace content";
}

// ---- Element paths ----------------------------------------------------------

// One step of an element path. Paths live on the stack as a chain of steps and
// are rendered to text only when an issue is reported: validating a valid
// resource builds no path strings at all.
struct Path {
  const Path* parent = nullptr;
  std::string_view name;  // a member name, or the first step's text
  std::size_t index = 0;
  bool isIndex = false;
};

Path member(const Path& parent, std::string_view name) { return Path{&parent, name, 0, false}; }
Path at(const Path& parent, std::size_t index) { return Path{&parent, {}, index, true}; }

void renderInto(const Path& p, std::string* out) {
  if (p.parent != nullptr) renderInto(*p.parent, out);
  if (p.isIndex) {
    out->push_back('[');
    out->append(std::to_string(p.index));
    out->push_back(']');
    return;
  }
  if (p.parent != nullptr) out->push_back('.');
  out->append(p.name);
}

std::string render(const Path& p) {
  std::string out;
  renderInto(p, &out);
  return out;
}

// ---- Element index, built once ------------------------------------------------

// The primitive types, resolved once from their names.
enum class Prim : std::uint8_t {
  kNone,  // not a primitive
  kBoolean,
  kInteger,
  kPositiveInt,
  kUnsignedInt,
  kDecimal,
  kString,
  kMarkdown,
  kCode,
  kId,
  kUri,
  kUrl,
  kCanonical,
  kOid,
  kUuid,
  kDate,
  kDateTime,
  kInstant,
  kTime,
  kBase64Binary,
  kXhtml,
  kOther,  // a primitive without a lexical check of its own
};

Prim primOf(std::string_view type) {
  if (!isPrimitiveType(type)) return Prim::kNone;
  static constexpr std::pair<std::string_view, Prim> kNames[] = {
      {"boolean", Prim::kBoolean},
      {"integer", Prim::kInteger},
      {"positiveInt", Prim::kPositiveInt},
      {"unsignedInt", Prim::kUnsignedInt},
      {"decimal", Prim::kDecimal},
      {"string", Prim::kString},
      {"markdown", Prim::kMarkdown},
      {"code", Prim::kCode},
      {"id", Prim::kId},
      {"uri", Prim::kUri},
      {"url", Prim::kUrl},
      {"canonical", Prim::kCanonical},
      {"oid", Prim::kOid},
      {"uuid", Prim::kUuid},
      {"date", Prim::kDate},
      {"dateTime", Prim::kDateTime},
      {"instant", Prim::kInstant},
      {"time", Prim::kTime},
      {"base64Binary", Prim::kBase64Binary},
      {"xhtml", Prim::kXhtml},
  };
  for (const auto& [name, prim] : kNames) {
    if (name == type) return prim;
  }
  return Prim::kOther;
}

// Which invariants a type carries (see Validator::invariants).
enum class Inv : std::uint8_t {
  kNone,
  kQuantity,
  kPeriod,
  kRange,
  kRatio,
  kReference,
  kAttachment,
  kContactPoint,
  kExtension,
  kTimingRepeat,
  kCarePlanActivity,
  kGoalTarget,
  kObservation,
  kObservationReferenceRange,
  kPatientContact,
  kOrganization,
  kBundle,
};

Inv invOf(std::string_view name) {
  if (isQuantityType(name)) return Inv::kQuantity;
  static constexpr std::pair<std::string_view, Inv> kNames[] = {
      {"Period", Inv::kPeriod},
      {"Range", Inv::kRange},
      {"Ratio", Inv::kRatio},
      {"Reference", Inv::kReference},
      {"Attachment", Inv::kAttachment},
      {"ContactPoint", Inv::kContactPoint},
      {"Extension", Inv::kExtension},
      {"Timing.repeat", Inv::kTimingRepeat},
      {"CarePlan.activity", Inv::kCarePlanActivity},
      {"Goal.target", Inv::kGoalTarget},
      {"Observation", Inv::kObservation},
      {"Observation.referenceRange", Inv::kObservationReferenceRange},
      {"Patient.contact", Inv::kPatientContact},
      {"Organization", Inv::kOrganization},
      {"Bundle", Inv::kBundle},
  };
  for (const auto& [n, inv] : kNames) {
    if (n == name) return inv;
  }
  return Inv::kNone;
}

struct CompiledType;

// One JSON name an element can appear under: its own name, or for a choice
// element one per allowed type ("valueQuantity", "valueString", ...).
struct Slot {
  std::string_view jsonName;
  const ElementDef* def = nullptr;
  std::string_view type;   // the concrete type for this name
  int ownIndex = -1;       // index in TypeDef::elements, -1 for base elements
  int requiredIndex = -1;  // index in CompiledType::required, -1 if not an own min > 0 element
  int choiceIndex = -1;    // index among the own choice elements, -1 if none
  Prim prim = Prim::kNone;
  bool isResource = false;                        // type "Resource"
  bool choice = false;                            // def is a choice element
  std::string_view bindingCodes;                  // codes of the required value set, '|' separated
  std::vector<std::string_view> bindingCodeList;  // the same, split once
  const CompiledType* target = nullptr;           // the complex type, if modelled
};

// A TypeDef with its JSON names in an open-addressing hash table.
struct CompiledType {
  const TypeDef* def = nullptr;
  Inv inv = Inv::kNone;
  bool isResource = false;
  std::vector<Slot> slots;
  std::vector<std::int16_t> table;  // slot index + 1, 0 = empty; size a power of two
  std::size_t mask = 0;
  // Own elements with min > 0 (indices in TypeDef::elements, in element order):
  // the only ones whose values object() counts.
  std::vector<std::size_t> required;
  // Own choice elements (indices in TypeDef::elements): one seen variant each.
  std::vector<std::size_t> choices;

  const Slot* find(std::string_view key) const {
    std::size_t h = hashOf(key) & mask;
    while (table[h] != 0) {
      const Slot& s = slots[static_cast<std::size_t>(table[h] - 1)];
      if (s.jsonName == key) return &s;
      h = (h + 1) & mask;
    }
    return nullptr;
  }

  // Length, first, middle and last byte, mixed by one multiplication: enough to
  // tell a type's element names apart (a collision costs one more probe).
  static std::size_t hashOf(std::string_view s) {
    if (s.empty()) return 0;
    const auto byteAt = [s](std::size_t i) -> std::uint64_t {
      return static_cast<unsigned char>(s[i]);
    };
    const std::uint64_t key =
        s.size() | byteAt(0) << 16 | byteAt(s.size() / 2) << 24 | byteAt(s.size() - 1) << 32;
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> 40);
  }
};

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// Storage for the JSON names of choice variants ("valueQuantity"), built once.
struct Index {
  std::vector<std::unique_ptr<std::string>> names;
  std::vector<CompiledType> types;  // never resized after construction
  const CompiledType* element = nullptr;
  std::vector<std::pair<std::string_view, const CompiledType*>> resources;

  const CompiledType* compiled(const TypeDef* t) const {
    for (const CompiledType& c : types) {
      if (c.def == t) return &c;
    }
    return nullptr;
  }
};

// Every allowed type of an element ("Quantity|string" -> Quantity, string).
template <typename F>
void forEachType(std::string_view types, F f) {
  while (!types.empty()) {
    const std::size_t bar = types.find('|');
    f(types.substr(0, bar));
    if (bar == std::string_view::npos) break;
    types.remove_prefix(bar + 1);
  }
}

// The reachable types: the supported resources, Element, and every type their
// elements name, transitively.
std::vector<const TypeDef*> reachableTypes() {
  std::vector<const TypeDef*> out;
  auto addType = [&](std::string_view name) {
    const TypeDef* t = findType(name);
    if (t != nullptr && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  };
  for (std::string_view r : kSupportedResources) addType(r);
  addType("Element");
  for (std::size_t i = 0; i < out.size(); ++i) {
    const TypeDef* t = out[i];
    for (const ElementDef& e : t->elements) forEachType(e.types, addType);
    for (const ElementDef& e : baseElements(t->kind)) forEachType(e.types, addType);
  }
  return out;
}

// The position of `i` in `list`, appended first if absent.
int indexIn(std::vector<std::size_t>& list, std::size_t i) {
  auto it = std::find(list.begin(), list.end(), i);
  if (it == list.end()) it = list.insert(list.end(), i);
  return static_cast<int>(it - list.begin());
}

void addSlots(Index& index, CompiledType& c, std::span<const ElementDef> elements, bool own) {
  for (std::size_t i = 0; i < elements.size(); ++i) {
    const ElementDef& e = elements[i];
    auto addSlot = [&](std::string_view jsonName, std::string_view type) {
      // The first element that matches a name wins, own elements before base ones.
      for (const Slot& s : c.slots) {
        if (s.jsonName == jsonName) return;
      }
      Slot s;
      s.jsonName = jsonName;
      s.def = &e;
      s.type = type;
      s.ownIndex = own ? static_cast<int>(i) : -1;
      if (own && e.min > 0) s.requiredIndex = indexIn(c.required, i);
      if (own && isChoice(e)) s.choiceIndex = indexIn(c.choices, i);
      s.prim = primOf(type);
      s.isResource = type == "Resource";
      s.choice = isChoice(e);
      s.bindingCodes = e.binding.empty() ? std::string_view() : findValueSet(e.binding);
      forEachType(s.bindingCodes, [&](std::string_view code) {
        if (!code.empty()) s.bindingCodeList.push_back(code);
      });
      s.target = s.prim == Prim::kNone && !s.isResource ? index.compiled(findType(type)) : nullptr;
      c.slots.push_back(s);
    };
    if (!isChoice(e)) {
      addSlot(e.name, e.types);
      continue;
    }
    // A choice element's JSON name is its base name plus the type name with a
    // capital first letter; profiles of Quantity use "Quantity" (doseQuantity).
    forEachType(e.types, [&](std::string_view type) {
      std::string_view suffix = type == "SimpleQuantity" ? std::string_view("Quantity") : type;
      if (suffix.empty()) return;
      auto name = std::make_unique<std::string>(baseName(e));
      name->push_back(upper(suffix[0]));
      name->append(suffix.substr(1));
      std::string_view view = *name;
      index.names.push_back(std::move(name));
      addSlot(view, type);
    });
  }
}

Index buildIndex() {
  Index index;
  const std::vector<const TypeDef*> defs = reachableTypes();
  index.types.resize(defs.size());
  for (std::size_t i = 0; i < defs.size(); ++i) index.types[i].def = defs[i];
  for (CompiledType& c : index.types) {
    c.inv = invOf(c.def->name);
    c.isResource = isResourceKind(c.def->kind);
    addSlots(index, c, c.def->elements, true);
    addSlots(index, c, baseElements(c.def->kind), false);
    std::size_t size = 8;
    while (size < c.slots.size() * 2) size *= 2;
    c.table.assign(size, 0);
    c.mask = size - 1;
    for (std::size_t s = 0; s < c.slots.size(); ++s) {
      std::size_t h = CompiledType::hashOf(c.slots[s].jsonName) & c.mask;
      while (c.table[h] != 0) h = (h + 1) & c.mask;
      c.table[h] = static_cast<std::int16_t>(s + 1);
    }
  }
  index.element = index.compiled(findType("Element"));
  for (std::string_view r : kSupportedResources) {
    if (const CompiledType* c = index.compiled(findType(r))) index.resources.emplace_back(r, c);
  }
  return index;
}

// Immutable after its thread-safe first-use construction.
const Index& theIndex() {
  static const Index index = buildIndex();
  return index;
}

const CompiledType* findResource(std::string_view type) {
  for (const auto& [name, c] : theIndex().resources) {
    if (name == type) return c;
  }
  return nullptr;
}

bool codeListContains(const std::vector<std::string_view>& codes, std::string_view code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// Up to this many own elements are counted on the stack.
constexpr std::size_t kStackElements = 64;

enum class Role {
  kRoot,       // the document, a Bundle entry resource, a response outcome: own %rootResource
  kContained,  // in `contained`: ref-1 resolves against the container
};

class Validator {
 public:
  Validator(const ValidationOptions& options, Issues* issues)
      : options_(options), issues_(issues) {}

  // `path` is null for the document itself.
  void resource(const Json& r, const Path* path, Role role);

 private:
  void object(const Json& v, const CompiledType& t, const Path& path);
  void element(const Json& v, const Json* companion, const Slot& s, const Path& path);
  void item(const Json& v, const Slot& s, const Path& path);
  void primitiveExtension(const Json& v, const Json* partner, const ElementDef& e,
                          const Path& path);
  void primitive(const Json& v, const Slot& s, const Path& path);
  void invariants(const Json& v, const CompiledType& t, const Path& path);
  void quantity(const Json& v, std::string_view type, const Path& path);
  void period(const Json& v, const Path& path);
  void range(const Json& v, const Path& path);
  void reference(const Json& v, const Path& path);
  void timingRepeat(const Json& v, const Path& path);
  void observation(const Json& v, const Path& path);
  void bundle(const Json& v, const Path& path);
  void domainResource(const Json& r, const Path& path, Role role);

  void add(Severity severity, std::string_view code, const Path& path, std::string message);
  void error(std::string_view code, const Path& path, std::string message) {
    add(Severity::kError, code, path, std::move(message));
  }
  void warning(std::string_view code, const Path& path, std::string message) {
    add(Severity::kWarning, code, path, std::move(message));
  }

  const ValidationOptions& options_;
  Issues* issues_;
  bool truncated_ = false;
  const Json* root_ = nullptr;  // %rootResource, for ref-1
};

void Validator::add(Severity severity, std::string_view code, const Path& path,
                    std::string message) {
  if (truncated_) return;
  if (issues_->size() >= options_.maxIssues) {
    truncated_ = true;
    issues_->push_back(Issue{
        Severity::kError, "too-costly", render(path),
        "more than " + std::to_string(options_.maxIssues) + " issues; the rest are not reported"});
    return;
  }
  issues_->push_back(Issue{severity, std::string(code), render(path), std::move(message)});
}

void Validator::resource(const Json& r, const Path* path, Role role) {
  const Path rootWhere{nullptr, "resourceType", 0, false};
  const Path& where = path == nullptr ? rootWhere : *path;
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
  const CompiledType* t = findResource(type->text());
  if (t == nullptr) {
    error("not-supported", where,
          "resource type " + quoted(type->text()) + " is not supported by this validator");
    return;
  }
  const Path rootBase{nullptr, type->text(), 0, false};
  const Path& base = path == nullptr ? rootBase : *path;
  const Json* savedRoot = root_;
  if (role == Role::kRoot) root_ = &r;
  object(r, *t, base);
  if (t->def->kind == TypeKind::kDomainResource) domainResource(r, base, role);
  root_ = savedRoot;
}

void Validator::domainResource(const Json& r, const Path& path, Role role) {
  if (role == Role::kContained) {
    if (r.find("contained") != nullptr) {
      error("invariant", member(path, "contained"),
            "dom-2: a contained resource SHALL NOT contain additional contained resources");
    }
    if (const Json* meta = r.find("meta"); meta != nullptr && meta->isObject()) {
      if (has(*meta, "versionId") || has(*meta, "lastUpdated")) {
        error("invariant", member(path, "meta"),
              "dom-4: a contained resource SHALL NOT have a meta.versionId or meta.lastUpdated");
      }
      if (has(*meta, "security")) {
        error("invariant", member(path, "meta"),
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

void Validator::object(const Json& v, const CompiledType& t, const Path& path) {
  const TypeDef& def = *t.def;
  if (!v.isObject()) {
    error("structure", path, "expected a JSON object (" + std::string(def.name) + ")");
    return;
  }
  if (v.members().empty()) {
    error("invariant", path, "ele-1: empty object; every element must have a value or children");
    return;
  }
  const bool isResource = t.isResource;
  // Per own required element: how many values; per own choice element: which
  // variant was seen (its slot). Only the first entries in use are initialised:
  // the arrays hold trivial types, so declaring them costs nothing.
  const std::size_t required = t.required.size();
  const std::size_t choices = t.choices.size();
  std::array<int, kStackElements> stackCounts;
  std::array<const Slot*, kStackElements> stackVariants;
  std::vector<int> heapCounts;
  std::vector<const Slot*> heapVariants;
  int* counts = stackCounts.data();
  const Slot** variants = stackVariants.data();
  if (required > kStackElements) {
    heapCounts.resize(required);
    counts = heapCounts.data();
  }
  if (choices > kStackElements) {
    heapVariants.resize(choices);
    variants = heapVariants.data();
  }
  std::fill_n(counts, required, 0);
  std::fill_n(variants, choices, nullptr);
  bool onlyId = true;
  // Most objects have no `_name` companion at all: then no primitive needs to
  // look for one.
  bool anyCompanion = false;
  for (const Json::Member& m : v.members()) {
    if (m.first.starts_with('_')) {
      anyCompanion = true;
      break;
    }
  }
  for (const Json::Member& m : v.members()) {
    const std::string_view key = m.first;
    const Json& value = m.second;
    if (isResource && key == "resourceType") continue;
    if (key != "id") onlyId = false;
    const bool underscore = key.starts_with('_');
    const std::string_view name = underscore ? key.substr(1) : key;
    const Slot* s = t.find(name);
    const bool isPrimitive = s != nullptr && s->prim != Prim::kNone;
    if (s == nullptr || (underscore && !isPrimitive)) {
      error("structure", member(path, key),
            "unknown element " + quoted(key) + " in " + std::string(def.name));
      continue;
    }
    if (underscore) {
      const Json* partner = v.find(name);
      primitiveExtension(value, partner, *s->def, member(path, name));
      if (partner != nullptr) continue;  // counted with the value itself
    } else {
      const Json* companion = isPrimitive && anyCompanion ? findCompanion(v, key) : nullptr;
      element(value, companion, *s, member(path, key));
    }
    if (s->requiredIndex >= 0) {
      counts[static_cast<std::size_t>(s->requiredIndex)] +=
          value.isArray() ? static_cast<int>(value.size()) : 1;
    }
    if (s->choiceIndex >= 0) {
      const auto i = static_cast<std::size_t>(s->choiceIndex);
      // Slots are unique per JSON name within a type: another slot is another variant.
      if (variants[i] != nullptr && variants[i] != s) {
        error("structure", member(path, name),
              "only one variant of " + std::string(s->def->name) + " is allowed, found " +
                  std::string(variants[i]->jsonName) + " and " + std::string(name));
      }
      variants[i] = s;
    }
  }
  if (onlyId && !isResource) {
    error("invariant", path, "ele-1: element has an id but no value and no children");
  }
  for (std::size_t r = 0; r < required; ++r) {
    const ElementDef& e = def.elements[t.required[r]];
    if (counts[r] < e.min) {
      error("required", member(path, e.name),
            "missing required element " + std::string(e.name) + " (min " + std::to_string(e.min) +
                ")");
    }
  }
  invariants(v, t, path);
}

void Validator::element(const Json& v, const Json* companion, const Slot& s, const Path& path) {
  const ElementDef& e = *s.def;
  if (e.max <= 1) {
    if (v.isArray()) {
      error("structure", path,
            "must be a single value, not an array (max cardinality " + std::to_string(e.max) + ")");
      return;
    }
    item(v, s, path);
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
    item(it, s, at(path, i));
  }
}

void Validator::item(const Json& v, const Slot& s, const Path& path) {
  if (v.isNull()) {
    error("structure", path, "null is not allowed; leave the element out instead");
    return;
  }
  if (s.prim != Prim::kNone) {
    primitive(v, s, path);
    return;
  }
  if (s.isResource) {
    resource(v, &path, s.def->name == "contained" ? Role::kContained : Role::kRoot);
    return;
  }
  if (s.target == nullptr) {
    // A legal R4 type this validator does not model (e.g. SampledData).
    if (!v.isObject()) {
      error("structure", path, "expected a JSON object (" + std::string(s.type) + ")");
    } else {
      warning("not-supported", path,
              "type " + std::string(s.type) + " is not checked by this validator");
    }
    return;
  }
  object(v, *s.target, path);
}

void Validator::primitiveExtension(const Json& v, const Json* partner, const ElementDef& e,
                                   const Path& path) {
  const CompiledType& element = *theIndex().element;
  if (e.max <= 1) {
    if (v.isArray()) {
      error("structure", path, "primitive extension must be a single object");
      return;
    }
    object(v, element, path);
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
    object(it, element, at(path, i));
  }
}

void Validator::primitive(const Json& v, const Slot& slot, const Path& path) {
  const std::string_view type = slot.type;
  switch (slot.prim) {
    case Prim::kBoolean:
      if (!v.isBool()) error("structure", path, "expected true or false (boolean)");
      return;
    case Prim::kInteger:
    case Prim::kPositiveInt:
    case Prim::kUnsignedInt: {
      if (!v.isNumber()) {
        error("structure", path, "expected a JSON number (" + std::string(type) + ")");
        return;
      }
      std::optional<std::int64_t> n = v.toInt64();
      if (!isValidInteger(v.text()) || !n) {
        error("value", path, quoted(v.text()) + " is not a valid " + std::string(type));
      } else if (slot.prim == Prim::kPositiveInt && *n < 1) {
        error("value", path, "positiveInt must be 1 or more");
      } else if (slot.prim == Prim::kUnsignedInt && *n < 0) {
        error("value", path, "unsignedInt must be 0 or more");
      }
      return;
    }
    case Prim::kDecimal:
      if (!v.isNumber()) {
        error("structure", path, "expected a JSON number (decimal)");
      } else if (!isValidDecimal(v.text())) {
        error("value", path, quoted(v.text()) + " is not a valid decimal");
      }
      return;
    default:
      break;
  }
  if (!v.isString()) {
    error("structure", path, "expected a JSON string (" + std::string(type) + ")");
    return;
  }
  const std::string& s = v.text();
  if (s.empty()) {
    error("value", path, "ele-1: empty string; leave the element out instead");
    return;
  }
  // Only codes, ids and uris are quoted back: strings and dates may be patient data.
  // Messages are built only for a failed check.
  switch (slot.prim) {
    case Prim::kString:
    case Prim::kMarkdown:
      if (!isValidString(s)) {
        return error("value", path,
                     "must contain non-whitespace characters and no control characters");
      }
      break;
    case Prim::kCode:
      if (!isValidCode(s)) {
        return error("value", path,
                     quoted(s) + " is not a valid code (no leading/trailing or double spaces)");
      }
      break;
    case Prim::kId:
      if (!isValidId(s)) {
        return error("value", path, quoted(s) + " is not a valid id ([A-Za-z0-9-.]{1,64})");
      }
      break;
    case Prim::kUri:
    case Prim::kUrl:
    case Prim::kCanonical:
      if (!isValidUri(s)) {
        return error(
            "value", path,
            "value is not a valid " + std::string(type) + " (no whitespace or control characters)");
      }
      break;
    case Prim::kOid:
      if (!(isValidUri(s) && s.starts_with("urn:oid:"))) {
        return error("value", path, "value is not a valid oid (urn:oid:...)");
      }
      break;
    case Prim::kUuid:
      if (!(isValidUri(s) && s.starts_with("urn:uuid:"))) {
        return error("value", path, "value is not a valid uuid (urn:uuid:...)");
      }
      break;
    case Prim::kDate:
      if (!isValidDate(s)) {
        return error("value", path, "value is not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)");
      }
      break;
    case Prim::kDateTime:
      if (!isValidDateTime(s)) {
        return error(
            "value", path,
            "value is not a valid dateTime (a date, or YYYY-MM-DDThh:mm:ss with a time zone)");
      }
      break;
    case Prim::kInstant:
      if (!isValidInstant(s)) {
        return error("value", path,
                     "value is not a valid instant (YYYY-MM-DDThh:mm:ss[.sss] with a time zone)");
      }
      break;
    case Prim::kTime:
      if (!isValidTime(s)) return error("value", path, "value is not a valid time (hh:mm:ss)");
      break;
    case Prim::kBase64Binary:
      if (!isValidBase64(s)) return error("value", path, "value is not valid base64Binary");
      break;
    case Prim::kXhtml:
      if (const char* problem = xhtmlProblem(s)) return error("value", path, problem);
      break;
    default:
      break;
  }
  const std::string_view binding = slot.def->binding;
  if (!binding.empty() && !codeListContains(slot.bindingCodeList, s)) {
    error("code-invalid", path,
          quoted(s) + " is not in the required value set " + std::string(binding) + " (" +
              std::string(findValueSet(binding)) + ")");
  }
}

void Validator::invariants(const Json& v, const CompiledType& t, const Path& path) {
  const std::string_view name = t.def->name;
  switch (t.inv) {
    case Inv::kNone:
      return;
    case Inv::kQuantity:
      return quantity(v, name, path);
    case Inv::kPeriod:
      return period(v, path);
    case Inv::kRange:
      return range(v, path);
    case Inv::kRatio: {
      // rat-1: numerator and denominator both present or both absent, and then
      // an extension.
      const bool num = has(v, "numerator");
      const bool den = has(v, "denominator");
      if (num != den || (!num && !has(v, "extension"))) {
        error("invariant", path,
              "rat-1: numerator and denominator SHALL both be present, or both absent with an "
              "extension present");
      }
      return;
    }
    case Inv::kReference:
      return reference(v, path);
    case Inv::kAttachment:
      if (has(v, "data") && !has(v, "contentType")) {
        error("invariant", path, "att-1: if the Attachment has data, it SHALL have a contentType");
      }
      return;
    case Inv::kContactPoint:
      if (has(v, "value") && !has(v, "system")) {
        error("invariant", path, "cpt-2: a system is required if a value is provided");
      }
      return;
    case Inv::kExtension:
      if (has(v, "extension") == hasChoice(v, "value")) {
        error("invariant", path,
              "ext-1: an Extension must have either extensions or value[x], not both");
      }
      return;
    case Inv::kTimingRepeat:
      return timingRepeat(v, path);
    case Inv::kCarePlanActivity:
      if (has(v, "detail") && has(v, "reference")) {
        error("invariant", path,
              "cpl-3: provide a reference or detail, not both (CarePlan.activity)");
      }
      return;
    case Inv::kGoalTarget:
      if (hasChoice(v, "detail") && !has(v, "measure")) {
        error("invariant", path, "gol-1: Goal.target.measure is required if detail[x] is present");
      }
      return;
    case Inv::kObservation:
      return observation(v, path);
    case Inv::kObservationReferenceRange:
      if (!has(v, "low") && !has(v, "high") && !has(v, "text")) {
        error("invariant", path,
              "obs-3: a referenceRange must have at least a low or a high or text");
      }
      return;
    case Inv::kPatientContact:
      if (!has(v, "name") && !has(v, "telecom") && !has(v, "address") && !has(v, "organization")) {
        error("invariant", path,
              "pat-1: a contact SHALL at least contain contact details or a reference to an "
              "organization");
      }
      return;
    case Inv::kOrganization:
      if (!has(v, "name") && !has(v, "identifier")) {
        error("invariant", path,
              "org-1: an Organization SHALL at least have a name or an identifier");
      }
      return;
    case Inv::kBundle:
      return bundle(v, path);
  }
}

void Validator::quantity(const Json& v, std::string_view type, const Path& path) {
  if (has(v, "code") && !has(v, "system")) {
    error("invariant", path,
          "qty-3: if a code for the unit is present, the system SHALL also be present");
  }
  if (type == "SimpleQuantity" && has(v, "comparator")) {
    error("invariant", member(path, "comparator"),
          "sqty-1: the comparator is not used on a SimpleQuantity");
  }
}

void Validator::period(const Json& v, const Path& path) {
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

void Validator::range(const Json& v, const Path& path) {
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

void Validator::reference(const Json& v, const Path& path) {
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
    error("invariant", member(path, "reference"),
          "ref-1: local reference " + quoted(*ref) +
              " SHALL resolve to a contained resource with that id");
  }
}

void Validator::timingRepeat(const Json& v, const Path& path) {
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

void Validator::observation(const Json& v, const Path& path) {
  const bool hasValue = hasChoice(v, "value");
  if (hasValue && has(v, "dataAbsentReason")) {
    error("invariant", member(path, "dataAbsentReason"),
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
      error("invariant", member(at(member(path, "component"), i), "code"),
            "obs-7: a component has the same code as Observation.code, so Observation.value[x] "
            "SHALL NOT be present");
    }
  }
}

void Validator::bundle(const Json& v, const Path& path) {
  const std::string* typePtr = stringAt(v, "type");
  const std::string_view type =
      typePtr != nullptr ? std::string_view(*typePtr) : std::string_view();
  if (has(v, "total") && type != "searchset" && type != "history") {
    error("invariant", member(path, "total"),
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
  // fullUrl and meta.versionId (empty when absent) of the entries seen so far.
  std::vector<std::pair<std::string_view, std::string_view>> seen;
  seen.reserve(entries->items().size());
  const Path entryPath = member(path, "entry");
  for (std::size_t i = 0; i < entries->items().size(); ++i) {
    const Json& e = entries->items()[i];
    if (!e.isObject()) continue;
    const Path p = at(entryPath, i);
    if (has(e, "search") && type != "searchset") {
      error("invariant", member(p, "search"), "bdl-2: entry.search only when a search");
    }
    if (needsRequest && !has(e, "request")) {
      error("invariant", p,
            "bdl-3: entry.request mandatory for batch/transaction/history, otherwise prohibited");
    } else if (!needsRequest && has(e, "request")) {
      error("invariant", member(p, "request"),
            "bdl-3: entry.request mandatory for batch/transaction/history, otherwise prohibited");
    }
    if (needsResponse && !has(e, "response")) {
      error("invariant", p,
            "bdl-4: entry.response mandatory for batch-response/transaction-response/history, "
            "otherwise prohibited");
    } else if (!needsResponse && has(e, "response")) {
      error("invariant", member(p, "response"),
            "bdl-4: entry.response mandatory for batch-response/transaction-response/history, "
            "otherwise prohibited");
    }
    if (!has(e, "resource") && !has(e, "request") && !has(e, "response")) {
      error("invariant", p, "bdl-5: an entry must have a resource, a request or a response");
    }
    const std::string* fullUrl = stringAt(e, "fullUrl");
    if (fullUrl == nullptr) continue;
    if (fullUrl->find("/_history/") != std::string::npos) {
      error("invariant", member(p, "fullUrl"),
            "bdl-8: fullUrl cannot be a version specific reference");
    }
    if (type == "history") continue;
    const Json* resource = e.find("resource");
    const Json* meta =
        (resource != nullptr && resource->isObject()) ? resource->find("meta") : nullptr;
    const std::string* version =
        (meta != nullptr && meta->isObject()) ? stringAt(*meta, "versionId") : nullptr;
    const std::pair<std::string_view, std::string_view> key{
        *fullUrl, version != nullptr ? std::string_view(*version) : std::string_view()};
    bool duplicate = false;
    for (const auto& s : seen) duplicate = duplicate || s == key;
    if (duplicate) {
      error("invariant", member(p, "fullUrl"),
            "bdl-7: fullUrl " + quoted(*fullUrl) +
                " is not unique in the Bundle (same fullUrl needs a different meta.versionId)");
    } else {
      seen.push_back(key);
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
  Validator(options, &issues).resource(resource, nullptr, Role::kRoot);
  return issues;
}

}  // namespace inloop::fhir
