#include "mappings/reverse/reverse.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "tests/support/mapping_fixtures.h"

using inloop::fhir::Issues;
using inloop::fhir::Json;
using inloop::fhir::Severity;
using inloop::mappings::MappingTables;
using inloop::mappings::ReverseOptions;
using inloop::mappings::ReverseResult;
using inloop::mappings::translateToRecords;

namespace {

const auto& readText = inloop::testing::readFile;

Json parse(const std::string& text) {
  auto parsed = inloop::fhir::parseJson(text);
  REQUIRE(parsed.isOk());
  return std::move(parsed).value();
}

const MappingTables& shipped() { return inloop::testing::shippedTables(); }

Json fixture(const std::string& name) {
  return parse(readText(std::filesystem::path(INLOOP_TEST_DATA_DIR) / "fhir/from-pcp" / name));
}

// Objects with members sorted by key, recursively: records compare by content,
// whatever order the record writer uses.
Json sorted(const Json& v) {
  if (v.isArray()) {
    Json out = Json::array();
    for (const Json& item : v.items()) out.push(sorted(item));
    return out;
  }
  if (!v.isObject()) return v;
  std::vector<Json::Member> members = v.members();
  std::sort(members.begin(), members.end(),
            [](const Json::Member& a, const Json::Member& b) { return a.first < b.first; });
  Json out = Json::object();
  for (const auto& [key, value] : members) out.set(key, sorted(value));
  return out;
}

std::string canonical(const Json& v) { return inloop::fhir::writeJson(sorted(v)); }

std::vector<std::string> recordTexts(const ReverseResult& result) {
  std::vector<std::string> out;
  for (const auto& r : result.records)
    out.push_back(canonical(inloop::mappings::writePlanRecord(r)));
  return out;
}

std::vector<std::string> issueTexts(const Issues& issues) {
  std::vector<std::string> out;
  for (const auto& i : issues) {
    out.push_back(std::string(inloop::fhir::severityName(i.severity)) + " " + i.path + ": " +
                  i.message);
  }
  return out;
}

// The patient the gateway already knows from the pain center's records.
inloop::mappings::Patient knownAlvarez() {
  auto record = inloop::mappings::readPlanRecord(parse(readText(
      std::filesystem::path(INLOOP_SOURCE_DIR) / "examples/records/measurement-pain-nrs.json")));
  REQUIRE(record.record.has_value());
  return record.record->patient;
}

constexpr const char* kAlvarezPatient = R"({"mrn": "PC-448812", "pcpPatientId": "RFM-99231",
  "name": {"family": "Alvarez", "given": ["Maria", "Elena"]}, "birthDate": "1961-04-02",
  "sex": "female"})";

struct Case {
  const char* name;
  const char* fixture;
  const char* practiceId;
  bool knowsAlvarez;
  std::vector<std::string> records;  // expected, in wire format
  std::vector<std::string> issues;   // expected, rendered
};

std::string withPatient(std::string record, const char* patient) {
  std::size_t at = record.find("@PATIENT@");
  if (at != std::string::npos) record.replace(at, 9, patient);
  return record;
}

}  // namespace

TEST_CASE("reverse: FHIR from primary care becomes plan records", "[mappings][reverse]") {
  const std::vector<Case> cases = {
      {"BP panel Observation in a transaction Bundle with the Patient",
       "bp-observation-bundle.json",
       "riverside-family-medicine",
       false,
       {R"({"recordType": "measurement", "recordId": "pcp-riverside-family-medicine-OBS-77120",
          "version": 2, "recordedAt": "2026-10-27T14:25:31-04:00", "patient": @PATIENT@,
          "pcp": {"practiceId": "riverside-family-medicine"},
          "author": {"name": "Dr. Samuel Okafor", "npi": "1538274910"},
          "measure": "blood-pressure",
          "components": [{"measure": "bp-systolic", "value": 152, "unit": "mmHg"},
                         {"measure": "bp-diastolic", "value": 94, "unit": "mmHg"}],
          "effective": "2026-10-27T14:10:00-04:00", "status": "final",
          "note": "Recheck after duloxetine start; home readings similar."})"},
       {}},
      {"glucose in mmol/L comes back in the measure's unit mg/dL",
       "glucose-mmol-observation.json",
       "riverside-family-medicine",
       true,
       {R"({"recordType": "measurement", "recordId": "pcp-riverside-family-medicine-LAB-5531",
          "version": 1, "recordedAt": "2026-09-17T11:02:00-04:00", "patient": @PATIENT@,
          "pcp": {"practiceId": "riverside-family-medicine"},
          "author": {"name": "Riverside Family Medicine Lab"},
          "measure": "glucose", "value": 171, "unit": "mg/dL",
          "effective": "2026-09-17T07:45:00-04:00", "status": "final"})"},
       {}},
      {"MedicationStatement with an RxNorm code only",
       "medication-statement-rxnorm-only.json",
       "riverside-family-medicine",
       true,
       {R"({"recordType": "medication-change", "recordId": "pcp-riverside-family-medicine-ms-8812",
          "version": 3, "recordedAt": "2026-10-28T09:14:12-04:00", "patient": @PATIENT@,
          "pcp": {"practiceId": "riverside-family-medicine"},
          "author": {"name": "Dr. Samuel Okafor", "npi": "1538274910"},
          "action": "continue",
          "medication": {"code": "naproxen", "rxnorm": "7258", "display": "naproxen 500 mg tablet"},
          "dose": {"value": 500, "unit": "mg"}, "frequency": {"count": 2, "per": "day"},
          "route": "oral", "effective": "2026-10-28", "reason": "Knee osteoarthritis flare",
          "prescriber": {"name": "Dr. Samuel Okafor", "npi": "1538274910"}})"},
       {}},
      {"MedicationRequest in a collection Bundle, text frequency, as needed",
       "medication-request.json",
       "lakeside-medical-group",
       false,
       {R"({"recordType": "medication-change", "recordId": "pcp-lakeside-medical-group-RX-3307",
          "version": 1, "recordedAt": "2026-10-29T16:40:00-05:00",
          "patient": {"mrn": "PC-451207", "name": {"family": "Novak", "given": ["Daniel"]},
                      "birthDate": "1958-11-23", "sex": "male"},
          "pcp": {"practiceId": "lakeside-medical-group"},
          "author": {"name": "Dr. Hannah Lee", "npi": "1902846153"},
          "action": "start",
          "medication": {"code": "naloxone", "rxnorm": "7242", "display": "naloxone 4 mg nasal spray"},
          "dose": {"value": 4, "unit": "mg"}, "frequency": {"text": "as needed"},
          "asNeeded": true, "effective": "2026-10-29",
          "reason": "Opioid overdose rescue; on taper with benzodiazepine",
          "prescriber": {"name": "Dr. Hannah Lee", "npi": "1902846153"}})"},
       {}},
      {"unknown LOINC code: a warning that keeps code, value and time, no record",
       "unknown-loinc-observation.json",
       "riverside-family-medicine",
       true,
       {},
       {"warning Observation.code: not translated: the mapping tables have no measure for "
        "http://loinc.org|8310-5 \"Body temperature\" (value 37.9 Cel, effective "
        "2026-10-27T14:10:00-04:00)"}},
      {"no subject identifier: an error naming the path",
       "observation-no-subject-identifier.json",
       "riverside-family-medicine",
       true,
       {},
       {"error Observation.subject.identifier: no subject identifier, and the reference "
        "\"Patient/rfm-99231\" names no Patient in the input: a plan record needs the patient's "
        "MRN, name and birth date"}},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      ReverseOptions options;
      options.practiceId = c.practiceId;
      if (c.knowsAlvarez) options.knownPatients.push_back(knownAlvarez());
      ReverseResult result = translateToRecords(fixture(c.fixture), shipped(), options);
      CHECK(issueTexts(result.issues) == c.issues);
      std::vector<std::string> expected;
      for (const std::string& r : c.records) {
        expected.push_back(canonical(parse(withPatient(r, kAlvarezPatient))));
      }
      CHECK(recordTexts(result) == expected);
    }
  }
}

TEST_CASE("reverse: a lone resource for an unknown patient names what is missing",
          "[mappings][reverse]") {
  ReverseOptions options;
  options.practiceId = "riverside-family-medicine";
  ReverseResult result =
      translateToRecords(fixture("glucose-mmol-observation.json"), shipped(), options);
  CHECK(result.records.empty());
  CHECK(issueTexts(result.issues) ==
        std::vector<std::string>{
            "error Observation.subject: patient https://paincenter.example.org/fhir/sid/mrn|"
            "PC-448812 is neither in the input nor known: the name is required in a plan record",
            "error Observation.subject: patient https://paincenter.example.org/fhir/sid/mrn|"
            "PC-448812 is neither in the input nor known: the birth date is required in a plan "
            "record"});
}

TEST_CASE("reverse: problems in a Bundle carry the entry's path", "[mappings][reverse]") {
  Json bundle = fixture("bp-observation-bundle.json");
  Json& patient = *bundle.find("entry")->items()[0].find("resource");
  patient.erase("birthDate");
  Json& obs = *bundle.find("entry")->items()[1].find("resource");
  Json& systolic = obs.find("component")->items()[0];
  systolic.find("valueQuantity")->set("code", Json::string("[in_i'Hg]"));
  ReverseOptions options;
  options.practiceId = "riverside-family-medicine";
  ReverseResult result = translateToRecords(bundle, shipped(), options);
  CHECK(result.records.empty());
  CHECK(issueTexts(result.issues) ==
        std::vector<std::string>{
            "error Bundle.entry[0].resource.birthDate: the patient's birth date is required in "
            "a plan record",
            "warning Bundle.entry[1].resource.component[0]: component kept in the note only: "
            "unit \"[in_i'Hg]\" is not in the mapping tables (http://loinc.org|8480-6 "
            "\"Systolic blood pressure\" 152 mmHg)",
            "warning Bundle.entry[1].resource.component: not translated: no readable "
            "bp-systolic component of blood-pressure (the panel needs all of them)"});
}

TEST_CASE("reverse: a panel missing a component gives no record, a repeated one keeps the first",
          "[mappings][reverse]") {
  ReverseOptions options;
  options.practiceId = "riverside-family-medicine";
  {
    // Found by the fhir_reader fuzz target: a systolic coded in an unknown
    // system left a blood-pressure record with only its diastolic, which the
    // forward translation refuses.
    Json bundle = fixture("bp-observation-bundle.json");
    Json& obs = *bundle.find("entry")->items()[1].find("resource");
    obs.find("component")->items()[0].find("code")->find("coding")->items()[0].set(
        "system", Json::string("http://loinc.orGoalg"));
    ReverseResult result = translateToRecords(bundle, shipped(), options);
    CHECK(result.records.empty());
    REQUIRE(result.issues.size() == 2);
    CHECK(issueTexts(result.issues)[1] ==
          "warning Bundle.entry[1].resource.component: not translated: no readable bp-systolic "
          "component of blood-pressure (the panel needs all of them)");
  }
  {
    // Also found by the fuzzer: a value outside the measure's valid range.
    Json bundle = fixture("bp-observation-bundle.json");
    Json& obs = *bundle.find("entry")->items()[1].find("resource");
    obs.find("component")->items()[0].find("valueQuantity")->set("value",
                                                                  Json::numberText("304"));
    ReverseResult result = translateToRecords(bundle, shipped(), options);
    CHECK(result.records.empty());
    REQUIRE(result.issues.size() == 2);
    CHECK(issueTexts(result.issues)[0] ==
          "warning Bundle.entry[1].resource.component[0]: component kept in the note only: value "
          "304 mmHg is outside the valid range of bp-systolic (0 to 300 mmHg) "
          "(http://loinc.org|8480-6 \"Systolic blood pressure\" 304 mmHg)");
  }
  {
    Json bundle = fixture("bp-observation-bundle.json");
    Json& obs = *bundle.find("entry")->items()[1].find("resource");
    Json again = obs.find("component")->items()[1];
    again.find("valueQuantity")->set("value", Json::numberText("99"));
    obs.find("component")->push(std::move(again));
    ReverseResult result = translateToRecords(bundle, shipped(), options);
    REQUIRE(result.records.size() == 1);
    const auto& components = result.records[0].measurement()->components;
    REQUIRE(components.size() == 2);
    CHECK(components[1].measure == "bp-diastolic");
    CHECK(components[1].value.text == "94");
    REQUIRE(result.records[0].note);
    CHECK(result.records[0].note->find("Also reported") != std::string::npos);
    CHECK(inloop::mappings::translateRecord(result.records[0], shipped(), {}).bundle);
    CHECK(issueTexts(result.issues).back().find("the panel already has bp-diastolic") !=
          std::string::npos);
  }
}

TEST_CASE("reverse: not a resource, other resource types, a lone Goal", "[mappings][reverse]") {
  ReverseOptions options;
  options.practiceId = "riverside-family-medicine";
  struct Row {
    const char* input;
    std::string issue;
  };
  const std::vector<Row> rows = {
      {R"([1, 2])", "error : expected a FHIR resource (a JSON object)"},
      {R"({"resourceType": "Communication", "status": "completed"})",
       "warning Communication: not translated: a Communication has no plan-record equivalent"},
      {R"({"resourceType": "Goal", "description": {"text": "Walk 30 minutes"}})",
       "warning Goal: not translated: a Goal is read back only with its CarePlan (\"Walk 30 "
       "minutes\")"},
      {R"({"resourceType": "CarePlan", "status": "active", "title": "Diabetes plan"})",
       "warning CarePlan: not translated: a CarePlan is read back only when the gateway sent it "
       "(identifier system https://paincenter.example.org/fhir/sid/record); plans made in "
       "primary care are not plan records (title \"Diabetes plan\")"},
      {R"({"resourceType": "MedicationStatement", "status": "not-taken",
           "medicationCodeableConcept": {"coding": [{"system":
             "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7258"}]}})",
       "warning MedicationStatement.status: not translated: MedicationStatement status "
       "\"not-taken\" has no plan-record action "
       "(http://www.nlm.nih.gov/research/umls/rxnorm|7258)"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.input);
    ReverseResult result = translateToRecords(parse(row.input), shipped(), options);
    CHECK(result.records.empty());
    CHECK(issueTexts(result.issues) == std::vector<std::string>{row.issue});
  }
}

TEST_CASE("reverse: RxNorm standing for several drug codes picks the first and says so",
          "[mappings][reverse]") {
  const auto& tables = shipped();
  auto drugs = inloop::mappings::findDrugsByCoding(tables, inloop::mappings::kRxNormSystem, "7804");
  REQUIRE(drugs.size() == 2);
  CHECK(drugs[0]->code == "oxycodone");
  CHECK(drugs[1]->code == "oxycodone-er");
  const auto* m = inloop::mappings::findMeasureByCoding(tables, "http://loinc.org", "8480-6");
  REQUIRE(m != nullptr);
  CHECK(m->code == "bp-systolic");
  CHECK(inloop::mappings::findMeasureByCoding(tables, "http://loinc.org", "8310-5") == nullptr);
  const auto* unit = inloop::mappings::findUnitForUcum(tables, "h", {"hours"});
  REQUIRE(unit != nullptr);
  CHECK(unit->name == "hours");
  CHECK(inloop::mappings::findUnitForUcum(tables, "h")->name == "h");
}
