#include "mappings/shaping/destination.h"

// Routing, capability discovery and per-destination shaping, with the example
// records translated by the shipped tables (config/mappings).

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/conventions.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/tables/tables.h"
#include "tests/support/mapping_fixtures.h"

using inloop::fhir::Json;
using namespace inloop::mappings;  // NOLINT: test file

namespace fs = std::filesystem;

namespace {

using inloop::testing::readFile;

const MappingTables& tables() { return inloop::testing::shippedTables(); }

PlanRecord example(const std::string& name) {
  return inloop::testing::readRecordFile(fs::path(INLOOP_SOURCE_DIR) / "examples/records" / name);
}

Json translated(const PlanRecord& r, const TranslateOptions& o = {}) {
  TranslationResult t = translateRecord(r, tables(), o);
  INFO(inloop::fhir::formatIssues(t.issues));
  REQUIRE(t.bundle.has_value());
  return *t.bundle;
}

CapabilitySet capsFrom(const std::string& file) {
  auto doc =
      inloop::fhir::parseJson(readFile(fs::path(INLOOP_TEST_DATA_DIR) / "destinations" / file));
  REQUIRE(doc.isOk());
  auto caps = parseCapabilityStatement(*doc);
  INFO(caps.status().toString());
  REQUIRE(caps.isOk());
  return *caps;
}

DestinationProfile profile(DestinationKind kind) {
  DestinationProfile d;
  d.id = "test-dest";
  d.kind = kind;
  d.endpoint = "http://127.0.0.1:1/fhir";
  return d;
}

DestinationProfile byReference(DestinationKind kind) {
  DestinationProfile d = profile(kind);
  d.patientMatching.mode = PatientMatchingMode::kReference;
  d.patientMatching.patientIdentifierSystem = "urn:oid:2.16.840.1.113883.3.9999.1";
  return d;
}

// Resource types of the Bundle of a one-request shape, in order.
std::vector<std::string> bundleTypes(const Json& bundle) {
  std::vector<std::string> out;
  for (const Json& e : bundle.find("entry")->items()) {
    out.push_back(e.find("resource")->find("resourceType")->text());
  }
  return out;
}

std::vector<std::string> requestTypes(const ShapedDelivery& s) {
  std::vector<std::string> out;
  for (const WireRequest& w : s.requests) out.push_back(w.body.find("resourceType")->text());
  return out;
}

std::vector<std::string> skippedTypes(const ShapedDelivery& s) {
  std::vector<std::string> out;
  for (const SkippedResource& k : s.skipped) out.push_back(k.resourceType);
  return out;
}

// Every "reference" string inside `node`.
void references(const Json& node, std::vector<std::string>* out) {
  if (node.isObject()) {
    const Json* r = node.find("reference");
    if (r != nullptr && r->isString()) out->push_back(r->text());
    for (const auto& m : node.members()) references(m.second, out);
  } else if (node.isArray()) {
    for (const Json& i : node.items()) references(i, out);
  }
}

void requireValid(const Json& resource) {
  inloop::fhir::Issues issues = inloop::fhir::validateResource(resource);
  INFO(inloop::fhir::formatIssues(issues));
  REQUIRE_FALSE(inloop::fhir::hasErrors(issues));
}

const std::string kCarePlan = "care-plan-functional-restoration.json";
const std::string kPain = "measurement-pain-nrs.json";                 // has pcpPatientId
const std::string kBloodPressure = "measurement-blood-pressure.json";  // no pcpPatientId
const std::string kTaper = "medication-taper-oxycodone.json";

}  // namespace

TEST_CASE("shaping: table of records x destinations", "[mappings][destination]") {
  struct Row {
    const char* name;
    std::string record;
    DestinationProfile dest;
    const char* capsFile;  // nullptr: unknown server
    ShapeState state;
    DestinationKind kind;
    std::vector<std::string> sent;     // resource types, in order
    std::vector<std::string> skipped;  // resource types
  };
  DestinationProfile noCarePlan = profile(DestinationKind::kFhirTransaction);
  // Organization: the sender, kept; alone it is nothing to send (fallback skip).
  noCarePlan.accepts = {"Patient", "Organization", "Observation", "Communication", "Provenance"};
  DestinationProfile noCarePlanSkip = noCarePlan;
  noCarePlanSkip.fallbacks.carePlan = CarePlanFallback::kSkip;
  DestinationProfile onlyObservations = profile(DestinationKind::kFhirTransaction);
  onlyObservations.accepts = {"Observation"};
  DestinationProfile noMedsSkip = profile(DestinationKind::kFhirTransaction);
  noMedsSkip.accepts = {"Patient", "Observation", "Provenance"};
  DestinationProfile noStatement = profile(DestinationKind::kHttpBundle);
  noStatement.accepts = {"Patient", "MedicationRequest", "Provenance"};
  noStatement.fallbacks.medicationStatement = MedicationFallback::kSkip;

  const std::vector<Row> rows = {
      {"transaction, conditional-create",
       kPain,
       profile(DestinationKind::kFhirTransaction),
       nullptr,
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Patient", "Organization", "Observation", "Provenance"},
       {}},
      {"transaction, reference",
       kPain,
       byReference(DestinationKind::kFhirTransaction),
       nullptr,
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Organization", "Observation", "Provenance"},
       {}},
      {"reference without pcpPatientId",
       kBloodPressure,
       byReference(DestinationKind::kFhirTransaction),
       nullptr,
       ShapeState::kPatientUnmatched,
       DestinationKind::kFhirTransaction,
       {},
       {}},
      {"conditional-create without pcpPatientId",
       kBloodPressure,
       profile(DestinationKind::kFhirTransaction),
       nullptr,
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Patient", "Organization", "Observation", "Provenance"},
       {}},
      {"care plan, everything taken",
       kCarePlan,
       profile(DestinationKind::kFhirTransaction),
       nullptr,
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Patient", "Organization", "CarePlan", "Goal", "Goal", "Provenance"},
       {}},
      {"care plan -> Communication (accepts)",
       kCarePlan,
       noCarePlan,
       nullptr,
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Patient", "Organization", "Communication", "Provenance"},
       {"Goal", "Goal"}},
      {"care plan skipped (fallback skip)",
       kCarePlan,
       noCarePlanSkip,
       nullptr,
       ShapeState::kNothingToSend,
       DestinationKind::kFhirTransaction,
       {},
       {"CarePlan", "Goal", "Goal"}},
      {"care plan, types a partial CapabilityStatement leaves out are sent",
       kCarePlan,
       profile(DestinationKind::kFhirTransaction),
       "metadata-peer-no-careplan-goal.json",
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Patient", "Organization", "CarePlan", "Goal", "Goal", "Provenance"},
       {}},
      {"care plan, peer takes everything",
       kCarePlan,
       profile(DestinationKind::kFhirTransaction),
       "metadata-peer.json",
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Patient", "Organization", "CarePlan", "Goal", "Goal", "Provenance"},
       {}},
      {"no transaction -> single requests; Goal listed read-only is skipped",
       kCarePlan,
       profile(DestinationKind::kFhirTransaction),
       "metadata-no-transaction.json",
       ShapeState::kSend,
       DestinationKind::kFhirPut,
       {"Patient", "Organization", "CarePlan", "Provenance"},
       {"Goal", "Goal"}},
      {"fhir-put orders Goals before the CarePlan",
       kCarePlan,
       profile(DestinationKind::kFhirPut),
       nullptr,
       ShapeState::kSend,
       DestinationKind::kFhirPut,
       {"Patient", "Organization", "Goal", "Goal", "CarePlan", "Provenance"},
       {}},
      {"only Observations: Patient and Provenance skipped",
       kPain,
       onlyObservations,
       nullptr,
       ShapeState::kSend,
       DestinationKind::kFhirTransaction,
       {"Observation"},
       {"Patient", "Organization", "Provenance"}},
      {"medication to a receiver of neither",
       kTaper,
       noMedsSkip,
       nullptr,
       ShapeState::kNothingToSend,
       DestinationKind::kFhirTransaction,
       {},
       {"Organization", "MedicationStatement"}},
      {"MedicationStatement fallback skip",
       kTaper,
       noStatement,
       nullptr,
       ShapeState::kNothingToSend,
       DestinationKind::kHttpBundle,
       {},
       {"Organization", "MedicationStatement"}},
      {"http-bundle keeps the Bundle",
       kTaper,
       profile(DestinationKind::kHttpBundle),
       nullptr,
       ShapeState::kSend,
       DestinationKind::kHttpBundle,
       {"Patient", "Organization", "MedicationStatement", "Provenance"},
       {}},
  };
  for (const Row& row : rows) {
    SECTION(row.name) {
      PlanRecord r = example(row.record);
      std::optional<CapabilitySet> caps;
      if (row.capsFile != nullptr) caps = capsFrom(row.capsFile);
      const CapabilitySet* c = caps ? &*caps : nullptr;
      ShapedDelivery s = shapeRecord(r, tables(), row.dest, c);
      INFO(s.reason);
      REQUIRE(s.state == row.state);
      CHECK(s.kind == row.kind);
      CHECK(skippedTypes(s) == row.skipped);
      for (const SkippedResource& k : s.skipped) CHECK_FALSE(k.reason.empty());
      if (row.state != ShapeState::kSend) {
        CHECK(s.requests.empty());
        CHECK_FALSE(s.reason.empty());
        continue;
      }
      if (s.kind == DestinationKind::kFhirPut) {
        CHECK(requestTypes(s) == row.sent);
      } else {
        REQUIRE(s.requests.size() == 1);
        CHECK(s.requests[0].method == "POST");
        CHECK(s.requests[0].url.empty());
        CHECK(bundleTypes(s.requests[0].body) == row.sent);
        requireValid(s.requests[0].body);
        // Every urn:uuid reference points at an entry of the Bundle.
        std::set<std::string> urls;
        for (const Json& e : s.requests[0].body.find("entry")->items()) {
          urls.insert(e.find("fullUrl")->text());
        }
        std::vector<std::string> refs;
        references(s.requests[0].body, &refs);
        for (const std::string& ref : refs) {
          if (ref.rfind("urn:uuid:", 0) == 0) CHECK(urls.count(ref) == 1);
        }
      }
    }
  }
}

TEST_CASE("shaping: reference mode points subjects at the practice's patient id",
          "[mappings][destination]") {
  for (const std::string& name : {kPain, kCarePlan, kTaper}) {
    PlanRecord r = example(name);
    REQUIRE(r.patient.pcpPatientId.has_value());
    DestinationProfile d = byReference(DestinationKind::kFhirTransaction);
    ShapedDelivery s = shapeRecord(r, tables(), d, nullptr);
    REQUIRE(s.state == ShapeState::kSend);
    const std::string expected =
        "Patient?identifier=" +
        tokenQuery(d.patientMatching.patientIdentifierSystem, *r.patient.pcpPatientId);
    int subjects = 0;
    for (const Json& e : s.requests[0].body.find("entry")->items()) {
      const Json& res = *e.find("resource");
      CHECK(res.find("resourceType")->text() != "Patient");
      if (const Json* subject = res.find("subject")) {
        ++subjects;
        CHECK(subject->find("reference")->text() == expected);
        CHECK(subject->find("identifier")->find("system")->text() ==
              d.patientMatching.patientIdentifierSystem);
        CHECK(subject->find("identifier")->find("value")->text() == *r.patient.pcpPatientId);
      }
    }
    CHECK(subjects >= 1);
    std::vector<std::string> refs;
    references(s.requests[0].body, &refs);
    for (const std::string& ref : refs) {
      if (ref.rfind("Patient", 0) == 0) CHECK(ref == expected);
    }
    requireValid(s.requests[0].body);
  }
}

TEST_CASE("shaping: a record without pcpPatientId waits for a reference destination",
          "[mappings][destination]") {
  PlanRecord r = example(kBloodPressure);
  REQUIRE_FALSE(r.patient.pcpPatientId.has_value());
  DestinationProfile d = byReference(DestinationKind::kFhirPut);
  d.id = "riverside-ehr";
  ShapedDelivery s = shapeForDestination(translated(r), r, d, nullptr);
  CHECK(s.state == ShapeState::kPatientUnmatched);
  CHECK(s.requests.empty());
  CHECK(s.reason.find("riverside-ehr") != std::string::npos);
  CHECK(s.reason.find("pcpPatientId") != std::string::npos);
  // Never names the patient.
  CHECK(s.reason.find(r.patient.name.family) == std::string::npos);
  CHECK(s.reason.find(r.patient.mrn) == std::string::npos);

  // A later version carrying the id is released.
  PlanRecord later = r;
  later.version += 1;
  later.patient.pcpPatientId = "RFM-12345";
  CHECK(shapeRecord(later, tables(), d, nullptr).state == ShapeState::kSend);
  CHECK_FALSE(patientUnmatchedReason(d, later).has_value());
  CHECK(patientUnmatchedReason(d, r).has_value());
  CHECK_FALSE(patientUnmatchedReason(profile(DestinationKind::kFhirPut), r).has_value());
}

TEST_CASE("shaping: conditional-create keeps the Patient with ifNoneExist",
          "[mappings][destination]") {
  PlanRecord r = example(kPain);
  ShapedDelivery s = shapeRecord(r, tables(), profile(DestinationKind::kFhirTransaction), nullptr);
  REQUIRE(s.state == ShapeState::kSend);
  const Json& first = s.requests[0].body.find("entry")->items().front();
  CHECK(first.find("resource")->find("resourceType")->text() == "Patient");
  CHECK(first.find("request")->find("method")->text() == "POST");
  CHECK(first.find("request")->find("ifNoneExist")->text().rfind("identifier=", 0) == 0);
  // The translator's Bundle, less the client ids of conditional writes, with
  // every subject pointing at the Bundle's Patient entry by its fullUrl (a
  // conditional reference in a body is stored literally by some servers).
  Json expected = translated(r);
  const std::string patientUrl = first.find("fullUrl")->text();
  CHECK(patientUrl.rfind("urn:uuid:", 0) == 0);
  int subjects = 0;
  for (Json& e : expected.find("entry")->items()) {
    if (e.find("request")->find("url")->text().find('?') != std::string::npos) {
      e.find("resource")->erase("id");
    }
    if (Json* subject = e.find("resource")->find("subject")) {
      CHECK(subject->find("reference")->text().rfind("Patient?identifier=", 0) == 0);
      subject->set("reference", Json::string(patientUrl));
      ++subjects;
    }
  }
  CHECK(subjects > 0);
  CHECK(s.requests[0].body == expected);
  CHECK(inloop::fhir::writeJson(s.requests[0].body).find("\"Patient?") == std::string::npos);
}

TEST_CASE("shaping: MedicationStatement -> MedicationRequest", "[mappings][destination]") {
  PlanRecord r = example(kTaper);
  DestinationProfile d = profile(DestinationKind::kFhirTransaction);
  d.accepts = {"Patient", "MedicationRequest", "Provenance"};
  CHECK(translateOptionsFor(d, nullptr).medicationAs == MedicationAs::kRequest);
  CHECK(translateOptionsFor(profile(DestinationKind::kFhirTransaction), nullptr).medicationAs ==
        MedicationAs::kStatement);

  ShapedDelivery s = shapeRecord(r, tables(), d, nullptr);
  REQUIRE(s.state == ShapeState::kSend);
  CHECK(bundleTypes(s.requests[0].body) ==
        std::vector<std::string>{"Patient", "MedicationRequest", "Provenance"});
  const Json& mr = *s.requests[0].body.find("entry")->items()[1].find("resource");
  CHECK(mr.find("intent")->text() == "plan");
  CHECK(mr.find("reportedBoolean")->asBool());
  requireValid(s.requests[0].body);

  // A Bundle translated with the default options is refused, not half-sent.
  ShapedDelivery wrong = shapeForDestination(translated(r), r, d, nullptr);
  CHECK(wrong.state == ShapeState::kInvalid);
  CHECK(wrong.reason.find("translateOptionsFor") != std::string::npos);
}

TEST_CASE("shaping: CarePlan -> Communication", "[mappings][destination]") {
  PlanRecord r = example(kCarePlan);
  DestinationProfile d = profile(DestinationKind::kFhirTransaction);
  d.accepts = {"Patient", "Communication", "Provenance"};
  ShapedDelivery s = shapeRecord(r, tables(), d, nullptr);
  REQUIRE(s.state == ShapeState::kSend);
  REQUIRE(s.substitutions.size() == 1);
  CHECK(s.substitutions[0].find("Communication") != std::string::npos);
  const Json& bundle = s.requests[0].body;
  const Json& entry = bundle.find("entry")->items()[1];
  const Json& c = *entry.find("resource");
  REQUIRE(c.find("resourceType")->text() == "Communication");
  CHECK(c.find("status")->text() == "completed");
  CHECK(c.find("category")->items()[0].find("coding")->items()[0].find("code")->text() ==
        "notification");
  const std::string& system = tables().namespaces.record;
  CHECK(c.find("identifier")->items()[0].find("system")->text() == system);
  CHECK(c.find("identifier")->items()[0].find("value")->text() ==
        communicationIdentifierValue(r.recordId, r.version));
  CHECK(c.find("about")->items()[0].find("identifier")->find("value")->text() == r.recordId);
  CHECK(c.find("sent")->text() == r.recordedAt);
  CHECK(c.find("subject") != nullptr);
  // The sender is the pain center's Organization (the plan's author); not
  // sent to this destination, it is named by its NPI instead of a fullUrl.
  const Json* sender = c.find("sender");
  REQUIRE(sender != nullptr);
  CHECK(sender->find("type")->text() == "Organization");
  CHECK(sender->find("reference") == nullptr);
  CHECK(sender->find("identifier")->find("system")->text() == "http://hl7.org/fhir/sid/us-npi");
  CHECK(sender->find("identifier")->find("value")->text() == tables().contact->organization.npi);
  const std::string payload = c.find("payload")->items()[0].find("contentString")->text();
  CHECK(payload.find(r.carePlan()->program.name) != std::string::npos);
  CHECK(payload.find('<') == std::string::npos);
  CHECK(entry.find("request")->find("url")->text() ==
        "Communication?identifier=" +
            tokenQuery(system, communicationIdentifierValue(r.recordId, r.version)));
  // The Provenance now describes the Communication.
  const Json& prov = *bundle.find("entry")->items()[2].find("resource");
  REQUIRE(prov.find("target")->size() == 1);
  CHECK(prov.find("target")->items()[0].find("reference")->text() == entry.find("fullUrl")->text());
  requireValid(bundle);

  // Replays give the same bytes (idempotent at the receiver); a new version a
  // new Communication.
  CHECK(shapeRecord(r, tables(), d, nullptr).requests[0].body == bundle);
  PlanRecord v2 = r;
  v2.version = r.version + 1;
  // Kept in a local: a reference into the temporary's body would dangle.
  const ShapedDelivery s2 = shapeRecord(v2, tables(), d, nullptr);
  const Json& c2 = *s2.requests[0].body.find("entry")->items()[1].find("resource");
  CHECK(c2.find("identifier")->items()[0].find("value")->text() !=
        c.find("identifier")->items()[0].find("value")->text());
}

TEST_CASE("shaping: Goals kept when the CarePlan is not - references become logical",
          "[mappings][destination]") {
  PlanRecord r = example(kCarePlan);
  DestinationProfile d = profile(DestinationKind::kFhirTransaction);
  d.accepts = {"Patient", "CarePlan", "Provenance"};  // no Goal, no Organization
  ShapedDelivery s = shapeRecord(r, tables(), d, nullptr);
  REQUIRE(s.state == ShapeState::kSend);
  CHECK(skippedTypes(s) == std::vector<std::string>{"Organization", "Goal", "Goal"});
  const Json& cp = *s.requests[0].body.find("entry")->items()[1].find("resource");
  REQUIRE(cp.find("resourceType")->text() == "CarePlan");
  const Json* goals = cp.find("goal");
  REQUIRE(goals != nullptr);
  REQUIRE(goals->size() == r.carePlan()->goals.size());
  for (const Json& g : goals->items()) {
    CHECK(g.find("reference") == nullptr);
    CHECK(g.find("type")->text() == "Goal");
    CHECK(g.find("identifier")->find("value")->text().rfind(r.recordId + "/", 0) == 0);
  }
  std::vector<std::string> refs;
  references(s.requests[0].body, &refs);
  for (const std::string& ref : refs) CHECK(ref.find("Goal") == std::string::npos);
  // The author, the pain center's Organization, is named by its NPI.
  const Json* author = cp.find("author");
  REQUIRE(author != nullptr);
  CHECK(author->find("reference") == nullptr);
  CHECK(author->find("type")->text() == "Organization");
  CHECK(author->find("identifier")->find("value")->text() == tables().contact->organization.npi);
  requireValid(s.requests[0].body);
}

TEST_CASE("shaping: fhir-put requests and ndjson lines carry no urn:uuid",
          "[mappings][destination]") {
  PlanRecord r = example(kCarePlan);
  ShapedDelivery put = shapeRecord(r, tables(), profile(DestinationKind::kFhirPut), nullptr);
  REQUIRE(put.state == ShapeState::kSend);
  REQUIRE(r.carePlan()->goals.size() == 2);
  REQUIRE(put.requests.size() == 6);  // Patient, Organization, 2 Goals, CarePlan, Provenance
  const WireRequest& patient = put.requests.front();
  CHECK(patient.method == "POST");
  CHECK(patient.url == "Patient");
  REQUIRE(patient.headers.size() == 1);
  CHECK(patient.headers[0].name == "If-None-Exist");
  CHECK(patient.headers[0].value.rfind("identifier=", 0) == 0);
  for (std::size_t i = 1; i < put.requests.size(); ++i) {
    const WireRequest& w = put.requests[i];
    CHECK(w.method == "PUT");
    CHECK(w.url.rfind(w.body.find("resourceType")->text() + "?", 0) == 0);
    CHECK(w.headers.empty());
    requireValid(w.body);
  }
  for (const WireRequest& w : put.requests) {
    std::vector<std::string> refs;
    references(w.body, &refs);
    for (const std::string& ref : refs) CHECK(ref.rfind("urn:uuid:", 0) == std::string::npos);
  }
  // CarePlan.goal points at the Goals' conditional URLs, its author at the
  // Organization's, which is written first.
  const WireRequest& cp = put.requests[4];
  REQUIRE(cp.body.find("resourceType")->text() == "CarePlan");
  REQUIRE(put.requests[1].body.find("resourceType")->text() == "Organization");
  CHECK(cp.body.find("author")->find("reference")->text() == put.requests[1].url);
  std::set<std::string> goalUrls;
  for (std::size_t i = 2; i <= 3; ++i) goalUrls.insert(put.requests[i].url);
  for (const Json& g : cp.body.find("goal")->items()) {
    CHECK(goalUrls.count(g.find("reference")->text()) == 1);
  }

  ShapedDelivery nd = shapeRecord(r, tables(), profile(DestinationKind::kNdjsonDir), nullptr);
  REQUIRE(nd.state == ShapeState::kSend);
  CHECK(nd.requests.empty());
  std::istringstream lines(nd.ndjson);
  std::string line;
  std::vector<std::string> types;
  while (std::getline(lines, line)) {
    auto doc = inloop::fhir::parseJson(line);
    REQUIRE(doc.isOk());
    types.push_back(doc->find("resourceType")->text());
    CHECK(line.find("urn:uuid:") == std::string::npos);
  }
  CHECK(types == requestTypes(put));
  CHECK(nd.ndjson.back() == '\n');
}

TEST_CASE("shaping: conditional writes to FHIR servers carry no client id",
          "[mappings][destination]") {
  // The stored translation keeps stable logical ids; a server refuses a
  // conditional create-on-no-match whose body names an id of its own choosing.
  PlanRecord r = example(kCarePlan);
  Json translatedBundle = translated(r);
  std::size_t withId = 0;
  for (const Json& e : translatedBundle.find("entry")->items()) {
    withId += e.find("resource")->find("id") != nullptr ? 1 : 0;
  }
  CHECK(withId > 0);

  ShapedDelivery tx = shapeRecord(r, tables(), profile(DestinationKind::kFhirTransaction), nullptr);
  REQUIRE(tx.state == ShapeState::kSend);
  REQUIRE(tx.requests.size() == 1);
  for (const Json& e : tx.requests[0].body.find("entry")->items()) {
    INFO(e.find("request")->find("url")->text());
    CHECK(e.find("resource")->find("id") == nullptr);
  }
  ShapedDelivery put = shapeRecord(r, tables(), profile(DestinationKind::kFhirPut), nullptr);
  REQUIRE(put.state == ShapeState::kSend);
  for (const WireRequest& w : put.requests) {
    INFO(w.url);
    CHECK(w.body.find("id") == nullptr);
  }
  // Interface engines and file drops get the translation's ids unchanged.
  ShapedDelivery engine = shapeRecord(r, tables(), profile(DestinationKind::kHttpBundle), nullptr);
  REQUIRE(engine.state == ShapeState::kSend);
  std::size_t engineIds = 0;
  for (const Json& e : engine.requests[0].body.find("entry")->items()) {
    engineIds += e.find("resource")->find("id") != nullptr ? 1 : 0;
  }
  CHECK(engineIds == withId);
}

TEST_CASE("shaping: malformed Bundles are invalid, not sent", "[mappings][destination]") {
  PlanRecord r = example(kPain);
  DestinationProfile d = profile(DestinationKind::kFhirTransaction);
  const char* bad[] = {
      R"({"resourceType":"Patient"})",
      R"({"resourceType":"Bundle"})",
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation"}}]})",
  };
  for (const char* text : bad) {
    auto doc = inloop::fhir::parseJson(text);
    REQUIRE(doc.isOk());
    ShapedDelivery s = shapeForDestination(*doc, r, d, nullptr);
    INFO(text);
    CHECK(s.state == ShapeState::kInvalid);
    CHECK(s.requests.empty());
  }
}

TEST_CASE("capabilities: the FHIR server peer's CapabilityStatement", "[mappings][destination]") {
  CapabilitySet full = capsFrom("metadata-peer.json");
  CHECK(full.fhirVersion == "4.0.1");
  CHECK(full.transaction);
  CHECK(full.batch);
  CHECK(full.software.find("medplum") != std::string::npos);
  for (const char* type : {"Observation", "CarePlan", "Goal", "MedicationStatement",
                           "MedicationRequest", "Communication", "Provenance"}) {
    INFO(type);
    CHECK(full.canUpdate(type));
  }
  CHECK(full.canCreate("Patient"));

  // Types a partial list leaves out are unknown, not refused: they are sent
  // and the receiver's answer decides (FHIR makes rest.resource 0..*).
  CapabilitySet limited = capsFrom("metadata-peer-no-careplan-goal.json");
  CHECK(limited.transaction);
  CHECK(limited.resourcesListed);
  CHECK(limited.find("CarePlan") == nullptr);
  CHECK(limited.canUpdate("Goal"));
  CHECK(limited.whyNotWritable("Goal").empty());
  CHECK(limited.canUpdate("Communication"));
  // What an answer taught is explicit.
  limited.refused.emplace("Goal", "HTTP 422 (business-rule: no writes of Goal)");
  CHECK_FALSE(limited.canUpdate("Goal"));
  CHECK(limited.whyNotWritable("Goal") ==
        "refused by the receiver: HTTP 422 (business-rule: no writes of Goal)");
  CHECK(limited.canUpdate("CarePlan"));

  CapabilitySet small = capsFrom("metadata-no-transaction.json");
  CHECK_FALSE(small.transaction);
  CHECK(small.batch);
  CHECK(small.software == "Synthetic EHR 9.1");
  CHECK(small.canCreate("Patient"));
  CHECK_FALSE(small.canUpdate("Patient"));
  CHECK(small.canUpdate("CarePlan"));  // conditionalUpdate false: search + PUT Type/{id}
  CHECK(small.conditionalUpdateUnsupported("CarePlan"));
  CHECK_FALSE(small.conditionalUpdateUnsupported("Observation"));
  CHECK_FALSE(small.canUpdate("Goal"));  // listed read only: an explicit statement
  CHECK(small.whyNotWritable("Goal") == "not writable per its CapabilityStatement");
  CHECK(small.canUpdate("Observation"));
  CHECK(small.find("Observation")->conditionalUpdate == std::optional<bool>(true));
  CHECK_FALSE(small.find("MedicationRequest")->conditionalUpdate.has_value());

  DestinationProfile tx = profile(DestinationKind::kFhirTransaction);
  CHECK(chooseKind(tx, nullptr) == DestinationKind::kFhirTransaction);
  CHECK(chooseKind(tx, &full) == DestinationKind::kFhirTransaction);
  CHECK(chooseKind(tx, &small) == DestinationKind::kFhirPut);
  CHECK(chooseKind(profile(DestinationKind::kFhirPut), &full) == DestinationKind::kFhirPut);
  CHECK(chooseKind(profile(DestinationKind::kHttpBundle), &small) == DestinationKind::kHttpBundle);

  // MedicationStatement is not in the small server's list: unknown, so sent as
  // is; once the receiver refused it, MedicationRequest.
  CHECK(translateOptionsFor(tx, &small).medicationAs == TranslateOptions{}.medicationAs);
  small.refused.emplace("MedicationStatement", "HTTP 405");
  CHECK(translateOptionsFor(tx, &small).medicationAs == MedicationAs::kRequest);
  // Capabilities never apply to kinds that are not FHIR servers.
  CHECK(destinationTakes(profile(DestinationKind::kNdjsonDir), &small, "Goal"));
}

TEST_CASE("capabilities: a statement without a resource list says nothing about types",
          "[mappings][destination]") {
  auto doc = inloop::fhir::parseJson(R"({"resourceType":"CapabilityStatement","status":"active",
    "kind":"instance","fhirVersion":"4.0.1","format":["json"],
    "rest":[{"mode":"server","interaction":[{"code":"transaction"}]}]})");
  REQUIRE(doc.isOk());
  auto caps = parseCapabilityStatement(*doc);
  REQUIRE(caps.isOk());
  CHECK(caps->transaction);
  CHECK_FALSE(caps->resourcesListed);
  DestinationProfile tx = profile(DestinationKind::kFhirTransaction);
  for (const char* type : {"Patient", "Observation", "CarePlan", "Goal", "MedicationStatement",
                           "Communication", "Provenance"}) {
    INFO(type);
    CHECK(destinationTakes(tx, &*caps, type));
  }
  CHECK(chooseKind(tx, &*caps) == DestinationKind::kFhirTransaction);
  CHECK(translateOptionsFor(tx, &*caps).medicationAs == TranslateOptions{}.medicationAs);
  // Every example record is sent whole: nothing is skipped ahead of time.
  for (const std::string& name : {kPain, kCarePlan, kTaper}) {
    ShapedDelivery s = shapeRecord(example(name), tables(), tx, &*caps);
    INFO(name);
    CHECK(s.state == ShapeState::kSend);
    CHECK(s.skipped.empty());
  }
  // Without any statement read, only what answers taught counts, and the kind stays.
  CapabilitySet learnt;
  learnt.statementRead = false;
  learnt.refused.emplace("Goal", "HTTP 405");
  CHECK(chooseKind(tx, &learnt) == DestinationKind::kFhirTransaction);
  CHECK_FALSE(destinationTakes(tx, &learnt, "Goal"));
  CHECK(destinationTakes(tx, &learnt, "CarePlan"));
  // Refusals drive the fallbacks: CarePlan -> Communication, Goals skipped.
  learnt.refused.emplace("CarePlan", "HTTP 422 (business-rule: no writes of CarePlan)");
  ShapedDelivery s = shapeRecord(example(kCarePlan), tables(), tx, &learnt);
  REQUIRE(s.state == ShapeState::kSend);
  CHECK(bundleTypes(s.requests[0].body) ==
        std::vector<std::string>{"Patient", "Organization", "Communication", "Provenance"});
  REQUIRE(s.skipped.size() == 2);
  CHECK(s.skipped[0].reason.find("refused by the receiver: HTTP 405") != std::string::npos);
}

TEST_CASE("capabilities: not a usable CapabilityStatement", "[mappings][destination]") {
  const char* bad[] = {
      R"({"resourceType":"OperationOutcome"})",
      R"({"resourceType":"CapabilityStatement","rest":[{"mode":"client"}]})",
      R"({"resourceType":"CapabilityStatement"})",
      R"([])",
  };
  for (const char* text : bad) {
    auto doc = inloop::fhir::parseJson(text);
    REQUIRE(doc.isOk());
    INFO(text);
    CHECK(parseCapabilityStatement(*doc).status().code() == inloop::fhir::ErrorCode::kInvalid);
  }
}

TEST_CASE("routing: routesFor and routeRecord", "[mappings][destination]") {
  Destinations ds;
  DestinationProfile ehr = byReference(DestinationKind::kFhirTransaction);
  ehr.id = "riverside-ehr";
  DestinationProfile engine = profile(DestinationKind::kHttpBundle);
  engine.id = "engine";
  DestinationProfile paused = profile(DestinationKind::kNdjsonDir);
  paused.id = "paused";
  paused.enabled = false;
  ds.destinations = {ehr, engine, paused};
  ds.routes["riverside-family-medicine"] = {"riverside-ehr", "engine"};
  ds.routes["*"] = {"engine", "paused"};
  ds.routes["ghost-practice"] = {"no-such-destination"};

  struct Row {
    std::string practice;
    std::vector<std::string> ids;
  };
  const std::vector<Row> rows = {
      {"riverside-family-medicine", {"riverside-ehr", "engine", "paused"}},
      {"lakeside-medical-group", {"engine", "paused"}},
      {"*", {"engine", "paused"}},
  };
  for (const Row& row : rows) {
    INFO(row.practice);
    CHECK(ds.routesFor(row.practice) == row.ids);
  }
  CHECK(ds.find("engine") != nullptr);
  CHECK(ds.find("nope") == nullptr);
  CHECK(Destinations{}.routesFor("riverside-family-medicine").empty());

  PlanRecord bp = example(kBloodPressure);  // riverside, no pcpPatientId
  std::vector<RoutedTarget> targets = routeRecord(ds, bp);
  REQUIRE(targets.size() == 3);
  CHECK(targets[0].destinationId == "riverside-ehr");
  CHECK(targets[0].patientUnmatched);
  CHECK(targets[0].reason.find("pcpPatientId") != std::string::npos);
  CHECK_FALSE(targets[1].patientUnmatched);
  CHECK(targets[1].reason.empty());

  PlanRecord ghost = bp;
  ghost.pcp.practiceId = "ghost-practice";
  ds.routes.erase("*");
  CHECK(routeRecord(ds, ghost).empty());  // unknown id ignored: unroutable
}

TEST_CASE("narrativeToText", "[mappings][destination]") {
  struct Row {
    std::string xhtml;
    std::string text;
  };
  const std::vector<Row> rows = {
      {R"(<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Plan</b></p><table><tr><th>Goal</th><td>Walk 6 min</td></tr><tr><th>Lead</th><td>Dr. A</td></tr></table><p>Note: rest &amp; pace</p></div>)",
       "Plan\nGoal: Walk 6 min\nLead: Dr. A\nNote: rest & pace"},
      {"<div>a &lt;b&gt; &quot;c&quot; &#39;d&#39; &#x263A;<br/>e</div>",
       "a <b> \"c\" 'd' \xE2\x98\xBA\ne"},
      {"<div>x &bogus; y &</div>", "x &bogus; y &"},
      {"", ""},
  };
  for (const Row& row : rows) {
    INFO(row.xhtml);
    CHECK(narrativeToText(row.xhtml) == row.text);
  }
}

TEST_CASE("names round-trip", "[mappings][destination]") {
  for (DestinationKind k : {DestinationKind::kFhirTransaction, DestinationKind::kFhirPut,
                            DestinationKind::kHttpBundle, DestinationKind::kNdjsonDir}) {
    CHECK(destinationKindFromName(destinationKindName(k)) == k);
  }
  for (AuthType t : {AuthType::kNone, AuthType::kBearer, AuthType::kBasic, AuthType::kSmartBackend,
                     AuthType::kMtls}) {
    CHECK(authTypeFromName(authTypeName(t)) == t);
  }
  CHECK_FALSE(destinationKindFromName("fhir").has_value());
  CHECK(signingAlgFromName("ES384") == SigningAlg::kEs384);
  CHECK_FALSE(signingAlgFromName("HS256").has_value());
  CHECK(shapeStateName(ShapeState::kPatientUnmatched) == "patient-unmatched");
}

TEST_CASE("shaping: engines get a stable message id, file drops a record version on every line",
          "[mappings][destination]") {
  PlanRecord r = example(kCarePlan);
  ShapedDelivery engine = shapeRecord(r, tables(), profile(DestinationKind::kHttpBundle), nullptr);
  REQUIRE(engine.state == ShapeState::kSend);
  REQUIRE(engine.requests.size() == 1);
  const Json* id = engine.requests[0].body.find("identifier");
  REQUIRE(id != nullptr);
  CHECK(id->find("value")->text() == "CP-2026-0412/1");
  CHECK(id->find("system")->text().ends_with("/record-version"));
  REQUIRE(engine.requests[0].headers.size() == 1);
  CHECK(engine.requests[0].headers[0].name == "Idempotency-Key");
  CHECK(engine.requests[0].headers[0].value == "CP-2026-0412/1");
  // The same on a retry or a replay: shaping is deterministic.
  CHECK(shapeRecord(r, tables(), profile(DestinationKind::kHttpBundle), nullptr).requests[0].body ==
        engine.requests[0].body);
  // A FHIR server's transaction carries neither.
  ShapedDelivery tx = shapeRecord(r, tables(), profile(DestinationKind::kFhirTransaction), nullptr);
  CHECK(tx.requests[0].body.find("identifier") == nullptr);
  CHECK(tx.requests[0].headers.empty());

  ShapedDelivery files = shapeRecord(r, tables(), profile(DestinationKind::kNdjsonDir), nullptr);
  REQUIRE(files.state == ShapeState::kSend);
  std::size_t lines = 0;
  std::size_t start = 0;
  for (std::size_t nl = files.ndjson.find('\n'); nl != std::string::npos;
       start = nl + 1, nl = files.ndjson.find('\n', start)) {
    Json line = *inloop::fhir::parseJson(files.ndjson.substr(start, nl - start));
    INFO(line.find("resourceType")->text());
    const Json* tags = line.find("meta") != nullptr ? line.find("meta")->find("tag") : nullptr;
    REQUIRE(tags != nullptr);
    std::size_t versionTags = 0;
    for (const Json& t : tags->items()) {
      versionTags += t.find("code") != nullptr && t.find("code")->text() == "CP-2026-0412/1";
    }
    CHECK(versionTags == 1);
    ++lines;
  }
  CHECK(lines >= 5);
}
