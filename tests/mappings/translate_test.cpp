#include "mappings/forward/translate.h"

// Forward translation tests. Golden files: tests/data/golden/<record>.json (the
// Bundle as pretty JSON; medication records also <record>.request.json for the
// MedicationRequest variant). To rewrite them after an intended change, run
//   INLOOP_UPDATE_GOLDEN=1 ./build-x/mappings_tests "[golden]"
// and review the diff by eye before committing.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/conventions.h"
#include "mappings/record/plan_record.h"
#include "mappings/tables/tables.h"
#include "tests/support/mapping_fixtures.h"

using inloop::fhir::Json;
using inloop::fhir::JsonStyle;
using inloop::mappings::MappingTables;
using inloop::mappings::MedicationAs;
using inloop::mappings::PlanRecord;
using inloop::mappings::TranslateOptions;
using inloop::mappings::TranslationResult;

namespace fs = std::filesystem;

namespace {

using inloop::testing::at;
using inloop::testing::checkGolden;
using inloop::testing::readFile;
using inloop::testing::textAt;

const MappingTables& tables() { return inloop::testing::shippedTables(); }

fs::path examplesDir() { return fs::path(INLOOP_SOURCE_DIR) / "examples/records"; }
fs::path ownDir() { return fs::path(INLOOP_TEST_DATA_DIR) / "records/translate"; }

std::vector<fs::path> allRecords() {
  std::vector<fs::path> out;
  for (const fs::path& dir : {examplesDir(), ownDir()}) {
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".json") out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string issuesText(const inloop::fhir::Issues& issues) {
  return inloop::fhir::formatIssues(issues);
}

PlanRecord readRecordText(const std::string& text) {
  auto doc = inloop::fhir::parseJson(text);
  REQUIRE(doc.isOk());
  inloop::fhir::Issues issues;
  std::optional<PlanRecord> r = inloop::mappings::readPlanRecord(*doc, &issues);
  INFO(issuesText(issues));
  REQUIRE(r.has_value());
  return *r;
}

PlanRecord readRecord(const fs::path& p) { return readRecordText(readFile(p)); }
PlanRecord example(const std::string& name) { return readRecord(examplesDir() / name); }
PlanRecord own(const std::string& name) { return readRecord(ownDir() / name); }

Json translateOk(const PlanRecord& r, MedicationAs as = MedicationAs::kStatement) {
  TranslateOptions o;
  o.medicationAs = as;
  TranslationResult t = inloop::mappings::translateRecord(r, tables(), o);
  INFO(issuesText(t.issues));
  REQUIRE(t.issues.empty());
  REQUIRE(t.bundle.has_value());
  return *t.bundle;
}

// The first entry resource of `type`.
const Json& resourceOf(const Json& bundle, const std::string& type) {
  for (const Json& e : bundle.find("entry")->items()) {
    const Json* r = e.find("resource");
    if (r && r->find("resourceType")->text() == type) return *r;
  }
  FAIL("no " << type << " in the bundle");
  static Json none;
  return none;
}

std::string extUrl(std::string_view name) {
  return inloop::mappings::extensionUrl(tables().namespaces, name);
}

const Json* extension(const Json& element, std::string_view name) {
  const Json* ext = element.find("extension");
  if (!ext) return nullptr;
  std::string url = extUrl(name);
  for (const Json& e : ext->items()) {
    if (e.find("url")->text() == url) return &e;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("every example and own record translates to a valid Bundle matching its golden file",
          "[mappings][translate][golden]") {
  std::vector<fs::path> records = allRecords();
  REQUIRE(records.size() >= 30);
  for (const fs::path& p : records) {
    SECTION(p.filename().string()) {
      PlanRecord r = readRecord(p);
      std::vector<MedicationAs> variants = {MedicationAs::kStatement};
      if (r.medicationChange()) variants.push_back(MedicationAs::kRequest);
      for (MedicationAs as : variants) {
        Json bundle = translateOk(r, as);
        inloop::fhir::Issues check = inloop::fhir::validateResource(bundle);
        INFO(issuesText(check));
        CHECK(check.empty());
        std::string golden =
            p.stem().string() + (as == MedicationAs::kRequest ? ".request" : "") + ".json";
        checkGolden(golden, bundle);
        // Byte-stable: translating again gives the same bytes.
        CHECK(inloop::fhir::writeJson(translateOk(r, as)) == inloop::fhir::writeJson(bundle));
      }
    }
  }
}

TEST_CASE("translateRecordJson gives compact valid JSON on the hot path", "[mappings][translate]") {
  for (const fs::path& p : allRecords()) {
    INFO(p);
    inloop::mappings::TranslatedJson t =
        inloop::mappings::translateRecordJson(readFile(p), tables());
    INFO(issuesText(t.issues));
    REQUIRE(t.issues.empty());
    auto parsed = inloop::fhir::parseJson(t.bundleJson);
    REQUIRE(parsed.isOk());
    CHECK(inloop::fhir::writeJson(*parsed) == t.bundleJson);
    CHECK(inloop::fhir::writeJson(translateOk(readRecord(p))) == t.bundleJson);
  }
}

TEST_CASE("blood pressure is a panel without a top-level value (obs-7)", "[mappings][translate]") {
  Json obs = resourceOf(translateOk(example("measurement-blood-pressure.json")), "Observation");
  CHECK(obs.find("valueQuantity") == nullptr);
  CHECK(textAt(obs, {"code", "coding", "0", "code"}) == "85354-9");
  CHECK(textAt(obs, {"component", "0", "code", "coding", "0", "code"}) == "8480-6");
  CHECK(textAt(obs, {"component", "0", "valueQuantity", "value"}) == "148");
  CHECK(textAt(obs, {"component", "0", "valueQuantity", "code"}) == "mm[Hg]");
  CHECK(textAt(obs, {"component", "1", "code", "coding", "0", "code"}) == "8462-4");
  CHECK(textAt(obs, {"component", "1", "valueQuantity", "value"}) == "91");
  CHECK(textAt(obs, {"category", "0", "coding", "0", "code"}) == "vital-signs");
}

TEST_CASE("PEG: three components and their mean as the value", "[mappings][translate]") {
  Json obs = resourceOf(translateOk(own("measurement-peg.json")), "Observation");
  REQUIRE(at(obs, {"component"})->size() == 3);
  CHECK(textAt(obs, {"valueQuantity", "value"}) == "6");
  CHECK(textAt(obs, {"valueQuantity", "code"}) == "{score}");
}

TEST_CASE("unit conversions to the measure's canonical UCUM unit", "[mappings][translate]") {
  struct Case {
    PlanRecord record;
    double value;
    std::string ucum;
  };
  std::vector<Case> cases = {
      {example("measurement-standing-tolerance.json"), 90, "min"},  // 1.5 h
      {own("measurement-standing-tolerance-v2.json"), 120, "min"},  // 2 hours
      {own("measurement-six-minute-walk-ft.json"), 365.76, "m"},    // 1200 ft
      {own("measurement-body-weight-lb.json"), 85.0, "kg"},         // 187.4 lb
      {own("measurement-glucose-mmol.json"), 130, "mg/dL"},         // 7.2 mmol/L
      {own("measurement-sleep-duration-min.json"), 6.5, "h"},       // 390 min
  };
  for (const Case& c : cases) {
    Json obs = resourceOf(translateOk(c.record), "Observation");
    INFO(c.record.recordId << " -> " << textAt(obs, {"valueQuantity", "value"}));
    CHECK(textAt(obs, {"valueQuantity", "system"}) == "http://unitsofmeasure.org");
    CHECK(textAt(obs, {"valueQuantity", "code"}) == c.ucum);
    std::optional<double> v = at(obs, {"valueQuantity", "value"})->toDouble();
    REQUIRE(v);
    CHECK(*v == Approx(c.value).epsilon(0.005));
  }
  // 1.5 h is exactly 90 min.
  Json obs = resourceOf(translateOk(example("measurement-standing-tolerance.json")), "Observation");
  CHECK(at(obs, {"valueQuantity", "value"})->toDouble() == 90.0);
}

TEST_CASE("absent values carry dataAbsentReason and never a value (obs-6)",
          "[mappings][translate]") {
  struct Case {
    const char* file;
    const char* code;
  };
  for (const Case& c : {Case{"measurement-phq9-declined.json", "asked-declined"},
                        Case{"measurement-six-minute-walk-unable.json", "as-text"},
                        Case{"measurement-tug-not-performed.json", "not-performed"}}) {
    INFO(c.file);
    Json obs = resourceOf(translateOk(own(c.file)), "Observation");
    CHECK(obs.find("valueQuantity") == nullptr);
    CHECK(obs.find("component") == nullptr);
    CHECK(textAt(obs, {"dataAbsentReason", "coding", "0", "code"}) == c.code);
    CHECK(textAt(obs, {"dataAbsentReason", "coding", "0", "system"}) ==
          "http://terminology.hl7.org/CodeSystem/data-absent-reason");
  }
}

TEST_CASE("measurement: identifiers, references, performer, method, goal",
          "[mappings][translate]") {
  Json b = translateOk(example("measurement-standing-tolerance.json"));
  const Json& obs = resourceOf(b, "Observation");
  const std::string& ns = tables().namespaces.record;
  CHECK(textAt(obs, {"id"}) == "obs-M-2026-118835");
  CHECK(textAt(obs, {"identifier", "0", "system"}) == ns);
  CHECK(textAt(obs, {"identifier", "0", "value"}) == "M-2026-118835");
  CHECK(textAt(obs, {"meta", "source"}) == tables().namespaces.source);
  CHECK(at(obs, {"meta", "versionId"}) == nullptr);
  CHECK(textAt(obs, {"basedOn", "0", "type"}) == "CarePlan");
  CHECK(textAt(obs, {"basedOn", "0", "identifier", "value"}) == "CP-2026-0412");
  CHECK(at(obs, {"basedOn", "0", "reference"}) == nullptr);
  const Json* goal = extension(obs, inloop::mappings::kExtGoal);
  REQUIRE(goal);
  CHECK(textAt(*goal, {"valueReference", "identifier", "value"}) == "CP-2026-0412/G1");
  const Json* version = extension(obs, inloop::mappings::kExtRecordVersion);
  REQUIRE(version);
  CHECK(textAt(*version, {"valuePositiveInt"}) == "1");
  CHECK(textAt(obs, {"performer", "0", "display"}) == "Jonah Whitfield, DPT");
  CHECK(textAt(obs, {"method", "coding", "0", "code"}) == "clinic");
  CHECK(textAt(obs, {"issued"}) == "2026-10-06T11:03:40-04:00");
  CHECK(textAt(obs, {"effectiveDateTime"}) == "2026-10-06T10:50:00-04:00");
  // No pcpPatientId: the subject is the MRN in the pain center's namespace.
  CHECK(textAt(obs, {"subject", "identifier", "system"}) == tables().namespaces.mrn);
  CHECK(textAt(obs, {"subject", "identifier", "value"}) == "PC-448812");
  CHECK(textAt(obs, {"subject", "reference"}) ==
        "Patient?identifier=https://paincenter.example.org/fhir/sid/mrn%7CPC-448812");
  std::string div = textAt(obs, {"text", "div"});
  CHECK(div.starts_with("<div xmlns=\"http://www.w3.org/1999/xhtml\">"));
  CHECK(div.find("90.0 min") != std::string::npos);
}

TEST_CASE("subject is the practice's patient id when the record has one", "[mappings][translate]") {
  Json b = translateOk(example("measurement-pain-nrs.json"));
  const Json& obs = resourceOf(b, "Observation");
  std::string system =
      "https://paincenter.example.org/fhir/sid/pcp-patient/riverside-family-medicine";
  CHECK(textAt(obs, {"subject", "identifier", "system"}) == system);
  CHECK(textAt(obs, {"subject", "identifier", "value"}) == "RFM-99231");
  const Json& patientEntry = b.find("entry")->items()[0];
  CHECK(textAt(patientEntry, {"request", "method"}) == "POST");
  CHECK(textAt(patientEntry, {"request", "ifNoneExist"}) ==
        "identifier=" + inloop::mappings::tokenQuery(system, "RFM-99231"));
  CHECK(textAt(patientEntry, {"resource", "identifier", "0", "value"}) == "PC-448812");
  CHECK(textAt(patientEntry, {"resource", "identifier", "1", "value"}) == "RFM-99231");
  CHECK(textAt(patientEntry, {"resource", "birthDate"}) == "1961-04-02");
}

TEST_CASE("conditional PUT URLs, deterministic fullUrls and Provenance targets",
          "[mappings][translate]") {
  Json b = translateOk(example("care-plan-functional-restoration.json"));
  const auto& entries = b.find("entry")->items();
  REQUIRE(entries.size() == 6);  // Patient, Organization, CarePlan, 2 Goals, Provenance
  CHECK(textAt(b, {"type"}) == "transaction");
  CHECK(textAt(b, {"timestamp"}) == "2026-09-01T16:20:00-04:00");
  CHECK(textAt(entries[2], {"request", "method"}) == "PUT");
  CHECK(textAt(entries[2], {"request", "url"}) ==
        "CarePlan?identifier=https://paincenter.example.org/fhir/sid/record%7CCP-2026-0412");
  CHECK(textAt(entries[3], {"request", "url"}) ==
        "Goal?identifier=https://paincenter.example.org/fhir/sid/record%7CCP-2026-0412/G1");
  CHECK(textAt(entries[2], {"fullUrl"}) ==
        "urn:uuid:" + inloop::mappings::nameBasedUuid(
                          "CarePlan?identifier=https://paincenter.example.org/fhir/sid/"
                          "record|CP-2026-0412"));
  // The pain center's Organization, by NPI, is the plan's author (not a
  // Provenance target: the record did not make it).
  CHECK(textAt(entries[1], {"request", "method"}) == "PUT");
  CHECK(textAt(entries[1], {"request", "url"}) ==
        "Organization?identifier=http://hl7.org/fhir/sid/us-npi%7C" +
            tables().contact->organization.npi);
  CHECK(textAt(entries[1], {"fullUrl"}) ==
        "urn:uuid:" + inloop::mappings::nameBasedUuid("Organization?identifier=http://hl7.org/"
                                                      "fhir/sid/us-npi|" +
                                                      tables().contact->organization.npi));
  CHECK(textAt(entries[2], {"resource", "author", "reference"}) == textAt(entries[1], {"fullUrl"}));
  // CarePlan.goal points at the Goal entries.
  CHECK(textAt(entries[2], {"resource", "goal", "0", "reference"}) ==
        textAt(entries[3], {"fullUrl"}));
  CHECK(textAt(entries[2], {"resource", "goal", "1", "reference"}) ==
        textAt(entries[4], {"fullUrl"}));
  const Json& prov = entries[5];
  CHECK(textAt(prov, {"resource", "resourceType"}) == "Provenance");
  REQUIRE(at(prov, {"resource", "target"})->size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(prov.find("resource")->find("target")->items()[i].find("reference")->text() ==
          textAt(entries[i + 2], {"fullUrl"}));
  }
  CHECK(textAt(prov, {"request", "url"}) ==
        "Provenance?_tag=https://paincenter.example.org/fhir/CodeSystem/record-version"
        "%7CCP-2026-0412/1");
  CHECK(textAt(prov, {"resource", "policy", "0"}) ==
        "https://paincenter.example.org/fhir/single-chart/mapping-tables/" + tables().version);
  CHECK(textAt(prov, {"resource", "agent", "0", "who", "identifier", "value"}) == "1093817465");
  CHECK(textAt(prov, {"resource", "agent", "1", "type", "coding", "0", "code"}) == "assembler");
}

TEST_CASE("tokenQuery and nameBasedUuid", "[mappings][translate]") {
  CHECK(inloop::mappings::tokenQuery("http://x.org/sid", "A|1") == "http://x.org/sid%7CA%5C%7C1");
  CHECK(inloop::mappings::tokenQuery("urn:oid:1.2", "a b&c=d") == "urn:oid:1.2%7Ca%20b%26c%3Dd");
  // RFC 4122 v5 in the URL namespace (values checked with Python's uuid.uuid5).
  CHECK(inloop::mappings::nameBasedUuid("x") == "4cd605e7-afa2-5360-b5b9-c5e9fb5c76f4");
  CHECK(inloop::mappings::nameBasedUuid(std::string(200, 'a')) ==
        "7f4631a0-b493-5760-92a5-27e642bfb142");
}

TEST_CASE("care plan: status, categories, goals with default comparators, activities",
          "[mappings][translate]") {
  Json b = translateOk(own("care-plan-back-program-v2.json"));
  const Json& cp = resourceOf(b, "CarePlan");
  CHECK(textAt(cp, {"status"}) == "active");
  CHECK(textAt(cp, {"intent"}) == "plan");
  CHECK(textAt(cp, {"category", "0", "coding", "0", "code"}) == "assess-plan");
  CHECK(textAt(cp, {"category", "1", "coding", "0", "code"}) == "bundled-program");
  // The pain center is the author; the lead is among the contributors.
  CHECK(textAt(cp, {"author", "type"}) == "Organization");
  CHECK(textAt(cp, {"author", "display"}) == tables().contact->organization.name);
  CHECK(at(cp, {"contributor"})->size() == 3);
  CHECK(textAt(cp, {"contributor", "0", "display"}) == "Dr. Robin Synthetic");
  CHECK(textAt(cp, {"addresses", "1", "display"}) == "Insomnia <due to pain> & stress");
  CHECK(textAt(*extension(*at(cp, {"addresses", "1"}), inloop::mappings::kExtConditionCode),
               {"valueCodeableConcept", "coding", "0", "code"}) == "G47.00");
  CHECK(textAt(*extension(cp, inloop::mappings::kExtRecordVersion), {"valuePositiveInt"}) == "2");
  CHECK(textAt(*extension(cp, inloop::mappings::kExtNextReassessment), {"valueDate"}) ==
        "2026-10-19");
  // Escaped in the narrative.
  CHECK(textAt(cp, {"text", "div"}).find("Insomnia &lt;due to pain&gt; &amp; stress") !=
        std::string::npos);
  // Activities: timing, event, kind.
  const Json& a1 = *at(cp, {"activity", "0", "detail"});
  CHECK(textAt(a1, {"scheduledTiming", "repeat", "frequency"}) == "3");
  CHECK(textAt(a1, {"scheduledTiming", "repeat", "periodUnit"}) == "wk");
  CHECK(textAt(a1, {"scheduledTiming", "repeat", "boundsPeriod", "start"}) == "2026-09-22");
  CHECK(textAt(a1, {"goal", "1", "reference"}) == textAt(b, {"entry", "5", "fullUrl"}));
  CHECK(textAt(*at(cp, {"activity", "1", "detail"}), {"scheduledTiming", "event", "0"}) ==
        "2026-09-25T08:00:00-04:00");
  CHECK(textAt(*extension(*at(cp, {"activity", "1"}), inloop::mappings::kExtActivityId),
               {"valueString"}) == "A2");
  // Goals: G1 six-minute walk (higher is better: >=), baseline 900 ft in m;
  // G2 pain (lower is better: <=); G3 explicit "<" in kg.
  const auto& entries = b.find("entry")->items();
  const Json& g1 = *entries[3].find("resource");
  CHECK(textAt(g1, {"target", "0", "detailQuantity", "comparator"}) == ">=");
  CHECK(textAt(g1, {"target", "0", "measure", "coding", "0", "code"}) == "64098-7");
  CHECK(textAt(g1, {"achievementStatus", "coding", "0", "code"}) == "improving");
  const Json* baseline = extension(g1, inloop::mappings::kExtGoalBaseline);
  REQUIRE(baseline);
  CHECK(textAt(*baseline, {"extension", "0", "valueQuantity", "code"}) == "m");
  const Json& g2 = *entries[4].find("resource");
  CHECK(textAt(g2, {"target", "0", "detailQuantity", "comparator"}) == "<=");
  CHECK(textAt(g2, {"lifecycleStatus"}) == "proposed");
  const Json& g3 = *entries[5].find("resource");
  CHECK(textAt(g3, {"target", "0", "detailQuantity", "comparator"}) == "<");
  CHECK(textAt(g3, {"target", "0", "detailQuantity", "code"}) == "kg");
  const Json& g4 = *entries[6].find("resource");
  CHECK(at(g4, {"target", "0", "detailQuantity"}) == nullptr);
  CHECK(textAt(g4, {"target", "0", "dueDate"}) == "2026-12-01");
}

TEST_CASE("care plan status map", "[mappings][translate]") {
  std::map<std::string, std::string> expected = {
      {"care-plan-draft.json", "draft"},
      {"care-plan-on-hold.json", "on-hold"},
      {"care-plan-completed.json", "completed"},
      {"care-plan-cancelled.json", "revoked"},
      {"care-plan-entered-in-error.json", "entered-in-error"},
  };
  for (const auto& [file, status] : expected) {
    INFO(file);
    CHECK(textAt(resourceOf(translateOk(own(file)), "CarePlan"), {"status"}) == status);
  }
}

TEST_CASE("medication: status per action, dosage, extensions", "[mappings][translate]") {
  struct Case {
    const char* file;
    bool example;
    const char* statementStatus;
    const char* requestStatus;
    const char* action;
  };
  for (const Case& c : {
           Case{"medication-start-duloxetine.json", true, "active", "active", "start"},
           Case{"medication-taper-oxycodone.json", true, "active", "active", "taper-step"},
           Case{"medication-dose-change-pregabalin.json", false, "active", "active", "dose-change"},
           Case{"medication-continue-naloxone.json", false, "active", "active", "continue"},
           Case{"medication-stop-gabapentin.json", false, "stopped", "stopped", "stop"},
           Case{"medication-entered-in-error.json", false, "entered-in-error", "entered-in-error",
                "entered-in-error"},
       }) {
    INFO(c.file);
    PlanRecord r = c.example ? example(c.file) : own(c.file);
    const Json ms = resourceOf(translateOk(r), "MedicationStatement");
    CHECK(textAt(ms, {"status"}) == c.statementStatus);
    CHECK(textAt(*extension(ms, inloop::mappings::kExtMedicationAction), {"valueCode"}) ==
          c.action);
    const Json mr = resourceOf(translateOk(r, MedicationAs::kRequest), "MedicationRequest");
    CHECK(textAt(mr, {"status"}) == c.requestStatus);
    CHECK(textAt(mr, {"intent"}) == "plan");
    CHECK(at(mr, {"reportedBoolean"})->asBool());
    CHECK(textAt(mr, {"id"}) != textAt(ms, {"id"}));
    CHECK(textAt(mr, {"identifier", "0", "value"}) == textAt(ms, {"identifier", "0", "value"}));
  }
  // Stop: effectivePeriod.end.
  Json stop =
      resourceOf(translateOk(own("medication-stop-gabapentin.json")), "MedicationStatement");
  CHECK(textAt(stop, {"effectivePeriod", "end"}) == "2026-10-03");
  CHECK(stop.find("effectiveDateTime") == nullptr);
  // Taper: RxNorm, dosage words and timing, previous dose, MME, taper extension.
  Json taper =
      resourceOf(translateOk(example("medication-taper-oxycodone.json")), "MedicationStatement");
  CHECK(textAt(taper, {"medicationCodeableConcept", "coding", "0", "system"}) ==
        "http://www.nlm.nih.gov/research/umls/rxnorm");
  CHECK(textAt(taper, {"medicationCodeableConcept", "coding", "0", "code"}) == "7804");
  CHECK(textAt(taper, {"dosage", "0", "text"}) == "30 mg by mouth 2 times per day");
  CHECK(textAt(taper, {"dosage", "0", "timing", "repeat", "frequency"}) == "2");
  CHECK(textAt(taper, {"dosage", "0", "timing", "repeat", "periodUnit"}) == "d");
  CHECK(textAt(taper, {"dosage", "0", "doseAndRate", "0", "doseQuantity", "code"}) == "mg");
  CHECK(textAt(*extension(*at(taper, {"dosage", "0"}), inloop::mappings::kExtPreviousDose),
               {"valueQuantity", "value"}) == "40");
  CHECK(textAt(*extension(taper, inloop::mappings::kExtDailyMme), {"valueQuantity", "value"}) ==
        "90");
  const Json* t = extension(taper, inloop::mappings::kExtTaper);
  REQUIRE(t);
  CHECK(textAt(*t, {"extension", "0", "valuePositiveInt"}) == "2");
  CHECK(textAt(*t, {"extension", "1", "valuePositiveInt"}) == "6");
  CHECK(textAt(*t, {"extension", "3", "valueDate"}) == "2026-11-05");
  std::string div = textAt(taper, {"text", "div"});
  CHECK(div.find("step 2 of 6") != std::string::npos);
  CHECK(div.find("90 mg/day") != std::string::npos);
  // Text frequency and as needed.
  Json zolpidem =
      resourceOf(translateOk(own("medication-start-zolpidem-nightly.json")), "MedicationStatement");
  CHECK(textAt(zolpidem, {"dosage", "0", "timing", "code", "text"}) == "nightly at bedtime");
  CHECK(at(zolpidem, {"dosage", "0", "timing", "repeat"}) == nullptr);
  Json prn =
      resourceOf(translateOk(own("medication-start-clonazepam-prn.json")), "MedicationStatement");
  CHECK(at(prn, {"dosage", "0", "asNeededBoolean"})->asBool());
  CHECK(textAt(prn, {"dosage", "0", "text"}) == "1 tablet by mouth 1 time per day, as needed");
}

TEST_CASE("codes, units and ranges the tables reject give precise errors and no Bundle",
          "[mappings][translate]") {
  const std::string bp = readFile(examplesDir() / "measurement-blood-pressure.json");
  const std::string nrs = readFile(examplesDir() / "measurement-pain-nrs.json");
  const std::string st = readFile(examplesDir() / "measurement-standing-tolerance.json");
  const std::string cp = readFile(examplesDir() / "care-plan-functional-restoration.json");
  const std::string rx = readFile(examplesDir() / "medication-taper-oxycodone.json");
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    std::size_t pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    return s.replace(pos, from.size(), to);
  };
  struct Case {
    std::string record;
    std::string path;
    std::string fragment;
  };
  std::vector<Case> cases = {
      {replace(nrs, "\"pain-nrs\"", "\"pain-vas\""), "$.measure",
       "unknown measure code \"pain-vas\"; known: pain-nrs, peg"},
      {replace(nrs, "\"value\": 6", "\"value\": 11"), "$.value",
       "outside the valid range of \"pain-nrs\" (0 to 10 score)"},
      {replace(st, "\"unit\": \"h\"", "\"unit\": \"stone\""), "$.unit", "unknown unit \"stone\""},
      {replace(st, "\"unit\": \"h\"", "\"unit\": \"kg\""), "$.unit",
       "unit \"kg\" cannot be converted to the measure's unit \"min\""},
      {replace(st, "\"value\": 1.5", "\"value\": 25"), "$.value",
       "value 25 h (1500 min) is outside the valid range"},
      {replace(bp, "\"bp-diastolic\"", "\"bp-mean\""), "$.components[1].measure",
       "\"bp-mean\" is not a component of \"blood-pressure\""},
      {replace(bp, "\"value\": 148, \"unit\": \"mmHg\"", "\"value\": 148, \"unit\": \"kPa\""),
       "$.components[0].unit", "unknown unit \"kPa\""},
      {replace(cp, "\"unit\": \"min\", \"comparator\"", "\"unit\": \"stone\", \"comparator\""),
       "$.goals[0].target.unit", "unknown unit \"stone\""},
      {replace(cp, "\"value\": 6.5, \"unit\": \"h\"", "\"value\": 6.5, \"unit\": \"kg\""),
       "$.goals[1].target.unit", "unit \"kg\" cannot be converted to the measure's unit \"h\""},
      {replace(cp, "\"measure\": \"sleep-duration\"", "\"measure\": \"sleep-hours\""),
       "$.goals[1].measure", "unknown measure code \"sleep-hours\""},
      {replace(cp, "\"type\": \"cbt\"", "\"type\": \"yoga\""), "$.activities[1].type",
       "unknown activity type \"yoga\""},
      {replace(rx, "\"code\": \"oxycodone-er\"", "\"code\": \"oxycontin\""), "$.medication.code",
       "unknown drug code \"oxycontin\""},
      {replace(rx, "\"dose\": { \"value\": 30, \"unit\": \"mg\" }",
               "\"dose\": { \"value\": 30, \"unit\": \"mL\" }"),
       "$.dose.unit", "unit \"mL\" is not a dose unit of \"oxycodone-er\"; allowed: mg, tablet"},
      {replace(rx, "\"previousDose\": { \"value\": 40, \"unit\": \"mg\" }",
               "\"previousDose\": { \"value\": 40, \"unit\": \"patch\" }"),
       "$.previousDose.unit", "unit \"patch\" is not a dose unit"},
  };
  for (const Case& c : cases) {
    INFO(c.path << ": " << c.fragment);
    PlanRecord r = readRecordText(c.record);
    TranslationResult t = inloop::mappings::translateRecord(r, tables(), {});
    INFO(issuesText(t.issues));
    CHECK_FALSE(t.bundle.has_value());
    bool found = false;
    for (const auto& i : t.issues) {
      if (i.path == c.path && i.message.find(c.fragment) != std::string::npos &&
          i.severity == inloop::fhir::Severity::kError) {
        found = true;
      }
    }
    CHECK(found);
    inloop::mappings::TranslatedJson tj = inloop::mappings::translateRecordJson(c.record, tables());
    CHECK(tj.bundleJson.empty());
    CHECK(inloop::fhir::hasErrors(tj.issues));
  }
}

TEST_CASE("a goal target without comparator on a direction-less measure is an error",
          "[mappings][translate]") {
  std::string cp = readFile(ownDir() / "care-plan-back-program-v2.json");
  std::string from = "\"comparator\": \"<\"";
  std::size_t pos = cp.find(from);
  REQUIRE(pos != std::string::npos);
  // Remove the comparator (and the comma before it).
  std::size_t comma = cp.rfind(',', pos);
  cp.erase(comma, pos + from.size() - comma);
  TranslationResult t = inloop::mappings::translateRecord(readRecordText(cp), tables(), {});
  CHECK_FALSE(t.bundle.has_value());
  REQUIRE(t.issues.size() == 1);
  CHECK(t.issues[0].path == "$.goals[2].target.comparator");
}

TEST_CASE("translateRecordJson reports unparsable and invalid records with paths",
          "[mappings][translate]") {
  auto t = inloop::mappings::translateRecordJson("{\"recordType\": ", tables());
  CHECK(t.bundleJson.empty());
  REQUIRE(t.issues.size() == 1);
  CHECK(t.issues[0].path == "$");
  t = inloop::mappings::translateRecordJson("{\"recordType\": \"measurement\"}", tables());
  CHECK(t.bundleJson.empty());
  CHECK(inloop::fhir::hasErrors(t.issues));
  std::string big(2u << 20, ' ');
  t = inloop::mappings::translateRecordJson(big + "{}", tables());
  CHECK(t.bundleJson.empty());
  REQUIRE_FALSE(t.issues.empty());
  CHECK(t.issues[0].code == "too-costly");
}
