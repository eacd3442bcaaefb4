#pragma once

// DeliveryOperations: the operator surface of delivery as JSON values, shared
// by the HTTP API (gateway/server/api_handler.h: GET /destinations,
// GET /deliveries?recordId=, GET /deadletters[?destination=], GET
// /deadletters/{id}, POST /deadletters/{id}/replay|discard) and the CLI
// (`inloop deadletter list|show|replay|discard`, working on the store
// directly, without an engine).
//
// Nothing here carries clinical content: ids, versions, states, statuses and
// the receivers' OperationOutcomes (which describe the request, not the
// patient). Failures are Status values (kNotFound, kConflict, store errors).
// Thread safety: as the Store and the engine (thread-safe).

#include <cstdint>
#include <string>

#include "fhir/json.h"
#include "fhir/status.h"
#include "gateway/store/store.h"

namespace inloop::mappings {
struct MappingTables;
}

namespace inloop::gateway {

class ChangeSignal;
class DeliveryEngine;
class IngestRouter;

// What routeUnroutable did.
struct RouteAgainResult {
  std::int64_t routed = 0;           // records that now have destinations
  std::int64_t stillUnroutable = 0;  // their practice still has no route
  std::int64_t skipped = 0;          // a newer version took the marker meanwhile
};

class DeliveryOperations {
 public:
  // `engine` may be null (CLI): destinations() then reports queues only, and
  // replays are picked up whenever a daemon runs. `changes` may be null; when
  // set, it is notified after every change an operation made (replay,
  // discard, reprocess, routing again). All must outlive this.
  DeliveryOperations(Store& store, DeliveryEngine* engine, ChangeSignal* changes = nullptr)
      : store_(store), engine_(engine), changes_(changes) {}

  // {"destinations":[{id, kind, effectiveKind, endpoint, enabled, health,
  //   circuit, workers, queueDepth, patientUnmatched, deadLetters,
  //   oldestPendingAgeSeconds, alert, lastError, lastErrorAt, lastDeliveredAt,
  //   counters{...}, capabilities{known, fhirVersion, software, transaction,
  //   resources[type...]} | capabilityError}]}
  fhir::Json destinations();
  // {"recordId", "deliveries":[outbox rows], "attempts":[ledger rows]};
  // kNotFound for an unknown record.
  fhir::Result<fhir::Json> deliveries(const std::string& recordId);
  // {"deadLetters":[...]}, newest first.
  fhir::Result<fhir::Json> deadLetters(const std::string& destinationId, int limit);
  // One dead letter with its attempts and full OperationOutcome.
  fhir::Result<fhir::Json> deadLetter(std::int64_t messageId);
  // Replays / discards; returns the dead letter afterwards. Wakes the engine.
  fhir::Result<fhir::Json> replay(std::int64_t messageId, const std::string& principal);
  fhir::Result<fhir::Json> discard(std::int64_t messageId, const std::string& principal);
  // Replays every dead letter and not-sent message of `destinationId` ("" :
  // every destination) that became one at or after `sinceMillis` (0: any time),
  // oldest first, one by one (audited each). One that cannot be replayed (a
  // newer version is queued or delivered) is skipped and listed. Returns
  // {"replayed": N, "skipped": [{"messageId", "reason"}]}. Wakes the engine.
  fhir::Result<fhir::Json> replayMatching(const std::string& destinationId,
                                          std::int64_t sinceMillis, const std::string& principal);
  // Reprocess: translates the latest stored version of `recordId` again with
  // `tables` (the safety notices decided at ingest travel with it: they are not
  // decided again), checks the Bundle is valid FHIR, and queues it for the
  // destinations `router` gives it now (Store::reprocess; its open, held,
  // not-sent and dead-lettered messages of that version are superseded).
  // Returns {"recordId", "version", "mappingTablesVersion", "destinations":
  // [ids]}. kNotFound for an unknown or purged record; kInvalid when the current
  // tables cannot translate it (the issues in the message); kConflict as
  // Store::reprocess. Audited with `principal`; wakes the engine.
  fhir::Result<fhir::Json> reprocess(const std::string& recordId,
                                     const mappings::MappingTables& tables, IngestRouter& router,
                                     const std::string& principal);
  // Routes every unroutable record (Store::listUnroutable) that `router` now
  // gives destinations (after a reload added a route), oldest first, so that
  // nothing waits for a later version to be sent. Audited with `principal`.
  // Wakes the engine. A record that cannot be read back stays unroutable and
  // fails the call with kIoError after the others were routed.
  fhir::Result<RouteAgainResult> routeUnroutable(IngestRouter& router,
                                                 const std::string& principal);

 private:
  // After a change: wakes the engine (`wakeEngine`) and notifies changes_.
  void changed(bool wakeEngine);

  Store& store_;
  DeliveryEngine* engine_;
  ChangeSignal* changes_;
};

// JSON of one ledger row / one dead letter (times as FHIR instants).
fhir::Json attemptToJson(const DeliveryAttempt& attempt);
fhir::Json deadLetterToJson(const DeadLetterEntry& entry, bool withOutcome);

// Parses a message id ("42"); false for anything else.
bool parseMessageId(const std::string& text, std::int64_t* id);

}  // namespace inloop::gateway
