#pragma once

// Settings of the safety loop (mappings/safety/safety.h): which rules are on, their
// thresholds and their wording, as a validated plain value.
//
// Where they come from: the "safety" section of config/mappings/practices.json
// gives the pain center's defaults, and a practice's own "safety" section
// overrides them field by field (docs/safety-loop.md). Without any section the
// built-in defaults below apply. The tables loader (mappings/tables/tables_loader.cpp)
// validates both; MappingTables::safetySettingsFor(practiceId) gives the
// resolved settings of one practice.
//
// Wording is a template: `{name}` is replaced by a value the rule computes
// (kSafetyTemplates lists, per rule and template, which names are allowed;
// the loader rejects any other `{...}`).
//
// Pure, header-only data plus small pure functions; thread-safe.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace inloop::mappings {

// Rule ids: also the codes of Communication.reasonCode (docs/safety-loop.md).
inline constexpr std::string_view kRuleManagedEffect = "managed-effect";
inline constexpr std::string_view kRuleOpioidSedative = "opioid-sedative";
inline constexpr std::string_view kRuleOpioidSedativeEnded = "opioid-sedative-ended";
inline constexpr std::string_view kRuleMmeThreshold = "mme-threshold";
inline constexpr std::string_view kRuleTaperStep = "taper-step";
inline constexpr std::string_view kRuleSteroidGlucose = "steroid-glucose";
inline constexpr std::string_view kRuleCorrection = "correction";
// Not a notice of its own: the sentence added to a notice when the record's
// dailyMme and the computed MME disagree.
inline constexpr std::string_view kRuleMmeMismatch = "mme-mismatch";

// Every configurable rule id, in the order of the config file and the docs.
inline constexpr std::string_view kSafetyRuleIds[] = {
    kRuleManagedEffect, kRuleOpioidSedative, kRuleOpioidSedativeEnded, kRuleMmeThreshold,
    kRuleTaperStep,     kRuleSteroidGlucose, kRuleCorrection,          kRuleMmeMismatch,
};

// The correction rule cannot be turned off: an entered-in-error record is never
// a silent change for primary care.
inline constexpr std::string_view kAlwaysOnRule = kRuleCorrection;

// One wording template of one rule.
struct SafetyTemplateSpec {
  std::string_view rule;
  std::string_view key;           // the template's name under the rule's "wording"
  std::string_view placeholders;  // the allowed {names}, space separated
  std::string_view text;          // the built-in default
};

inline constexpr SafetyTemplateSpec kSafetyTemplates[] = {
    {kRuleManagedEffect, "start", "drug dose date effects sentences",
     "{drug} started {dose} on {date}. {sentences}"},
    {kRuleManagedEffect, "raise", "drug dose previous date effects sentences",
     "{drug} dose raised from {previous} to {dose} on {date}. {sentences}"},
    {kRuleManagedEffect, "stop", "drug previous date effects sentences",
     "{drug} stopped on {date} (was {previous}). It can affect {effects}: please review any "
     "monitoring or treatment that was adjusted for it."},
    {kRuleOpioidSedative, "alert", "opioids sedatives date naloxone mme",
     "URGENT: {opioids} together with {sedatives} on the pain center's medication list as of "
     "{date}. FDA boxed warning: this combination can cause profound sedation, respiratory "
     "depression, coma and death. {naloxone} Total daily MME: {mme}. Please review all sedating "
     "prescriptions, including those from other prescribers."},
    {kRuleOpioidSedative, "joined", "joined opioids sedatives date naloxone mme",
     "URGENT: {joined} joined the combination of opioids and sedating drugs on the pain center's "
     "medication list on {date}; it is now {opioids} together with {sedatives}. FDA boxed "
     "warning: every added sedating drug raises the risk of profound sedation, respiratory "
     "depression, coma and death. {naloxone} Total daily MME: {mme}. Please review all sedating "
     "prescriptions, including those from other prescribers."},
    {kRuleOpioidSedative, "naloxone-on-list", "", "Naloxone is on the pain center's list."},
    {kRuleOpioidSedative, "naloxone-missing", "",
     "Naloxone is NOT on the pain center's list: please consider prescribing it."},
    {kRuleOpioidSedativeEnded, "ended", "opioids sedatives date change remaining",
     "The co-prescription of {opioids} with {sedatives} ended on {date}: {change}. Opioids and "
     "sedating drugs now on the pain center's list: {remaining}."},
    {kRuleMmeThreshold, "up", "before after thresholds date",
     "Total daily opioid dose rose from {before} to {after} MME/day on {date}, crossing "
     "{thresholds} MME/day (CDC: reassess benefits and risks at 50 MME/day or more; avoid or "
     "carefully justify 90 MME/day or more; naloxone is advised)."},
    {kRuleMmeThreshold, "down", "before after thresholds date",
     "Total daily opioid dose fell from {before} to {after} MME/day on {date}, below "
     "{thresholds} MME/day. Please make sure prescriptions from other prescribers match the "
     "lower dose."},
    {kRuleMmeThreshold, "unknown-before", "after thresholds date since",
     "Total daily opioid dose is {after} MME/day as of {date}, at or above {thresholds} "
     "MME/day. The earlier total is not known to the pain center's medication list (kept since "
     "{since}), so no rise or fall across a threshold is claimed. CDC: reassess benefits and "
     "risks at 50 MME/day or more; avoid or carefully justify 90 MME/day or more; naloxone is "
     "advised."},
    {kRuleTaperStep, "step", "drug step of previous dose date mme target next",
     "{drug} taper step {step} of {of} on {date}: {previous} to {dose}. Total daily MME now "
     "{mme}; target {target}; next step on {next}. Mood, sleep and pain may worsen during a "
     "taper: please watch for depression and withdrawal, and keep one prescriber for opioids."},
    {kRuleSteroidGlucose, "scheduled", "activity date condition sentence",
     "{activity} scheduled for {date}. The plan lists diabetes ({condition}). {sentence}"},
    {kRuleSteroidGlucose, "done", "activity date condition sentence",
     "{activity} done on {date}. The plan lists diabetes ({condition}). {sentence}"},
    {kRuleCorrection, "withdrawn", "record original state date",
     "CORRECTION: the pain center's medication change {record} ({original}) was entered in "
     "error and is withdrawn as of {date}. {state} Please disregard earlier notices about that "
     "change."},
    {kRuleMmeMismatch, "flag", "reported computed",
     "Please note: the pain center's record gives {reported} MME/day but its medication list "
     "computes {computed} MME/day; please confirm the doses with the pain center."},
};

// The placeholders allowed in template `key` of `rule` (space separated);
// nullptr when the pair is unknown.
const SafetyTemplateSpec* findSafetyTemplate(std::string_view rule, std::string_view key);

// The `{names}` in `text` that are not in the space-separated `allowed`, and
// unbalanced braces (reported as "{" or "}"), in order of appearance.
std::vector<std::string> badPlaceholders(std::string_view text, std::string_view allowed);

// `text` with every `{name}` that has a value in `values` replaced by it;
// other text, including unknown `{...}`, is kept as written.
std::string renderTemplate(std::string_view text,
                           const std::vector<std::pair<std::string, std::string>>& values);

// One rule's switch and wording (every template of the rule present).
struct SafetyRuleSettings {
  bool enabled = true;
  std::map<std::string, std::string, std::less<>> wording;  // template key -> text
};

// The resolved settings of one practice (or the defaults).
struct SafetySettings {
  std::map<std::string, SafetyRuleSettings, std::less<>> rules;  // every kSafetyRuleIds

  // managed-effect: the effects that produce a notice ("blood-pressure",
  // "glucose", "mood", "sedation").
  std::vector<std::string> managedEffects = {"blood-pressure", "glucose", "mood", "sedation"};
  // opioid-sedative: drug classes that, with an opioid, make the combination;
  // naloxoneClass: the class whose presence on the list the notice reports.
  std::vector<std::string> sedativeClasses = {"benzodiazepine", "z-drug", "gabapentinoid"};
  std::string naloxoneClass = "opioid-antagonist";
  // While the combination lasts, a new urgent notice follows a start or a raise
  // of a drug of either group, and a drug of either group newly on the list
  // (also by `continue`: wording "joined"); with alertOnEveryChange also every dose
  // decrease and stop (taper steps included). Off by default: an urgent notice
  // at every taper step would teach primary care to ignore them.
  bool sedativeAlertOnEveryChange = false;
  // mme-threshold: ascending thresholds (MME/day); an upward crossing of a
  // threshold >= urgentFrom is urgent. With an unknown earlier total (wording
  // "unknown-before") a current total >= urgentFrom is urgent only with the
  // opioid-sedative combination on the list.
  std::vector<double> mmeThresholds = {50, 90};
  double mmeUrgentFrom = 90;
  // steroid-glucose: a plan condition is diabetes when its ICD-10 code starts
  // with one of the prefixes or its text contains one of the words
  // (case-insensitive).
  std::vector<std::string> diabetesIcd10Prefixes = {"E08", "E09", "E10", "E11", "E12", "E13"};
  std::vector<std::string> diabetesWords = {"diabetes"};
  // mme-mismatch: flagged when |reported - computed| exceeds both limits.
  double mismatchPercent = 10;
  double mismatchMme = 5;
  // Communication.sender.display: the pain center.
  std::string senderDisplay = "Pain center";

  bool enabled(std::string_view rule) const;
  // The wording of template `key` of `rule` (the default when unset).
  std::string_view text(std::string_view rule, std::string_view key) const;
};

// The built-in defaults: every rule on, every template at its default text.
SafetySettings defaultSafetySettings();

}  // namespace inloop::mappings
