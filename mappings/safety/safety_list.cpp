// The medication list: applying medication-change records, undoing them, and
// the list's storage JSON (mappings/safety/safety.h).
#include <algorithm>
#include <utility>

#include "fhir/binding.h"
#include "mappings/record/record_binding.h"
#include "mappings/record/wire_code.h"
#include "mappings/safety/safety.h"

namespace inloop::mappings {

namespace {

using fhir::ErrorCode;
using fhir::Json;
using fhir::Status;

// The list entry a medication-change record makes, with `dose`.
MedicationEntry entryOf(const PlanRecord& record, const MedicationChangeBody& body,
                        std::optional<Quantity> dose) {
  MedicationEntry e;
  e.drug = body.medication.code;
  e.display = body.medication.display.value_or("");
  e.dose = std::move(dose);
  e.frequency = body.frequency;
  e.route = body.route;
  e.asNeeded = body.asNeeded;
  e.since = body.effective;
  e.action = body.action;
  e.recordId = record.recordId;
  e.version = record.version;
  return e;
}

bool isStaleOrReplay(const std::vector<MedicationChange>& history, const PlanRecord& record) {
  for (const MedicationChange& c : history) {
    if (c.recordId == record.recordId && c.version >= record.version) return true;
  }
  return false;
}

}  // namespace

const MedicationEntry* MedicationList::find(std::string_view drug) const {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), drug,
                       [](const MedicationEntry& e, std::string_view d) { return e.drug < d; });
  return it != entries_.end() && it->drug == drug ? &*it : nullptr;
}

const MedicationChange* MedicationList::lastChangeOf(std::string_view recordId) const {
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->recordId == recordId) return &*it;
  }
  return nullptr;
}

void MedicationList::put(MedicationEntry entry) {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), entry.drug,
                       [](const MedicationEntry& e, const std::string& d) { return e.drug < d; });
  if (it != entries_.end() && it->drug == entry.drug) {
    *it = std::move(entry);
  } else {
    entries_.insert(it, std::move(entry));
  }
}

void MedicationList::remove(std::string_view drug) {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), drug,
                       [](const MedicationEntry& e, std::string_view d) { return e.drug < d; });
  if (it != entries_.end() && it->drug == drug) entries_.erase(it);
}

Status MedicationList::apply(const PlanRecord& record, bool isOpioid) {
  const MedicationChangeBody* body = record.medicationChange();
  if (body == nullptr) {
    return Status(ErrorCode::kInvalid, "record " + record.recordId + " is a " +
                                           std::string(toWire(record.recordType())) +
                                           " record, not a medication change");
  }
  if (isStaleOrReplay(history_, record)) {
    return Status(ErrorCode::kConflict, "record " + record.recordId + " version " +
                                            std::to_string(record.version) +
                                            " is not newer than the version already applied");
  }
  if (startedOn_.empty()) startedOn_ = body->effective;
  MedicationChange change;
  change.recordId = record.recordId;
  change.version = record.version;
  change.action = body->action;
  change.drug = body->medication.code;
  change.effective = body->effective;
  change.reportedMmeBefore = reportedDailyMme_;

  if (body->action == MedicationAction::kEnteredInError) {
    // The latest change of this record that is itself a change (not an
    // earlier withdrawal) and not undone yet.
    MedicationChange* target = nullptr;
    for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
      if (it->recordId != record.recordId) continue;
      if (it->action != MedicationAction::kEnteredInError && !it->undoneBy) target = &*it;
      break;
    }
    if (target != nullptr) {
      change.drug = target->drug;
      change.undid = target->version;
      target->undoneBy = record.version;
      const MedicationEntry* current = find(target->drug);
      change.before = current ? std::optional<MedicationEntry>(*current) : std::nullopt;
      bool untouched = (current == nullptr && !target->after) ||
                       (current != nullptr && target->after && *current == *target->after);
      if (untouched) {
        if (target->before) {
          put(*target->before);
        } else {
          remove(target->drug);
        }
        change.restored = true;
        // The reported MME of a withdrawn opioid change no longer holds: back
        // to the value before it when nothing came after, else to the
        // computed total (a later change may have reported its own).
        if (isOpioid) {
          if (target == &history_.back()) {
            reportedDailyMme_ = target->reportedMmeBefore;
          } else {
            reportedDailyMme_.reset();
          }
        }
      }
      const MedicationEntry* now = find(target->drug);
      change.after = now ? std::optional<MedicationEntry>(*now) : std::nullopt;
    }
  } else {
    const MedicationEntry* current = find(body->medication.code);
    change.before = current ? std::optional<MedicationEntry>(*current) : std::nullopt;
    if (body->action == MedicationAction::kStop) {
      remove(body->medication.code);
    } else {
      put(entryOf(record, *body, body->dose));
    }
    const MedicationEntry* now = find(body->medication.code);
    change.after = now ? std::optional<MedicationEntry>(*now) : std::nullopt;
    if (isOpioid) {
      reportedDailyMme_ = body->dailyMme;
    }
  }
  history_.push_back(std::move(change));
  if (history_.size() > kMaxMedicationHistory) {
    history_.erase(
        history_.begin(),
        history_.begin() + static_cast<std::ptrdiff_t>(history_.size() - kMaxMedicationHistory));
  }
  return Status::ok();
}

MedicationList MedicationList::withEarlierState(MedicationEntry entry, bool isOpioid) const {
  MedicationList out = *this;
  out.put(std::move(entry));
  if (isOpioid) out.reportedDailyMme_.reset();
  return out;
}

void MedicationList::noteNotices(std::string_view recordId, std::int64_t version,
                                 const std::vector<std::string>& ruleIds) {
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->recordId == recordId && it->version == version) {
      for (const std::string& r : ruleIds) {
        if (std::find(it->notified.begin(), it->notified.end(), r) == it->notified.end()) {
          it->notified.push_back(r);
        }
      }
      return;
    }
  }
}

namespace {

bool drugIsOpioid(const MappingTables& tables, std::string_view code) {
  const Drug* drug = tables.findDrug(code);
  return drug != nullptr &&
         std::find(drug->classes.begin(), drug->classes.end(), "opioid") != drug->classes.end();
}

}  // namespace

Baseline baselineOf(const MedicationList& before, const PlanRecord& record,
                    const MappingTables& tables) {
  Baseline out;
  out.list = before;
  const MedicationChangeBody* body = record.medicationChange();
  if (body == nullptr || body->action == MedicationAction::kStop ||
      body->action == MedicationAction::kEnteredInError) {
    return out;
  }
  if (const MedicationEntry* e = before.find(body->medication.code)) {
    out.earlier = *e;
    return out;
  }
  MedicationEntry e = entryOf(record, *body, std::nullopt);
  const bool opioid = drugIsOpioid(tables, body->medication.code);
  switch (body->action) {
    case MedicationAction::kStart:
      out.source = BaselineSource::kNotTaken;
      return out;
    case MedicationAction::kContinue:
      out.source = BaselineSource::kReconciled;
      e.dose = body->dose;
      break;
    case MedicationAction::kDoseChange:
    case MedicationAction::kTaperStep:
      if (!body->previousDose) {
        out.source = BaselineSource::kUnknown;
        out.totalKnown = !opioid;
        return out;
      }
      out.source = BaselineSource::kPreviousDose;
      e.dose = body->previousDose;
      break;
    case MedicationAction::kStop:
    case MedicationAction::kEnteredInError:
      return out;
  }
  out.earlier = e;
  out.list = before.withEarlierState(std::move(e), opioid);
  return out;
}

fhir::Result<MedicationList> applyRecord(const MedicationList& list, const PlanRecord& record,
                                         const MappingTables& tables) {
  bool isOpioid = false;
  if (const MedicationChangeBody* body = record.medicationChange()) {
    const Drug* drug = tables.findDrug(body->medication.code);
    if (body->action == MedicationAction::kEnteredInError) {
      if (const MedicationChange* c = list.lastChangeOf(record.recordId)) {
        drug = tables.findDrug(c->drug);
      }
    }
    isOpioid = drug != nullptr && drugIsOpioid(tables, drug->code);
  }
  MedicationList out = list;
  Status s = out.apply(record, isOpioid);
  if (!s.isOk()) return s;
  return out;
}

// ---- JSON ----

namespace {

namespace bind = fhir::bind;

const bind::Fields<MedicationEntry>& entryFields() {
  using E = MedicationEntry;
  static const bind::Fields<E> fields{
      bind::field("drug", &E::drug, bind::kRequired, bind::Text{}),
      bind::field("display", &E::display, bind::kOptional, bind::Text{}),
      bind::field("dose", &E::dose, bind::kOptional, bind::Object<Quantity>{quantityFields}),
      bind::field("frequency", &E::frequency, bind::kOptional, medicationFrequencyCodec()),
      bind::field("route", &E::route, bind::kOptional, WireCode<Route>{}),
      bind::field("asNeeded", &E::asNeeded, bind::kOptional, bind::Boolean{}),
      bind::field("since", &E::since, bind::kRequired, bind::Text{}),
      bind::field("action", &E::action, bind::kRequired, WireCode<MedicationAction>{}),
      bind::field("recordId", &E::recordId, bind::kRequired, bind::Text{}),
      bind::field("version", &E::version, bind::kRequired, bind::Integer<>{.min = 1}),
  };
  return fields;
}

const bind::Fields<MedicationChange>& changeFields() {
  using C = MedicationChange;
  static const bind::Fields<C> fields{
      bind::field("recordId", &C::recordId, bind::kRequired, bind::Text{}),
      bind::field("version", &C::version, bind::kRequired, bind::Integer<>{.min = 1}),
      bind::field("action", &C::action, bind::kRequired, WireCode<MedicationAction>{}),
      bind::field("drug", &C::drug, bind::kRequired, bind::Text{}),
      bind::field("effective", &C::effective, bind::kRequired, bind::Text{}),
      bind::field("before", &C::before, bind::kOptional,
                  bind::Object<MedicationEntry>{entryFields}),
      bind::field("after", &C::after, bind::kOptional, bind::Object<MedicationEntry>{entryFields}),
      bind::field("reportedMmeBefore", &C::reportedMmeBefore, bind::kOptional,
                  bind::DecimalCodec{}),
      bind::field("undoneBy", &C::undoneBy, bind::kOptional, bind::Integer<>{.min = 1}),
      bind::field("undid", &C::undid, bind::kOptional, bind::Integer<>{.min = 1}),
      bind::field("restored", &C::restored, bind::kOptional, bind::Boolean{}),
      bind::field("notified", &C::notified, bind::kOptional, bind::List<bind::Text>{}),
  };
  return fields;
}

// The stored form of a MedicationList, field for field.
struct StoredList {
  std::int64_t format = 1;
  std::vector<MedicationEntry> entries;
  std::optional<Decimal> reportedDailyMme;
  std::vector<MedicationChange> history;
  std::string startedOn;
};

const bind::Fields<StoredList>& storedListFields() {
  using S = StoredList;
  static const bind::Fields<S> fields{
      {
          // Format 1 is the only one written so far.
          bind::field("format", &S::format, bind::kRequired, bind::Integer<>{.min = 1, .max = 1}),
          bind::field("entries", &S::entries, bind::kRequired,
                      bind::List<bind::Object<MedicationEntry>>{.item = {entryFields}}),
          bind::field("reportedDailyMme", &S::reportedDailyMme, bind::kOptional,
                      bind::DecimalCodec{}),
          bind::field("history", &S::history, bind::kRequired,
                      bind::List<bind::Object<MedicationChange>>{.item = {changeFields}}),
          bind::field("startedOn", &S::startedOn, bind::kOptional, bind::Text{}),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, StoredList* list) {
        bind::refuseRepeats(r, object, p, "entries", list->entries, &MedicationEntry::drug, "drug");
      }};
  return fields;
}

}  // namespace

Json medicationListToJson(const MedicationList& list) {
  StoredList stored{.entries = list.entries(),
                    .reportedDailyMme = list.reportedDailyMme(),
                    .history = list.history(),
                    .startedOn = list.startedOn()};
  return bind::writeObject(stored, storedListFields());
}

fhir::Result<MedicationList> medicationListFromJson(const Json& json) {
  fhir::Issues issues;
  bind::Reading reading(&issues);
  StoredList stored;
  if (!bind::readObject(reading, json, bind::Path(), storedListFields(), &stored)) {
    for (const fhir::Issue& issue : issues) {
      if (issue.severity == fhir::Severity::kError) {
        return Status(ErrorCode::kInvalid, issue.message, issue.path);
      }
    }
  }
  MedicationList list;
  list.entries_ = std::move(stored.entries);
  std::sort(list.entries_.begin(), list.entries_.end(),
            [](const MedicationEntry& a, const MedicationEntry& b) { return a.drug < b.drug; });
  list.history_ = std::move(stored.history);
  list.reportedDailyMme_ = std::move(stored.reportedDailyMme);
  list.startedOn_ = std::move(stored.startedOn);
  if (list.startedOn_.empty() && !list.history_.empty()) {
    list.startedOn_ = list.history_.front().effective;
  }
  return list;
}

}  // namespace inloop::mappings
