#pragma once

// The safety loop as people see it (docs/safety-loop.md): the notices of a
// record for `GET /records/{id}`, and the patient summary of
// `GET /patients/{mrn}/summary` and `inloop summary MRN` (current medication
// list at the pain center with doses and total daily MME, the latest plan,
// the latest measures against the plan's goal targets, the notices sent), as
// JSON and as an HTML page.
//
// Reads only (Store reader connections); failures are values, nothing throws.
// Thread safety: the functions keep no state; concurrent calls are safe when
// the Store is (every Store is).

#include <string>
#include <vector>

#include "fhir/json.h"
#include "fhir/status.h"
#include "gateway/store/store.h"

namespace inloop::mappings {
struct MappingTables;
}

namespace inloop::gateway {

// [{"recordId", "version", "rule", "priority", "date", "text", "identifier",
//   "createdAt"}], in the given order.
fhir::Json noticesToJson(const std::vector<StoredNotice>& notices);

// How many notices the summary shows (newest first).
inline constexpr int kSummaryNoticeLimit = 50;

// The summary of the patient with pain-center MRN `mrn` (the store's patient
// key). kNotFound when the store has no record of that patient; a stored list
// or record that cannot be read is left out with a "problems" entry, never
// fails the whole summary. Store failures are passed on.
fhir::Result<fhir::Json> buildPatientSummary(Store& store, const mappings::MappingTables& tables,
                                             const std::string& mrn);

// The summary as a self-contained HTML page; every text from the summary is
// escaped with mappings::escapeXhtml (the narrative's escaper).
std::string patientSummaryHtml(const fhir::Json& summary);

}  // namespace inloop::gateway
