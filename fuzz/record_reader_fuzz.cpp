// libFuzzer target: the record path a client's bytes take. parseJson (record
// limits) -> mappings::readPlanRecord -> translateRecord with the shipped
// mapping tables (loaded once) -> fhir::validateResource on the Bundle.
// Properties:
//  - readPlanRecord returns a record exactly when it reports no error;
//  - readPlanRecord(writePlanRecord(r)) == r;
//  - a Bundle the translator produces passes the validator (MedicationStatement
//    and MedicationRequest forms): a translation the validator rejects is a bug;
//  - translateRecordJson (the hot path) never reports an internal error
//    ("exception") and gives a Bundle exactly when it reports no error.

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

namespace {

using inloop::fhir::hasErrors;
using inloop::fuzz::fail;
namespace mappings = inloop::mappings;

void checkTranslation(const mappings::PlanRecord& record, mappings::MedicationAs as) {
  const mappings::TranslationResult result =
      mappings::translateRecord(record, inloop::fuzz::shippedTables(), {.medicationAs = as});
  if (result.bundle.has_value() == hasErrors(result.issues)) {
    fail("translateRecord: Bundle presence disagrees with its errors", result.issues);
  }
  if (!result.bundle) return;
  const inloop::fhir::Issues issues = inloop::fhir::validateResource(*result.bundle);
  if (hasErrors(issues)) {
    fail("translateRecord produced a Bundle the validator rejects:\n" +
             inloop::fhir::writeJson(*result.bundle, inloop::fhir::JsonStyle::kPretty),
         issues);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)inloop::fuzz::shippedTables();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  for (mappings::MedicationAs as :
       {mappings::MedicationAs::kStatement, mappings::MedicationAs::kRequest}) {
    const mappings::TranslatedJson hot =
        mappings::translateRecordJson(text, inloop::fuzz::shippedTables(), {.medicationAs = as});
    for (const inloop::fhir::Issue& issue : hot.issues) {
      if (issue.code == "exception") fail("translateRecordJson: internal error", hot.issues);
    }
    if (hot.bundleJson.empty() != hasErrors(hot.issues)) {
      fail("translateRecordJson: Bundle presence disagrees with its errors", hot.issues);
    }
  }

  auto doc = inloop::fhir::parseJson(text, mappings::kRecordJsonLimits);
  if (!doc.isOk()) return 0;

  const mappings::ReadResult read = mappings::readPlanRecord(doc.value());
  if (read.record.has_value() == hasErrors(read.issues)) {
    fail("readPlanRecord: record presence disagrees with its errors", read.issues);
  }
  if (!read.record) return 0;

  const inloop::fhir::Json written = mappings::writePlanRecord(*read.record);
  const mappings::ReadResult reread = mappings::readPlanRecord(written);
  if (!reread.record || !(*reread.record == *read.record)) {
    fail("readPlanRecord(writePlanRecord(r)) != r:\n" +
             inloop::fhir::writeJson(written, inloop::fhir::JsonStyle::kPretty),
         reread.issues);
  }

  checkTranslation(*read.record, mappings::MedicationAs::kStatement);
  checkTranslation(*read.record, mappings::MedicationAs::kRequest);
  return 0;
}
