#pragma once

// Mapping tables: the code tables IT admins edit (config/mappings/*.json) as a
// validated plain value, and their loader.
//
// The tables translate the clinic's own codes (measures, units, activity types,
// drug codes) into FHIR codings (LOINC, UCUM, SNOMED CT, RxNorm, or the pain
// center's own code systems), and carry the facts the safety loop needs (drug
// classes, MME factors, effects primary care manages). docs/mapping-tables.md
// describes every file and field for admins.
//
// Pure: the loader takes file names and texts (the gateway reads the files) and
// reads no clock, environment or globals. A loaded MappingTables is immutable
// by convention (callers hold it const); concurrent reads are safe.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/status.h"
#include "mappings/safety/safety_settings.h"

namespace inloop::mappings {

inline constexpr std::string_view kLoincSystem = "http://loinc.org";
inline constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";
inline constexpr std::string_view kSnomedSystem = "http://snomed.info/sct";
inline constexpr std::string_view kRxNormSystem = "http://www.nlm.nih.gov/research/umls/rxnorm";

// The file names the loader expects, each exactly once.
inline constexpr std::string_view kTableFileNames[] = {
    "manifest.json", "units.json",        "measures.json",  "activities.json",
    "drugs.json",    "drug-classes.json", "practices.json",
};

// True if `fileName` (a base name, "measures.json") is one of kTableFileNames.
bool isTableFileName(std::string_view fileName);

// One table file: its base name ("measures.json") and its whole text.
struct TableFile {
  std::string name;
  std::string text;
};

// A code in a code system. `display` may be empty (the system's own display is
// then not asserted; CodeableConcept.text carries the meaning).
struct Coding {
  std::string system;
  std::string code;
  std::string display;
};

// The pain center's URIs (manifest.json "namespaces").
struct Namespaces {
  std::string record;         // Identifier.system for record business identifiers
  std::string mrn;            // Identifier.system for the pain center's MRNs
  std::string measure;        // CodeSystem of local measure codes
  std::string activity;       // CodeSystem of local activity codes
  std::string drug;           // CodeSystem of the clinic's drug codes
  std::string drugClass;      // CodeSystem of drug classes
  std::string extensionBase;  // base URL of the pain center's extensions (ends with '/')
  std::string source;         // Resource.meta.source
};

// A unit as the clinic writes it ("lb") and its UCUM equivalent ("[lb_av]").
struct Unit {
  std::string name;     // the clinic's spelling
  std::string ucum;     // UCUM code, sent with system kUcumSystem
  std::string display;  // Quantity.unit, human-readable
};

// value_in_`to` = value_in_`from` * factor. Units are UCUM codes. When
// `measures` is non-empty the conversion applies to those measures only
// (substance-dependent ones such as glucose mmol/L -> mg/dL).
struct Conversion {
  std::string from;
  std::string to;
  std::string factor;  // decimal text, as written
  double factorValue = 0;
  std::vector<std::string> measures;
};

// FHIR observation-category codes used for measures.
enum class MeasureCategory { kSurvey, kActivity, kExam, kVitalSigns, kLaboratory, kTherapy };

// "survey", "activity", "exam", "vital-signs", "laboratory", "therapy".
const char* measureCategoryCode(MeasureCategory category);

// Which way is better; gives a goal's comparator when the record has none.
enum class Direction {
  kHigherIsBetter,  // a target means "at least" (>=)
  kLowerIsBetter,   // a target means "at most" (<=)
  kNeither,         // a target needs an explicit comparator
};

// How a panel's own value follows from its components.
enum class PanelTotal { kNone, kMean, kSum };

struct Measure {
  std::string code;           // the clinic's measure code ("pain-nrs")
  std::string display;        // CodeableConcept.text; may be changed per practice
  Coding coding;              // LOINC when known, else {namespaces.measure, code, display}
  bool standardCode = false;  // true when `coding` is LOINC
  MeasureCategory category = MeasureCategory::kSurvey;
  std::string unit;                // canonical and default unit (a Unit name)
  std::vector<std::string> units;  // every accepted Unit name, canonical first
  std::string sendUnit;            // unit to send (a Unit name); `unit` unless a practice overrides
  std::optional<double> min;       // valid range, in the canonical unit
  std::optional<double> max;
  Direction direction = Direction::kNeither;
  std::vector<std::string> components;  // measure codes of a panel's components
  PanelTotal total = PanelTotal::kNone;
  bool valueAllowed = true;  // false: a record must send components, not a value

  // Whether a value in the canonical unit lies within [min, max].
  bool inRange(double canonicalValue) const {
    return !(min && canonicalValue < *min) && !(max && canonicalValue > *max);
  }
  // The valid range as written in messages: "0 to 300 mmHg" ("-" for an open end).
  std::string rangeText() const;
};

// FHIR R4 care-plan-activity-kind (required binding).
enum class ActivityKind {
  kAppointment,
  kCommunicationRequest,
  kDeviceRequest,
  kMedicationRequest,
  kNutritionOrder,
  kTask,
  kServiceRequest,
  kVisionPrescription,
};

// The FHIR code ("ServiceRequest").
const char* activityKindCode(ActivityKind kind);

// What primary care manages and may have to act on.
enum class Effect { kBloodPressure, kGlucose, kMood, kSedation };

// "blood-pressure", "glucose", "mood", "sedation".
const char* effectCode(Effect effect);

// One effect with the plain-language sentence sent to primary care.
struct EffectNote {
  Effect effect = Effect::kMood;
  std::string message;
};

// One activity type of activities.json (named so as not to clash with a plan
// record's activity, mappings/record/plan_record.h).
struct ActivityType {
  std::string code;     // the clinic's activity type ("physical-therapy")
  std::string display;  // CodeableConcept.text
  Coding coding;        // SNOMED CT when known, else {namespaces.activity, code, display}
  bool standardCode = false;
  ActivityKind kind = ActivityKind::kServiceRequest;
  std::vector<EffectNote> effects;
};

// Morphine milligram equivalents: daily MME = daily amount in `unit` * factor.
struct MmeFactor {
  std::string factor;  // decimal text, as written
  double factorValue = 0;
  std::string unit;  // a Unit name the dose is given in ("mg", "mcg/h")
};

struct Drug {
  std::string code;                    // the clinic's drug code ("oxycodone-er")
  std::string display;                 // CodeableConcept.text
  std::optional<Coding> rxnorm;        // RxNorm ingredient, when confirmed
  Coding local;                        // {namespaces.drug, code, display}
  std::vector<std::string> classes;    // DrugClass codes
  std::optional<MmeFactor> mme;        // opioids only
  std::vector<std::string> doseUnits;  // Unit names the dose may be given in
};

struct DrugClass {
  std::string code;  // "opioid"
  std::string display;
  std::vector<EffectNote> effects;
};

// A practice's changes to one measure.
struct MeasureOverride {
  std::string measure;
  std::optional<std::string> unit;     // Unit name to send instead of the canonical one
  std::optional<std::string> display;  // text to send instead of the measure's display
  bool enabled = true;                 // false: the practice does not get this measure
};

// How primary care reaches the pain center: the numbers and addresses a notice
// gives and the Organization carries.
struct ContactPoints {
  std::string phone;   // the number to call; never empty
  std::string fax;     // each of these may be empty
  std::string email;   // secure e-mail
  std::string direct;  // Direct address (secure messaging between EHRs)
};

// A postal address; every part may be empty, not all of them.
struct PostalAddress {
  std::vector<std::string> line;
  std::string city;
  std::string state;
  std::string postalCode;
  std::string country;
};

// The pain center as a FHIR Organization (practices.json contact.organization).
struct OrganizationContact {
  std::string name;
  std::string npi;  // 10 digits with a valid NPI check digit
  ContactPoints points;
  std::optional<PostalAddress> address;
};

// A clinician's own line, matched by the NPI a record gives for a clinician.
struct ClinicianContact {
  std::string npi;    // 10 digits
  std::string name;   // for readers of the file and check-config messages
  std::string phone;  // never empty
};

// practices.json "contact": who primary care calls.
struct PainCenterContact {
  OrganizationContact organization;
  std::vector<ClinicianContact> clinicians;
};

struct Practice {
  std::string practiceId;
  std::vector<MeasureOverride> measures;
  // The numbers and addresses this practice's notices and care-plan narratives
  // give: the pain center's (contact.organization) with the practice's own
  // "contact" fields applied; nullopt when the practice has no such section.
  // The Organization resource always carries the pain center's own.
  std::optional<ContactPoints> contact;
  // The practice's safety-loop settings: the defaults (practices.json
  // "safety") with the practice's own "safety" section applied; nullopt when
  // the practice has no such section.
  std::optional<SafetySettings> safety;
};

// The validated tables. Lookups are by exact code; they return nullptr /
// nullopt for unknown codes. Tables are small, so lookups scan in file order.
struct MappingTables {
  std::string version;  // manifest.json "version", recorded in Provenance
  Namespaces namespaces;
  std::vector<Unit> units;
  std::vector<Conversion> conversions;
  std::vector<Measure> measures;
  std::vector<ActivityType> activities;
  std::vector<Drug> drugs;
  std::vector<DrugClass> drugClasses;
  std::vector<Practice> practices;
  // Safety-loop defaults (practices.json "safety"; built-in defaults without it).
  SafetySettings safety = defaultSafetySettings();
  // The pain center's contact (practices.json "contact"); nullopt without one
  // (check-config warns): the Bundles then carry no Organization and notices
  // name the clinician without a number.
  std::optional<PainCenterContact> contact;
  // Its Organization's Bundle entry, built once by the loader from `contact`
  // and `namespaces` (every Bundle carries a copy); null: built per Bundle.
  std::shared_ptr<const fhir::Json> organizationEntry;
  // The same entry as compact JSON, written once by the loader:
  // translateRecordJson writes it into each Bundle's text instead of copying
  // the tree. Empty: written from organizationEntry per Bundle.
  std::string organizationEntryJson;

  const Unit* findUnit(std::string_view name) const;
  // The first unit whose UCUM code is `ucum`.
  const Unit* findUnitByUcum(std::string_view ucum) const;
  // The measure with `practiceId`'s overrides applied (display, sendUnit);
  // nullopt when unknown or disabled for that practice. Empty practiceId: no
  // overrides.
  std::optional<Measure> findMeasure(std::string_view code, std::string_view practiceId = {}) const;
  const ActivityType* findActivity(std::string_view code) const;
  const Drug* findDrug(std::string_view code) const;
  const DrugClass* findDrugClass(std::string_view code) const;
  const Practice* findPractice(std::string_view practiceId) const;
  // The safety-loop settings of `practiceId`: its own when practices.json
  // gives it a "safety" section, else the defaults (`safety`).
  const SafetySettings& safetySettingsFor(std::string_view practiceId) const;
  // The numbers `practiceId`'s notices give: the practice's own contact when
  // practices.json gives it one, else the pain center's; nullptr without a
  // "contact" section.
  const ContactPoints* contactPointsFor(std::string_view practiceId) const;
  // The line of the clinician with NPI `npi`, or nullptr (also without a
  // "contact" section).
  const ClinicianContact* findClinicianContact(std::string_view npi) const;

  // True if a value in unit `from` can be converted to `to` for `measure`
  // (same UCUM code, or a conversion either way; no chains).
  bool canConvert(std::string_view from, std::string_view to, std::string_view measure = {}) const;

  // Converts the decimal text `value` from unit `from` to unit `to` (each a
  // Unit name or a UCUM code of a defined unit). `measure` selects
  // measure-specific conversions. Same UCUM code: `value` is returned
  // unchanged. Otherwise the result is rounded to max(3, significant digits of
  // `value`) significant digits, written without exponent ("1.5" h -> "90.0"
  // min, "150" lb -> "68.0" kg). Fails with kInvalid for a value that is not a
  // decimal and kNotFound when no conversion exists.
  fhir::Result<std::string> convert(std::string_view value, std::string_view from,
                                    std::string_view to, std::string_view measure = {}) const;
};

// The outcome of loading: `tables` is set only when `issues` has no errors
// (warnings may accompany valid tables).
struct TablesLoad {
  std::optional<MappingTables> tables;
  fhir::Issues issues;
};

// Parses (JSON with comments) and validates the table files, cross-checking
// references between them. Collects every issue; each issue's path is
// "file.json:LINE:COLUMN" (or "file.json" for a missing or unexpected file) and
// its message, led by the JSON path of the value ("$.measures[3].unit: ..."),
// says what is wrong and, where useful, what is expected, in the words of
// fhir/binding.h.
// Files not named in kTableFileNames are reported as errors.
TablesLoad loadMappingTables(const std::vector<TableFile>& files);

}  // namespace inloop::mappings
