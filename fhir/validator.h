#pragma once

// FHIR R4 (4.0.1) validation of a JSON resource, on the `Json` value itself so
// that it checks exactly the bytes a receiver gets.
//
// Supported resource types: CarePlan, Goal, Observation, MedicationStatement,
// MedicationRequest, Communication, Provenance, OperationOutcome, Patient and
// Bundle (every entry resource validated recursively), with the data types they
// use. Checked, all issues collected (never stopping at the first):
//  - structure: JSON type of each element, unknown elements, arrays vs single
//    values, null, empty objects/arrays/strings (ele-1), choice types (exactly
//    one variant of `value[x]` etc.), cardinality (min/max);
//  - primitive lexical forms (id, date, dateTime, instant, time, decimal,
//    integer/positiveInt/unsignedInt, uri/url/canonical, code, string,
//    markdown, base64Binary, xhtml);
//  - required value-set bindings (status, intent, Bundle.type, ...);
//  - invariants, each named in the message: obs-6, obs-7, qty-3, sqty-1, cpl-3,
//    gol-1, ref-1, per-1, rng-2, rat-1, att-1, cpt-2, ext-1, obs-3, pat-1,
//    tim-1/2/4..8, dom-2, dom-4, dom-5, bdl-1..5, bdl-7..10, ele-1, txt-2 and
//    the active-content part of txt-1 (checked on the markup only: element
//    names, attribute names and values; text between tags is content, so
//    escaped words such as "javascript:" or "onclick=" are fine); dom-6
//    (missing narrative) as a warning.
//    Judgement calls (where third-party validators may differ) are commented in
//    validator.cpp: obs-7 compares Codings on system+code, per-1 compares
//    mixed-precision dates on their common prefix, ref-1 resolves `#id`
//    against `contained` of the enclosing resource.
//  - types the tables do not model (SampledData, ContactDetail, ...) in a
//    choice element: a "not-supported" warning, content unchecked.
//
// Paths are FHIRPath-style with the JSON element names
// (`Observation.component[0].valueQuantity.code`, `Bundle.entry[2].resource.status`).
// Issue codes are FHIR issue-type codes: "structure", "required", "value",
// "code-invalid", "invariant", "not-supported", "too-costly".
//
// Pure function: no I/O, no globals; thread-safe.

#include <cstddef>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"

namespace inloop::fhir {

struct ValidationOptions {
  // Report dom-6 (no text.div) as a warning. R4 gives dom-6 severity
  // "warning" (a best-practice guideline), so it never makes a resource invalid.
  bool warnMissingNarrative = true;
  // After this many issues one "too-costly" error is added and the rest dropped,
  // so that a hostile document cannot produce an unbounded report.
  std::size_t maxIssues = 1000;
};

// Validates `resource` (a resource object with `resourceType`). Returns every
// issue found; no error-or-fatal issue (see hasErrors) means valid. A missing or
// unsupported resourceType is one error ("required" / "not-supported").
Issues validateResource(const Json& resource, const ValidationOptions& options = {});

// True for the resource types validateResource supports.
bool isSupportedResourceType(std::string_view resourceType);

}  // namespace inloop::fhir
