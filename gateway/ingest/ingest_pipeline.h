#pragma once

// IngestPipeline: the one path by which plan records enter the store, shared by
// the HTTP API (`POST /records`, `POST /records/$batch`) and the file inbox.
//
// For each record: parse the JSON text (fhir::parseJson with IngestLimits) ->
// mappings::readPlanRecord -> canonical record bytes (compact writeJson of the
// parsed value) + SHA-256 content hash -> mappings::translateRecord with the
// CURRENT mapping tables (a snapshot taken once per call from a
// MappingTablesHolder) -> the safety loop's notices appended -> the Bundle
// validated once and written once (no tree is kept between records of a
// batch) -> Store::ingest (group commit: one transaction, one fsync, for
// every record of one call). Nothing is stored for a record with any error.
// Destinations: an IngestRouter (gateway/delivery/engine.h) names them per
// record (empty: stored as `unroutable`) and is told after each accepted
// ingest, so delivery starts at once. Without a router every record is
// `unroutable`.
//
// The safety loop (docs/safety-loop.md): for a NEW version of a
// medication-change or care-plan record (not a replay, conflict or stale
// version), the patient's medication list is read from the store, the record
// applied and the rules evaluated (mappings::applyAndEvaluate); the notices are
// appended to the record's Bundle as Communications (so they travel in the
// same ordered, retried delivery), and the new list and the notices go into the
// same Store::ingest transaction as the record. Read list -> evaluate -> ingest
// runs under a per-patient lock (striped), so two records of one patient, in
// one batch or in concurrent calls, see each other's list in order.
//
// Failures are values: every record gets a RecordOutcome; nothing throws.
// Thread safety: ingestOne/ingestBatch may be called concurrently from many
// threads (the store batches them); the holder swaps tables atomically.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/status.h"
#include "gateway/base/change_signal.h"
#include "gateway/store/store.h"

namespace inloop::mappings {
struct MappingTables;
struct PlanRecord;
}  // namespace inloop::mappings

namespace inloop::gateway {

class Store;  // gateway/store/store.h

// The current mapping tables. Readers take a snapshot (a shared_ptr that stays
// valid however long they hold it); a reload replaces the pointer atomically, so
// a record is translated with exactly one version of the tables.
// Thread-safe.
class MappingTablesHolder {
 public:
  explicit MappingTablesHolder(std::shared_ptr<const mappings::MappingTables> tables = nullptr);

  // The current tables; nullptr until some were loaded.
  std::shared_ptr<const mappings::MappingTables> current() const;
  // Installs `tables` (already validated by the caller) for every later call.
  void replace(std::shared_ptr<const mappings::MappingTables> tables);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const mappings::MappingTables> tables_;
};

// What happened to one record.
enum class IngestStatus {
  kAccepted,     // new version stored durably (HTTP 202)
  kReplay,       // same recordId+version+content already stored; original receipt (200)
  kConflict,     // same recordId+version, different content (409)
  kStale,        // version lower than the highest stored (409)
  kMalformed,    // not JSON / not UTF-8 (400)
  kInvalid,      // breaks the record format, or unknown codes (422)
  kTooLarge,     // a JSON limit was exceeded (413)
  kUnavailable,  // store busy/full/closed, or no mapping tables: retry later (503)
  kError,        // the store failed (disk) or a bug (500)
};

// "accepted", "replay", "conflict", "stale", "malformed", "invalid",
// "too-large", "unavailable", "error".
const char* ingestStatusName(IngestStatus status);

// The fhir::ErrorCode an outcome stands for (kOk for accepted and replay), so
// callers map to HTTP through the one error-code table.
fhir::ErrorCode ingestStatusErrorCode(IngestStatus status);

struct RecordOutcome {
  IngestStatus status = IngestStatus::kError;
  std::size_t line = 0;      // 1-based line in a batch; 0 for a single record
  std::string recordId;      // empty when the record could not be read that far
  std::int64_t version = 0;  // 0 when unknown
  std::string recordType;    // "measurement", ...; empty when unknown
  std::string receiptId;     // accepted/replay only
  std::string receivedAt;    // accepted/replay only: FHIR instant of the first acceptance
  fhir::Issues issues;       // why a record was refused (paths "$.measure"; in a
                             // batch prefixed "line 3: $.measure")
};

// Who sent a record and how; stored in the audit log, never clinical data.
struct IngestSource {
  std::string principal;  // token id or certificate subject ("clinic-export")
  std::string source;     // "http", "http-batch", "inbox:export-0001.ndjson"
};

struct IngestLimits {
  std::size_t maxRecordBytes = 1u << 20;  // one record's JSON text
  std::size_t maxDepth = 32;
  std::size_t maxStringBytes = 64u << 10;
  std::size_t maxElements = 100000;
  std::size_t maxBatchRecords = 10000;  // non-empty lines of one NDJSON batch
};

// Observes every outcome (metrics). Called on the ingesting thread; must be
// thread-safe and must not throw.
class IngestObserver {
 public:
  virtual ~IngestObserver() = default;
  virtual void onOutcome(const RecordOutcome& outcome) = 0;
};

// Chooses the destinations of a record version at ingest and hears about
// accepted ones. Called on ingesting threads: must be thread-safe, not throw.
class IngestRouter {
 public:
  virtual ~IngestRouter() = default;
  // The outbox targets of `record` (empty: unroutable).
  virtual std::vector<DestinationTarget> route(const mappings::PlanRecord& record) = 0;
  // At least one record was accepted (stored durably) by the current call.
  virtual void onAccepted() = 0;
};

class IngestPipeline {
 public:
  // `store` and `tables` must outlive the pipeline; `observer`, `router` and
  // `changes` may be null (no router: every record is unroutable). `changes`
  // is notified after each call that stored at least one record (after the
  // router heard of it).
  IngestPipeline(IngestStore& store, const MappingTablesHolder& tables, IngestLimits limits,
                 IngestObserver* observer = nullptr, IngestRouter* router = nullptr,
                 ChangeSignal* changes = nullptr);

  // One record's JSON text. Never throws.
  RecordOutcome ingestOne(std::string_view recordJson, const IngestSource& source);

  // NDJSON: one record per line; blank lines are skipped (and counted for line
  // numbers). Each line is accepted or refused on its own; every valid line goes
  // to the store in ONE Store::ingest call. Returns one outcome per non-blank
  // line, in order. Whole-batch failures are a non-ok Status: kTooLarge when
  // there are more than maxBatchRecords lines (nothing stored), kUnavailable when
  // the store refused the batch (busy, full, closing: retry it; nothing stored),
  // kIoError when the store failed.
  fhir::Result<std::vector<RecordOutcome>> ingestBatch(std::string_view ndjson,
                                                       const IngestSource& source);

  const IngestLimits& limits() const { return limits_; }

 private:
  static constexpr std::size_t kPatientStripes = 64;

  IngestStore& store_;
  const MappingTablesHolder& tables_;
  IngestLimits limits_;
  IngestObserver* observer_;
  IngestRouter* router_;
  ChangeSignal* changes_;
  // Per-patient serialisation of the safety loop (patient key hashed to a stripe).
  std::array<std::mutex, kPatientStripes> patientLocks_;
};

}  // namespace inloop::gateway
