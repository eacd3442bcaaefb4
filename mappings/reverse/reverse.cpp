#include "mappings/reverse/reverse.h"

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

#include "fhir/primitives.h"
#include "mappings/conventions.h"
#include "mappings/forward/logical_id.h"

namespace inloop::mappings {

namespace {

using fhir::Json;

// A value of the input with its FHIRPath-style location. `json` is null when
// the element is absent; every accessor then answers "absent".
struct Node {
  const Json* json = nullptr;
  std::string path;

  bool present() const { return json != nullptr && !json->isNull(); }
  Node operator[](std::string_view key) const {
    const Json* child = json != nullptr && json->isObject() ? json->find(key) : nullptr;
    std::string p = path;
    p += '.';
    p += key;
    return {child, std::move(p)};
  }
  std::size_t size() const { return json != nullptr && json->isArray() ? json->size() : 0; }
  Node at(std::size_t i) const {
    return {i < size() ? &json->items()[i] : nullptr, path + "[" + std::to_string(i) + "]"};
  }
  // The string's value; empty for anything else.
  std::string_view str() const {
    return json != nullptr && json->isString() ? std::string_view(json->text()) : "";
  }
  bool isNumber() const { return json != nullptr && json->isNumber(); }
};

// A Clinician in wire format, from a Reference (display + NPI identifier).
std::optional<Json> clinicianFrom(const Node& ref) {
  if (ref["display"].str().empty()) return std::nullopt;
  Json c = Json::object();
  c.set("name", Json::string(std::string(ref["display"].str())));
  Node id = ref["identifier"];
  if (id["system"].str() == kNpiSystem && !id["value"].str().empty()) {
    c.set("npi", Json::string(std::string(id["value"].str())));
  }
  return c;
}

bool sameClinician(const Json& a, const Json& b) {
  const Json* an = a.find("npi");
  const Json* bn = b.find("npi");
  if (an != nullptr && bn != nullptr) return an->text() == bn->text();
  return a.find("name")->text() == b.find("name")->text() && (an == nullptr) == (bn == nullptr);
}

// The value of the extension with `url` on `resource`, or an absent node.
Node extensionValue(const Node& element, std::string_view url, std::string_view valueKey) {
  Node exts = element["extension"];
  for (std::size_t i = 0; i < exts.size(); ++i) {
    Node e = exts.at(i);
    if (e["url"].str() == url) return e[valueKey];
  }
  return {nullptr, element.path + ".extension(" + std::string(url) + ")"};
}

Node extensionNode(const Node& element, std::string_view url) {
  Node exts = element["extension"];
  for (std::size_t i = 0; i < exts.size(); ++i) {
    Node e = exts.at(i);
    if (e["url"].str() == url) return e;
  }
  return {nullptr, element.path + ".extension(" + std::string(url) + ")"};
}

// The value of the identifier with `system` in an Identifier array.
std::string_view identifierValue(const Node& identifiers, std::string_view system) {
  for (std::size_t i = 0; i < identifiers.size(); ++i) {
    Node id = identifiers.at(i);
    if (id["system"].str() == system) return id["value"].str();
  }
  return {};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "code (display)" of a CodeableConcept, for messages.
std::string describeConcept(const Node& codes) {
  std::string out;
  Node codings = codes["coding"];
  for (std::size_t i = 0; i < codings.size(); ++i) {
    Node c = codings.at(i);
    if (!out.empty()) out += ", ";
    out += c["system"].str();
    out += '|';
    out += c["code"].str();
    if (!c["display"].str().empty()) {
      out += " \"";
      out += c["display"].str();
      out += '"';
    }
  }
  if (!codes["text"].str().empty()) {
    if (!out.empty()) out += ", ";
    out += "text \"";
    out += codes["text"].str();
    out += '"';
  }
  return out.empty() ? "no coding or text" : out;
}

std::string describeQuantity(const Node& q) {
  if (!q.present()) return "no value";
  std::string out = q["value"].isNumber() ? q["value"].json->text() : "?";
  std::string_view unit = !q["unit"].str().empty() ? q["unit"].str() : q["code"].str();
  if (!unit.empty()) {
    out += ' ';
    out += unit;
  }
  return out;
}

// One resource of the input with where it sits.
struct Entry {
  Node resource;
  std::string type;
  std::string fullUrl;
};

// What one call works with.
struct Context {
  const MappingTables& tables;
  const ReverseOptions& options;
  fhir::Issues* issues;
  std::vector<Entry> entries;
  Node bundleTimestamp;
};

void error(Context& ctx, std::string code, std::string path, std::string message) {
  fhir::addError(ctx.issues, std::move(code), std::move(path), std::move(message));
}
void warning(Context& ctx, std::string code, std::string path, std::string message) {
  fhir::addWarning(ctx.issues, std::move(code), std::move(path), std::move(message));
}

// ---- patient -------------------------------------------------------------

Json patientFromKnown(const Patient& p) {
  // Written through the record writer so the wire shape stays in one place.
  PlanRecord r;
  r.patient = p;
  Json doc = writePlanRecord(r);
  const Json* patient = doc.find("patient");
  return patient != nullptr ? *patient : Json::object();
}

// The wire-format patient from a Patient resource; errors name what lacked.
std::optional<Json> patientFromResource(Context& ctx, const Node& res) {
  bool ok = true;
  Json p = Json::object();
  std::string_view mrn = identifierValue(res["identifier"], ctx.tables.namespaces.mrn);
  if (mrn.empty()) {
    error(ctx, "required", res["identifier"].path,
          "no identifier with system " + ctx.tables.namespaces.mrn +
              " (the pain center's MRN, required in a plan record)");
    ok = false;
  }
  p.set("mrn", Json::string(std::string(mrn)));
  std::string_view pcpId = identifierValue(
      res["identifier"], pcpPatientIdSystem(ctx.tables.namespaces, ctx.options.practiceId));
  if (!pcpId.empty()) p.set("pcpPatientId", Json::string(std::string(pcpId)));

  // The official name if marked, else the first.
  Node names = res["name"];
  Node name = names.at(0);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names.at(i)["use"].str() == "official") name = names.at(i);
  }
  Json n = Json::object();
  Json given = Json::array();
  for (std::size_t i = 0; i < name["given"].size(); ++i) {
    if (!name["given"].at(i).str().empty()) {
      given.push(Json::string(std::string(name["given"].at(i).str())));
    }
  }
  if (name["family"].str().empty()) {
    error(ctx, "required", name["family"].path,
          "the patient's family name is required in a plan record");
    ok = false;
  }
  n.set("family", Json::string(std::string(name["family"].str())));
  n.set("given", std::move(given));
  p.set("name", std::move(n));
  if (!fhir::isValidDate(res["birthDate"].str())) {
    error(ctx, "required", res["birthDate"].path,
          res["birthDate"].present()
              ? "the patient's birth date must be a date (YYYY, YYYY-MM or YYYY-MM-DD) in a plan "
                "record"
              : "the patient's birth date is required in a plan record");
    ok = false;
  }
  p.set("birthDate", Json::string(std::string(res["birthDate"].str())));
  std::string_view gender = res["gender"].str();
  if (gender == "female" || gender == "male" || gender == "other" || gender == "unknown") {
    p.set("sex", Json::string(std::string(gender)));
  }
  if (!ok) return std::nullopt;
  return p;
}

bool patientHasIdentifier(const Node& patient, std::string_view system, std::string_view value) {
  Node ids = patient["identifier"];
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids.at(i)["system"].str() == system && ids.at(i)["value"].str() == value) return true;
  }
  return false;
}

// Splits a conditional reference "Patient?identifier=SYSTEM|VALUE", undoing
// the percent-encoding and search escaping of mappings/forward/translate.h tokenQuery.
std::optional<std::pair<std::string, std::string>> conditionalIdentifier(std::string_view ref) {
  constexpr std::string_view kPrefix = "Patient?identifier=";
  if (ref.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string decoded;
  std::string_view rest = ref.substr(kPrefix.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() && hex(rest[i + 1]) >= 0 && hex(rest[i + 2]) >= 0) {
      decoded += static_cast<char>(hex(rest[i + 1]) * 16 + hex(rest[i + 2]));
      i += 2;
      continue;
    }
    decoded += rest[i];
  }
  // The first unescaped '|' splits system and value; `\x` in the value is x
  // (FHIR search escaping of `\`, `|`, `,`, `$`).
  std::string system;
  std::string value;
  bool inValue = false;
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    if (!inValue && decoded[i] == '|') {
      inValue = true;
    } else if (decoded[i] == '\\' && i + 1 < decoded.size()) {
      (inValue ? value : system) += decoded[++i];
    } else {
      (inValue ? value : system) += decoded[i];
    }
  }
  if (!inValue) return std::nullopt;
  return std::make_pair(std::move(system), std::move(value));
}

// The record's patient for a resource's `subject`: the input's Patient it
// references (by fullUrl, Patient/id, or identifier), else a known patient
// with the subject's identifier. Errors name what lacked.
std::optional<Json> resolvePatient(Context& ctx, const Node& subject) {
  if (!subject.present()) {
    error(ctx, "required", subject.path, "no subject: a plan record needs the patient");
    return std::nullopt;
  }
  std::string_view ref = subject["reference"].str();
  std::string_view idSystem = subject["identifier"]["system"].str();
  std::string_view idValue = subject["identifier"]["value"].str();
  auto conditional = conditionalIdentifier(ref);
  if (conditional) {
    idSystem = conditional->first;
    idValue = conditional->second;
  }
  for (const Entry& e : ctx.entries) {
    if (e.type != "Patient") continue;
    std::string_view id = e.resource["id"].str();
    bool match = (!ref.empty() &&
                  (ref == e.fullUrl || (!id.empty() && ref == "Patient/" + std::string(id)))) ||
                 (!idValue.empty() && patientHasIdentifier(e.resource, idSystem, idValue));
    if (match) return patientFromResource(ctx, e.resource);
  }
  if (idValue.empty()) {
    error(ctx, "required", subject["identifier"].path,
          ref.empty() ? "no subject identifier: a plan record needs the patient's MRN"
                      : "no subject identifier, and the reference \"" + std::string(ref) +
                            "\" names no Patient in the input: a plan record needs the "
                            "patient's MRN, name and birth date");
    return std::nullopt;
  }
  std::string pcpSystem = pcpPatientIdSystem(ctx.tables.namespaces, ctx.options.practiceId);
  for (const Patient& p : ctx.options.knownPatients) {
    bool byMrn = idSystem == ctx.tables.namespaces.mrn && p.mrn == idValue;
    bool byPcp = idSystem == pcpSystem && p.pcpPatientId && *p.pcpPatientId == idValue;
    if (byMrn || byPcp) return patientFromKnown(p);
  }
  std::string who = std::string(idSystem) + "|" + std::string(idValue);
  if (idSystem == ctx.tables.namespaces.mrn) {
    error(ctx, "required", subject.path,
          "patient " + who +
              " is neither in the input nor known: the name is required in a "
              "plan record");
    error(ctx, "required", subject.path,
          "patient " + who +
              " is neither in the input nor known: the birth date is required "
              "in a plan record");
  } else {
    error(ctx, "required", subject["identifier"].path,
          "patient " + who + " is neither in the input nor known, and " + std::string(idSystem) +
              " is not the pain center's MRN system " + ctx.tables.namespaces.mrn +
              ": the MRN, name and birth date are required in a plan record");
  }
  return std::nullopt;
}

// ---- the common envelope ------------------------------------------------

// recordId: the pain center's own business identifier when the gateway sent
// the resource, else "pcp-" + practice + the resource's identifier or id (a
// digest when that is not a valid id), so it never collides with clinic ids.
std::optional<std::string> recordIdFor(Context& ctx, const Entry& e) {
  std::string_view own = identifierValue(e.resource["identifier"], ctx.tables.namespaces.record);
  if (!own.empty()) return std::string(own);
  std::string_view local = e.resource["identifier"].at(0)["value"].str();
  if (local.empty()) local = e.resource["id"].str();
  if (local.empty() && e.fullUrl.size() > 9) local = std::string_view(e.fullUrl).substr(9);
  if (local.empty()) {
    error(ctx, "required", e.resource["id"].path,
          "neither identifier nor id: a plan record needs a stable record id");
    return std::nullopt;
  }
  if (ctx.options.practiceId.empty()) return logicalId("pcp", local);
  return logicalId("pcp", ctx.options.practiceId, local);
}

// version: the forward translator's extension, else meta.versionId when it
// is a positive integer, else 1.
std::int64_t versionFor(Context& ctx, const Entry& e) {
  Node ext = extensionValue(e.resource, extensionUrl(ctx.tables.namespaces, kExtRecordVersion),
                            "valuePositiveInt");
  if (ext.isNumber()) {
    auto v = ext.json->toInt64();
    if (v && *v >= 1) return *v;
  }
  std::string_view meta = e.resource["meta"]["versionId"].str();
  if (!meta.empty() &&
      std::all_of(meta.begin(), meta.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      meta.size() < 18) {
    std::int64_t v = std::stoll(std::string(meta));
    if (v >= 1) return v;
  }
  return 1;
}

// recordedAt: the first instant among `candidates`, then meta.lastUpdated,
// then the Bundle's timestamp.
std::optional<std::string> recordedAtFor(Context& ctx, const Entry& e,
                                         std::initializer_list<std::string_view> candidates) {
  std::vector<Node> nodes;
  for (std::string_view c : candidates) nodes.push_back(e.resource[c]);
  nodes.push_back(e.resource["meta"]["lastUpdated"]);
  nodes.push_back(ctx.bundleTimestamp);
  for (const Node& n : nodes) {
    if (fhir::isValidInstant(n.str())) return std::string(n.str());
  }
  std::string names;
  for (std::string_view c : candidates) names += std::string(c) + ", ";
  error(ctx, "required", e.resource.path,
        "no instant in " + names +
            "meta.lastUpdated or Bundle.timestamp: a plan record needs "
            "recordedAt (a time with offset)");
  return std::nullopt;
}

// The author the input's Provenance names for `e` (agent of type author,
// else its first agent with a display), when there is one.
std::optional<Json> provenanceAuthor(Context& ctx, const Entry& e) {
  std::string_view ownId = identifierValue(e.resource["identifier"], ctx.tables.namespaces.record);
  std::string typedRef = e.type + "/" + std::string(e.resource["id"].str());
  for (const Entry& p : ctx.entries) {
    if (p.type != "Provenance") continue;
    bool targets = false;
    Node targetList = p.resource["target"];
    for (std::size_t i = 0; i < targetList.size(); ++i) {
      Node t = targetList.at(i);
      std::string_view ref = t["reference"].str();
      targets = targets || (!ref.empty() && (ref == e.fullUrl || ref == typedRef)) ||
                (!ownId.empty() && t["identifier"]["value"].str() == ownId &&
                 t["identifier"]["system"].str() == ctx.tables.namespaces.record);
    }
    if (!targets) continue;
    Node agents = p.resource["agent"];
    std::optional<Json> first;
    for (std::size_t i = 0; i < agents.size(); ++i) {
      Node a = agents.at(i);
      auto c = clinicianFrom(a["who"]);
      if (!c) continue;
      Node codings = a["type"]["coding"];
      for (std::size_t k = 0; k < codings.size(); ++k) {
        if (codings.at(k)["code"].str() == "author") return c;
      }
      if (!first) first = std::move(c);
    }
    if (first) return first;
  }
  return std::nullopt;
}

// The envelope every record shares; nullopt (with errors) when a required
// part is missing. Fields are set in the wire format's order.
std::optional<Json> envelope(Context& ctx, const Entry& e, std::string_view recordType,
                             const Node& subject,
                             std::initializer_list<std::string_view> recordedAtCandidates) {
  auto recordId = recordIdFor(ctx, e);
  auto recordedAt = recordedAtFor(ctx, e, recordedAtCandidates);
  auto patient = resolvePatient(ctx, subject);
  if (ctx.options.practiceId.empty()) {
    error(ctx, "required", e.resource.path,
          "no practice id in the reverse options: a plan record needs pcp.practiceId");
  }
  if (!recordId || !recordedAt || !patient || ctx.options.practiceId.empty()) return std::nullopt;
  Json r = Json::object();
  r.set("recordType", Json::string(std::string(recordType)));
  r.set("recordId", Json::string(std::move(*recordId)));
  r.set("version", Json::number(versionFor(ctx, e)));
  r.set("recordedAt", Json::string(std::move(*recordedAt)));
  r.set("patient", std::move(*patient));
  Json pcp = Json::object();
  pcp.set("practiceId", Json::string(ctx.options.practiceId));
  r.set("pcp", std::move(pcp));
  return r;
}

// planId from basedOn: a CarePlan named by the pain center's identifier.
void setPlanId(Context& ctx, const Node& basedOn, Json* record) {
  for (std::size_t i = 0; i < basedOn.size(); ++i) {
    Node id = basedOn.at(i)["identifier"];
    if (id["system"].str() == ctx.tables.namespaces.record && !id["value"].str().empty()) {
      record->set("planId", Json::string(std::string(id["value"].str())));
      return;
    }
  }
}

// Annotation texts joined by blank lines, plus anything that could not be
// carried (`extra`), so nothing is lost.
void setNote(const Node& notes, const std::vector<std::string>& extra, Json* record) {
  std::string text;
  for (std::size_t i = 0; i < notes.size(); ++i) {
    std::string_view t = notes.at(i)["text"].str();
    if (t.empty()) continue;
    if (!text.empty()) text += "\n\n";
    text += t;
  }
  for (const std::string& t : extra) {
    if (!text.empty()) text += "\n\n";
    text += t;
  }
  if (!text.empty()) record->set("note", Json::string(std::move(text)));
}

// Reads the wire-format record into a PlanRecord; format problems (e.g. an
// NPI that is not 10 digits) become errors at the resource's path.
std::optional<PlanRecord> finish(Context& ctx, const Entry& e, const Json& record) {
  fhir::Issues recordIssues;
  std::optional<PlanRecord> r = readPlanRecord(record, &recordIssues);
  for (fhir::Issue& i : recordIssues) {
    i.message = "the resulting plan record breaks a rule: " + i.path + ": " + i.message;
    i.path = e.resource.path;
    ctx.issues->push_back(std::move(i));
  }
  if (fhir::hasErrors(recordIssues)) return std::nullopt;
  return r;
}

// ---- measurement <- Observation ------------------------------------------

// The measure a CodeableConcept names (first coding the tables know).
const Measure* measureFor(Context& ctx, const Node& codes) {
  Node codings = codes["coding"];
  for (std::size_t i = 0; i < codings.size(); ++i) {
    const Measure* m =
        findMeasureByCoding(ctx.tables, codings.at(i)["system"].str(), codings.at(i)["code"].str());
    if (m != nullptr) return m;
  }
  return nullptr;
}

// A Quantity's value converted to the measure's canonical unit, as the JSON
// number text and the clinic's unit name. On failure `why` says what failed.
std::optional<std::pair<std::string, std::string>> canonicalValue(Context& ctx, const Node& q,
                                                                  const Measure& m,
                                                                  std::string* why) {
  if (!q["value"].isNumber()) {
    *why = "no numeric value at " + q["value"].path;
    return std::nullopt;
  }
  const Unit* canonical = ctx.tables.findUnit(m.unit);
  std::string value = q["value"].json->text();
  std::string_view system = q["system"].str();
  std::string_view code = q["code"].str();
  const Unit* from = nullptr;
  if (!code.empty() && (system.empty() || system == kUcumSystem)) {
    from = ctx.tables.findUnitByUcum(code);
  }
  // Without a code, the human-readable unit may still be one the tables know.
  if (from == nullptr && code.empty() && !q["unit"].str().empty()) {
    from = ctx.tables.findUnit(q["unit"].str());
    if (from == nullptr) from = ctx.tables.findUnitByUcum(q["unit"].str());
  }
  if (from == nullptr && code.empty() && q["unit"].str().empty()) from = canonical;
  if (from == nullptr || canonical == nullptr) {
    *why = "unit \"" + std::string(!code.empty() ? code : q["unit"].str()) +
           "\" is not in the mapping tables";
    return std::nullopt;
  }
  if (from->ucum != canonical->ucum) {
    auto converted = ctx.tables.convert(value, from->ucum, canonical->ucum, m.code);
    if (!converted.isOk()) {
      *why = "unit \"" + from->ucum + "\" cannot be converted to the measure's unit \"" +
             canonical->ucum + "\"";
      return std::nullopt;
    }
    value = std::move(converted).value();
  }
  // The same range the forward translation enforces: a record outside it
  // would not translate back.
  if (!m.inRange(std::strtod(value.c_str(), nullptr))) {
    *why = "value " + value + " " + m.unit + " is outside the valid range of " + m.code + " (" +
           m.rangeText() + ")";
    return std::nullopt;
  }
  return std::make_pair(std::move(value), m.unit);
}

void setQuantity(std::pair<std::string, std::string> v, Json* out) {
  out->set("value", Json::numberText(std::move(v.first)));
  out->set("unit", Json::string(std::move(v.second)));
}

constexpr std::string_view kMeasurementStatuses[] = {"preliminary", "final", "amended", "corrected",
                                                     "entered-in-error"};

std::optional<Json> measurementFrom(Context& ctx, const Entry& e) {
  const Node& res = e.resource;
  const Measure* measure = measureFor(ctx, res["code"]);
  if (measure == nullptr) {
    warning(ctx, "code-unknown", res["code"].path,
            "not translated: the mapping tables have no measure for " +
                describeConcept(res["code"]) + " (value " + describeQuantity(res["valueQuantity"]) +
                ", effective " + std::string(res["effectiveDateTime"].str()) + ")");
    return std::nullopt;
  }
  std::string_view status = res["status"].str();
  if (std::find(std::begin(kMeasurementStatuses), std::end(kMeasurementStatuses), status) ==
      std::end(kMeasurementStatuses)) {
    warning(ctx, "not-supported", res["status"].path,
            "not translated: Observation status \"" + std::string(status) +
                "\" has no plan-record equivalent (" + measure->code + " " +
                describeQuantity(res["valueQuantity"]) + ")");
    return std::nullopt;
  }
  auto record = envelope(ctx, e, "measurement", res["subject"], {"issued"});
  std::optional<Json> performer = clinicianFrom(res["performer"].at(0));
  std::optional<Json> author = provenanceAuthor(ctx, e);
  if (!author) author = performer;
  if (!author) {
    error(ctx, "required", res["performer"].path,
          "no performer with a display (and no Provenance author): a plan record needs its "
          "author");
  }
  std::string_view effective = res["effectiveDateTime"].str();
  Node effectiveNode = res["effectiveDateTime"];
  if (effective.empty()) {
    effectiveNode = res["effectivePeriod"]["start"];
    effective = effectiveNode.str();
  }
  if (!fhir::isValidDateTime(effective)) {
    error(ctx, "required", effectiveNode.path,
          effective.empty() ? "no effectiveDateTime: a measurement needs when it was measured"
                            : "not a valid dateTime");
  }

  // Value, components or absent.
  Json body = Json::object();
  std::vector<std::string> extraNotes;
  Node components = res["component"];
  if (components.size() > 0) {
    Json list = Json::array();
    std::vector<std::string> taken;  // component measures read, in order
    for (std::size_t i = 0; i < components.size(); ++i) {
      Node c = components.at(i);
      const Measure* cm = measureFor(ctx, c["code"]);
      bool inPanel = cm != nullptr &&
                     std::find(measure->components.begin(), measure->components.end(), cm->code) !=
                         measure->components.end();
      std::string why;
      bool repeated = inPanel && std::find(taken.begin(), taken.end(), cm->code) != taken.end();
      if (repeated) why = "the panel already has " + cm->code;
      auto v = inPanel && !repeated ? canonicalValue(ctx, c["valueQuantity"], *cm, &why)
                                    : std::nullopt;
      if (!v) {
        std::string what = describeConcept(c["code"]) + " " + describeQuantity(c["valueQuantity"]);
        warning(ctx, inPanel ? "value" : "code-unknown", c.path,
                "component kept in the note only: " +
                    (inPanel ? why : "not a component of " + measure->code + " in the tables") +
                    " (" + what + ")");
        extraNotes.push_back("Also reported: " + what);
        continue;
      }
      taken.push_back(cm->code);
      Json item = Json::object();
      item.set("measure", Json::string(cm->code));
      setQuantity(std::move(*v), &item);
      list.push(std::move(item));
    }
    if (list.size() == 0) {
      warning(ctx, "value", components.path,
              "not translated: no component of " + measure->code + " could be read");
      return std::nullopt;
    }
    // A panel record carries every component of its measure (the forward
    // translation refuses one without): a missing one leaves no record.
    for (const std::string& part : measure->components) {
      if (std::find(taken.begin(), taken.end(), part) == taken.end()) {
        warning(ctx, "value", components.path,
                "not translated: no readable " + part + " component of " + measure->code +
                    " (the panel needs all of them)");
        return std::nullopt;
      }
    }
    body.set("components", std::move(list));
  } else if (res["valueQuantity"].present()) {
    std::string why;
    auto v = canonicalValue(ctx, res["valueQuantity"], *measure, &why);
    if (!v) {
      warning(ctx, "value", res["valueQuantity"].path,
              "not translated: " + why + " (" + measure->code + " " +
                  describeQuantity(res["valueQuantity"]) + ")");
      return std::nullopt;
    }
    setQuantity(std::move(*v), &body);
  } else if (res["dataAbsentReason"].present()) {
    Node dar = res["dataAbsentReason"];
    std::string_view absent = toRecordCode(kAbsentReasons, dar["coding"].at(0)["code"].str());
    if (absent.empty()) {
      // Any other reason means the value could not be obtained.
      absent = "unable";
      warning(ctx, "code-unknown", dar.path,
              "data-absent reason " + describeConcept(dar) +
                  " read as \"unable\"; its text is kept in the note");
      extraNotes.push_back("Value absent: " + describeConcept(dar));
    }
    body.set("absent", Json::string(std::string(absent)));
  } else {
    warning(
        ctx, "value", res.path,
        "not translated: no valueQuantity, component or dataAbsentReason (" + measure->code + ")");
    return std::nullopt;
  }
  if (!record || !author || !fhir::isValidDateTime(effective)) return std::nullopt;

  Json& r = *record;
  r.set("author", *author);
  setPlanId(ctx, res["basedOn"], &r);
  r.set("measure", Json::string(measure->code));
  for (Json::Member& m : body.members()) r.set(m.first, std::move(m.second));
  r.set("effective", Json::string(std::string(effective)));
  r.set("status", Json::string(std::string(status)));
  std::string methodSystem = localCodeSystem(ctx.tables.namespaces, kCsMeasurementMethod);
  Node methods = res["method"]["coding"];
  for (std::size_t i = 0; i < methods.size(); ++i) {
    std::string_view code = methods.at(i)["code"].str();
    if (methods.at(i)["system"].str() == methodSystem &&
        (code == "clinic" || code == "patient-reported" || code == "remote-monitoring")) {
      r.set("method", Json::string(std::string(code)));
    }
  }
  if (performer && !sameClinician(*performer, *author)) r.set("performer", *performer);
  Node goal = extensionValue(res, extensionUrl(ctx.tables.namespaces, kExtGoal), "valueReference");
  std::string_view goalValue = goal["identifier"]["value"].str();
  std::size_t slash = goalValue.rfind('/');
  if (slash != std::string_view::npos) {
    r.set("goalId", Json::string(std::string(goalValue.substr(slash + 1))));
  }
  setNote(res["note"], extraNotes, &r);
  return record;
}

// ---- medication-change <- MedicationStatement / MedicationRequest ---------

// The drug a CodeableConcept names: the clinic's own drug code first, then
// RxNorm (the first drug of the tables when one ingredient stands for
// several, with a warning naming the others).
const Drug* drugFor(Context& ctx, const Node& codes) {
  Node codings = codes["coding"];
  for (std::size_t i = 0; i < codings.size(); ++i) {
    if (codings.at(i)["system"].str() != ctx.tables.namespaces.drug) continue;
    const Drug* d = ctx.tables.findDrug(codings.at(i)["code"].str());
    if (d != nullptr) return d;
  }
  for (std::size_t i = 0; i < codings.size(); ++i) {
    Node c = codings.at(i);
    auto drugs = findDrugsByCoding(ctx.tables, c["system"].str(), c["code"].str());
    if (drugs.empty()) continue;
    if (drugs.size() > 1) {
      std::string others;
      for (std::size_t k = 1; k < drugs.size(); ++k) others += (k > 1 ? ", " : "") + drugs[k]->code;
      warning(ctx, "multiple-matches", c.path,
              std::string(c["system"].str()) + "|" + std::string(c["code"].str()) +
                  " stands for several drug codes; chose \"" + drugs[0]->code +
                  "\" (the first in the tables), not " + others +
                  "; the medication text is kept in medication.display");
    }
    return drugs[0];
  }
  return nullptr;
}

// A dose Quantity in the clinic's unit names (no conversion: doses stay as
// prescribed).
std::optional<Json> doseFrom(Context& ctx, const Node& q, const Drug& drug) {
  if (!q["value"].isNumber()) return std::nullopt;
  std::string_view ucum = q["code"].str();
  const Unit* unit = findUnitForUcum(ctx.tables, ucum, drug.doseUnits);
  if (unit == nullptr && ucum.empty() && !q["unit"].str().empty()) {
    unit = ctx.tables.findUnit(q["unit"].str());
  }
  if (unit == nullptr) {
    warning(ctx, "code-unknown", q.path,
            "dose unit \"" + std::string(!ucum.empty() ? ucum : q["unit"].str()) +
                "\" is not in the mapping tables");
    return std::nullopt;
  }
  if (std::find(drug.doseUnits.begin(), drug.doseUnits.end(), unit->name) == drug.doseUnits.end()) {
    warning(ctx, "business-rule", q.path,
            "dose unit \"" + unit->name + "\" is not one the tables allow for " + drug.code);
  }
  Json d = Json::object();
  d.set("value", Json::numberText(q["value"].json->text()));
  d.set("unit", Json::string(unit->name));
  return d;
}

// frequency: count per day/week from timing.repeat, else the timing's or
// the dosage's text.
std::optional<Json> frequencyFrom(const Node& dosage) {
  Node repeat = dosage["timing"]["repeat"];
  Node count = repeat["frequency"];
  Node period = repeat["period"];
  std::string_view unit = repeat["periodUnit"].str();
  if (count.isNumber() && period.isNumber() && period.json->toDouble() == 1.0 &&
      (unit == "d" || unit == "wk") && count.json->toInt64()) {
    Json f = Json::object();
    f.set("count", Json::number(*count.json->toInt64()));
    f.set("per", Json::string(unit == "d" ? "day" : "week"));
    return f;
  }
  std::string_view text = dosage["timing"]["code"]["text"].str();
  if (text.empty()) text = dosage["text"].str();
  if (text.empty()) return std::nullopt;
  Json f = Json::object();
  f.set("text", Json::string(std::string(text)));
  return f;
}

// The record's route from Dosage.route: its text or a coding's display,
// when it names one of the record's routes.
std::optional<std::string> routeFrom(Context& ctx, const Node& route) {
  if (!route.present()) return std::nullopt;
  std::vector<std::string> words;
  words.push_back(lower(route["text"].str()));
  for (std::size_t i = 0; i < route["coding"].size(); ++i) {
    words.push_back(lower(route["coding"].at(i)["display"].str()));
  }
  for (const std::string& w : words) {
    if (w == "oral" || w == "by mouth" || w == "po" || w == "oral use") return "oral";
    for (std::string_view r : {"transdermal", "sublingual", "topical", "injection"}) {
      if (w == r || w == std::string(r) + " use") return std::string(r);
    }
  }
  warning(
      ctx, "code-unknown", route.path,
      "route " + describeConcept(route) + " is not one of the record's routes; kept in the note");
  return std::nullopt;
}

// The record action for a resource without the forward translator's action
// extension; empty when the status has none.
std::string actionFromStatus(std::string_view type, std::string_view status) {
  if (status == "entered-in-error") return "entered-in-error";
  if (type == "MedicationStatement") {
    if (status == "active") return "continue";
    if (status == "intended") return "start";
    if (status == "stopped" || status == "completed") return "stop";
    return {};
  }
  if (status == "active") return "start";
  if (status == "stopped" || status == "cancelled" || status == "completed") return "stop";
  return {};
}

std::optional<Json> medicationChangeFrom(Context& ctx, const Entry& e) {
  const Node& res = e.resource;
  bool isStatement = e.type == "MedicationStatement";
  Node codes = res["medicationCodeableConcept"];
  std::string_view status = res["status"].str();
  const Drug* drug = drugFor(ctx, codes);
  if (drug == nullptr) {
    warning(ctx, "code-unknown", codes.path,
            "not translated: the mapping tables have no drug for " + describeConcept(codes) + " (" +
                e.type + " status " + std::string(status) + ")");
    return std::nullopt;
  }
  std::string action(
      extensionValue(res, extensionUrl(ctx.tables.namespaces, kExtMedicationAction), "valueCode")
          .str());
  if (action.empty()) action = actionFromStatus(e.type, status);
  if (action.empty()) {
    warning(ctx, "not-supported", res["status"].path,
            "not translated: " + e.type + " status \"" + std::string(status) +
                "\" has no plan-record action (" + describeConcept(codes) + ")");
    return std::nullopt;
  }
  auto record = isStatement
                    ? envelope(ctx, e, "medication-change", res["subject"], {"dateAsserted"})
                    : envelope(ctx, e, "medication-change", res["subject"], {"authoredOn"});
  Node source = isStatement ? res["informationSource"] : res["requester"];
  std::optional<Json> prescriber = clinicianFrom(source);
  if (!prescriber) {
    error(ctx, "required", source.path,
          "no display: a medication change needs its prescriber's name");
  }
  std::optional<Json> author = provenanceAuthor(ctx, e);
  if (!author) author = prescriber;

  Node dosage = isStatement ? res["dosage"].at(0) : res["dosageInstruction"].at(0);
  bool stopping = action == "stop" || action == "entered-in-error";
  Node doseNode = dosage["doseAndRate"].at(0)["doseQuantity"];
  std::optional<Json> dose = doseFrom(ctx, doseNode, *drug);
  if (!dose && !stopping) {
    error(ctx, "required", doseNode.path,
          "no dose the tables can read: a \"" + action + "\" medication change needs one");
  }
  std::optional<Json> frequency = frequencyFrom(dosage);
  if (!frequency && action != "stop") {
    error(ctx, "required", dosage["timing"].path,
          "no timing or dosage text: a \"" + action + "\" medication change needs a frequency");
  }

  // effective: the date the change takes effect (a request carries it in the
  // dosage's boundsPeriod, else only authoredOn says when).
  Node effectiveNode;
  if (isStatement) {
    effectiveNode = res["effectiveDateTime"];
    if (!effectiveNode.present()) {
      effectiveNode = action == "stop" && res["effectivePeriod"]["end"].present()
                          ? res["effectivePeriod"]["end"]
                          : res["effectivePeriod"]["start"];
    }
  } else {
    Node bounds = dosage["timing"]["repeat"]["boundsPeriod"];
    effectiveNode = bounds["start"].present() ? bounds["start"] : bounds["end"];
    if (!effectiveNode.present()) effectiveNode = res["authoredOn"];
  }
  std::string effective(effectiveNode.str().substr(0, 10));
  if (!fhir::isValidFullDate(effective)) {
    error(ctx, "required", effectiveNode.path,
          "no full date: a medication change needs the date it takes effect");
  }
  if (!record || !prescriber || !author || (!dose && !stopping) ||
      (!frequency && action != "stop") || !fhir::isValidFullDate(effective)) {
    return std::nullopt;
  }

  std::vector<std::string> extraNotes;
  Json& r = *record;
  r.set("author", *author);
  setPlanId(ctx, res["basedOn"], &r);
  r.set("action", Json::string(action));
  Json medication = Json::object();
  medication.set("code", Json::string(drug->code));
  Node codings = codes["coding"];
  for (std::size_t i = 0; i < codings.size(); ++i) {
    if (codings.at(i)["system"].str() == kRxNormSystem) {
      medication.set("rxnorm", Json::string(std::string(codings.at(i)["code"].str())));
      break;
    }
  }
  std::string_view display =
      extensionValue(dosage, extensionUrl(ctx.tables.namespaces, kExtMedicationDisplay),
                     "valueString")
          .str();
  if (display.empty()) display = codes["text"].str();
  if (display.empty()) display = codings.at(0)["display"].str();
  if (!display.empty()) medication.set("display", Json::string(std::string(display)));
  r.set("medication", std::move(medication));
  if (dose) r.set("dose", std::move(*dose));
  if (frequency) r.set("frequency", std::move(*frequency));
  std::string_view routeCode =
      extensionValue(res, extensionUrl(ctx.tables.namespaces, kExtRoute), "valueCode").str();
  auto route =
      !routeCode.empty() ? std::optional<std::string>(routeCode) : routeFrom(ctx, dosage["route"]);
  if (route) {
    r.set("route", Json::string(std::move(*route)));
  } else if (dosage["route"].present()) {
    extraNotes.push_back("Route: " + describeConcept(dosage["route"]));
  }
  if (dosage["asNeededBoolean"].json != nullptr && dosage["asNeededBoolean"].json->isBool()) {
    r.set("asNeeded", Json::boolean(dosage["asNeededBoolean"].json->asBool()));
  }
  r.set("effective", Json::string(effective));
  Node previous = extensionValue(dosage, extensionUrl(ctx.tables.namespaces, kExtPreviousDose),
                                 "valueQuantity");
  if (previous.present()) {
    auto p = doseFrom(ctx, previous, *drug);
    if (p) r.set("previousDose", std::move(*p));
  }
  std::string_view reason = res["reasonCode"].at(0)["text"].str();
  if (reason.empty()) reason = res["reasonCode"].at(0)["coding"].at(0)["display"].str();
  if (!reason.empty()) r.set("reason", Json::string(std::string(reason)));
  r.set("prescriber", *prescriber);
  Node mme = extensionValue(res, extensionUrl(ctx.tables.namespaces, kExtDailyMme),
                            "valueQuantity")["value"];
  if (mme.isNumber()) r.set("dailyMme", Json::numberText(mme.json->text()));
  Node taper = extensionNode(res, extensionUrl(ctx.tables.namespaces, kExtTaper));
  if (taper.present()) {
    Json t = Json::object();
    Node step = extensionValue(taper, kExtTaperStep, "valuePositiveInt");
    Node of = extensionValue(taper, kExtTaperOf, "valuePositiveInt");
    Node target = extensionValue(taper, kExtTaperTargetDailyMme, "valueQuantity")["value"];
    Node next = extensionValue(taper, kExtTaperNextStepOn, "valueDate");
    if (step.isNumber()) t.set("step", Json::numberText(step.json->text()));
    if (of.isNumber()) t.set("of", Json::numberText(of.json->text()));
    if (target.isNumber()) t.set("targetDailyMme", Json::numberText(target.json->text()));
    if (!next.str().empty()) t.set("nextStepOn", Json::string(std::string(next.str())));
    r.set("taper", std::move(t));
  }
  setNote(res["note"], extraNotes, &r);
  return record;
}

// ---- care-plan <- CarePlan + Goals (the gateway's own output only) --------

// A care-team member or performer: Reference + the role extension.
std::optional<Json> teamMemberFrom(Context& ctx, const Node& ref) {
  auto c = clinicianFrom(ref);
  if (!c) return c;
  std::string_view role =
      extensionValue(ref, extensionUrl(ctx.tables.namespaces, kExtCareTeamRole), "valueCode").str();
  if (!role.empty()) c->set("role", Json::string(std::string(role)));
  return c;
}

// The Goal entry a reference names (by fullUrl or Goal/id).
const Entry* goalEntryFor(Context& ctx, const Node& ref) {
  std::string_view r = ref["reference"].str();
  for (const Entry& e : ctx.entries) {
    if (e.type != "Goal" || r.empty()) continue;
    if (r == e.fullUrl || r == "Goal/" + std::string(e.resource["id"].str())) return &e;
  }
  return nullptr;
}

// goalId of a Goal the gateway sent: its identifier value after "recordId/".
std::string goalIdOf(Context& ctx, const Entry& goal, std::string_view recordId) {
  std::string_view v = identifierValue(goal.resource["identifier"], ctx.tables.namespaces.record);
  if (v.size() > recordId.size() + 1 && v.substr(0, recordId.size()) == recordId &&
      v[recordId.size()] == '/') {
    return std::string(v.substr(recordId.size() + 1));
  }
  return {};
}

std::optional<Json> goalFrom(Context& ctx, const Entry& goal, std::string goalId) {
  const Node& g = goal.resource;
  Json out = Json::object();
  out.set("goalId", Json::string(std::move(goalId)));
  out.set("description", Json::string(std::string(g["description"]["text"].str())));
  Node target = g["target"].at(0);
  const Measure* measure = measureFor(ctx, target["measure"]);
  if (target["measure"].present() && measure == nullptr) {
    warning(ctx, "code-unknown", target["measure"].path,
            "goal measure " + describeConcept(target["measure"]) + " is not in the tables");
  }
  if (measure != nullptr) out.set("measure", Json::string(measure->code));
  Node baseline = extensionNode(g, extensionUrl(ctx.tables.namespaces, kExtGoalBaseline));
  if (baseline.present() && measure != nullptr) {
    Json b = Json::object();
    std::string why;
    auto v = canonicalValue(ctx, extensionValue(baseline, kExtGoalBaselineValue, "valueQuantity"),
                            *measure, &why);
    if (v) setQuantity(std::move(*v), &b);
    std::string_view date = extensionValue(baseline, kExtGoalBaselineDate, "valueDate").str();
    if (!date.empty()) b.set("date", Json::string(std::string(date)));
    out.set("baseline", std::move(b));
  }
  Node detail = target["detailQuantity"];
  if (detail.present() && measure != nullptr) {
    Json t = Json::object();
    std::string why;
    auto v = canonicalValue(ctx, detail, *measure, &why);
    if (!v) {
      warning(ctx, "value", detail.path, "goal target not carried: " + why);
    } else {
      setQuantity(std::move(*v), &t);
      if (!detail["comparator"].str().empty()) {
        t.set("comparator", Json::string(std::string(detail["comparator"].str())));
      }
      out.set("target", std::move(t));
    }
  }
  if (!target["dueDate"].str().empty()) {
    out.set("due", Json::string(std::string(target["dueDate"].str())));
  }
  if (!g["lifecycleStatus"].str().empty()) {
    out.set("status", Json::string(std::string(g["lifecycleStatus"].str())));
  }
  std::string_view achievement = g["achievementStatus"]["coding"].at(0)["code"].str();
  if (!achievement.empty()) out.set("achievement", Json::string(std::string(achievement)));
  return out;
}

std::optional<Json> activityFrom(Context& ctx, const Node& activity, const std::string& recordId) {
  Node detail = activity["detail"];
  Json out = Json::object();
  std::string_view id =
      extensionValue(activity, extensionUrl(ctx.tables.namespaces, kExtActivityId), "valueString")
          .str();
  out.set("activityId", Json::string(std::string(id)));
  const ActivityType* type = nullptr;
  Node codings = detail["code"]["coding"];
  for (std::size_t i = 0; i < codings.size() && type == nullptr; ++i) {
    for (const ActivityType& a : ctx.tables.activities) {
      if (a.coding.system == codings.at(i)["system"].str() &&
          a.coding.code == codings.at(i)["code"].str()) {
        type = &a;
        break;
      }
    }
  }
  if (type == nullptr) {
    warning(ctx, "code-unknown", detail["code"].path,
            "activity not translated: the mapping tables have no activity type for " +
                describeConcept(detail["code"]));
    return std::nullopt;
  }
  out.set("type", Json::string(type->code));
  if (!detail["description"].str().empty()) {
    out.set("description", Json::string(std::string(detail["description"].str())));
  }
  if (!detail["status"].str().empty()) {
    out.set("status", Json::string(std::string(detail["status"].str())));
  }
  Node timing = detail["scheduledTiming"];
  Node repeat = timing["repeat"];
  if (repeat["frequency"].isNumber() && repeat["period"].isNumber() &&
      repeat["period"].json->toDouble() == 1.0) {
    std::string_view unit = repeat["periodUnit"].str();
    std::string_view per = unit == "d"    ? "day"
                           : unit == "wk" ? "week"
                           : unit == "mo" ? "month"
                                          : "";
    if (!per.empty()) {
      Json f = Json::object();
      f.set("count", Json::numberText(repeat["frequency"].json->text()));
      f.set("per", Json::string(std::string(per)));
      out.set("frequency", std::move(f));
    }
  }
  Node bounds = repeat["boundsPeriod"];
  if (bounds.present()) {
    Json period = Json::object();
    if (!bounds["start"].str().empty()) {
      period.set("start", Json::string(std::string(bounds["start"].str())));
    }
    if (!bounds["end"].str().empty())
      period.set("end", Json::string(std::string(bounds["end"].str())));
    out.set("period", std::move(period));
  }
  if (!timing["event"].at(0).str().empty()) {
    out.set("scheduled", Json::string(std::string(timing["event"].at(0).str())));
  }
  auto performer = teamMemberFrom(ctx, detail["performer"].at(0));
  if (performer) out.set("performer", std::move(*performer));
  Json goals = Json::array();
  for (std::size_t i = 0; i < detail["goal"].size(); ++i) {
    const Entry* g = goalEntryFor(ctx, detail["goal"].at(i));
    std::string goalId = g != nullptr ? goalIdOf(ctx, *g, recordId) : std::string();
    if (!goalId.empty()) goals.push(Json::string(std::move(goalId)));
  }
  if (goals.size() > 0) out.set("goals", std::move(goals));
  return out;
}

std::optional<Json> carePlanFrom(Context& ctx, const Entry& e) {
  const Node& res = e.resource;
  std::string recordId(identifierValue(res["identifier"], ctx.tables.namespaces.record));
  if (recordId.empty()) {
    warning(ctx, "not-supported", res.path,
            "not translated: a CarePlan is read back only when the gateway sent it (identifier "
            "system " +
                ctx.tables.namespaces.record +
                "); plans made in primary care are not "
                "plan records (title \"" +
                std::string(res["title"].str()) + "\")");
    return std::nullopt;
  }
  std::string_view status = toRecordCode(kCarePlanStatuses, res["status"].str());
  if (status.empty()) {
    error(ctx, "code-invalid", res["status"].path,
          "CarePlan status \"" + std::string(res["status"].str()) + "\" has no program status");
  }
  auto record = envelope(ctx, e, "care-plan", res["subject"], {"created"});
  std::optional<Json> author = provenanceAuthor(ctx, e);
  // The pain center's Organization as author is not a clinician.
  if (!author && res["author"]["type"].str() != "Organization") {
    author = teamMemberFrom(ctx, res["author"]);
  }
  if (!author) {
    error(ctx, "required", res["author"].path,
          "no author with a display (and no Provenance author): a plan record needs its author");
  }
  if (!record || !author || status.empty()) return std::nullopt;

  Json& r = *record;
  r.set("author", std::move(*author));
  Json program = Json::object();
  program.set("name", Json::string(std::string(res["title"].str())));
  std::string kindSystem = localCodeSystem(ctx.tables.namespaces, kCsProgramKind);
  for (std::size_t i = 0; i < res["category"].size(); ++i) {
    Node c = res["category"].at(i)["coding"].at(0);
    if (c["system"].str() == kindSystem) {
      program.set("kind", Json::string(std::string(c["code"].str())));
    }
  }
  program.set("status", Json::string(std::string(status)));
  program.set("start", Json::string(std::string(res["period"]["start"].str())));
  if (!res["period"]["end"].str().empty()) {
    program.set("end", Json::string(std::string(res["period"]["end"].str())));
  }
  std::string_view next =
      extensionValue(res, extensionUrl(ctx.tables.namespaces, kExtNextReassessment), "valueDate")
          .str();
  if (!next.empty()) program.set("nextReassessment", Json::string(std::string(next)));
  r.set("program", std::move(program));

  Json conditions = Json::array();
  for (std::size_t i = 0; i < res["addresses"].size(); ++i) {
    Node a = res["addresses"].at(i);
    Json c = Json::object();
    c.set("text", Json::string(std::string(a["display"].str())));
    Node code = extensionValue(a, extensionUrl(ctx.tables.namespaces, kExtConditionCode),
                               "valueCodeableConcept");
    std::string_view icd = code["coding"].at(0)["code"].str();
    if (!icd.empty()) c.set("icd10", Json::string(std::string(icd)));
    conditions.push(std::move(c));
  }
  if (conditions.size() > 0) r.set("conditions", std::move(conditions));

  Json team = Json::array();
  std::string leadUrl = extensionUrl(ctx.tables.namespaces, kExtCareTeamLead);
  for (std::size_t i = 0; i < res["contributor"].size(); ++i) {
    Node c = res["contributor"].at(i);
    auto member = teamMemberFrom(ctx, c);
    if (!member) {
      warning(ctx, "required", c.path, "care-team member without a display: not carried");
      continue;
    }
    Node lead = extensionValue(c, leadUrl, "valueBoolean");
    if (lead.json != nullptr && lead.json->isBool() && lead.json->asBool()) {
      member->set("lead", Json::boolean(true));
    }
    team.push(std::move(*member));
  }
  if (team.size() > 0) r.set("careTeam", std::move(team));

  Json goals = Json::array();
  for (std::size_t i = 0; i < res["goal"].size(); ++i) {
    const Entry* g = goalEntryFor(ctx, res["goal"].at(i));
    std::string goalId = g != nullptr ? goalIdOf(ctx, *g, recordId) : std::string();
    if (goalId.empty()) {
      warning(ctx, "not-found", res["goal"].at(i).path,
              "the Goal this references is not in the input (or not the gateway's): not carried");
      continue;
    }
    auto goal = goalFrom(ctx, *g, std::move(goalId));
    if (goal) goals.push(std::move(*goal));
  }
  if (goals.size() > 0) r.set("goals", std::move(goals));

  Json activities = Json::array();
  for (std::size_t i = 0; i < res["activity"].size(); ++i) {
    auto a = activityFrom(ctx, res["activity"].at(i), recordId);
    if (a) activities.push(std::move(*a));
  }
  if (activities.size() > 0) r.set("activities", std::move(activities));
  setNote(res["note"], {}, &r);
  return record;
}

// ---- dispatch -------------------------------------------------------------

// Patient: read through subjects; Organization: the pain center (the sender
// and plan author); Provenance: read for authors.
constexpr std::string_view kIgnoredTypes[] = {"Patient", "Organization", "Provenance"};

bool hasCarePlan(const Context& ctx) {
  return std::any_of(ctx.entries.begin(), ctx.entries.end(),
                     [](const Entry& e) { return e.type == "CarePlan"; });
}

void translateEntry(Context& ctx, const Entry& e, ReverseResult* out) {
  std::optional<Json> record;
  if (e.type == "Goal") {
    // Goals are part of their CarePlan's record; alone they are not a record.
    if (!hasCarePlan(ctx)) {
      warning(ctx, "not-supported", e.resource.path,
              "not translated: a Goal is read back only with its CarePlan (\"" +
                  std::string(e.resource["description"]["text"].str()) + "\")");
    }
  } else if (e.type == "Observation") {
    record = measurementFrom(ctx, e);
  } else if (e.type == "MedicationStatement" || e.type == "MedicationRequest") {
    record = medicationChangeFrom(ctx, e);
  } else if (e.type == "CarePlan") {
    record = carePlanFrom(ctx, e);
  } else if (std::find(std::begin(kIgnoredTypes), std::end(kIgnoredTypes), e.type) ==
             std::end(kIgnoredTypes)) {
    warning(ctx, "not-supported", e.resource.path,
            "not translated: a " +
                (e.type.empty() ? std::string("resource without resourceType") : e.type) +
                " has no plan-record equivalent");
  }
  if (!record) return;
  auto r = finish(ctx, e, *record);
  if (r) out->records.push_back(std::move(*r));
}

}  // namespace

const Measure* findMeasureByCoding(const MappingTables& tables, std::string_view system,
                                   std::string_view code) {
  for (const Measure& m : tables.measures) {
    if (m.coding.system == system && m.coding.code == code) return &m;
  }
  return nullptr;
}

std::vector<const Drug*> findDrugsByCoding(const MappingTables& tables, std::string_view system,
                                           std::string_view code) {
  std::vector<const Drug*> out;
  for (const Drug& d : tables.drugs) {
    bool local = d.local.system == system && d.local.code == code;
    bool rx = d.rxnorm && d.rxnorm->system == system && d.rxnorm->code == code;
    if (local || rx) out.push_back(&d);
  }
  return out;
}

const Unit* findUnitForUcum(const MappingTables& tables, std::string_view ucum,
                            const std::vector<std::string>& preferred) {
  for (const std::string& name : preferred) {
    const Unit* u = tables.findUnit(name);
    if (u != nullptr && u->ucum == ucum) return u;
  }
  return tables.findUnitByUcum(ucum);
}

ReverseResult translateToRecords(const fhir::Json& input, const MappingTables& tables,
                                 const ReverseOptions& options) {
  ReverseResult out;
  Context ctx{tables, options, &out.issues, {}, {}};
  if (!input.isObject()) {
    fhir::addError(&out.issues, "structure", "", "expected a FHIR resource (a JSON object)");
    return out;
  }
  Node root{&input, ""};
  std::string_view rootType = root["resourceType"].str();
  if (rootType == "Bundle") {
    Node entries{input.find("entry"), "Bundle.entry"};
    ctx.bundleTimestamp = Node{input.find("timestamp"), "Bundle.timestamp"};
    for (std::size_t i = 0; i < entries.size(); ++i) {
      Node e = entries.at(i);
      Node res = e["resource"];
      if (!res.present()) {
        warning(ctx, "required", res.path, "entry without a resource: nothing to translate");
        continue;
      }
      std::string_view method = e["request"]["method"].str();
      if (method == "DELETE") {
        warning(ctx, "not-supported", e["request"].path,
                "not translated: a DELETE entry carries no clinical content");
        continue;
      }
      ctx.entries.push_back(
          Entry{res, std::string(res["resourceType"].str()), std::string(e["fullUrl"].str())});
    }
  } else {
    ctx.entries.push_back(Entry{Node{&input, std::string(rootType)}, std::string(rootType), {}});
  }
  for (const Entry& e : ctx.entries) translateEntry(ctx, e, &out);
  return out;
}

}  // namespace inloop::mappings
