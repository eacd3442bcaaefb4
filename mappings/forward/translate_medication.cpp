// medication-change -> MedicationStatement or MedicationRequest
// (docs/mapping.md, "Medication change").
#include <string>

#include "mappings/conventions.h"
#include "mappings/forward/logical_id.h"
#include "mappings/forward/narrative.h"
#include "mappings/forward/translate_internal.h"

namespace inloop::mappings::translate_detail {

namespace {

std::string_view routeWords(std::string_view route) {
  if (route == "oral") return "by mouth";
  if (route == "transdermal") return "on the skin (transdermal)";
  if (route == "sublingual") return "under the tongue";
  if (route == "topical") return "topically";
  if (route == "injection") return "by injection";
  return route;
}

std::string_view actionWords(std::string_view action) {
  if (action == "start") return "Start";
  if (action == "dose-change") return "Dose change";
  if (action == "taper-step") return "Taper step";
  if (action == "stop") return "Stop";
  if (action == "continue") return "Continue";
  if (action == "entered-in-error") return "Entered in error (disregard)";
  return action;
}

Json mmeQuantity(std::string_view value) {
  Json o = Json::object();
  add(o, "value", Json::numberText(std::string(value)));
  add(o, "unit", str(kMmeUnitDisplay));
  add(o, "system", str(kUcumSystem));
  add(o, "code", str(kMmeUcum));
  return o;
}

// A dose: the unit must be one the drug allows.
const Unit* doseUnit(Context& ctx, const Drug& drug, std::string_view unit,
                     const std::string& path) {
  bool allowed = false;
  for (const std::string& u : drug.doseUnits) allowed = allowed || u == unit;
  const Unit* found = ctx.tables.findUnit(unit);
  if (!allowed || found == nullptr) {
    addError(&ctx.issues, "code-invalid", path,
             "unit \"" + std::string(unit) + "\" is not a dose unit of \"" + drug.code +
                 "\"; allowed: " + listOf(drug.doseUnits, [](const std::string& u) { return u; }));
    return nullptr;
  }
  return found;
}

}  // namespace

void translateMedicationChange(Context& ctx) {
  const PlanRecord& r = ctx.record;
  const MedicationChangeBody& m = *r.medicationChange();
  const std::string_view action = toWire(m.action);
  const Namespaces& ns = ctx.tables.namespaces;
  const bool asRequest = ctx.options.medicationAs == MedicationAs::kRequest;

  const Drug* drug = ctx.tables.findDrug(m.medication.code);
  if (drug == nullptr) {
    addError(&ctx.issues, "code-invalid", "$.medication.code",
             "unknown drug code \"" + m.medication.code +
                 "\"; known: " + listOf(ctx.tables.drugs, [](const Drug& d) { return d.code; }));
    return;
  }
  std::string_view status =
      toFhirCode(asRequest ? kMedicationRequestStatuses : kMedicationStatementStatuses, action);
  const Unit* unit = m.dose ? doseUnit(ctx, *drug, m.dose->unit, "$.dose.unit") : nullptr;
  const Unit* prevUnit =
      m.previousDose ? doseUnit(ctx, *drug, m.previousDose->unit, "$.previousDose.unit") : nullptr;
  if (fhir::hasErrors(ctx.issues)) return;

  const std::string& display =
      hasText(m.medication.display) ? *m.medication.display : drug->display;

  // Plain words of the dosage: "30 mg by mouth 2 times per day, as needed".
  std::string doseText;
  if (m.dose) doseText = quantityWords(m.dose->value.text, *unit);
  if (m.route) {
    if (!doseText.empty()) doseText += ' ';
    doseText += routeWords(toWire(*m.route));
  }
  if (m.frequency) {
    if (!doseText.empty()) doseText += ' ';
    if (m.frequency->isText()) {
      doseText += m.frequency->text;
    } else {
      doseText += std::to_string(m.frequency->count);
      doseText += m.frequency->count == 1 ? " time per " : " times per ";
      doseText += toWire(m.frequency->per);
    }
  }
  if (m.asNeeded && *m.asNeeded) doseText += doseText.empty() ? "as needed" : ", as needed";

  std::string taperText;
  if (m.taper) {
    taperText = "step " + std::to_string(m.taper->step) + " of " + std::to_string(m.taper->of);
    if (m.taper->targetDailyMme) {
      taperText += "; target " + m.taper->targetDailyMme->text + " mg/day morphine equivalent";
    }
    if (m.taper->nextStepOn) taperText += "; next step on " + *m.taper->nextStepOn;
  }

  NarrativeBuilder narrative(std::string("Medication change: ") + std::string(actionWords(action)) +
                             " " + display);
  narrative.row("Medication", display);
  narrative.row("Change", actionWords(action));
  narrative.row("Dose", doseText);
  if (m.previousDose) {
    narrative.row("Previous dose", quantityWords(m.previousDose->value.text, *prevUnit));
  }
  narrative.row(m.action == MedicationAction::kStop ? "Stopped on" : "Effective", m.effective);
  if (hasText(m.reason)) narrative.row("Reason", *m.reason);
  if (m.dailyMme) narrative.row("Daily MME after the change", m.dailyMme->text + " mg/day");
  if (m.taper) narrative.row("Taper", taperText);
  narrative.row("Prescriber", clinicianWords(m.prescriber));
  if (r.planId) narrative.row("Care plan", *r.planId);
  narrative.row("Record", r.recordId + " version " + std::to_string(r.version) +
                              (r.version > 1 ? " (updates an earlier version)" : ""));
  // What primary care manages and may have to act on.
  for (const std::string& cls : drug->classes) {
    const DrugClass* dc = ctx.tables.findDrugClass(cls);
    if (dc == nullptr) continue;
    for (const EffectNote& e : dc->effects) narrative.paragraph("For primary care", e.message);
  }
  if (hasText(r.note)) narrative.paragraph("Note", *r.note);

  // Dosage (statement) / dosageInstruction (request).
  Json dosage = Json::object();
  bool haveDosage = m.dose || m.frequency || m.route || m.asNeeded || m.previousDose;
  if (haveDosage) {
    if (m.previousDose) {
      add(dosage, "extension",
          array1(extension(ctx, kExtPreviousDose, "valueQuantity",
                           quantity(m.previousDose->value.text, *prevUnit))));
    }
    if (!doseText.empty()) add(dosage, "text", str(doseText));
    Json timing = Json::object();
    if (m.frequency && !m.frequency->isText()) {
      Json repeat = Json::object();
      if (asRequest) {
        Json bounds = Json::object();
        add(bounds, m.action == MedicationAction::kStop ? "end" : "start", str(m.effective));
        add(repeat, "boundsPeriod", std::move(bounds));
      }
      add(repeat, "frequency", Json::number(m.frequency->count));
      add(repeat, "period", Json::number(std::int64_t{1}));
      add(repeat, "periodUnit", str(m.frequency->per == FrequencyPer::kWeek ? "wk" : "d"));
      add(timing, "repeat", std::move(repeat));
    } else if (asRequest) {
      Json repeat = Json::object();
      Json bounds = Json::object();
      add(bounds, m.action == MedicationAction::kStop ? "end" : "start", str(m.effective));
      add(repeat, "boundsPeriod", std::move(bounds));
      add(timing, "repeat", std::move(repeat));
    }
    if (m.frequency && m.frequency->isText()) add(timing, "code", textConcept(m.frequency->text));
    if (timing.size() > 0) add(dosage, "timing", std::move(timing));
    if (m.asNeeded) add(dosage, "asNeededBoolean", Json::boolean(*m.asNeeded));
    if (m.route) add(dosage, "route", textConcept(routeWords(toWire(*m.route))));
    if (m.dose) {
      Json dr = Json::object();
      add(dr, "doseQuantity", quantity(m.dose->value.text, *unit));
      add(dosage, "doseAndRate", array1(std::move(dr)));
    }
  }

  Json res = objectWithRoom(20);
  add(res, "resourceType", str(asRequest ? "MedicationRequest" : "MedicationStatement"));
  add(res, "id",
      Json::string(logicalId(asRequest ? kIdPrefixMedicationRequest : kIdPrefixMedicationStatement,
                             r.recordId)));
  add(res, "meta", meta(ctx));
  add(res, "text", narrativeText(narrative.finish()));
  Json ext = Json::array();
  ext.push(versionExtension(ctx));
  ext.push(extension(ctx, kExtMedicationAction, "valueCode", str(action)));
  if (m.route) ext.push(extension(ctx, kExtRoute, "valueCode", str(toWire(*m.route))));
  if (m.dailyMme)
    ext.push(extension(ctx, kExtDailyMme, "valueQuantity", mmeQuantity(m.dailyMme->text)));
  if (m.taper) {
    Json parts = Json::array();
    parts.push(subExtension(kExtTaperStep, "valuePositiveInt", Json::number(m.taper->step)));
    parts.push(subExtension(kExtTaperOf, "valuePositiveInt", Json::number(m.taper->of)));
    if (m.taper->targetDailyMme) {
      parts.push(subExtension(kExtTaperTargetDailyMme, "valueQuantity",
                              mmeQuantity(m.taper->targetDailyMme->text)));
    }
    if (m.taper->nextStepOn) {
      parts.push(subExtension(kExtTaperNextStepOn, "valueDate", str(*m.taper->nextStepOn)));
    }
    Json t = Json::object();
    add(t, "url", Json::string(extensionUrl(ns, kExtTaper)));
    add(t, "extension", std::move(parts));
    ext.push(std::move(t));
  }
  add(res, "extension", std::move(ext));
  add(res, "identifier", array1(identifier(ns.record, r.recordId)));

  Json medication = Json::object();
  {
    Json codings = Json::array();
    if (m.medication.rxnorm && !m.medication.rxnorm->empty()) {
      std::string_view rxDisplay;
      if (drug->rxnorm && drug->rxnorm->code == *m.medication.rxnorm) {
        rxDisplay = drug->rxnorm->display;
      }
      codings.push(coding(kRxNormSystem, *m.medication.rxnorm, rxDisplay));
    } else if (drug->rxnorm) {
      codings.push(coding(kRxNormSystem, drug->rxnorm->code, drug->rxnorm->display));
    }
    codings.push(coding(drug->local.system, drug->local.code, drug->local.display));
    add(medication, "coding", std::move(codings));
    add(medication, "text", str(display));
  }
  // The record format allows an empty reason; FHIR forbids empty strings (ele-1).
  const bool hasReason = hasText(m.reason);
  Json reason;
  if (hasReason) reason = array1(textConcept(*m.reason));

  if (asRequest) {
    add(res, "status", str(status));
    add(res, "intent", str("plan"));
    add(res, "reportedBoolean", Json::boolean(true));
    add(res, "medicationCodeableConcept", std::move(medication));
    add(res, "subject", subjectReference(ctx));
    add(res, "authoredOn", str(r.recordedAt));
    add(res, "requester", clinicianReference(m.prescriber));
    if (hasReason) add(res, "reasonCode", std::move(reason));
    if (r.planId) add(res, "basedOn", array1(logicalReference(ctx, "CarePlan", *r.planId)));
    if (hasText(r.note)) add(res, "note", array1(textConcept(*r.note)));
    if (haveDosage) add(res, "dosageInstruction", array1(std::move(dosage)));
    addEntry(ctx, "MedicationRequest", r.recordId, std::move(res));
    return;
  }
  if (r.planId) add(res, "basedOn", array1(logicalReference(ctx, "CarePlan", *r.planId)));
  add(res, "status", str(status));
  add(res, "medicationCodeableConcept", std::move(medication));
  add(res, "subject", subjectReference(ctx));
  if (m.action == MedicationAction::kStop) {
    Json period = Json::object();
    add(period, "end", str(m.effective));
    add(res, "effectivePeriod", std::move(period));
  } else {
    add(res, "effectiveDateTime", str(m.effective));
  }
  add(res, "dateAsserted", str(r.recordedAt));
  add(res, "informationSource", clinicianReference(m.prescriber));
  if (hasReason) add(res, "reasonCode", std::move(reason));
  if (hasText(r.note)) add(res, "note", array1(textConcept(*r.note)));
  if (haveDosage) add(res, "dosage", array1(std::move(dosage)));
  addEntry(ctx, "MedicationStatement", r.recordId, std::move(res));
}

}  // namespace inloop::mappings::translate_detail
