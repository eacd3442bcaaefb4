// The medication list: applying medication-change records, undoing them, and
// the list's storage JSON (mappings/safety/safety.h).
#include <algorithm>
#include <utility>

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

Json str(std::string_view s) { return Json::string(std::string(s)); }

Json quantityJson(const Quantity& q) {
  Json o = Json::object();
  o.set("value", Json::numberText(q.value.text));
  o.set("unit", str(q.unit));
  return o;
}

Json frequencyJson(const MedicationFrequency& f) {
  Json o = Json::object();
  if (f.isText()) {
    o.set("text", str(f.text));
  } else {
    o.set("count", Json::number(f.count));
    o.set("per", str(toWire(f.per)));
  }
  return o;
}

Json entryJson(const MedicationEntry& e) {
  Json o = Json::object();
  o.set("drug", str(e.drug));
  if (!e.display.empty()) o.set("display", str(e.display));
  if (e.dose) o.set("dose", quantityJson(*e.dose));
  if (e.frequency) o.set("frequency", frequencyJson(*e.frequency));
  if (e.route) o.set("route", str(toWire(*e.route)));
  if (e.asNeeded) o.set("asNeeded", Json::boolean(*e.asNeeded));
  o.set("since", str(e.since));
  o.set("action", str(toWire(e.action)));
  o.set("recordId", str(e.recordId));
  o.set("version", Json::number(e.version));
  return o;
}

Json changeJson(const MedicationChange& c) {
  Json o = Json::object();
  o.set("recordId", str(c.recordId));
  o.set("version", Json::number(c.version));
  o.set("action", str(toWire(c.action)));
  o.set("drug", str(c.drug));
  o.set("effective", str(c.effective));
  if (c.before) o.set("before", entryJson(*c.before));
  if (c.after) o.set("after", entryJson(*c.after));
  if (c.reportedMmeBefore) o.set("reportedMmeBefore", Json::numberText(c.reportedMmeBefore->text));
  if (c.undoneBy) o.set("undoneBy", Json::number(*c.undoneBy));
  if (c.undid) o.set("undid", Json::number(*c.undid));
  if (c.restored) o.set("restored", Json::boolean(true));
  if (!c.notified.empty()) {
    Json a = Json::array();
    for (const std::string& r : c.notified) a.push(str(r));
    o.set("notified", std::move(a));
  }
  return o;
}

// Reads fields of one object, remembering the first problem with its path.
class Reader {
 public:
  Reader(const Json& object, std::string path, Status* error)
      : object_(object), path_(std::move(path)), error_(error) {}

  const Json* get(std::string_view key, Json::Type type, bool required) {
    const Json* v = object_.find(key);
    if (v == nullptr) {
      if (required) fail(path_ + "." + std::string(key), "missing");
      return nullptr;
    }
    if (v->type() != type) {
      fail(path_ + "." + std::string(key), "wrong JSON type");
      return nullptr;
    }
    return v;
  }
  std::string string(std::string_view key, bool required) {
    const Json* v = get(key, Json::Type::kString, required);
    return v ? v->text() : std::string();
  }
  std::optional<std::int64_t> integer(std::string_view key, bool required) {
    const Json* v = get(key, Json::Type::kNumber, required);
    if (!v) return std::nullopt;
    auto i = v->toInt64();
    if (!i) fail(path_ + "." + std::string(key), "not an integer");
    return i;
  }
  std::optional<Decimal> decimal(std::string_view key, bool required) {
    const Json* v = get(key, Json::Type::kNumber, required);
    if (!v) return std::nullopt;
    auto d = Decimal::fromText(v->text());
    if (!d) fail(path_ + "." + std::string(key), "not a number");
    return d;
  }
  template <typename E>
  std::optional<E> choice(std::string_view key, bool required) {
    const Json* v = get(key, Json::Type::kString, required);
    if (!v) return std::nullopt;
    auto e = fromWire<E>(v->text());
    if (!e) fail(path_ + "." + std::string(key), "unknown code \"" + v->text() + "\"");
    return e;
  }
  const std::string& path() const { return path_; }
  void fail(std::string path, std::string message) {
    if (error_->isOk()) *error_ = Status(ErrorCode::kInvalid, std::move(message), std::move(path));
  }

 private:
  const Json& object_;
  std::string path_;
  Status* error_;
};

std::optional<Quantity> readQuantity(Reader& r, std::string_view key) {
  const Json* q = r.get(key, Json::Type::kObject, false);
  if (!q) return std::nullopt;
  Status local;
  Reader checked(*q, r.path() + "." + std::string(key), &local);
  auto value = checked.decimal("value", true);
  std::string unit = checked.string("unit", true);
  if (!local.isOk()) {
    r.fail(local.path(), local.message());
    return std::nullopt;
  }
  return Quantity{*value, unit};
}

std::optional<MedicationFrequency> readFrequency(Reader& r) {
  const Json* f = r.get("frequency", Json::Type::kObject, false);
  if (!f) return std::nullopt;
  Status local;
  Reader sub(*f, r.path() + ".frequency", &local);
  MedicationFrequency out;
  if (f->find("text")) {
    out.text = sub.string("text", true);
    if (out.text.empty()) sub.fail(sub.path() + ".text", "empty");
  } else {
    auto count = sub.integer("count", true);
    auto per = sub.choice<FrequencyPer>("per", true);
    if (count) out.count = *count;
    if (per) out.per = *per;
  }
  if (!local.isOk()) {
    r.fail(local.path(), local.message());
    return std::nullopt;
  }
  return out;
}

std::optional<MedicationEntry> readEntry(const Json& j, const std::string& path, Status* error) {
  if (!j.isObject()) {
    if (error->isOk()) *error = Status(ErrorCode::kInvalid, "not an object", path);
    return std::nullopt;
  }
  Reader r(j, path, error);
  MedicationEntry e;
  e.drug = r.string("drug", true);
  e.display = r.string("display", false);
  e.dose = readQuantity(r, "dose");
  e.frequency = readFrequency(r);
  e.route = r.choice<Route>("route", false);
  if (const Json* b = r.get("asNeeded", Json::Type::kBool, false)) e.asNeeded = b->asBool();
  e.since = r.string("since", true);
  if (auto a = r.choice<MedicationAction>("action", true)) e.action = *a;
  e.recordId = r.string("recordId", true);
  if (auto v = r.integer("version", true)) e.version = *v;
  if (!error->isOk()) return std::nullopt;
  return e;
}

}  // namespace

Json medicationListToJson(const MedicationList& list) {
  Json o = Json::object();
  o.set("format", Json::number(std::int64_t{1}));
  Json entries = Json::array();
  for (const MedicationEntry& e : list.entries()) entries.push(entryJson(e));
  o.set("entries", std::move(entries));
  if (list.reportedDailyMme()) {
    o.set("reportedDailyMme", Json::numberText(list.reportedDailyMme()->text));
  }
  Json history = Json::array();
  for (const MedicationChange& c : list.history()) history.push(changeJson(c));
  o.set("history", std::move(history));
  if (!list.startedOn().empty()) o.set("startedOn", str(list.startedOn()));
  return o;
}

fhir::Result<MedicationList> medicationListFromJson(const Json& json) {
  if (!json.isObject()) return Status(ErrorCode::kInvalid, "not an object", "$");
  Status error;
  Reader top(json, "$", &error);
  auto format = top.integer("format", true);
  if (format && *format != 1) top.fail("$.format", "unsupported format " + std::to_string(*format));
  MedicationList list;
  list.reportedDailyMme_ = top.decimal("reportedDailyMme", false);
  if (const Json* entries = top.get("entries", Json::Type::kArray, true)) {
    for (std::size_t i = 0; i < entries->items().size(); ++i) {
      std::string path = "$.entries[" + std::to_string(i) + "]";
      auto e = readEntry(entries->items()[i], path, &error);
      if (!e) break;
      if (list.find(e->drug)) {
        top.fail(path + ".drug", "drug \"" + e->drug + "\" listed twice");
        break;
      }
      list.put(std::move(*e));
    }
  }
  if (const Json* history = top.get("history", Json::Type::kArray, true)) {
    for (std::size_t i = 0; i < history->items().size() && error.isOk(); ++i) {
      const Json& item = history->items()[i];
      std::string path = "$.history[" + std::to_string(i) + "]";
      if (!item.isObject()) {
        top.fail(path, "not an object");
        break;
      }
      Reader r(item, path, &error);
      MedicationChange c;
      c.recordId = r.string("recordId", true);
      if (auto v = r.integer("version", true)) c.version = *v;
      if (auto a = r.choice<MedicationAction>("action", true)) c.action = *a;
      c.drug = r.string("drug", true);
      c.effective = r.string("effective", true);
      if (const Json* b = r.get("before", Json::Type::kObject, false)) {
        c.before = readEntry(*b, path + ".before", &error);
      }
      if (const Json* a = r.get("after", Json::Type::kObject, false)) {
        c.after = readEntry(*a, path + ".after", &error);
      }
      c.reportedMmeBefore = r.decimal("reportedMmeBefore", false);
      c.undoneBy = r.integer("undoneBy", false);
      c.undid = r.integer("undid", false);
      if (const Json* b = r.get("restored", Json::Type::kBool, false)) c.restored = b->asBool();
      if (const Json* n = r.get("notified", Json::Type::kArray, false)) {
        for (const Json& s : n->items()) {
          if (!s.isString()) {
            r.fail(path + ".notified", "every item must be a string");
            break;
          }
          c.notified.push_back(s.text());
        }
      }
      list.history_.push_back(std::move(c));
    }
  }
  list.startedOn_ = top.string("startedOn", false);
  if (list.startedOn_.empty() && !list.history_.empty()) {
    list.startedOn_ = list.history_.front().effective;
  }
  if (!error.isOk()) return error;
  return list;
}

}  // namespace inloop::mappings
