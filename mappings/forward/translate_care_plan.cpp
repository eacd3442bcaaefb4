// care-plan -> CarePlan + one Goal per goal (docs/mapping.md, "Care plan").
#include <string>

#include "mappings/conventions.h"
#include "mappings/forward/logical_id.h"
#include "mappings/forward/narrative.h"
#include "mappings/forward/translate_internal.h"

namespace inloop::mappings::translate_detail {

namespace {

std::string_view perUnit(std::string_view per) {
  if (per == "day") return "d";
  if (per == "week") return "wk";
  if (per == "month") return "mo";
  return "d";
}

std::string timesPer(std::int64_t count, std::string_view per) {
  std::string s = std::to_string(count);
  s += count == 1 ? " time per " : " times per ";
  s += per;
  return s;
}

// addresses: one display-only Reference per condition, ICD-10-CM in an extension.
Json addresses(const Context& ctx, const CarePlanBody& body) {
  Json list = Json::array();
  for (const auto& c : body.conditions) {
    Json ref = Json::object();
    if (c.icd10 && !c.icd10->empty()) {
      add(ref, "extension",
          array1(extension(ctx, kExtConditionCode, "valueCodeableConcept",
                           codeableConcept(coding(kIcd10CmSystem, *c.icd10), c.text))));
    }
    add(ref, "type", str("Condition"));
    add(ref, "display", str(c.text));
    list.push(std::move(ref));
  }
  return list;
}

// A care-team member: role (and lead) in extensions on the Reference.
Json teamReference(const Context& ctx, const Clinician& c) {
  Json ref = clinicianReference(c);
  Json ext = Json::array();
  if (c.role) {
    ext.push(extension(ctx, kExtCareTeamRole, "valueCode", str(toWire(*c.role))));
  }
  if (c.lead && *c.lead)
    ext.push(extension(ctx, kExtCareTeamLead, "valueBoolean", Json::boolean(true)));
  if (ext.size() == 0) return ref;
  Json out = Json::object();
  add(out, "extension", std::move(ext));
  for (auto& member : ref.members()) out.members().push_back(std::move(member));
  return out;
}

std::string goalWords(const Goal& g, const Measure* measure, const std::string& target,
                      const std::string& comparator, const Unit* unit) {
  std::string s = g.description;
  if (measure != nullptr && unit != nullptr && !target.empty()) {
    s += " (target: " + measure->display + " " + comparator + " " + quantityWords(target, *unit);
    if (g.due) s += " by " + *g.due;
    s += ")";
  } else if (g.due) {
    s += " (by " + *g.due + ")";
  }
  return s;
}

}  // namespace

void translateCarePlan(Context& ctx) {
  const PlanRecord& r = ctx.record;
  const CarePlanBody& body = *r.carePlan();
  const Namespaces& ns = ctx.tables.namespaces;

  // The care-plan status, checked first: everything else hangs off the plan.
  std::string_view status = toFhirCode(kCarePlanStatuses, toWire(body.program.status));
  const bool bundled = body.program.kind == ProgramKind::kBundledProgram;

  Json addressesJson = addresses(ctx, body);
  NarrativeBuilder narrative("Care plan: " + body.program.name);
  narrative.row("Status", toWire(body.program.status));
  narrative.row("Program", bundled ? "bundled program" : "individual (a la carte) services");
  narrative.row("Period",
                body.program.start + (body.program.end ? " to " + *body.program.end : ""));
  if (body.program.nextReassessment)
    narrative.row("Next reassessment", *body.program.nextReassessment);

  // Goals first: the CarePlan and the activities reference their fullUrls.
  std::vector<std::string> goalUrls;
  std::vector<Json> goalResources;
  std::string goalsWords;
  for (std::size_t i = 0; i < body.goals.size(); ++i) {
    const Goal& g = body.goals[i];
    std::string path = "$.goals[" + std::to_string(i) + "]";
    std::string idValue = goalIdentifierValue(r.recordId, g.goalId);
    goalUrls.push_back(fullUrlFor("Goal", ns.record, idValue));

    std::optional<Measure> measure;
    if (g.measure) measure = findMeasureOrError(ctx, *g.measure, path + ".measure");
    std::optional<MeasuredValue> target;
    std::string comparator;
    if (g.target) {
      if (!g.measure) {
        addError(&ctx.issues, "required", path + ".measure",
                 "a goal with a target needs a measure (what the target measures)");
      } else if (measure) {
        target = measureValue(ctx, *measure, g.target->value.text, g.target->unit,
                              path + ".target.value", path + ".target.unit");
        if (g.target->comparator) {
          comparator = toWire(*g.target->comparator);
        } else if (measure->direction == Direction::kHigherIsBetter) {
          comparator = ">=";
        } else if (measure->direction == Direction::kLowerIsBetter) {
          comparator = "<=";
        } else {
          addError(&ctx.issues, "required", path + ".target.comparator",
                   "measure \"" + measure->code +
                       "\" has no better direction: give the target's comparator (<, <=, >=, >)");
        }
      }
    }
    std::optional<MeasuredValue> baseline;
    if (g.baseline) {
      if (!measure) {
        if (!g.measure) {
          addError(&ctx.issues, "required", path + ".measure",
                   "a goal with a baseline value needs a measure");
        }
      } else {
        baseline = measureValue(ctx, *measure, g.baseline->value.text, g.baseline->unit,
                                path + ".baseline.value", path + ".baseline.unit");
      }
    }
    if (fhir::hasErrors(ctx.issues)) continue;

    Json goal = objectWithRoom(16);
    add(goal, "resourceType", str("Goal"));
    add(goal, "id", Json::string(logicalId(kIdPrefixGoal, r.recordId, g.goalId)));
    add(goal, "meta", meta(ctx));
    std::string words = goalWords(g, measure ? &*measure : nullptr, target ? target->sent : "",
                                  comparator, target ? target->sentUnit : nullptr);
    NarrativeBuilder gn("Goal: " + g.description);
    gn.row("Care plan", body.program.name);
    gn.row("Status", g.status ? toWire(*g.status) : std::string_view("active"));
    if (g.achievement) gn.row("Achievement", toWire(*g.achievement));
    if (measure) gn.row("Measure", measure->display);
    if (baseline) {
      gn.row("Baseline", quantityWords(baseline->sent, *baseline->sentUnit) +
                             (g.baseline->date ? " on " + *g.baseline->date : ""));
    } else if (g.baseline && g.baseline->date) {
      gn.row("Baseline date", *g.baseline->date);
    }
    if (target) gn.row("Target", comparator + " " + quantityWords(target->sent, *target->sentUnit));
    if (g.due) gn.row("Due", *g.due);
    gn.row("Set by", clinicianWords(r.author));
    add(goal, "text", narrativeText(gn.finish()));
    if (!goalsWords.empty()) goalsWords += "; ";
    goalsWords += words;

    Json ext = Json::array();
    ext.push(versionExtension(ctx));
    if (g.baseline && (baseline || g.baseline->date)) {
      Json parts = Json::array();
      if (baseline) {
        parts.push(subExtension(kExtGoalBaselineValue, "valueQuantity",
                                quantity(baseline->sent, *baseline->sentUnit)));
      }
      if (g.baseline->date) {
        parts.push(subExtension(kExtGoalBaselineDate, "valueDate", str(*g.baseline->date)));
      }
      Json b = Json::object();
      add(b, "url", Json::string(extensionUrl(ns, kExtGoalBaseline)));
      add(b, "extension", std::move(parts));
      ext.push(std::move(b));
    }
    add(goal, "extension", std::move(ext));
    add(goal, "identifier", array1(identifier(ns.record, idValue)));
    // Without a status the goal is as live as its plan.
    std::string_view lifecycle =
        g.status ? toWire(*g.status)
                 : (body.program.status == ProgramStatus::kDraft ? "proposed" : "active");
    add(goal, "lifecycleStatus", str(lifecycle));
    if (g.achievement) {
      add(goal, "achievementStatus",
          codeableConcept(coding(kGoalAchievementSystem, toWire(*g.achievement)), {}));
    }
    add(goal, "description", textConcept(g.description));
    add(goal, "subject", subjectReference(ctx));
    if (measure || g.due) {
      Json t = Json::object();
      if (measure) {
        add(t, "measure",
            codeableConcept(
                coding(measure->coding.system, measure->coding.code, measure->coding.display),
                measure->display));
      }
      if (target) add(t, "detailQuantity", quantity(target->sent, *target->sentUnit, comparator));
      if (g.due) add(t, "dueDate", str(*g.due));
      add(goal, "target", array1(std::move(t)));
    }
    add(goal, "expressedBy", clinicianReference(r.author));
    if (addressesJson.size() > 0) add(goal, "addresses", addressesJson);
    goalResources.push_back(std::move(goal));
  }

  // Activities.
  Json activities = Json::array();
  std::string activityWords;
  for (std::size_t i = 0; i < body.activities.size(); ++i) {
    const auto& a = body.activities[i];
    std::string path = "$.activities[" + std::to_string(i) + "]";
    const auto* type = ctx.tables.findActivity(a.type);
    if (type == nullptr) {
      addError(&ctx.issues, "code-invalid", path + ".type",
               "unknown activity type \"" + a.type + "\"; known: " +
                   listOf(ctx.tables.activities, [](const auto& x) { return x.code; }));
      continue;
    }
    Json detail = Json::object();
    add(detail, "kind", str(activityKindCode(type->kind)));
    add(detail, "code",
        codeableConcept(coding(type->coding.system, type->coding.code, type->coding.display),
                        type->display));
    if (!a.goals.empty()) {
      Json refs = Json::array();
      for (const std::string& goalId : a.goals) {
        std::size_t k = 0;
        while (k < body.goals.size() && body.goals[k].goalId != goalId) ++k;
        if (k == body.goals.size()) {
          addError(&ctx.issues, "value", path + ".goals",
                   "goal \"" + goalId + "\" is not a goal of this plan");
          continue;
        }
        Json ref = Json::object();
        add(ref, "reference", str(goalUrls[k]));
        refs.push(std::move(ref));
      }
      add(detail, "goal", std::move(refs));
    }
    std::string actStatus(a.status ? toWire(*a.status) : std::string_view("not-started"));
    add(detail, "status", str(actStatus));
    std::string when;
    if (a.frequency || a.period || a.scheduled) {
      Json timing = Json::object();
      if (a.scheduled) {
        add(timing, "event", array1(str(*a.scheduled)));
        when = "on " + *a.scheduled;
      }
      if (a.frequency || a.period) {
        Json repeat = Json::object();
        if (a.period) {
          Json p = Json::object();
          if (a.period->start) add(p, "start", str(*a.period->start));
          if (a.period->end) add(p, "end", str(*a.period->end));
          add(repeat, "boundsPeriod", std::move(p));
        }
        if (a.frequency) {
          add(repeat, "frequency", Json::number(a.frequency->count));
          add(repeat, "period", Json::number(std::int64_t{1}));
          add(repeat, "periodUnit", str(perUnit(toWire(a.frequency->per))));
          if (!when.empty()) when += ", ";
          when += timesPer(a.frequency->count, toWire(a.frequency->per));
        }
        if (a.period) {
          if (!when.empty()) when += ", ";
          when += a.period->start.value_or("") + " to " + a.period->end.value_or("");
        }
        add(timing, "repeat", std::move(repeat));
      }
      add(detail, "scheduledTiming", std::move(timing));
    }
    if (a.performer) add(detail, "performer", array1(clinicianReference(*a.performer)));
    // The record format allows an empty description; FHIR forbids empty strings (ele-1).
    const bool hasDescription = hasText(a.description);
    if (hasDescription) add(detail, "description", str(*a.description));
    Json activity = Json::object();
    add(activity, "extension",
        array1(extension(ctx, kExtActivityId, "valueString", str(a.activityId))));
    add(activity, "detail", std::move(detail));
    activities.push(std::move(activity));

    std::string line = type->display;
    if (hasDescription) line += ": " + *a.description;
    line += " [" + actStatus;
    if (!when.empty()) line += "; " + when;
    if (a.performer) line += "; " + clinicianWords(*a.performer);
    line += "]";
    if (!activityWords.empty()) activityWords += "; ";
    activityWords += line;
  }
  if (fhir::hasErrors(ctx.issues)) return;

  // The CarePlan.
  const Clinician* lead = nullptr;
  for (const Clinician& c : body.careTeam) {
    if (c.lead && *c.lead) lead = &c;
  }
  std::string conditionsWords;
  for (const auto& c : body.conditions) {
    if (!conditionsWords.empty()) conditionsWords += "; ";
    conditionsWords += c.text;
    if (c.icd10) conditionsWords += " (ICD-10-CM " + *c.icd10 + ")";
  }
  std::string teamWords;
  for (const Clinician& c : body.careTeam) {
    if (!teamWords.empty()) teamWords += "; ";
    teamWords += clinicianWords(c);
    if (c.lead && *c.lead) teamWords += ", lead";
  }
  narrative.row("Addresses", conditionsWords);
  narrative.row("Lead", clinicianWords(lead ? *lead : r.author));
  narrative.row("Questions", contactWords(r, ctx.tables));
  narrative.row("Care team", teamWords);
  narrative.row("Goals", goalsWords);
  narrative.row("Activities", activityWords);
  narrative.row("Record", r.recordId + " version " + std::to_string(r.version) +
                              (r.version > 1 ? " (updates an earlier version)" : ""));
  if (hasText(r.note)) narrative.paragraph("Note", *r.note);

  Json cp = objectWithRoom(20);
  add(cp, "resourceType", str("CarePlan"));
  add(cp, "id", Json::string(logicalId(kIdPrefixCarePlan, r.recordId)));
  add(cp, "meta", meta(ctx));
  add(cp, "text", narrativeText(narrative.finish()));
  Json ext = Json::array();
  ext.push(versionExtension(ctx));
  if (body.program.nextReassessment) {
    ext.push(
        extension(ctx, kExtNextReassessment, "valueDate", str(*body.program.nextReassessment)));
  }
  add(cp, "extension", std::move(ext));
  add(cp, "identifier", array1(identifier(ns.record, r.recordId)));
  add(cp, "status", str(status));
  add(cp, "intent", str("plan"));
  Json category = Json::array();
  category.push(
      codeableConcept(coding(kUsCoreCarePlanCategorySystem, kUsCoreCarePlanCategoryCode), {}));
  category.push(
      codeableConcept(coding(localCodeSystem(ns, kCsProgramKind), toWire(body.program.kind)),
                      bundled ? "Bundled program" : "A la carte services"));
  add(cp, "category", std::move(category));
  add(cp, "title", str(body.program.name));
  add(cp, "subject", subjectReference(ctx));
  Json period = Json::object();
  add(period, "start", str(body.program.start));
  if (body.program.end) add(period, "end", str(*body.program.end));
  add(cp, "period", std::move(period));
  // The pain center is the plan's author when its contact is configured; the
  // lead stays among the contributors.
  if (std::optional<Json> org = organizationReference(ctx)) {
    add(cp, "author", std::move(*org));
  } else {
    add(cp, "author", lead ? teamReference(ctx, *lead) : clinicianReference(r.author));
  }
  if (!body.careTeam.empty()) {
    Json contributors = Json::array();
    for (const Clinician& c : body.careTeam) contributors.push(teamReference(ctx, c));
    add(cp, "contributor", std::move(contributors));
  }
  if (addressesJson.size() > 0) add(cp, "addresses", std::move(addressesJson));
  if (!goalUrls.empty()) {
    Json refs = Json::array();
    for (const std::string& url : goalUrls) {
      Json ref = Json::object();
      add(ref, "reference", str(url));
      refs.push(std::move(ref));
    }
    add(cp, "goal", std::move(refs));
  }
  if (activities.size() > 0) add(cp, "activity", std::move(activities));
  if (hasText(r.note)) add(cp, "note", array1(textConcept(*r.note)));

  addEntry(ctx, "CarePlan", r.recordId, std::move(cp));
  // Without errors every goal has its resource (goalResources[i] is goal i's)
  // and its fullUrl, made above.
  for (std::size_t i = 0; i < goalResources.size(); ++i) {
    addEntry(ctx, "Goal", goalIdentifierValue(r.recordId, body.goals[i].goalId),
             std::move(goalResources[i]), std::move(goalUrls[i]));
  }
}

}  // namespace inloop::mappings::translate_detail
