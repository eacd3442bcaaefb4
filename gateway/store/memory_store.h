#pragma once

// MemoryStore: the whole Store (every role of store.h) in memory, with the
// same semantics as SqliteStore: ingest decisions (accepted, replay, conflict,
// stale) and receipt ids, supersede, FIFO per (destination, patient) with
// leases, the state transitions and their kConflict refusals, dead letters
// and replay, the attempts ledger (with its caps), disclosure and other audit
// rows, the safety lists and notices, retention (payloads cleared). The
// shared contract test (tests/gateway/store/store_contract_test.cpp) runs the
// same cases against both stores.
//
// What it is for: tests of the components above the store (the delivery
// engine, the ingest pipeline, delivery operations) that are not about
// SQLite, so they run without files, fsyncs or a writer thread. It is NOT
// durable: everything is lost with the object, which is why `inloop serve`
// never uses it.
//
// Differences that follow from having no file: stats() reports dbFileBytes 0
// and an empty queue (each write call is its own "commit"); payloads are
// never encrypted, so rekeyPayloads() answers as a SQLite store without a key
// file does (kInvalid when asked to seal; decrypting finds nothing sealed).
// claimDue() and nextDueAt() look at one head per (destination, patient) with
// pending messages (cost grows with the number of such patients, not with the
// depth of their queues).
//
// Failures are values; nothing throws. Thread safety: every method may be
// called from any thread (one mutex; each call is atomic, as one SQLite
// transaction is). Times come from `clock` (which must outlive the store),
// except where a method takes `now`.

#include <memory>

#include "gateway/base/clock.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

std::unique_ptr<Store> openMemoryStore(const Clock& clock);

}  // namespace inloop::gateway
