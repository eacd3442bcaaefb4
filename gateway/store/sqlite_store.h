#pragma once

// SqliteStore: the Store on one SQLite file (WAL, synchronous=FULL, foreign
// keys on, busy_timeout), with numbered schema migrations (PRAGMA
// user_version), a group-commit writer thread and reader connections of its own.
// See docs/store.md for the schema and the durability promise.

#include <cstddef>
#include <memory>
#include <string>

#include "fhir/status.h"
#include "gateway/base/clock.h"
#include "gateway/store/payload_cipher.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

struct SqliteStoreOptions {
  int busyTimeoutMillis = 5000;
  // Items (records; other writes count 1) allowed to wait for the writer. When
  // a call would exceed it, ingest() answers kUnavailable at once instead of
  // queueing without bound. A single call larger than this is still taken when
  // the queue is empty.
  std::size_t maxQueuedItems = 100000;
  // Upper bound of items committed in one transaction (at least one call).
  std::size_t maxItemsPerCommit = 20000;
  // Payload encryption (payload_cipher.h): null stores payloads as plaintext.
  // Payloads sealed earlier are opened with whichever key of the ring sealed them.
  std::shared_ptr<const PayloadKeyRing> payloadKeys;
  // The file payloadKeys came from: read again when a stored value names a
  // key the ring lacks (added after the start). "" : never re-read.
  std::string payloadKeyFile;
};

// The schema version this binary writes.
inline constexpr int kStoreSchemaVersion = 6;

// Opens (creating with mode 0600 if missing; an existing database file and its
// -wal and -shm files are made 0600) the store at `path`, applies
// pending migrations (each in its own transaction) and starts the writer.
// Failures: kUnsupported when the file's schema is newer than this binary
// (kStoreSchemaVersion), kIoError when the file cannot be opened or is not a
// database, kUnavailable when it is locked. `clock` must outlive the store.
// Destroying the store drains queued writes, then stops the writer.
fhir::Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path,
                                                     const SqliteStoreOptions& options,
                                                     const Clock& clock);

}  // namespace inloop::gateway
