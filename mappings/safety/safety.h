#pragma once

// The safety loop's pure core: the patient's current medication list at the
// pain center, total daily morphine milligram equivalents (MME), the rules that
// decide which changes primary care must hear about, and the FHIR
// Communication that carries each notice. docs/safety-loop.md describes every
// rule, its wording and its settings for clinicians and IT.
//
// How the gateway uses it, per accepted record, in the order records are
// accepted for one patient:
//   SafetyStep step = applyAndEvaluate(storedList, record, tables);
//   store step.list; send step.notices (appendNoticeEntries puts them into the
//   record's transaction Bundle, after its resources).
// applyRecord + evaluate are the two halves, public for tests and for callers
// that need the lists themselves.
//
// Pure: no I/O, no clock, no globals, nothing thrown; everything from outside
// (tables, settings) is an argument. All types are plain values; concurrent
// calls on distinct or const arguments are safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/status.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/safety/safety_settings.h"
#include "mappings/shaping/destination.h"
#include "mappings/tables/tables.h"

namespace inloop::mappings {

// ---- The medication list ----

// One drug on the list, as the latest change that touched it left it.
struct MedicationEntry {
  std::string drug;              // the clinic's drug code: the key
  std::string display;           // the record's medication.display, may be empty
  std::optional<Quantity> dose;  // per administration
  std::optional<MedicationFrequency> frequency;
  std::optional<Route> route;
  std::optional<bool> asNeeded;
  std::string since;                                   // effective date of that change
  MedicationAction action = MedicationAction::kStart;  // the action of that change
  std::string recordId;                                // the record that set this entry
  std::int64_t version = 0;

  bool operator==(const MedicationEntry&) const = default;
};

// One applied medication-change record: what it did, so that an
// entered-in-error record can undo it.
struct MedicationChange {
  std::string recordId;
  std::int64_t version = 0;
  MedicationAction action = MedicationAction::kStart;
  std::string drug;
  std::string effective;
  std::optional<MedicationEntry> before;  // the drug's entry before (nullopt: not on the list)
  std::optional<MedicationEntry> after;   // and after this change
  // The list's reported dailyMme before this change (restored on undo).
  std::optional<Decimal> reportedMmeBefore;
  std::optional<std::int64_t> undoneBy;  // version of the entered-in-error record that undid it
  // Only on entered-in-error changes: the version they undid (nullopt: nothing
  // to undo), and false when the drug's entry had since been changed by
  // another record and was therefore left as it was.
  std::optional<std::int64_t> undid;
  bool restored = false;
  // Rule ids of the notices sent for this change (noteNotices).
  std::vector<std::string> notified;

  bool operator==(const MedicationChange&) const = default;
};

// At most this many changes are kept; older ones can no longer be undone (an
// entered-in-error record for them still gets a correcting notice).
inline constexpr std::size_t kMaxMedicationHistory = 500;

// The patient's current medication list at the pain center, keyed by drug code
// (entries sorted by code), with the history of applied changes.
class MedicationList {
 public:
  const std::vector<MedicationEntry>& entries() const { return entries_; }
  const std::vector<MedicationChange>& history() const { return history_; }
  // The entry of `drug`, or nullptr.
  const MedicationEntry* find(std::string_view drug) const;
  // The total daily MME the latest opioid change reported (its dailyMme);
  // cleared by an opioid change without one.
  const std::optional<Decimal>& reportedDailyMme() const { return reportedDailyMme_; }
  // The latest change of `recordId` (any version), or nullptr.
  const MedicationChange* lastChangeOf(std::string_view recordId) const;
  // The effective date of the first change applied to this list (empty before
  // any): the list knows nothing of the patient's medications before it.
  const std::string& startedOn() const { return startedOn_; }

  // This list with `entry` put in as the earlier state of a drug it did not
  // hold (baselineOf); the reported MME is dropped when `isOpioid` (it did not
  // count that drug), so that the computed total is used.
  MedicationList withEarlierState(MedicationEntry entry, bool isOpioid) const;

  // Applies an accepted medication-change record:
  //  start, dose-change, taper-step, continue: the drug is on the list with the
  //    record's dose, frequency, route and asNeeded;
  //  stop: the drug is removed (a stop of a drug not on the list changes nothing);
  //  entered-in-error: undoes the latest not-yet-undone change of the same
  //    recordId (a mistaken start is removed, a mistaken stop restores the
  //    previous entry), unless another record has changed that drug since (then
  //    the entry is kept and the correcting notice says so).
  // `isOpioid` says whether the record's drug counts for the reported MME.
  // Fails with kInvalid for a record that is not a medication change and with
  // kConflict for a version not above the latest applied version of the same
  // recordId (a replay or a stale export: the list is unchanged).
  fhir::Status apply(const PlanRecord& record, bool isOpioid);

  // Records the rule ids of the notices sent for change (recordId, version),
  // so that a later entered-in-error record gets a correcting notice.
  void noteNotices(std::string_view recordId, std::int64_t version,
                   const std::vector<std::string>& ruleIds);

  bool operator==(const MedicationList&) const = default;

 private:
  friend fhir::Result<MedicationList> medicationListFromJson(const fhir::Json& json);
  void put(MedicationEntry entry);
  void remove(std::string_view drug);

  std::vector<MedicationEntry> entries_;
  std::vector<MedicationChange> history_;
  std::optional<Decimal> reportedDailyMme_;
  std::string startedOn_;
};

// The list as JSON for storage ({"format": 1, "entries": [...], "history":
// [...], "reportedDailyMme": n, "startedOn": date}); wire strings for enums,
// record field names for doses and frequencies. A stored list without
// "startedOn" (written before it existed) reads as started on the effective
// date of its oldest kept change.
fhir::Json medicationListToJson(const MedicationList& list);
// Reads what medicationListToJson wrote. Fails with kInvalid (message names the
// JSON path) on anything else.
fhir::Result<MedicationList> medicationListFromJson(const fhir::Json& json);

// The list after applying `record` (MedicationList::apply with the drug's
// opioid class from `tables`).
fhir::Result<MedicationList> applyRecord(const MedicationList& list, const PlanRecord& record,
                                         const MappingTables& tables);

// ---- Baselines ----

// Where the earlier state of a medication-change record's drug comes from
// (docs/safety-loop.md, "Baselines").
enum class BaselineSource {
  kList,          // the drug was on the list (and stop, entered-in-error: the list)
  kNotTaken,      // start of a drug not on the list: not taken before
  kPreviousDose,  // dose-change / taper-step of a drug not on the list: the
                  // record's previousDose with its frequency, route, asNeeded
  kReconciled,    // continue of a drug not on the list: taken before as now (a
                  // reconciled outside medication)
  kUnknown,       // dose-change / taper-step of a drug not on the list without
                  // previousDose
};

// The patient's medications just before a record, as far as they can be known.
struct Baseline {
  // The list before, with the drug's earlier state put in when the list did
  // not hold it (kPreviousDose, kReconciled; MedicationList::withEarlierState).
  MedicationList list;
  BaselineSource source = BaselineSource::kList;
  // The drug's earlier entry (nullopt: not taken, or unknown).
  std::optional<MedicationEntry> earlier;
  // False when the earlier total daily MME cannot be known because of this
  // record (kUnknown of an opioid); an opioid of the list whose MME is unknown
  // makes dailyMme(list).value() nullopt as well.
  bool totalKnown = true;
};

// The baseline of `record` against the list `before` (the list itself for
// care-plan and measurement records).
Baseline baselineOf(const MedicationList& before, const PlanRecord& record,
                    const MappingTables& tables);

// ---- MME ----

// One opioid's share of the daily MME; `mme` is nullopt when it cannot be
// computed, with `unknownReason` saying why ("frequency is text: nightly").
struct DrugMme {
  std::string drug;
  std::optional<double> mme;
  std::string unknownReason;
};

struct MmeTotal {
  double computed = 0;             // sum of the known shares
  std::vector<DrugMme> drugs;      // every opioid on the list, in list order
  std::optional<double> reported;  // the list's reportedDailyMme
  // True when every opioid's share is known.
  bool complete() const;
  // The total to act on: the reported value when given, else the computed one
  // when complete, else nullopt.
  std::optional<double> value() const;
};

// One entry's daily MME: dose x administrations per day x the drug's factor
// (per week counts / 7). Patches dosed in mcg/h (the factor's unit) use the
// factor per mcg/h, whatever the frequency. Non-opioids give nullopt mme with
// an empty reason.
DrugMme entryMme(const MedicationEntry& entry, const MappingTables& tables);

// The list's total daily MME.
MmeTotal dailyMme(const MedicationList& list, const MappingTables& tables);

// "90", "67.5": at most one decimal, no trailing zeros.
std::string formatMme(double mme);

// ---- Rules and notices ----

enum class NoticePriority { kRoutine, kUrgent };

// "routine", "urgent" (FHIR request-priority codes).
const char* noticePriorityCode(NoticePriority priority);

// One notice for primary care.
struct Notice {
  std::string ruleId;  // kRule...
  NoticePriority priority = NoticePriority::kRoutine;
  // Plain language, from the rule's wording: the one-line change, then the
  // ask (mme-threshold and the opioid-sedative "alert" wording start with
  // "Change: " and the record's change, as their wording does not say it).
  // What is sent adds the patient and whom to call (noticeMessage).
  std::string text;
  // The record the notice is about (the MedicationStatement / CarePlan).
  std::string aboutRecordId;
  std::int64_t aboutVersion = 0;
  RecordType aboutType = RecordType::kMedicationChange;
  std::vector<Effect> effects;     // the managed effects named
  std::vector<std::string> drugs;  // drug codes involved
  std::string date;                // the date the notice is about (effective, scheduled)
  // Business identifier value of the Communication: recordId/vN/ruleId, or for
  // notices about a fact that can repeat over plan versions (steroid-glucose)
  // recordId/activityId/date/ruleId, so that a replay or a new plan version
  // updates the same Communication instead of sending another.
  std::string key;
  bool mmeMismatch = false;  // the mme-mismatch sentence was added
  bool joined = false;       // opioid-sedative: a drug joined an existing combination
};

// Evaluates the rules for `record`, given the list BEFORE and AFTER applying it
// (for a care-plan record both are the current list). Rules that are off in
// `settings` produce nothing. Notices come in this order: correction,
// managed-effect, opioid-sedative, opioid-sedative-ended, mme-threshold,
// taper-step, steroid-glucose. An empty result is normal (most changes need no
// notice). Measurement records produce nothing.
std::vector<Notice> evaluate(const MedicationList& before, const MedicationList& after,
                             const PlanRecord& record, const MappingTables& tables,
                             const SafetySettings& settings);

// One step of the loop.
struct SafetyStep {
  MedicationList list;  // after the record (unchanged for non-medication records)
  std::vector<Notice> notices;
  fhir::Status status;  // apply()'s failure, if any (then list == the input)
};

// applyRecord + evaluate with the record's practice settings
// (tables.safetySettingsFor(record.pcp.practiceId)), then noteNotices. A replay
// or stale version (kConflict) produces no notice.
SafetyStep applyAndEvaluate(const MedicationList& list, const PlanRecord& record,
                            const MappingTables& tables);

// ---- Communication ----

// Code system of the rule codes in Communication.reasonCode: the local code
// system "safety-rule" (mappings/conventions.h rules: <parent of
// namespaces.measure>/safety-rule).
inline constexpr std::string_view kCsSafetyRule = "safety-rule";
inline constexpr std::string_view kCommunicationCategorySystem =
    "http://terminology.hl7.org/CodeSystem/communication-category";
// kIdPrefixCommunication ("comm"): mappings/shaping/destination.h.

// The notice as a FHIR R4 Communication (JSON): status completed, category
// notification, priority, subject (the translator's patient reference), sender
// the pain center (with tables.contact: a reference to the Bundle's
// Organization entry by fullUrl, with its NPI identifier and name; without:
// {type Organization, display settings' senderDisplay}), recipient the PCP
// (Practitioner by NPI when pcp.clinicianNpi is known, display pcp.name; no
// recipient when neither is known), payload contentString = noticeMessage, about = a
// logical reference (type + identifier) to the MedicationStatement / CarePlan
// of notice.aboutRecordId, reasonCode = the rule, identifier {namespaces.record,
// "notice/" + key}, narrative, sent = record.recordedAt. `medicationAs` picks
// MedicationStatement or MedicationRequest as the `about` type.
fhir::Json noticeCommunicationJson(const Notice& notice, const PlanRecord& record,
                                   const MappingTables& tables,
                                   MedicationAs medicationAs = MedicationAs::kStatement);

// The notice as sent (Communication.payload.contentString, and the note of
// the fallback): "Patient: NAME, born BIRTHDATE, practice patient id ID." (the
// id only when the record gives pcpPatientId), then notice.text, then
// "Questions: " + whom to call (the clinician and the numbers of
// tables.contact for the record's practice; translate_internal.h contactWords)
// + ".".
std::string noticeMessage(const Notice& notice, const PlanRecord& record,
                          const MappingTables& tables);

// The Communication's business identifier value ("notice/" + key).
std::string noticeIdentifierValue(const Notice& notice);

// Appends one conditional-update entry (PUT Communication?identifier=...) per
// notice, in order, to the transaction Bundle `bundle` (translateRecord's
// output for `record`), before its final Provenance entry when there is one,
// and adds each Communication to that Provenance's targets. Fails with
// kInvalid when `bundle` is not a transaction Bundle.
fhir::Status appendNoticeEntries(const std::vector<Notice>& notices, const PlanRecord& record,
                                 const MappingTables& tables, fhir::Json* bundle,
                                 MedicationAs medicationAs = MedicationAs::kStatement);

// Copies the notice entries (Communications whose first identifier value
// starts with "notice/") of `from` (a record's stored Bundle) into `to` (the
// same record translated again, e.g. with MedicationRequest for a destination
// that takes no MedicationStatement), before its final Provenance, which then
// lists them among its targets; with kRequest an `about` of type
// MedicationStatement becomes MedicationRequest; a `sender` whose reference
// names no entry of `to` (the contact changed since) keeps only its type,
// identifier and display. Returns how many were copied
// (0 when `from` has none or is not a Bundle); kInvalid when `to` is not a
// transaction Bundle.
fhir::Result<std::size_t> carryNoticeEntries(const fhir::Json& from, MedicationAs medicationAs,
                                             fhir::Json* to);

}  // namespace inloop::mappings
