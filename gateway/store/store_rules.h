#pragma once

// What every Store implementation (sqlite_store.cpp, memory_store.cpp) decides
// the same way, kept in one place so that the implementations cannot drift:
// receipt ids, the check of an ingest item, and the caps on what the ledger
// keeps of an exchange with a receiver. (The state and outcome names declared
// in store.h are defined in store_rules.cpp too.) Pure: no I/O, no clock.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/status.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

// Receipt ids: "rcpt-" + 16 hex digits, ascending: (epoch milliseconds << 20)
// + a sequence, always above the highest id issued so far (docs/store.md).
// Not thread-safe: one owner (the writer) calls next().
class ReceiptIds {
 public:
  explicit ReceiptIds(std::uint64_t last = 0) : last_(last) {}

  // The stored id `text` as a number; 0 for anything else.
  static std::uint64_t parse(std::string_view text);

  // The next id at `nowMillis`; kInternal once the id space is exhausted.
  fhir::Result<std::string> next(std::int64_t nowMillis);

 private:
  std::uint64_t last_;
};

// kInvalid (naming item `index` and what is wrong) for an item no store
// takes: empty recordId, version < 1, empty recordType or contentHash, a
// target without destination, a notice without key.
fhir::Status validateIngestItem(const IngestItem& item, std::size_t index);

// kInvalid unless `targets` (LedgerStore::routeUnroutable) is non-empty and
// names a destination in each target.
fhir::Status validateRouteTargets(const std::vector<DestinationTarget>& targets);

// Ingest decisions (docs/store.md "Ingest decisions"), the same in every store.
// The audit row of one ingest item; its outcome is set once decided.
AuditEntry ingestAuditOf(const IngestItem& item, std::int64_t now);
// The item's recordId and version are stored already, with `storedHash`:
// replay (the original receipt) or conflict. Fills `result`.
void decideStoredVersion(const IngestItem& item, const std::string& storedHash,
                         const std::string& receiptId, std::int64_t receivedAtMillis,
                         IngestResult* result);
// The record's highest stored version is `latestVersion`: true (stale,
// `result` filled) when the item is older.
bool decideStale(const IngestItem& item, std::int64_t latestVersion, IngestResult* result);
// The item is accepted now with `receiptId`: fills `result`.
void decideAccepted(const IngestItem& item, const std::string& receiptId, std::int64_t now,
                    IngestResult* result);

// The ledger row of message `messageId` delivered because the file holding
// its lines was published as `location` ("" : at start-up, a file left by a
// previous run) at `now` (OutboxStore::markPublished).
DeliveryAttempt publicationAttempt(std::int64_t messageId, const std::string& location,
                                   std::int64_t now);

// The ledger keeps at most this much of the receiver's OperationOutcome, and
// of the receiver's answer and the request sent (store.h DeliveryAttempt).
inline constexpr std::size_t kMaxLedgerOutcomeBytes = 16u << 10;
inline constexpr std::size_t kMaxLedgerExchangeBytes = 80u << 10;

}  // namespace inloop::gateway
