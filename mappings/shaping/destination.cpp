#include "mappings/shaping/destination.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <set>
#include <utility>

#include "mappings/forward/logical_id.h"
#include "mappings/safety/safety.h"

namespace inloop::mappings {

namespace {

using fhir::Json;

constexpr std::string_view kCommunicationCategorySystem =
    "http://terminology.hl7.org/CodeSystem/communication-category";

Json str(std::string_view s) { return Json::string(std::string(s)); }

// The string member `key` of `object`, or "" when absent or not a string.
std::string_view textOf(const Json* object, std::string_view key) {
  if (object == nullptr || !object->isObject()) return {};
  const Json* v = object->find(key);
  return v != nullptr && v->isString() ? std::string_view(v->text()) : std::string_view();
}

Json& add(Json& object, std::string_view key, Json value) {
  object.members().emplace_back(std::string(key), std::move(value));
  return object.members().back().second;
}

Json identifierJson(std::string_view system, std::string_view value) {
  Json o = Json::object();
  add(o, "system", str(system));
  add(o, "value", str(value));
  return o;
}

void collectUuidReferences(const Json& node, std::vector<std::string>* out) {
  if (node.isObject()) {
    std::string_view ref = textOf(&node, "reference");
    if (ref.rfind("urn:uuid:", 0) == 0) out->emplace_back(ref);
    for (const auto& member : node.members()) collectUuidReferences(member.second, out);
  } else if (node.isArray()) {
    for (const Json& item : node.items()) collectUuidReferences(item, out);
  }
}

void appendUtf8(std::uint32_t cp, std::string* out) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the entity starting at s[0] == '&'; returns the characters consumed
// (0 when it is not an entity we know: the '&' is then kept as is).
std::size_t decodeEntity(std::string_view s, std::string* out) {
  std::size_t semi = s.find(';');
  if (semi == std::string_view::npos || semi > 12) return 0;
  std::string_view name = s.substr(1, semi - 1);
  if (name == "amp") {
    *out += '&';
  } else if (name == "lt") {
    *out += '<';
  } else if (name == "gt") {
    *out += '>';
  } else if (name == "quot") {
    *out += '"';
  } else if (name == "apos") {
    *out += '\'';
  } else if (name.size() >= 2 && name[0] == '#') {
    bool hex = name[1] == 'x' || name[1] == 'X';
    std::string digits(name.substr(hex ? 2 : 1));
    if (digits.empty()) return 0;
    char* end = nullptr;
    unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
    if (end == nullptr || *end != '\0') return 0;
    appendUtf8(cp > 0x10FFFF ? 0xFFFD : static_cast<std::uint32_t>(cp), out);
  } else {
    return 0;
  }
  return semi + 1;
}

void newline(std::string* out) {
  while (!out->empty() && out->back() == ' ') out->pop_back();
  if (!out->empty() && out->back() != '\n') *out += '\n';
}

// ---- Shaping ----

struct EntryInfo {
  Json entry;
  std::string type;
  std::string fullUrl;
};

const Json* resourceOf(const Json& entry) { return entry.find("resource"); }
Json* resourceOf(Json& entry) { return entry.find("resource"); }

// The resource's first identifier, or null.
const Json* firstIdentifier(const Json& resource) {
  const Json* ids = resource.find("identifier");
  if (ids == nullptr || !ids->isArray() || ids->items().empty()) return nullptr;
  const Json& first = ids->items().front();
  return first.isObject() ? &first : nullptr;
}

// {type, identifier} for a resource that is not sent, so a reference to it
// keeps its meaning without pointing into the Bundle.
Json logicalReferenceTo(const EntryInfo& target) {
  Json o = Json::object();
  add(o, "type", str(target.type));
  const Json* resource = resourceOf(target.entry);
  const Json* id = resource != nullptr ? firstIdentifier(*resource) : nullptr;
  if (id != nullptr) add(o, "identifier", *id);
  return o;
}

// The conditional URL that finds `entry`'s resource at the receiver:
// "Type?identifier=..." from a conditional PUT, "Patient?identifier=..." from
// a conditional create; "" when the entry has neither.
std::string conditionalUrlOf(const Json& entry) {
  const Json* request = entry.find("request");
  std::string_view method = textOf(request, "method");
  std::string_view url = textOf(request, "url");
  if (method == "PUT" && url.find('?') != std::string_view::npos) return std::string(url);
  std::string_view ifNoneExist = textOf(request, "ifNoneExist");
  if (method == "POST" && !ifNoneExist.empty()) {
    std::string out(url);
    out += '?';
    out += ifNoneExist;
    return out;
  }
  return {};
}

std::string notTakenReason(const DestinationProfile& d, const CapabilitySet* caps,
                           std::string_view type) {
  std::string why = "destination \"" + d.id + "\" does not take " + std::string(type);
  if (!d.acceptsType(type)) return why + " (not in its \"accepts\" list)";
  if (caps != nullptr) {
    if (std::string because = caps->whyNotWritable(type); !because.empty()) {
      return why + " (" + because + ")";
    }
  }
  return why;
}

Json buildCommunication(const Json& carePlan, const PlanRecord& record, std::string* system,
                        std::string* value) {
  Json c = Json::object();
  add(c, "resourceType", str("Communication"));
  add(c, "id",
      Json::string(logicalId(kIdPrefixCommunication, record.recordId,
                             "v" + std::to_string(record.version))));
  if (const Json* meta = carePlan.find("meta")) add(c, "meta", *meta);
  if (const Json* text = carePlan.find("text")) add(c, "text", *text);
  if (const Json* ext = carePlan.find("extension"); ext != nullptr && ext->isArray()) {
    Json kept = Json::array();
    for (const Json& e : ext->items()) {
      std::string_view url = textOf(&e, "url");
      if (url.size() >= 15 && url.substr(url.size() - 15) == "/record-version") kept.push(e);
    }
    if (kept.size() > 0) add(c, "extension", std::move(kept));
  }
  const Json* planId = firstIdentifier(carePlan);
  *system = std::string(textOf(planId, "system"));
  *value = communicationIdentifierValue(record.recordId, record.version);
  Json ids = Json::array();
  ids.push(identifierJson(*system, *value));
  add(c, "identifier", std::move(ids));
  add(c, "status",
      str(textOf(&carePlan, "status") == "entered-in-error" ? "entered-in-error" : "completed"));
  Json coding = Json::object();
  add(coding, "system", str(kCommunicationCategorySystem));
  add(coding, "code", str("notification"));
  add(coding, "display", str("Notification"));
  Json codings = Json::array();
  codings.push(std::move(coding));
  Json category = Json::object();
  add(category, "coding", std::move(codings));
  Json categories = Json::array();
  categories.push(std::move(category));
  add(c, "category", std::move(categories));
  if (const Json* subject = carePlan.find("subject")) add(c, "subject", *subject);
  std::string_view title = textOf(&carePlan, "title");
  if (!title.empty()) {
    Json topic = Json::object();
    add(topic, "text", str(title));
    add(c, "topic", std::move(topic));
  }
  if (planId != nullptr) {
    Json about = Json::object();
    add(about, "type", str("CarePlan"));
    add(about, "identifier", *planId);
    Json abouts = Json::array();
    abouts.push(std::move(about));
    add(c, "about", std::move(abouts));
  }
  if (!record.recordedAt.empty()) add(c, "sent", str(record.recordedAt));
  // Communication.sender does not allow CareTeam; the translator's author is a
  // Practitioner or the pain center's Organization, anything else is left out.
  if (const Json* author = carePlan.find("author")) {
    std::string_view type = textOf(author, "type");
    if (type.empty() || type == "Practitioner" || type == "Organization") {
      add(c, "sender", *author);
    }
  }
  std::string plain;
  if (const Json* text = carePlan.find("text")) plain = narrativeToText(textOf(text, "div"));
  if (plain.empty()) plain = std::string(title);
  if (plain.empty()) plain = "Care plan " + record.recordId;
  Json payload = Json::object();
  add(payload, "contentString", Json::string(std::move(plain)));
  Json payloads = Json::array();
  payloads.push(std::move(payload));
  add(c, "payload", std::move(payloads));
  return c;
}

// True for a safety notice Communication (mappings/safety/safety.h): its first
// identifier's value starts with "notice/".
bool isNoticeEntry(const Json& entry) {
  const Json* identifier = firstIdentifier(*resourceOf(entry));
  return identifier != nullptr && textOf(identifier, "value").starts_with("notice/");
}

// The kept entry a notice is about: of its `about` type (MedicationStatement,
// also MedicationRequest, or CarePlan), with the same business identifier when
// `about` names one; nullptr when none is sent.
EntryInfo* noticeTarget(const Json& entry, std::vector<EntryInfo>& kept) {
  const Json* about = resourceOf(entry)->find("about");
  const Json* first =
      about != nullptr && about->isArray() && about->size() > 0 ? &about->items()[0] : nullptr;
  std::string_view type = textOf(first, "type");
  const Json* identifier = first != nullptr ? first->find("identifier") : nullptr;
  for (EntryInfo& candidate : kept) {
    const bool medication =
        type == "MedicationStatement" &&
        (candidate.type == "MedicationStatement" || candidate.type == "MedicationRequest");
    if (candidate.type != type && !medication) continue;
    const Json* own = firstIdentifier(*resourceOf(candidate.entry));
    if (identifier != nullptr && own != nullptr &&
        (textOf(identifier, "system") != textOf(own, "system") ||
         textOf(identifier, "value") != textOf(own, "value"))) {
      continue;
    }
    return &candidate;
  }
  return nullptr;
}

// Appends the notice's text to `target.note` as an Annotation.
void addNoticeNote(const Json& communication, Json* target) {
  std::string text(kNoticeNotePrefix);
  text += ", " + std::string(textOf(&communication, "priority")) + "): ";
  const Json* payload = communication.find("payload");
  if (payload != nullptr && payload->isArray() && payload->size() > 0) {
    text += textOf(&payload->items()[0], "contentString");
  }
  Json note = Json::object();
  add(note, "text", Json::string(std::move(text)));
  if (const Json* sent = communication.find("sent")) add(note, "time", *sent);
  Json* notes = target->find("note");
  if (notes == nullptr || !notes->isArray()) notes = &add(*target, "note", Json::array());
  notes->push(std::move(note));
}

// Adds `tag` to resource.meta.tag unless a tag with its system and code is there.
void addTag(Json* resource, const Json& tag) {
  Json* meta = resource->find("meta");
  if (meta == nullptr) {
    resource->set("meta", Json::object());
    meta = resource->find("meta");
  }
  Json* tags = meta->find("tag");
  if (tags == nullptr || !tags->isArray()) {
    meta->set("tag", Json::array());
    tags = meta->find("tag");
  }
  for (const Json& t : tags->items()) {
    if (textOf(&t, "system") == textOf(&tag, "system") &&
        textOf(&t, "code") == textOf(&tag, "code")) {
      return;
    }
  }
  tags->push(tag);
}

// Gives every logical reference inside `node` ({"type": T, "identifier":
// {system, value}} without "reference") whose target is in `byIdentifier`
// ("T|system|value" -> fullUrl) that entry's fullUrl as its "reference".
void linkLogicalReferences(Json* node,
                           const std::map<std::string, std::string, std::less<>>& byIdentifier) {
  if (node->isArray()) {
    for (Json& item : node->items()) linkLogicalReferences(&item, byIdentifier);
    return;
  }
  if (!node->isObject()) return;
  const Json* type = node->find("type");
  const Json* identifier = node->find("identifier");
  if (node->find("reference") == nullptr && type != nullptr && type->isString() &&
      identifier != nullptr && identifier->isObject()) {
    auto it = byIdentifier.find(type->text() + "|" + std::string(textOf(identifier, "system")) +
                                "|" + std::string(textOf(identifier, "value")));
    if (it != byIdentifier.end()) node->set("reference", str(it->second));
    return;
  }
  for (auto& member : node->members()) linkLogicalReferences(&member.second, byIdentifier);
}

ShapedDelivery invalid(ShapedDelivery out, std::string reason) {
  out.state = ShapeState::kInvalid;
  out.reason = std::move(reason);
  out.requests.clear();
  out.ndjson.clear();
  return out;
}

// Orders `entries` so that every entry comes after the entries it references
// by fullUrl (bundle order otherwise; a cycle keeps bundle order).
std::vector<std::size_t> dependencyOrder(const std::vector<EntryInfo>& entries) {
  std::map<std::string, std::size_t, std::less<>> byUrl;
  for (std::size_t i = 0; i < entries.size(); ++i) byUrl.emplace(entries[i].fullUrl, i);
  std::vector<std::vector<std::size_t>> deps(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::vector<std::string> refs;
    if (const Json* r = resourceOf(entries[i].entry)) collectUuidReferences(*r, &refs);
    for (const std::string& ref : refs) {
      auto it = byUrl.find(ref);
      if (it != byUrl.end() && it->second != i) deps[i].push_back(it->second);
    }
  }
  std::vector<int> mark(entries.size(), 0);  // 0 new, 1 in progress, 2 done
  std::vector<std::size_t> order;
  order.reserve(entries.size());
  // Iterative DFS (post-order), so a long chain cannot exhaust the stack.
  for (std::size_t root = 0; root < entries.size(); ++root) {
    if (mark[root] != 0) continue;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
    mark[root] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < deps[node].size()) {
        std::size_t dep = deps[node][next++];
        if (mark[dep] == 0) {
          mark[dep] = 1;
          stack.emplace_back(dep, 0);
        }
        continue;
      }
      mark[node] = 2;
      order.push_back(node);
      stack.pop_back();
    }
  }
  return order;
}

}  // namespace

// ---- Names ----

std::string_view destinationKindName(DestinationKind kind) {
  switch (kind) {
    case DestinationKind::kFhirTransaction:
      return "fhir-transaction";
    case DestinationKind::kFhirPut:
      return "fhir-put";
    case DestinationKind::kHttpBundle:
      return "http-bundle";
    case DestinationKind::kNdjsonDir:
      return "ndjson-dir";
  }
  return "fhir-transaction";
}

std::optional<DestinationKind> destinationKindFromName(std::string_view name) {
  for (DestinationKind k : {DestinationKind::kFhirTransaction, DestinationKind::kFhirPut,
                            DestinationKind::kHttpBundle, DestinationKind::kNdjsonDir}) {
    if (destinationKindName(k) == name) return k;
  }
  return std::nullopt;
}

bool isFhirServerKind(DestinationKind kind) {
  return kind == DestinationKind::kFhirTransaction || kind == DestinationKind::kFhirPut;
}

std::string_view authTypeName(AuthType type) {
  switch (type) {
    case AuthType::kNone:
      return "none";
    case AuthType::kBearer:
      return "bearer";
    case AuthType::kBasic:
      return "basic";
    case AuthType::kSmartBackend:
      return "smart-backend";
    case AuthType::kMtls:
      return "mtls";
  }
  return "none";
}

std::optional<AuthType> authTypeFromName(std::string_view name) {
  for (AuthType t : {AuthType::kNone, AuthType::kBearer, AuthType::kBasic, AuthType::kSmartBackend,
                     AuthType::kMtls}) {
    if (authTypeName(t) == name) return t;
  }
  return std::nullopt;
}

std::string describeSecret(const SecretRef& secret) {
  switch (secret.source) {
    case SecretSource::kFile:
      return "file " + secret.name;
    case SecretSource::kEnv:
      return "environment variable " + secret.name;
    case SecretSource::kNone:
      break;
  }
  return "nothing";
}

std::string_view signingAlgName(SigningAlg alg) {
  return alg == SigningAlg::kEs384 ? "ES384" : "RS384";
}

std::optional<SigningAlg> signingAlgFromName(std::string_view name) {
  if (name == "RS384") return SigningAlg::kRs384;
  if (name == "ES384") return SigningAlg::kEs384;
  return std::nullopt;
}

std::string_view shapeStateName(ShapeState state) {
  switch (state) {
    case ShapeState::kSend:
      return "send";
    case ShapeState::kPatientUnmatched:
      return "patient-unmatched";
    case ShapeState::kNothingToSend:
      return "nothing-to-send";
    case ShapeState::kInvalid:
      return "invalid";
  }
  return "invalid";
}

// ---- Settings and routing ----

bool DestinationProfile::acceptsType(std::string_view resourceType) const {
  if (accepts.empty()) return true;
  return std::find(accepts.begin(), accepts.end(), resourceType) != accepts.end();
}

const DestinationProfile* Destinations::find(std::string_view id) const {
  for (const DestinationProfile& d : destinations) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

std::vector<std::string> Destinations::routesFor(std::string_view practiceId) const {
  std::vector<std::string> out;
  auto append = [&](std::string_view key) {
    auto it = routes.find(key);
    if (it == routes.end()) return;
    for (const std::string& id : it->second) {
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
  };
  append(practiceId);
  if (practiceId != kAnyPractice) append(kAnyPractice);
  return out;
}

std::optional<std::string> patientUnmatchedReason(const DestinationProfile& destination,
                                                  const PlanRecord& record) {
  if (destination.patientMatching.mode != PatientMatchingMode::kReference) return std::nullopt;
  const std::optional<std::string>& pcpId = record.patient.pcpPatientId;
  if (pcpId && !pcpId->empty()) return std::nullopt;
  return "destination \"" + destination.id +
         "\" matches patients by the practice's own patient id (system " +
         destination.patientMatching.patientIdentifierSystem +
         ") and this record has no patient.pcpPatientId; it waits until a later version of "
         "record " +
         record.recordId + " carries one";
}

std::vector<RoutedTarget> routeRecord(const Destinations& destinations, const PlanRecord& record) {
  std::vector<RoutedTarget> out;
  for (const std::string& id : destinations.routesFor(record.pcp.practiceId)) {
    const DestinationProfile* d = destinations.find(id);
    if (d == nullptr) continue;
    RoutedTarget t;
    t.destinationId = id;
    if (std::optional<std::string> why = patientUnmatchedReason(*d, record)) {
      t.patientUnmatched = true;
      t.reason = std::move(*why);
    }
    out.push_back(std::move(t));
  }
  return out;
}

// ---- Capabilities ----

const ResourceCapability* CapabilitySet::find(std::string_view type) const {
  for (const ResourceCapability& r : resources) {
    if (r.type == type) return &r;
  }
  return nullptr;
}

bool CapabilitySet::canUpdate(std::string_view type) const {
  if (refused.find(type) != refused.end()) return false;
  const ResourceCapability* r = find(type);
  return r == nullptr || r->update;
}

bool CapabilitySet::canCreate(std::string_view type) const {
  if (refused.find(type) != refused.end()) return false;
  const ResourceCapability* r = find(type);
  return r == nullptr || r->create;
}

std::string CapabilitySet::whyNotWritable(std::string_view type) const {
  if (auto it = refused.find(type); it != refused.end()) {
    return "refused by the receiver: " + it->second;
  }
  const ResourceCapability* r = find(type);
  if (r == nullptr) return {};
  if (type == "Patient" ? !r->create : !r->update) {
    return "not writable per its CapabilityStatement";
  }
  return {};
}

bool CapabilitySet::conditionalUpdateUnsupported(std::string_view type) const {
  if (!conditionalUpdateRefused.empty()) return true;
  const ResourceCapability* r = find(type);
  return r != nullptr && r->conditionalUpdate == false;
}

fhir::Result<CapabilitySet> parseCapabilityStatement(const Json& statement) {
  if (!statement.isObject() || textOf(&statement, "resourceType") != "CapabilityStatement") {
    return fhir::Status(fhir::ErrorCode::kInvalid, "not a CapabilityStatement", "resourceType");
  }
  CapabilitySet caps;
  caps.fhirVersion = std::string(textOf(&statement, "fhirVersion"));
  if (const Json* sw = statement.find("software")) {
    caps.software = std::string(textOf(sw, "name"));
    std::string_view version = textOf(sw, "version");
    if (!version.empty())
      caps.software += (caps.software.empty() ? "" : " ") + std::string(version);
  }
  const Json* rest = statement.find("rest");
  const Json* server = nullptr;
  if (rest != nullptr && rest->isArray()) {
    for (const Json& r : rest->items()) {
      if (textOf(&r, "mode") == "server") {
        server = &r;
        break;
      }
    }
  }
  if (server == nullptr) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "the CapabilityStatement has no rest entry with mode \"server\"", "rest");
  }
  auto codes = [](const Json* interactions, auto&& handle) {
    if (interactions == nullptr || !interactions->isArray()) return;
    for (const Json& i : interactions->items()) handle(textOf(&i, "code"));
  };
  codes(server->find("interaction"), [&](std::string_view code) {
    if (code == "transaction") caps.transaction = true;
    if (code == "batch") caps.batch = true;
  });
  const Json* resources = server->find("resource");
  caps.resourcesListed =
      resources != nullptr && resources->isArray() && !resources->items().empty();
  if (resources != nullptr && resources->isArray()) {
    for (const Json& r : resources->items()) {
      std::string_view type = textOf(&r, "type");
      if (type.empty()) continue;
      ResourceCapability rc;
      rc.type = std::string(type);
      codes(r.find("interaction"), [&](std::string_view code) {
        if (code == "read") rc.read = true;
        if (code == "create") rc.create = true;
        if (code == "update") rc.update = true;
      });
      if (const Json* b = r.find("conditionalCreate"); b != nullptr && b->isBool()) {
        rc.conditionalCreate = b->asBool();
      }
      if (const Json* b = r.find("conditionalUpdate"); b != nullptr && b->isBool()) {
        rc.conditionalUpdate = b->asBool();
      }
      caps.resources.push_back(std::move(rc));
    }
  }
  return caps;
}

DestinationKind chooseKind(const DestinationProfile& destination, const CapabilitySet* caps) {
  if (destination.kind == DestinationKind::kFhirTransaction && caps != nullptr &&
      ((caps->statementRead && !caps->transaction) || caps->refused.count("Bundle") != 0 ||
       !caps->conditionalUpdateRefused.empty())) {
    return DestinationKind::kFhirPut;
  }
  return destination.kind;
}

bool destinationTakes(const DestinationProfile& destination, const CapabilitySet* caps,
                      std::string_view resourceType) {
  if (!destination.acceptsType(resourceType)) return false;
  if (caps == nullptr || !isFhirServerKind(destination.kind)) return true;
  return resourceType == "Patient" ? caps->canCreate(resourceType) : caps->canUpdate(resourceType);
}

TranslateOptions translateOptionsFor(const DestinationProfile& destination,
                                     const CapabilitySet* caps) {
  TranslateOptions options;
  if (!destinationTakes(destination, caps, "MedicationStatement") &&
      destination.fallbacks.medicationStatement == MedicationFallback::kMedicationRequest &&
      destinationTakes(destination, caps, "MedicationRequest")) {
    options.medicationAs = MedicationAs::kRequest;
  }
  return options;
}

// ---- Building blocks ----

void forEachReference(Json& node, const std::function<void(Json& reference)>& visit) {
  if (node.isObject()) {
    const Json* ref = node.find("reference");
    if (ref != nullptr && ref->isString()) visit(node);
    for (auto& member : node.members()) forEachReference(member.second, visit);
  } else if (node.isArray()) {
    for (Json& item : node.items()) forEachReference(item, visit);
  }
}

void forEachReference(const Json& node, const std::function<void(const Json& reference)>& visit) {
  if (node.isObject()) {
    const Json* ref = node.find("reference");
    if (ref != nullptr && ref->isString()) visit(node);
    for (const auto& member : node.members()) forEachReference(member.second, visit);
  } else if (node.isArray()) {
    for (const Json& item : node.items()) forEachReference(item, visit);
  }
}

bool isConditionalReference(std::string_view reference) {
  const std::size_t q = reference.find('?');
  if (q == std::string_view::npos || q == 0 || q + 1 >= reference.size()) return false;
  if (reference[0] < 'A' || reference[0] > 'Z') return false;
  return std::all_of(reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(q),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

std::string communicationIdentifierValue(std::string_view recordId, std::int64_t version) {
  std::string v(recordId);
  v += "/communication/v";
  v += std::to_string(version);
  return v;
}

std::string narrativeToText(std::string_view xhtml) {
  std::string out;
  out.reserve(xhtml.size());
  std::size_t i = 0;
  while (i < xhtml.size()) {
    char c = xhtml[i];
    if (c == '<') {
      std::size_t end = xhtml.find('>', i);
      if (end == std::string_view::npos) break;  // a truncated tag: drop the rest
      std::string_view tag = xhtml.substr(i + 1, end - i - 1);
      bool closing = !tag.empty() && tag[0] == '/';
      if (closing) tag.remove_prefix(1);
      std::size_t n = 0;
      while (n < tag.size() &&
             ((tag[n] >= 'a' && tag[n] <= 'z') || (tag[n] >= 'A' && tag[n] <= 'Z') ||
              (tag[n] >= '0' && tag[n] <= '9'))) {
        ++n;
      }
      std::string name(tag.substr(0, n));
      for (char& ch : name) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
      if (closing && name == "th") {
        out += ": ";
      } else if (closing && name == "td") {
        out += ' ';
      } else if (name == "br" ||
                 (closing && (name == "tr" || name == "p" || name == "div" || name == "li" ||
                              name == "table" || (name.size() == 2 && name[0] == 'h')))) {
        newline(&out);
      }
      i = end + 1;
    } else if (c == '&') {
      std::size_t used = decodeEntity(xhtml.substr(i), &out);
      if (used == 0) {
        out += '&';
        used = 1;
      }
      i += used;
    } else {
      out += c;
      ++i;
    }
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// ---- Shaping ----

ShapedDelivery shapeForDestination(const Json& bundle, const PlanRecord& record,
                                   const DestinationProfile& destination,
                                   const CapabilitySet* caps) {
  ShapedDelivery out;
  out.kind = chooseKind(destination, caps);
  if (std::optional<std::string> why = patientUnmatchedReason(destination, record)) {
    out.state = ShapeState::kPatientUnmatched;
    out.reason = std::move(*why);
    return out;
  }
  const Json* entries = bundle.isObject() ? bundle.find("entry") : nullptr;
  if (textOf(&bundle, "resourceType") != "Bundle" || entries == nullptr || !entries->isArray()) {
    return invalid(std::move(out), "not a Bundle with entries");
  }
  const bool byReference = destination.patientMatching.mode == PatientMatchingMode::kReference;

  std::vector<EntryInfo> all;
  all.reserve(entries->size());
  for (std::size_t i = 0; i < entries->items().size(); ++i) {
    const Json& e = entries->items()[i];
    const Json* resource = e.isObject() ? resourceOf(e) : nullptr;
    std::string_view type = textOf(resource, "resourceType");
    std::string_view fullUrl = textOf(&e, "fullUrl");
    const Json* request = e.isObject() ? e.find("request") : nullptr;
    if (type.empty() || fullUrl.empty() || textOf(request, "method").empty() ||
        textOf(request, "url").empty()) {
      return invalid(std::move(out), "Bundle.entry[" + std::to_string(i) +
                                         "] lacks resource.resourceType, fullUrl or request");
    }
    all.push_back(EntryInfo{e, std::string(type), std::string(fullUrl)});
  }

  // Decide per entry: keep, replace (CarePlan -> Communication) or skip.
  std::vector<EntryInfo> kept;
  std::map<std::string, const EntryInfo*, std::less<>> removed;  // fullUrl -> entry not sent
  std::map<std::string, std::string, std::less<>> renamed;       // fullUrl -> new fullUrl
  std::string patientUrl;
  const EntryInfo* provenance = nullptr;
  std::size_t clinical = 0;
  for (const EntryInfo& info : all) {
    const std::string& type = info.type;
    auto skip = [&](std::string reason) {
      out.skipped.push_back(SkippedResource{type, info.fullUrl, std::move(reason)});
      removed.emplace(info.fullUrl, &info);
    };
    if (type == "Patient") {
      patientUrl = info.fullUrl;
      if (byReference) {
        removed.emplace(info.fullUrl, &info);
        out.substitutions.push_back(
            "Patient entry left out: destination \"" + destination.id +
            "\" matches patients by reference to the practice's patient id");
        continue;
      }
      if (textOf(info.entry.find("request"), "ifNoneExist").empty()) {
        return invalid(std::move(out), "the Patient entry has no request.ifNoneExist");
      }
      if (!destinationTakes(destination, caps, type)) {
        skip(notTakenReason(destination, caps, type));
        continue;
      }
      kept.push_back(info);
      continue;
    }
    if (type == "Provenance") {
      provenance = &info;
      continue;
    }
    if (destinationTakes(destination, caps, type)) {
      kept.push_back(info);
      if (type != "Organization") ++clinical;  // the sender, not the record's content
      continue;
    }
    if (type == "MedicationStatement" &&
        destination.fallbacks.medicationStatement == MedicationFallback::kMedicationRequest) {
      if (destinationTakes(destination, caps, "MedicationRequest")) {
        return invalid(std::move(out),
                       "the Bundle carries a MedicationStatement but destination \"" +
                           destination.id +
                           "\" needs a MedicationRequest: translate with translateOptionsFor()");
      }
      skip(notTakenReason(destination, caps, type) + " and does not take MedicationRequest either");
      continue;
    }
    if (type == "Communication" && isNoticeEntry(info.entry)) {
      std::string reason = notTakenReason(destination, caps, type);
      if (destination.fallbacks.notice == NoticeFallback::kSkip) {
        skip(reason + "; its notice fallback is \"skip\"");
        continue;
      }
      EntryInfo* about = noticeTarget(info.entry, kept);
      if (about == nullptr) {
        skip(reason + " and the resource the notice is about is not sent either");
        continue;
      }
      addNoticeNote(*resourceOf(info.entry), resourceOf(about->entry));
      removed.emplace(info.fullUrl, &info);
      out.substitutions.push_back("safety notice sent as a note on the " + about->type + " (" +
                                  reason + ")");
      continue;
    }
    if (type == "CarePlan" && destination.fallbacks.carePlan == CarePlanFallback::kCommunication) {
      if (destinationTakes(destination, caps, "Communication")) {
        const Json* carePlan = resourceOf(info.entry);
        std::string system;
        std::string value;
        Json comm = buildCommunication(*carePlan, record, &system, &value);
        Json entry = Json::object();
        std::string url =
            "urn:uuid:" + nameBasedUuid("Communication?identifier=" + system + "|" + value);
        add(entry, "fullUrl", str(url));
        add(entry, "resource", std::move(comm));
        Json request = Json::object();
        add(request, "method", str("PUT"));
        add(request, "url", Json::string("Communication?identifier=" + tokenQuery(system, value)));
        add(entry, "request", std::move(request));
        renamed.emplace(info.fullUrl, url);
        removed.emplace(info.fullUrl, &info);
        kept.push_back(EntryInfo{std::move(entry), "Communication", url});
        ++clinical;
        out.substitutions.push_back("CarePlan sent as Communication (" +
                                    notTakenReason(destination, caps, type) + ")");
        continue;
      }
      skip(notTakenReason(destination, caps, type) + " and does not take Communication either");
      continue;
    }
    std::string reason = notTakenReason(destination, caps, type);
    if (type == "Goal") reason += "; the goals are listed in the care plan's narrative";
    if ((type == "MedicationStatement" &&
         destination.fallbacks.medicationStatement == MedicationFallback::kSkip) ||
        (type == "CarePlan" && destination.fallbacks.carePlan == CarePlanFallback::kSkip)) {
      reason += "; its fallback is \"skip\"";
    }
    skip(std::move(reason));
  }

  if (provenance != nullptr) {
    if (!destinationTakes(destination, caps, "Provenance")) {
      out.skipped.push_back(SkippedResource{"Provenance", provenance->fullUrl,
                                            notTakenReason(destination, caps, "Provenance")});
    } else {
      EntryInfo p = *provenance;
      Json* targets = resourceOf(p.entry)->find("target");
      if (targets != nullptr && targets->isArray()) {
        std::vector<Json> left;
        for (Json& t : targets->items()) {
          std::string ref(textOf(&t, "reference"));
          if (auto it = renamed.find(ref); it != renamed.end()) {
            t.set("reference", str(it->second));
          } else if (removed.count(ref) != 0) {
            continue;  // a skipped resource: this Provenance no longer describes it
          }
          left.push_back(std::move(t));
        }
        targets->items() = std::move(left);
      }
      if (clinical > 0 && targets != nullptr && targets->size() > 0) kept.push_back(std::move(p));
    }
  }

  if (clinical == 0) {
    out.state = ShapeState::kNothingToSend;
    out.reason = "destination \"" + destination.id + "\" takes none of this record's resources";
    return out;
  }

  // A transaction of conditional updates the server does not do: single
  // requests instead, which search first (WireRequest::searchFirst).
  if (out.kind == DestinationKind::kFhirTransaction && caps != nullptr) {
    for (const EntryInfo& info : kept) {
      const Json* request = info.entry.find("request");
      if (textOf(request, "method") == "PUT" &&
          textOf(request, "url").find('?') != std::string_view::npos &&
          caps->conditionalUpdateUnsupported(info.type)) {
        out.kind = DestinationKind::kFhirPut;
        out.substitutions.push_back(
            "single requests instead of a transaction: the server does "
            "not do conditional updates of " +
            info.type);
        break;
      }
    }
  }

  // References: subjects by the practice's patient id (reference mode), then
  // references into entries that are not sent.
  Json subject = Json::object();
  if (byReference) {
    const std::string& system = destination.patientMatching.patientIdentifierSystem;
    const std::string& value = *record.patient.pcpPatientId;
    add(subject, "reference", Json::string("Patient?identifier=" + tokenQuery(system, value)));
    add(subject, "type", str("Patient"));
    add(subject, "identifier", identifierJson(system, value));
  }
  // Inside one Bundle (a transaction, or the Bundle an engine gets) the
  // subject points at the Bundle's own Patient entry by its fullUrl: every
  // transaction-capable server resolves that, while a conditional reference in
  // a resource body is stored literally by some (R4 makes resolving it optional).
  const bool oneBundle =
      out.kind == DestinationKind::kFhirTransaction || out.kind == DestinationKind::kHttpBundle;
  const bool patientSent =
      !patientUrl.empty() && removed.find(patientUrl) == removed.end() && !byReference;
  // A logical reference ({type, identifier}: Communication.about names the
  // MedicationStatement of the same record) to a resource sent with it
  // becomes a link to its entry too (the fullUrl; single requests and files
  // then use its conditional URL, below), so the receiver links them.
  std::map<std::string, std::string, std::less<>> byIdentifier;  // "Type|system|value" -> fullUrl
  for (const EntryInfo& info : kept) {
    const Json* id = firstIdentifier(*resourceOf(info.entry));
    if (id == nullptr) continue;
    byIdentifier.emplace(info.type + "|" + std::string(textOf(id, "system")) + "|" +
                             std::string(textOf(id, "value")),
                         info.fullUrl);
  }
  for (EntryInfo& info : kept) {
    Json* resource = resourceOf(info.entry);
    auto fix = [&](Json& ref) {
      std::string target(textOf(&ref, "reference"));
      bool toPatient = target == patientUrl || target.rfind("Patient?", 0) == 0;
      if (byReference && toPatient) {
        ref = subject;
        return;
      }
      if (oneBundle && patientSent && toPatient) {
        ref.set("reference", str(patientUrl));
        return;
      }
      if (auto it = renamed.find(target); it != renamed.end()) {
        ref.set("reference", str(it->second));
        return;
      }
      if (auto it = removed.find(target); it != removed.end()) {
        Json logical = logicalReferenceTo(*it->second);
        for (auto& member : ref.members()) {
          if (member.first != "reference" && member.first != "type" &&
              member.first != "identifier") {
            logical.set(member.first, std::move(member.second));
          }
        }
        ref = std::move(logical);
      }
    };
    forEachReference(*resource, fix);
    linkLogicalReferences(resource, byIdentifier);
    // A conditional write finds the resource by identifier; a client-chosen id
    // in the body makes servers refuse the create-on-no-match ("Cannot provide
    // ID for create by update", Medplum). The stored translation keeps its id.
    if (isFhirServerKind(out.kind) &&
        textOf(info.entry.find("request"), "url").find('?') != std::string_view::npos) {
      resource->erase("id");
    }
  }

  // The record version every piece of this delivery belongs to: the
  // Provenance's tag (system .../record-version, code "<recordId>/<version>").
  const Json* versionTag = nullptr;
  if (provenance != nullptr) {
    const Json* meta = resourceOf(provenance->entry)->find("meta");
    const Json* tags = meta != nullptr ? meta->find("tag") : nullptr;
    if (tags != nullptr && tags->isArray() && !tags->items().empty()) {
      versionTag = &tags->items().front();
    }
  }
  switch (out.kind) {
    case DestinationKind::kFhirTransaction:
    case DestinationKind::kHttpBundle: {
      const bool engine = out.kind == DestinationKind::kHttpBundle;
      Json shaped = Json::object();
      for (const auto& member : bundle.members()) {
        if (member.first == "entry") {
          Json list = Json::array();
          for (EntryInfo& info : kept) list.push(std::move(info.entry));
          add(shaped, "entry", std::move(list));
        } else {
          add(shaped, member.first, member.second);
        }
        // An interface engine gets a stable message id per record version
        // (the same on every retry and replay), as Bundle.identifier and as
        // the Idempotency-Key header.
        if (engine && member.first == "resourceType" && versionTag != nullptr) {
          add(shaped, "identifier",
              identifierJson(textOf(versionTag, "system"), textOf(versionTag, "code")));
        }
      }
      WireRequest w{"POST", "", {}, std::move(shaped)};
      if (engine && versionTag != nullptr) {
        w.headers.push_back({"Idempotency-Key", std::string(textOf(versionTag, "code"))});
      }
      out.requests.push_back(std::move(w));
      break;
    }
    case DestinationKind::kFhirPut:
    case DestinationKind::kNdjsonDir: {
      // Outside a transaction a urn:uuid means nothing: point at the resource
      // by the conditional URL that finds it at the receiver.
      std::map<std::string, const EntryInfo*, std::less<>> byUrl;
      for (const EntryInfo& info : kept) byUrl.emplace(info.fullUrl, &info);
      std::vector<std::size_t> order = dependencyOrder(kept);
      std::vector<Json> resolved(kept.size());
      for (std::size_t i = 0; i < kept.size(); ++i) {
        resolved[i] = *resourceOf(kept[i].entry);
        auto resolve = [&](Json& ref) {
          auto it = byUrl.find(textOf(&ref, "reference"));
          if (it == byUrl.end()) return;
          std::string url = conditionalUrlOf(it->second->entry);
          if (url.empty()) return;
          ref.set("reference", Json::string(std::move(url)));
          if (ref.find("type") == nullptr) ref.set("type", str(it->second->type));
          const Json* id = firstIdentifier(*resourceOf(it->second->entry));
          if (id != nullptr && ref.find("identifier") == nullptr) ref.set("identifier", *id);
        };
        forEachReference(resolved[i], resolve);
      }
      for (std::size_t i : order) {
        if (out.kind == DestinationKind::kNdjsonDir) {
          // Each line says which record version it belongs to.
          if (versionTag != nullptr) addTag(&resolved[i], *versionTag);
          fhir::appendJson(resolved[i], fhir::JsonStyle::kCompact, &out.ndjson);
          out.ndjson += '\n';
          continue;
        }
        const Json* request = kept[i].entry.find("request");
        WireRequest w;
        w.method = std::string(textOf(request, "method"));
        w.url = std::string(textOf(request, "url"));
        w.searchFirst = w.method == "PUT" && w.url.find('?') != std::string::npos &&
                        caps != nullptr && caps->conditionalUpdateUnsupported(kept[i].type);
        std::string_view ifNoneExist = textOf(request, "ifNoneExist");
        if (!ifNoneExist.empty()) w.headers.push_back({"If-None-Exist", std::string(ifNoneExist)});
        w.body = std::move(resolved[i]);
        out.requests.push_back(std::move(w));
      }
      break;
    }
  }
  return out;
}

ShapedDelivery shapeRecord(const PlanRecord& record, const MappingTables& tables,
                           const DestinationProfile& destination, const CapabilitySet* caps,
                           const fhir::Json* storedBundle) {
  // Park before translating: nothing to do for an unmatched patient.
  if (std::optional<std::string> why = patientUnmatchedReason(destination, record)) {
    ShapedDelivery out;
    out.kind = chooseKind(destination, caps);
    out.state = ShapeState::kPatientUnmatched;
    out.reason = std::move(*why);
    return out;
  }
  const TranslateOptions options = translateOptionsFor(destination, caps);
  TranslationResult t = translateRecord(record, tables, options);
  if (t.bundle && storedBundle != nullptr) {
    // The notices were decided at ingest; only the stored Bundle has them.
    fhir::Result<std::size_t> carried =
        carryNoticeEntries(*storedBundle, options.medicationAs, &*t.bundle);
    if (!carried.isOk()) t.bundle.reset();
  }
  if (!t.bundle) {
    ShapedDelivery out;
    out.kind = chooseKind(destination, caps);
    out.state = ShapeState::kInvalid;
    out.reason = "translation failed";
    for (const fhir::Issue& i : t.issues) {
      if (i.severity == fhir::Severity::kError || i.severity == fhir::Severity::kFatal) {
        out.reason += ": " + i.path + ": " + i.message;
        break;
      }
    }
    return out;
  }
  return shapeForDestination(*t.bundle, record, destination, caps);
}

}  // namespace inloop::mappings
