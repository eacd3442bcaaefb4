#pragma once

// Store: the daemon's durable state behind one interface (SQLite now,
// PostgreSQL later; an in-memory implementation for tests). It holds every
// version of every plan record with its FHIR translation, an outbox of
// deliveries per destination, and an audit log.
//
// Durability (of the product's stores; MemoryStore keeps nothing beyond its
// object): when ingest() (or any other write) returns ok, its effects are
// committed and fsync'ed. Writes from many threads are GROUP-COMMITTED: one
// writer takes everything pending and commits it in one transaction, then wakes
// each caller with its own result. Every write call is atomic either way.
//
// Failures are values; nothing throws out of a Store:
//   kUnavailable  transient, retry later (HTTP 503 + Retry-After): the write
//                 queue is full, the database is busy/locked, the disk is full,
//                 or the store is closing;
//   kIoError      the local system failed (I/O error, corrupt file);
//   kNotFound     an unknown record / outbox message;
//   kInvalid      the caller passed an impossible argument (empty recordId,
//                 version < 1, ...): a programmer error upstream.
// Thread safety: every method may be called concurrently from any thread.
// Times are epoch milliseconds (see gateway/base/clock.h); the store reads "now"
// from the Clock it was opened with, except where a method takes `now`.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "fhir/status.h"

namespace inloop::gateway {

// Limits for reading back JSON the store holds (records, Bundles, medication
// lists): inloop wrote it, so they only stop a corrupt payload from taking all
// memory; they are far above what ingest admits.
inline constexpr fhir::JsonLimits kStoredJsonLimits{
    .maxBytes = 256u << 20,
    .maxDepth = 128,
    .maxStringBytes = 64u << 20,
    .maxElements = 1u << 24,
    .maxNumberChars = 64,
    .allowComments = false,
};

// State of one outbox row (one record version for one destination).
enum class OutboxState {
  kPending,           // waiting for delivery (or for a retry time)
  kUnroutable,        // marker row (destinationId ""): no destination took the record
  kPatientUnmatched,  // the destination cannot match the patient yet; parked, visible
  kDelivered,         // the destination accepted it
  kDeadLetter,        // permanent failure; needs a human
  kSuperseded,        // a newer version of the record replaced it before delivery
  kDiscarded,         // an operator discarded the dead letter (kept for the ledger)
  kNotSent,           // shaping left nothing this destination takes: NOT delivered;
                      // visible, alerted on, kept for replay (like a dead letter)
  kWritten,           // ndjson-dir: durable in the destination's working file, which
                      // the reader does not see yet; delivered once the file is
                      // published (renamed). The patient's next message may follow.
};

// "pending", "unroutable", "patient-unmatched", "delivered", "dead-letter",
// "superseded", "discarded", "not-sent", "written".
const char* outboxStateName(OutboxState state);
// Inverse of outboxStateName; false for an unknown name.
bool parseOutboxState(const std::string& name, OutboxState* state);

// One destination a new record version goes to.
struct DestinationTarget {
  std::string destinationId;
  // kPending or kPatientUnmatched (anything else is stored as given).
  OutboxState initialState = OutboxState::kPending;
  std::string reason;  // why it is parked (patient-unmatched), shown to operators
};

// One safety notice sent for a record version (mappings/safety/safety.h Notice, as
// stored). Plain text only; shown to authorised users and in the patient
// summary, never logged.
struct StoredNotice {
  std::string recordId;
  std::int64_t version = 0;
  std::string patientKey;
  std::string ruleId;    // "managed-effect", "opioid-sedative", ...
  std::string priority;  // "routine" or "urgent"
  std::string key;       // the Communication's identifier value ("notice/...")
  std::string date;      // the date the notice is about
  std::string text;
  std::int64_t createdAtMillis = 0;  // assigned by the store on ingest
};

// A patient's medication list at the pain center (mappings::medicationListToJson).
struct MedicationListRow {
  std::string patientKey;
  std::string listJson;
  std::string recordId;  // the record whose acceptance wrote it
  std::int64_t version = 0;
  std::int64_t updatedAtMillis = 0;
};

// The latest version of one of a patient's records (patient summary).
struct PatientRecordRow {
  std::string recordId;
  std::string recordType;
  std::int64_t version = 0;
  std::int64_t updatedAtMillis = 0;
  std::string recordJson;  // empty when purged
};

// One record version handed to ingest().
struct IngestItem {
  std::string recordId;
  std::int64_t version = 0;  // >= 1
  std::string recordType;    // "measurement", "medication-plan", ...
  std::string practiceId;
  std::string patientKey;   // opaque (e.g. MRN); FIFO order per (destination, patient)
  std::string contentHash;  // hex SHA-256 of recordJson
  std::string recordJson;   // canonical record bytes
  std::string bundleJson;   // the FHIR transaction Bundle it translates to
  // Empty: the record is stored with an `unroutable` marker row, never dropped.
  std::vector<DestinationTarget> destinations;
  std::string principal;  // who sent it (token id, certificate subject)
  std::string source;     // "http", "http-batch", "inbox:export-0001.ndjson"
  // The safety loop (gateway/ingest/ingest_pipeline.h), applied ONLY when the item is
  // accepted, in the same transaction: the patient's new medication list
  // (nullopt: unchanged) and the notices sent with this version (a notice
  // whose key is already stored is replaced: a new plan version about the same
  // injection updates it).
  std::optional<std::string> medicationListJson;
  std::vector<StoredNotice> notices;
};

enum class IngestOutcome {
  kAccepted,  // stored now
  kReplay,    // same recordId+version+hash already stored: the original receipt
  kConflict,  // same recordId+version, different content: nothing stored
  kStale,     // version lower than the highest stored: nothing stored
};

// "accepted", "replay", "conflict", "stale".
const char* ingestOutcomeName(IngestOutcome outcome);

struct Receipt {
  std::string receiptId;  // "rcpt-<16 hex>": unique, stable for replays; empty if refused
  std::string recordId;
  std::int64_t version = 0;
  IngestOutcome status = IngestOutcome::kAccepted;  // outcome of THIS call
  std::int64_t receivedAtMillis = 0;                // first acceptance
  std::string receivedAt;                           // same, as FHIR instant
};

struct IngestResult {
  IngestOutcome outcome = IngestOutcome::kAccepted;
  Receipt receipt;
  std::string message;  // for conflict/stale: why (no clinical content)
};

struct VersionInfo {
  std::int64_t version = 0;
  std::int64_t receivedAtMillis = 0;
  std::string contentHash;
  std::string receiptId;
  bool purged = false;  // payload cleared by retention
};

// One outbox row as operators see it.
struct DeliveryState {
  std::int64_t messageId = 0;
  std::string destinationId;  // "" for the unroutable marker
  std::int64_t version = 0;
  OutboxState state = OutboxState::kPending;
  std::int64_t attempts = 0;
  int lastStatus = 0;  // last HTTP status (0: none yet / network error)
  std::string lastError;
  std::string reason;
  std::int64_t nextAttemptAtMillis = 0;
  std::int64_t updatedAtMillis = 0;
};

struct RecordView {
  std::string recordId;
  std::string recordType;
  std::string practiceId;
  std::int64_t latestVersion = 0;
  std::string recordJson;  // latest version; empty when purged
  std::string bundleJson;  // its translation; empty when purged
  bool purged = false;
  Receipt receipt;                        // of the latest version (status kAccepted)
  std::vector<VersionInfo> versions;      // ascending
  std::vector<DeliveryState> deliveries;  // every outbox row of the record, oldest first
};

// A message handed to the delivery engine by claimDue().
struct OutboxMessage {
  std::int64_t messageId = 0;
  std::string destinationId;
  std::string patientKey;
  std::string recordId;
  std::int64_t version = 0;
  std::string recordType;
  // The record version and its Bundle; both empty when a kept shape is
  // returned instead (readMessageSource() reads them when it is stale).
  std::string recordJson;
  std::string bundleJson;
  // What an earlier attempt sent, kept because it was retried
  // (mappings/shaping/kept_shape.h), and the key it was shaped under; empty
  // when there is none.
  std::string shapeKey;
  std::string keptShape;
  std::int64_t attempts = 0;  // attempts reported so far
  std::int64_t leaseUntilMillis = 0;
};

// One audit row (docs/security.md "Audit and accounting of disclosures").
// Actions: "ingest", "route", "reprocess", "deadletter-replay",
// "deadletter-discard", "purge" (written by the store with their change);
// "read" and "admin" (one per API request on a PHI or admin route, any
// outcome); "disclose" (a record version delivered to a destination, written
// in the transaction that makes the message delivered).
struct AuditEntry {
  std::int64_t id = 0;        // assigned by the store
  std::int64_t atMillis = 0;  // assigned by the store when 0
  std::string principal;      // token name, certificate subject, "delivery", "inloop"
  std::string action;         // see above
  std::string recordId;
  std::int64_t version = 0;
  std::string recordType;
  std::string outcome;  // "accepted", "replay", "ok", "attempt" (refused or failed read), ...
  std::string source;   // ingest: "http", "inbox:..."; API: "GET /records/{recordId}";
                        // disclose: the destination's endpoint kind ("fhir-put", ...)
  std::string detail;   // free text: NEVER clinical payload
  // The patient key (MRN) as the store holds it: never a name. appendAudit()
  // fills it (and a 0 version with the latest) from the record when recordId
  // names a stored record.
  std::string patientKey;
  std::string destinationId;  // disclose: who received it
  std::string remoteAddress;  // API: the client's address
};

// Which audit rows listAuditFor() returns.
struct AuditQuery {
  std::string patientKey;        // required
  std::string action;            // "" for every action
  std::int64_t sinceMillis = 0;  // rows at or after
  int limit = 1000;
};

// What Store::rekeyPayloads found and did.
struct RekeyReport {
  // Stored (non-empty) payload values before the run, by the key id that
  // sealed them; "" counts plaintext values.
  std::map<std::string, std::int64_t> valuesByKey;
  std::int64_t changed = 0;  // values sealed again (or decrypted)
  std::string targetKeyId;   // "" when decrypting
};

struct StoreStats {
  std::map<std::string, std::int64_t> recordsByType;
  std::int64_t records = 0;
  std::int64_t versions = 0;
  std::map<std::string, std::int64_t> outboxByState;  // by outboxStateName
  std::int64_t oldestPendingAgeMillis = 0;            // 0 when nothing is pending
  std::int64_t dbFileBytes = 0;                       // main file + WAL
  std::uint64_t commits = 0;          // group transactions committed (one fsync each)
  std::uint64_t committedWrites = 0;  // write calls committed by those transactions
  std::uint64_t queuedItems = 0;      // items waiting for the writer right now
  std::uint64_t committingItems = 0;  // items in the transaction being written right now
};

// How one delivery attempt ended (the ledger, gateway/delivery/).
enum class AttemptOutcome {
  kDelivered,   // the destination accepted it: the message becomes delivered
  kRetry,       // transient failure: the message stays pending until nextAttemptAtMillis
  kDeadLetter,  // permanent failure: the message becomes dead-letter
  kParked,      // cannot be sent yet (patient unmatched): the message becomes patient-unmatched
  kNotSent,     // nothing of it is sendable to this destination: the message becomes not-sent
  kWritten,     // appended to an unpublished file (ndjson-dir): the message becomes written
                // (or stays delivered when its file was published meanwhile)
};

// "delivered", "retry", "dead-letter", "parked", "not-sent", "written".
const char* attemptOutcomeName(AttemptOutcome outcome);
// Inverse of attemptOutcomeName; false for an unknown name.
bool parseAttemptOutcome(const std::string& name, AttemptOutcome* outcome);

// One row of the delivery ledger. Never carries clinical payload: the
// operationOutcome is the RECEIVER's OperationOutcome (diagnostics about the
// request), truncated to 16 KiB.
struct DeliveryAttempt {
  std::int64_t id = 0;         // assigned by the store
  std::int64_t messageId = 0;  // the outbox row
  std::string destinationId;   // filled by the store from the outbox row
  std::string recordId;        // filled by the store from the outbox row
  std::int64_t version = 0;    // filled by the store from the outbox row
  std::int64_t atMillis = 0;   // when the attempt started
  std::int64_t durationMillis = 0;
  AttemptOutcome outcome = AttemptOutcome::kDelivered;
  int httpStatus = 0;            // 0: no HTTP response (network error, file kind, not sent)
  std::string error;             // short text: "HTTP 503", "timeout: ...", why parked
  std::string operationOutcome;  // the receiver's OperationOutcome JSON, or ""
  std::string location;          // the receiver's Location (or transaction-response summary)
  std::int64_t nextAttemptAtMillis = 0;  // kRetry only
  // JSON, "" when none: the receiver's answer {"status", "headers" (those that
  // matter), "body" (its first 8 KiB when not an OperationOutcome)}, and for a
  // dead letter the request sent {"request": "PUT Observation", "body" (first
  // 64 KiB)}. The store caps each at 80 KiB.
  std::string response;
  std::string request;
  // The destination's endpoint kind ("fhir-transaction", "ndjson-dir", ...):
  // only the disclosure audit row keeps it.
  std::string endpointKind;
  // kRetry: what was sent, kept for the next attempt under `shapeKey` (sealed
  // like every payload); empty: the kept shape, if any, stays. Any other
  // outcome drops the message's kept shape: it is kept only while the message
  // is pending.
  std::string shapeKey;
  std::string keptShape;
};

// A dead-lettered outbox row as operators see it.
struct DeadLetterEntry {
  std::int64_t messageId = 0;
  std::string destinationId;
  std::string recordId;
  std::int64_t version = 0;
  std::string recordType;
  OutboxState state = OutboxState::kDeadLetter;
  std::int64_t attempts = 0;
  int lastStatus = 0;
  std::string lastError;
  std::string operationOutcome;  // of the last attempt, "" when none
  std::int64_t createdAtMillis = 0;
  std::int64_t updatedAtMillis = 0;  // when it was dead-lettered
};

// Queue figures of one destination (rows in open states only).
struct DestinationQueue {
  std::string destinationId;
  std::int64_t pending = 0;
  std::int64_t patientUnmatched = 0;
  std::int64_t deadLetters = 0;
  std::int64_t notSent = 0;
  std::int64_t written = 0;                       // awaiting publication of their file (ndjson-dir)
  std::int64_t oldestPendingCreatedAtMillis = 0;  // 0 when nothing is pending
  std::int64_t nextDueAtMillis = 0;               // earliest due head (incl. leases); 0 when none
};

// The latest unroutable version of a record, waiting for a route (its marker row).
struct UnroutableRecord {
  std::int64_t messageId = 0;  // the marker row
  std::string recordId;
  std::int64_t version = 0;
  std::string practiceId;
  std::string recordJson;  // empty when purged (never: unroutable records are not purged)
};

// What ingest needs (gateway/ingest/): store record versions, and read what a
// new version builds on (the record's history, the patient's medication list,
// the notices of earlier versions).
class IngestStore {
 public:
  virtual ~IngestStore() = default;
  // Stores record versions durably; items are decided one by one IN ORDER (two
  // versions of one record in one call work). Returns one result per item.
  // Accepted items get: the version, its translation, one outbox row per
  // destination (superseding older still-pending rows of the same record for
  // that destination) or the unroutable marker, and an audit row. Every item
  // (any outcome) gets an audit row. Whole-call failures: kInvalid (bad item),
  // kUnavailable (queue full, busy, disk full, closing), kIoError; then nothing
  // of the call is stored.
  virtual fhir::Result<std::vector<IngestResult>> ingest(std::vector<IngestItem> items) = 0;

  // The latest version of a record with its history and delivery rows.
  // kNotFound when the record was never stored.
  virtual fhir::Result<RecordView> getRecord(const std::string& recordId) = 0;

  // The patient's stored medication list. kNotFound when none was stored yet.
  virtual fhir::Result<MedicationListRow> getMedicationList(const std::string& patientKey) = 0;

  // Notices of one record (every version), oldest first.
  virtual fhir::Result<std::vector<StoredNotice>> listRecordNotices(
      const std::string& recordId) = 0;

  // Readiness: ok when a write can be committed right now.
  virtual fhir::Status checkWritable() = 0;
};

// The outbox and its leases: what the delivery engine (gateway/delivery/)
// claims, reports and watches.
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  // Leases up to `limit` due messages for one destination: per (destination,
  // patientKey) only the OLDEST pending message is eligible (FIFO per patient;
  // patients are independent), and only when its next-attempt time is <= now
  // and no unexpired lease holds it. Claimed messages are leased until
  // now + leaseForMillis; a report (markDelivered/scheduleRetry/deadLetter)
  // ends the lease. Cost does not grow with queue depth (indexed heads).
  // A message with a kept shape comes with it instead of its record and Bundle.
  virtual fhir::Result<std::vector<OutboxMessage>> claimDue(const std::string& destinationId,
                                                            std::int64_t now, int limit,
                                                            std::int64_t leaseForMillis) = 0;

  // Fills `message->recordJson` and `bundleJson` for message->messageId (a
  // claimed message whose kept shape no longer fits). kNotFound for an
  // unknown id; a purged payload reads as empty.
  virtual fhir::Status readMessageSource(OutboxMessage* message) = 0;

  // The destination accepted the message. kNotFound for an unknown id. Like
  // every change to delivered, writes a "disclose" audit row in the same
  // transaction.
  virtual fhir::Status markDelivered(std::int64_t messageId, int lastStatus) = 0;

  // ndjson-dir: the file holding these messages' lines was published as
  // `location`. Each message that is written, or still pending (its attempt
  // not reported yet), becomes delivered, with a ledger row saying where.
  // Empty `messageIds`: every written message of the destination (at start-up,
  // once the working file left by a previous run has been published). Returns
  // how many messages became delivered. Each gets a "disclose" audit row
  // (source `endpointKind`) in the same transaction.
  virtual fhir::Result<std::int64_t> markPublished(const std::string& destinationId,
                                                   const std::vector<std::int64_t>& messageIds,
                                                   const std::string& location,
                                                   const std::string& endpointKind) = 0;

  // A transient failure: try again at nextAttemptAtMillis (the message stays the
  // patient's head, so later messages of that patient wait behind it).
  virtual fhir::Status scheduleRetry(std::int64_t messageId, std::int64_t nextAttemptAtMillis,
                                     int lastStatus, const std::string& lastError) = 0;

  // A permanent failure: the message leaves the queue (the patient's next
  // message becomes due) and stays visible as dead-letter.
  virtual fhir::Status deadLetter(std::int64_t messageId, int lastStatus,
                                  const std::string& lastError) = 0;

  // Records one attempt on message `attempt.messageId` and applies its outcome
  // to the outbox row in ONE transaction (see AttemptOutcome). The row must be
  // pending (kConflict otherwise, nothing recorded; a kDelivered outcome is
  // also taken for a row superseded while in flight). kNotFound for an unknown
  // id. destinationId/recordId/version/id are filled by the store. A kDelivered
  // outcome also writes a "disclose" audit row (the destination received the
  // version, superseded or not) in the same transaction.
  virtual fhir::Status finishAttempt(const DeliveryAttempt& attempt) = 0;

  // Ends every delivery lease (claimed messages become due at their next
  // attempt time) and returns how many were held. Only for the one process
  // that delivers from this store, at its start: a lease held then belongs to
  // a process that died (kill -9, power loss) and would otherwise delay those
  // messages until it expired. The serve process holds the data directory's
  // lock file, so with SQLite no other deliverer can exist.
  virtual fhir::Result<std::int64_t> releaseLeases() = 0;

  // The earliest time a message of `destinationId` becomes claimable (due
  // heads, leases included); 0 when its queue is empty. O(log n).
  virtual fhir::Result<std::int64_t> nextDueAt(const std::string& destinationId) = 0;

  // Per destination with open rows: queue figures. Cost grows with the number
  // of OPEN rows only (delivered history is not scanned).
  virtual fhir::Result<std::vector<DestinationQueue>> destinationQueues() = 0;
};

// The delivery ledger and the operator's actions on it (dead letters, routing
// again, reprocessing).
class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  // The ledger of one record, oldest first, at most `limit` rows (the newest).
  virtual fhir::Result<std::vector<DeliveryAttempt>> listAttempts(const std::string& recordId,
                                                                  int limit) = 0;

  // The ledger of one outbox message, oldest first.
  virtual fhir::Result<std::vector<DeliveryAttempt>> listMessageAttempts(
      std::int64_t messageId) = 0;

  // Dead letters, newest first; `destinationId` "" for every destination.
  virtual fhir::Result<std::vector<DeadLetterEntry>> listDeadLetters(
      const std::string& destinationId, int limit) = 0;

  // One dead letter (or a former one: state tells). kNotFound for an unknown
  // id or a message that never was dead-lettered.
  virtual fhir::Result<DeadLetterEntry> getDeadLetter(std::int64_t messageId) = 0;

  // Puts a dead letter back in its patient's queue (due now, keeping its
  // place by age). kConflict when it is not dead-lettered, or when a newer
  // version of the record is queued or delivered for that destination (the
  // replay would overwrite newer data). Audited with `principal`.
  virtual fhir::Status replayDeadLetter(std::int64_t messageId, const std::string& principal) = 0;

  // Marks a dead letter discarded (stays visible in the ledger). kConflict
  // when it is not dead-lettered. Audited with `principal`.
  virtual fhir::Status discardDeadLetter(std::int64_t messageId, const std::string& principal) = 0;

  // Unroutable markers with messageId > afterMessageId, oldest first, at most
  // `limit` (page with the last messageId). Only a record's latest version can
  // hold one: a newer version replaces the marker.
  virtual fhir::Result<std::vector<UnroutableRecord>> listUnroutable(std::int64_t afterMessageId,
                                                                     int limit) = 0;

  // Replaces the unroutable marker `messageId` with one outbox row per target
  // (non-empty destination ids; kInvalid otherwise) in ONE transaction, with an
  // audit row ("route") by `principal`. The rows join their patients' queues
  // now (FIFO by arrival from here on). kNotFound for an unknown id; kConflict
  // when the row is no longer an unroutable marker (a newer version came).
  virtual fhir::Status routeUnroutable(std::int64_t messageId,
                                       std::vector<DestinationTarget> targets,
                                       const std::string& principal) = 0;

  // Replaces the translation of record `recordId` version `version` (its
  // latest) with `bundleJson` and queues it again for `targets`, in ONE
  // transaction with an audit row ("reprocess") by `principal`: the record's
  // open or held messages of that version (pending and not leased,
  // patient-unmatched, not-sent, dead-letter, unroutable) become superseded,
  // and one new row per target joins its patient's queue. kNotFound for an
  // unknown record, kConflict when `version` is not its latest (a newer version
  // came) or a message of it is being sent right now (try again).
  virtual fhir::Status reprocess(const std::string& recordId, std::int64_t version,
                                 const std::string& bundleJson,
                                 std::vector<DestinationTarget> targets,
                                 const std::string& principal) = 0;
};

// Per-patient reads (the patient summary, docs/safety-loop.md).
class PatientStore {
 public:
  virtual ~PatientStore() = default;
  // The newest `limit` notices of one patient, newest first.
  virtual fhir::Result<std::vector<StoredNotice>> listPatientNotices(const std::string& patientKey,
                                                                     int limit) = 0;

  // The latest version of each of the patient's records of `recordType` ("" for
  // every type), most recently updated first, at most `limit`.
  virtual fhir::Result<std::vector<PatientRecordRow>> listPatientRecords(
      const std::string& patientKey, const std::string& recordType, int limit) = 0;
};

// The audit trail (docs/security.md).
class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // Appends an audit row (id and, when 0, atMillis assigned by the store).
  virtual fhir::Status appendAudit(AuditEntry entry) = 0;

  // The newest `limit` audit rows, newest first.
  virtual fhir::Result<std::vector<AuditEntry>> listAudit(int limit) = 0;

  // One patient's audit rows (query.patientKey; of query.action when not
  // empty) at or after query.sinceMillis, OLDEST first, at most query.limit.
  // Indexed by patient: cost grows with that patient's rows only.
  virtual fhir::Result<std::vector<AuditEntry>> listAuditFor(const AuditQuery& query) = 0;
};

// Maintenance: figures, retention, payload encryption.
class AdminStore {
 public:
  virtual ~AdminStore() = default;
  virtual fhir::Result<StoreStats> stats() = 0;

  // Retention: clears the record and bundle payloads of records all of whose
  // outbox rows are delivered (or superseded), with at least one delivered and
  // the last delivery before `deliveredBeforeMillis`. Never touches a record
  // with anything pending, parked, dead-lettered or unroutable. Hashes,
  // receipts and history stay (replays are still recognised). Also cleared:
  // the receivers' answers and requests kept in the ledger for them, and the
  // text of their notices. Freed bytes are zeroed (secure_delete) and the WAL
  // is checkpointed and truncated afterwards, so the purged payloads are in
  // no file of the store (docs/security.md). `dryRun`: counts only. Returns
  // the number of records purged (or purgeable).
  virtual fhir::Result<std::int64_t> purge(std::int64_t deliveredBeforeMillis,
                                           bool dryRun = false) = 0;

  // Payload encryption (docs/security.md): seals every stored payload that is
  // not under the current key of the store's key ring again (plaintext values
  // too), or with `toPlaintext` decrypts every sealed one, a batch of rows per
  // transaction (safe while serve runs: a row updated meanwhile is read again
  // in the batch's transaction). Freed bytes are zeroed and the WAL truncated,
  // as for purge(). `dryRun`: counts only. kInvalid when sealing without a key
  // ring; kUnavailable when a value is under a key the ring lacks (nothing of
  // that batch changed). Audited ("rekey").
  virtual fhir::Result<RekeyReport> rekeyPayloads(bool toPlaintext, bool dryRun) = 0;
};

// The whole store: every role. SqliteStore (the product) and MemoryStore
// (gateway/store/memory_store.h, for tests not about SQLite) implement it, held
// alike by tests/gateway/store/store_contract_test.cpp; PostgreSQL will. A
// component takes only the role it uses (IngestPipeline an IngestStore, the
// delivery engine an OutboxStore, retention an AdminStore).
class Store : public IngestStore,
              public OutboxStore,
              public LedgerStore,
              public PatientStore,
              public AuditStore,
              public AdminStore {
 public:
  ~Store() override = default;
};

}  // namespace inloop::gateway
