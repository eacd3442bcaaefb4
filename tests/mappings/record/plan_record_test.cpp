#include "mappings/record/plan_record.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "tests/support/files.h"

using inloop::fhir::Issue;
using inloop::fhir::Issues;
using inloop::fhir::Json;
using inloop::fhir::Severity;
using namespace inloop::mappings;  // NOLINT: the whole API is under test

namespace {

const std::filesystem::path kExamples =
    std::filesystem::path(INLOOP_SOURCE_DIR) / "examples/records";
const std::filesystem::path kGood = std::filesystem::path(INLOOP_TEST_DATA_DIR) / "records/good";
const std::filesystem::path kBad = std::filesystem::path(INLOOP_TEST_DATA_DIR) / "records/bad";

using inloop::testing::readFile;

Json parse(std::string_view text) {
  auto parsed = inloop::fhir::parseJson(text);
  INFO(parsed.status().toString());
  REQUIRE(parsed.isOk());
  return parsed.value();
}

Json parseFile(const std::filesystem::path& path) { return parse(readFile(path)); }

std::vector<std::filesystem::path> jsonFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Issue> errorsOf(const Issues& issues) {
  std::vector<Issue> out;
  for (const Issue& i : issues) {
    if (i.severity == Severity::kError || i.severity == Severity::kFatal) out.push_back(i);
  }
  return out;
}

const Issue* findIssue(const Issues& issues, std::string_view path, std::string_view fragment) {
  for (const Issue& i : issues) {
    if (i.path == path && i.message.find(fragment) != std::string::npos) return &i;
  }
  return nullptr;
}

// Replaces (or with nullopt erases) the value at a JSON path such as
// "$.goals[1].target.value" (the parent must exist; a missing key is added).
void setAt(Json* root, std::string_view path, std::optional<Json> value) {
  REQUIRE(path.substr(0, 1) == "$");
  std::vector<std::string> steps;  // "key" or "[n]"
  std::size_t i = 1;
  while (i < path.size()) {
    if (path[i] == '.') {
      std::size_t end = path.find_first_of(".[", i + 1);
      if (end == std::string_view::npos) end = path.size();
      steps.emplace_back(path.substr(i + 1, end - i - 1));
      i = end;
    } else {
      std::size_t end = path.find(']', i);
      steps.emplace_back(path.substr(i, end - i + 1));
      i = end + 1;
    }
  }
  Json* node = root;
  for (std::size_t s = 0; s + 1 < steps.size(); ++s) {
    if (steps[s][0] == '[') {
      node = &node->items().at(std::stoul(steps[s].substr(1)));
    } else {
      node = node->find(steps[s]);
    }
    REQUIRE(node != nullptr);
  }
  const std::string& last = steps.back();
  if (last[0] == '[') {
    const std::size_t index = std::stoul(last.substr(1));
    auto& items = node->items();
    if (!value) {
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(index));
    } else if (index == items.size()) {
      items.push_back(*value);
    } else {
      items.at(index) = *value;
    }
  } else if (!value) {
    REQUIRE(node->erase(last));
  } else {
    node->set(last, *value);
  }
}

Json example(const char* name) { return parseFile(kExamples / name); }

constexpr const char* kCarePlan = "care-plan-functional-restoration.json";
constexpr const char* kPainNrs = "measurement-pain-nrs.json";
constexpr const char* kBloodPressure = "measurement-blood-pressure.json";
constexpr const char* kStart = "medication-start-duloxetine.json";
constexpr const char* kTaper = "medication-taper-oxycodone.json";

// A JSON string value of `n` copies of `c`.
Json longString(std::size_t n, char c = 'x') { return Json::string(std::string(n, c)); }

}  // namespace

TEST_CASE("records: every shared example reads without issues and re-emits byte for byte",
          "[mappings][records]") {
  const auto files = jsonFiles(kExamples);
  REQUIRE(files.size() >= 6);
  for (const auto& file : files) {
    SECTION(file.filename().string()) {
      Json doc = parseFile(file);
      ReadResult read = readPlanRecord(doc);
      INFO(inloop::fhir::formatIssues(read.issues));
      CHECK(read.issues.empty());
      REQUIRE(read.record.has_value());
      CHECK(writeJson(writePlanRecord(*read.record)) == writeJson(doc));
      CHECK(readPlanRecord(writePlanRecord(*read.record)).record == read.record);
    }
  }
}

TEST_CASE("records: own good records read without errors and round-trip", "[mappings][records]") {
  const auto files = jsonFiles(kGood);
  REQUIRE(files.size() >= 9);
  for (const auto& file : files) {
    SECTION(file.filename().string()) {
      Json doc = parseFile(file);
      ReadResult read = readPlanRecord(doc);
      INFO(inloop::fhir::formatIssues(read.issues));
      CHECK(errorsOf(read.issues).empty());
      REQUIRE(read.record.has_value());
      Json written = writePlanRecord(*read.record);
      CHECK(writeJson(written) == writeJson(doc));
      ReadResult again = readPlanRecord(written);
      REQUIRE(again.record.has_value());
      CHECK(*again.record == *read.record);
    }
  }
}

TEST_CASE("records: every record the JSON Schema rejects, the reader rejects too",
          "[mappings][records]") {
  // tests/scripts/record_schema.sh checks docs/record-format.schema.json rejects
  // these; the schema documents the reader, so the reader must reject them as well.
  const auto files = jsonFiles(std::filesystem::path(INLOOP_TEST_DATA_DIR) / "records/schema-bad");
  REQUIRE(files.size() >= 20);
  for (const auto& file : files) {
    if (file.filename() == "expected.json") continue;
    SECTION(file.filename().string()) {
      ReadResult read = readPlanRecord(parseFile(file));
      INFO(inloop::fhir::formatIssues(read.issues));
      CHECK_FALSE(errorsOf(read.issues).empty());
      CHECK_FALSE(read.record.has_value());
    }
  }
}

TEST_CASE("records: typed fields of the examples", "[mappings][records]") {
  SECTION("care plan") {
    auto r = readPlanRecord(example(kCarePlan)).record;
    REQUIRE(r);
    CHECK(r->recordType() == RecordType::kCarePlan);
    CHECK(r->recordId == "CP-2026-0412");
    CHECK(r->version == 1);
    CHECK(r->patient.name.given == std::vector<std::string>{"Maria", "Elena"});
    CHECK(r->patient.sex == Sex::kFemale);
    CHECK(r->pcp.clinicianNpi == "1538274910");
    const CarePlanBody* b = r->carePlan();
    REQUIRE(b != nullptr);
    CHECK(b->program.kind == ProgramKind::kBundledProgram);
    CHECK(b->program.end == "2026-11-10");
    CHECK(b->conditions.size() == 3);
    CHECK(b->careTeam[0].lead == true);
    REQUIRE(b->goals.size() == 2);
    CHECK(b->goals[1].baseline->value.text == "4.5");
    CHECK(b->goals[1].baseline->value.value == Approx(4.5));
    CHECK(b->goals[0].target->comparator == Comparator::kGreaterOrEqual);
    CHECK_FALSE(b->goals[1].target->comparator.has_value());
    REQUIRE(b->activities.size() == 4);
    CHECK(b->activities[1].goals == std::vector<std::string>{"G1", "G2"});
    CHECK(b->activities[2].scheduled == "2026-09-15T09:30:00-04:00");
    CHECK(b->activities[0].frequency->per == FrequencyPer::kWeek);
    CHECK(r->measurement() == nullptr);
  }
  SECTION("measurement with a decimal value") {
    auto r = readPlanRecord(example("measurement-standing-tolerance.json")).record;
    REQUIRE(r);
    const MeasurementBody* m = r->measurement();
    REQUIRE(m != nullptr);
    CHECK(m->value->text == "1.5");
    CHECK(m->unit == "h");
    CHECK(m->goalId == "G1");
    CHECK(m->method == MeasurementMethod::kClinic);
  }
  SECTION("blood-pressure panel") {
    auto r = readPlanRecord(example(kBloodPressure)).record;
    REQUIRE(r);
    REQUIRE(r->measurement()->components.size() == 2);
    CHECK(r->measurement()->components[1].measure == "bp-diastolic");
    CHECK_FALSE(r->measurement()->value.has_value());
  }
  SECTION("taper step") {
    auto r = readPlanRecord(example(kTaper)).record;
    REQUIRE(r);
    const MedicationChangeBody* m = r->medicationChange();
    REQUIRE(m != nullptr);
    CHECK(m->action == MedicationAction::kTaperStep);
    CHECK(m->medication.rxnorm == "7804");
    CHECK(m->previousDose->value.text == "40");
    CHECK(m->frequency->count == 2);
    CHECK_FALSE(m->frequency->isText());
    CHECK(m->taper->step == 2);
    CHECK(m->taper->of == 6);
    CHECK(m->taper->nextStepOn == "2026-11-05");
    CHECK(m->dailyMme->text == "90");
  }
  SECTION("decimals keep their digits") {
    auto r = readPlanRecord(parseFile(kGood / "medication-dose-change.json")).record;
    REQUIRE(r);
    CHECK(r->medicationChange()->dose->value.text == "7.50");
    CHECK(r->medicationChange()->dailyMme->text == "18.0");
    CHECK(writeJson(writePlanRecord(*r)).find("\"value\":7.50") != std::string::npos);
  }
  SECTION("text frequency and extensions") {
    auto r = readPlanRecord(parseFile(kGood / "medication-continue-text-frequency.json")).record;
    REQUIRE(r);
    CHECK(r->medicationChange()->frequency->text == "12 hours on, 12 hours off");
    auto e = readPlanRecord(parseFile(kGood / "measurement-with-extensions.json")).record;
    REQUIRE(e);
    REQUIRE(e->extensions.has_value());
    CHECK(e->extensions->find("chartSystem") != nullptr);
  }
}

TEST_CASE("records: every wire value of every enum field is accepted", "[mappings][records]") {
  struct Row {
    const char* base;
    const char* path;
    std::vector<const char*> values;
  };
  const std::vector<Row> rows = {
      {kCarePlan, "$.patient.sex", {"female", "male", "other", "unknown"}},
      {kCarePlan,
       "$.author.role",
       {"physician", "nurse-practitioner", "physical-therapist", "occupational-therapist",
        "psychologist", "pharmacist", "interventionalist", "nurse", "care-coordinator"}},
      {kCarePlan, "$.program.kind", {"bundled-program", "a-la-carte"}},
      {kCarePlan,
       "$.program.status",
       {"draft", "active", "on-hold", "completed", "cancelled", "entered-in-error"}},
      {kCarePlan, "$.goals[0].target.comparator", {"<", "<=", ">=", ">"}},
      {kCarePlan,
       "$.goals[0].status",
       {"proposed", "active", "on-hold", "completed", "cancelled", "entered-in-error"}},
      {kCarePlan,
       "$.goals[0].achievement",
       {"in-progress", "improving", "worsening", "no-change", "achieved", "not-achieved"}},
      {kCarePlan,
       "$.activities[0].status",
       {"not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped"}},
      {kCarePlan, "$.activities[0].frequency.per", {"day", "week", "month"}},
      {kPainNrs, "$.status", {"preliminary", "final", "amended", "corrected", "entered-in-error"}},
      {kPainNrs, "$.method", {"clinic", "patient-reported", "remote-monitoring"}},
      {kStart,
       "$.action",
       {"start", "dose-change", "taper-step", "stop", "continue", "entered-in-error"}},
      {kStart, "$.route", {"oral", "transdermal", "sublingual", "topical", "injection"}},
      {kStart, "$.frequency.per", {"day", "week"}},
  };
  for (const Row& row : rows) {
    for (const char* value : row.values) {
      Json doc = example(row.base);
      setAt(&doc, row.path, Json::string(value));
      ReadResult read = readPlanRecord(doc);
      INFO(row.path << " = " << value << "\n" << inloop::fhir::formatIssues(read.issues));
      CHECK(errorsOf(read.issues).empty());
      REQUIRE(read.record.has_value());
      CHECK(writeJson(writePlanRecord(*read.record)) == writeJson(doc));
    }
  }
  SECTION("absent reasons") {
    for (const char* reason : {"not-performed", "patient-declined", "unable"}) {
      Json doc = example(kPainNrs);
      setAt(&doc, "$.value", std::nullopt);
      setAt(&doc, "$.absent", Json::string(reason));
      ReadResult read = readPlanRecord(doc);
      REQUIRE(read.record.has_value());
      CHECK(toWire(*read.record->measurement()->absent) == reason);
    }
  }
  SECTION("toWire and fromWire agree") {
    CHECK(fromWire<MedicationAction>("taper-step") == MedicationAction::kTaperStep);
    CHECK(toWire(ClinicianRole::kCareCoordinator) == "care-coordinator");
    CHECK(toWire(Comparator::kLessOrEqual) == "<=");
    CHECK_FALSE(fromWire<RecordType>("Care-Plan").has_value());
    CHECK_FALSE(fromWire<Route>("").has_value());
  }
}

TEST_CASE("records: each bad record breaks one rule and is reported at its path",
          "[mappings][records]") {
  struct Row {
    const char* name;
    const char* base;
    const char* path;           // where to change the example
    std::optional<Json> value;  // nullopt: remove it
    const char* expectedPath;
    const char* fragment;
    std::size_t errors = 1;
  };
  const Json obj = Json::object();
  const std::vector<Row> rows = {
      // JSON types
      {"number as string", kCarePlan, "$.goals[1].target.value", Json::string("120"),
       "$.goals[1].target.value", "expected a number, got string \"120\""},
      {"version as string", kCarePlan, "$.version", Json::string("3"), "$.version",
       "expected an integer of at least 1, got string \"3\""},
      {"fractional version", kCarePlan, "$.version", Json::numberText("1.5"), "$.version",
       "expected an integer of at least 1, got number 1.5"},
      {"version zero", kCarePlan, "$.version", Json::number(std::int64_t{0}), "$.version",
       "expected an integer of at least 1, got number 0"},
      {"null method", kPainNrs, "$.method", Json(), "$.method", "expected a string, got null"},
      {"boolean as string", kStart, "$.asNeeded", Json::string("yes"), "$.asNeeded",
       "expected true or false"},
      {"patient not an object", kPainNrs, "$.patient", Json::string("PC-448812"), "$.patient",
       "expected an object, got a string"},
      {"goals not a list", kCarePlan, "$.goals", obj, "$.goals", "expected a list"},
      {"list as number", kPainNrs, "$.value", Json::array(), "$.value",
       "expected a number, got a list"},
      // missing fields
      {"missing recordType", kPainNrs, "$.recordType", std::nullopt, "$.recordType",
       "missing required field \"recordType\""},
      {"missing mrn", kPainNrs, "$.patient.mrn", std::nullopt, "$.patient.mrn",
       "missing required field \"mrn\""},
      {"missing program", kCarePlan, "$.program", std::nullopt, "$.program",
       "missing required field \"program\""},
      {"missing effective", kPainNrs, "$.effective", std::nullopt, "$.effective",
       "missing required field"},
      {"missing prescriber", kStart, "$.prescriber", std::nullopt, "$.prescriber",
       "missing required field"},
      {"missing goalId", kCarePlan, "$.goals[0].goalId", std::nullopt, "$.goals[0].goalId",
       "missing required field", 3},  // and A1, A2 then name a goal "G1" that is gone
      {"missing activity type", kCarePlan, "$.activities[0].type", std::nullopt,
       "$.activities[0].type", "missing required field \"type\""},
      {"dose missing on start", kStart, "$.dose", std::nullopt, "$.dose",
       "required unless action is \"stop\" or \"entered-in-error\""},
      {"frequency missing on start", kStart, "$.frequency", std::nullopt, "$.frequency",
       "required unless action is \"stop\""},
      // strings
      {"empty description", kCarePlan, "$.goals[0].description", Json::string(""),
       "$.goals[0].description", "must not be empty"},
      {"empty given list", kPainNrs, "$.patient.name.given", Json::array(), "$.patient.name.given",
       "needs at least 1 item"},
      {"recordId with space", kPainNrs, "$.recordId", Json::string("M 2026"), "$.recordId",
       "expected 1-64 characters from A-Z a-z 0-9 . _ -"},
      {"recordId too long", kPainNrs, "$.recordId", longString(65, 'A'), "$.recordId",
       "expected 1-64 characters"},
      {"mrn too long", kPainNrs, "$.patient.mrn", longString(65), "$.patient.mrn",
       "too long: 65 characters, at most 64"},
      {"measure code upper case", kPainNrs, "$.measure", Json::string("Pain-NRS"), "$.measure",
       "expected a code"},
      {"drug code with space", kStart, "$.medication.code", Json::string("duloxetine 30"),
       "$.medication.code", "expected a code"},
      {"npi 9 digits", kCarePlan, "$.author.npi", Json::string("109381746"), "$.author.npi",
       "exactly 10 digits"},
      {"pcp npi 11 digits", kCarePlan, "$.pcp.clinicianNpi", Json::string("15382749100"),
       "$.pcp.clinicianNpi", "exactly 10 digits"},
      {"icd10 lower case", kCarePlan, "$.conditions[0].icd10", Json::string("m48.062"),
       "$.conditions[0].icd10", "expected an ICD-10-CM code"},
      {"icd10 U code", kCarePlan, "$.conditions[0].icd10", Json::string("U07.1"),
       "$.conditions[0].icd10", "expected an ICD-10-CM code"},
      {"rxnorm letters", kTaper, "$.medication.rxnorm", Json::string("RX7804"),
       "$.medication.rxnorm", "RxNorm"},
      {"control character", kStart, "$.reason",
       Json::string("a\x07"
                    "b"),
       "$.reason", "contains control character U+0007"},
      {"note over 4000", kPainNrs, "$.note", longString(4001), "$.note",
       "too long: 4001 characters, at most 4000"},
      {"1 MB note", kPainNrs, "$.note", longString(1000000), "$.note",
       "too long: 1000000 characters"},
      // enums
      {"recordType typo", kPainNrs, "$.recordType", Json::string("measurment"), "$.recordType",
       "expected one of \"care-plan\", \"measurement\", \"medication-change\", got "
       "\"measurment\"; did you mean \"measurement\"?"},
      {"sex", kPainNrs, "$.patient.sex", Json::string("F"), "$.patient.sex",
       "expected one of \"female\", \"male\", \"other\", \"unknown\""},
      {"role", kCarePlan, "$.author.role", Json::string("doctor"), "$.author.role",
       "expected one of \"physician\", \"nurse-practitioner\""},
      {"program kind", kCarePlan, "$.program.kind", Json::string("bundle"), "$.program.kind",
       "expected one of \"bundled-program\", \"a-la-carte\""},
      {"program status", kCarePlan, "$.program.status", Json::string("open"), "$.program.status",
       "\"draft\", \"active\", \"on-hold\""},
      {"goal status", kCarePlan, "$.goals[1].status", Json::string("achieved"), "$.goals[1].status",
       "expected one of \"proposed\""},
      {"achievement", kCarePlan, "$.goals[0].achievement", Json::string("done"),
       "$.goals[0].achievement", "\"not-achieved\""},
      {"comparator", kCarePlan, "$.goals[0].target.comparator", Json::string("=>"),
       "$.goals[0].target.comparator", "expected one of \"<\", \"<=\", \">=\", \">\""},
      {"activity status", kCarePlan, "$.activities[3].status", Json::string("booked"),
       "$.activities[3].status", "\"not-started\""},
      {"activity per", kCarePlan, "$.activities[0].frequency.per", Json::string("year"),
       "$.activities[0].frequency.per", "expected one of \"day\", \"week\", \"month\""},
      {"measurement status", kPainNrs, "$.status", Json::string("done"), "$.status",
       "\"preliminary\", \"final\""},
      {"method", kPainNrs, "$.method", Json::string("home"), "$.method", "\"clinic\""},
      {"absent reason", kPainNrs, "$.absent", Json::string("refused"), "$.absent",
       "expected one of \"not-performed\", \"patient-declined\", \"unable\"",
       2},  // and "absent" next to "value"
      {"action", kStart, "$.action", Json::string("begin"), "$.action",
       "expected one of \"start\", \"dose-change\", \"taper-step\", \"stop\""},
      {"route", kStart, "$.route", Json::string("iv"), "$.route", "\"oral\", \"transdermal\""},
      {"medication per month", kStart, "$.frequency.per", Json::string("month"), "$.frequency.per",
       "expected one of \"day\", \"week\" for a medication frequency"},
      // dates
      {"February 30", kCarePlan, "$.program.start", Json::string("2026-02-30"), "$.program.start",
       "not a calendar date"},
      {"partial date", kCarePlan, "$.goals[0].due", Json::string("2026-11"), "$.goals[0].due",
       "expected a date YYYY-MM-DD"},
      {"birth date not a day", kPainNrs, "$.patient.birthDate", Json::string("1961-04-31"),
       "$.patient.birthDate", "not a calendar date"},
      {"unit next to components", kBloodPressure, "$.unit", Json::string("mm[Hg]"), "$.unit",
       "each component carries its own \"unit\""},
      {"birth month 13", kPainNrs, "$.patient.birthDate", Json::string("1961-13"),
       "$.patient.birthDate", "expected a date YYYY, YYYY-MM or YYYY-MM-DD"},
      {"birth year of two digits", kPainNrs, "$.patient.birthDate", Json::string("61"),
       "$.patient.birthDate", "expected a date YYYY, YYYY-MM or YYYY-MM-DD"},
      {"offset +25:00", kPainNrs, "$.recordedAt", Json::string("2026-10-06T11:02:13+25:00"),
       "$.recordedAt", "offset between -14:00 and +14:00"},
      {"instant without offset", kPainNrs, "$.recordedAt", Json::string("2026-10-06T11:02:13"),
       "$.recordedAt", "expected an instant"},
      {"instant date only", kPainNrs, "$.recordedAt", Json::string("2026-10-06"), "$.recordedAt",
       "expected an instant"},
      {"dateTime offset +14:30", kPainNrs, "$.effective", Json::string("2026-10-06T10:45:00+14:30"),
       "$.effective", "between -14:00 and +14:00"},
      {"dateTime without seconds", kCarePlan, "$.activities[2].scheduled",
       Json::string("2026-09-15T09:30-04:00"), "$.activities[2].scheduled",
       "expected a date YYYY-MM-DD or a date-time"},
      {"medication effective with time", kStart, "$.effective",
       Json::string("2026-10-07T08:00:00Z"), "$.effective", "expected a date YYYY-MM-DD"},
      {"program ends before it starts", kCarePlan, "$.program.end", Json::string("2026-08-31"),
       "$.program.end", "end 2026-08-31 is before start 2026-09-01"},
      {"period ends before it starts", kCarePlan, "$.activities[0].period.end",
       Json::string("2026-09-02"), "$.activities[0].period.end", "is before start"},
      // unknown and misplaced fields
      {"unknown field with suggestion", kPainNrs, "$.efective", Json::string("2026-10-06"),
       "$.efective", "unknown field \"efective\"; did you mean \"effective\"?"},
      {"unknown nested field", kCarePlan, "$.goals[1].descripton", Json::string("x"),
       "$.goals[1].descripton", "unknown field \"descripton\"; did you mean \"description\"?"},
      {"unknown field, no suggestion", kStart, "$.pharmacy", Json::string("x"), "$.pharmacy",
       "unknown field \"pharmacy\""},
      {"unknown clinician field", kStart, "$.prescriber.NPI", Json::string("1093817465"),
       "$.prescriber.NPI", "did you mean \"npi\"?"},
      {"action in a care plan", kCarePlan, "$.action", Json::string("start"), "$.action",
       "not allowed in a care-plan record (it belongs to medication-change records)"},
      {"program in a measurement", kPainNrs, "$.program", obj, "$.program",
       "not allowed in a measurement record"},
      {"components in a medication change", kStart, "$.components", Json::array(), "$.components",
       "not allowed in a medication-change record"},
      {"goals in a measurement", kPainNrs, "$.goals", Json::array(), "$.goals",
       "not allowed in a measurement record (it belongs to care-plan records)"},
      {"extensions not an object", kPainNrs, "$.extensions", Json::array(), "$.extensions",
       "expected an object"},
      {"lead outside the care team", kCarePlan, "$.author.lead", Json::boolean(true),
       "$.author.lead", "only allowed for careTeam members"},
      // cross-field rules
      {"duplicate goalId", kCarePlan, "$.goals[1].goalId", Json::string("G1"), "$.goals[1].goalId",
       "duplicate goalId \"G1\" (first used at $.goals[0])", 2},  // and A2's "G2" now names no goal
      {"duplicate activityId", kCarePlan, "$.activities[2].activityId", Json::string("A1"),
       "$.activities[2].activityId", "duplicate activityId \"A1\""},
      {"reference to a missing goal", kCarePlan, "$.activities[1].goals[1]", Json::string("G9"),
       "$.activities[1].goals[1]", "no goal with goalId \"G9\" in this record"},
      {"two leads", kCarePlan, "$.careTeam[2].lead", Json::boolean(true), "$.careTeam[2].lead",
       "only one care-team member may be the lead; $.careTeam[0] already is"},
      {"value and components", kBloodPressure, "$.value", Json::number(std::int64_t{148}),
       "$.components", "not allowed together with \"value\""},
      {"value and absent", kPainNrs, "$.absent", Json::string("unable"), "$.absent",
       "not allowed together with \"value\""},
      {"no value at all", kPainNrs, "$.value", std::nullopt, "$",
       "needs exactly one of \"value\", \"components\" or \"absent\""},
      {"empty components", kBloodPressure, "$.components", Json::array(), "$.components",
       "needs at least 1 item"},
      {"taper step after the last", kTaper, "$.taper.step", Json::number(std::int64_t{7}),
       "$.taper.step", "step 7 is after the last step (of 6)"},
      {"negative daily MME", kTaper, "$.dailyMme", Json::number(std::int64_t{-5}), "$.dailyMme",
       "expected a number of at least 0, got number -5"},
      {"frequency count and text", kStart, "$.frequency.text", Json::string("daily"), "$.frequency",
       "either {\"count\", \"per\"} or {\"text\"}, not both"},
      {"frequency count zero", kStart, "$.frequency.count", Json::number(std::int64_t{0}),
       "$.frequency.count", "expected an integer of at least 1, got number 0"},
  };
  for (const Row& row : rows) {
    Json doc = example(row.base);
    setAt(&doc, row.path, row.value);
    ReadResult read = readPlanRecord(doc);
    INFO(row.name << "\n" << inloop::fhir::formatIssues(read.issues));
    CHECK_FALSE(read.record.has_value());
    CHECK(findIssue(read.issues, row.expectedPath, row.fragment) != nullptr);
    CHECK(errorsOf(read.issues).size() == row.errors);
  }
}

TEST_CASE("records: oversized lists are rejected without reading every item",
          "[mappings][records]") {
  Json doc = example(kCarePlan);
  Json goals = Json::array();
  for (int i = 0; i < 10000; ++i) goals.push(Json::string("not a goal"));
  setAt(&doc, "$.goals", goals);
  setAt(&doc, "$.activities", std::nullopt);
  ReadResult read = readPlanRecord(doc);
  INFO(inloop::fhir::formatIssues(read.issues));
  CHECK_FALSE(read.record.has_value());
  REQUIRE(read.issues.size() == 1);
  CHECK(read.issues[0].path == "$.goals");
  CHECK(read.issues[0].message == "too many items: 10000, at most 1000");
}

TEST_CASE("records: the number of issues is capped", "[mappings][records]") {
  Json doc = example(kPainNrs);
  for (int i = 0; i < 1000; ++i) doc.set("junk" + std::to_string(i), Json());
  ReadResult read = readPlanRecord(doc);
  CHECK_FALSE(read.record.has_value());
  REQUIRE(read.issues.size() == kMaxIssues + 1);
  CHECK(read.issues.back().message.find("too many problems") != std::string::npos);
}

TEST_CASE("records: a record with several problems reports all of them", "[mappings][records]") {
  ReadResult read = readPlanRecord(parseFile(kBad / "several-problems.json"));
  INFO(inloop::fhir::formatIssues(read.issues));
  CHECK_FALSE(read.record.has_value());
  const std::vector<std::pair<const char*, const char*>> expected = {
      {"$.recordId", "expected 1-64 characters"},
      {"$.version", "expected an integer of at least 1, got number 0"},
      {"$.recordedAt", "expected an instant"},
      {"$.patient.name.given", "needs at least 1 item"},
      {"$.patient.birthDate", "not a calendar date"},
      {"$.pcp.clinicianNpi", "exactly 10 digits"},
      {"$.author.role", "expected one of"},
      {"$.medication.code", "expected a code"},
      {"$.dose", "missing required field \"dose\""},
      {"$.previousDose.value", "expected a number, got string \"40\""},
      {"$.frequency.per", "for a medication frequency"},
      {"$.efective", "did you mean \"effective\"?"},
      {"$.effective", "missing required field \"effective\""},
      {"$.prescriber.name", "must not be empty"},
      {"$.taper.step", "after the last step"},
      {"$.program", "not allowed in a medication-change record"},
  };
  for (const auto& [path, fragment] : expected) {
    INFO(path << ": " << fragment);
    CHECK(findIssue(read.issues, path, fragment) != nullptr);
  }
  CHECK(errorsOf(read.issues).size() == expected.size());
}

TEST_CASE("records: patient values and the note are not quoted back", "[mappings][records]") {
  Json doc = example(kPainNrs);
  setAt(&doc, "$.patient.birthDate", Json::string("1961-02-30"));
  setAt(&doc, "$.patient.sex", Json::string("femme"));
  setAt(&doc, "$.patient.name.family", Json::number(std::int64_t{42}));
  ReadResult read = readPlanRecord(doc);
  REQUIRE(errorsOf(read.issues).size() == 3);
  for (const Issue& i : read.issues) {
    INFO(i.path << ": " << i.message);
    CHECK(i.message.find("1961") == std::string::npos);
    CHECK(i.message.find("femme") == std::string::npos);
    CHECK(i.message.find("42") == std::string::npos);
  }
  // Non-patient values are quoted, to help the integrator find them.
  Json other = example(kPainNrs);
  setAt(&other, "$.effective", Json::string("2026-02-30"));
  ReadResult read2 = readPlanRecord(other);
  CHECK(findIssue(read2.issues, "$.effective", "got \"2026-02-30\"") != nullptr);
}

TEST_CASE("records: local ids are printable, without quotes, bidi marks or path steps",
          "[mappings][records]") {
  // Issue 16 item 10; docs/record-format.md "Id (local)" and the schema's localId.
  struct IdCase {
    const char* id;
    const char* fragment;  // nullptr: accepted
  };
  const std::string longest(64, 'x');
  const IdCase cases[] = {
      {"PC-448812", nullptr},
      {"riverside/west", nullptr},
      {"a..b", nullptr},
      {"Dr. O Brien 2", nullptr},
      {"\303\234nic\303\270de-\346\227\245", nullptr},  // octal: U+00DC, U+00F8, U+65E5
      {longest.c_str(), nullptr},
      {"PC-1\n", "control characters"},
      {"PC\r\n1", "control characters"},
      {"PC\t1", "control characters"},
      {"PC\302\2051", "control characters"},  // U+0085 NEL
      {"PC\342\200\2561", "bidirectional"},   // U+202E
      {"PC\xE2\x80\x8F", "bidirectional"},    // U+200F
      {"\xE2\x81\xA6PC", "bidirectional"},    // U+2066
      {"\xEF\xBB\xBFPC", "bidirectional"},    // U+FEFF
      {"PC\"1", "quotes"},
      {"PC'1", "quotes"},
      {"PC`1", "quotes"},
      {"PC\\1", "quotes or backslashes"},
      {" PC1", "whitespace"},
      {"PC1 ", "whitespace"},
      {"PC1\xC2\xA0", "whitespace"},
      {"../admin", "path segment"},
      {"a/../b", "path segment"},
      {"a/./b", "path segment"},
      {"..", "path segment"},
      {"/etc", "path segment"},
      {"a/", "path segment"},
      {"a//b", "path segment"},
  };
  const char* const paths[] = {"$.patient.mrn", "$.patient.pcpPatientId", "$.pcp.practiceId",
                               "$.goalId"};
  for (const IdCase& c : cases) {
    for (const char* path : paths) {
      INFO(path << " = " << c.id);
      Json doc = example(kPainNrs);
      setAt(&doc, path, Json::string(c.id));
      ReadResult read = readPlanRecord(doc);
      INFO(inloop::fhir::formatIssues(read.issues));
      if (c.fragment == nullptr) {
        CHECK(errorsOf(read.issues).empty());
        continue;
      }
      REQUIRE(errorsOf(read.issues).size() == 1);
      CHECK(findIssue(read.issues, path, c.fragment) != nullptr);
      // The refused id is not echoed (it may carry the very characters refused);
      // ".." alone is too short to tell from the message's own words.
      if (std::string_view(c.id) != "..") {
        CHECK(errorsOf(read.issues)[0].message.find(c.id) == std::string::npos);
      }
    }
  }
  Json tooLong = example(kPainNrs);
  setAt(&tooLong, "$.pcp.practiceId", longString(65));
  CHECK(findIssue(readPlanRecord(tooLong).issues, "$.pcp.practiceId", "too long") != nullptr);
}

TEST_CASE("records: accepted variants and warnings", "[mappings][records]") {
  struct Edit {
    const char* path;
    std::optional<Json> value;  // nullopt: remove
  };
  struct Row {
    const char* name;
    const char* base;
    std::vector<Edit> edits;
    const char* warningPath;  // nullptr: no issue at all expected
    const char* fragment;
  };
  Json ext = parse(R"({"efective": 1, "nested": {"anything": [true, {"goes": null}]}})");
  std::string twoByteNote;
  for (int i = 0; i < 4000; ++i) twoByteNote += "\xC3\xA9";  // e with acute accent
  Json thousandGoals = Json::array();
  for (int i = 0; i < 1000; ++i) {
    thousandGoals.push(parse(R"({"goalId": "G)" + std::to_string(i) + R"(", "description": "d"})"));
  }
  const std::vector<Row> rows = {
      {"unknown fields inside extensions", kPainNrs, {{"$.extensions", ext}}, nullptr, ""},
      {"stop without dose or frequency",
       kTaper,
       {{"$.action", Json::string("stop")},
        {"$.dose", std::nullopt},
        {"$.frequency", std::nullopt},
        {"$.taper", std::nullopt}},
       "$.previousDose",
       "meant for dose-change and taper-step, not \"stop\""},
      {"entered-in-error without dose",
       kStart,
       {{"$.action", Json::string("entered-in-error")}, {"$.dose", std::nullopt}},
       nullptr,
       ""},
      {"previousDose on a start",
       kStart,
       {{"$.previousDose", parse(R"({"value": 20, "unit": "mg"})")}},
       "$.previousDose",
       "meant for dose-change and taper-step"},
      {"taper on a dose change",
       kTaper,
       {{"$.action", Json::string("dose-change")}},
       "$.taper",
       "meant for taper-step, not \"dose-change\""},
      {"care team without lead",
       kCarePlan,
       {{"$.careTeam[0].lead", std::nullopt}},
       "$.careTeam",
       "no care-team member has \"lead\": true"},
      {"unit on an absent value",
       kPainNrs,
       {{"$.value", std::nullopt},
        {"$.absent", Json::string("unable")},
        {"$.unit", Json::string("score")}},
       "$.unit",
       "applies only to \"value\""},
      {"goalId without planId",
       kPainNrs,
       {{"$.planId", std::nullopt}, {"$.goalId", Json::string("G1")}},
       "$.goalId",
       "there is no \"planId\""},
      {"planId on a care plan",
       kCarePlan,
       {{"$.planId", Json::string("CP-1")}},
       "$.planId",
       "a care plan's own id is its \"recordId\""},
      {"dateTime as a date", kPainNrs, {{"$.effective", Json::string("2026-10-06")}}, nullptr, ""},
      {"offset -14:00",
       kPainNrs,
       {{"$.recordedAt", Json::string("2026-10-06T11:02:13-14:00")}},
       nullptr,
       ""},
      {"leap day", kPainNrs, {{"$.patient.birthDate", Json::string("1960-02-29")}}, nullptr, ""},
      {"birth year only", kPainNrs, {{"$.patient.birthDate", Json::string("1961")}}, nullptr, ""},
      {"birth year and month",
       kPainNrs,
       {{"$.patient.birthDate", Json::string("1961-04")}},
       nullptr,
       ""},
      {"exactly 4000-character note", kPainNrs, {{"$.note", longString(4000)}}, nullptr, ""},
      {"4000 two-byte characters", kPainNrs, {{"$.note", Json::string(twoByteNote)}}, nullptr, ""},
      {"1000 goals",
       kCarePlan,
       {{"$.activities", std::nullopt}, {"$.goals", thousandGoals}},
       nullptr,
       ""},
      {"empty optional free text", kStart, {{"$.reason", Json::string("")}}, nullptr, ""},
  };
  for (const Row& row : rows) {
    Json doc = example(row.base);
    for (const Edit& e : row.edits) setAt(&doc, e.path, e.value);
    ReadResult read = readPlanRecord(doc);
    INFO(row.name << "\n" << inloop::fhir::formatIssues(read.issues));
    CHECK(errorsOf(read.issues).empty());
    REQUIRE(read.record.has_value());
    if (row.warningPath == nullptr) {
      CHECK(read.issues.empty());
    } else {
      REQUIRE(read.issues.size() == 1);
      CHECK(read.issues[0].severity == Severity::kWarning);
      CHECK(findIssue(read.issues, row.warningPath, row.fragment) != nullptr);
    }
    // Whatever was accepted reads back the same from the writer's output.
    CHECK(readPlanRecord(writePlanRecord(*read.record)).record == read.record);
  }
}

TEST_CASE("records: the issues overload appends and agrees with ReadResult",
          "[mappings][records]") {
  Json doc = example(kPainNrs);
  setAt(&doc, "$.status", Json::string("done"));
  Issues issues{Issue{Severity::kWarning, "x", "earlier", "kept"}};
  std::optional<PlanRecord> r = readPlanRecord(doc, &issues);
  CHECK_FALSE(r.has_value());
  REQUIRE(issues.size() == 2);
  CHECK(issues[0].path == "earlier");
  CHECK(issues[1].path == "$.status");
  CHECK(issues[1].code == "value");
  CHECK_FALSE(readPlanRecord(doc, nullptr).has_value());
  CHECK(readPlanRecord(Json::array(), nullptr) == std::nullopt);
  ReadResult notObject = readPlanRecord(Json::string("x"));
  REQUIRE(notObject.issues.size() == 1);
  CHECK(notObject.issues[0].path == "$");
}

TEST_CASE("records: records built in code write and read back", "[mappings][records]") {
  PlanRecord r;
  r.recordId = "RX-code-1";
  r.version = 9;
  r.recordedAt = "2026-01-02T03:04:05Z";
  r.patient.mrn = "PC-1";
  r.patient.name = PersonName{"Sample", {"Chris"}};
  r.patient.birthDate = "1950-06-15";
  r.pcp.practiceId = "test-practice";
  r.author.name = "Dr. Test Author";
  MedicationChangeBody m;
  m.action = MedicationAction::kStart;
  m.medication.code = "naproxen";
  m.dose = Quantity{Decimal::of(250), "mg"};
  m.frequency = MedicationFrequency{.count = 0, .per = FrequencyPer::kDay, .text = "with meals"};
  m.effective = "2026-01-03";
  m.prescriber.name = "Dr. Test Author";
  m.dailyMme = Decimal::fromText("0.0");
  r.body = m;
  Json written = writePlanRecord(r);
  CHECK(written.find("recordType")->text() == "medication-change");
  CHECK(written.find("dailyMme")->text() == "0.0");
  ReadResult read = readPlanRecord(written);
  INFO(inloop::fhir::formatIssues(read.issues));
  REQUIRE(read.record.has_value());
  CHECK(*read.record == r);

  CHECK_FALSE(Decimal::fromText("1e400").has_value());
  CHECK_FALSE(Decimal::fromText("01").has_value());
  CHECK(Decimal::fromText("4.50")->text == "4.50");
  CHECK_FALSE(*Decimal::fromText("4.50") == *Decimal::fromText("4.5"));
}
