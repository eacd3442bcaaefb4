#include "fhir/model.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using inloop::fhir::AnyResource;
using inloop::fhir::Bundle;
using inloop::fhir::BundleEntry;
using inloop::fhir::CodeableConcept;
using inloop::fhir::Coding;
using inloop::fhir::Decimal;
using inloop::fhir::formatIssues;
using inloop::fhir::Issues;
using inloop::fhir::Json;
using inloop::fhir::JsonStyle;
using inloop::fhir::Observation;
using inloop::fhir::ObservationComponent;
using inloop::fhir::parseAs;
using inloop::fhir::parseJson;
using inloop::fhir::parseResource;
using inloop::fhir::Patient;
using inloop::fhir::Quantity;
using inloop::fhir::RawResource;
using inloop::fhir::Reference;
using inloop::fhir::Severity;
using inloop::fhir::toJson;
using inloop::fhir::writeJson;

namespace {

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Json mustParse(const std::string& text) {
  auto parsed = parseJson(text);
  INFO(text);
  REQUIRE(parsed.isOk());
  return *parsed;
}

std::vector<std::filesystem::path> exampleFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(INLOOP_TEST_DATA_DIR) + "/fhir/examples")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> issuePaths(const Issues& issues) {
  std::vector<std::string> paths;
  for (const auto& issue : issues) paths.push_back(issue.path);
  return paths;
}

}  // namespace

TEST_CASE("model round trip of spec-ordered examples is byte-stable", "[fhir][model]") {
  auto files = exampleFiles();
  REQUIRE(files.size() >= 10);
  for (const auto& file : files) {
    INFO(file.filename().string());
    Json json = mustParse(readFile(file));
    Issues issues;
    auto resource = parseResource(json, &issues);
    REQUIRE(resource.has_value());
    CHECK(formatIssues(issues).empty());
    CHECK(resource->get<RawResource>() == nullptr);
    CHECK(resource->resourceType() == json.find("resourceType")->text());
    CHECK(writeJson(toJson(*resource)) == writeJson(json));
    CHECK(writeJson(toJson(*resource), JsonStyle::kPretty) == writeJson(json, JsonStyle::kPretty));
  }
}

TEST_CASE("model typed parse of the blood pressure panel", "[fhir][model]") {
  Json json = mustParse(readFile(std::string(INLOOP_TEST_DATA_DIR) +
                                 "/fhir/examples/observation-bloodpressure.json"));
  Issues issues;
  auto obs = parseAs<Observation>(json, &issues);
  REQUIRE(obs.has_value());
  CHECK(issues.empty());
  CHECK(obs->status == "final");
  CHECK(obs->id == "blood-pressure");
  CHECK(!obs->valueQuantity.has_value());
  REQUIRE(obs->component.size() == 2);
  CHECK(obs->component[0].code->coding.at(0).code == "8480-6");
  CHECK(obs->component[1].valueQuantity->value->text() == "60");
  CHECK(obs->component[1].valueQuantity->code == "mm[Hg]");
  CHECK(writeJson(toJson(*obs)) == writeJson(json));

  // Value semantics: a copy compares equal, a change makes it differ.
  Observation copy = *obs;
  CHECK(copy == *obs);
  copy.component[0].valueQuantity->value = Decimal::fromInt(108);
  CHECK_FALSE(copy == *obs);
}

TEST_CASE("model parse reports shape problems with exact paths", "[fhir][model]") {
  struct Case {
    const char* name;
    std::string text;
    std::vector<std::string> paths;  // expected issue paths, in order
  };
  const std::vector<Case> cases = {
      {"unknown element",
       R"({"resourceType":"Observation","status":"final","foo":1})",
       {"Observation.foo"}},
      {"unknown nested element",
       R"({"resourceType":"Observation","code":{"coding":[{"code":"x","colour":"red"}]}})",
       {"Observation.code.coding[0].colour"}},
      {"primitive extension",
       R"({"resourceType":"Observation","status":"final","_status":{}})",
       {"Observation._status"}},
      {"object expected",
       R"({"resourceType":"Observation","code":"85354-9"})",
       {"Observation.code"}},
      {"array expected",
       R"({"resourceType":"Observation","category":{"text":"x"}})",
       {"Observation.category"}},
      {"single value expected",
       R"({"resourceType":"Observation","status":["final"]})",
       {"Observation.status"}},
      {"empty array",
       R"({"resourceType":"Observation","performer":[]})",
       {"Observation.performer"}},
      {"decimal as string",
       R"({"resourceType":"Observation","component":[{"valueQuantity":{"value":"5"}}]})",
       {"Observation.component[0].valueQuantity.value"}},
      {"integer with fraction",
       R"({"resourceType":"Observation","valueInteger":1.5})",
       {"Observation.valueInteger"}},
      {"integer as string",
       R"({"resourceType":"Observation","valueInteger":"4"})",
       {"Observation.valueInteger"}},
      {"boolean as string", R"({"resourceType":"Patient","active":"true"})", {"Patient.active"}},
      {"string as number", R"({"resourceType":"Patient","gender":1})", {"Patient.gender"}},
      {"null value", R"({"resourceType":"Patient","gender":null})", {"Patient.gender"}},
      {"two choice types",
       R"({"resourceType":"Observation","valueQuantity":{"value":1},"valueString":"x"})",
       {"Observation.valueString"}},
      {"inside a bundle entry",
       R"({"resourceType":"Bundle","type":"batch","entry":[{"resource":
           {"resourceType":"Goal","lifecycleStatus":true}},{"request":{"verb":"GET"}}]})",
       {"Bundle.entry[0].resource.lifecycleStatus", "Bundle.entry[1].request.verb"}},
      {"wrong resourceType in entry response outcome",
       R"({"resourceType":"Bundle","entry":[{"response":{"outcome":{"resourceType":"Patient"}}}]})",
       {"Bundle.entry[0].response.outcome.resourceType"}},
      {"all problems, not just the first",
       R"({"resourceType":"Observation","status":1,"code":{"text":2},"subject":[],"x":0})",
       {"Observation.status", "Observation.code.text", "Observation.subject", "Observation.x"}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Issues issues;
    auto resource = parseResource(mustParse(c.text), &issues);
    CHECK(resource.has_value());
    CHECK(issuePaths(issues) == c.paths);
    for (const auto& issue : issues) {
      CHECK(issue.severity == Severity::kError);
      CHECK(!issue.message.empty());
    }
  }
}

TEST_CASE("model parse keeps what is well-typed next to what is not", "[fhir][model]") {
  Issues issues;
  auto obs =
      parseAs<Observation>(mustParse(R"({"resourceType":"Observation","status":"final","issued":5,
                    "valueQuantity":{"value":"7","unit":"kg"}})"),
                           &issues);
  REQUIRE(obs.has_value());
  CHECK(issues.size() == 2);
  CHECK(obs->status == "final");
  CHECK(!obs->issued.has_value());
  REQUIRE(obs->valueQuantity.has_value());
  CHECK(!obs->valueQuantity->value.has_value());
  CHECK(obs->valueQuantity->unit == "kg");
}

TEST_CASE("model resourceType handling", "[fhir][model]") {
  SECTION("unknown resourceType is kept raw with a warning") {
    Json json = mustParse(R"({"resourceType":"Encounter","id":"e1","status":"finished"})");
    Issues issues;
    auto resource = parseResource(json, &issues);
    REQUIRE(resource.has_value());
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].severity == Severity::kWarning);
    CHECK(issues[0].code == "not-supported");
    CHECK(issues[0].path == "resourceType");
    REQUIRE(resource->get<RawResource>() != nullptr);
    CHECK(resource->resourceType() == "Encounter");
    CHECK(writeJson(toJson(*resource)) == writeJson(json));
  }
  SECTION("unknown resourceType inside a bundle entry") {
    Json json = mustParse(
        R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Device","id":"d"}}]})");
    Issues issues;
    auto bundle = parseAs<Bundle>(json, &issues);
    REQUIRE(bundle.has_value());
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "Bundle.entry[0].resource.resourceType");
    CHECK(issues[0].severity == Severity::kWarning);
    CHECK(writeJson(toJson(*bundle)) == writeJson(json));
  }
  SECTION("typed parse of another type fails") {
    Issues issues;
    auto obs = parseAs<Observation>(mustParse(R"({"resourceType":"Patient"})"), &issues);
    CHECK(!obs.has_value());
    CHECK(issuePaths(issues) == std::vector<std::string>{"Observation.resourceType"});
  }
  SECTION("missing, non-string resourceType and non-objects fail") {
    const char* texts[] = {R"({"id":"x"})", R"({"resourceType":3})", R"([])", R"("Patient")"};
    for (const char* text : texts) {
      INFO(text);
      Issues issues;
      CHECK(!parseResource(mustParse(text), &issues).has_value());
      CHECK(issues.size() == 1);
      CHECK(inloop::fhir::hasErrors(issues));
    }
  }
  SECTION("custom root path") {
    Issues issues;
    auto r = parseResource(mustParse(R"({"resourceType":"Patient","x":1})"), &issues, "p");
    REQUIRE(r.has_value());
    CHECK(issuePaths(issues) == std::vector<std::string>{"p.x"});
  }
}

TEST_CASE("model decimals keep their text", "[fhir][model]") {
  Json json =
      mustParse(R"({"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"}})");
  Issues issues;
  auto obs = parseAs<Observation>(json, &issues);
  REQUIRE(obs.has_value());
  CHECK(issues.empty());
  CHECK(obs->valueQuantity->value->text() == "1.50");
  CHECK(obs->valueQuantity->value->toDouble() == 1.5);
  CHECK(writeJson(toJson(*obs)) ==
        R"({"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"}})");

  CHECK(Decimal().text() == "0");
  CHECK(Decimal::fromText("1.50")->text() == "1.50");
  CHECK(Decimal::fromText("-0.001e3")->text() == "-0.001e3");
  CHECK(!Decimal::fromText("01.5"));
  CHECK(!Decimal::fromText("1."));
  CHECK(!Decimal::fromText(""));
  CHECK(Decimal::fromDouble(0.1)->text() == "0.1");
  CHECK(Decimal::fromDouble(72.5)->text() == "72.5");
  CHECK(Decimal::fromDouble(1.5, 2)->text() == "1.50");
  CHECK(Decimal::fromDouble(2.0, 0)->text() == "2");
  CHECK(Decimal::fromDouble(0.125, 1)->text() == "0.1");
  CHECK(!Decimal::fromDouble(std::numeric_limits<double>::quiet_NaN()));
  CHECK(!Decimal::fromDouble(std::numeric_limits<double>::infinity(), 2));
  CHECK(!Decimal::fromDouble(1.0, 18));
  CHECK(Decimal::fromInt(-42).text() == "-42");
  CHECK(Decimal::fromInt(-42).toDouble() == -42.0);
}

TEST_CASE("model serialises built values in element order", "[fhir][model]") {
  Observation obs;
  // Assigned in an order unlike the spec's, to show the writer imposes it.
  ObservationComponent systolic;
  systolic.valueQuantity = Quantity{.value = Decimal::fromInt(120),
                                    .unit = "mmHg",
                                    .system = "http://unitsofmeasure.org",
                                    .code = "mm[Hg]"};
  systolic.code =
      CodeableConcept{.coding = {Coding{.system = "http://loinc.org", .code = "8480-6"}}};
  obs.component.push_back(systolic);
  obs.subject = Reference{.reference = "Patient/p1"};
  obs.status = "final";
  obs.id = "bp1";
  obs.effectiveDateTime = "2026-03-01";
  CHECK(writeJson(toJson(obs)) ==
        R"({"resourceType":"Observation","id":"bp1","status":"final",)"
        R"("subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-03-01",)"
        R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},)"
        R"("valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org",)"
        R"("code":"mm[Hg]"}}]})");
  CHECK(writeJson(toJson(Observation{})) == R"({"resourceType":"Observation"})");
  CHECK(writeJson(toJson(Coding{.code = "x"})) == R"({"code":"x"})");
}

TEST_CASE("model bundle entries own their resources by value", "[fhir][model]") {
  Patient patient;
  patient.id = "p1";
  Bundle bundle;
  bundle.type = "transaction";
  bundle.entry.push_back(BundleEntry{.resource = AnyResource{patient}});
  Bundle copy = bundle;
  REQUIRE(copy.entry[0].resource.has_value());
  copy.entry[0].resource->get<Patient>()->id = "p2";
  CHECK(bundle.entry[0].resource->get<Patient>()->id == "p1");
  CHECK_FALSE(copy == bundle);
  CHECK(copy.entry[0].resource->resourceType() == "Patient");
  CHECK(writeJson(toJson(bundle)) ==
        R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)"
        R"({"resourceType":"Patient","id":"p1"}}]})");
}
