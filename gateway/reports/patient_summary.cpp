#include "gateway/reports/patient_summary.h"

#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "gateway/base/clock.h"
#include "mappings/forward/narrative.h"
#include "mappings/record/plan_record.h"
#include "mappings/safety/safety.h"
#include "mappings/tables/tables.h"

namespace inloop::gateway {

using fhir::Json;

namespace {

// Records of one type the summary looks at (the newest first).
constexpr int kRecordsPerType = 500;

Json str(std::string_view s) { return Json::string(std::string(s)); }

// A stored JSON text parsed back, or nullopt.
std::optional<Json> parseStored(const std::string& text) {
  if (text.empty()) return std::nullopt;
  fhir::JsonLimits limits;
  limits.maxBytes = 64u << 20;
  limits.maxElements = 1u << 22;
  fhir::Result<Json> json = fhir::parseJson(text, limits);
  if (!json.isOk()) return std::nullopt;
  return std::move(json).value();
}

// The member `key` of `object` copied, or null.
Json member(const Json& object, std::string_view key) {
  const Json* m = object.find(key);
  return m != nullptr ? *m : Json();
}

std::string quantityText(const mappings::Quantity& q) { return q.value.text + " " + q.unit; }

std::string frequencyText(const mappings::MedicationFrequency& f) {
  if (f.isText()) return f.text;
  return std::to_string(f.count) + " per " + std::string(mappings::toWire(f.per));
}

Json medicationsJson(const mappings::MedicationList& list, const mappings::MappingTables& tables,
                     Json* mme) {
  Json out = Json::array();
  for (const mappings::MedicationEntry& e : list.entries()) {
    Json m = Json::object();
    m.set("drug", str(e.drug));
    if (!e.display.empty()) m.set("display", str(e.display));
    if (e.dose) m.set("dose", str(quantityText(*e.dose)));
    if (e.frequency) m.set("frequency", str(frequencyText(*e.frequency)));
    if (e.route) m.set("route", str(mappings::toWire(*e.route)));
    if (e.asNeeded) m.set("asNeeded", Json::boolean(*e.asNeeded));
    m.set("since", str(e.since));
    m.set("action", str(mappings::toWire(e.action)));
    m.set("recordId", str(e.recordId));
    m.set("version", Json::number(e.version));
    mappings::DrugMme share = mappings::entryMme(e, tables);
    if (share.mme) {
      m.set("dailyMme", Json::numberText(mappings::formatMme(*share.mme)));
    } else if (!share.unknownReason.empty()) {
      m.set("dailyMmeUnknown", str(share.unknownReason));
    }
    out.push(std::move(m));
  }
  mappings::MmeTotal total = mappings::dailyMme(list, tables);
  *mme = Json::object();
  std::optional<double> value = total.value();
  mme->set("total", value ? Json::numberText(mappings::formatMme(*value)) : Json());
  mme->set("computed", Json::numberText(mappings::formatMme(total.computed)));
  mme->set("complete", Json::boolean(total.complete()));
  if (total.reported) {
    mme->set("reported", Json::numberText(mappings::formatMme(*total.reported)));
  }
  return out;
}

// The plan's parts primary care and the patient work with (no names of people).
Json planJson(const PatientRecordRow& row, const Json& record) {
  Json plan = Json::object();
  plan.set("recordId", str(row.recordId));
  plan.set("version", Json::number(row.version));
  plan.set("program", member(record, "program"));
  plan.set("conditions", member(record, "conditions"));
  plan.set("goals", member(record, "goals"));
  plan.set("activities", member(record, "activities"));
  return plan;
}

// "met", "not-met" or "" (cannot tell: no value, other unit, no comparator).
std::string compareToTarget(const Json& measured, const Json& target, const std::string& measure,
                            const mappings::MappingTables& tables) {
  const Json* value = measured.find("value");
  const Json* targetValue = target.find("value");
  const Json* unit = measured.find("unit");
  const Json* targetUnit = target.find("unit");
  if (value == nullptr || !value->isNumber() || targetValue == nullptr ||
      !targetValue->isNumber()) {
    return "";
  }
  if (unit != nullptr && targetUnit != nullptr && unit->isString() && targetUnit->isString() &&
      unit->text() != targetUnit->text()) {
    return "";
  }
  std::string comparator;
  if (const Json* c = target.find("comparator"); c != nullptr && c->isString()) {
    comparator = c->text();
  } else if (std::optional<mappings::Measure> m = tables.findMeasure(measure)) {
    if (m->direction == mappings::Direction::kHigherIsBetter) comparator = ">=";
    if (m->direction == mappings::Direction::kLowerIsBetter) comparator = "<=";
  }
  const std::optional<double> v = value->toDouble();
  const std::optional<double> t = targetValue->toDouble();
  if (!v || !t) return "";
  bool met = false;
  if (comparator == ">=") {
    met = *v >= *t;
  } else if (comparator == ">") {
    met = *v > *t;
  } else if (comparator == "<=") {
    met = *v <= *t;
  } else if (comparator == "<") {
    met = *v < *t;
  } else {
    return "";
  }
  return met ? "met" : "not-met";
}

// The latest measurement of each measure, with the plan's goal for it.
Json measuresJson(const std::vector<PatientRecordRow>& rows, const Json& plan,
                  const mappings::MappingTables& tables, Json* problems) {
  Json out = Json::array();
  std::set<std::string> seen;
  const Json* goals = plan.isObject() ? plan.find("goals") : nullptr;
  for (const PatientRecordRow& row : rows) {  // newest first
    std::optional<Json> record = parseStored(row.recordJson);
    const Json* measure = record ? record->find("measure") : nullptr;
    if (measure == nullptr || !measure->isString()) {
      if (!row.recordJson.empty()) problems->push(str("record " + row.recordId + " unreadable"));
      continue;
    }
    if (!seen.insert(measure->text()).second) continue;
    Json m = Json::object();
    m.set("measure", *measure);
    m.set("recordId", str(row.recordId));
    for (const char* key : {"value", "unit", "components", "effective", "absent"}) {
      if (const Json* v = record->find(key)) m.set(key, *v);
    }
    if (goals != nullptr && goals->isArray()) {
      for (const Json& goal : goals->items()) {
        const Json* gm = goal.find("measure");
        if (gm == nullptr || !gm->isString() || gm->text() != measure->text()) continue;
        Json g = Json::object();
        g.set("goalId", member(goal, "goalId"));
        g.set("description", member(goal, "description"));
        g.set("target", member(goal, "target"));
        const Json* target = goal.find("target");
        std::string verdict =
            target != nullptr ? compareToTarget(*record, *target, measure->text(), tables) : "";
        g.set("status", verdict.empty() ? Json() : str(verdict));
        m.set("goal", std::move(g));
        break;
      }
    }
    out.push(std::move(m));
  }
  return out;
}

void appendText(std::string* html, std::string_view tag, std::string_view text) {
  *html +=
      "<" + std::string(tag) + ">" + mappings::escapeXhtml(text) + "</" + std::string(tag) + ">";
}

// A JSON scalar as display text ("" for null, objects and arrays).
std::string scalarText(const Json* v) {
  if (v == nullptr) return "";
  if (v->isString() || v->isNumber()) return v->text();
  if (v->isBool()) return v->asBool() ? "true" : "false";
  return "";
}

// One table: a header row of `columns` (label, member), then one row per item.
void appendTable(std::string* html, const Json* items,
                 const std::vector<std::pair<std::string_view, std::string_view>>& columns) {
  if (items == nullptr || !items->isArray() || items->size() == 0) {
    *html += "<p>None.</p>\n";
    return;
  }
  *html += "<table>\n<tr>";
  for (const auto& column : columns) appendText(html, "th", column.first);
  *html += "</tr>\n";
  for (const Json& item : items->items()) {
    *html += "<tr>";
    for (const auto& column : columns) {
      const Json* v = item.find(column.second);
      std::string text = scalarText(v);
      if (v != nullptr && v->isObject()) {  // a target, or a goal with one: "<= 4 score"
        const Json* target = v->find("target") != nullptr ? v->find("target") : v;
        text = target->isObject() ? scalarText(target->find("comparator")) : "";
        if (!text.empty()) text += " ";
        if (target->isObject()) text += scalarText(target->find("value"));
        if (target->isObject() && target->find("unit") != nullptr) {
          text += " " + scalarText(target->find("unit"));
        }
        if (const std::string status = scalarText(v->find("status")); !status.empty()) {
          text += " (" + status + ")";
        }
      }
      appendText(html, "td", text);
    }
    *html += "</tr>\n";
  }
  *html += "</table>\n";
}

}  // namespace

Json noticesToJson(const std::vector<StoredNotice>& notices) {
  Json out = Json::array();
  for (const StoredNotice& n : notices) {
    Json o = Json::object();
    o.set("recordId", str(n.recordId));
    o.set("version", Json::number(n.version));
    o.set("rule", str(n.ruleId));
    o.set("priority", str(n.priority));
    o.set("date", str(n.date));
    o.set("text", str(n.text));
    o.set("identifier", str(n.key));
    o.set("createdAt", str(formatInstant(n.createdAtMillis)));
    out.push(std::move(o));
  }
  return out;
}

fhir::Result<Json> buildPatientSummary(Store& store, const mappings::MappingTables& tables,
                                       const std::string& mrn) {
  fhir::Result<std::vector<PatientRecordRow>> plans = store.listPatientRecords(mrn, "care-plan", 1);
  if (!plans.isOk()) return plans.status();
  fhir::Result<std::vector<PatientRecordRow>> measurements =
      store.listPatientRecords(mrn, "measurement", kRecordsPerType);
  if (!measurements.isOk()) return measurements.status();
  fhir::Result<MedicationListRow> listRow = store.getMedicationList(mrn);
  if (!listRow.isOk() && listRow.status().code() != fhir::ErrorCode::kNotFound) {
    return listRow.status();
  }
  fhir::Result<std::vector<StoredNotice>> notices =
      store.listPatientNotices(mrn, kSummaryNoticeLimit);
  if (!notices.isOk()) return notices.status();
  if (plans->empty() && measurements->empty() && !listRow.isOk() && notices->empty()) {
    fhir::Result<std::vector<PatientRecordRow>> any = store.listPatientRecords(mrn, "", 1);
    if (!any.isOk()) return any.status();
    if (any->empty()) return fhir::Status(fhir::ErrorCode::kNotFound, "no records of this patient");
  }

  Json problems = Json::array();
  Json summary = Json::object();
  summary.set("mrn", str(mrn));

  mappings::MedicationList list;
  if (listRow.isOk()) {
    std::optional<Json> json = parseStored(listRow->listJson);
    fhir::Result<mappings::MedicationList> parsed =
        json ? mappings::medicationListFromJson(*json)
             : fhir::Result<mappings::MedicationList>(
                   fhir::Status(fhir::ErrorCode::kIoError, "not JSON"));
    if (parsed.isOk()) {
      list = std::move(parsed).value();
    } else {
      problems.push(str("the stored medication list cannot be read: " + parsed.status().message()));
    }
  }
  Json mme;
  summary.set("medications", medicationsJson(list, tables, &mme));
  summary.set("dailyMme", std::move(mme));

  Json plan;
  if (!plans->empty()) {
    std::optional<Json> record = parseStored(plans->front().recordJson);
    if (record) {
      plan = planJson(plans->front(), *record);
    } else {
      problems.push(str("the latest plan " + plans->front().recordId + " is purged or unreadable"));
    }
  }
  summary.set("measures", measuresJson(*measurements, plan, tables, &problems));
  summary.set("plan", std::move(plan));
  summary.set("notices", noticesToJson(*notices));
  if (problems.size() > 0) summary.set("problems", std::move(problems));
  return summary;
}

std::string patientSummaryHtml(const Json& summary) {
  const std::string mrn = scalarText(summary.find("mrn"));
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>Patient summary " +
      mappings::escapeXhtml(mrn) +
      "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:1em auto}"
      "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em;"
      "text-align:left}.urgent{color:#a00;font-weight:bold}</style>\n</head>\n<body>\n";
  appendText(&html, "h1", "Patient " + mrn + ": pain center summary");
  html += "\n";

  appendText(&html, "h2", "Current medications at the pain center");
  appendTable(&html, summary.find("medications"),
              {{"Drug", "drug"},
               {"Medication", "display"},
               {"Dose", "dose"},
               {"Frequency", "frequency"},
               {"Route", "route"},
               {"Since", "since"},
               {"Daily MME", "dailyMme"}});
  if (const Json* mme = summary.find("dailyMme"); mme != nullptr && mme->isObject()) {
    std::string total = scalarText(mme->find("total"));
    const Json* complete = mme->find("complete");
    std::string line = "Total daily MME: " + (total.empty() ? std::string("unknown") : total);
    if (complete != nullptr && complete->isBool() && !complete->asBool()) {
      line += " (incomplete: some opioid doses cannot be converted)";
    }
    appendText(&html, "p", line);
  }

  appendText(&html, "h2", "Plan");
  const Json* plan = summary.find("plan");
  if (plan == nullptr || !plan->isObject()) {
    html += "<p>No plan received.</p>\n";
  } else {
    const Json* program = plan->find("program");
    if (program != nullptr && program->isObject()) {
      appendText(&html, "p",
                 scalarText(program->find("name")) + " (" + scalarText(program->find("status")) +
                     ", " + scalarText(program->find("start")) + " to " +
                     scalarText(program->find("end")) + ")");
    }
    appendText(&html, "h3", "Conditions");
    appendTable(&html, plan->find("conditions"), {{"Condition", "text"}, {"ICD-10", "icd10"}});
    appendText(&html, "h3", "Goals");
    appendTable(
        &html, plan->find("goals"),
        {{"Goal", "description"}, {"Target", "target"}, {"Due", "due"}, {"Status", "status"}});
    appendText(&html, "h3", "Activities");
    appendTable(&html, plan->find("activities"),
                {{"Activity", "type"},
                 {"Description", "description"},
                 {"Status", "status"},
                 {"Scheduled", "scheduled"}});
  }

  appendText(&html, "h2", "Latest measures");
  appendTable(&html, summary.find("measures"),
              {{"Measure", "measure"},
               {"Value", "value"},
               {"Unit", "unit"},
               {"When", "effective"},
               {"Goal target", "goal"}});

  appendText(&html, "h2", "Notices sent to primary care");
  const Json* notices = summary.find("notices");
  if (notices == nullptr || !notices->isArray() || notices->size() == 0) {
    html += "<p>None.</p>\n";
  } else {
    html += "<ul>\n";
    for (const Json& n : notices->items()) {
      const bool urgent = scalarText(n.find("priority")) == "urgent";
      html += urgent ? "<li class=\"urgent\">" : "<li>";
      html += mappings::escapeXhtml(scalarText(n.find("date")) + " [" +
                                    scalarText(n.find("priority")) + ", " +
                                    scalarText(n.find("rule")) + "] " + scalarText(n.find("text")));
      html += "</li>\n";
    }
    html += "</ul>\n";
  }
  if (const Json* problems = summary.find("problems"); problems != nullptr && problems->isArray()) {
    appendText(&html, "h2", "Problems");
    for (const Json& p : problems->items()) appendText(&html, "p", scalarText(&p));
  }
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace inloop::gateway
