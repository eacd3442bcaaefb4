#include "mappings/tables/tables.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using inloop::fhir::ErrorCode;
using inloop::fhir::Severity;
using inloop::mappings::ActivityKind;
using inloop::mappings::ContactPoints;
using inloop::mappings::Direction;
using inloop::mappings::Effect;
using inloop::mappings::loadMappingTables;
using inloop::mappings::MappingTables;
using inloop::mappings::MeasureCategory;
using inloop::mappings::PanelTotal;
using inloop::mappings::TableFile;
using inloop::mappings::TablesLoad;

namespace {

std::vector<TableFile> readDir(const std::filesystem::path& dir) {
  std::vector<TableFile> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    files.push_back(TableFile{entry.path().filename().string(), text.str()});
  }
  return files;
}

const MappingTables& shipped() {
  static const TablesLoad load =
      loadMappingTables(readDir(std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings"));
  return *load.tables;
}

std::vector<std::string> rendered(const TablesLoad& load) {
  std::vector<std::string> out;
  for (const auto& i : load.issues) {
    out.push_back(std::string(inloop::fhir::severityName(i.severity)) + " " + i.path + ": " +
                  i.message);
  }
  return out;
}

// A small valid set of tables; broken-config cases replace one file.
std::map<std::string, std::string> minimalTables() {
  return {
      {"manifest.json", R"({"version": "t1", "namespaces": {
  "record": "https://pc.example.org/sid/record", "mrn": "https://pc.example.org/sid/mrn",
  "measure": "https://pc.example.org/cs/measure", "activity": "https://pc.example.org/cs/activity",
  "drug": "https://pc.example.org/cs/drug", "drugClass": "https://pc.example.org/cs/drug-class",
  "extensionBase": "https://pc.example.org/sd/", "source": "https://pc.example.org/chart"}})"},
      {"units.json", R"(// units
{"units": [
  {"name": "score", "ucum": "{score}", "display": "score"},
  {"name": "h", "ucum": "h", "display": "h"},
  {"name": "min", "ucum": "min", "display": "min"},
  {"name": "mg", "ucum": "mg", "display": "mg"},
  {"name": "kg", "ucum": "kg", "display": "kg"},
  {"name": "lb", "ucum": "[lb_av]", "display": "lb"}
],
"conversions": [
  {"from": "h", "to": "min", "factor": 60},
  {"from": "[lb_av]", "to": "kg", "factor": 0.45359237}
]})"},
      {"measures.json", R"({"measures": [
  {"code": "pain-nrs", "display": "Pain", "loinc": {"code": "72514-3"}, "category": "survey",
   "unit": "score", "range": {"min": 0, "max": 10}, "direction": "lower-is-better"},
  {"code": "body-weight", "display": "Weight", "category": "vital-signs", "unit": "kg",
   "otherUnits": ["lb"], "direction": "neither"}
]})"},
      {"activities.json", R"({"activities": [
  {"code": "physical-therapy", "display": "PT", "snomed": {"code": "91251008"},
   "kind": "ServiceRequest"}
]})"},
      {"drugs.json", R"({"drugs": [
  {"code": "oxycodone", "display": "Oxycodone", "rxnorm": {"code": "7804"},
   "classes": ["opioid"], "mme": {"factor": 1.5, "unit": "mg"}, "doseUnits": ["mg"]}
]})"},
      {"drug-classes.json", R"({"classes": [
  {"code": "opioid", "display": "Opioid",
   "effects": [{"effect": "sedation", "message": "Sedating."}]}
]})"},
      {"practices.json",
       R"({"contact": {"organization": {"name": "Test Pain Center", "npi": "1498712045", "phone": "555-0100"}}, "practices": [
  {"practiceId": "pr-1", "measures": [
    {"measure": "body-weight", "unit": "lb", "display": "Weight in lb"},
    {"measure": "pain-nrs", "enabled": false}]}
]})"},
  };
}

TablesLoad loadWith(const std::map<std::string, std::string>& files) {
  std::vector<TableFile> list;
  for (const auto& [name, text] : files) list.push_back(TableFile{name, text});
  return loadMappingTables(list);
}

}  // namespace

TEST_CASE("shipped mapping tables load without any issue", "[mappings][tables]") {
  TablesLoad load =
      loadMappingTables(readDir(std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings"));
  INFO(inloop::fhir::formatIssues(load.issues));
  CHECK(load.issues.empty());
  REQUIRE(load.tables.has_value());
  CHECK(load.tables->version == "2026.1");
  CHECK(load.tables->namespaces.record == "https://paincenter.example.org/fhir/sid/record");
  CHECK(load.tables->namespaces.extensionBase.back() == '/');
}

TEST_CASE("shipped tables cover every code the clinic uses today", "[mappings][tables]") {
  const MappingTables& t = shipped();
  // From the record-format README, "Codes the clinic system uses today".
  const char* measures[] = {"pain-nrs",
                            "peg",
                            "peg-pain",
                            "peg-enjoyment",
                            "peg-activity",
                            "phq9",
                            "gad7",
                            "odi",
                            "bpi-interference",
                            "sit-to-stand-30s",
                            "six-minute-walk",
                            "timed-up-and-go",
                            "standing-tolerance",
                            "sleep-duration",
                            "sleep-efficiency",
                            "body-weight",
                            "blood-pressure",
                            "bp-systolic",
                            "bp-diastolic",
                            "glucose",
                            "daily-mme"};
  for (const char* m : measures) {
    INFO(m);
    CHECK(t.findMeasure(m).has_value());
  }
  const char* activities[] = {"physical-therapy",
                              "occupational-therapy",
                              "cbt",
                              "act",
                              "biofeedback",
                              "pain-education",
                              "medial-branch-block",
                              "radiofrequency-ablation",
                              "epidural-steroid-injection",
                              "sacroiliac-joint-injection",
                              "spinal-cord-stimulator-trial",
                              "opioid-taper",
                              "sleep-medicine-consult",
                              "physician-visit",
                              "surgical-consult"};
  for (const char* a : activities) {
    INFO(a);
    CHECK(t.findActivity(a) != nullptr);
  }
  const char* drugs[] = {
      "oxycodone",          "oxycodone-er",  "morphine",       "morphine-er",
      "hydrocodone",        "tramadol",      "buprenorphine",  "buprenorphine-patch",
      "fentanyl-patch",     "gabapentin",    "pregabalin",     "duloxetine",
      "amitriptyline",      "nortriptyline", "naproxen",       "ibuprofen",
      "celecoxib",          "acetaminophen", "clonazepam",     "lorazepam",
      "alprazolam",         "zolpidem",      "naloxone",       "cyclobenzaprine",
      "methylprednisolone", "triamcinolone", "lidocaine-patch"};
  for (const char* d : drugs) {
    INFO(d);
    CHECK(t.findDrug(d) != nullptr);
  }
  // Units the clinic writes, in records and doses.
  const char* units[] = {"min", "minutes", "h",    "hours", "m",      "ft",  "kg",    "lb",
                         "%",   "score",   "mmHg", "mg/dL", "mmol/L", "s",   "count", "mg",
                         "mcg", "mcg/h",   "mL",   "patch", "tablet", "mg/d"};
  for (const char* u : units) {
    INFO(u);
    CHECK(t.findUnit(u) != nullptr);
  }
  // Each measure's units (README: default first, then the others) are accepted.
  std::map<std::string, std::vector<std::string>> accepted = {
      {"six-minute-walk", {"m", "ft"}}, {"standing-tolerance", {"min", "h"}},
      {"sleep-duration", {"h", "min"}}, {"body-weight", {"kg", "lb"}},
      {"glucose", {"mg/dL", "mmol/L"}}, {"odi", {"%"}},
      {"daily-mme", {"mg/d"}},          {"sit-to-stand-30s", {"count"}},
  };
  for (const auto& [code, us] : accepted) {
    auto m = t.findMeasure(code);
    REQUIRE(m);
    for (const std::string& u : us) {
      INFO(code << " " << u);
      CHECK(std::find(m->units.begin(), m->units.end(), u) != m->units.end());
    }
  }
}

TEST_CASE("shipped tables carry the known-good codes", "[mappings][tables]") {
  const MappingTables& t = shipped();
  struct LoincCase {
    const char* measure;
    const char* loinc;
    const char* ucum;
    MeasureCategory category;
  };
  const LoincCase loincCases[] = {
      {"pain-nrs", "72514-3", "{score}", MeasureCategory::kSurvey},
      {"phq9", "44261-6", "{score}", MeasureCategory::kSurvey},
      {"gad7", "70274-6", "{score}", MeasureCategory::kSurvey},
      {"odi", "97909-6", "%", MeasureCategory::kSurvey},
      {"bpi-interference", "77565-0", "{score}", MeasureCategory::kSurvey},
      {"sit-to-stand-30s", "66247-8", "{#}/(30.s)", MeasureCategory::kExam},
      {"six-minute-walk", "64098-7", "m", MeasureCategory::kExam},
      {"timed-up-and-go", "89423-8", "s", MeasureCategory::kExam},
      {"sleep-duration", "93832-4", "h", MeasureCategory::kActivity},
      {"body-weight", "29463-7", "kg", MeasureCategory::kVitalSigns},
      {"blood-pressure", "85354-9", "mm[Hg]", MeasureCategory::kVitalSigns},
      {"bp-systolic", "8480-6", "mm[Hg]", MeasureCategory::kVitalSigns},
      {"bp-diastolic", "8462-4", "mm[Hg]", MeasureCategory::kVitalSigns},
      {"glucose", "2345-7", "mg/dL", MeasureCategory::kLaboratory},
  };
  for (const auto& c : loincCases) {
    INFO(c.measure);
    auto m = t.findMeasure(c.measure);
    REQUIRE(m);
    CHECK(m->standardCode);
    CHECK(m->coding.system == "http://loinc.org");
    CHECK(m->coding.code == c.loinc);
    CHECK(t.findUnit(m->unit)->ucum == c.ucum);
    CHECK(m->category == c.category);
  }
  // No confirmed LOINC: local code system plus text.
  for (const char* local : {"peg", "standing-tolerance", "sleep-efficiency", "daily-mme"}) {
    INFO(local);
    auto m = t.findMeasure(local);
    REQUIRE(m);
    CHECK_FALSE(m->standardCode);
    CHECK(m->coding.system == "https://paincenter.example.org/fhir/CodeSystem/measure");
    CHECK(m->coding.code == local);
    CHECK(m->coding.display == m->display);
  }
  auto bp = t.findMeasure("blood-pressure");
  CHECK(bp->components == std::vector<std::string>{"bp-systolic", "bp-diastolic"});
  CHECK_FALSE(bp->valueAllowed);
  auto peg = t.findMeasure("peg");
  CHECK(peg->components == std::vector<std::string>{"peg-pain", "peg-enjoyment", "peg-activity"});
  CHECK(peg->total == PanelTotal::kMean);
  CHECK(peg->valueAllowed);
  CHECK(*t.findMeasure("phq9")->max == 27);
  CHECK(*t.findMeasure("gad7")->max == 21);
  CHECK(*t.findMeasure("odi")->max == 100);
  CHECK(*t.findMeasure("pain-nrs")->max == 10);
  CHECK(t.findMeasure("pain-nrs")->direction == Direction::kLowerIsBetter);
  CHECK(t.findMeasure("six-minute-walk")->direction == Direction::kHigherIsBetter);

  struct SnomedCase {
    const char* activity;
    const char* snomed;
  };
  for (const auto& c : {SnomedCase{"physical-therapy", "91251008"}, SnomedCase{"cbt", "228557008"},
                        SnomedCase{"physician-visit", "420650002"},
                        SnomedCase{"opioid-safety-counseling", "460831000124102"}}) {
    INFO(c.activity);
    const auto* a = t.findActivity(c.activity);
    REQUIRE(a);
    CHECK(a->coding.system == "http://snomed.info/sct");
    CHECK(a->coding.code == c.snomed);
  }
  const auto* mbb = t.findActivity("medial-branch-block");
  CHECK_FALSE(mbb->standardCode);
  CHECK(mbb->coding.system == "https://paincenter.example.org/fhir/CodeSystem/activity");
  CHECK(t.findActivity("physician-visit")->kind == ActivityKind::kAppointment);
  for (const char* injection : {"epidural-steroid-injection", "sacroiliac-joint-injection"}) {
    const auto* a = t.findActivity(injection);
    REQUIRE(a->effects.size() == 1);
    CHECK(a->effects[0].effect == Effect::kGlucose);
    CHECK_THAT(a->effects[0].message, Catch::Contains("glucose"));
  }

  struct RxCase {
    const char* drug;
    const char* rxnorm;
  };
  for (const auto& c :
       {RxCase{"acetaminophen", "161"}, RxCase{"amitriptyline", "704"},
        RxCase{"buprenorphine", "1819"}, RxCase{"clonazepam", "2598"}, RxCase{"morphine", "7052"},
        RxCase{"naloxone", "7242"}, RxCase{"naproxen", "7258"}, RxCase{"oxycodone", "7804"},
        RxCase{"gabapentin", "25480"}, RxCase{"zolpidem", "39993"}, RxCase{"duloxetine", "72625"},
        RxCase{"pregabalin", "187832"}}) {
    INFO(c.drug);
    const auto* d = t.findDrug(c.drug);
    REQUIRE(d);
    REQUIRE(d->rxnorm);
    CHECK(d->rxnorm->system == "http://www.nlm.nih.gov/research/umls/rxnorm");
    CHECK(d->rxnorm->code == c.rxnorm);
  }
  CHECK_FALSE(t.findDrug("tramadol")->rxnorm);  // not confirmed: text and local code only
  CHECK(t.findDrug("tramadol")->local.system ==
        "https://paincenter.example.org/fhir/CodeSystem/drug");

  struct MmeCase {
    const char* drug;
    double factor;
    const char* unit;
  };
  for (const auto& c :
       {MmeCase{"morphine", 1, "mg"}, MmeCase{"oxycodone", 1.5, "mg"},
        MmeCase{"oxycodone-er", 1.5, "mg"}, MmeCase{"hydrocodone", 1, "mg"},
        MmeCase{"tramadol", 0.1, "mg"}, MmeCase{"fentanyl-patch", 2.4, "mcg/h"},
        MmeCase{"buprenorphine-patch", 12.6, "mcg/h"}, MmeCase{"buprenorphine", 30, "mg"}}) {
    INFO(c.drug);
    const auto* d = t.findDrug(c.drug);
    REQUIRE(d->mme);
    CHECK(d->mme->factorValue == c.factor);
    CHECK(d->mme->unit == c.unit);
  }
  CHECK_FALSE(t.findDrug("gabapentin")->mme);

  // The safety loop's effects, reached through the drug's classes.
  struct EffectCase {
    const char* drug;
    Effect effect;
  };
  for (const auto& c :
       {EffectCase{"duloxetine", Effect::kBloodPressure},
        EffectCase{"naproxen", Effect::kBloodPressure}, EffectCase{"duloxetine", Effect::kMood},
        EffectCase{"pregabalin", Effect::kSedation}, EffectCase{"clonazepam", Effect::kSedation},
        EffectCase{"zolpidem", Effect::kSedation},
        EffectCase{"methylprednisolone", Effect::kGlucose}}) {
    INFO(c.drug << " " << inloop::mappings::effectCode(c.effect));
    bool found = false;
    for (const std::string& cls : t.findDrug(c.drug)->classes) {
      const auto* dc = t.findDrugClass(cls);
      REQUIRE(dc);
      for (const auto& e : dc->effects) found = found || e.effect == c.effect;
    }
    CHECK(found);
  }
}

TEST_CASE("unit conversions give exact, sensibly rounded values", "[mappings][tables]") {
  const MappingTables& t = shipped();
  struct Case {
    const char* value;
    const char* from;
    const char* to;
    const char* measure;
    const char* expected;
  };
  const Case cases[] = {
      {"1.5", "h", "min", "", "90.0"},
      {"2", "hours", "min", "standing-tolerance", "120"},
      {"90", "min", "h", "", "1.50"},
      {"45", "minutes", "min", "", "45"},  // same UCUM code: text unchanged
      {"7.50", "h", "h", "", "7.50"},
      {"100", "ft", "m", "six-minute-walk", "30.5"},
      {"1200", "ft", "m", "", "365.8"},
      {"150", "lb", "kg", "body-weight", "68.0"},
      {"220.5", "[lb_av]", "kg", "", "100.0"},
      {"70", "kg", "lb", "", "154"},
      {"5.5", "mmol/L", "mg/dL", "glucose", "99.1"},
      {"100", "mg/dL", "mmol/L", "glucose", "5.55"},
      {"12", "count", "count/30s", "sit-to-stand-30s", "12.0"},
      {"0", "h", "min", "", "0"},
      {"2.5", "mg", "mcg", "", "2500"},
  };
  for (const Case& c : cases) {
    INFO(c.value << " " << c.from << " -> " << c.to);
    auto r = t.convert(c.value, c.from, c.to, c.measure);
    REQUIRE(r.isOk());
    CHECK(*r == c.expected);
  }
  // Substance-specific conversions apply only to their measure.
  auto other = t.convert("5.5", "mmol/L", "mg/dL", "daily-mme");
  REQUIRE_FALSE(other.isOk());
  CHECK(other.status().code() == ErrorCode::kNotFound);
  CHECK(other.status().message() ==
        "no conversion from \"mmol/L\" to \"mg/dL\" for measure \"daily-mme\"");
  CHECK(t.convert("1", "kg", "m").status().code() == ErrorCode::kNotFound);
  CHECK(t.convert("1", "stone", "kg").status().message() == "unknown unit \"stone\"");
  CHECK(t.convert("1,5", "h", "min").status().code() == ErrorCode::kInvalid);
  CHECK(t.canConvert("ft", "m"));
  CHECK_FALSE(t.canConvert("mmol/L", "mg/dL"));
  CHECK(t.canConvert("mmol/L", "mg/dL", "glucose"));
}

TEST_CASE("practice overrides change unit and display, or disable a measure",
          "[mappings][tables]") {
  TablesLoad load = loadWith(minimalTables());
  INFO(inloop::fhir::formatIssues(load.issues));
  REQUIRE(load.tables);
  const MappingTables& t = *load.tables;
  auto plain = t.findMeasure("body-weight");
  REQUIRE(plain);
  CHECK(plain->sendUnit == "kg");
  CHECK(plain->display == "Weight");
  auto forPractice = t.findMeasure("body-weight", "pr-1");
  REQUIRE(forPractice);
  CHECK(forPractice->sendUnit == "lb");
  CHECK(forPractice->display == "Weight in lb");
  CHECK(forPractice->unit == "kg");  // values are still validated in the canonical unit
  CHECK_FALSE(t.findMeasure("pain-nrs", "pr-1"));
  CHECK(t.findMeasure("pain-nrs", "other-practice"));
  CHECK_FALSE(t.findMeasure("no-such-measure"));
}

TEST_CASE("contact: the organization, clinicians' lines and a practice's own number",
          "[mappings][tables]") {
  auto files = minimalTables();
  files["practices.json"] = R"({"contact": {
  "organization": {"name": "Test Pain Center", "npi": "1498712045", "phone": "555-0100",
    "fax": "555-0101", "email": "referrals@pc.example.org", "direct": "pc@direct.example.org",
    "address": {"line": ["1 Example Way"], "city": "Springfield", "state": "IL"}},
  "clinicians": [{"npi": "1093817465", "name": "Dr. Example", "phone": "555-0142 ext 12"}]},
 "practices": [
  {"practiceId": "pr-1", "contact": {"phone": "(555) 0177", "direct": "pr1@direct.example.org"}},
  {"practiceId": "pr-2"}
]})";
  TablesLoad load = loadWith(files);
  INFO(inloop::fhir::formatIssues(load.issues));
  REQUIRE(load.tables);
  CHECK(load.issues.empty());
  const MappingTables& t = *load.tables;
  REQUIRE(t.contact);
  CHECK(t.contact->organization.name == "Test Pain Center");
  CHECK(t.contact->organization.address->line == std::vector<std::string>{"1 Example Way"});
  CHECK(t.contact->organization.address->postalCode.empty());
  struct Row {
    const char* practice;
    const char* phone;
    const char* fax;
    const char* direct;
  };
  const Row rows[] = {
      {"pr-1", "(555) 0177", "555-0101", "pr1@direct.example.org"},  // own phone and Direct
      {"pr-2", "555-0100", "555-0101", "pc@direct.example.org"},     // no contact of its own
      {"unknown", "555-0100", "555-0101", "pc@direct.example.org"},
  };
  for (const Row& r : rows) {
    INFO(r.practice);
    const ContactPoints* p = t.contactPointsFor(r.practice);
    REQUIRE(p != nullptr);
    CHECK(p->phone == r.phone);
    CHECK(p->fax == r.fax);
    CHECK(p->direct == r.direct);
    CHECK(p->email == "referrals@pc.example.org");
  }
  // The Organization keeps the center's own numbers.
  CHECK(t.contact->organization.points.phone == "555-0100");
  REQUIRE(t.findClinicianContact("1093817465") != nullptr);
  CHECK(t.findClinicianContact("1093817465")->phone == "555-0142 ext 12");
  CHECK(t.findClinicianContact("1234567893") == nullptr);
}

TEST_CASE("contact: missing is a warning, broken fields are errors at line:column",
          "[mappings][tables]") {
  struct Case {
    const char* name;
    const char* text;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"no contact section: warning, tables still load",
       R"({"practices": []})",
       {"warning practices.json:1:1: no \"contact\" section: Bundles carry no Organization for "
        "the pain center and notices give no number to call (docs/mapping-tables.md, "
        "\"Contact\")"}},
      {"NPI check digit, phone, e-mail, unknown field",
       R"({"contact": {"organization": {
  "name": "PC", "npi": "1498712046", "phone": "call us",
  "email": "referrals.example.org", "web": "https://pc.example.org"}},
 "practices": []})",
       {"error practices.json:3:37: $.contact.organization.web: unknown field \"web\" (known: "
        "\"name\", \"npi\", \"phone\", \"fax\", \"email\", \"direct\", \"address\")",
        "error practices.json:2:24: $.contact.organization.npi: expected 10 digits ending in a "
        "valid NPI check digit, got \"1498712046\"",
        "error practices.json:2:47: $.contact.organization.phone: expected a telephone number "
        "such as \"555-0100\" (digits, spaces, + - ( ) . /, x or ext before an extension; at "
        "least 7 digits), got \"call us\"",
        "error practices.json:3:12: $.contact.organization.email: expected an address like "
        "name@example.org, got \"referrals.example.org\""}},
      {"organization missing, clinician twice",
       R"({"contact": {"clinicians": [
  {"npi": "1093817465", "name": "A", "phone": "555-0142"},
  {"npi": "1093817465", "name": "B", "phone": "555-0143"}]},
 "practices": []})",
       {"error practices.json:1:13: $.contact.organization: missing required field "
        "\"organization\"",
        "error practices.json:3:11: $.contact.clinicians[1].npi: \"1093817465\" is listed twice"}},
      {"a practice's contact without the pain center's",
       R"({"practices": [
  {"practiceId": "pr-1", "contact": {"phone": "555-0177"}}]})",
       {"warning practices.json:1:1: no \"contact\" section: Bundles carry no Organization for "
        "the pain center and notices give no number to call (docs/mapping-tables.md, "
        "\"Contact\")",
        "error practices.json:2:37: $.practices[0].contact: \"contact\" changes the pain "
        "center's contact, but practices.json has no top-level \"contact\" section"}},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      auto files = minimalTables();
      files["practices.json"] = c.text;
      TablesLoad load = loadWith(files);
      CHECK(rendered(load) == c.expected);
      const bool errors = inloop::fhir::hasErrors(load.issues);
      CHECK(load.tables.has_value() == !errors);
      if (load.tables) CHECK_FALSE(load.tables->contact.has_value());
    }
  }
}

TEST_CASE("broken mapping tables report every issue with file, line and column",
          "[mappings][tables]") {
  struct Case {
    const char* name;
    const char* file;
    const char* text;  // nullptr: the file is left out
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"malformed JSON",
       "measures.json",
       "{\"measures\": [\n  {\"code\": \"x\",}\n]}",
       {"error measures.json:2:16: malformed JSON: Missing a name for object member"}},
      {"unknown field (typo)",
       "activities.json",
       R"({"activities": [
  {"code": "physical-therapy", "display": "PT", "kind": "ServiceRequest",
   "snomde": {"code": "91251008"}}
]})",
       {"error activities.json:3:4: $.activities[0].snomde: unknown field \"snomde\"; did you "
        "mean \"snomed\"?"}},
      {"missing required field",
       "drug-classes.json",
       R"({"classes": [
  {"code": "opioid"}
]})",
       {"error drug-classes.json:2:3: $.classes[0].display: missing required field "
        "\"display\""}},
      {"duplicate code",
       "drug-classes.json",
       R"({"classes": [
  {"code": "opioid", "display": "Opioid"},
  {"code": "opioid", "display": "Opioid again"}
]})",
       {"error drug-classes.json:3:12: $.classes[1].code: \"opioid\" is listed twice"}},
      {"undefined unit",
       "measures.json",
       R"({"measures": [
  {"code": "pain-nrs", "display": "Pain", "category": "survey",
   "unit": "points", "direction": "lower-is-better"},
  {"code": "body-weight", "display": "Weight", "category": "vital-signs", "unit": "kg",
   "otherUnits": ["lb"], "direction": "neither"}
]})",
       {"error measures.json:3:12: $.measures[0].unit: unit \"points\" is not defined in "
        "units.json"}},
      {"undefined drug class",
       "drugs.json",
       R"({"drugs": [
  {"code": "oxycodone", "display": "Oxycodone", "classes": ["opioid", "opiod"],
   "mme": {"factor": 1.5, "unit": "mg"}, "doseUnits": ["mg"]}
]})",
       {"error drugs.json:2:71: $.drugs[0].classes[1]: class \"opiod\" is not defined in "
        "drug-classes.json; did you mean \"opioid\"?"}},
      {"accepted unit without a conversion",
       "measures.json",
       R"({"measures": [
  {"code": "pain-nrs", "display": "Pain", "category": "survey", "unit": "score",
   "otherUnits": ["mg"], "direction": "lower-is-better"},
  {"code": "body-weight", "display": "Weight", "category": "vital-signs", "unit": "kg",
   "direction": "neither"}
]})",
       {"error measures.json:3:19: $.measures[0].otherUnits[0]: no conversion from \"mg\" (mg) "
        "to the canonical unit \"score\" ({score}) in units.json"}},
      {"range min above max",
       "measures.json",
       R"({"measures": [
  {"code": "pain-nrs", "display": "Pain", "category": "survey", "unit": "score",
   "range": {"min": 10, "max": 0}, "direction": "lower-is-better"},
  {"code": "body-weight", "display": "Weight", "category": "vital-signs", "unit": "kg",
   "otherUnits": ["lb"], "direction": "neither"}
]})",
       {"error measures.json:3:13: $.measures[0].range: min 10 is greater than max 0"}},
      {"panel component not defined",
       "measures.json",
       R"({"measures": [
  {"code": "pain-nrs", "display": "Pain", "category": "survey", "unit": "score",
   "direction": "lower-is-better", "components": ["pain-now", "pain-nrs"]},
  {"code": "body-weight", "display": "Weight", "category": "vital-signs", "unit": "kg",
   "otherUnits": ["lb"], "direction": "neither"}
]})",
       {"error measures.json:3:51: $.measures[0].components[0]: measure \"pain-now\" is not "
        "defined in measures.json; did you mean \"pain-nrs\"?",
        "error measures.json:3:63: $.measures[0].components[1]: a panel cannot be its own "
        "component"}},
      {"bad LOINC, bad category",
       "measures.json",
       R"({"measures": [
  {"code": "pain-nrs", "display": "Pain", "loinc": {"code": "72514"}, "category": "surveys",
   "unit": "score", "direction": "lower-is-better"},
  {"code": "body-weight", "display": "Weight", "category": "vital-signs", "unit": "kg",
   "otherUnits": ["lb"], "direction": "neither"}
]})",
       {"error measures.json:2:61: $.measures[0].loinc.code: expected a LOINC code such as "
        "12345-6, got \"72514\"",
        "error measures.json:2:83: $.measures[0].category: expected one of \"survey\", "
        "\"activity\", \"exam\", \"vital-signs\", \"laboratory\", \"therapy\", got \"surveys\"; "
        "did you mean \"survey\"?"}},
      {"bad SNOMED CT code",
       "activities.json",
       R"({"activities": [
  {"code": "physical-therapy", "display": "PT", "snomed": {"code": "PT-91251008"},
   "kind": "Service"}
]})",
       {"error activities.json:2:68: $.activities[0].snomed.code: expected a SNOMED CT code "
        "(6-18 digits), got \"PT-91251008\"",
        "error activities.json:3:12: $.activities[0].kind: expected one of \"Appointment\", "
        "\"CommunicationRequest\", \"DeviceRequest\", \"MedicationRequest\", \"NutritionOrder\", "
        "\"Task\", \"ServiceRequest\", \"VisionPrescription\", got \"Service\""}},
      {"bad RxNorm code, MME on a non-opioid",
       "drugs.json",
       R"({"drugs": [
  {"code": "oxycodone", "display": "Oxycodone", "rxnorm": {"code": "RX7804"},
   "classes": ["opioid"], "doseUnits": ["mg"]},
  {"code": "gabapentin", "display": "Gabapentin", "classes": [],
   "mme": {"factor": 1, "unit": "mg"}, "doseUnits": ["mg"]}
]})",
       {"error drugs.json:2:68: $.drugs[0].rxnorm.code: expected an RxNorm code (digits), got "
        "\"RX7804\"",
        "error drugs.json:4:62: $.drugs[1].classes: needs at least 1 item",
        "error drugs.json:5:11: $.drugs[1].mme: only drugs of class \"opioid\" have an MME "
        "factor"}},
      {"conversion to an undefined unit, wrong type",
       "units.json",
       R"({"units": [
  {"name": "score", "ucum": "{score}", "display": "score"},
  {"name": "mg", "ucum": "mg", "display": "mg"},
  {"name": "kg", "ucum": "kg", "display": "kg"},
  {"name": "lb", "ucum": "[lb_av]", "display": "lb"}
],
"conversions": [
  {"from": "[lb_av]", "to": "kg", "factor": 0.45359237},
  {"from": "h", "to": "min", "factor": "60"}
]})",
       {"error units.json:9:40: $.conversions[1].factor: expected a number, got string \"60\""}},
      {"namespace not absolute",
       "manifest.json",
       R"({"version": "t1", "namespaces": {
  "record": "pc/sid/record", "mrn": "https://pc.example.org/sid/mrn",
  "measure": "https://pc.example.org/cs/measure", "activity": "https://pc.example.org/cs/activity",
  "drug": "https://pc.example.org/cs/drug", "drugClass": "https://pc.example.org/cs/drug-class",
  "extensionBase": "https://pc.example.org/sd", "source": "https://pc.example.org/chart"}})",
       {"error manifest.json:2:13: $.namespaces.record: expected an absolute URI (https://..., "
        "http://... or urn:...), got \"pc/sid/record\"",
        "error manifest.json:5:20: $.namespaces.extensionBase: expected an absolute URI "
        "(https://..., http://... or urn:...) ending with '/', got \"https://pc.example.org/sd\""}},
      {"missing file",
       "practices.json",
       nullptr,
       {"error practices.json: file is missing (the mapping tables need all of: manifest.json, "
        "units.json, measures.json, activities.json, drugs.json, drug-classes.json, "
        "practices.json)"}},
      {"unexpected file",
       "measure.json",
       "{}",
       {"error measure.json: unexpected file; the mapping tables are manifest.json, units.json, "
        "measures.json, activities.json, drugs.json, drug-classes.json, practices.json"}},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      auto files = minimalTables();
      if (c.text) {
        files[c.file] = c.text;
      } else {
        files.erase(c.file);
      }
      TablesLoad load = loadWith(files);
      CHECK(rendered(load) == c.expected);
      CHECK_FALSE(load.tables.has_value());
    }
  }
}

TEST_CASE("an opioid without an MME factor is a warning, not an error", "[mappings][tables]") {
  auto files = minimalTables();
  files["drugs.json"] = R"({"drugs": [
  {"code": "oxycodone", "display": "Oxycodone", "classes": ["opioid"], "doseUnits": ["mg"]}
]})";
  TablesLoad load = loadWith(files);
  REQUIRE(load.issues.size() == 1);
  CHECK(load.issues[0].severity == Severity::kWarning);
  CHECK(load.issues[0].path == "drugs.json:2:3");
  CHECK(load.tables.has_value());
}
