#pragma once

// DeliveryEngine: makes every queued outbox message reach its destination, in
// order per (destination, patient), through outages.
//
// Per destination a pool of `maxInFlight` workers. Each worker loops:
//   circuit breaker allows? -> Store::claimDue(destination, now, 1, lease)
//   -> shape (mappings::shapeForDestination with the capabilities discovered
//      by GET [base]/metadata at start and on reload)
//   -> DeliveryChannel::send -> Store::finishAttempt (ledger row + new state):
//      delivered; retry at now + retryDelay (full jitter, Retry-After
//      honoured); dead letter (the receiver's OperationOutcome kept); parked
//      (patient-unmatched) when the shaping says so.
// Nothing is dropped silently: a message keeps retrying until an operator
// acts; when the oldest pending message of a destination is older than
// alertAgeMillis the destination shows `alert` (status and metrics).
// FIFO per patient comes from the store (only each patient's oldest pending
// message is claimable); patients are independent, so one failing patient
// does not block the others. Superseded versions are collapsed by the store at
// ingest (the newest wins; a version already in flight is finished first).
//
// Waiting: workers sleep on a condition variable until notify() (new ingest,
// replay, reload), the next due time of their queue (Store::nextDueAt), the
// breaker's cool-down, or idleWakeMillis: no busy polling. Durations are
// computed from the injected Clock; with a ManualClock tests advance the clock
// and call notify() (a ManualClock listener does it).
//
// Change events: when deps.changes is set, the engine notifies it after every
// attempt it finished (ledger row, new state, counters, breaker), every
// publication it applied (ndjson-dir) and every capability read, once the
// change can be read (store, status(), metrics): what a test waits on.
//
// Thread safety: every public method may be called from any thread; stop()
// (also run by the destructor) joins the workers, letting in-flight sends
// finish (bounded by the destination's timeouts). Leases of anything claimed
// but not reported expire, so a crash re-sends (idempotent receivers:
// conditional updates).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/base/change_signal.h"
#include "gateway/delivery/backoff.h"
#include "gateway/delivery/channel.h"
#include "gateway/delivery/circuit_breaker.h"
#include "gateway/ingest/ingest_pipeline.h"
#include "gateway/store/store.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

class Clock;
class JsonLogger;

struct DeliverySettings {
  BackoffPolicy backoff;
  CircuitBreakerSettings breaker;
  std::int64_t leaseMillis = 5 * 60 * 1000;      // longer than any one send
  std::int64_t alertAgeMillis = 60 * 60 * 1000;  // oldest pending older: alert
  std::int64_t idleWakeMillis = 30000;           // housekeeping wake-up
  std::int64_t capabilityRetryMillis = 60000;    // re-read metadata after a failure
  std::int64_t storeErrorBackoffMillis = 1000;   // after a failed store call
};

struct DeliveryEngineDeps {
  OutboxStore* store = nullptr;                 // required
  const Clock* clock = nullptr;                 // required
  const MappingTablesHolder* tables = nullptr;  // required (re-translation with options)
  ChannelFactory channels;                      // required
  UniformRandom random;                         // empty: systemRandom()
  JsonLogger* logger = nullptr;                 // may be null
  ChangeSignal* changes = nullptr;              // may be null; notified after each change
};

// Counters of one destination since start.
struct DeliveryCounters {
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;   // attempts that did not deliver (retry + permanent)
  std::uint64_t retried = 0;  // retries scheduled
  std::uint64_t deadLettered = 0;
  std::uint64_t parked = 0;
  std::uint64_t notSent = 0;  // messages of which nothing was sendable here
  std::uint64_t written = 0;  // ndjson-dir: appended to the working file (delivered on publication)
  std::uint64_t learnt = 0;   // refusals learnt from the receiver's answers
};

// What operators see of one destination (GET /destinations).
struct DestinationStatus {
  std::string id;
  std::string kind;           // configured kind
  std::string effectiveKind;  // chooseKind() with the known capabilities
  std::string endpoint;
  bool enabled = true;
  // "ok", "degraded" (recent failures, or messages not sent or dead-lettered
  // waiting for a human), "down" (circuit open), "disabled", "misconfigured"
  // (channel could not be built; see lastError). Never "ok" while not-sent
  // messages or dead letters exist.
  std::string health;
  CircuitState circuit = CircuitState::kClosed;
  int workers = 0;
  std::int64_t queueDepth = 0;        // pending
  std::int64_t patientUnmatched = 0;  // parked
  std::int64_t deadLetters = 0;
  std::int64_t notSent = 0;  // nothing sendable here: kept for replay, alerted on
  std::int64_t written = 0;  // ndjson-dir: in the working file, delivered once it is published
  std::int64_t oldestPendingAgeMillis = 0;
  // Oldest pending older than alertAgeMillis, or not-sent messages exist.
  bool alert = false;
  std::string lastError;
  std::int64_t lastErrorAtMillis = 0;
  std::int64_t lastDeliveredAtMillis = 0;
  // The CapabilityStatement read (statementRead false when none could be),
  // with what the receiver's answers taught (refused types, conditional update).
  std::optional<mappings::CapabilitySet> capabilities;
  std::string capabilityError;
  DeliveryCounters counters;
};

// Routes a new record version at ingest (IngestRouter for the pipeline):
// routeRecord over the CURRENT destinations; reference-mode destinations of a
// record without pcpPatientId get `patient-unmatched` with the reason. After
// an accepted ingest it wakes the engine. Thread-safe.
class DeliveryRouter final : public IngestRouter {
 public:
  explicit DeliveryRouter(std::shared_ptr<const mappings::Destinations> destinations = nullptr);

  std::vector<DestinationTarget> route(const mappings::PlanRecord& record) override;
  void onAccepted() override;

  std::shared_ptr<const mappings::Destinations> current() const;
  void replace(std::shared_ptr<const mappings::Destinations> destinations);
  // Called after each accepted ingest (the engine's notify); set before use.
  void setOnAccepted(std::function<void()> callback);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const mappings::Destinations> destinations_;
  std::function<void()> onAccepted_;
};

class DeliveryEngine {
 public:
  DeliveryEngine(DeliverySettings settings, DeliveryEngineDeps deps);
  ~DeliveryEngine();
  DeliveryEngine(const DeliveryEngine&) = delete;
  DeliveryEngine& operator=(const DeliveryEngine&) = delete;

  // Starts (or, on reload, reconciles) the pools: destinations removed or
  // changed stop (their workers finish the current send), new or changed ones
  // start and re-read capabilities. Unchanged ones keep running. Destinations
  // with enabled=false get no workers (their messages wait).
  void setDestinations(std::shared_ptr<const mappings::Destinations> destinations);

  // Wakes every worker to look at its queue now.
  void notify();

  // Stops every pool and joins the workers. Idempotent.
  void stop();

  // One entry per configured destination, in configuration order, plus any
  // destination id that still has open outbox rows but is no longer
  // configured (health "unconfigured"). Reads queue figures from the store.
  std::vector<DestinationStatus> status();

  // Prometheus text (per destination):
  //   inloop_delivery_delivered_total, inloop_delivery_failed_total,
  //   inloop_delivery_retried_total, inloop_delivery_dead_lettered_total,
  //   inloop_delivery_queue_depth, inloop_delivery_patient_unmatched,
  //   inloop_delivery_dead_letters, inloop_delivery_not_sent,
  //   inloop_delivery_not_sent_total, inloop_delivery_capabilities_learnt_total,
  //   inloop_delivery_oldest_pending_seconds,
  //   inloop_delivery_alert, inloop_delivery_circuit_open,
  //   inloop_delivery_latency_seconds (histogram).
  std::string renderMetrics();

  const DeliverySettings& settings() const { return settings_; }

 private:
  struct Pool;
  void workerLoop(Pool& pool);
  void process(Pool& pool, const OutboxMessage& message);
  void ensureCapabilities(Pool& pool);
  // Shapes `message` from its record and stored Bundle (read from the store
  // when the message came with a kept shape). Returns the outcome to report
  // at once when it cannot be shaped (the record unreadable: a dead letter;
  // the store or the tables unavailable: a retry), with attempt->error set.
  std::optional<AttemptOutcome> shapeMessage(Pool& pool, const OutboxMessage& message,
                                             const mappings::CapabilitySet* caps,
                                             mappings::ShapedDelivery* shaped,
                                             DeliveryAttempt* attempt);
  // The key a kept shape is valid under: a digest of everything shaping reads
  // besides the record (mappings::shapingInputs) and inloop's version.
  static std::string shapeKeyFor(const mappings::DestinationProfile& profile,
                                 const mappings::CapabilitySet* caps);
  // The ledger's JSON of a failed attempt: the receiver's answer, or (request)
  // the request sent; "" when there is none.
  static std::string exchangeJson(const DeliveryOutcome& outcome, bool request);
  // The statement read (if any) with what answers taught; nullopt: nothing known.
  std::optional<mappings::CapabilitySet> effectiveCapabilities(Pool& pool);
  // Learns the refusal a permanent answer carries (a type, the transaction, a
  // conditional update), once. True when the message should be shaped again:
  // something new was learnt, or another worker learnt it after `shapedWith`
  // (the capabilities this message was shaped with; null: none) was taken,
  // so this message went out without the fallback. False when the message
  // already had the fallback (then the refusal is the message's own).
  bool learnRefusal(Pool& pool, const DeliveryOutcome& outcome,
                    const mappings::CapabilitySet* shapedWith);
  // Waits until notify(), `millis`, or the pool stopping.
  void waitFor(Pool& pool, std::uint64_t seen, std::int64_t millis);
  std::uint64_t generation();
  void stopPool(Pool& pool);
  // Marks delivered the messages of the files the channel published since the
  // last call (ndjson-dir).
  void applyPublications(Pool& pool);
  // Tells deps_.changes (if any) that something observable changed.
  void changed();

  const DeliverySettings settings_;
  DeliveryEngineDeps deps_;

  std::mutex wakeMutex_;
  std::condition_variable wakeCv_;
  std::uint64_t generation_ = 0;

  std::mutex poolsMutex_;  // guards pools_ and order_
  std::map<std::string, std::unique_ptr<Pool>> pools_;
  std::vector<std::string> order_;
  bool stopped_ = false;
};

}  // namespace inloop::gateway
