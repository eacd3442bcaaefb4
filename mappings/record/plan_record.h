#pragma once

// PlanRecord: the pain center's plan records (export format v1), typed, with a
// validating reader and a wire-format writer.
//
// The format is docs/record-format.md (its JSON Schema: docs/record-format.schema.json).
// readPlanRecord checks FORMAT only: required fields per record type, JSON types,
// string lengths and patterns (recordId, codes, NPI, ICD-10, RxNorm), enum values,
// full dates with calendar validity (patient.birthDate may also be YYYY or
// YYYY-MM), dateTime/instant offsets within +-14:00, unknown fields (everywhere except inside the
// top-level `extensions` object), fields of another record type, list limits and the cross-field
// rules listed at readPlanRecord. It does NOT look codes up in the mapping tables (measure,
// activity type, drug, unit): the translator does that.
//
// Numbers keep the clinic's JSON text (Decimal::text), so the FHIR output and
// the re-emitted record show 1.5 as 1.5 and 4.50 as 4.50.
//
// Pure: no I/O, no clock, no globals, nothing thrown. All types are plain values;
// concurrent calls on distinct or const arguments are safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fhir/decimal.h"
#include "fhir/issue.h"
#include "fhir/json.h"

namespace inloop::mappings {

// ---- Enumerations (wire strings in the comments, in enumerator order) ----

enum class RecordType { kCarePlan, kMeasurement, kMedicationChange };  // care-plan, ...
enum class Sex { kFemale, kMale, kOther, kUnknown };
// physician, nurse-practitioner, physical-therapist, occupational-therapist,
// psychologist, pharmacist, interventionalist, nurse, care-coordinator
enum class ClinicianRole {
  kPhysician,
  kNursePractitioner,
  kPhysicalTherapist,
  kOccupationalTherapist,
  kPsychologist,
  kPharmacist,
  kInterventionalist,
  kNurse,
  kCareCoordinator,
};
enum class ProgramKind { kBundledProgram, kALaCarte };  // bundled-program, a-la-carte
// draft, active, on-hold, completed, cancelled, entered-in-error
enum class ProgramStatus { kDraft, kActive, kOnHold, kCompleted, kCancelled, kEnteredInError };
enum class Comparator { kLess, kLessOrEqual, kGreaterOrEqual, kGreater };  // < <= >= >
// proposed, active, on-hold, completed, cancelled, entered-in-error
enum class GoalStatus { kProposed, kActive, kOnHold, kCompleted, kCancelled, kEnteredInError };
// in-progress, improving, worsening, no-change, achieved, not-achieved
enum class GoalAchievement {
  kInProgress,
  kImproving,
  kWorsening,
  kNoChange,
  kAchieved,
  kNotAchieved,
};
// not-started, scheduled, in-progress, on-hold, completed, cancelled, stopped
enum class ActivityStatus {
  kNotStarted,
  kScheduled,
  kInProgress,
  kOnHold,
  kCompleted,
  kCancelled,
  kStopped,
};
// day, week, month (medication frequencies allow day and week only)
enum class FrequencyPer { kDay, kWeek, kMonth };
enum class AbsentReason { kNotPerformed, kPatientDeclined, kUnable };
// preliminary, final, amended, corrected, entered-in-error
enum class MeasurementStatus { kPreliminary, kFinal, kAmended, kCorrected, kEnteredInError };
enum class MeasurementMethod { kClinic, kPatientReported, kRemoteMonitoring };
// start, dose-change, taper-step, stop, continue, entered-in-error
enum class MedicationAction { kStart, kDoseChange, kTaperStep, kStop, kContinue, kEnteredInError };
enum class Route { kOral, kTransdermal, kSublingual, kTopical, kInjection };

// The wire string of a value ("care-plan", "nurse-practitioner", ">=").
std::string_view toWire(RecordType value);
std::string_view toWire(Sex value);
std::string_view toWire(ClinicianRole value);
std::string_view toWire(ProgramKind value);
std::string_view toWire(ProgramStatus value);
std::string_view toWire(Comparator value);
std::string_view toWire(GoalStatus value);
std::string_view toWire(GoalAchievement value);
std::string_view toWire(ActivityStatus value);
std::string_view toWire(FrequencyPer value);
std::string_view toWire(AbsentReason value);
std::string_view toWire(MeasurementStatus value);
std::string_view toWire(MeasurementMethod value);
std::string_view toWire(MedicationAction value);
std::string_view toWire(Route value);

// The value whose wire string is exactly `wire`; nullopt otherwise. Defined for
// every enumeration above: fromWire<MedicationAction>("taper-step").
template <typename E>
std::optional<E> fromWire(std::string_view wire);
// Every wire string of enumeration E (index = enumerator value).
template <typename E>
std::span<const std::string_view> wireNames();

// ---- Values ----

// A JSON number as the clinic wrote it (fhir/decimal.h).
using fhir::Decimal;

// author, performer, prescriber, care-team members. `lead` only in careTeam.
struct Clinician {
  std::string name;
  std::optional<std::string> npi;  // 10 digits
  std::optional<ClinicianRole> role;
  std::optional<bool> lead;
  bool operator==(const Clinician&) const = default;
};

struct PersonName {
  std::string family;
  std::vector<std::string> given;  // at least one
  bool operator==(const PersonName&) const = default;
};

struct Patient {
  std::string mrn;  // 1-64 chars
  std::optional<std::string> pcpPatientId;
  PersonName name;
  std::string birthDate;  // YYYY, YYYY-MM or YYYY-MM-DD (a FHIR date)
  std::optional<Sex> sex;
  bool operator==(const Patient&) const = default;
};

struct Pcp {
  std::string practiceId;  // 1-64 chars; the routing key
  std::optional<std::string> clinicianNpi;
  std::optional<std::string> name;
  bool operator==(const Pcp&) const = default;
};

// ---- care-plan ----

struct Program {
  std::string name;
  ProgramKind kind = ProgramKind::kBundledProgram;
  ProgramStatus status = ProgramStatus::kActive;
  std::string start;  // date
  std::optional<std::string> end;
  std::optional<std::string> nextReassessment;
  bool operator==(const Program&) const = default;
};

struct Condition {
  std::string text;
  std::optional<std::string> icd10;
  bool operator==(const Condition&) const = default;
};

struct GoalBaseline {
  Decimal value;
  std::string unit;
  std::optional<std::string> date;
  bool operator==(const GoalBaseline&) const = default;
};

struct GoalTarget {
  Decimal value;
  std::string unit;
  std::optional<Comparator> comparator;  // absent: "at least" for function, "at most" for pain
  bool operator==(const GoalTarget&) const = default;
};

struct Goal {
  std::string goalId;  // unique within the record
  std::string description;
  std::optional<std::string> measure;  // measure code (format only)
  std::optional<GoalBaseline> baseline;
  std::optional<GoalTarget> target;
  std::optional<std::string> due;
  std::optional<GoalStatus> status;
  std::optional<GoalAchievement> achievement;
  bool operator==(const Goal&) const = default;
};

struct ActivityFrequency {
  std::int64_t count = 1;  // >= 1
  FrequencyPer per = FrequencyPer::kWeek;
  bool operator==(const ActivityFrequency&) const = default;
};

struct Period {
  std::optional<std::string> start;
  std::optional<std::string> end;
  bool operator==(const Period&) const = default;
};

struct Activity {
  std::string activityId;  // unique within the record
  std::string type;        // activity code (format only)
  std::optional<std::string> description;
  std::optional<ActivityStatus> status;
  std::optional<ActivityFrequency> frequency;
  std::optional<Period> period;
  std::optional<std::string> scheduled;  // dateTime
  std::optional<Clinician> performer;
  std::vector<std::string> goals;  // goalIds of this record; empty = absent
  bool operator==(const Activity&) const = default;
};

// Empty lists are not written (an empty list and an absent one read the same).
struct CarePlanBody {
  Program program;
  std::vector<Condition> conditions;
  std::vector<Clinician> careTeam;
  std::vector<Goal> goals;
  std::vector<Activity> activities;
  bool operator==(const CarePlanBody&) const = default;
};

// ---- measurement ----

struct MeasurementComponent {
  std::string measure;
  Decimal value;
  std::optional<std::string> unit;
  bool operator==(const MeasurementComponent&) const = default;
};

// Exactly one of value, components (non-empty), absent.
struct MeasurementBody {
  std::string measure;
  std::optional<Decimal> value;
  std::optional<std::string> unit;
  std::vector<MeasurementComponent> components;
  std::optional<AbsentReason> absent;
  std::string effective;  // dateTime
  MeasurementStatus status = MeasurementStatus::kFinal;
  std::optional<MeasurementMethod> method;
  std::optional<Clinician> performer;
  std::optional<std::string> goalId;
  bool operator==(const MeasurementBody&) const = default;
};

// ---- medication-change ----

struct Medication {
  std::string code;  // clinic drug code (format only)
  std::optional<std::string> rxnorm;
  std::optional<std::string> display;
  bool operator==(const Medication&) const = default;
};

struct Quantity {
  Decimal value;
  std::string unit;
  bool operator==(const Quantity&) const = default;
};

// Either count per day/week (text empty) or free text such as "nightly".
struct MedicationFrequency {
  std::int64_t count = 0;                 // >= 1 when !isText()
  FrequencyPer per = FrequencyPer::kDay;  // kDay or kWeek
  std::string text;                       // non-empty for the text form
  bool isText() const { return !text.empty(); }
  bool operator==(const MedicationFrequency&) const = default;
};

struct Taper {
  std::int64_t step = 1;  // 1 <= step <= of
  std::int64_t of = 1;
  std::optional<Decimal> targetDailyMme;
  std::optional<std::string> nextStepOn;
  bool operator==(const Taper&) const = default;
};

struct MedicationChangeBody {
  MedicationAction action = MedicationAction::kStart;
  Medication medication;
  std::optional<Quantity> dose;                  // required unless stop / entered-in-error
  std::optional<MedicationFrequency> frequency;  // required unless stop / entered-in-error
  std::optional<Route> route;
  std::optional<bool> asNeeded;
  std::string effective;  // date
  std::optional<Quantity> previousDose;
  std::optional<std::string> reason;
  Clinician prescriber;
  std::optional<Decimal> dailyMme;
  std::optional<Taper> taper;
  bool operator==(const MedicationChangeBody&) const = default;
};

// ---- the record ----

struct PlanRecord {
  std::string recordId;
  std::int64_t version = 1;
  std::string recordedAt;  // instant
  Patient patient;
  Pcp pcp;
  Clinician author;
  std::optional<std::string> planId;
  std::optional<std::string> note;
  // The top-level `extensions` object, kept verbatim and otherwise ignored.
  std::optional<fhir::Json> extensions;
  // The record type is the body's alternative.
  std::variant<CarePlanBody, MeasurementBody, MedicationChangeBody> body;

  RecordType recordType() const { return static_cast<RecordType>(body.index()); }
  // The body of that type, or nullptr.
  const CarePlanBody* carePlan() const { return std::get_if<CarePlanBody>(&body); }
  const MeasurementBody* measurement() const { return std::get_if<MeasurementBody>(&body); }
  const MedicationChangeBody* medicationChange() const {
    return std::get_if<MedicationChangeBody>(&body);
  }
  CarePlanBody* carePlan() { return std::get_if<CarePlanBody>(&body); }
  MeasurementBody* measurement() { return std::get_if<MeasurementBody>(&body); }
  MedicationChangeBody* medicationChange() { return std::get_if<MedicationChangeBody>(&body); }

  bool operator==(const PlanRecord&) const = default;
};

// ---- Limits ----

inline constexpr std::size_t kMaxNoteChars = 4000;  // Unicode code points
inline constexpr std::size_t kMaxListItems = 1000;  // any list in a record
inline constexpr std::size_t kMaxIdChars = 64;      // mrn, practiceId, goalId, ...
// After this many issues reading stops adding them and ends with one
// "too many problems" error, so a hostile document cannot make a huge response.
inline constexpr std::size_t kMaxIssues = 200;

// ---- Reading and writing ----

struct ReadResult {
  std::optional<PlanRecord> record;  // nullopt when `issues` has errors
  fhir::Issues issues;               // every problem (errors and warnings)
};

// Reads and validates one record document. Collects EVERY problem (up to
// kMaxIssues) with its JSON path and a message an integrator understands:
//   `$.goals[1].target.value`: `expected a number, got string "120"`.
// Values under `$.patient` and `$.note` are never quoted back (PHI).
// Issue codes: "structure" (JSON type, unknown or misplaced field), "required",
// "value" (pattern, enum, date), "too-long", "duplicate", "invariant"
// (cross-field rule), "business-rule" (warnings about meaningless fields).
//
// Cross-field rules (errors unless marked warning):
// - fields of another record type: `$.action: not allowed in a care-plan record`;
// - measurement: exactly one of value / components / absent; a top-level `unit`
//   without `value` is a warning; `goalId` without `planId` is a warning;
// - medication-change: `dose` and `frequency` required unless action is stop or
//   entered-in-error (a withdrawal names only the medication); `previousDose`
//   with an action other than dose-change/taper-step and `taper` with an action
//   other than taper-step are warnings (docs/record-format.md);
//   taper.step <= taper.of;
// - care-plan: goalIds unique, activityIds unique, activity.goals reference goals
//   of the record, at most one careTeam member with lead true (none: warning),
//   program.end >= program.start, period.end >= period.start;
// - `lead` is allowed only on careTeam members; `planId` on a care-plan is a
//   warning (a care plan's own id is its recordId).
// Returns a record only when there are no errors (warnings may be present).
ReadResult readPlanRecord(const fhir::Json& doc);

// Same, appending the issues to `*issues` (which may be null).
std::optional<PlanRecord> readPlanRecord(const fhir::Json& doc, fhir::Issues* issues);

// The wire format of `record`, members in the order of the spec and examples:
// recordType, recordId, version, recordedAt, patient, pcp, author, planId, the
// body's fields, note, extensions. Absent optionals and empty lists are omitted.
// readPlanRecord(writePlanRecord(r)) == r for every record readPlanRecord returns.
fhir::Json writePlanRecord(const PlanRecord& record);

}  // namespace inloop::mappings
