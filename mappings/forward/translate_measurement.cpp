// measurement -> Observation (docs/mapping.md, "Measurement").
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>

#include "mappings/conventions.h"
#include "mappings/forward/logical_id.h"
#include "mappings/forward/narrative.h"
#include "mappings/forward/translate_internal.h"

namespace inloop::mappings::translate_detail {

namespace {

std::string_view methodWords(std::string_view method) {
  if (method == "clinic") return "measured in clinic";
  if (method == "patient-reported") return "patient-reported";
  if (method == "remote-monitoring") return "remote monitoring";
  return method;
}

std::string_view absentWords(std::string_view absent) {
  if (absent == "not-performed") return "not performed";
  if (absent == "patient-declined") return "patient declined";
  if (absent == "unable") return "patient unable to perform";
  return absent;
}

// A panel total as text: at most 2 decimals, trailing zeros dropped
// (6.333... -> "6.33", 6.5 -> "6.5", 6 -> "6").
std::string totalText(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", std::round(v * 100.0) / 100.0);
  std::string s(buf);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

Json measureCode(const Measure& m) {
  return codeableConcept(coding(m.coding.system, m.coding.code, m.coding.display), m.display);
}

}  // namespace

void translateMeasurement(Context& ctx) {
  const PlanRecord& r = ctx.record;
  const MeasurementBody& m = *r.measurement();
  std::optional<Measure> measure = findMeasureOrError(ctx, m.measure, "$.measure");
  if (!measure) return;

  NarrativeBuilder narrative("Measurement: " + measure->display);

  // Value, components or the reason for no value.
  std::optional<MeasuredValue> value;
  Json components = Json::array();
  std::string componentWords;
  std::string_view absent = m.absent ? toWire(*m.absent) : std::string_view();
  if (m.value) {
    if (!measure->valueAllowed) {
      addError(&ctx.issues, "structure", "$.value",
               "measure \"" + measure->code +
                   "\" is a panel without a value of its own; send "
                   "its components (" +
                   listOf(measure->components, [](const std::string& c) { return c; }) + ")");
    } else {
      value = measureValue(ctx, *measure, m.value->text, m.unit ? *m.unit : std::string(),
                           "$.value", "$.unit");
    }
  } else if (!m.components.empty()) {
    if (measure->components.empty()) {
      addError(&ctx.issues, "structure", "$.components",
               "measure \"" + measure->code + "\" is not a panel; send a value");
      return;
    }
    if (m.unit) {
      addError(&ctx.issues, "structure", "$.unit",
               "a panel has no unit of its own; give each component's unit");
    }
    std::vector<bool> seen(measure->components.size(), false);
    double sum = 0;
    bool ok = true;
    for (std::size_t i = 0; i < m.components.size(); ++i) {
      const auto& c = m.components[i];
      std::string path = "$.components[" + std::to_string(i) + "]";
      std::size_t slot = measure->components.size();
      for (std::size_t k = 0; k < measure->components.size(); ++k) {
        if (measure->components[k] == c.measure) slot = k;
      }
      if (slot == measure->components.size()) {
        ok = false;
        addError(&ctx.issues, "code-invalid", path + ".measure",
                 "\"" + c.measure + "\" is not a component of \"" + measure->code +
                     "\"; its components: " +
                     listOf(measure->components, [](const std::string& x) { return x; }));
        continue;
      }
      if (seen[slot]) {
        ok = false;
        addError(&ctx.issues, "duplicate", path + ".measure",
                 "component \"" + c.measure + "\" given twice");
        continue;
      }
      seen[slot] = true;
      std::optional<Measure> cm = findMeasureOrError(ctx, c.measure, path + ".measure");
      if (!cm) {
        ok = false;
        continue;
      }
      std::optional<MeasuredValue> cv =
          measureValue(ctx, *cm, c.value.text, c.unit ? *c.unit : std::string(), path + ".value",
                       path + ".unit");
      if (!cv) {
        ok = false;
        continue;
      }
      sum += cv->canonicalValue;
      Json comp = Json::object();
      add(comp, "code", measureCode(*cm));
      add(comp, "valueQuantity", quantity(cv->sent, *cv->sentUnit));
      components.push(std::move(comp));
      if (!componentWords.empty()) componentWords += "; ";
      componentWords += cm->display + ": " + quantityWords(cv->sent, *cv->sentUnit);
    }
    for (std::size_t k = 0; k < seen.size(); ++k) {
      if (!seen[k] && ok) {
        ok = false;
        addError(
            &ctx.issues, "required", "$.components",
            "missing component \"" + measure->components[k] + "\" of \"" + measure->code + "\"");
      }
    }
    if (!ok) return;
    if (measure->total != PanelTotal::kNone && measure->valueAllowed) {
      double total = measure->total == PanelTotal::kMean
                         ? sum / static_cast<double>(measure->components.size())
                         : sum;
      MeasuredValue mv;
      mv.canonical = totalText(total);
      mv.canonicalValue = total;
      mv.sent = mv.canonical;
      mv.sentUnit = ctx.tables.findUnit(measure->unit);
      if (mv.sentUnit != nullptr) value = std::move(mv);
    }
  } else if (absent.empty()) {
    addError(&ctx.issues, "required", "$", "a measurement needs a value, components or absent");
  }
  if (fhir::hasErrors(ctx.issues)) return;

  const std::string& ns = ctx.tables.namespaces.record;
  Json obs = objectWithRoom(20);
  add(obs, "resourceType", str("Observation"));
  add(obs, "id", Json::string(logicalId(kIdPrefixObservation, r.recordId)));
  add(obs, "meta", meta(ctx));

  // Narrative rows, in the order a physician reads them.
  if (value) narrative.row("Result", quantityWords(value->sent, *value->sentUnit));
  if (!componentWords.empty()) narrative.row(value ? "Items" : "Result", componentWords);
  if (!absent.empty()) narrative.row("Result", "no value: " + std::string(absentWords(absent)));
  narrative.row("Measured", m.effective);
  narrative.row("Status", toWire(m.status));
  if (m.method) narrative.row("Method", methodWords(toWire(*m.method)));
  narrative.row("Performed by", clinicianWords(m.performer ? *m.performer : r.author));
  if (r.planId) narrative.row("Care plan", *r.planId);
  if (m.goalId) narrative.row("Goal", *m.goalId);
  narrative.row("Record", r.recordId + " version " + std::to_string(r.version) +
                              (r.version > 1 ? " (updates an earlier version)" : ""));
  if (hasText(r.note)) narrative.paragraph("Note", *r.note);
  add(obs, "text", narrativeText(narrative.finish()));

  Json ext = Json::array();
  ext.push(versionExtension(ctx));
  if (m.goalId) {
    ext.push(extension(
        ctx, kExtGoal, "valueReference",
        logicalReference(ctx, "Goal", goalIdentifierValue(r.planId ? *r.planId : "", *m.goalId))));
  }
  add(obs, "extension", std::move(ext));
  add(obs, "identifier", array1(identifier(ns, r.recordId)));
  if (r.planId) add(obs, "basedOn", array1(logicalReference(ctx, "CarePlan", *r.planId)));
  add(obs, "status", str(toWire(m.status)));
  add(obs, "category",
      array1(codeableConcept(
          coding(kObservationCategorySystem, measureCategoryCode(measure->category)), {})));
  add(obs, "code", measureCode(*measure));
  add(obs, "subject", subjectReference(ctx));
  add(obs, "effectiveDateTime", str(m.effective));
  add(obs, "issued", str(r.recordedAt));
  add(obs, "performer", array1(clinicianReference(m.performer ? *m.performer : r.author)));
  if (value) add(obs, "valueQuantity", quantity(value->sent, *value->sentUnit));
  if (!absent.empty()) {
    std::string_view code = toFhirCode(kAbsentReasons, absent);
    Json reason = Json::object();
    add(reason, "coding", array1(coding(kDataAbsentReasonSystem, code)));
    add(reason, "text", str(code == "as-text" ? kUnableText : absentWords(absent)));
    add(obs, "dataAbsentReason", std::move(reason));
  }
  if (hasText(r.note)) add(obs, "note", array1(textConcept(*r.note)));
  if (m.method) {
    std::string text(methodWords(toWire(*m.method)));
    text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
    add(obs, "method",
        codeableConcept(
            coding(localCodeSystem(ctx.tables.namespaces, kCsMeasurementMethod), toWire(*m.method)),
            text));
  }
  if (components.size() > 0) add(obs, "component", std::move(components));
  addEntry(ctx, "Observation", r.recordId, std::move(obs));
}

}  // namespace inloop::mappings::translate_detail
