#pragma once

// Issue: one data problem found while reading or validating, with where it is.
//
// Validation collects every issue instead of stopping at the first; the gateway
// renders them as an OperationOutcome (see fhir/operation_outcome.h). Paths are
// JSON paths for plan records (`$.goals[1].target.value`) and FHIRPath-style
// locations for FHIR (`Observation.component[0].valueQuantity`).

#include <string>
#include <vector>

namespace inloop::fhir {

// FHIR issue-severity.
enum class Severity { kFatal, kError, kWarning, kInformation };

struct Issue {
  Severity severity = Severity::kError;
  // FHIR issue-type code: "structure", "required", "value", "invariant",
  // "code-invalid", "not-supported", "too-long", "business-rule", "duplicate"...
  std::string code;
  std::string path;
  std::string message;
};

using Issues = std::vector<Issue>;

// "fatal", "error", "warning", "information".
const char* severityName(Severity severity);

// True if any issue is an error or fatal.
bool hasErrors(const Issues& issues);

// Appends an error issue; returns false so callers can `return addError(...)`.
bool addError(Issues* issues, std::string code, std::string path, std::string message);
void addWarning(Issues* issues, std::string code, std::string path, std::string message);

// "severity path: message", one per line, for command-line output.
std::string formatIssues(const Issues& issues);

}  // namespace inloop::fhir
