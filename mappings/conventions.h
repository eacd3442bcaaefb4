#pragma once

// The pain center's FHIR conventions in one place: extension URLs, identifier
// systems, local code systems and the code maps between record values and FHIR
// codes. The forward translator (mappings/forward/translate.h) writes exactly these and
// the reverse translator (mappings/reverse/reverse.h) reads exactly these, so a change
// here changes both directions. docs/mapping.md documents every item for
// primary-care IT.
//
// Stability: receivers store these URIs. Items are only ever ADDED; an existing
// name, URL suffix or code map entry never changes meaning.
//
// URIs are built from the tables' manifest namespaces (config, not code):
// - extension URL     = namespaces.extensionBase + kExt... name
// - local code system = <parent of namespaces.measure> + "/" + kCs... name
//                       ("https://paincenter.example.org/fhir/CodeSystem/program-kind")
// - PCP patient ids   = <parent of namespaces.record> + "/pcp-patient/" + practiceId
//                       ("https://paincenter.example.org/fhir/sid/pcp-patient/fm-1")
//
// Header-only, pure, thread-safe.

#include <string>
#include <string_view>

#include "mappings/tables/tables.h"

namespace inloop::mappings {

// ---- Standard systems (besides kLoincSystem, kUcumSystem, kSnomedSystem and
// kRxNormSystem in mappings/tables/tables.h) ----

inline constexpr std::string_view kNpiSystem = "http://hl7.org/fhir/sid/us-npi";
inline constexpr std::string_view kIcd10CmSystem = "http://hl7.org/fhir/sid/icd-10-cm";
inline constexpr std::string_view kObservationCategorySystem =
    "http://terminology.hl7.org/CodeSystem/observation-category";
inline constexpr std::string_view kDataAbsentReasonSystem =
    "http://terminology.hl7.org/CodeSystem/data-absent-reason";
inline constexpr std::string_view kGoalAchievementSystem =
    "http://terminology.hl7.org/CodeSystem/goal-achievement";
inline constexpr std::string_view kUsCoreCarePlanCategorySystem =
    "http://hl7.org/fhir/us/core/CodeSystem/careplan-category";
inline constexpr std::string_view kUsCoreCarePlanCategoryCode = "assess-plan";
inline constexpr std::string_view kProvenanceParticipantTypeSystem =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
// Provenance.agent.type codes.
inline constexpr std::string_view kProvenanceAuthor = "author";
inline constexpr std::string_view kProvenanceAssembler = "assembler";
// Provenance.agent[assembler].who.display.
inline constexpr std::string_view kGatewayDisplay = "inloop FHIR gateway";

// ---- Extensions: URL = namespaces.extensionBase + name ----

// On every resource: the record's `version` (valuePositiveInt).
inline constexpr std::string_view kExtRecordVersion = "record-version";
// On Observation: the Goal this measurement tracks (valueReference with type
// "Goal" and identifier {namespaces.record, planId + "/" + goalId}; planId is
// empty when the record has none, then the value is "/" + goalId).
inline constexpr std::string_view kExtGoal = "goal";
// On CarePlan: program.nextReassessment (valueDate).
inline constexpr std::string_view kExtNextReassessment = "next-reassessment";
// On CarePlan.addresses / Goal.addresses (a Reference with display only): the
// condition's ICD-10-CM code (valueCodeableConcept, system kIcd10CmSystem).
inline constexpr std::string_view kExtConditionCode = "condition-code";
// On CarePlan.contributor references (and CarePlan.author when it is the lead,
// without a configured contact): the care-team role
// (valueCode, the record's role: "physician", "nurse", ...).
inline constexpr std::string_view kExtCareTeamRole = "care-team-role";
// On CarePlan.contributor: true for the team's lead (valueBoolean).
inline constexpr std::string_view kExtCareTeamLead = "care-team-lead";
// On CarePlan.activity: the record's activityId (valueString).
inline constexpr std::string_view kExtActivityId = "activity-id";
// On the pain center's Organization.telecom (system email): valueBoolean true
// marks the Direct address (secure messaging between EHRs).
inline constexpr std::string_view kExtDirectAddress = "direct-address";
// The organization-type code of the pain center's Organization.
inline constexpr std::string_view kOrganizationTypeSystem =
    "http://terminology.hl7.org/CodeSystem/organization-type";
// On Goal: the baseline. Complex extension with sub-extensions (url = the bare
// name): "value" (valueQuantity, converted to the measure's unit as the target
// is) and "date" (valueDate); either may be missing.
inline constexpr std::string_view kExtGoalBaseline = "goal-baseline";
inline constexpr std::string_view kExtGoalBaselineValue = "value";
inline constexpr std::string_view kExtGoalBaselineDate = "date";
// On MedicationStatement / MedicationRequest: the record's action (valueCode:
// start, dose-change, taper-step, stop, continue, entered-in-error).
inline constexpr std::string_view kExtMedicationAction = "medication-action";
// On Dosage (dosage[0] / dosageInstruction[0]): previousDose (valueQuantity, UCUM).
inline constexpr std::string_view kExtPreviousDose = "previous-dose";
// On MedicationStatement / MedicationRequest: dailyMme after the change
// (valueQuantity, value as in the record, unit "mg/d" morphine equivalents,
// system UCUM, code "mg/d").
inline constexpr std::string_view kExtDailyMme = "daily-mme";
// On MedicationStatement / MedicationRequest: the taper. Complex extension with
// sub-extensions "step" (valuePositiveInt), "of" (valuePositiveInt),
// "targetDailyMme" (valueQuantity mg/d, as kExtDailyMme), "nextStepOn" (valueDate).
inline constexpr std::string_view kExtTaper = "taper";
inline constexpr std::string_view kExtTaperStep = "step";
inline constexpr std::string_view kExtTaperOf = "of";
inline constexpr std::string_view kExtTaperTargetDailyMme = "targetDailyMme";
inline constexpr std::string_view kExtTaperNextStepOn = "nextStepOn";
// On MedicationStatement / MedicationRequest: the record's `route` when it
// is carried as text only (valueCode: oral, transdermal, ...), so the reverse
// does not have to parse Dosage.route.text.
inline constexpr std::string_view kExtRoute = "route";
// Reserved, not emitted: medicationCodeableConcept.text carries medication.display
// (else the table's display), so the reverse reads the display from there.
inline constexpr std::string_view kExtMedicationDisplay = "medication-display";

// UCUM code of daily MME quantities.
inline constexpr std::string_view kMmeUcum = "mg/d";
inline constexpr std::string_view kMmeUnitDisplay = "mg/d morphine equivalent";

// ---- Local code systems: <parent of namespaces.measure> + "/" + name ----

// CarePlan.category (second coding): program.kind (bundled-program, a-la-carte).
inline constexpr std::string_view kCsProgramKind = "program-kind";
// Observation.method: measurement method (clinic, patient-reported, remote-monitoring).
inline constexpr std::string_view kCsMeasurementMethod = "measurement-method";
// Provenance.meta.tag: one code per record version, "<recordId>/<version>".
inline constexpr std::string_view kCsRecordVersion = "record-version";

// ---- Code maps (record value <-> FHIR code); each is a bijection unless noted ----

struct CodePair {
  std::string_view record;
  std::string_view fhir;
};

// measurement.absent <-> Observation.dataAbsentReason.coding[0].code.
// "unable" has no own code in data-absent-reason: it is sent as "as-text" with
// dataAbsentReason.text kUnableText.
inline constexpr CodePair kAbsentReasons[] = {
    {"not-performed", "not-performed"},
    {"patient-declined", "asked-declined"},
    {"unable", "as-text"},
};
inline constexpr std::string_view kUnableText = "Patient unable to perform the measurement";

// care-plan program.status <-> CarePlan.status (request-status).
inline constexpr CodePair kCarePlanStatuses[] = {
    {"draft", "draft"},         {"active", "active"},     {"on-hold", "on-hold"},
    {"completed", "completed"}, {"cancelled", "revoked"}, {"entered-in-error", "entered-in-error"},
};

// medication-change action -> MedicationStatement.status (NOT a bijection: the
// action itself travels in kExtMedicationAction).
inline constexpr CodePair kMedicationStatementStatuses[] = {
    {"start", "active"},    {"dose-change", "active"}, {"taper-step", "active"},
    {"continue", "active"}, {"stop", "stopped"},       {"entered-in-error", "entered-in-error"},
};
// medication-change action -> MedicationRequest.status (NOT a bijection).
inline constexpr CodePair kMedicationRequestStatuses[] = {
    {"start", "active"},    {"dose-change", "active"}, {"taper-step", "active"},
    {"continue", "active"}, {"stop", "stopped"},       {"entered-in-error", "entered-in-error"},
};

// activity.status <-> CarePlan.activity.detail.status (same codes in R4).
// goal.status <-> Goal.lifecycleStatus (same codes), goal.achievement <->
// Goal.achievementStatus (same codes). Measurement status: same codes.

// The FHIR code for `record` in `map`; empty when unknown.
template <std::size_t N>
constexpr std::string_view toFhirCode(const CodePair (&map)[N], std::string_view record) {
  for (const CodePair& p : map) {
    if (p.record == record) return p.fhir;
  }
  return {};
}
// The record value for `fhir` in `map` (the first match); empty when unknown.
template <std::size_t N>
constexpr std::string_view toRecordCode(const CodePair (&map)[N], std::string_view fhir) {
  for (const CodePair& p : map) {
    if (p.fhir == fhir) return p.record;
  }
  return {};
}

// ---- Logical id prefixes (mappings/forward/logical_id.h) ----

inline constexpr std::string_view kIdPrefixPatient = "pat";
inline constexpr std::string_view kIdPrefixCarePlan = "cp";
inline constexpr std::string_view kIdPrefixGoal = "goal";
inline constexpr std::string_view kIdPrefixObservation = "obs";
inline constexpr std::string_view kIdPrefixMedicationStatement = "ms";
inline constexpr std::string_view kIdPrefixMedicationRequest = "mr";
inline constexpr std::string_view kIdPrefixProvenance = "prov";

// ---- Helpers ----

namespace conventions_detail {
// `uri` up to (not including) its last '/'; `uri` itself when it has none.
inline std::string_view parentOf(std::string_view uri) {
  std::size_t slash = uri.rfind('/');
  return slash == std::string_view::npos ? uri : uri.substr(0, slash);
}
// Percent-encodes everything but RFC 3986 unreserved characters.
inline std::string pathSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}
}  // namespace conventions_detail

// namespaces.extensionBase + name.
inline std::string extensionUrl(const Namespaces& ns, std::string_view name) {
  std::string url = ns.extensionBase;
  url += name;
  return url;
}

// The local code system `name` (kCs...).
inline std::string localCodeSystem(const Namespaces& ns, std::string_view name) {
  std::string url(conventions_detail::parentOf(ns.measure));
  url += '/';
  url += name;
  return url;
}

// Identifier.system of a practice's own patient ids (record patient.pcpPatientId).
// practiceId is percent-encoded as a path segment.
inline std::string pcpPatientIdSystem(const Namespaces& ns, std::string_view practiceId) {
  std::string url(conventions_detail::parentOf(ns.record));
  url += "/pcp-patient/";
  url += conventions_detail::pathSegment(practiceId);
  return url;
}

// Provenance.policy: names the mapping tables edition used.
inline std::string mappingTablesPolicy(const Namespaces& ns, std::string_view version) {
  std::string url = ns.source;
  url += "/mapping-tables/";
  url += conventions_detail::pathSegment(version);
  return url;
}

// Business identifier value of a goal: recordId + "/" + goalId (activities: the
// activity id travels in kExtActivityId, activities have no resource of their own).
inline std::string goalIdentifierValue(std::string_view recordId, std::string_view goalId) {
  std::string v(recordId);
  v += '/';
  v += goalId;
  return v;
}

// Provenance meta.tag code: recordId + "/" + version.
inline std::string recordVersionTag(std::string_view recordId, long long version) {
  std::string v(recordId);
  v += '/';
  v += std::to_string(version);
  return v;
}

}  // namespace inloop::mappings
