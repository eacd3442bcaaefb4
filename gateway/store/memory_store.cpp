#include "gateway/store/memory_store.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "gateway/store/store_rules.h"

namespace inloop::gateway {

namespace {

using fhir::ErrorCode;
using fhir::Result;
using fhir::Status;

// One record (the `records` table of SQLite).
struct RecordRow {
  std::string recordType;
  std::string practiceId;
  std::string patientKey;
  std::int64_t latestVersion = 0;
  std::int64_t updatedAt = 0;
  bool purged = false;
};

// One accepted version with its translation (record_versions + translations).
struct VersionRow {
  std::string recordId;
  std::int64_t version = 0;
  std::string recordType;
  std::string practiceId;
  std::string contentHash;
  std::optional<std::string> recordJson;  // nullopt once purged
  std::optional<std::string> bundleJson;  // nullopt once purged
  std::string receiptId;
  std::int64_t receivedAt = 0;
  bool purged = false;
};

// One outbox row; `seq` is its message id.
struct OutboxRow {
  std::int64_t seq = 0;
  std::string destinationId;
  std::string patientKey;
  std::string recordId;
  std::int64_t version = 0;
  std::size_t versionIndex = 0;  // into versions_
  OutboxState state = OutboxState::kPending;
  std::int64_t attempts = 0;
  int lastStatus = 0;
  std::string lastError;
  std::int64_t nextAttemptAt = 0;
  std::int64_t leaseUntil = 0;
  std::string reason;
  std::int64_t createdAt = 0;
  std::int64_t updatedAt = 0;
  // What a retried attempt sent (kept only while pending).
  std::string shapeKey;
  std::string keptShape;
};

bool isOneOf(OutboxState state, std::initializer_list<OutboxState> states) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(const Clock& clock) : clock_(clock) {}

  // ---- IngestStore ----

  Result<std::vector<IngestResult>> ingest(std::vector<IngestItem> items) override {
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (Status st = validateIngestItem(items[i], i); !st.isOk()) return st;
    }
    std::vector<IngestResult> results(items.size());
    if (items.empty()) return results;
    std::lock_guard<std::mutex> lock(mutex_);
    const std::int64_t now = clock_.nowMillis();
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (Status st = ingestOne(items[i], now, &results[i]); !st.isOk()) return st;
    }
    committed();
    return results;
  }

  Result<RecordView> getRecord(const std::string& recordId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto record = records_.find(recordId);
    if (record == records_.end()) return Status(ErrorCode::kNotFound, "no record " + recordId);
    RecordView view;
    view.recordId = recordId;
    view.recordType = record->second.recordType;
    view.practiceId = record->second.practiceId;
    view.latestVersion = record->second.latestVersion;
    view.purged = record->second.purged;
    for (auto it = versionIndex_.lower_bound({recordId, 0});
         it != versionIndex_.end() && it->first.first == recordId; ++it) {
      const VersionRow& v = versions_[it->second];
      view.versions.push_back(
          VersionInfo{v.version, v.receivedAt, v.contentHash, v.receiptId, v.purged});
      if (v.version == view.latestVersion) {
        view.recordJson = v.recordJson.value_or("");
        view.bundleJson = v.bundleJson.value_or("");
        view.receipt.receiptId = v.receiptId;
        view.receipt.receivedAtMillis = v.receivedAt;
        view.receipt.receivedAt = formatInstant(v.receivedAt);
      }
    }
    view.receipt.recordId = recordId;
    view.receipt.version = view.latestVersion;
    view.receipt.status = IngestOutcome::kAccepted;
    for (std::int64_t seq : rowsOf(recordId)) {
      const OutboxRow& row = outbox_.at(seq);
      DeliveryState state;
      state.messageId = row.seq;
      state.destinationId = row.destinationId;
      state.version = row.version;
      state.state = row.state;
      state.attempts = row.attempts;
      state.lastStatus = row.lastStatus;
      state.lastError = row.lastError;
      state.reason = row.reason;
      state.nextAttemptAtMillis = row.nextAttemptAt;
      state.updatedAtMillis = row.updatedAt;
      view.deliveries.push_back(std::move(state));
    }
    return view;
  }

  Result<MedicationListRow> getMedicationList(const std::string& patientKey) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = medicationLists_.find(patientKey);
    if (it == medicationLists_.end()) {
      return Status(ErrorCode::kNotFound, "no medication list for this patient");
    }
    return it->second;
  }

  Result<std::vector<StoredNotice>> listRecordNotices(const std::string& recordId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<StoredNotice> out;
    for (const StoredNotice& n : notices_) {
      if (n.recordId == recordId) out.push_back(n);
    }
    return out;
  }

  Status checkWritable() override { return Status::ok(); }

  // ---- OutboxStore ----

  Result<std::vector<OutboxMessage>> claimDue(const std::string& destinationId, std::int64_t now,
                                              int limit, std::int64_t leaseForMillis) override {
    std::vector<OutboxMessage> messages;
    if (limit <= 0) return messages;
    std::lock_guard<std::mutex> lock(mutex_);
    // (due, seq) of every due head, earliest first.
    std::vector<std::pair<std::int64_t, std::int64_t>> due;
    forEachHead(destinationId, [&](const OutboxRow& head) {
      const std::int64_t at = dueAt(head);
      if (at <= now) due.emplace_back(at, head.seq);
    });
    std::sort(due.begin(), due.end());
    if (due.size() > static_cast<std::size_t>(limit)) due.resize(static_cast<std::size_t>(limit));
    const std::int64_t leaseUntil = now + std::max<std::int64_t>(leaseForMillis, 1);
    for (const auto& [at, seq] : due) {
      OutboxRow& row = outbox_.at(seq);
      row.leaseUntil = leaseUntil;
      const VersionRow& v = versions_[row.versionIndex];
      OutboxMessage message;
      message.messageId = seq;
      message.destinationId = row.destinationId;
      message.patientKey = row.patientKey;
      message.recordId = row.recordId;
      message.version = row.version;
      message.recordType = v.recordType;
      if (row.keptShape.empty()) {
        message.recordJson = v.recordJson.value_or("");
        message.bundleJson = v.bundleJson.value_or("");
      } else {
        message.shapeKey = row.shapeKey;
        message.keptShape = row.keptShape;
      }
      message.attempts = row.attempts;
      message.leaseUntilMillis = leaseUntil;
      messages.push_back(std::move(message));
    }
    committed();
    return messages;
  }

  Status readMessageSource(OutboxMessage* message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = outbox_.find(message->messageId);
    if (it == outbox_.end()) {
      return Status(ErrorCode::kNotFound,
                    "no outbox message " + std::to_string(message->messageId));
    }
    const VersionRow& v = versions_[it->second.versionIndex];
    message->recordJson = v.recordJson.value_or("");
    message->bundleJson = v.bundleJson.value_or("");
    return Status::ok();
  }

  Status markDelivered(std::int64_t messageId, int lastStatus) override {
    return report(messageId, OutboxState::kDelivered, lastStatus, "", 0,
                  {OutboxState::kPending, OutboxState::kSuperseded, OutboxState::kDelivered});
  }

  Status scheduleRetry(std::int64_t messageId, std::int64_t nextAttemptAtMillis, int lastStatus,
                       const std::string& lastError) override {
    return report(messageId, OutboxState::kPending, lastStatus, lastError, nextAttemptAtMillis,
                  {OutboxState::kPending});
  }

  Status deadLetter(std::int64_t messageId, int lastStatus, const std::string& lastError) override {
    return report(messageId, OutboxState::kDeadLetter, lastStatus, lastError, 0,
                  {OutboxState::kPending});
  }

  Result<std::int64_t> markPublished(const std::string& destinationId,
                                     const std::vector<std::int64_t>& messageIds,
                                     const std::string& location,
                                     const std::string& endpointKind) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::int64_t> seqs = messageIds;
    if (seqs.empty()) {
      for (const auto& [seq, row] : outbox_) {
        if (row.state == OutboxState::kWritten && row.destinationId == destinationId) {
          seqs.push_back(seq);
        }
      }
    }
    const std::int64_t now = clock_.nowMillis();
    std::int64_t published = 0;
    for (std::int64_t seq : seqs) {
      auto it = outbox_.find(seq);
      if (it == outbox_.end()) continue;
      OutboxRow& row = it->second;
      if (row.destinationId != destinationId ||
          !isOneOf(row.state, {OutboxState::kWritten, OutboxState::kPending})) {
        continue;
      }
      insertAttempt(publicationAttempt(seq, location, now), row, now);
      setState(row, OutboxState::kDelivered);
      row.lastError.clear();
      row.leaseUntil = 0;
      row.updatedAt = now;
      insertDisclosure(row, endpointKind, now);
      ++published;
    }
    committed();
    return published;
  }

  Status finishAttempt(const DeliveryAttempt& attempt) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = outbox_.find(attempt.messageId);
    if (it == outbox_.end()) {
      return Status(ErrorCode::kNotFound, "no outbox message " + std::to_string(attempt.messageId));
    }
    OutboxRow& row = it->second;
    const OutboxState state = row.state;
    // A delivery reported for a message superseded meanwhile stays superseded;
    // a write reported after its file was already published stays delivered.
    const bool allowed =
        state == OutboxState::kPending ||
        (attempt.outcome == AttemptOutcome::kDelivered && state == OutboxState::kSuperseded) ||
        (attempt.outcome == AttemptOutcome::kWritten &&
         isOneOf(state, {OutboxState::kSuperseded, OutboxState::kDelivered}));
    if (!allowed) {
      return Status(ErrorCode::kConflict, "outbox message " + std::to_string(attempt.messageId) +
                                              " is " + outboxStateName(state));
    }
    const std::int64_t now = clock_.nowMillis();
    insertAttempt(attempt, row, now);
    OutboxState next = OutboxState::kPending;
    switch (attempt.outcome) {
      case AttemptOutcome::kDelivered:
        next =
            state == OutboxState::kSuperseded ? OutboxState::kSuperseded : OutboxState::kDelivered;
        break;
      case AttemptOutcome::kRetry:
        next = OutboxState::kPending;
        break;
      case AttemptOutcome::kDeadLetter:
        next = OutboxState::kDeadLetter;
        break;
      case AttemptOutcome::kParked:
        next = OutboxState::kPatientUnmatched;
        break;
      case AttemptOutcome::kNotSent:
        next = OutboxState::kNotSent;
        break;
      case AttemptOutcome::kWritten:
        next = state == OutboxState::kPending ? OutboxState::kWritten : state;
        break;
    }
    setState(row, next);
    ++row.attempts;
    row.lastStatus = attempt.httpStatus;
    row.lastError =
        attempt.outcome == AttemptOutcome::kDelivered || attempt.outcome == AttemptOutcome::kWritten
            ? std::string()
            : attempt.error;
    row.leaseUntil = 0;
    row.nextAttemptAt =
        attempt.outcome == AttemptOutcome::kRetry ? attempt.nextAttemptAtMillis : now;
    row.reason = attempt.outcome == AttemptOutcome::kParked ? attempt.error : std::string();
    row.updatedAt = now;
    if (attempt.outcome == AttemptOutcome::kRetry && !attempt.keptShape.empty()) {
      row.shapeKey = attempt.shapeKey;
      row.keptShape = attempt.keptShape;
    }
    if (attempt.outcome == AttemptOutcome::kDelivered) {
      insertDisclosure(row, attempt.endpointKind, now);
    }
    committed();
    return Status::ok();
  }

  Result<std::int64_t> releaseLeases() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::int64_t released = 0;
    for (auto& [seq, row] : outbox_) {
      if (row.leaseUntil > 0) {
        row.leaseUntil = 0;
        ++released;
      }
    }
    committed();
    return released;
  }

  Result<std::int64_t> nextDueAt(const std::string& destinationId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<std::int64_t> earliest;
    forEachHead(destinationId, [&](const OutboxRow& head) {
      const std::int64_t at = dueAt(head);
      if (!earliest || at < *earliest) earliest = at;
    });
    return earliest.value_or(0);
  }

  Result<std::vector<DestinationQueue>> destinationQueues() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, DestinationQueue> byId;
    for (const auto& [seq, row] : outbox_) {
      if (row.destinationId.empty() ||
          !isOneOf(row.state,
                   {OutboxState::kPending, OutboxState::kPatientUnmatched, OutboxState::kDeadLetter,
                    OutboxState::kNotSent, OutboxState::kWritten})) {
        continue;
      }
      DestinationQueue& q = byId[row.destinationId];
      q.destinationId = row.destinationId;
      switch (row.state) {
        case OutboxState::kPending:
          ++q.pending;
          q.oldestPendingCreatedAtMillis =
              q.pending == 1 ? row.createdAt
                             : std::min(q.oldestPendingCreatedAtMillis, row.createdAt);
          break;
        case OutboxState::kPatientUnmatched:
          ++q.patientUnmatched;
          break;
        case OutboxState::kNotSent:
          ++q.notSent;
          break;
        case OutboxState::kWritten:
          ++q.written;
          break;
        default:
          ++q.deadLetters;
          break;
      }
    }
    for (auto& [id, q] : byId) {
      std::optional<std::int64_t> earliest;
      forEachHead(id, [&](const OutboxRow& head) {
        const std::int64_t at = dueAt(head);
        if (!earliest || at < *earliest) earliest = at;
      });
      q.nextDueAtMillis = earliest.value_or(0);
    }
    std::vector<DestinationQueue> out;
    for (auto& [id, q] : byId) out.push_back(std::move(q));
    return out;
  }

  // ---- LedgerStore ----

  Result<std::vector<DeliveryAttempt>> listAttempts(const std::string& recordId,
                                                    int limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<DeliveryAttempt> out;
    const auto wanted = static_cast<std::size_t>(std::max(limit, 0));
    for (auto it = attempts_.rbegin(); it != attempts_.rend() && out.size() < wanted; ++it) {
      if (it->recordId == recordId) out.push_back(*it);
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  Result<std::vector<DeliveryAttempt>> listMessageAttempts(std::int64_t messageId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<DeliveryAttempt> out;
    for (const DeliveryAttempt& a : attempts_) {
      if (a.messageId == messageId) out.push_back(a);
    }
    return out;
  }

  Result<std::vector<DeadLetterEntry>> listDeadLetters(const std::string& destinationId,
                                                       int limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<const OutboxRow*> rows;
    for (const auto& [seq, row] : outbox_) {
      if (isOneOf(row.state, {OutboxState::kDeadLetter, OutboxState::kNotSent}) &&
          (destinationId.empty() || row.destinationId == destinationId)) {
        rows.push_back(&row);
      }
    }
    std::sort(rows.begin(), rows.end(), [](const OutboxRow* a, const OutboxRow* b) {
      return std::tie(a->updatedAt, a->seq) > std::tie(b->updatedAt, b->seq);
    });
    if (rows.size() > static_cast<std::size_t>(std::max(limit, 0))) {
      rows.resize(static_cast<std::size_t>(std::max(limit, 0)));
    }
    std::vector<DeadLetterEntry> out;
    for (const OutboxRow* row : rows) out.push_back(deadLetterOf(*row));
    return out;
  }

  Result<DeadLetterEntry> getDeadLetter(std::int64_t messageId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = outbox_.find(messageId);
    const bool wasOne =
        it != outbox_.end() &&
        (isOneOf(it->second.state,
                 {OutboxState::kDeadLetter, OutboxState::kNotSent, OutboxState::kDiscarded}) ||
         std::any_of(attempts_.begin(), attempts_.end(), [&](const DeliveryAttempt& a) {
           return a.messageId == messageId && (a.outcome == AttemptOutcome::kDeadLetter ||
                                               a.outcome == AttemptOutcome::kNotSent);
         }));
    if (!wasOne) return Status(ErrorCode::kNotFound, "no dead letter " + std::to_string(messageId));
    return deadLetterOf(it->second);
  }

  Status replayDeadLetter(std::int64_t messageId, const std::string& principal) override {
    return changeDeadLetter(messageId, principal, true);
  }

  Status discardDeadLetter(std::int64_t messageId, const std::string& principal) override {
    return changeDeadLetter(messageId, principal, false);
  }

  Result<std::vector<UnroutableRecord>> listUnroutable(std::int64_t afterMessageId,
                                                       int limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<UnroutableRecord> out;
    const auto wanted = static_cast<std::size_t>(std::max(limit, 0));
    for (auto it = outbox_.upper_bound(afterMessageId); it != outbox_.end() && out.size() < wanted;
         ++it) {
      const OutboxRow& row = it->second;
      if (row.state != OutboxState::kUnroutable) continue;
      const VersionRow& v = versions_[row.versionIndex];
      out.push_back(UnroutableRecord{row.seq, row.recordId, row.version, v.practiceId,
                                     v.recordJson.value_or("")});
    }
    return out;
  }

  Status routeUnroutable(std::int64_t messageId, std::vector<DestinationTarget> targets,
                         const std::string& principal) override {
    if (Status st = validateRouteTargets(targets); !st.isOk()) return st;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = outbox_.find(messageId);
    if (it == outbox_.end()) {
      return Status(ErrorCode::kNotFound, "no message " + std::to_string(messageId));
    }
    if (it->second.state != OutboxState::kUnroutable) {
      return Status(ErrorCode::kConflict, "message " + std::to_string(messageId) + " is " +
                                              outboxStateName(it->second.state) +
                                              ", not unroutable");
    }
    const OutboxRow marker = it->second;
    const std::int64_t now = clock_.nowMillis();
    // The marker gives way to the real rows; the audit row keeps the story.
    std::vector<std::int64_t>& ofRecord = byRecord_[marker.recordId];
    ofRecord.erase(std::remove(ofRecord.begin(), ofRecord.end(), messageId), ofRecord.end());
    outbox_.erase(it);
    insertOutboxRows(marker, targets, true, now);
    std::string names;
    for (const DestinationTarget& target : targets) {
      names += (names.empty() ? "" : ", ") + target.destinationId;
    }
    AuditEntry audit = auditOf(marker, principal, "route", now);
    audit.outcome = "routed";
    audit.detail = "unroutable message " + std::to_string(messageId) + " routed to " + names;
    insertAudit(std::move(audit));
    committed();
    return Status::ok();
  }

  Status reprocess(const std::string& recordId, std::int64_t version, const std::string& bundleJson,
                   std::vector<DestinationTarget> targets, const std::string& principal) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto record = records_.find(recordId);
    auto v = versionIndex_.find({recordId, version});
    if (record == records_.end() || v == versionIndex_.end()) {
      return Status(ErrorCode::kNotFound,
                    "no record " + recordId + " version " + std::to_string(version));
    }
    if (record->second.latestVersion != version) {
      return Status(ErrorCode::kConflict, "record " + recordId + " has a newer version (" +
                                              std::to_string(record->second.latestVersion) + ")");
    }
    const std::int64_t now = clock_.nowMillis();
    for (std::int64_t seq : rowsOf(recordId)) {
      const OutboxRow& row = outbox_.at(seq);
      if (row.version == version && row.state == OutboxState::kPending && row.leaseUntil > now) {
        return Status(ErrorCode::kConflict,
                      "record " + recordId + " is being sent right now; try again shortly");
      }
    }
    versions_[v->second].bundleJson = bundleJson;
    for (std::int64_t seq : rowsOf(recordId)) {
      OutboxRow& row = outbox_.at(seq);
      if (row.version == version &&
          isOneOf(row.state,
                  {OutboxState::kPending, OutboxState::kPatientUnmatched, OutboxState::kNotSent,
                   OutboxState::kDeadLetter, OutboxState::kUnroutable})) {
        setState(row, OutboxState::kSuperseded);
        row.updatedAt = now;
      }
    }
    OutboxRow key;
    key.recordId = recordId;
    key.patientKey = record->second.patientKey;
    key.version = version;
    key.versionIndex = v->second;
    if (!targets.empty()) {
      insertOutboxRows(key, targets, false, now);
    } else {
      insertOutboxRows(key, {DestinationTarget{"", OutboxState::kUnroutable, ""}}, false, now);
    }
    AuditEntry audit = auditOf(key, principal, "reprocess", now);
    audit.outcome = "ok";
    audit.detail =
        "translated again and queued for " + std::to_string(targets.size()) + " destination(s)";
    insertAudit(std::move(audit));
    committed();
    return Status::ok();
  }

  // ---- PatientStore ----

  Result<std::vector<StoredNotice>> listPatientNotices(const std::string& patientKey,
                                                       int limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<StoredNotice> out;
    const auto wanted = static_cast<std::size_t>(std::max(limit, 0));
    for (auto it = notices_.rbegin(); it != notices_.rend() && out.size() < wanted; ++it) {
      if (it->patientKey == patientKey) out.push_back(*it);
    }
    return out;
  }

  Result<std::vector<PatientRecordRow>> listPatientRecords(const std::string& patientKey,
                                                           const std::string& recordType,
                                                           int limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<PatientRecordRow> out;
    for (const auto& [recordId, record] : records_) {
      if (record.patientKey != patientKey ||
          (!recordType.empty() && record.recordType != recordType)) {
        continue;
      }
      const VersionRow& v = versions_[versionIndex_.at({recordId, record.latestVersion})];
      out.push_back(PatientRecordRow{recordId, record.recordType, record.latestVersion,
                                     record.updatedAt, v.recordJson.value_or("")});
    }
    // Newest first; records_ is ordered by id, and the sort is stable.
    std::stable_sort(out.begin(), out.end(),
                     [](const PatientRecordRow& a, const PatientRecordRow& b) {
                       return a.updatedAtMillis > b.updatedAtMillis;
                     });
    if (out.size() > static_cast<std::size_t>(std::max(limit, 0))) {
      out.resize(static_cast<std::size_t>(std::max(limit, 0)));
    }
    return out;
  }

  // ---- AuditStore ----

  Status appendAudit(AuditEntry entry) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entry.atMillis == 0) entry.atMillis = clock_.nowMillis();
    if (!entry.recordId.empty() && (entry.patientKey.empty() || entry.version == 0)) {
      // Whose record was read: the per-patient audit finds the row.
      auto record = records_.find(entry.recordId);
      if (record != records_.end()) {
        if (entry.patientKey.empty()) entry.patientKey = record->second.patientKey;
        if (entry.version == 0) entry.version = record->second.latestVersion;
        if (entry.recordType.empty()) entry.recordType = record->second.recordType;
      }
    }
    insertAudit(std::move(entry));
    committed();
    return Status::ok();
  }

  Result<std::vector<AuditEntry>> listAudit(int limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<AuditEntry> out;
    const auto wanted = static_cast<std::size_t>(std::max(limit, 0));
    for (auto it = audit_.rbegin(); it != audit_.rend() && out.size() < wanted; ++it) {
      out.push_back(*it);
    }
    return out;
  }

  Result<std::vector<AuditEntry>> listAuditFor(const AuditQuery& query) override {
    if (query.patientKey.empty()) return Status(ErrorCode::kInvalid, "empty patient key");
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<AuditEntry> out;
    if (query.limit <= 0) return out;
    for (const AuditEntry& e : audit_) {
      if (e.patientKey == query.patientKey && e.atMillis >= query.sinceMillis &&
          (query.action.empty() || e.action == query.action)) {
        out.push_back(e);
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const AuditEntry& a, const AuditEntry& b) {
      return a.atMillis < b.atMillis;
    });
    if (out.size() > static_cast<std::size_t>(query.limit)) {
      out.resize(static_cast<std::size_t>(query.limit));
    }
    return out;
  }

  // ---- AdminStore ----

  Result<StoreStats> stats() override {
    std::lock_guard<std::mutex> lock(mutex_);
    StoreStats stats;
    for (const auto& [id, record] : records_) {
      ++stats.recordsByType[record.recordType];
      ++stats.records;
    }
    stats.versions = static_cast<std::int64_t>(versions_.size());
    std::optional<std::int64_t> oldestPending;
    for (const auto& [seq, row] : outbox_) {
      ++stats.outboxByState[outboxStateName(row.state)];
      if (row.state == OutboxState::kPending) {
        oldestPending = std::min(oldestPending.value_or(row.createdAt), row.createdAt);
      }
    }
    if (oldestPending) {
      stats.oldestPendingAgeMillis = std::max<std::int64_t>(0, clock_.nowMillis() - *oldestPending);
    }
    stats.commits = commits_;
    stats.committedWrites = commits_;
    return stats;
  }

  Result<std::int64_t> purge(std::int64_t deliveredBeforeMillis, bool dryRun) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> purgeable;
    for (const auto& [recordId, record] : records_) {
      if (record.purged) continue;
      bool anyDelivered = false;
      bool blocked = false;
      for (std::int64_t seq : rowsOf(recordId)) {
        const OutboxRow& row = outbox_.at(seq);
        if (row.state == OutboxState::kDelivered) {
          anyDelivered = true;
          blocked = blocked || row.updatedAt >= deliveredBeforeMillis;
        } else if (row.state != OutboxState::kSuperseded) {
          blocked = true;
        }
      }
      if (anyDelivered && !blocked) purgeable.push_back(recordId);
    }
    if (dryRun) return static_cast<std::int64_t>(purgeable.size());
    const std::int64_t now = clock_.nowMillis();
    for (const std::string& recordId : purgeable) {
      for (DeliveryAttempt& a : attempts_) {
        if (a.recordId != recordId) continue;
        a.response.clear();
        a.request.clear();
        a.operationOutcome.clear();
      }
      for (StoredNotice& n : notices_) {
        if (n.recordId == recordId) n.text = "(purged by the retention policy)";
      }
      for (auto it = versionIndex_.lower_bound({recordId, 0});
           it != versionIndex_.end() && it->first.first == recordId; ++it) {
        VersionRow& v = versions_[it->second];
        v.recordJson.reset();
        v.bundleJson.reset();
        v.purged = true;
      }
      records_.at(recordId).purged = true;
    }
    AuditEntry audit;
    audit.atMillis = now;
    audit.principal = "inloop";
    audit.action = "purge";
    audit.outcome = "ok";
    audit.detail = std::to_string(purgeable.size()) + " records purged";
    insertAudit(std::move(audit));
    committed();
    return static_cast<std::int64_t>(purgeable.size());
  }

  Result<RekeyReport> rekeyPayloads(bool toPlaintext, bool dryRun) override {
    if (!toPlaintext) {
      return Status(ErrorCode::kInvalid,
                    "the memory store has no payload key file (encryption.keyFile): nothing to "
                    "seal with");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    // Nothing is sealed here: every stored value is plaintext, and stays so.
    RekeyReport report;
    std::int64_t& plaintext = report.valuesByKey[""];
    auto count = [&](const std::string& value) { plaintext += value.empty() ? 0 : 1; };
    for (const VersionRow& v : versions_) {
      count(v.recordJson.value_or(""));
      count(v.bundleJson.value_or(""));
    }
    for (const auto& [patient, list] : medicationLists_) count(list.listJson);
    for (const StoredNotice& n : notices_) count(n.text);
    for (const DeliveryAttempt& a : attempts_) {
      count(a.operationOutcome);
      count(a.response);
      count(a.request);
    }
    if (plaintext == 0) report.valuesByKey.clear();
    if (!dryRun) {
      AuditEntry audit;
      audit.atMillis = clock_.nowMillis();
      audit.principal = "inloop";
      audit.action = "rekey";
      audit.outcome = "ok";
      audit.detail = "0 payloads decrypted";
      insertAudit(std::move(audit));
      committed();
    }
    return report;
  }

 private:
  // Everything below runs with mutex_ held.

  void committed() { ++commits_; }

  // The outbox rows of a record, oldest first.
  const std::vector<std::int64_t>& rowsOf(const std::string& recordId) const {
    static const std::vector<std::int64_t> kNone;
    auto it = byRecord_.find(recordId);
    return it == byRecord_.end() ? kNone : it->second;
  }

  static std::int64_t dueAt(const OutboxRow& row) {
    return std::max(row.nextAttemptAt, row.leaseUntil);
  }

  // The head (oldest pending row) of every patient queue of `destinationId`.
  template <typename Visit>
  void forEachHead(const std::string& destinationId, Visit visit) const {
    auto dest = pending_.find(destinationId);
    if (dest == pending_.end()) return;
    for (const auto& [patient, seqs] : dest->second) visit(outbox_.at(*seqs.begin()));
  }

  // Every state change goes through here, so the pending queues stay exact.
  void setState(OutboxRow& row, OutboxState state) {
    if (row.state == OutboxState::kPending && state != OutboxState::kPending) {
      auto& patients = pending_[row.destinationId];
      auto& seqs = patients[row.patientKey];
      seqs.erase(row.seq);
      if (seqs.empty()) patients.erase(row.patientKey);
      if (patients.empty()) pending_.erase(row.destinationId);
    } else if (row.state != OutboxState::kPending && state == OutboxState::kPending) {
      pending_[row.destinationId][row.patientKey].insert(row.seq);
    }
    row.state = state;
    if (state != OutboxState::kPending) {
      row.shapeKey.clear();
      row.keptShape.clear();
    }
  }

  Status ingestOne(const IngestItem& item, std::int64_t now, IngestResult* result) {
    AuditEntry audit = ingestAuditOf(item, now);
    bool decided = false;
    if (auto same = versionIndex_.find({item.recordId, item.version});
        same != versionIndex_.end()) {
      const VersionRow& stored = versions_[same->second];
      decideStoredVersion(item, stored.contentHash, stored.receiptId, stored.receivedAt, result);
      decided = true;
    }
    auto record = records_.find(item.recordId);
    const bool knownRecord = record != records_.end();
    decided = decided || (knownRecord && decideStale(item, record->second.latestVersion, result));
    if (decided) {
      audit.outcome = ingestOutcomeName(result->outcome);
      insertAudit(std::move(audit));
      return Status::ok();
    }

    Result<std::string> receiptId = receiptIds_.next(now);
    if (!receiptId.isOk()) return receiptId.status();
    RecordRow& row = records_[item.recordId];
    row.recordType = item.recordType;
    row.practiceId = item.practiceId;
    row.patientKey = item.patientKey;
    row.latestVersion = item.version;
    row.updatedAt = now;
    row.purged = false;
    VersionRow version;
    version.recordId = item.recordId;
    version.version = item.version;
    version.recordType = item.recordType;
    version.practiceId = item.practiceId;
    version.contentHash = item.contentHash;
    version.recordJson = item.recordJson;
    version.bundleJson = item.bundleJson;
    version.receiptId = *receiptId;
    version.receivedAt = now;
    versions_.push_back(std::move(version));
    const std::size_t versionIndex = versions_.size() - 1;
    versionIndex_[{item.recordId, item.version}] = versionIndex;

    // An older version's unroutable marker is replaced whatever this version's routing is.
    if (knownRecord) supersedeOlder(item.recordId, "", item.version, now);
    std::vector<DestinationTarget> targets = item.destinations;
    if (targets.empty()) targets.push_back(DestinationTarget{"", OutboxState::kUnroutable, ""});
    OutboxRow key;
    key.recordId = item.recordId;
    key.patientKey = item.patientKey;
    key.version = item.version;
    key.versionIndex = versionIndex;
    insertOutboxRows(key, targets, knownRecord, now);
    writeSafety(item, now);

    decideAccepted(item, *receiptId, now, result);
    audit.outcome = "accepted";
    insertAudit(std::move(audit));
    return Status::ok();
  }

  // Marks older not-yet-delivered rows of `recordId` for one destination as
  // superseded by `version`. Leased rows (a delivery in flight) are left alone.
  void supersedeOlder(const std::string& recordId, const std::string& destinationId,
                      std::int64_t version, std::int64_t now) {
    for (std::int64_t seq : rowsOf(recordId)) {
      OutboxRow& row = outbox_.at(seq);
      if (row.destinationId == destinationId && row.version < version &&
          isOneOf(row.state, {OutboxState::kPending, OutboxState::kPatientUnmatched,
                              OutboxState::kUnroutable, OutboxState::kNotSent}) &&
          row.leaseUntil <= now) {
        setState(row, OutboxState::kSuperseded);
        row.updatedAt = now;
      }
    }
  }

  // One outbox row per target for the version `key` names (recordId,
  // patientKey, version, versionIndex), superseding the record's older open
  // rows for the same destination when `supersede`.
  void insertOutboxRows(const OutboxRow& key, const std::vector<DestinationTarget>& targets,
                        bool supersede, std::int64_t now) {
    for (const DestinationTarget& target : targets) {
      if (supersede && !target.destinationId.empty()) {
        supersedeOlder(key.recordId, target.destinationId, key.version, now);
      }
      OutboxRow row;
      row.seq = ++lastSeq_;
      row.destinationId = target.destinationId;
      row.patientKey = key.patientKey;
      row.recordId = key.recordId;
      row.version = key.version;
      row.versionIndex = key.versionIndex;
      row.state = OutboxState::kSuperseded;  // setState below files a pending row
      row.nextAttemptAt = now;
      row.reason = target.reason;
      row.createdAt = now;
      row.updatedAt = now;
      OutboxRow& stored = outbox_.emplace(row.seq, std::move(row)).first->second;
      setState(stored, target.initialState);
      byRecord_[key.recordId].push_back(stored.seq);
    }
  }

  void writeSafety(const IngestItem& item, std::int64_t now) {
    if (item.medicationListJson) {
      medicationLists_[item.patientKey] = MedicationListRow{
          item.patientKey, *item.medicationListJson, item.recordId, item.version, now};
    }
    for (const StoredNotice& notice : item.notices) {
      auto known = noticeByKey_.find(notice.key);
      if (known != noticeByKey_.end()) {
        // As SQLite's upsert: the row keeps its place, record and rule.
        StoredNotice& stored = notices_[known->second];
        stored.version = item.version;
        stored.priority = notice.priority;
        stored.date = notice.date;
        stored.text = notice.text;
        stored.createdAtMillis = now;
        continue;
      }
      StoredNotice stored = notice;
      stored.recordId = item.recordId;
      stored.version = item.version;
      stored.patientKey = item.patientKey;
      stored.createdAtMillis = now;
      noticeByKey_[notice.key] = notices_.size();
      notices_.push_back(std::move(stored));
    }
  }

  // One ledger row for `attempt` on `row`, cut to the ledger's limits.
  void insertAttempt(const DeliveryAttempt& attempt, const OutboxRow& row, std::int64_t now) {
    DeliveryAttempt a = attempt;
    a.id = static_cast<std::int64_t>(attempts_.size()) + 1;
    a.destinationId = row.destinationId;
    a.recordId = row.recordId;
    a.version = row.version;
    if (a.atMillis == 0) a.atMillis = now;
    a.operationOutcome.resize(std::min(a.operationOutcome.size(), kMaxLedgerOutcomeBytes));
    a.response.resize(std::min(a.response.size(), kMaxLedgerExchangeBytes));
    a.request.resize(std::min(a.request.size(), kMaxLedgerExchangeBytes));
    if (a.outcome != AttemptOutcome::kRetry) a.nextAttemptAtMillis = 0;
    a.endpointKind.clear();  // only the disclosure audit row keeps it
    attempts_.push_back(std::move(a));
  }

  void insertAudit(AuditEntry entry) {
    entry.id = static_cast<std::int64_t>(audit_.size()) + 1;
    audit_.push_back(std::move(entry));
  }

  // An audit row about the version of `row` (record id, version, type).
  AuditEntry auditOf(const OutboxRow& row, const std::string& principal, const char* action,
                     std::int64_t now) const {
    AuditEntry audit;
    audit.atMillis = now;
    audit.principal = principal;
    audit.action = action;
    audit.recordId = row.recordId;
    audit.version = row.version;
    audit.recordType = versions_[row.versionIndex].recordType;
    return audit;
  }

  // The accounting of disclosures: `row` (its record version) reached its destination.
  void insertDisclosure(const OutboxRow& row, const std::string& endpointKind, std::int64_t now) {
    AuditEntry audit = auditOf(row, "delivery", "disclose", now);
    audit.outcome = "delivered";
    audit.source = endpointKind;
    audit.detail = "message " + std::to_string(row.seq);
    audit.patientKey = row.patientKey;
    audit.destinationId = row.destinationId;
    insertAudit(std::move(audit));
  }

  DeadLetterEntry deadLetterOf(const OutboxRow& row) const {
    DeadLetterEntry e;
    e.messageId = row.seq;
    e.destinationId = row.destinationId;
    e.recordId = row.recordId;
    e.version = row.version;
    e.recordType = versions_[row.versionIndex].recordType;
    e.state = row.state;
    e.attempts = row.attempts;
    e.lastStatus = row.lastStatus;
    e.lastError = row.lastError;
    e.createdAtMillis = row.createdAt;
    e.updatedAtMillis = row.updatedAt;
    for (auto it = attempts_.rbegin(); it != attempts_.rend(); ++it) {
      if (it->messageId == row.seq) {
        e.operationOutcome = it->operationOutcome;
        break;
      }
    }
    return e;
  }

  Status report(std::int64_t messageId, OutboxState next, int lastStatus,
                const std::string& lastError, std::int64_t nextAttemptAt,
                std::initializer_list<OutboxState> allowedFrom) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = outbox_.find(messageId);
    if (it == outbox_.end()) {
      return Status(ErrorCode::kNotFound, "no outbox message " + std::to_string(messageId));
    }
    OutboxRow& row = it->second;
    if (!isOneOf(row.state, allowedFrom)) {
      return Status(ErrorCode::kConflict, "outbox message " + std::to_string(messageId) + " is " +
                                              outboxStateName(row.state));
    }
    const std::int64_t now = clock_.nowMillis();
    const OutboxState was = row.state;
    setState(row, next);
    ++row.attempts;
    row.lastStatus = lastStatus;
    row.lastError = lastError;
    row.leaseUntil = 0;
    row.nextAttemptAt = std::max(row.nextAttemptAt, nextAttemptAt);
    row.updatedAt = now;
    if (next == OutboxState::kDelivered && was != OutboxState::kDelivered) {
      insertDisclosure(row, "", now);
    }
    committed();
    return Status::ok();
  }

  Status changeDeadLetter(std::int64_t messageId, const std::string& principal, bool replay) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = outbox_.find(messageId);
    if (it == outbox_.end()) {
      return Status(ErrorCode::kNotFound, "no dead letter " + std::to_string(messageId));
    }
    OutboxRow& row = it->second;
    if (!isOneOf(row.state, {OutboxState::kDeadLetter, OutboxState::kNotSent})) {
      return Status(ErrorCode::kConflict, "message " + std::to_string(messageId) + " is " +
                                              outboxStateName(row.state) +
                                              ", not dead-letter or not-sent");
    }
    if (replay) {
      for (std::int64_t seq : rowsOf(row.recordId)) {
        const OutboxRow& other = outbox_.at(seq);
        if (other.destinationId == row.destinationId && other.version > row.version &&
            isOneOf(other.state, {OutboxState::kPending, OutboxState::kPatientUnmatched,
                                  OutboxState::kWritten, OutboxState::kDelivered})) {
          return Status(ErrorCode::kConflict, "a newer version of record " + row.recordId +
                                                  " is queued or delivered for " +
                                                  row.destinationId +
                                                  "; replaying this one would overwrite it");
        }
      }
    }
    const std::int64_t now = clock_.nowMillis();
    setState(row, replay ? OutboxState::kPending : OutboxState::kDiscarded);
    row.nextAttemptAt = now;
    row.leaseUntil = 0;
    row.updatedAt = now;
    AuditEntry audit =
        auditOf(row, principal, replay ? "deadletter-replay" : "deadletter-discard", now);
    audit.outcome = "ok";
    audit.source = row.destinationId;
    audit.detail = "message " + std::to_string(messageId);
    insertAudit(std::move(audit));
    committed();
    return Status::ok();
  }

  const Clock& clock_;
  std::mutex mutex_;  // guards everything below
  ReceiptIds receiptIds_;
  std::map<std::string, RecordRow> records_;
  std::vector<VersionRow> versions_;
  std::map<std::pair<std::string, std::int64_t>, std::size_t> versionIndex_;
  std::map<std::int64_t, OutboxRow> outbox_;  // by seq
  std::map<std::string, std::vector<std::int64_t>> byRecord_;
  // destination -> patient -> seqs of its pending rows (the first is the head).
  std::map<std::string, std::map<std::string, std::set<std::int64_t>>> pending_;
  std::int64_t lastSeq_ = 0;
  std::vector<DeliveryAttempt> attempts_;  // id = index + 1
  std::vector<AuditEntry> audit_;          // id = index + 1
  std::map<std::string, MedicationListRow> medicationLists_;
  std::vector<StoredNotice> notices_;  // in insertion (id) order
  std::map<std::string, std::size_t> noticeByKey_;
  std::uint64_t commits_ = 0;
};

}  // namespace

std::unique_ptr<Store> openMemoryStore(const Clock& clock) {
  return std::make_unique<MemoryStore>(clock);
}

}  // namespace inloop::gateway
