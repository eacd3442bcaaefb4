#include "gateway/store/migrations.h"

#include <string>

namespace inloop::gateway::sqlite {

namespace {

// Append only: never edit a shipped migration; add the next number instead.
// Times are epoch milliseconds.
constexpr const char* kMigrations[] = {
    // 1: records (all versions), translations, outbox with per-patient heads, audit.
    R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE records(
  record_id TEXT PRIMARY KEY,
  record_type TEXT NOT NULL,
  practice_id TEXT NOT NULL,
  patient_key TEXT NOT NULL,
  latest_version INTEGER NOT NULL,
  first_received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  purged_at INTEGER
) WITHOUT ROWID;
CREATE INDEX records_type ON records(record_type);

CREATE TABLE record_versions(
  id INTEGER PRIMARY KEY,
  record_id TEXT NOT NULL REFERENCES records(record_id),
  version INTEGER NOT NULL,
  record_type TEXT NOT NULL,
  practice_id TEXT NOT NULL,
  patient_key TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  record_json TEXT,
  receipt_id TEXT NOT NULL UNIQUE,
  received_at INTEGER NOT NULL,
  principal TEXT NOT NULL,
  source TEXT NOT NULL,
  purged_at INTEGER,
  UNIQUE(record_id, version)
);

CREATE TABLE translations(
  version_id INTEGER PRIMARY KEY REFERENCES record_versions(id),
  bundle_json TEXT
);

CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  destination_id TEXT NOT NULL,
  patient_key TEXT NOT NULL,
  record_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  version_id INTEGER NOT NULL REFERENCES record_versions(id),
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL DEFAULT 0,
  last_status INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox(destination_id, patient_key, seq) WHERE state = 'pending';
CREATE INDEX outbox_record ON outbox(record_id, destination_id);
CREATE INDEX outbox_state ON outbox(state, created_at);

-- One row per (destination, patient) with pending messages: its oldest one.
-- due_at = max(next_attempt_at, lease_until) of that message.
CREATE TABLE outbox_heads(
  destination_id TEXT NOT NULL,
  patient_key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  due_at INTEGER NOT NULL,
  PRIMARY KEY(destination_id, patient_key)
) WITHOUT ROWID;
CREATE INDEX outbox_heads_due ON outbox_heads(destination_id, due_at);

CREATE TABLE audit(
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  principal TEXT NOT NULL,
  action TEXT NOT NULL,
  record_id TEXT NOT NULL DEFAULT '',
  version INTEGER NOT NULL DEFAULT 0,
  record_type TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT ''
);
)sql",
    // 2: the delivery ledger (one row per attempt) and dead-letter listing.
    R"sql(
CREATE TABLE attempts(
  id INTEGER PRIMARY KEY,
  message_seq INTEGER NOT NULL,
  destination_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  operation_outcome TEXT NOT NULL,
  location TEXT NOT NULL,
  next_attempt_at INTEGER NOT NULL
);
CREATE INDEX attempts_record ON attempts(record_id, id);
CREATE INDEX attempts_message ON attempts(message_seq, id);
CREATE INDEX outbox_dead ON outbox(destination_id, updated_at) WHERE state = 'dead-letter';
)sql",
    // 3: the safety loop: each patient's medication list at the pain center, the
    // notices sent, and the patient's records by type (patient summary).
    R"sql(
CREATE TABLE medication_lists(
  patient_key TEXT PRIMARY KEY,
  list_json TEXT NOT NULL,
  record_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE notices(
  id INTEGER PRIMARY KEY,
  notice_key TEXT NOT NULL UNIQUE,
  record_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  patient_key TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  priority TEXT NOT NULL,
  notice_date TEXT NOT NULL,
  text TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX notices_record ON notices(record_id, id);
CREATE INDEX notices_patient ON notices(patient_key, id);
CREATE INDEX records_patient ON records(patient_key, record_type, updated_at);
)sql",
    // 4: what operators need to see why an attempt failed: the receiver's answer
    // (status, headers that matter, the body when it is not an OperationOutcome)
    // and, for a dead letter, the request that was sent.
    R"sql(
ALTER TABLE attempts ADD COLUMN response TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN request TEXT NOT NULL DEFAULT '';
)sql",
    // 5: audit of PHI access and accounting of disclosures: who read or was
    // sent which patient's record, from where, to which destination.
    R"sql(
ALTER TABLE audit ADD COLUMN patient_key TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN destination_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN remote_address TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_patient ON audit(patient_key, at) WHERE patient_key <> '';
)sql",
    // 6: what a retried message sent, so that the next attempt neither reads
    // nor shapes the record again (kept only while the message is pending).
    R"sql(
CREATE TABLE kept_shapes(
  message_seq INTEGER PRIMARY KEY,
  shape_key TEXT NOT NULL,
  shape_json TEXT NOT NULL
);
)sql",
};

constexpr int kMigrationCount = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

}  // namespace

fhir::Status migrate(Database& db, int targetVersion) {
  auto current = db.queryInt("PRAGMA user_version");
  if (!current) return current.status();
  if (*current > targetVersion) {
    return fhir::Status(fhir::ErrorCode::kUnsupported,
                        "store schema version " + std::to_string(*current) +
                            " is newer than this inloop supports (" +
                            std::to_string(targetVersion) +
                            "): upgrade inloop, or point it at another data directory");
  }
  if (targetVersion > kMigrationCount) {
    return fhir::Status(fhir::ErrorCode::kInternal,
                        "no migration to schema version " + std::to_string(targetVersion));
  }
  for (int version = static_cast<int>(*current) + 1; version <= targetVersion; ++version) {
    if (auto st = db.exec("BEGIN IMMEDIATE"); !st.isOk()) return st;
    fhir::Status st = db.exec(kMigrations[version - 1]);
    if (st.isOk()) st = db.exec("PRAGMA user_version = " + std::to_string(version));
    if (st.isOk()) st = db.exec("COMMIT");
    if (!st.isOk()) {
      (void)db.exec("ROLLBACK");
      return fhir::Status(st.code(),
                          "migration " + std::to_string(version) + " failed: " + st.message());
    }
  }
  return fhir::Status::ok();
}

}  // namespace inloop::gateway::sqlite
