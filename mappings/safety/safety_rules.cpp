// The safety rules: which medication changes and care-plan activities primary
// care must hear about (mappings/safety/safety.h, docs/safety-loop.md).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <utility>

#include "mappings/safety/safety.h"

namespace inloop::mappings {

namespace {

using Values = std::vector<std::pair<std::string, std::string>>;

bool hasClass(const MappingTables& tables, std::string_view drugCode, std::string_view cls) {
  const Drug* d = tables.findDrug(drugCode);
  return d != nullptr && std::find(d->classes.begin(), d->classes.end(), cls) != d->classes.end();
}

bool isOpioid(const MappingTables& tables, std::string_view drug) {
  return hasClass(tables, drug, "opioid");
}

bool isSedative(const MappingTables& tables, const SafetySettings& s, std::string_view drug) {
  return std::any_of(s.sedativeClasses.begin(), s.sedativeClasses.end(),
                     [&](const std::string& c) { return hasClass(tables, drug, c); });
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The drug's name in a sentence: the table's display ("Duloxetine").
std::string drugName(const MappingTables& tables, std::string_view code) {
  const Drug* d = tables.findDrug(code);
  return d ? d->display : std::string(code);
}

// "a", "a and b", "a, b and c".
std::string joinWords(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " and " : ", ";
    out += words[i];
  }
  return out;
}

std::string quantityText(const MappingTables& tables, const Quantity& q) {
  const Unit* u = tables.findUnit(q.unit);
  return q.value.text + " " + (u && !u->display.empty() ? u->display : q.unit);
}

std::string frequencyText(const MedicationFrequency& f) {
  if (f.isText()) return f.text;
  std::string per = f.per == FrequencyPer::kDay ? "daily" : "weekly";
  if (f.count == 1) return "once " + per;
  if (f.count == 2) return "twice " + per;
  return std::to_string(f.count) + " times " + per;
}

// "30 mg once daily", "0.5 mg up to twice daily as needed".
std::string doseText(const MappingTables& tables, const std::optional<Quantity>& dose,
                     const std::optional<MedicationFrequency>& frequency,
                     const std::optional<bool>& asNeeded) {
  std::string out = dose ? quantityText(tables, *dose) : std::string("dose not recorded");
  bool prn = asNeeded.value_or(false);
  if (frequency) out += (prn && !frequency->isText() ? " up to " : " ") + frequencyText(*frequency);
  if (prn) out += " as needed";
  return out;
}

std::string entryDoseText(const MappingTables& tables, const MedicationEntry& e) {
  return doseText(tables, e.dose, e.frequency, e.asNeeded);
}

// "Oxycodone extended release 40 mg twice daily".
std::string entryText(const MappingTables& tables, const MedicationEntry& e) {
  return drugName(tables, e.drug) + " " + entryDoseText(tables, e);
}

// Daily amount of an entry in the unit of its dose (same-unit comparisons only).
std::optional<double> dailyAmount(const std::optional<Quantity>& dose,
                                  const std::optional<MedicationFrequency>& f) {
  if (!dose || !f || f->isText()) return std::nullopt;
  double perDay = static_cast<double>(f->count) / (f->per == FrequencyPer::kWeek ? 7.0 : 1.0);
  return dose->value.value * perDay;
}

// True when the change raises the drug's dose (per administration or per day).
bool isRaise(const MedicationChangeBody& body, const MedicationEntry* before) {
  if (!body.dose) return false;
  if (before && before->dose && before->dose->unit == body.dose->unit) {
    auto was = dailyAmount(before->dose, before->frequency);
    auto now = dailyAmount(body.dose, body.frequency);
    if (was && now) return *now > *was;
    return body.dose->value.value > before->dose->value.value;
  }
  if (body.previousDose && body.previousDose->unit == body.dose->unit) {
    return body.dose->value.value > body.previousDose->value.value;
  }
  return false;
}

struct EffectLine {
  Effect effect;
  std::string message;
};

// The drug's managed effects (its classes' effects the settings keep).
std::vector<EffectLine> effectsOf(const MappingTables& tables, const SafetySettings& s,
                                  std::string_view drugCode) {
  std::vector<EffectLine> out;
  const Drug* d = tables.findDrug(drugCode);
  if (d == nullptr) return out;
  for (const std::string& cls : d->classes) {
    const DrugClass* c = tables.findDrugClass(cls);
    if (c == nullptr) continue;
    for (const EffectNote& n : c->effects) {
      std::string code = effectCode(n.effect);
      if (std::find(s.managedEffects.begin(), s.managedEffects.end(), code) ==
          s.managedEffects.end()) {
        continue;
      }
      out.push_back({n.effect, n.message});
    }
  }
  return out;
}

std::string effectWords(const std::vector<Effect>& effects) {
  std::vector<std::string> words;
  for (Effect e : effects) {
    std::string w = effectCode(e);
    std::replace(w.begin(), w.end(), '-', ' ');
    if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
  }
  return joinWords(words);
}

struct Combination {
  std::vector<const MedicationEntry*> opioids;
  std::vector<const MedicationEntry*> sedatives;
  bool active() const { return !opioids.empty() && !sedatives.empty(); }
};

Combination combinationOf(const MedicationList& list, const MappingTables& tables,
                          const SafetySettings& s) {
  Combination c;
  for (const MedicationEntry& e : list.entries()) {
    if (isOpioid(tables, e.drug)) c.opioids.push_back(&e);
    if (isSedative(tables, s, e.drug)) c.sedatives.push_back(&e);
  }
  return c;
}

std::string namesOf(const MappingTables& tables, const std::vector<const MedicationEntry*>& es) {
  std::vector<std::string> words;
  for (const MedicationEntry* e : es) words.push_back(entryText(tables, *e));
  return joinWords(words);
}

std::string mmeText(const MmeTotal& total) {
  if (auto v = total.value()) return formatMme(*v) + " MME/day";
  std::vector<std::string> why;
  for (const DrugMme& d : total.drugs) {
    if (!d.mme) why.push_back(d.drug + ": " + d.unknownReason);
  }
  return "unknown (" + joinWords(why) + ")";
}

// Everything one evaluation reads.
struct Eval {
  const MedicationList& before;
  const MedicationList& after;
  const PlanRecord& record;
  const MappingTables& tables;
  const SafetySettings& settings;
  const Baseline& baseline;  // the earlier state (baselineOf)
  std::vector<Notice> notices;

  // The earlier state of the record's drug as text, or `unknown`.
  std::string previousText(const MedicationChangeBody& body, std::string_view unknown) const {
    if (baseline.earlier) return entryDoseText(tables, *baseline.earlier);
    if (body.previousDose) return quantityText(tables, *body.previousDose);
    return std::string(unknown);
  }

  Notice make(std::string_view rule, NoticePriority priority, std::string text,
              std::string date) const {
    Notice n;
    n.ruleId = std::string(rule);
    n.priority = priority;
    n.text = std::move(text);
    n.aboutRecordId = record.recordId;
    n.aboutVersion = record.version;
    n.aboutType = record.recordType();
    n.date = std::move(date);
    n.key = record.recordId + "/v" + std::to_string(record.version) + "/" + std::string(rule);
    return n;
  }
  std::string render(std::string_view rule, std::string_view key, const Values& values) const {
    return renderTemplate(settings.text(rule, key), values);
  }
};

// The drug a medication-change record is about (for entered-in-error: the
// drug of the change it withdrew).
std::string changedDrug(const Eval& ev) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  if (body.action == MedicationAction::kEnteredInError) {
    for (auto it = ev.after.history().rbegin(); it != ev.after.history().rend(); ++it) {
      if (it->recordId == ev.record.recordId && it->version == ev.record.version) return it->drug;
    }
  }
  return body.medication.code;
}

// The record's change in one sentence ("Oxycodone extended release taper
// step 2 of 6 on 2026-10-15: 40 mg twice daily to 30 mg twice daily."), for
// the notices whose own text does not say it.
std::string changeSentence(const Eval& ev) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  const std::string name = drugName(ev.tables, changedDrug(ev));
  const std::string dose = doseText(ev.tables, body.dose, body.frequency, body.asNeeded);
  const std::string previous = ev.previousText(body, "an earlier dose not recorded");
  switch (body.action) {
    case MedicationAction::kStart:
      return name + " started " + dose + " on " + body.effective + ".";
    case MedicationAction::kDoseChange:
      if (!ev.baseline.earlier && !body.previousDose) {
        return name + " dose changed to " + dose + " on " + body.effective +
               " (the earlier dose is not recorded).";
      }
      return name + " dose changed from " + previous + " to " + dose + " on " + body.effective +
             ".";
    case MedicationAction::kTaperStep:
      return name + " taper step" +
             (body.taper
                  ? " " + std::to_string(body.taper->step) + " of " + std::to_string(body.taper->of)
                  : std::string()) +
             " on " + body.effective + ": " + previous + " to " + dose + ".";
    case MedicationAction::kContinue:
      return name + " continued at " + dose + " on " + body.effective +
             (ev.baseline.source == BaselineSource::kReconciled
                  ? " (a reconciled outside medication, new to the pain center's list)."
                  : ".");
    case MedicationAction::kStop:
      return name + " stopped on " + body.effective + ".";
    case MedicationAction::kEnteredInError:
      return "The pain center's medication change " + ev.record.recordId + " (" + name +
             ") was withdrawn as entered in error on " + body.effective + ".";
  }
  return {};
}

// Puts the record's change in front of the notices (from `first`) of `rule`
// (and, for opioid-sedative, only its "alert" wording: "joined" names it).
void prefixChange(Eval& ev, std::size_t first, std::string_view rule, bool onlyIfNotJoined) {
  for (std::size_t i = first; i < ev.notices.size(); ++i) {
    Notice& n = ev.notices[i];
    if (n.ruleId != rule || (onlyIfNotJoined && n.joined)) continue;
    n.text = "Change: " + changeSentence(ev) + " " + n.text;
  }
}

void correctionRule(Eval& ev) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  const MedicationChange* self = nullptr;
  const MedicationChange* target = nullptr;
  bool withdrawnBefore = false;
  for (const MedicationChange& c : ev.after.history()) {
    if (c.recordId != ev.record.recordId) continue;
    if (c.version == ev.record.version) {
      self = &c;
    } else if (c.action == MedicationAction::kEnteredInError) {
      withdrawnBefore = true;
    }
  }
  // A record already withdrawn: its correction went out with the first withdrawal.
  if (self && !self->undid && withdrawnBefore) return;
  if (self && self->undid) {
    for (const MedicationChange& c : ev.after.history()) {
      if (c.recordId == ev.record.recordId && c.version == *self->undid) target = &c;
    }
  }
  std::string drug = target ? target->drug : body.medication.code;
  bool relevant = isOpioid(ev.tables, drug) || isSedative(ev.tables, ev.settings, drug) ||
                  !effectsOf(ev.tables, ev.settings, drug).empty() ||
                  (target && !target->notified.empty());
  if (!relevant) return;
  std::string name = drugName(ev.tables, drug);
  std::string original;
  std::string state;
  if (target) {
    std::string what;
    switch (target->action) {
      case MedicationAction::kStart:
        what = "started";
        break;
      case MedicationAction::kDoseChange:
        what = "dose changed to";
        break;
      case MedicationAction::kTaperStep:
        what = "taper step to";
        break;
      case MedicationAction::kStop:
        what = "stopped";
        break;
      case MedicationAction::kContinue:
        what = "continued at";
        break;
      case MedicationAction::kEnteredInError:
        what = "withdrawn";
        break;
    }
    original = lowerAscii(name) + " " + what;
    if (target->after) original += " " + entryDoseText(ev.tables, *target->after);
    original += " on " + target->effective;
    const MedicationEntry* now = ev.after.find(drug);
    if (!self->restored) {
      state = "The pain center's list was changed for " + lowerAscii(name) +
              " by a later record and keeps " +
              (now ? entryDoseText(ev.tables, *now) : std::string("no entry")) +
              ": please check with the pain center.";
    } else if (now) {
      state = "The pain center's list again shows " + entryText(ev.tables, *now) + ".";
    } else {
      state = name + " is not on the pain center's medication list.";
    }
  } else {
    original = lowerAscii(name);
    state = "The pain center's medication list is unchanged.";
  }
  MmeTotal mme = dailyMme(ev.after, ev.tables);
  if (isOpioid(ev.tables, drug)) state += " Total daily MME: " + mmeText(mme) + ".";
  Notice n = ev.make(kRuleCorrection, NoticePriority::kRoutine,
                     ev.render(kRuleCorrection, "withdrawn",
                               {{"record", ev.record.recordId},
                                {"original", original},
                                {"state", state},
                                {"date", body.effective}}),
                     body.effective);
  n.drugs.push_back(drug);
  ev.notices.push_back(std::move(n));
}

void managedEffectRule(Eval& ev, bool combinationNotice) {
  if (!ev.settings.enabled(kRuleManagedEffect)) return;
  const MedicationChangeBody& body = *ev.record.medicationChange();
  const MedicationEntry* before = ev.before.find(body.medication.code);
  std::string key;
  switch (body.action) {
    case MedicationAction::kStart:
      key = "start";
      break;
    case MedicationAction::kDoseChange:
    case MedicationAction::kTaperStep:
      if (isRaise(body, before)) key = "raise";
      break;
    case MedicationAction::kStop:
      key = "stop";
      break;
    case MedicationAction::kContinue:
    case MedicationAction::kEnteredInError:
      break;
  }
  if (key.empty()) return;
  std::vector<EffectLine> lines = effectsOf(ev.tables, ev.settings, body.medication.code);
  // The urgent combination notice says everything about sedation.
  if (combinationNotice) {
    lines.erase(std::remove_if(lines.begin(), lines.end(),
                               [](const EffectLine& l) { return l.effect == Effect::kSedation; }),
                lines.end());
  }
  if (lines.empty()) return;
  std::vector<Effect> effects;
  std::string sentences;
  for (const EffectLine& l : lines) {
    effects.push_back(l.effect);
    if (!sentences.empty()) sentences += ' ';
    sentences += l.message;
  }
  std::string previous = ev.previousText(body, "dose not recorded");
  std::string text =
      ev.render(kRuleManagedEffect, key,
                {{"drug", drugName(ev.tables, body.medication.code)},
                 {"dose", doseText(ev.tables, body.dose, body.frequency, body.asNeeded)},
                 {"previous", previous},
                 {"date", body.effective},
                 {"effects", effectWords(effects)},
                 {"sentences", sentences}});
  Notice n = ev.make(kRuleManagedEffect, NoticePriority::kRoutine, std::move(text), body.effective);
  n.effects = std::move(effects);
  n.drugs.push_back(body.medication.code);
  ev.notices.push_back(std::move(n));
}

// The record's drug when this record put it newly on the list (not for
// entered-in-error), else nullptr.
const MedicationEntry* newlyListed(const Eval& ev, const std::string& drug) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  if (body.action == MedicationAction::kEnteredInError || ev.before.find(drug) != nullptr) {
    return nullptr;
  }
  return ev.after.find(drug);
}

// An entry in a sentence; a drug this `continue` put newly on the list is
// labelled as a reconciled outside medication.
std::string labelledEntryText(const Eval& ev, const MedicationEntry& e) {
  std::string out = entryText(ev.tables, e);
  if (ev.record.medicationChange()->action == MedicationAction::kContinue &&
      newlyListed(ev, e.drug) != nullptr) {
    out += " (a reconciled outside medication, continued by the pain center)";
  }
  return out;
}

std::string labelledNames(const Eval& ev, const std::vector<const MedicationEntry*>& es) {
  std::vector<std::string> words;
  for (const MedicationEntry* e : es) words.push_back(labelledEntryText(ev, *e));
  return joinWords(words);
}

// True when the urgent notice was produced.
bool opioidSedativeRule(Eval& ev, const std::string& drug) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  Combination was = combinationOf(ev.before, ev.tables, ev.settings);
  Combination now = combinationOf(ev.after, ev.tables, ev.settings);
  bool touched = isOpioid(ev.tables, drug) || isSedative(ev.tables, ev.settings, drug);
  // A drug of either group newly on the list (start, or continue of a drug
  // the list did not hold) while the combination already existed.
  const MedicationEntry* joined = touched && was.active() ? newlyListed(ev, drug) : nullptr;
  bool raised =
      body.action == MedicationAction::kStart || ((body.action == MedicationAction::kDoseChange ||
                                                   body.action == MedicationAction::kTaperStep) &&
                                                  isRaise(body, ev.before.find(drug)));
  bool changed = body.action != MedicationAction::kContinue &&
                 (raised || ev.settings.sedativeAlertOnEveryChange);
  if (now.active() && ev.settings.enabled(kRuleOpioidSedative) &&
      (!was.active() || joined != nullptr || (touched && changed))) {
    bool naloxone = std::any_of(ev.after.entries().begin(), ev.after.entries().end(),
                                [&](const MedicationEntry& e) {
                                  return hasClass(ev.tables, e.drug, ev.settings.naloxoneClass);
                                });
    std::string naloxoneText =
        ev.render(kRuleOpioidSedative, naloxone ? "naloxone-on-list" : "naloxone-missing", {});
    std::string text =
        ev.render(kRuleOpioidSedative, joined != nullptr ? "joined" : "alert",
                  {{"joined", joined != nullptr ? labelledEntryText(ev, *joined) : std::string()},
                   {"opioids", labelledNames(ev, now.opioids)},
                   {"sedatives", labelledNames(ev, now.sedatives)},
                   {"date", body.effective},
                   {"naloxone", naloxoneText},
                   {"mme", mmeText(dailyMme(ev.after, ev.tables))}});
    Notice n =
        ev.make(kRuleOpioidSedative, NoticePriority::kUrgent, std::move(text), body.effective);
    n.joined = joined != nullptr;
    n.effects.push_back(Effect::kSedation);
    for (const MedicationEntry* e : now.opioids) n.drugs.push_back(e->drug);
    for (const MedicationEntry* e : now.sedatives) n.drugs.push_back(e->drug);
    ev.notices.push_back(std::move(n));
    return true;
  }
  if (was.active() && !now.active() && ev.settings.enabled(kRuleOpioidSedativeEnded)) {
    std::string change = drugName(ev.tables, drug);
    change += body.action == MedicationAction::kEnteredInError ? " was withdrawn (entered in error)"
                                                               : " was stopped";
    std::vector<const MedicationEntry*> remaining = now.opioids;
    remaining.insert(remaining.end(), now.sedatives.begin(), now.sedatives.end());
    std::string text = ev.render(
        kRuleOpioidSedativeEnded, "ended",
        {{"opioids", namesOf(ev.tables, was.opioids)},
         {"sedatives", namesOf(ev.tables, was.sedatives)},
         {"date", body.effective},
         {"change", change},
         {"remaining", remaining.empty() ? std::string("none") : namesOf(ev.tables, remaining)}});
    Notice n = ev.make(kRuleOpioidSedativeEnded, NoticePriority::kRoutine, std::move(text),
                       body.effective);
    n.effects.push_back(Effect::kSedation);
    n.drugs.push_back(drug);
    ev.notices.push_back(std::move(n));
  }
  return false;
}

// The current total with an unknown earlier one: what it is, no crossing.
void mmeUnknownBeforeNotice(Eval& ev, double a) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  std::vector<std::string> reached;
  for (double t : ev.settings.mmeThresholds) {
    if (a >= t) reached.push_back(formatMme(t));
  }
  if (reached.empty()) return;
  bool urgent =
      a >= ev.settings.mmeUrgentFrom && combinationOf(ev.after, ev.tables, ev.settings).active();
  std::string text = ev.render(kRuleMmeThreshold, "unknown-before",
                               {{"after", formatMme(a)},
                                {"thresholds", joinWords(reached)},
                                {"date", body.effective},
                                {"since", ev.after.startedOn()}});
  Notice n = ev.make(kRuleMmeThreshold, urgent ? NoticePriority::kUrgent : NoticePriority::kRoutine,
                     std::move(text), body.effective);
  for (const MedicationEntry& e : ev.after.entries()) {
    if (isOpioid(ev.tables, e.drug)) n.drugs.push_back(e.drug);
  }
  ev.notices.push_back(std::move(n));
}

void mmeThresholdRule(Eval& ev) {
  if (!ev.settings.enabled(kRuleMmeThreshold)) return;
  const MedicationChangeBody& body = *ev.record.medicationChange();
  std::optional<double> b;
  if (ev.baseline.totalKnown) b = dailyMme(ev.baseline.list, ev.tables).value();
  std::optional<double> a = dailyMme(ev.after, ev.tables).value();
  if (!a) return;
  if (!b) {
    if (isOpioid(ev.tables, changedDrug(ev))) mmeUnknownBeforeNotice(ev, *a);
    return;
  }
  std::vector<std::string> up;
  std::vector<std::string> down;
  bool urgent = false;
  for (double t : ev.settings.mmeThresholds) {
    if (*b < t && *a >= t) {
      up.push_back(formatMme(t));
      urgent = urgent || t >= ev.settings.mmeUrgentFrom;
    } else if (*b >= t && *a < t) {
      down.push_back(formatMme(t));
    }
  }
  if (up.empty() && down.empty()) return;
  bool rising = !up.empty();
  std::string text = ev.render(kRuleMmeThreshold, rising ? "up" : "down",
                               {{"before", formatMme(*b)},
                                {"after", formatMme(*a)},
                                {"thresholds", joinWords(rising ? up : down)},
                                {"date", body.effective}});
  Notice n = ev.make(kRuleMmeThreshold, urgent ? NoticePriority::kUrgent : NoticePriority::kRoutine,
                     std::move(text), body.effective);
  for (const MedicationEntry& e : ev.after.entries()) {
    if (isOpioid(ev.tables, e.drug)) n.drugs.push_back(e.drug);
  }
  ev.notices.push_back(std::move(n));
}

void taperStepRule(Eval& ev) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  if (body.action != MedicationAction::kTaperStep || !ev.settings.enabled(kRuleTaperStep)) return;
  std::string previous = ev.previousText(body, "previous dose not recorded");
  const std::string unknown = "not given";
  std::string text = ev.render(
      kRuleTaperStep, "step",
      {{"drug", drugName(ev.tables, body.medication.code)},
       {"step", body.taper ? std::to_string(body.taper->step) : std::string("(not numbered)")},
       {"of", body.taper ? std::to_string(body.taper->of) : std::string("(not given)")},
       {"previous", previous},
       {"dose", doseText(ev.tables, body.dose, body.frequency, body.asNeeded)},
       {"date", body.effective},
       {"mme", mmeText(dailyMme(ev.after, ev.tables))},
       {"target", body.taper && body.taper->targetDailyMme
                      ? body.taper->targetDailyMme->text + " MME/day"
                      : unknown},
       {"next", body.taper && body.taper->nextStepOn ? *body.taper->nextStepOn : unknown}});
  Notice n = ev.make(kRuleTaperStep, NoticePriority::kRoutine, std::move(text), body.effective);
  n.effects.push_back(Effect::kMood);
  n.drugs.push_back(body.medication.code);
  ev.notices.push_back(std::move(n));
}

void mmeMismatchFlag(Eval& ev, std::size_t first) {
  const MedicationChangeBody& body = *ev.record.medicationChange();
  if (!body.dailyMme || body.action == MedicationAction::kEnteredInError) return;
  if (!ev.settings.enabled(kRuleMmeMismatch)) return;
  MmeTotal total = dailyMme(ev.after, ev.tables);
  if (!total.complete()) return;
  double reported = body.dailyMme->value;
  double diff = std::fabs(reported - total.computed);
  double relative = ev.settings.mismatchPercent / 100.0 * std::max(reported, total.computed);
  if (diff <= ev.settings.mismatchMme || diff <= relative) return;
  std::string flag =
      ev.render(kRuleMmeMismatch, "flag",
                {{"reported", body.dailyMme->text}, {"computed", formatMme(total.computed)}});
  for (std::size_t i = first; i < ev.notices.size(); ++i) {
    ev.notices[i].text += ' ';
    ev.notices[i].text += flag;
    ev.notices[i].mmeMismatch = true;
  }
}

bool isDiabetes(const Condition& c, const SafetySettings& s) {
  if (c.icd10) {
    std::string code = lowerAscii(*c.icd10);
    for (const std::string& p : s.diabetesIcd10Prefixes) {
      std::string prefix = lowerAscii(p);
      if (code.compare(0, prefix.size(), prefix) == 0) return true;
    }
  }
  std::string text = lowerAscii(c.text);
  for (const std::string& w : s.diabetesWords) {
    if (!w.empty() && text.find(lowerAscii(w)) != std::string::npos) return true;
  }
  return false;
}

void steroidGlucoseRule(Eval& ev) {
  if (!ev.settings.enabled(kRuleSteroidGlucose)) return;
  const CarePlanBody& plan = *ev.record.carePlan();
  const Condition* diabetes = nullptr;
  for (const Condition& c : plan.conditions) {
    if (isDiabetes(c, ev.settings)) {
      diabetes = &c;
      break;
    }
  }
  if (diabetes == nullptr) return;
  if (plan.program.status == ProgramStatus::kEnteredInError ||
      plan.program.status == ProgramStatus::kCancelled) {
    return;
  }
  for (const Activity& a : plan.activities) {
    const ActivityType* type = ev.tables.findActivity(a.type);
    if (type == nullptr) continue;
    const EffectNote* glucose = nullptr;
    for (const EffectNote& n : type->effects) {
      if (n.effect == Effect::kGlucose) glucose = &n;
    }
    if (glucose == nullptr) continue;
    ActivityStatus status = a.status.value_or(ActivityStatus::kScheduled);
    std::string key;
    if (status == ActivityStatus::kScheduled || status == ActivityStatus::kInProgress) {
      key = "scheduled";
    } else if (status == ActivityStatus::kCompleted) {
      key = "done";
    } else {
      continue;
    }
    std::string date;
    if (a.scheduled) {
      date = a.scheduled->substr(0, 10);
    } else if (a.period && a.period->start) {
      date = *a.period->start;
    }
    std::string condition = diabetes->text;
    if (diabetes->icd10) condition += ", ICD-10 " + *diabetes->icd10;
    std::string text = ev.render(kRuleSteroidGlucose, key,
                                 {{"activity", a.description && !a.description->empty()
                                                   ? type->display + " (" + *a.description + ")"
                                                   : type->display},
                                  {"date", date.empty() ? std::string("a date not yet set") : date},
                                  {"condition", condition},
                                  {"sentence", glucose->message}});
    Notice n = ev.make(kRuleSteroidGlucose, NoticePriority::kRoutine, std::move(text), date);
    n.effects.push_back(Effect::kGlucose);
    // One Communication per injection and date, whatever the plan version.
    n.key = ev.record.recordId + "/" + a.activityId + "/" + (date.empty() ? "undated" : date) +
            "/" + std::string(kRuleSteroidGlucose);
    ev.notices.push_back(std::move(n));
  }
}

}  // namespace

const char* noticePriorityCode(NoticePriority priority) {
  return priority == NoticePriority::kUrgent ? "urgent" : "routine";
}

std::vector<Notice> evaluate(const MedicationList& before, const MedicationList& after,
                             const PlanRecord& record, const MappingTables& tables,
                             const SafetySettings& settings) {
  const Baseline baseline = baselineOf(before, record, tables);
  Eval ev{before, after, record, tables, settings, baseline, {}};
  if (record.carePlan()) {
    steroidGlucoseRule(ev);
    return std::move(ev.notices);
  }
  const MedicationChangeBody* body = record.medicationChange();
  if (body == nullptr) return {};
  std::string drug = changedDrug(ev);
  if (body->action == MedicationAction::kEnteredInError) {
    correctionRule(ev);
    opioidSedativeRule(ev, drug);
    mmeThresholdRule(ev);
    prefixChange(ev, 0, kRuleMmeThreshold, false);
    return std::move(ev.notices);
  }
  // The combination notice is decided first: it takes over the sedation
  // sentence of the managed-effect notice, which still comes first.
  Eval combination{before, after, record, tables, settings, baseline, {}};
  bool urgent = opioidSedativeRule(combination, drug);
  managedEffectRule(ev, urgent);
  for (Notice& n : combination.notices) ev.notices.push_back(std::move(n));
  mmeThresholdRule(ev);
  taperStepRule(ev);
  prefixChange(ev, 0, kRuleOpioidSedative, true);
  prefixChange(ev, 0, kRuleMmeThreshold, false);
  mmeMismatchFlag(ev, 0);
  return std::move(ev.notices);
}

SafetyStep applyAndEvaluate(const MedicationList& list, const PlanRecord& record,
                            const MappingTables& tables) {
  SafetyStep step;
  const SafetySettings& settings = tables.safetySettingsFor(record.pcp.practiceId);
  if (record.carePlan()) {
    step.list = list;
    step.notices = evaluate(list, list, record, tables, settings);
    return step;
  }
  if (!record.medicationChange()) {
    step.list = list;
    return step;
  }
  fhir::Result<MedicationList> after = applyRecord(list, record, tables);
  if (!after.isOk()) {
    step.list = list;
    step.status = after.status();
    return step;
  }
  step.list = std::move(after).value();
  step.notices = evaluate(list, step.list, record, tables, settings);
  std::vector<std::string> rules;
  for (const Notice& n : step.notices) rules.push_back(n.ruleId);
  step.list.noteNotices(record.recordId, record.version, rules);
  return step;
}

}  // namespace inloop::mappings
