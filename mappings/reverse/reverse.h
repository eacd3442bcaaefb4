#pragma once

// Reverse translation: FHIR R4 -> the pain center's plan records, so the pain
// center's pharmacist sees what primary care changed, and so the forward
// translation (mappings/forward/translate.h) can be proven lossless by a round trip.
//
// Input: one Observation, MedicationStatement or MedicationRequest, or a Bundle
// of any type (transaction, batch, collection, searchset, or the forward
// translator's own output) that may carry the Patient, a Provenance and a
// CarePlan with its Goals. Codes go back through the SAME mapping tables the
// forward direction uses (LOINC or local measure code -> measure, UCUM -> the
// measure's canonical clinic unit, RxNorm or local drug code -> drug code).
// docs/reverse-mapping.md describes every rule; the main ones:
//
// - Each clinical resource becomes one record, built in the wire format and
//   then read with readPlanRecord, so every record returned is valid.
// - A resource whose code is not in the tables (an unknown LOINC code, an
//   unknown drug) or whose status has no record equivalent is skipped with a
//   WARNING that carries its code, text and value, so nothing is lost silently.
// - A resource missing what every record needs (patient MRN, name, birth date,
//   an author, a time) gives ERRORS naming the FHIR path that lacked it, and no
//   record. Other resources of the same input are still translated.
// - Paths are FHIRPath-style from the input's root:
//   `Bundle.entry[1].resource.valueQuantity.code`, `Observation.subject`.
//
// Pure: no I/O, no clock, no globals, nothing thrown. Thread-safe for
// concurrent calls on const arguments.

#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "mappings/record/plan_record.h"
#include "mappings/tables/tables.h"

namespace inloop::mappings {

struct ReverseOptions {
  // The primary-care practice the input came from (its receiver id): becomes
  // every record's pcp.practiceId and selects the practice's patient-id system.
  std::string practiceId;
  // Patients the gateway already knows (from its store), for inputs that name
  // the patient only by `subject.identifier` (a lone resource): matched by MRN
  // (pain center MRN system) or by pcpPatientId (the practice's patient system).
  std::vector<Patient> knownPatients;
};

struct ReverseResult {
  // One record per translated resource, in input order (a care plan's Goals
  // are part of its care-plan record).
  std::vector<PlanRecord> records;
  // Everything noticed: errors (a resource gave no record), warnings (a
  // resource was skipped or a detail could not be carried), with FHIR paths.
  fhir::Issues issues;
};

// Translates `input` (see above). Never fails as a whole: problems are issues.
ReverseResult translateToRecords(const fhir::Json& input, const MappingTables& tables,
                                 const ReverseOptions& options);

// Reverse lookups over the tables; nullptr / empty when nothing matches.

// The measure whose coding (LOINC or local measure code) is system|code.
const Measure* findMeasureByCoding(const MappingTables& tables, std::string_view system,
                                   std::string_view code);
// Every drug whose local coding or RxNorm coding is system|code, in table
// order (one RxNorm ingredient may stand for several clinic drug codes, e.g.
// an immediate and an extended-release form).
std::vector<const Drug*> findDrugsByCoding(const MappingTables& tables, std::string_view system,
                                           std::string_view code);
// The clinic's name for a UCUM unit: the first of `preferred` (Unit names)
// whose UCUM code is `ucum`, else the first unit of the tables with that code.
const Unit* findUnitForUcum(const MappingTables& tables, std::string_view ucum,
                            const std::vector<std::string>& preferred = {});

}  // namespace inloop::mappings
