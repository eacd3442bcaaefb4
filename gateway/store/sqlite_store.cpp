#include "gateway/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <utility>

#include "gateway/store/migrations.h"
#include "gateway/store/payload_cipher.h"
#include "gateway/store/sqlite_util.h"
#include "gateway/store/store_rules.h"

namespace inloop::gateway {

using fhir::ErrorCode;
using fhir::Result;
using fhir::Status;
using sqlite::Database;

namespace {

// Runs `body` for each row; stops at the first error.
template <typename Body>
Status forEachRow(sqlite::Stmt& stmt, Body body) {
  for (;;) {
    auto row = stmt.next();
    if (!row) return row.status();
    if (!*row) return Status::ok();
    body(stmt);
  }
}

// Receipt ids in ascending order: "rcpt-" + 16 hex digits of
// (epoch milliseconds << 20) + a sequence, always above the last one issued
// (seeded at open from the highest stored id, so also across restarts and over
// the random ids of older versions). Ascending ids are appended to the unique
// index on receipt_id: one index page per commit instead of one random page per
// record (a sixth of the WAL written per single-record commit). Used by the
// writer thread only.
std::int64_t fileSize(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return static_cast<std::int64_t>(info.st_size);
}

// Recomputes the head (oldest pending message) of one (destination, patient)
// queue. Called after any change to that queue's pending rows; O(log n) through
// the partial index outbox_pending.
Status refreshHead(Database& db, const std::string& destinationId, const std::string& patientKey) {
  auto find = db.prepare(
      "SELECT seq, max(next_attempt_at, lease_until) FROM outbox "
      "WHERE destination_id = ?1 AND patient_key = ?2 AND state = 'pending' "
      "ORDER BY seq LIMIT 1");
  if (!find) return find.status();
  find->bind(1, destinationId).bind(2, patientKey);
  auto row = find->next();
  if (!row) return row.status();
  if (!*row) {
    auto del =
        db.prepare("DELETE FROM outbox_heads WHERE destination_id = ?1 AND patient_key = ?2");
    if (!del) return del.status();
    return del->bind(1, destinationId).bind(2, patientKey).run();
  }
  const std::int64_t seq = find->int64(0);
  const std::int64_t dueAt = find->int64(1);
  auto upsert = db.prepare(
      "INSERT INTO outbox_heads(destination_id, patient_key, seq, due_at) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(destination_id, patient_key) DO UPDATE SET seq = excluded.seq, "
      "due_at = excluded.due_at");
  if (!upsert) return upsert.status();
  return upsert->bind(1, destinationId).bind(2, patientKey).bind(3, seq).bind(4, dueAt).run();
}

// The payload columns: sealed when a payload key file is configured
// (payload_cipher.h); the names are part of each sealed value's associated data.
namespace column {
constexpr std::string_view kRecord = "record_versions.record_json";
constexpr std::string_view kBundle = "translations.bundle_json";
constexpr std::string_view kMedicationList = "medication_lists.list_json";
constexpr std::string_view kNoticeText = "notices.text";
constexpr std::string_view kOperationOutcome = "attempts.operation_outcome";
constexpr std::string_view kResponse = "attempts.response";
constexpr std::string_view kRequest = "attempts.request";
constexpr std::string_view kKeptShape = "kept_shapes.shape_json";
}  // namespace column

// Seals `*value` in place for `column` (an empty value stays empty: no payload).
Status sealPayload(const PayloadCipher& cipher, std::string_view column, std::string* value) {
  if (value->empty() || !cipher.enabled()) return Status::ok();
  Result<std::string> sealed = cipher.seal(column, *value);
  if (!sealed) return sealed.status();
  *value = std::move(*sealed);
  return Status::ok();
}

// Opens a stored value of `column` in place (plaintext stays as it is).
Status openPayload(const PayloadCipher& cipher, std::string_view column, std::string* value) {
  if (value->size() < kSealedPrefix.size()) return Status::ok();
  Result<std::string> plain = cipher.open(column, *value);
  if (!plain) return plain.status();
  *value = std::move(*plain);
  return Status::ok();
}

// One ledger row (attempts) for `attempt` of the message `attempt.messageId`;
// the receiver's answer and the request are cut to their limits, then sealed.
Status insertAttempt(Database& db, const PayloadCipher& cipher, const DeliveryAttempt& attempt,
                     const std::string& destinationId, const std::string& recordId,
                     std::int64_t version, std::int64_t now) {
  std::string operationOutcome(
      std::string_view(attempt.operationOutcome).substr(0, kMaxLedgerOutcomeBytes));
  std::string response(std::string_view(attempt.response).substr(0, kMaxLedgerExchangeBytes));
  std::string request(std::string_view(attempt.request).substr(0, kMaxLedgerExchangeBytes));
  for (auto [name, value] :
       {std::pair{column::kOperationOutcome, &operationOutcome},
        std::pair{column::kResponse, &response}, std::pair{column::kRequest, &request}}) {
    if (Status st = sealPayload(cipher, name, value); !st.isOk()) return st;
  }
  auto insert = db.prepare(
      "INSERT INTO attempts(message_seq, destination_id, record_id, version, at, "
      "duration_ms, outcome, http_status, error, operation_outcome, location, "
      "next_attempt_at, response, request) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
  if (!insert) return insert.status();
  insert->bind(1, attempt.messageId)
      .bind(2, destinationId)
      .bind(3, recordId)
      .bind(4, version)
      .bind(5, attempt.atMillis != 0 ? attempt.atMillis : now)
      .bind(6, attempt.durationMillis)
      .bind(7, std::string_view(attemptOutcomeName(attempt.outcome)))
      .bind(8, attempt.httpStatus)
      .bind(9, attempt.error)
      .bind(10, operationOutcome)
      .bind(11, attempt.location)
      .bind(12, attempt.outcome == AttemptOutcome::kRetry ? attempt.nextAttemptAtMillis
                                                          : std::int64_t{0})
      .bind(13, response)
      .bind(14, request);
  return insert->run();
}

Status insertAudit(Database& db, const AuditEntry& entry) {
  auto stmt = db.prepare(
      "INSERT INTO audit(at, principal, action, record_id, version, record_type, outcome, "
      "source, detail, patient_key, destination_id, remote_address) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  if (!stmt) return stmt.status();
  return stmt->bind(1, entry.atMillis)
      .bind(2, entry.principal)
      .bind(3, entry.action)
      .bind(4, entry.recordId)
      .bind(5, entry.version)
      .bind(6, entry.recordType)
      .bind(7, entry.outcome)
      .bind(8, entry.source)
      .bind(9, entry.detail)
      .bind(10, entry.patientKey)
      .bind(11, entry.destinationId)
      .bind(12, entry.remoteAddress)
      .run();
}

// The accounting of disclosures: outbox message `seq` (its record version)
// reached its destination. ONE statement, run in the transaction that makes
// the message delivered, so a delivery is never without its row.
Status insertDisclosure(Database& db, std::int64_t seq, const std::string& endpointKind,
                        std::int64_t now) {
  auto stmt = db.prepare(
      "INSERT INTO audit(at, principal, action, record_id, version, record_type, outcome, "
      "source, detail, patient_key, destination_id) "
      "SELECT ?2, 'delivery', 'disclose', o.record_id, o.version, v.record_type, 'delivered', "
      "?3, 'message ' || o.seq, o.patient_key, o.destination_id "
      "FROM outbox o JOIN record_versions v ON v.id = o.version_id WHERE o.seq = ?1");
  if (!stmt) return stmt.status();
  return stmt->bind(1, seq).bind(2, now).bind(3, endpointKind).run();
}

constexpr const char* kAuditColumns =
    "id, at, principal, action, record_id, version, record_type, outcome, source, detail, "
    "patient_key, destination_id, remote_address";

AuditEntry readAudit(sqlite::Stmt& s) {
  AuditEntry entry;
  entry.id = s.int64(0);
  entry.atMillis = s.int64(1);
  entry.principal = s.text(2);
  entry.action = s.text(3);
  entry.recordId = s.text(4);
  entry.version = s.int64(5);
  entry.recordType = s.text(6);
  entry.outcome = s.text(7);
  entry.source = s.text(8);
  entry.detail = s.text(9);
  entry.patientKey = s.text(10);
  entry.destinationId = s.text(11);
  entry.remoteAddress = s.text(12);
  return entry;
}

// Marks older not-yet-delivered rows of `recordId` for one destination as
// superseded by `version`. Leased rows (a delivery in flight) are left alone.
// Drops what an earlier attempt of message `seq` sent (kept only while it is pending).
Status dropKeptShape(Database& db, std::int64_t seq) {
  auto drop = db.prepare("DELETE FROM kept_shapes WHERE message_seq = ?1");
  if (!drop) return drop.status();
  return drop->bind(1, seq).run();
}

// Message `seq` gives way to a later version (its head is the caller's).
Status supersede(Database& db, std::int64_t seq, std::int64_t now) {
  auto update =
      db.prepare("UPDATE outbox SET state = 'superseded', updated_at = ?2 WHERE seq = ?1");
  if (!update) return update.status();
  if (Status st = update->bind(1, seq).bind(2, now).run(); !st.isOk()) return st;
  return dropKeptShape(db, seq);
}

Status supersedeOlder(Database& db, const std::string& recordId, const std::string& destinationId,
                      std::int64_t version, std::int64_t now) {
  struct Row {
    std::int64_t seq;
    std::string patientKey;
    bool pending;
  };
  std::vector<Row> rows;
  {
    auto find = db.prepare(
        "SELECT seq, patient_key, state FROM outbox WHERE record_id = ?1 AND destination_id = ?2 "
        "AND version < ?3 AND state IN ('pending', 'patient-unmatched', 'unroutable', 'not-sent') "
        "AND lease_until <= ?4");
    if (!find) return find.status();
    find->bind(1, recordId).bind(2, destinationId).bind(3, version).bind(4, now);
    Status st = forEachRow(*find, [&](sqlite::Stmt& s) {
      rows.push_back(Row{s.int64(0), s.text(1), s.text(2) == "pending"});
    });
    if (!st.isOk()) return st;
  }
  for (const Row& row : rows) {
    if (Status st = supersede(db, row.seq, now); !st.isOk()) return st;
    if (row.pending) {
      if (Status st = refreshHead(db, destinationId, row.patientKey); !st.isOk()) return st;
    }
  }
  return Status::ok();
}

// The safety loop's part of an accepted item: the patient's new medication
// list and the notices of this version, in the ingest's transaction.
// The outbox rows of one record version.
struct OutboxKey {
  const std::string& recordId;
  const std::string& patientKey;
  std::int64_t version = 0;
  std::int64_t versionId = 0;
};

// One outbox row per target (destinationId "" with kUnroutable: the marker),
// superseding the record's older still-open rows for the same destination when
// `supersede` (a record seen before).
Status insertOutboxRows(Database& db, const OutboxKey& key,
                        const std::vector<DestinationTarget>& targets, bool supersede,
                        std::int64_t now) {
  for (const DestinationTarget& target : targets) {
    if (supersede && !target.destinationId.empty()) {
      Status st = supersedeOlder(db, key.recordId, target.destinationId, key.version, now);
      if (!st.isOk()) return st;
    }
    auto insert = db.prepare(
        "INSERT INTO outbox(destination_id, patient_key, record_id, version, version_id, state, "
        "next_attempt_at, reason, created_at, updated_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7)");
    if (!insert) return insert.status();
    insert->bind(1, target.destinationId)
        .bind(2, key.patientKey)
        .bind(3, key.recordId)
        .bind(4, key.version)
        .bind(5, key.versionId)
        .bind(6, std::string_view(outboxStateName(target.initialState)))
        .bind(7, now)
        .bind(8, target.reason);
    if (Status st = insert->run(); !st.isOk()) return st;
    if (target.initialState == OutboxState::kPending) {
      if (Status st = refreshHead(db, target.destinationId, key.patientKey); !st.isOk()) {
        return st;
      }
    }
  }
  return Status::ok();
}

Status writeSafety(Database& db, const IngestItem& item, std::int64_t now) {
  if (item.medicationListJson) {
    auto upsert = db.prepare(
        "INSERT INTO medication_lists(patient_key, list_json, record_id, version, updated_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(patient_key) DO UPDATE SET "
        "list_json = excluded.list_json, record_id = excluded.record_id, "
        "version = excluded.version, updated_at = excluded.updated_at");
    if (!upsert) return upsert.status();
    upsert->bind(1, item.patientKey)
        .bind(2, *item.medicationListJson)
        .bind(3, item.recordId)
        .bind(4, item.version)
        .bind(5, now);
    if (Status st = upsert->run(); !st.isOk()) return st;
  }
  for (const StoredNotice& notice : item.notices) {
    auto upsert = db.prepare(
        "INSERT INTO notices(notice_key, record_id, version, patient_key, rule_id, priority, "
        "notice_date, text, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
        "ON CONFLICT(notice_key) DO UPDATE SET version = excluded.version, "
        "priority = excluded.priority, notice_date = excluded.notice_date, "
        "text = excluded.text, created_at = excluded.created_at");
    if (!upsert) return upsert.status();
    upsert->bind(1, notice.key)
        .bind(2, item.recordId)
        .bind(3, item.version)
        .bind(4, item.patientKey)
        .bind(5, notice.ruleId)
        .bind(6, notice.priority)
        .bind(7, notice.date)
        .bind(8, notice.text)
        .bind(9, now);
    if (Status st = upsert->run(); !st.isOk()) return st;
  }
  return Status::ok();
}

Status ingestOne(Database& db, const IngestItem& item, std::int64_t now, ReceiptIds& receipts,
                 IngestResult* result) {
  AuditEntry audit = ingestAuditOf(item, now);
  bool knownRecord = false;  // some version of it is stored (so it may have outbox rows)
  std::int64_t latestVersion = 0;
  {
    auto latest = db.prepare("SELECT latest_version FROM records WHERE record_id = ?1");
    if (!latest) return latest.status();
    latest->bind(1, item.recordId);
    auto row = latest->next();
    if (!row) return row.status();
    knownRecord = *row;
    if (knownRecord) latestVersion = latest->int64(0);
  }
  // A record seen for the first time has no stored version to compare with.
  bool decided = false;
  if (knownRecord) {
    auto find = db.prepare(
        "SELECT content_hash, receipt_id, received_at FROM record_versions "
        "WHERE record_id = ?1 AND version = ?2");
    if (!find) return find.status();
    find->bind(1, item.recordId).bind(2, item.version);
    auto row = find->next();
    if (!row) return row.status();
    if (*row) {
      decided = true;
      decideStoredVersion(item, find->text(0), find->text(1), find->int64(2), result);
    }
  }
  if (!decided) decided = knownRecord && decideStale(item, latestVersion, result);
  if (decided) {
    audit.outcome = ingestOutcomeName(result->outcome);
    return insertAudit(db, audit);
  }

  auto receiptId = receipts.next(now);
  if (!receiptId) return receiptId.status();
  {
    auto upsert = db.prepare(
        "INSERT INTO records(record_id, record_type, practice_id, patient_key, latest_version, "
        "first_received_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6) "
        "ON CONFLICT(record_id) DO UPDATE SET record_type = excluded.record_type, "
        "practice_id = excluded.practice_id, patient_key = excluded.patient_key, "
        "latest_version = excluded.latest_version, updated_at = excluded.updated_at, "
        "purged_at = NULL");
    if (!upsert) return upsert.status();
    upsert->bind(1, item.recordId)
        .bind(2, item.recordType)
        .bind(3, item.practiceId)
        .bind(4, item.patientKey)
        .bind(5, item.version)
        .bind(6, now);
    if (Status st = upsert->run(); !st.isOk()) return st;
  }
  std::int64_t versionId = 0;
  {
    auto insert = db.prepare(
        "INSERT INTO record_versions(record_id, version, record_type, practice_id, patient_key, "
        "content_hash, record_json, receipt_id, received_at, principal, source) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!insert) return insert.status();
    insert->bind(1, item.recordId)
        .bind(2, item.version)
        .bind(3, item.recordType)
        .bind(4, item.practiceId)
        .bind(5, item.patientKey)
        .bind(6, item.contentHash)
        .bindStatic(7, item.recordJson)
        .bind(8, *receiptId)
        .bind(9, now)
        .bind(10, item.principal)
        .bind(11, item.source);
    if (Status st = insert->run(); !st.isOk()) return st;
    versionId = db.lastInsertRowid();
  }
  {
    auto insert = db.prepare("INSERT INTO translations(version_id, bundle_json) VALUES(?1, ?2)");
    if (!insert) return insert.status();
    if (Status st = insert->bind(1, versionId).bindStatic(2, item.bundleJson).run(); !st.isOk()) {
      return st;
    }
  }

  // An older version's unroutable marker is replaced whatever this version's routing is.
  // A record seen for the first time has no older rows to look for.
  if (knownRecord) {
    if (Status st = supersedeOlder(db, item.recordId, "", item.version, now); !st.isOk()) {
      return st;
    }
  }
  std::vector<DestinationTarget> targets = item.destinations;
  if (targets.empty()) targets.push_back(DestinationTarget{"", OutboxState::kUnroutable, ""});
  const OutboxKey key{item.recordId, item.patientKey, item.version, versionId};
  if (Status st = insertOutboxRows(db, key, targets, knownRecord, now); !st.isOk()) return st;

  if (Status st = writeSafety(db, item, now); !st.isOk()) return st;

  decideAccepted(item, *receiptId, now, result);
  audit.outcome = "accepted";
  return insertAudit(db, audit);
}

// The queue an outbox message belongs to, and its state.
struct MessageRow {
  std::string destinationId;
  std::string patientKey;
  std::string state;
  std::string recordId;
  std::int64_t version = 0;
};

Result<MessageRow> findMessage(Database& db, std::int64_t messageId) {
  auto find = db.prepare(
      "SELECT destination_id, patient_key, state, record_id, version FROM outbox WHERE seq = ?1");
  if (!find) return find.status();
  find->bind(1, messageId);
  auto row = find->next();
  if (!row) return row.status();
  if (!*row) {
    return Status(ErrorCode::kNotFound, "no outbox message " + std::to_string(messageId));
  }
  return MessageRow{find->text(0), find->text(1), find->text(2), find->text(3), find->int64(4)};
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, SqliteStoreOptions options, const Clock& clock,
              std::unique_ptr<Database> writerDb, std::unique_ptr<Database> checkpointDb,
              std::uint64_t lastReceipt)
      : path_(std::move(path)),
        options_(options),
        cipher_(std::make_shared<const PayloadCipher>(options.payloadKeys)),
        clock_(clock),
        writerDb_(std::move(writerDb)),
        receiptIds_(lastReceipt),
        checkpointDb_(std::move(checkpointDb)),
        checkpointer_([this] { checkpointLoop(); }),
        writer_([this] { writerLoop(); }) {
    // Replaces SQLite's autocheckpoint on the writer (the two are exclusive).
    sqlite3_wal_hook(writerDb_->handle(), &SqliteStore::onWalCommit, this);
  }

  ~SqliteStore() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    workCv_.notify_all();
    writer_.join();
    {
      std::lock_guard<std::mutex> lock(checkpointMutex_);
      checkpointStopping_ = true;
    }
    checkpointCv_.notify_all();
    checkpointer_.join();
  }

  Result<std::vector<IngestResult>> ingest(std::vector<IngestItem> items) override {
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (Status st = validateIngestItem(items[i], i); !st.isOk()) return st;
    }
    std::vector<IngestResult> results;
    if (items.empty()) return results;
    // Sealed here, on the caller's thread, not on the one writer's.
    for (IngestItem& item : items) {
      if (Status st = sealItem(&item); !st.isOk()) return st;
    }
    Job job;
    job.weight = items.size();
    job.bounded = true;
    job.run = [&](Database& db) {
      results.assign(items.size(), IngestResult{});
      const std::int64_t now = clock_.nowMillis();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (Status st = ingestOne(db, items[i], now, receiptIds_, &results[i]); !st.isOk()) {
          return st;
        }
      }
      return Status::ok();
    };
    if (Status st = submit(job); !st.isOk()) return st;
    return results;
  }

  Result<RecordView> getRecord(const std::string& recordId) override {
    auto reader = acquireReader();
    if (!reader) return reader.status();
    Database& db = *reader->db;
    ReadTransaction txn(db);
    if (!txn.status.isOk()) return txn.status;
    RecordView view;
    view.recordId = recordId;
    {
      auto stmt = db.prepare(
          "SELECT record_type, practice_id, latest_version, purged_at FROM records "
          "WHERE record_id = ?1");
      if (!stmt) return stmt.status();
      stmt->bind(1, recordId);
      auto row = stmt->next();
      if (!row) return row.status();
      if (!*row) return Status(ErrorCode::kNotFound, "no record " + recordId);
      view.recordType = stmt->text(0);
      view.practiceId = stmt->text(1);
      view.latestVersion = stmt->int64(2);
      view.purged = !stmt->isNull(3);
    }
    {
      auto stmt = db.prepare(
          "SELECT version, received_at, content_hash, receipt_id, purged_at FROM record_versions "
          "WHERE record_id = ?1 ORDER BY version");
      if (!stmt) return stmt.status();
      stmt->bind(1, recordId);
      Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
        view.versions.push_back(
            VersionInfo{s.int64(0), s.int64(1), s.text(2), s.text(3), !s.isNull(4)});
      });
      if (!st.isOk()) return st;
    }
    {
      auto stmt = db.prepare(
          "SELECT v.record_json, t.bundle_json, v.receipt_id, v.received_at "
          "FROM record_versions v LEFT JOIN translations t ON t.version_id = v.id "
          "WHERE v.record_id = ?1 AND v.version = ?2");
      if (!stmt) return stmt.status();
      stmt->bind(1, recordId).bind(2, view.latestVersion);
      auto row = stmt->next();
      if (!row) return row.status();
      if (*row) {
        view.recordJson = stmt->text(0);
        view.bundleJson = stmt->text(1);
        if (Status st = openStored(column::kRecord, &view.recordJson); !st.isOk()) {
          return st;
        }
        if (Status st = openStored(column::kBundle, &view.bundleJson); !st.isOk()) {
          return st;
        }
        view.receipt.receiptId = stmt->text(2);
        view.receipt.receivedAtMillis = stmt->int64(3);
        view.receipt.receivedAt = formatInstant(view.receipt.receivedAtMillis);
      }
      view.receipt.recordId = recordId;
      view.receipt.version = view.latestVersion;
      view.receipt.status = IngestOutcome::kAccepted;
    }
    {
      auto stmt = db.prepare(
          "SELECT seq, destination_id, version, state, attempts, last_status, last_error, reason, "
          "next_attempt_at, updated_at FROM outbox WHERE record_id = ?1 ORDER BY seq");
      if (!stmt) return stmt.status();
      stmt->bind(1, recordId);
      Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
        DeliveryState row;
        row.messageId = s.int64(0);
        row.destinationId = s.text(1);
        row.version = s.int64(2);
        parseOutboxState(s.text(3), &row.state);
        row.attempts = s.int64(4);
        row.lastStatus = static_cast<int>(s.int64(5));
        row.lastError = s.text(6);
        row.reason = s.text(7);
        row.nextAttemptAtMillis = s.int64(8);
        row.updatedAtMillis = s.int64(9);
        view.deliveries.push_back(std::move(row));
      });
      if (!st.isOk()) return st;
    }
    return view;
  }

  Result<std::vector<OutboxMessage>> claimDue(const std::string& destinationId, std::int64_t now,
                                              int limit, std::int64_t leaseForMillis) override {
    std::vector<OutboxMessage> messages;
    if (limit <= 0) return messages;
    Job job;
    job.run = [&](Database& db) {
      messages.clear();
      std::vector<std::int64_t> seqs;
      {
        auto heads = db.prepare(
            "SELECT seq FROM outbox_heads WHERE destination_id = ?1 AND due_at <= ?2 "
            "ORDER BY due_at LIMIT ?3");
        if (!heads) return heads.status();
        heads->bind(1, destinationId).bind(2, now).bind(3, limit);
        Status st = forEachRow(*heads, [&](sqlite::Stmt& s) { seqs.push_back(s.int64(0)); });
        if (!st.isOk()) return st;
      }
      const std::int64_t leaseUntil = now + std::max<std::int64_t>(leaseForMillis, 1);
      for (std::int64_t seq : seqs) {
        OutboxMessage message;
        {
          // The lease only: the payloads are read outside the writer (below).
          auto read = db.prepare(
              "SELECT o.destination_id, o.patient_key, o.record_id, o.version, v.record_type, "
              "o.attempts FROM outbox o JOIN record_versions v ON v.id = o.version_id "
              "WHERE o.seq = ?1 AND o.state = 'pending'");
          if (!read) return read.status();
          read->bind(1, seq);
          auto row = read->next();
          if (!row) return row.status();
          if (!*row) continue;  // cannot happen while heads are maintained; skip safely
          message.messageId = seq;
          message.destinationId = read->text(0);
          message.patientKey = read->text(1);
          message.recordId = read->text(2);
          message.version = read->int64(3);
          message.recordType = read->text(4);
          message.attempts = read->int64(5);
          message.leaseUntilMillis = leaseUntil;
        }
        auto lease = db.prepare("UPDATE outbox SET lease_until = ?2 WHERE seq = ?1");
        if (!lease) return lease.status();
        if (Status st = lease->bind(1, seq).bind(2, leaseUntil).run(); !st.isOk()) return st;
        auto head = db.prepare(
            "UPDATE outbox_heads SET due_at = ?3 WHERE destination_id = ?1 AND patient_key = ?2");
        if (!head) return head.status();
        Status st = head->bind(1, message.destinationId)
                        .bind(2, message.patientKey)
                        .bind(3, leaseUntil)
                        .run();
        if (!st.isOk()) return st;
        messages.push_back(std::move(message));
      }
      return Status::ok();
    };
    if (Status st = submit(job); !st.isOk()) return st;
    // The payloads, read and opened on the caller's thread on a reader, so that
    // the writer (and every commit waiting for it) does not read them. Safe
    // after the commit: a version's payload does not change while a message
    // of it is leased, and only the lease holder changes its kept shape.
    if (messages.empty()) return messages;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    ReadTransaction txn(*reader->db);
    if (!txn.status.isOk()) return txn.status;
    for (OutboxMessage& message : messages) {
      if (Status st = readPayload(*reader->db, &message, true); !st.isOk()) return st;
    }
    return messages;
  }

  Status readMessageSource(OutboxMessage* message) override {
    auto reader = acquireReader();
    if (!reader) return reader.status();
    return readPayload(*reader->db, message, false);
  }

  Status markDelivered(std::int64_t messageId, int lastStatus) override {
    return report(messageId, "delivered", lastStatus, "", 0,
                  {"pending", "superseded", "delivered"});
  }

  Status scheduleRetry(std::int64_t messageId, std::int64_t nextAttemptAtMillis, int lastStatus,
                       const std::string& lastError) override {
    return report(messageId, "pending", lastStatus, lastError, nextAttemptAtMillis, {"pending"});
  }

  Status deadLetter(std::int64_t messageId, int lastStatus, const std::string& lastError) override {
    return report(messageId, "dead-letter", lastStatus, lastError, 0, {"pending"});
  }

  Result<std::int64_t> markPublished(const std::string& destinationId,
                                     const std::vector<std::int64_t>& messageIds,
                                     const std::string& location,
                                     const std::string& endpointKind) override {
    std::int64_t published = 0;
    Job job;
    job.run = [&](Database& db) {
      published = 0;
      std::vector<std::int64_t> seqs = messageIds;
      if (seqs.empty()) {
        auto written = db.prepare(
            "SELECT seq FROM outbox WHERE state = 'written' AND destination_id = ?1 ORDER BY seq");
        if (!written) return written.status();
        written->bind(1, destinationId);
        Status st = forEachRow(*written, [&](sqlite::Stmt& r) { seqs.push_back(r.int64(0)); });
        if (!st.isOk()) return st;
      }
      const std::int64_t now = clock_.nowMillis();
      for (std::int64_t seq : seqs) {
        auto found = findMessage(db, seq);
        if (!found) {
          if (found.status().code() == ErrorCode::kNotFound) continue;
          return found.status();
        }
        if (found->destinationId != destinationId ||
            (found->state != "written" && found->state != "pending")) {
          continue;
        }
        const DeliveryAttempt row = publicationAttempt(seq, location, now);
        if (Status st = insertAttempt(db, *cipher(), row, destinationId, found->recordId,
                                      found->version, now);
            !st.isOk()) {
          return st;
        }
        auto update = db.prepare(
            "UPDATE outbox SET state = 'delivered', last_error = '', lease_until = 0, "
            "updated_at = ?2 WHERE seq = ?1");
        if (!update) return update.status();
        if (Status st = update->bind(1, seq).bind(2, now).run(); !st.isOk()) return st;
        if (Status st = insertDisclosure(db, seq, endpointKind, now); !st.isOk()) return st;
        if (found->state == "pending") {
          if (Status st = refreshHead(db, destinationId, found->patientKey); !st.isOk()) return st;
        }
        ++published;
      }
      return Status::ok();
    };
    if (Status st = submit(job); !st.isOk()) return st;
    return published;
  }

  Result<StoreStats> stats() override {
    auto reader = acquireReader();
    if (!reader) return reader.status();
    Database& db = *reader->db;
    ReadTransaction txn(db);
    if (!txn.status.isOk()) return txn.status;
    StoreStats stats;
    {
      auto stmt = db.prepare("SELECT record_type, count(*) FROM records GROUP BY record_type");
      if (!stmt) return stmt.status();
      Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
        stats.recordsByType[s.text(0)] = s.int64(1);
        stats.records += s.int64(1);
      });
      if (!st.isOk()) return st;
    }
    {
      auto count = db.queryInt("SELECT count(*) FROM record_versions");
      if (!count) return count.status();
      stats.versions = *count;
    }
    {
      auto stmt = db.prepare("SELECT state, count(*) FROM outbox GROUP BY state");
      if (!stmt) return stmt.status();
      Status st =
          forEachRow(*stmt, [&](sqlite::Stmt& s) { stats.outboxByState[s.text(0)] = s.int64(1); });
      if (!st.isOk()) return st;
    }
    {
      auto oldest =
          db.queryInt("SELECT coalesce(min(created_at), -1) FROM outbox WHERE state = 'pending'");
      if (!oldest) return oldest.status();
      if (*oldest >= 0) {
        stats.oldestPendingAgeMillis = std::max<std::int64_t>(0, clock_.nowMillis() - *oldest);
      }
    }
    stats.dbFileBytes = fileSize(path_) + fileSize(path_ + "-wal");
    stats.commits = commits_.load();
    stats.committedWrites = committedWrites_.load();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats.queuedItems = queuedItems_;
      stats.committingItems = committingItems_;
    }
    return stats;
  }

  Result<std::int64_t> purge(std::int64_t deliveredBeforeMillis, bool dryRun) override {
    std::int64_t purged = 0;
    Job job;
    job.run = [&](Database& db) {
      purged = 0;
      const std::int64_t now = clock_.nowMillis();
      std::vector<std::string> recordIds;
      {
        auto find = db.prepare(
            "SELECT r.record_id FROM records r WHERE r.purged_at IS NULL "
            "AND EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = r.record_id "
            "AND o.state = 'delivered') "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = r.record_id "
            "AND (o.state NOT IN ('delivered', 'superseded') "
            "OR (o.state = 'delivered' AND o.updated_at >= ?1)))");
        if (!find) return find.status();
        find->bind(1, deliveredBeforeMillis);
        Status st = forEachRow(*find, [&](sqlite::Stmt& s) { recordIds.push_back(s.text(0)); });
        if (!st.isOk()) return st;
      }
      if (dryRun) {
        purged = static_cast<std::int64_t>(recordIds.size());
        return Status::ok();
      }
      // Zero what the updates free, so that no page keeps the old payload.
      if (Status st = db.exec("PRAGMA secure_delete = ON"); !st.isOk()) return st;
      for (const std::string& recordId : recordIds) {
        for (const char* sql :
             {"UPDATE attempts SET response = '', request = '', operation_outcome = '' "
              "WHERE record_id = ?1",
              "UPDATE notices SET text = '(purged by the retention policy)' WHERE record_id = "
              "?1"}) {
          auto clear = db.prepare(sql);
          if (!clear) return clear.status();
          if (Status st = clear->bind(1, recordId).run(); !st.isOk()) return st;
        }
        auto shapes = db.prepare(
            "DELETE FROM kept_shapes WHERE message_seq IN "
            "(SELECT seq FROM outbox WHERE record_id = ?1)");
        if (!shapes) return shapes.status();
        if (Status st = shapes->bind(1, recordId).run(); !st.isOk()) return st;
        auto bundles = db.prepare(
            "UPDATE translations SET bundle_json = NULL WHERE version_id IN "
            "(SELECT id FROM record_versions WHERE record_id = ?1)");
        if (!bundles) return bundles.status();
        if (Status st = bundles->bind(1, recordId).run(); !st.isOk()) return st;
        auto versions = db.prepare(
            "UPDATE record_versions SET record_json = NULL, purged_at = ?2 WHERE record_id = ?1");
        if (!versions) return versions.status();
        if (Status st = versions->bind(1, recordId).bind(2, now).run(); !st.isOk()) return st;
        auto record = db.prepare("UPDATE records SET purged_at = ?2 WHERE record_id = ?1");
        if (!record) return record.status();
        if (Status st = record->bind(1, recordId).bind(2, now).run(); !st.isOk()) return st;
        ++purged;
      }
      AuditEntry audit;
      audit.atMillis = now;
      audit.principal = "inloop";
      audit.action = "purge";
      audit.outcome = "ok";
      audit.detail = std::to_string(purged) + " records purged";
      Status audited = insertAudit(db, audit);
      Status off = db.exec("PRAGMA secure_delete = OFF");
      return audited.isOk() ? off : audited;
    };
    if (Status st = submit(job); !st.isOk()) return st;
    if (!dryRun && purged > 0) {
      if (Status st = truncateWal("purged " + std::to_string(purged) + " records", "purge");
          !st.isOk()) {
        return st;
      }
    }
    return purged;
  }

  Result<RekeyReport> rekeyPayloads(bool toPlaintext, bool dryRun) override {
    const std::shared_ptr<const PayloadCipher> cipherNow = cipher();
    const PayloadCipher& keys = *cipherNow;  // one ring for the whole run
    if (!toPlaintext && !keys.enabled()) {
      return Status(ErrorCode::kInvalid,
                    "no payload key file is configured (encryption.keyFile): nothing to seal with");
    }
    // Every payload column with the key that pages through its table.
    struct Column {
      const char* table;
      const char* column;
      const char* key;
      std::string_view name;
      bool textKey;
    };
    static constexpr Column kColumns[] = {
        {"record_versions", "record_json", "id", column::kRecord, false},
        {"translations", "bundle_json", "version_id", column::kBundle, false},
        {"medication_lists", "list_json", "patient_key", column::kMedicationList, true},
        {"notices", "text", "id", column::kNoticeText, false},
        {"attempts", "operation_outcome", "id", column::kOperationOutcome, false},
        {"attempts", "response", "id", column::kResponse, false},
        {"attempts", "request", "id", column::kRequest, false},
        {"kept_shapes", "shape_json", "message_seq", column::kKeptShape, false},
    };
    // The prefix a value already in the target form starts with: the current
    // key's (sealing) or none (plaintext wanted: anything sealed is changed).
    const std::string sealedPrefix(kSealedPrefix);
    const std::string currentPrefix = sealedPrefix + keys.currentKeyId() + ":";
    RekeyReport report;
    report.targetKeyId = toPlaintext ? std::string() : keys.currentKeyId();
    for (const Column& c : kColumns) {
      const std::string col = c.column;
      // Counted on a reader: by key id ("" plaintext), non-empty values only.
      {
        auto reader = acquireReader();
        if (!reader) return reader.status();
        auto count = reader->db->prepare(
            "SELECT CASE WHEN substr(" + col + ", 1, " + std::to_string(sealedPrefix.size()) +
            ") = ?1 THEN substr(" + col + ", " + std::to_string(sealedPrefix.size() + 1) +
            ", instr(substr(" + col + ", " + std::to_string(sealedPrefix.size() + 1) +
            "), ':') - 1) ELSE '' END AS k, count(*) FROM " + c.table + " WHERE " + col +
            " IS NOT NULL AND " + col + " <> '' GROUP BY k");
        if (!count) return count.status();
        count->bind(1, sealedPrefix);
        Status st = forEachRow(
            *count, [&](sqlite::Stmt& s) { report.valuesByKey[s.text(0)] += s.int64(1); });
        if (!st.isOk()) return st;
      }
      if (dryRun) continue;
      // The values to change, a batch per writer transaction: reading and
      // writing in one transaction, a concurrent update of the same row (serve
      // running) cannot be overwritten with an older value.
      const std::string needsChange =
          toPlaintext
              ? "substr(" + col + ", 1, " + std::to_string(sealedPrefix.size()) + ") = ?2"
              : "substr(" + col + ", 1, " + std::to_string(currentPrefix.size()) + ") <> ?2";
      const std::string select = std::string("SELECT ") + c.key + ", " + col + " FROM " + c.table +
                                 " WHERE " + c.key + " > ?1 AND " + col + " IS NOT NULL AND " +
                                 col + " <> '' AND " + needsChange + " ORDER BY " + c.key +
                                 " LIMIT 500";
      const std::string update =
          std::string("UPDATE ") + c.table + " SET " + col + " = ?2 WHERE " + c.key + " = ?1";
      std::string lastText;
      std::int64_t lastInt = std::numeric_limits<std::int64_t>::min();
      for (bool more = true; more;) {
        std::int64_t changed = 0;
        Job job;
        job.run = [&](Database& db) {
          changed = 0;
          if (Status st = db.exec("PRAGMA secure_delete = ON"); !st.isOk()) return st;
          auto batch = db.prepare(select);
          if (!batch) return batch.status();
          if (c.textKey) {
            batch->bind(1, lastText);
          } else {
            batch->bind(1, lastInt);
          }
          batch->bind(2, toPlaintext ? sealedPrefix : currentPrefix);
          std::vector<std::pair<std::string, std::string>> rows;  // key (as text), value
          std::vector<std::int64_t> intKeys;
          Status st = forEachRow(*batch, [&](sqlite::Stmt& s) {
            if (c.textKey) {
              rows.emplace_back(s.text(0), s.text(1));
            } else {
              intKeys.push_back(s.int64(0));
              rows.emplace_back(std::string(), s.text(1));
            }
          });
          if (!st.isOk()) return st;
          for (std::size_t i = 0; i < rows.size(); ++i) {
            Result<std::string> plain = keys.open(c.name, rows[i].second);
            if (!plain) return plain.status();
            std::string value = std::move(*plain);
            if (!toPlaintext) {
              Result<std::string> sealed = keys.seal(c.name, value);
              if (!sealed) return sealed.status();
              value = std::move(*sealed);
            }
            auto write = db.prepare(update);
            if (!write) return write.status();
            if (c.textKey) {
              write->bind(1, rows[i].first);
              lastText = rows[i].first;
            } else {
              write->bind(1, intKeys[i]);
              lastInt = intKeys[i];
            }
            if (st = write->bind(2, value).run(); !st.isOk()) return st;
            ++changed;
          }
          return db.exec("PRAGMA secure_delete = OFF");
        };
        if (Status st = submit(job); !st.isOk()) return st;
        report.changed += changed;
        more = changed == 500;
      }
    }
    if (!dryRun) {
      Job job;
      job.run = [&](Database& db) {
        AuditEntry audit;
        audit.atMillis = clock_.nowMillis();
        audit.principal = "inloop";
        audit.action = "rekey";
        audit.outcome = "ok";
        audit.detail =
            std::to_string(report.changed) + " payloads " +
            (toPlaintext ? std::string("decrypted") : "sealed under key " + report.targetKeyId);
        return insertAudit(db, audit);
      };
      if (Status st = submit(job); !st.isOk()) return st;
      if (report.changed > 0) {
        if (Status st = truncateWal(std::to_string(report.changed) + " payloads changed", "rekey");
            !st.isOk()) {
          return st;
        }
      }
    }
    return report;
  }

  Result<std::int64_t> releaseLeases() override {
    std::int64_t released = 0;
    Job job;
    job.run = [&](Database& db) {
      released = 0;
      std::vector<std::pair<std::string, std::string>> queues;
      {
        auto find = db.prepare(
            "SELECT DISTINCT destination_id, patient_key FROM outbox WHERE lease_until > 0");
        if (!find) return find.status();
        Status st = forEachRow(
            *find, [&](sqlite::Stmt& row) { queues.emplace_back(row.text(0), row.text(1)); });
        if (!st.isOk()) return st;
      }
      auto update = db.prepare("UPDATE outbox SET lease_until = 0 WHERE lease_until > 0");
      if (!update) return update.status();
      if (Status st = update->run(); !st.isOk()) return st;
      released = db.changes();
      for (const auto& [destinationId, patientKey] : queues) {
        if (Status st = refreshHead(db, destinationId, patientKey); !st.isOk()) return st;
      }
      return Status::ok();
    };
    if (Status st = submit(job); !st.isOk()) return st;
    return released;
  }

  Status appendAudit(AuditEntry entry) override {
    Job job;
    job.run = [&](Database& db) {
      if (entry.atMillis == 0) entry.atMillis = clock_.nowMillis();
      if (!entry.recordId.empty() && (entry.patientKey.empty() || entry.version == 0)) {
        // Whose record was read: the per-patient audit finds the row.
        auto find = db.prepare(
            "SELECT patient_key, latest_version, record_type FROM records WHERE record_id = ?1");
        if (!find) return find.status();
        find->bind(1, entry.recordId);
        auto row = find->next();
        if (!row) return row.status();
        if (*row) {
          if (entry.patientKey.empty()) entry.patientKey = find->text(0);
          if (entry.version == 0) entry.version = find->int64(1);
          if (entry.recordType.empty()) entry.recordType = find->text(2);
        }
      }
      return insertAudit(db, entry);
    };
    return submit(job);
  }

  Result<std::vector<AuditEntry>> listAudit(int limit) override {
    std::vector<AuditEntry> entries;
    if (limit <= 0) return entries;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(std::string("SELECT ") + kAuditColumns +
                                    " FROM audit ORDER BY id DESC LIMIT ?1");
    if (!stmt) return stmt.status();
    stmt->bind(1, limit);
    Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) { entries.push_back(readAudit(s)); });
    if (!st.isOk()) return st;
    return entries;
  }

  Result<std::vector<AuditEntry>> listAuditFor(const AuditQuery& query) override {
    std::vector<AuditEntry> entries;
    if (query.patientKey.empty()) return Status(ErrorCode::kInvalid, "empty patient key");
    if (query.limit <= 0) return entries;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(
        std::string("SELECT ") + kAuditColumns +
        " FROM audit WHERE patient_key = ?1 AND at >= ?2 AND (?3 = '' OR action = ?3) "
        "ORDER BY at, id LIMIT ?4");
    if (!stmt) return stmt.status();
    stmt->bind(1, query.patientKey)
        .bind(2, query.sinceMillis)
        .bind(3, query.action)
        .bind(4, query.limit);
    Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) { entries.push_back(readAudit(s)); });
    if (!st.isOk()) return st;
    return entries;
  }

  Status checkWritable() override {
    Job job;
    job.run = [&](Database& db) {
      auto stmt = db.prepare(
          "INSERT INTO meta(key, value) VALUES('last_write_check', ?1) "
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      if (!stmt) return stmt.status();
      return stmt->bind(1, std::to_string(clock_.nowMillis())).run();
    };
    return submit(job);
  }

  // ---- Delivery ledger and dead letters ----

  // The kept shape after `attempt` (DeliveryAttempt::keptShape): replaced by
  // a retry that brings one, dropped by every outcome but a retry.
  Status keepShape(Database& db, const DeliveryAttempt& attempt) {
    if (attempt.outcome != AttemptOutcome::kRetry) return dropKeptShape(db, attempt.messageId);
    if (attempt.keptShape.empty()) return Status::ok();
    std::string sealed = attempt.keptShape;
    if (Status st = sealPayload(*cipher(), column::kKeptShape, &sealed); !st.isOk()) return st;
    auto upsert = db.prepare(
        "INSERT INTO kept_shapes(message_seq, shape_key, shape_json) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(message_seq) DO UPDATE SET shape_key = excluded.shape_key, "
        "shape_json = excluded.shape_json");
    if (!upsert) return upsert.status();
    return upsert->bind(1, attempt.messageId).bind(2, attempt.shapeKey).bind(3, sealed).run();
  }

  Status finishAttempt(const DeliveryAttempt& attempt) override {
    Job job;
    job.run = [&](Database& db) {
      auto found = findMessage(db, attempt.messageId);
      if (!found) return found.status();
      const std::string& destinationId = found->destinationId;
      const std::string& patientKey = found->patientKey;
      const std::string& state = found->state;
      const std::string& recordId = found->recordId;
      const std::int64_t version = found->version;
      // A delivery reported for a message superseded meanwhile stays superseded;
      // a write reported after its file was already published stays delivered.
      const bool allowed =
          state == "pending" ||
          (attempt.outcome == AttemptOutcome::kDelivered && state == "superseded") ||
          (attempt.outcome == AttemptOutcome::kWritten &&
           (state == "superseded" || state == "delivered"));
      if (!allowed) {
        return Status(ErrorCode::kConflict,
                      "outbox message " + std::to_string(attempt.messageId) + " is " + state);
      }
      const std::int64_t now = clock_.nowMillis();
      if (Status st = insertAttempt(db, *cipher(), attempt, destinationId, recordId, version, now);
          !st.isOk()) {
        return st;
      }
      const char* newState = "pending";
      switch (attempt.outcome) {
        case AttemptOutcome::kDelivered:
          newState = state == "superseded" ? "superseded" : "delivered";
          break;
        case AttemptOutcome::kRetry:
          newState = "pending";
          break;
        case AttemptOutcome::kDeadLetter:
          newState = "dead-letter";
          break;
        case AttemptOutcome::kParked:
          newState = "patient-unmatched";
          break;
        case AttemptOutcome::kNotSent:
          newState = "not-sent";
          break;
        case AttemptOutcome::kWritten:
          newState = state == "pending" ? "written" : state.c_str();
          break;
      }
      auto update = db.prepare(
          "UPDATE outbox SET state = ?2, attempts = attempts + 1, last_status = ?3, "
          "last_error = ?4, lease_until = 0, next_attempt_at = ?5, reason = ?6, "
          "updated_at = ?7 WHERE seq = ?1");
      if (!update) return update.status();
      update->bind(1, attempt.messageId)
          .bind(2, std::string_view(newState))
          .bind(3, attempt.httpStatus)
          .bind(4, attempt.outcome == AttemptOutcome::kDelivered ||
                           attempt.outcome == AttemptOutcome::kWritten
                       ? std::string()
                       : attempt.error)
          .bind(5, attempt.outcome == AttemptOutcome::kRetry ? attempt.nextAttemptAtMillis : now)
          .bind(6, attempt.outcome == AttemptOutcome::kParked ? attempt.error : std::string())
          .bind(7, now);
      if (Status st = update->run(); !st.isOk()) return st;
      if (attempt.outcome == AttemptOutcome::kDelivered) {
        Status st = insertDisclosure(db, attempt.messageId, attempt.endpointKind, now);
        if (!st.isOk()) return st;
      }
      if (Status st = keepShape(db, attempt); !st.isOk()) return st;
      return refreshHead(db, destinationId, patientKey);
    };
    return submit(job);
  }

  Result<std::vector<DeliveryAttempt>> listAttempts(const std::string& recordId,
                                                    int limit) override {
    return queryAttempts(
        "SELECT * FROM (SELECT id, message_seq, destination_id, record_id, version, at, "
        "duration_ms, outcome, http_status, error, operation_outcome, location, next_attempt_at, "
        "response, request FROM attempts WHERE record_id = ?1 ORDER BY id DESC LIMIT ?2) "
        "ORDER BY id",
        [&](sqlite::Stmt& s) { s.bind(1, recordId).bind(2, std::max(limit, 0)); });
  }

  Result<std::vector<DeliveryAttempt>> listMessageAttempts(std::int64_t messageId) override {
    return queryAttempts(
        "SELECT id, message_seq, destination_id, record_id, version, at, duration_ms, outcome, "
        "http_status, error, operation_outcome, location, next_attempt_at, response, request "
        "FROM attempts WHERE message_seq = ?1 ORDER BY id",
        [&](sqlite::Stmt& s) { s.bind(1, messageId); });
  }

  Result<std::vector<DeadLetterEntry>> listDeadLetters(const std::string& destinationId,
                                                       int limit) override {
    std::vector<DeadLetterEntry> out;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(std::string(kDeadLetterSelect) +
                                    "WHERE o.state IN ('dead-letter', 'not-sent') AND (?1 = '' OR "
                                    "o.destination_id = ?1) ORDER BY o.updated_at DESC, o.seq "
                                    "DESC LIMIT ?2");
    if (!stmt) return stmt.status();
    stmt->bind(1, destinationId).bind(2, std::max(limit, 0));
    Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) { out.push_back(readDeadLetter(s)); });
    if (!st.isOk()) return st;
    for (DeadLetterEntry& e : out) {
      if (st = openStored(column::kOperationOutcome, &e.operationOutcome); !st.isOk()) {
        return st;
      }
    }
    return out;
  }

  Result<DeadLetterEntry> getDeadLetter(std::int64_t messageId) override {
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(
        std::string(kDeadLetterSelect) +
        "WHERE o.seq = ?1 AND (o.state IN ('dead-letter', 'not-sent', 'discarded') OR EXISTS "
        "(SELECT 1 FROM attempts a2 WHERE a2.message_seq = o.seq AND a2.outcome IN "
        "('dead-letter', 'not-sent')))");
    if (!stmt) return stmt.status();
    stmt->bind(1, messageId);
    auto row = stmt->next();
    if (!row) return row.status();
    if (!*row) return Status(ErrorCode::kNotFound, "no dead letter " + std::to_string(messageId));
    DeadLetterEntry e = readDeadLetter(*stmt);
    if (Status st = openStored(column::kOperationOutcome, &e.operationOutcome); !st.isOk()) {
      return st;
    }
    return e;
  }

  Status replayDeadLetter(std::int64_t messageId, const std::string& principal) override {
    return changeDeadLetter(messageId, principal, true);
  }

  Status discardDeadLetter(std::int64_t messageId, const std::string& principal) override {
    return changeDeadLetter(messageId, principal, false);
  }

  Result<std::vector<DestinationQueue>> destinationQueues() override {
    auto reader = acquireReader();
    if (!reader) return reader.status();
    Database& db = *reader->db;
    ReadTransaction txn(db);
    if (!txn.status.isOk()) return txn.status;
    std::map<std::string, DestinationQueue> byId;
    {
      // Served by the outbox_state index: only open rows are visited.
      auto stmt = db.prepare(
          "SELECT destination_id, state, count(*), min(created_at) FROM outbox "
          "WHERE state IN ('pending', 'patient-unmatched', 'dead-letter', 'not-sent', 'written') "
          "AND destination_id != '' GROUP BY destination_id, state");
      if (!stmt) return stmt.status();
      Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
        DestinationQueue& q = byId[s.text(0)];
        q.destinationId = s.text(0);
        const std::string state = s.text(1);
        if (state == "pending") {
          q.pending = s.int64(2);
          q.oldestPendingCreatedAtMillis = s.int64(3);
        } else if (state == "patient-unmatched") {
          q.patientUnmatched = s.int64(2);
        } else if (state == "not-sent") {
          q.notSent = s.int64(2);
        } else if (state == "written") {
          q.written = s.int64(2);
        } else {
          q.deadLetters = s.int64(2);
        }
      });
      if (!st.isOk()) return st;
    }
    {
      auto stmt = db.prepare(
          "SELECT destination_id, min(due_at) FROM outbox_heads GROUP BY destination_id");
      if (!stmt) return stmt.status();
      Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
        DestinationQueue& q = byId[s.text(0)];
        q.destinationId = s.text(0);
        q.nextDueAtMillis = s.int64(1);
      });
      if (!st.isOk()) return st;
    }
    std::vector<DestinationQueue> out;
    for (auto& [id, q] : byId) out.push_back(std::move(q));
    return out;
  }

  Result<std::int64_t> nextDueAt(const std::string& destinationId) override {
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(
        "SELECT due_at FROM outbox_heads WHERE destination_id = ?1 ORDER BY due_at LIMIT 1");
    if (!stmt) return stmt.status();
    stmt->bind(1, destinationId);
    auto row = stmt->next();
    if (!row) return row.status();
    if (!*row) return std::int64_t{0};
    return stmt->int64(0);
  }
  Result<std::vector<UnroutableRecord>> listUnroutable(std::int64_t afterMessageId,
                                                       int limit) override {
    std::vector<UnroutableRecord> out;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    // Served by the outbox_state index (state, created_at): only markers are visited.
    auto stmt = reader->db->prepare(
        "SELECT o.seq, o.record_id, o.version, v.practice_id, v.record_json FROM outbox o "
        "JOIN record_versions v ON v.id = o.version_id "
        "WHERE o.state = 'unroutable' AND o.seq > ?1 ORDER BY o.seq LIMIT ?2");
    if (!stmt) return stmt.status();
    stmt->bind(1, afterMessageId).bind(2, std::max(limit, 0));
    Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
      out.push_back(UnroutableRecord{s.int64(0), s.text(1), s.int64(2), s.text(3),
                                     s.isNull(4) ? std::string() : s.text(4)});
    });
    if (!st.isOk()) return st;
    for (UnroutableRecord& r : out) {
      if (st = openStored(column::kRecord, &r.recordJson); !st.isOk()) return st;
    }
    return out;
  }

  Status routeUnroutable(std::int64_t messageId, std::vector<DestinationTarget> targets,
                         const std::string& principal) override {
    if (Status st = validateRouteTargets(targets); !st.isOk()) return st;
    Job job;
    job.run = [&](Database& db) {
      std::string recordId, patientKey, state, recordType;
      std::int64_t version = 0, versionId = 0;
      {
        auto find = db.prepare(
            "SELECT o.record_id, o.patient_key, o.state, o.version, o.version_id, v.record_type "
            "FROM outbox o JOIN record_versions v ON v.id = o.version_id WHERE o.seq = ?1");
        if (!find) return find.status();
        find->bind(1, messageId);
        auto row = find->next();
        if (!row) return row.status();
        if (!*row) return Status(ErrorCode::kNotFound, "no message " + std::to_string(messageId));
        recordId = find->text(0);
        patientKey = find->text(1);
        state = find->text(2);
        version = find->int64(3);
        versionId = find->int64(4);
        recordType = find->text(5);
      }
      if (state != "unroutable") {
        return Status(ErrorCode::kConflict,
                      "message " + std::to_string(messageId) + " is " + state + ", not unroutable");
      }
      const std::int64_t now = clock_.nowMillis();
      {
        // The marker gives way to the real rows; the audit row keeps the story.
        auto remove = db.prepare("DELETE FROM outbox WHERE seq = ?1");
        if (!remove) return remove.status();
        if (Status st = remove->bind(1, messageId).run(); !st.isOk()) return st;
      }
      const OutboxKey key{recordId, patientKey, version, versionId};
      if (Status st = insertOutboxRows(db, key, targets, true, now); !st.isOk()) return st;
      AuditEntry audit;
      audit.atMillis = now;
      audit.principal = principal;
      audit.action = "route";
      audit.recordId = recordId;
      audit.version = version;
      audit.recordType = recordType;
      audit.outcome = "routed";
      std::string names;
      for (const DestinationTarget& target : targets) {
        names += (names.empty() ? "" : ", ") + target.destinationId;
      }
      audit.detail = "unroutable message " + std::to_string(messageId) + " routed to " + names;
      return insertAudit(db, audit);
    };
    return submit(job);
  }

  Status reprocess(const std::string& recordId, std::int64_t version, const std::string& bundleJson,
                   std::vector<DestinationTarget> targets, const std::string& principal) override {
    std::string sealedBundle = bundleJson;
    if (Status st = sealPayload(*cipher(), column::kBundle, &sealedBundle); !st.isOk()) return st;
    Job job;
    job.run = [&](Database& db) {
      std::int64_t latest = 0, versionId = 0;
      std::string patientKey, recordType;
      {
        auto find = db.prepare(
            "SELECT r.latest_version, v.id, r.patient_key, v.record_type FROM records r "
            "JOIN record_versions v ON v.record_id = r.record_id AND v.version = ?2 "
            "WHERE r.record_id = ?1");
        if (!find) return find.status();
        find->bind(1, recordId).bind(2, version);
        auto row = find->next();
        if (!row) return row.status();
        if (!*row) {
          return Status(ErrorCode::kNotFound,
                        "no record " + recordId + " version " + std::to_string(version));
        }
        latest = find->int64(0);
        versionId = find->int64(1);
        patientKey = find->text(2);
        recordType = find->text(3);
      }
      if (latest != version) {
        return Status(ErrorCode::kConflict, "record " + recordId + " has a newer version (" +
                                                std::to_string(latest) + ")");
      }
      const std::int64_t now = clock_.nowMillis();
      {
        auto busy = db.prepare(
            "SELECT count(*) FROM outbox WHERE record_id = ?1 AND version = ?2 "
            "AND state = 'pending' AND lease_until > ?3");
        if (!busy) return busy.status();
        busy->bind(1, recordId).bind(2, version).bind(3, now);
        auto row = busy->next();
        if (!row) return row.status();
        if (*row && busy->int64(0) > 0) {
          return Status(ErrorCode::kConflict,
                        "record " + recordId + " is being sent right now; try again shortly");
        }
      }
      {
        auto update = db.prepare("UPDATE translations SET bundle_json = ?2 WHERE version_id = ?1");
        if (!update) return update.status();
        if (Status st = update->bind(1, versionId).bind(2, sealedBundle).run(); !st.isOk()) {
          return st;
        }
      }
      std::set<std::string> destinations;
      {
        auto open = db.prepare(
            "SELECT seq, destination_id, state FROM outbox WHERE record_id = ?1 AND version = ?2 "
            "AND state IN ('pending', 'patient-unmatched', 'not-sent', 'dead-letter', "
            "'unroutable')");
        if (!open) return open.status();
        open->bind(1, recordId).bind(2, version);
        std::vector<std::pair<std::int64_t, std::string>> rows;
        Status st = forEachRow(*open, [&](sqlite::Stmt& r) {
          rows.emplace_back(r.int64(0), r.text(1));
          if (r.text(2) == "pending") destinations.insert(r.text(1));
        });
        if (!st.isOk()) return st;
        for (const auto& [seq, destination] : rows) {
          if (Status u = supersede(db, seq, now); !u.isOk()) return u;
        }
      }
      for (const std::string& destination : destinations) {
        if (Status st = refreshHead(db, destination, patientKey); !st.isOk()) return st;
      }
      if (!targets.empty()) {
        const OutboxKey key{recordId, patientKey, version, versionId};
        if (Status st = insertOutboxRows(db, key, targets, false, now); !st.isOk()) return st;
      } else {
        const OutboxKey key{recordId, patientKey, version, versionId};
        std::vector<DestinationTarget> marker = {
            DestinationTarget{"", OutboxState::kUnroutable, ""}};
        if (Status st = insertOutboxRows(db, key, marker, false, now); !st.isOk()) return st;
      }
      AuditEntry audit;
      audit.atMillis = now;
      audit.principal = principal;
      audit.action = "reprocess";
      audit.recordId = recordId;
      audit.version = version;
      audit.recordType = recordType;
      audit.outcome = "ok";
      audit.detail =
          "translated again and queued for " + std::to_string(targets.size()) + " destination(s)";
      return insertAudit(db, audit);
    };
    return submit(job);
  }

  // ---- Safety loop ----

  Result<MedicationListRow> getMedicationList(const std::string& patientKey) override {
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(
        "SELECT list_json, record_id, version, updated_at FROM medication_lists "
        "WHERE patient_key = ?1");
    if (!stmt) return stmt.status();
    stmt->bind(1, patientKey);
    auto row = stmt->next();
    if (!row) return row.status();
    if (!*row) return Status(ErrorCode::kNotFound, "no medication list for this patient");
    MedicationListRow list{patientKey, stmt->text(0), stmt->text(1), stmt->int64(2),
                           stmt->int64(3)};
    if (Status st = openStored(column::kMedicationList, &list.listJson); !st.isOk()) {
      return st;
    }
    return list;
  }

  Result<std::vector<StoredNotice>> listRecordNotices(const std::string& recordId) override {
    return queryNotices(
        "SELECT record_id, version, patient_key, rule_id, priority, notice_key, notice_date, "
        "text, created_at FROM notices WHERE record_id = ?1 ORDER BY id",
        [&](sqlite::Stmt& stmt) { stmt.bind(1, recordId); });
  }

  Result<std::vector<StoredNotice>> listPatientNotices(const std::string& patientKey,
                                                       int limit) override {
    return queryNotices(
        "SELECT record_id, version, patient_key, rule_id, priority, notice_key, notice_date, "
        "text, created_at FROM notices WHERE patient_key = ?1 ORDER BY id DESC LIMIT ?2",
        [&](sqlite::Stmt& stmt) { stmt.bind(1, patientKey).bind(2, std::max(limit, 0)); });
  }

  Result<std::vector<PatientRecordRow>> listPatientRecords(const std::string& patientKey,
                                                           const std::string& recordType,
                                                           int limit) override {
    std::vector<PatientRecordRow> out;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(
        "SELECT r.record_id, r.record_type, r.latest_version, r.updated_at, v.record_json "
        "FROM records r JOIN record_versions v "
        "ON v.record_id = r.record_id AND v.version = r.latest_version "
        "WHERE r.patient_key = ?1 AND (?2 = '' OR r.record_type = ?2) "
        "ORDER BY r.updated_at DESC, r.record_id LIMIT ?3");
    if (!stmt) return stmt.status();
    stmt->bind(1, patientKey).bind(2, recordType).bind(3, std::max(limit, 0));
    Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
      out.push_back(PatientRecordRow{s.text(0), s.text(1), s.int64(2), s.int64(3),
                                     s.isNull(4) ? std::string() : s.text(4)});
    });
    if (!st.isOk()) return st;
    for (PatientRecordRow& r : out) {
      if (st = openStored(column::kRecord, &r.recordJson); !st.isOk()) return st;
    }
    return out;
  }

 private:
  // Copies the WAL's pages into the database and empties it (after a purge or
  // rekey: the WAL still holds the pages as they were). Readers of older
  // snapshots hold it up; retried. `done` says what was done, `command` what
  // to run again.
  Status truncateWal(const std::string& done, const char* command) {
    std::lock_guard<std::mutex> lock(checkpointMutex_);
    int rc = SQLITE_BUSY;
    for (int attempt = 0; attempt < 50 && rc != SQLITE_OK; ++attempt) {
      rc = sqlite3_wal_checkpoint_v2(checkpointDb_->handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                     nullptr, nullptr);
    }
    if (rc != SQLITE_OK) {
      return Status(ErrorCode::kUnavailable, done +
                                                 ", but the WAL could not be truncated (readers "
                                                 "busy): " +
                                                 sqlite3_errstr(rc) + "; run the " + command +
                                                 " again when the store is idle");
    }
    return Status::ok();
  }

  // Seals the payloads of one ingest item (no-op without a key file).
  Status sealItem(IngestItem* item) const {
    const std::shared_ptr<const PayloadCipher> c = cipher();
    if (!c->enabled()) return Status::ok();
    if (Status st = sealPayload(*c, column::kRecord, &item->recordJson); !st.isOk()) return st;
    if (Status st = sealPayload(*c, column::kBundle, &item->bundleJson); !st.isOk()) return st;
    if (item->medicationListJson) {
      Status st = sealPayload(*c, column::kMedicationList, &*item->medicationListJson);
      if (!st.isOk()) return st;
    }
    for (StoredNotice& notice : item->notices) {
      if (Status st = sealPayload(*c, column::kNoticeText, &notice.text); !st.isOk()) return st;
    }
    return Status::ok();
  }

  std::shared_ptr<const PayloadCipher> cipher() const {
    std::lock_guard<std::mutex> lock(cipherMutex_);
    return cipher_;
  }

  // Opens a stored value of `column` in place; reads the key file again once
  // when the value's key is not in the ring (see cipher_).
  // Fills the payload of `message` (messageId set): its kept shape when it has
  // one and `keptFirst`, else its record and Bundle; opened. kNotFound for an
  // unknown id.
  Status readPayload(Database& db, OutboxMessage* message, bool keptFirst) {
    auto read = db.prepare(
        "SELECT k.shape_key, k.shape_json, "
        "CASE WHEN ?2 AND k.message_seq IS NOT NULL THEN NULL ELSE v.record_json END, "
        "CASE WHEN ?2 AND k.message_seq IS NOT NULL THEN NULL ELSE t.bundle_json END "
        "FROM outbox o JOIN record_versions v ON v.id = o.version_id "
        "LEFT JOIN translations t ON t.version_id = o.version_id "
        "LEFT JOIN kept_shapes k ON k.message_seq = o.seq WHERE o.seq = ?1");
    if (!read) return read.status();
    read->bind(1, message->messageId).bind(2, keptFirst ? 1 : 0);
    auto row = read->next();
    if (!row) return row.status();
    if (!*row) {
      return Status(ErrorCode::kNotFound,
                    "no outbox message " + std::to_string(message->messageId));
    }
    if (keptFirst) {
      message->shapeKey = read->text(0);
      message->keptShape = read->text(1);
      if (Status st = openStored(column::kKeptShape, &message->keptShape); !st.isOk()) return st;
    }
    message->recordJson = read->text(2);
    message->bundleJson = read->text(3);
    if (Status st = openStored(column::kRecord, &message->recordJson); !st.isOk()) return st;
    return openStored(column::kBundle, &message->bundleJson);
  }

  Status openStored(std::string_view column, std::string* value) {
    Status st = openPayload(*cipher(), column, value);
    if (st.code() != ErrorCode::kUnavailable || options_.payloadKeyFile.empty()) return st;
    {
      std::lock_guard<std::mutex> lock(cipherMutex_);
      const std::int64_t now = clock_.nowMillis();
      if (now - keysReadAt_ >= 1000) {
        keysReadAt_ = now;
        Result<PayloadKeyRing> ring = PayloadKeyRing::load(options_.payloadKeyFile);
        if (ring) {
          cipher_ = std::make_shared<const PayloadCipher>(
              std::make_shared<const PayloadKeyRing>(std::move(*ring)));
        }
      }
    }
    return openPayload(*cipher(), column, value);
  }

  // One write waiting for the writer thread. Lives on the caller's stack; the
  // caller blocks in submit() until `done`.
  struct Job {
    std::function<Status(Database&)> run;
    std::size_t weight = 1;
    bool bounded = false;  // subject to maxQueuedItems (client ingest)
    Status status;
    // Set by the writer once `status` is final. Its caller waits on doneCv
    // under doneMutex, not mutex_: the writer wakes each caller of a group
    // alone, and a woken caller does not queue up on the store's mutex.
    bool done = false;
    std::mutex doneMutex;
    std::condition_variable doneCv;
  };

  struct ReaderLease {
    SqliteStore* store = nullptr;
    std::unique_ptr<Database> db;
    ReaderLease(SqliteStore* s, std::unique_ptr<Database> d) : store(s), db(std::move(d)) {}
    ReaderLease(ReaderLease&& other) noexcept = default;
    ReaderLease& operator=(ReaderLease&&) = delete;
    ~ReaderLease() {
      if (db) store->releaseReader(std::move(db));
    }
  };

  // A read transaction: one consistent WAL snapshot for several queries.
  struct ReadTransaction {
    Database& db;
    Status status;
    explicit ReadTransaction(Database& d) : db(d), status(d.exec("BEGIN")) {}
    ~ReadTransaction() {
      if (status.isOk()) (void)db.exec("ROLLBACK");
    }
  };

  Status submit(Job& job) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) return Status(ErrorCode::kUnavailable, "the store is closing");
    if (job.bounded && queuedItems_ > 0 && queuedItems_ + job.weight > options_.maxQueuedItems) {
      return Status(ErrorCode::kUnavailable, "store write queue is full (" +
                                                 std::to_string(queuedItems_) +
                                                 " items waiting); retry later");
    }
    queue_.push_back(&job);
    queuedItems_ += job.weight;
    workCv_.notify_one();
    lock.unlock();
    std::unique_lock<std::mutex> doneLock(job.doneMutex);
    job.doneCv.wait(doneLock, [&] { return job.done; });
    return job.status;
  }

  void writerLoop() {
    std::vector<Job*> group;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        workCv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued is done
        std::size_t items = 0;
        while (!queue_.empty() &&
               (group.empty() || items + queue_.front()->weight <= options_.maxItemsPerCommit)) {
          items += queue_.front()->weight;
          committingItems_ += queue_.front()->weight;
          queuedItems_ -= queue_.front()->weight;
          group.push_back(queue_.front());
          queue_.pop_front();
        }
      }
      commitGroup(group);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        committingItems_ = 0;
      }
      for (Job* job : group) {
        // Notified under its lock: a job lives on its caller's stack and is
        // gone as soon as its caller sees `done`.
        std::lock_guard<std::mutex> lock(job->doneMutex);
        job->done = true;
        job->doneCv.notify_one();
      }
      group.clear();
    }
  }

  // Runs the jobs of one group in ONE transaction, each inside a savepoint so a
  // failing job is undone alone; one COMMIT (one fsync) makes them all durable.
  // A job alone in its group (a batch, a quiet moment) needs no savepoint: if
  // it fails, the whole transaction is rolled back, which is the same. A
  // savepoint copies every page the job changes that existed before it into
  // the sub-journal (for a 1,000-record batch, a few thousand pages).
  void commitGroup(const std::vector<Job*>& group) {
    Database& db = *writerDb_;
    auto failAll = [&](const Status& status) {
      for (Job* job : group) job->status = status;
    };
    if (Status st = db.exec("BEGIN IMMEDIATE"); !st.isOk()) {
      failAll(st);
      return;
    }
    const bool alone = group.size() == 1;
    std::uint64_t succeeded = 0;
    for (Job* job : group) {
      Status st = alone ? Status::ok() : runStatement(db, "SAVEPOINT job");
      if (st.isOk()) {
        try {
          job->status = job->run(db);
        } catch (const std::exception& e) {
          job->status =
              Status(ErrorCode::kInternal, std::string("store write failed: ") + e.what());
        }
        if (alone) {
          if (!job->status.isOk()) {
            if (sqlite3_get_autocommit(db.handle()) == 0) (void)db.exec("ROLLBACK");
            return;
          }
        } else {
          st = job->status.isOk() ? runStatement(db, "RELEASE job")
                                  : runStatement(db, "ROLLBACK TO job");
          if (st.isOk() && !job->status.isOk()) st = runStatement(db, "RELEASE job");
        }
      }
      // SQLite rolls the whole transaction back by itself on some errors (disk
      // full, I/O): then every job of the group is lost and must say so.
      if (!st.isOk() || sqlite3_get_autocommit(db.handle()) != 0) {
        Status fatal = !st.isOk() ? st : job->status;
        if (fatal.isOk()) fatal = Status(ErrorCode::kIoError, "store transaction was rolled back");
        if (sqlite3_get_autocommit(db.handle()) == 0) (void)db.exec("ROLLBACK");
        failAll(fatal);
        return;
      }
      if (job->status.isOk()) ++succeeded;
    }
    if (Status st = runStatement(db, "COMMIT"); !st.isOk()) {
      if (sqlite3_get_autocommit(db.handle()) == 0) (void)db.exec("ROLLBACK");
      for (Job* job : group) {
        if (job->status.isOk()) job->status = st;
      }
      return;
    }
    commits_.fetch_add(1);
    committedWrites_.fetch_add(succeeded);
  }

  static constexpr const char* kDeadLetterSelect =
      "SELECT o.seq, o.destination_id, o.record_id, o.version, v.record_type, o.state, "
      "o.attempts, o.last_status, o.last_error, o.created_at, o.updated_at, "
      "coalesce((SELECT a.operation_outcome FROM attempts a WHERE a.message_seq = o.seq "
      "ORDER BY a.id DESC LIMIT 1), '') FROM outbox o JOIN record_versions v "
      "ON v.id = o.version_id ";

  static DeadLetterEntry readDeadLetter(sqlite::Stmt& s) {
    DeadLetterEntry e;
    e.messageId = s.int64(0);
    e.destinationId = s.text(1);
    e.recordId = s.text(2);
    e.version = s.int64(3);
    e.recordType = s.text(4);
    parseOutboxState(s.text(5), &e.state);
    e.attempts = s.int64(6);
    e.lastStatus = static_cast<int>(s.int64(7));
    e.lastError = s.text(8);
    e.createdAtMillis = s.int64(9);
    e.updatedAtMillis = s.int64(10);
    e.operationOutcome = s.text(11);
    return e;
  }

  template <typename Bind>
  Result<std::vector<StoredNotice>> queryNotices(const char* sql, Bind bind) {
    std::vector<StoredNotice> out;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(sql);
    if (!stmt) return stmt.status();
    bind(*stmt);
    Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
      out.push_back(StoredNotice{s.text(0), s.int64(1), s.text(2), s.text(3), s.text(4), s.text(5),
                                 s.text(6), s.text(7), s.int64(8)});
    });
    if (!st.isOk()) return st;
    for (StoredNotice& n : out) {
      if (st = openStored(column::kNoticeText, &n.text); !st.isOk()) return st;
    }
    return out;
  }

  template <typename Bind>
  Result<std::vector<DeliveryAttempt>> queryAttempts(const char* sql, Bind bind) {
    std::vector<DeliveryAttempt> out;
    auto reader = acquireReader();
    if (!reader) return reader.status();
    auto stmt = reader->db->prepare(sql);
    if (!stmt) return stmt.status();
    bind(*stmt);
    Status st = forEachRow(*stmt, [&](sqlite::Stmt& s) {
      DeliveryAttempt a;
      a.id = s.int64(0);
      a.messageId = s.int64(1);
      a.destinationId = s.text(2);
      a.recordId = s.text(3);
      a.version = s.int64(4);
      a.atMillis = s.int64(5);
      a.durationMillis = s.int64(6);
      parseAttemptOutcome(s.text(7), &a.outcome);
      a.httpStatus = static_cast<int>(s.int64(8));
      a.error = s.text(9);
      a.operationOutcome = s.text(10);
      a.location = s.text(11);
      a.nextAttemptAtMillis = s.int64(12);
      a.response = s.text(13);
      a.request = s.text(14);
      out.push_back(std::move(a));
    });
    if (!st.isOk()) return st;
    for (DeliveryAttempt& a : out) {
      for (auto [name, value] :
           {std::pair{column::kOperationOutcome, &a.operationOutcome},
            std::pair{column::kResponse, &a.response}, std::pair{column::kRequest, &a.request}}) {
        if (st = openStored(name, value); !st.isOk()) return st;
      }
    }
    return out;
  }

  Status changeDeadLetter(std::int64_t messageId, const std::string& principal, bool replay) {
    Job job;
    job.run = [&](Database& db) {
      std::string destinationId, patientKey, state, recordId, recordType;
      std::int64_t version = 0;
      {
        auto find = db.prepare(
            "SELECT o.destination_id, o.patient_key, o.state, o.record_id, o.version, "
            "v.record_type FROM outbox o JOIN record_versions v ON v.id = o.version_id "
            "WHERE o.seq = ?1");
        if (!find) return find.status();
        find->bind(1, messageId);
        auto row = find->next();
        if (!row) return row.status();
        if (!*row) {
          return Status(ErrorCode::kNotFound, "no dead letter " + std::to_string(messageId));
        }
        destinationId = find->text(0);
        patientKey = find->text(1);
        state = find->text(2);
        recordId = find->text(3);
        version = find->int64(4);
        recordType = find->text(5);
      }
      if (state != "dead-letter" && state != "not-sent") {
        return Status(ErrorCode::kConflict, "message " + std::to_string(messageId) + " is " +
                                                state + ", not dead-letter or not-sent");
      }
      const std::int64_t now = clock_.nowMillis();
      if (replay) {
        auto newer = db.prepare(
            "SELECT count(*) FROM outbox WHERE record_id = ?1 AND destination_id = ?2 "
            "AND version > ?3 AND state IN ('pending', 'patient-unmatched', 'written', "
            "'delivered')");
        if (!newer) return newer.status();
        newer->bind(1, recordId).bind(2, destinationId).bind(3, version);
        auto row = newer->next();
        if (!row) return row.status();
        if (*row && newer->int64(0) > 0) {
          return Status(ErrorCode::kConflict, "a newer version of record " + recordId +
                                                  " is queued or delivered for " + destinationId +
                                                  "; replaying this one would overwrite it");
        }
      }
      auto update = db.prepare(
          "UPDATE outbox SET state = ?2, next_attempt_at = ?3, lease_until = 0, updated_at = ?3 "
          "WHERE seq = ?1");
      if (!update) return update.status();
      update->bind(1, messageId)
          .bind(2, std::string_view(replay ? "pending" : "discarded"))
          .bind(3, now);
      if (Status st = update->run(); !st.isOk()) return st;
      if (replay) {
        if (Status st = refreshHead(db, destinationId, patientKey); !st.isOk()) return st;
      }
      AuditEntry audit;
      audit.atMillis = now;
      audit.principal = principal;
      audit.action = replay ? "deadletter-replay" : "deadletter-discard";
      audit.recordId = recordId;
      audit.version = version;
      audit.recordType = recordType;
      audit.outcome = "ok";
      audit.source = destinationId;
      audit.detail = "message " + std::to_string(messageId);
      return insertAudit(db, audit);
    };
    return submit(job);
  }

  static Status runStatement(Database& db, std::string_view sql) {
    auto stmt = db.prepare(sql);
    if (!stmt) return stmt.status();
    return stmt->run();
  }

  Status report(std::int64_t messageId, const char* newState, int lastStatus,
                const std::string& lastError, std::int64_t nextAttemptAt,
                std::initializer_list<const char*> allowedFrom) {
    Job job;
    job.run = [&](Database& db) {
      auto found = findMessage(db, messageId);
      if (!found) return found.status();
      const bool allowed = std::any_of(allowedFrom.begin(), allowedFrom.end(),
                                       [&](const char* s) { return found->state == s; });
      if (!allowed) {
        return Status(ErrorCode::kConflict,
                      "outbox message " + std::to_string(messageId) + " is " + found->state);
      }
      const std::int64_t now = clock_.nowMillis();
      auto update = db.prepare(
          "UPDATE outbox SET state = ?2, attempts = attempts + 1, last_status = ?3, "
          "last_error = ?4, lease_until = 0, next_attempt_at = max(next_attempt_at, ?5), "
          "updated_at = ?6 WHERE seq = ?1");
      if (!update) return update.status();
      update->bind(1, messageId)
          .bind(2, std::string_view(newState))
          .bind(3, lastStatus)
          .bind(4, lastError)
          .bind(5, nextAttemptAt)
          .bind(6, now);
      if (Status st = update->run(); !st.isOk()) return st;
      if (std::string_view(newState) == "delivered" && found->state != "delivered") {
        if (Status st = insertDisclosure(db, messageId, "", now); !st.isOk()) return st;
      }
      if (std::string_view(newState) != "pending") {
        if (Status st = dropKeptShape(db, messageId); !st.isOk()) return st;
      }
      return refreshHead(db, found->destinationId, found->patientKey);
    };
    return submit(job);
  }

  Result<ReaderLease> acquireReader() {
    {
      std::lock_guard<std::mutex> lock(readersMutex_);
      if (!readers_.empty()) {
        ReaderLease lease(this, std::move(readers_.back()));
        readers_.pop_back();
        return lease;
      }
    }
    auto db = Database::open(path_, false, options_.busyTimeoutMillis);
    if (!db) return db.status();
    if (Status st = (*db)->exec("PRAGMA query_only = ON"); !st.isOk()) return st;
    return ReaderLease(this, std::move(*db));
  }

  void releaseReader(std::unique_ptr<Database> db) {
    std::lock_guard<std::mutex> lock(readersMutex_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(db));
  }

  static constexpr std::size_t kMaxIdleReaders = 8;

  // WAL checkpoints (copying committed pages from the WAL into the database
  // file, then fsync'ing it) run on their own thread and connection, so that
  // the writer -- and every caller waiting for a group commit -- does not pay
  // for them; a commit is durable once the WAL is fsync'ed, with or without
  // a checkpoint. Past kWalCheckpointPages the checkpointer is woken (16 MiB
  // of 4 KiB pages; with SQLite's default, 1,000, it copied the index pages
  // that every commit rewrites once per dozen single-record commits); past
  // kWalHardLimitPages (it has not kept up, so the WAL could not restart) the
  // writer checkpoints inline, as SQLite's autocheckpoint would, which bounds
  // the WAL.
  static constexpr int kWalCheckpointPages = 4000;
  static constexpr int kWalHardLimitPages = 16000;

  // sqlite3_wal_hook: runs on the writer thread after each commit, with the
  // number of frames now in the WAL.
  static int onWalCommit(void* self, sqlite3* db, const char* schema, int pages) {
    if (pages >= kWalHardLimitPages) {
      (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (pages >= kWalCheckpointPages) {
      auto* store = static_cast<SqliteStore*>(self);
      {
        std::lock_guard<std::mutex> lock(store->checkpointMutex_);
        store->checkpointWanted_ = true;
      }
      store->checkpointCv_.notify_one();
    }
    return SQLITE_OK;
  }

  // PASSIVE: never waits for the writer or readers; what it cannot copy now
  // the next request copies. A failure is left to the next attempt (and to the
  // writer's inline fallback): the data is safe in the WAL.
  void checkpointLoop() {
    std::unique_lock<std::mutex> lock(checkpointMutex_);
    for (;;) {
      checkpointCv_.wait(lock, [&] { return checkpointStopping_ || checkpointWanted_; });
      if (checkpointStopping_) return;
      checkpointWanted_ = false;
      lock.unlock();
      (void)sqlite3_wal_checkpoint_v2(checkpointDb_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                      nullptr, nullptr);
      lock.lock();
    }
  }

  const std::string path_;
  const SqliteStoreOptions options_;
  // The payload cipher. Replaced when a stored value names a key the ring
  // lacks and the key file, read again, has it: a key added after the start
  // (`inloop keygen`, then `inloop rekey` in another process) is taken without
  // a restart. At most one re-read per second.
  mutable std::mutex cipherMutex_;
  std::shared_ptr<const PayloadCipher> cipher_;
  std::int64_t keysReadAt_ = 0;
  const Clock& clock_;
  std::unique_ptr<Database> writerDb_;      // used by the writer thread only
  ReceiptIds receiptIds_;                   // used by the writer thread only
  std::unique_ptr<Database> checkpointDb_;  // used by the checkpointer thread only

  std::mutex mutex_;
  std::condition_variable workCv_;
  std::deque<Job*> queue_;
  std::size_t queuedItems_ = 0;
  std::size_t committingItems_ = 0;
  bool stopping_ = false;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> committedWrites_{0};

  std::mutex readersMutex_;
  std::vector<std::unique_ptr<Database>> readers_;

  std::mutex checkpointMutex_;
  std::condition_variable checkpointCv_;
  bool checkpointWanted_ = false;
  bool checkpointStopping_ = false;

  // Last: they start after everything above is initialised.
  std::thread checkpointer_;
  std::thread writer_;
};

}  // namespace

namespace {

// chmod 0600 of the database file and of its -wal and -shm files when they exist.
Status restrictStoreFiles(const std::string& path) {
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || (st.st_mode & 07777) == 0600) continue;
    if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT) {
      return Status(ErrorCode::kIoError,
                    "cannot make " + file + " mode 0600: " + std::string(std::strerror(errno)));
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path,
                                               const SqliteStoreOptions& options,
                                               const Clock& clock) {
  // Create the file ourselves so it is 0600 from the start; SQLite gives new
  // -wal and -shm files the same mode as the database file. Files that exist
  // already (an older install, a restored copy) are made 0600 too.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(ErrorCode::kIoError,
                  "cannot open store file " + path + ": " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  if (Status st = restrictStoreFiles(path); !st.isOk()) return st;
  auto db = Database::open(path, false, options.busyTimeoutMillis);
  if (!db) return db.status();
  Database& writer = **db;
  // journal_mode returns a row; exec ignores it. WAL + FULL: a commit is on disk
  // (fsync of the WAL) before it returns.
  if (Status st = writer.exec("PRAGMA journal_mode = WAL"); !st.isOk()) return st;
  if (Status st = restrictStoreFiles(path); !st.isOk()) return st;
  {
    auto mode = writer.prepare("PRAGMA journal_mode");
    if (!mode) return mode.status();
    if (auto row = mode->next(); !row || !*row || mode->text(0) != "wal") {
      return Status(ErrorCode::kIoError, "cannot switch " + path + " to WAL mode");
    }
  }
  // journal_size_limit: truncate the WAL after a checkpoint instead of keeping
  // the size of the largest batch ever written.
  if (Status st = writer.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                              "PRAGMA journal_size_limit = 67108864;");
      !st.isOk()) {
    return st;
  }
  // The writer's page cache holds a whole 1,000-record group (~2,000 pages):
  // with SQLite's default 2 MiB it spilled dirty pages into the WAL before the
  // commit and wrote the hot index pages again at the commit.
  if (Status st = writer.exec("PRAGMA cache_size = -16384"); !st.isOk()) return st;
  if (Status st = sqlite::migrate(writer, kStoreSchemaVersion); !st.isOk()) return st;
  std::uint64_t lastReceipt = 0;
  {
    auto highest = writer.prepare("SELECT max(receipt_id) FROM record_versions");
    if (!highest) return highest.status();
    auto row = highest->next();
    if (!row) return row.status();
    if (*row) lastReceipt = ReceiptIds::parse(highest->text(0));
  }
  auto checkpointDb = Database::open(path, false, options.busyTimeoutMillis);
  if (!checkpointDb) return checkpointDb.status();
  // A checkpoint fsyncs the WAL before it copies and the database file after.
  if (Status st = (*checkpointDb)->exec("PRAGMA synchronous = FULL"); !st.isOk()) return st;
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(
      path, options, clock, std::move(*db), std::move(*checkpointDb), lastReceipt));
}

}  // namespace inloop::gateway
