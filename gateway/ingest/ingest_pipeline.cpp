#include "gateway/ingest/ingest_pipeline.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "fhir/json.h"
#include "gateway/base/sha256.h"
#include "gateway/store/store.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/safety/safety.h"
#include "mappings/tables/tables.h"

namespace inloop::gateway {

MappingTablesHolder::MappingTablesHolder(std::shared_ptr<const mappings::MappingTables> tables)
    : tables_(std::move(tables)) {}

std::shared_ptr<const mappings::MappingTables> MappingTablesHolder::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return tables_;
}

void MappingTablesHolder::replace(std::shared_ptr<const mappings::MappingTables> tables) {
  std::lock_guard<std::mutex> lock(mutex_);
  tables_ = std::move(tables);
}

const char* ingestStatusName(IngestStatus status) {
  switch (status) {
    case IngestStatus::kAccepted:
      return "accepted";
    case IngestStatus::kReplay:
      return "replay";
    case IngestStatus::kConflict:
      return "conflict";
    case IngestStatus::kStale:
      return "stale";
    case IngestStatus::kMalformed:
      return "malformed";
    case IngestStatus::kInvalid:
      return "invalid";
    case IngestStatus::kTooLarge:
      return "too-large";
    case IngestStatus::kUnavailable:
      return "unavailable";
    case IngestStatus::kError:
      return "error";
  }
  return "error";
}

fhir::ErrorCode ingestStatusErrorCode(IngestStatus status) {
  switch (status) {
    case IngestStatus::kAccepted:
    case IngestStatus::kReplay:
      return fhir::ErrorCode::kOk;
    case IngestStatus::kConflict:
    case IngestStatus::kStale:
      return fhir::ErrorCode::kConflict;
    case IngestStatus::kMalformed:
      return fhir::ErrorCode::kMalformed;
    case IngestStatus::kInvalid:
      return fhir::ErrorCode::kInvalid;
    case IngestStatus::kTooLarge:
      return fhir::ErrorCode::kTooLarge;
    case IngestStatus::kUnavailable:
      return fhir::ErrorCode::kUnavailable;
    case IngestStatus::kError:
      return fhir::ErrorCode::kInternal;
  }
  return fhir::ErrorCode::kInternal;
}

namespace {

IngestStatus fromStore(IngestOutcome o) {
  switch (o) {
    case IngestOutcome::kAccepted:
      return IngestStatus::kAccepted;
    case IngestOutcome::kReplay:
      return IngestStatus::kReplay;
    case IngestOutcome::kConflict:
      return IngestStatus::kConflict;
    case IngestOutcome::kStale:
      return IngestStatus::kStale;
  }
  return IngestStatus::kError;
}

// Best effort: which record a refused document claims to be, for the reply and
// the logs (never anything from the patient).
void identify(const fhir::Json& doc, RecordOutcome* o) {
  if (const fhir::Json* id = doc.find("recordId"); id != nullptr && id->isString()) {
    if (id->text().size() <= 64) o->recordId = id->text();
  }
  if (const fhir::Json* v = doc.find("version"); v != nullptr && v->isNumber()) {
    o->version = v->toInt64().value_or(0);
  }
  if (const fhir::Json* t = doc.find("recordType"); t != nullptr && t->isString()) {
    const std::string& s = t->text();
    if (s == "care-plan" || s == "measurement" || s == "medication-change") o->recordType = s;
  }
}

bool isBlank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

}  // namespace

IngestPipeline::IngestPipeline(IngestStore& store, const MappingTablesHolder& tables,
                               IngestLimits limits, IngestObserver* observer, IngestRouter* router,
                               ChangeSignal* changes)
    : store_(store),
      tables_(tables),
      limits_(limits),
      observer_(observer),
      router_(router),
      changes_(changes) {}

namespace {

// A record that passed every check and waits for the store, or the reason why not.
struct Prepared {
  RecordOutcome outcome;
  std::optional<IngestItem> item;  // set when ready for the store
  // Set with `item`: the record. finish() translates it, adds the safety
  // loop's notices, validates the Bundle once and writes it into
  // item->bundleJson; the tree lives only inside finish().
  std::optional<mappings::PlanRecord> record;
};

void refuse(Prepared* p, IngestStatus status, std::string code, std::string path,
            std::string message) {
  p->outcome.status = status;
  fhir::addError(&p->outcome.issues, std::move(code), std::move(path), std::move(message));
}

Prepared prepare(std::string_view text, const IngestSource& source, const IngestLimits& limits,
                 const mappings::MappingTables* tables, IngestRouter* router) {
  Prepared p;
  if (text.size() > limits.maxRecordBytes) {
    refuse(&p, IngestStatus::kTooLarge, "too-long", "$",
           "the record is larger than " + std::to_string(limits.maxRecordBytes) + " bytes");
    return p;
  }
  fhir::JsonLimits jsonLimits = mappings::kRecordJsonLimits;
  jsonLimits.maxBytes = limits.maxRecordBytes;
  jsonLimits.maxDepth = std::min(jsonLimits.maxDepth, limits.maxDepth);
  jsonLimits.maxStringBytes = std::min(jsonLimits.maxStringBytes, limits.maxStringBytes);
  jsonLimits.maxElements = std::min(jsonLimits.maxElements, limits.maxElements);
  fhir::JsonParseError where;
  fhir::Result<fhir::Json> doc = fhir::parseJson(text, jsonLimits, &where);
  if (!doc.isOk()) {
    const bool tooLarge = doc.status().code() == fhir::ErrorCode::kTooLarge;
    refuse(&p, tooLarge ? IngestStatus::kTooLarge : IngestStatus::kMalformed,
           tooLarge ? "too-long" : "structure", "$",
           (tooLarge ? "" : "not valid JSON: ") + doc.status().message());
    return p;
  }
  identify(*doc, &p.outcome);

  std::optional<mappings::PlanRecord> record = mappings::readPlanRecord(*doc, &p.outcome.issues);
  if (!record) {
    p.outcome.status = IngestStatus::kInvalid;
    return p;
  }
  p.outcome.recordId = record->recordId;
  p.outcome.version = record->version;
  p.outcome.recordType = std::string(mappings::toWire(record->recordType()));
  if (tables == nullptr) {
    refuse(&p, IngestStatus::kUnavailable, "transient", "",
           "no mapping tables are loaded; retry later");
    return p;
  }
  IngestItem item;
  item.recordJson = fhir::writeJson(*doc);
  fhir::Result<std::string> hash = sha256Hex(item.recordJson);
  if (!hash.isOk()) {
    refuse(&p, IngestStatus::kError, "exception", "", "cannot hash the record");
    return p;
  }
  item.contentHash = std::move(hash).value();
  item.recordId = record->recordId;
  item.version = record->version;
  item.recordType = p.outcome.recordType;
  item.practiceId = record->pcp.practiceId;
  item.patientKey = record->patient.mrn;
  // No destination (or no router): stored as `unroutable` (visible, never dropped).
  if (router != nullptr) item.destinations = router->route(*record);
  item.principal = source.principal;
  item.source = source.source;
  p.item = std::move(item);
  p.record = std::move(record);
  return p;
}

void applyStoreResult(const IngestResult& r, RecordOutcome* o) {
  o->status = fromStore(r.outcome);
  if (r.outcome == IngestOutcome::kAccepted || r.outcome == IngestOutcome::kReplay) {
    o->receiptId = r.receipt.receiptId;
    o->receivedAt = r.receipt.receivedAt;
    return;
  }
  std::string message = r.message;
  if (message.empty()) {
    message = r.outcome == IngestOutcome::kStale
                  ? "a higher version of this record is already stored"
                  : "this version of the record is already stored with different content";
  }
  fhir::addError(&o->issues, "conflict", "$.version", std::move(message));
}

void applyStoreFailure(const fhir::Status& st, RecordOutcome* o) {
  if (st.code() == fhir::ErrorCode::kUnavailable) {
    o->status = IngestStatus::kUnavailable;
    fhir::addError(&o->issues, "transient", "",
                   "the store cannot take records now; retry later (" + st.message() + ")");
  } else {
    o->status = IngestStatus::kError;
    fhir::addError(&o->issues, "exception", "", "the store failed: " + st.message());
  }
}

// The safety loop applies to these record types (docs/safety-loop.md).
bool needsSafety(const mappings::PlanRecord& record) {
  return record.medicationChange() || record.carePlan();
}

// What one ingest call has decided so far, so that two records of one patient
// in one batch see each other: the patients' lists as this call leaves them,
// and the highest version of each record taken in this call.
struct SafetyScratch {
  std::map<std::string, mappings::MedicationList, std::less<>> lists;
  std::map<std::string, std::int64_t, std::less<>> versions;
  // Notices made in this call, per recordId (a later version carries them).
  std::map<std::string, std::vector<mappings::Notice>, std::less<>> notices;
};

// What the store holds of a record version about to be ingested.
struct VersionCheck {
  bool isNew = false;       // the store will accept it
  bool hasEarlier = false;  // earlier versions exist (stored or in this call)
};

void dropItem(Prepared* p) { p->item.reset(); }

// True when the store will accept this version (a new recordId, or a version
// above the stored one): only then may the safety loop act on it. Replays,
// conflicts and stale versions change no list and send no notice.
fhir::Result<VersionCheck> checkVersion(IngestStore& store, SafetyScratch& scratch,
                                        const mappings::PlanRecord& record) {
  auto seen = scratch.versions.find(record.recordId);
  if (seen != scratch.versions.end()) {
    if (record.version <= seen->second) return VersionCheck{false, true};
    seen->second = record.version;
    return VersionCheck{true, true};
  }
  fhir::Result<RecordView> stored = store.getRecord(record.recordId);
  if (!stored.isOk() && stored.status().code() != fhir::ErrorCode::kNotFound) {
    return stored.status();
  }
  if (stored.isOk() && stored->latestVersion >= record.version) return VersionCheck{false, true};
  scratch.versions.emplace(record.recordId, record.version);
  return VersionCheck{true, stored.isOk()};
}

// The notices of earlier versions of `record`, rebuilt to travel again with
// this version: the store supersedes an earlier version not yet delivered, and
// its notices must not be lost with it. The same identifiers make a resend an
// update of the same Communication at the receiver.
fhir::Result<std::vector<mappings::Notice>> earlierNotices(IngestStore& store,
                                                           const SafetyScratch& scratch,
                                                           const mappings::PlanRecord& record) {
  std::vector<mappings::Notice> out;
  fhir::Result<std::vector<StoredNotice>> stored = store.listRecordNotices(record.recordId);
  if (!stored.isOk()) return stored.status();
  constexpr std::string_view kPrefix = "notice/";
  for (const StoredNotice& n : *stored) {
    mappings::Notice notice;
    notice.ruleId = n.ruleId;
    notice.priority = n.priority == "urgent" ? mappings::NoticePriority::kUrgent
                                             : mappings::NoticePriority::kRoutine;
    notice.text = n.text;
    notice.aboutRecordId = n.recordId;
    notice.aboutVersion = n.version;
    notice.aboutType = record.recordType();
    notice.date = n.date;
    notice.key = n.key.starts_with(kPrefix) ? n.key.substr(kPrefix.size()) : n.key;
    out.push_back(std::move(notice));
  }
  if (auto it = scratch.notices.find(record.recordId); it != scratch.notices.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

// The patient's list as this call sees it: from the scratch, else the store
// (an empty list when none was stored).
fhir::Result<mappings::MedicationList> currentList(IngestStore& store, SafetyScratch& scratch,
                                                   const std::string& patientKey) {
  if (auto it = scratch.lists.find(patientKey); it != scratch.lists.end()) return it->second;
  fhir::Result<MedicationListRow> row = store.getMedicationList(patientKey);
  if (!row.isOk()) {
    if (row.status().code() == fhir::ErrorCode::kNotFound) return mappings::MedicationList{};
    return row.status();
  }
  fhir::Result<fhir::Json> json = fhir::parseJson(row->listJson, kStoredJsonLimits);
  if (!json.isOk()) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "the stored medication list cannot be read: " + json.status().message());
  }
  fhir::Result<mappings::MedicationList> list = mappings::medicationListFromJson(*json);
  if (!list.isOk()) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "the stored medication list cannot be read: " + list.status().message());
  }
  return list;
}

// The one translation of a prepared record, under the patient's lock: the
// record is translated, then (for a new medication-change or care-plan
// version) applied to the patient's list, the notices are appended to the
// Bundle (they travel with the record) and the new list and the notices go
// into the item (the store writes them only if it accepts the item); the
// Bundle is validated once and written once. The caller holds the patient's
// lock until the store has answered.
void finish(IngestStore& store, const mappings::MappingTables* tables, SafetyScratch& scratch,
            Prepared* p) {
  if (!p->item || tables == nullptr) return;
  const mappings::PlanRecord& record = *p->record;
  // The same steps as translateRecordJson (the CLI, the benchmark), with the
  // safety notices added between them.
  mappings::BundleDraft draft = mappings::draftBundle(record, *tables);
  for (fhir::Issue& i : draft.issues) p->outcome.issues.push_back(std::move(i));
  draft.issues.clear();
  if (!draft.bundle || fhir::hasErrors(p->outcome.issues)) {
    p->outcome.status = IngestStatus::kInvalid;
    dropItem(p);
    return;
  }
  fhir::Json& bundle = *draft.bundle;
  // A new version's safety step, kept (list, notices) only once the Bundle
  // carrying its notices is valid.
  std::optional<mappings::SafetyStep> applied;
  if (needsSafety(record)) {
    fhir::Result<VersionCheck> check = checkVersion(store, scratch, record);
    fhir::Result<mappings::MedicationList> list =
        check.isOk() ? currentList(store, scratch, p->item->patientKey) : check.status();
    fhir::Result<std::vector<mappings::Notice>> carried = std::vector<mappings::Notice>{};
    if (list.isOk() && check->isNew && check->hasEarlier) {
      carried = earlierNotices(store, scratch, record);
    }
    if (!list.isOk() || !carried.isOk()) {
      applyStoreFailure(!list.isOk() ? list.status() : carried.status(), &p->outcome);
      dropItem(p);
      return;
    }
    mappings::SafetyStep step;
    if (check->isNew) step = mappings::applyAndEvaluate(*list, record, *tables);
    if (check->isNew && step.status.isOk()) {
      // Earlier versions' notices first, except those this version makes again.
      std::vector<mappings::Notice> send;
      for (mappings::Notice& n : *carried) {
        bool again = false;
        for (const mappings::Notice& m : step.notices) again |= m.key == n.key;
        if (!again) send.push_back(std::move(n));
      }
      send.insert(send.end(), step.notices.begin(), step.notices.end());
      if (!send.empty()) {
        fhir::Status st = mappings::appendNoticeEntries(send, record, *tables, &bundle);
        if (!st.isOk()) {
          refuse(p, IngestStatus::kError, "exception", "", st.message());
          dropItem(p);
          return;
        }
      }
      applied = std::move(step);
    }
  }
  // Validated once: an invalid translation is our bug, not the sender's;
  // nothing is stored and the issues name the FHIR paths.
  mappings::TranslatedJson finished = mappings::finishBundle(std::move(draft), *tables);
  if (fhir::hasErrors(finished.issues)) {
    for (fhir::Issue& i : finished.issues) p->outcome.issues.push_back(std::move(i));
    p->outcome.status = IngestStatus::kError;
    dropItem(p);
    return;
  }
  if (applied) {
    for (const mappings::Notice& n : applied->notices) {
      p->item->notices.push_back(StoredNotice{record.recordId, record.version, p->item->patientKey,
                                              n.ruleId, mappings::noticePriorityCode(n.priority),
                                              mappings::noticeIdentifierValue(n), n.date, n.text,
                                              0});
    }
    std::vector<mappings::Notice>& made = scratch.notices[record.recordId];
    made.insert(made.end(), applied->notices.begin(), applied->notices.end());
    if (record.medicationChange()) {
      p->item->medicationListJson = fhir::writeJson(mappings::medicationListToJson(applied->list));
      scratch.lists[p->item->patientKey] = std::move(applied->list);
    }
  }
  p->item->bundleJson = std::move(finished.bundleJson);
}

std::size_t patientStripe(const std::string& patientKey, std::size_t stripes) {
  return std::hash<std::string>{}(patientKey) % stripes;
}

bool locksPatient(const Prepared& p) { return p.item && needsSafety(*p.record); }

}  // namespace

RecordOutcome IngestPipeline::ingestOne(std::string_view recordJson, const IngestSource& source) {
  std::shared_ptr<const mappings::MappingTables> tables = tables_.current();
  Prepared p = prepare(recordJson, source, limits_, tables.get(), router_);
  // Read list -> evaluate -> ingest is one step per patient (see the header).
  std::unique_lock<std::mutex> patientLock;
  if (locksPatient(p)) {
    patientLock = std::unique_lock<std::mutex>(
        patientLocks_[patientStripe(p.item->patientKey, kPatientStripes)]);
  }
  SafetyScratch scratch;
  finish(store_, tables.get(), scratch, &p);
  if (p.item) {
    std::vector<IngestItem> items;
    items.push_back(std::move(*p.item));
    fhir::Result<std::vector<IngestResult>> results = store_.ingest(std::move(items));
    if (!results.isOk()) {
      applyStoreFailure(results.status(), &p.outcome);
    } else if (results->size() != 1) {
      applyStoreFailure(fhir::Status(fhir::ErrorCode::kInternal, "wrong number of results"),
                        &p.outcome);
    } else {
      applyStoreResult(results->front(), &p.outcome);
      if (p.outcome.status == IngestStatus::kAccepted) {
        if (router_ != nullptr) router_->onAccepted();
        if (changes_ != nullptr) changes_->notifyAll();
      }
    }
  }
  if (observer_ != nullptr) observer_->onOutcome(p.outcome);
  return std::move(p.outcome);
}

fhir::Result<std::vector<RecordOutcome>> IngestPipeline::ingestBatch(std::string_view ndjson,
                                                                     const IngestSource& source) {
  // Split first, so an oversized batch is refused before any work.
  struct Line {
    std::size_t number;
    std::string_view text;
  };
  std::vector<Line> lines;
  std::size_t number = 0;
  for (std::size_t pos = 0; pos < ndjson.size();) {
    std::size_t end = ndjson.find('\n', pos);
    if (end == std::string_view::npos) end = ndjson.size();
    ++number;
    std::string_view text = ndjson.substr(pos, end - pos);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (!isBlank(text)) {
      if (lines.size() == limits_.maxBatchRecords) {
        return fhir::Status(
            fhir::ErrorCode::kTooLarge,
            "the batch has more than " + std::to_string(limits_.maxBatchRecords) + " records");
      }
      lines.push_back(Line{number, text});
    }
    pos = end + 1;
  }

  std::shared_ptr<const mappings::MappingTables> tables = tables_.current();
  std::vector<RecordOutcome> outcomes;
  outcomes.reserve(lines.size());
  std::vector<IngestItem> items;
  std::vector<std::size_t> itemOutcome;  // items[i] belongs to outcomes[itemOutcome[i]]
  std::vector<Prepared> prepared;
  prepared.reserve(lines.size());
  std::vector<std::size_t> stripes;
  for (const Line& line : lines) {
    prepared.push_back(prepare(line.text, source, limits_, tables.get(), router_));
    prepared.back().outcome.line = line.number;
    if (locksPatient(prepared.back())) {
      stripes.push_back(patientStripe(prepared.back().item->patientKey, kPatientStripes));
    }
  }
  // Every patient of the batch is locked, in stripe order (no deadlock with
  // other calls), until the store has answered.
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  std::vector<std::unique_lock<std::mutex>> patientLocks;
  patientLocks.reserve(stripes.size());
  for (std::size_t stripe : stripes) patientLocks.emplace_back(patientLocks_[stripe]);
  SafetyScratch scratch;
  for (Prepared& p : prepared) {
    finish(store_, tables.get(), scratch, &p);
    if (p.item) {
      items.push_back(std::move(*p.item));
      itemOutcome.push_back(outcomes.size());
    }
    outcomes.push_back(std::move(p.outcome));
  }
  prepared.clear();
  if (!items.empty()) {
    // One call: the store commits the whole batch in one transaction.
    fhir::Result<std::vector<IngestResult>> results = store_.ingest(std::move(items));
    if (!results.isOk()) {
      const fhir::Status& st = results.status();
      return fhir::Status(
          st.code() == fhir::ErrorCode::kUnavailable ? st.code() : fhir::ErrorCode::kIoError,
          "the store refused the batch: " + st.message());
    }
    if (results->size() != itemOutcome.size()) {
      return fhir::Status(fhir::ErrorCode::kInternal,
                          "the store returned the wrong number of results");
    }
    bool anyAccepted = false;
    for (std::size_t i = 0; i < itemOutcome.size(); ++i) {
      applyStoreResult((*results)[i], &outcomes[itemOutcome[i]]);
      anyAccepted |= outcomes[itemOutcome[i]].status == IngestStatus::kAccepted;
    }
    if (anyAccepted) {
      if (router_ != nullptr) router_->onAccepted();
      if (changes_ != nullptr) changes_->notifyAll();
    }
  }
  for (RecordOutcome& o : outcomes) {
    const std::string prefix = "line " + std::to_string(o.line) + ": ";
    for (fhir::Issue& i : o.issues) i.path = prefix + (i.path.empty() ? "$" : i.path);
    if (observer_ != nullptr) observer_->onOutcome(o);
  }
  return outcomes;
}

}  // namespace inloop::gateway
