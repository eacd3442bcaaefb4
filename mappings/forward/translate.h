#pragma once

// Forward translation: one plan record -> one FHIR R4 transaction Bundle.
//
// - measurement       -> Observation
// - care-plan         -> CarePlan + one Goal per goal
// - medication-change -> MedicationStatement or MedicationRequest (options)
// Every Bundle starts with the Patient (conditional create), then the pain
// center's Organization (conditional update by NPI; only with tables.contact),
// and ends with a Provenance (conditional update on a per-record-version tag);
// the clinical resources are conditional updates on their business identifier. Identifier
// systems, extension URLs and code maps come from mappings/conventions.h;
// docs/mapping.md describes every field for primary-care IT.
//
// Codes the tables do not know (measure, component measure, unit, activity
// type, drug, a dose unit the drug does not allow), units that cannot be
// converted to the measure's unit and values outside the measure's range are
// ERRORS with the record's JSON path (`$.goals[0].target.unit`); a result with
// errors has no Bundle. Output is deterministic (byte-stable for the same
// record, tables and options): fullUrls are name-based UUIDs, never random.
//
// Pure: no I/O, no clock, no globals, nothing thrown; everything from outside
// is an argument. Thread-safe for concurrent calls on const arguments.

#include <optional>
#include <string>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "mappings/record/plan_record.h"
#include "mappings/tables/tables.h"

namespace inloop::mappings {

enum class MedicationAs {
  kStatement,  // MedicationStatement (the default)
  kRequest,    // MedicationRequest, intent "plan", reportedBoolean true (US Core receivers)
};

struct TranslateOptions {
  MedicationAs medicationAs = MedicationAs::kStatement;
};

struct TranslationResult {
  // The transaction Bundle; nullopt when `issues` has errors.
  std::optional<fhir::Json> bundle;
  // Errors (nothing produced) and warnings, with the record's JSON paths.
  fhir::Issues issues;
};

// Translates a record read by readPlanRecord. Collects every issue.
TranslationResult translateRecord(const PlanRecord& record, const MappingTables& tables,
                                  const TranslateOptions& options = {});

struct TranslatedJson {
  // Compact JSON of the Bundle; empty when `issues` has errors.
  std::string bundleJson;
  fhir::Issues issues;
};

// A translation in the making: the Bundle as a tree, to which the safety
// rules may still add notices (mappings/safety appendNoticeEntries), without
// the pain center's Organization entry: that one is the tables' own, validated
// when they were loaded, and finishBundle() writes it into its place.
struct BundleDraft {
  std::optional<fhir::Json> bundle;  // nullopt when `issues` has errors
  fhir::Issues issues;
  bool organizationLeftOut = false;  // the tables' Organization entry belongs at...
  std::size_t organizationAt = 0;    // ...this index of "entry"
};

// Translates a record read by readPlanRecord into a draft (not validated yet).
BundleDraft draftBundle(const PlanRecord& record, const MappingTables& tables,
                        const TranslateOptions& options = {});

// Validates the draft's Bundle once with fhir::validateResource and writes it
// compactly, the Organization entry in its place. A validation error is an
// internal bug: reported as an error (code "exception", "internal error: the
// translated Bundle is invalid FHIR (...)") with the FHIR path, and no Bundle.
TranslatedJson finishBundle(BundleDraft draft, const MappingTables& tables);

// The hot path, shared by the ingest pipeline's steps, the CLI and the
// benchmark: parses `recordJson` (fhir::parseJson with kRecordJsonLimits),
// reads it (readPlanRecord), then draftBundle() and finishBundle(). Parse and
// record errors carry `$.`-paths.
TranslatedJson translateRecordJson(std::string_view recordJson, const MappingTables& tables,
                                   const TranslateOptions& options = {});

// Limits for record documents (a record is small; a 1 MiB one is an attack).
inline constexpr fhir::JsonLimits kRecordJsonLimits{
    .maxBytes = 1u << 20,
    .maxDepth = 16,
    .maxStringBytes = 64u << 10,
    .maxElements = 20000,
    .maxNumberChars = 40,
    .allowComments = false,
};

// ---- Building blocks, public for tests and for the reverse direction ----

// RFC 4122 version-5 (SHA-1, name-based) UUID of `name` in the URL namespace,
// lower-case ("2ed6657d-e927-568b-95e1-2665a8aea6a2"). The translator's
// fullUrls are "urn:uuid:" + nameBasedUuid(Type + "?identifier=" + system + "|" + value).
std::string nameBasedUuid(std::string_view name);

// The search token `system|value` for a query string: in `value`, FHIR search
// escapes (`\`, `|`, `,`, `$` get a backslash), then both parts percent-encoded
// (everything but A-Z a-z 0-9 - . _ ~ : / @), joined by "%7C".
// tokenQuery("http://x.org/sid", "A|1") == "http://x.org/sid%7CA%5C%7C1".
std::string tokenQuery(std::string_view system, std::string_view value);

}  // namespace inloop::mappings
