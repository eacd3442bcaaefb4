#pragma once

// OperationOutcome rendering of collected issues (FHIR R4).
//
// Each Issue becomes one OperationOutcome.issue with severity, code (the FHIR
// issue-type; "processing" when empty), diagnostics (the message), and
// expression and location (the path; both, because R4 receivers still read
// the deprecated `location`). An empty list renders as one "information" issue
// with code "informational", so the outcome is never empty (issue is 1..*).
// The outcome carries a generated narrative summary (counts only, never
// element values) so that it passes dom-6 itself.
//
// Pure function; thread-safe.

#include "fhir/issue.h"
#include "fhir/json.h"

namespace inloop::fhir {

Json operationOutcome(const Issues& issues);

}  // namespace inloop::fhir
