// Inputs found by the libFuzzer targets (fuzz/, scripts/fuzz), kept as
// regression tests with the input inline. Each one once produced a Bundle the
// validator rejected (translateRecordJson reported an internal error).

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/translate.h"
#include "tests/support/mapping_fixtures.h"

namespace inloop::mappings {
namespace {

struct FuzzCase {
  std::string_view name;
  std::string_view record;
  // Text that must not appear in the Bundle (the empty element that broke ele-1).
  std::string_view absent;
};

// The format allows "" for an activity description and a medication reason;
// FHIR forbids empty strings, so the translator must leave the element out.
constexpr FuzzCase kCases[] = {
    {"empty activity description (fuzz: record_reader)",
     R"({"recordType":"care-plan","recordId":"CP-2026-0500","version":2,
"recordedAt":"2026-09-02T08:00:00.250Z","patient":{"mrn":"PC-900001",
"name":{"family":"Testperson","given":["Alex"]},"birthDate":"1970-01-01","sex":"unknown"},
"pcp":{"practiceId":"test-practice"},"author":{"name":"Sam Carter, NP","role":"nurse-practitioner"},
"program":{"name":"Interventional pain care","kind":"a-la-carte","status":"draft","start":"2026-09-02"},
"careTeam":[{"name":"Sam Carter, NP","role":"nurse-practitioner","lead":true}],
"goals":[{"goalId":"pain","description":"Pain at most 4","measure":"pain-nrs",
"target":{"value":4,"unit":"score","comparator":"<="},"status":"proposed"}],
"activities":[{"activityId":"edu","type":"pain-education","description":"","status":"on-hold",
"goals":["pain"]}]})",
     R"("description":"")"},
    {"empty medication reason (fuzz: record_reader)",
     R"({"recordType":"medication-change","recordId":"RX-2026-5521","version":1,
"recordedAt":"2026-10-06T15:40:00-04:00","patient":{"mrn":"PC-448812",
"name":{"family":"Testperson","given":["Alex"]},"birthDate":"1961-04-02","sex":"female"},
"pcp":{"practiceId":"riverside-family-medicine"},"author":{"name":"Dr. Test","role":"physician"},
"action":"start","medication":{"code":"duloxetine","display":""},"dose":{"value":30,"unit":"mg"},
"frequency":{"count":1,"per":"day"},"effective":"2026-10-07","reason":"",
"prescriber":{"name":"Dr. Test","role":"physician"}})",
     R"("text":"")"},
};

TEST_CASE("fuzz regressions: records whose Bundle once failed validation", "[mappings][fuzz]") {
  const MappingTables& tables = testing::shippedTables();
  for (const FuzzCase& c : kCases) {
    for (MedicationAs as : {MedicationAs::kStatement, MedicationAs::kRequest}) {
      INFO(c.name << (as == MedicationAs::kRequest ? " (MedicationRequest)" : ""));
      const TranslatedJson out = translateRecordJson(c.record, tables, {.medicationAs = as});
      INFO(fhir::formatIssues(out.issues));
      REQUIRE_FALSE(fhir::hasErrors(out.issues));
      REQUIRE_FALSE(out.bundleJson.empty());
      CHECK(out.bundleJson.find(c.absent) == std::string::npos);
      const fhir::Json bundle = testing::parseOrFail(out.bundleJson);
      const fhir::Issues issues = fhir::validateResource(bundle);
      INFO(fhir::formatIssues(issues));
      CHECK_FALSE(fhir::hasErrors(issues));
    }
  }
}

}  // namespace
}  // namespace inloop::mappings
