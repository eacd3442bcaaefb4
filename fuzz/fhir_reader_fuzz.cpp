// libFuzzer target: the FHIR side, what a receiver's or a client's FHIR JSON
// goes through. parseJson (Bundle limits) -> fhir::validateResource ->
// mappings::translateToRecords (reverse translation, shipped tables loaded
// once). Properties:
//  - the validator's report is bounded (maxIssues + one "too-costly");
//  - writeJson output re-reads as the same JSON (parse(write(j)) == j);
//  - reverse translation never reports an internal error ("exception");
//  - every record it returns is valid: readPlanRecord(writePlanRecord(r)) == r
//    with no error, and translating it forward gives a Bundle (no error).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "fuzz/fuzz_support.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/reverse/reverse.h"

namespace {

namespace fhir = inloop::fhir;
namespace mappings = inloop::mappings;
using inloop::fuzz::fail;

fhir::JsonLimits limits() {
  fhir::JsonLimits l;
  l.maxBytes = 256u << 10;
  l.maxDepth = 32;
  l.maxElements = 16384;
  return l;
}

void checkValidator(const fhir::Json& json) {
  fhir::ValidationOptions options;
  options.maxIssues = 50;
  const fhir::Issues issues = fhir::validateResource(json, options);
  if (issues.size() > options.maxIssues + 1) fail("validator report exceeds maxIssues");
}

void checkRecord(const mappings::PlanRecord& record) {
  const fhir::Json written = mappings::writePlanRecord(record);
  const mappings::ReadResult reread = mappings::readPlanRecord(written);
  if (!reread.record || !(*reread.record == record)) {
    fail("reverse translation returned a record that does not re-read:\n" +
             fhir::writeJson(written, fhir::JsonStyle::kPretty),
         reread.issues);
  }
  const mappings::TranslationResult forward =
      mappings::translateRecord(record, inloop::fuzz::shippedTables(), {});
  if (!forward.bundle) {
    fail("a reverse-translated record does not translate forward:\n" +
             fhir::writeJson(written, fhir::JsonStyle::kPretty),
         forward.issues);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)inloop::fuzz::shippedTables();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = fhir::parseJson(text, limits());
  if (!doc.isOk()) return 0;
  const fhir::Json& json = doc.value();

  checkValidator(json);
  const std::string written = fhir::writeJson(json);
  auto reread = fhir::parseJson(written, limits());
  if (!reread.isOk() || !(reread.value() == json)) fail("writeJson output does not re-read");

  mappings::ReverseOptions options;
  options.practiceId = "riverside-family-medicine";
  const mappings::ReverseResult result =
      mappings::translateToRecords(json, inloop::fuzz::shippedTables(), options);
  for (const fhir::Issue& issue : result.issues) {
    if (issue.code == "exception") fail("translateToRecords: internal error", result.issues);
  }
  for (const mappings::PlanRecord& record : result.records) checkRecord(record);
  return 0;
}
