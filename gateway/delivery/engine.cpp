#include "gateway/delivery/engine.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/delivery/rate_limiter.h"
#include "gateway/log/json_logger.h"
#include "gateway/version.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/shaping/kept_shape.h"
#include "mappings/tables/tables.h"

namespace inloop::gateway {

namespace {

constexpr std::array<double, 12> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                    0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

std::string joinLocations(const std::vector<std::string>& locations) {
  std::string out;
  const std::size_t shown = std::min<std::size_t>(locations.size(), 8);
  for (std::size_t i = 0; i < shown; ++i) out += (i == 0 ? "" : " ") + locations[i];
  if (locations.size() > shown) {
    out += " (+" + std::to_string(locations.size() - shown) + " more)";
  }
  return out;
}

// Ledger note for what the shaping changed or left out (no clinical content:
// resource types and fixed texts only).
std::string shapingNote(const mappings::ShapedDelivery& shaped) {
  std::string note;
  for (const std::string& s : shaped.substitutions) note += (note.empty() ? "" : "; ") + s;
  for (const mappings::SkippedResource& s : shaped.skipped) {
    note += (note.empty() ? "" : "; ") + ("skipped " + s.resourceType + ": " + s.reason);
  }
  return note.substr(0, 2000);
}

std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string formatSeconds(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", s);
  return buf;
}

}  // namespace

// ---- DeliveryRouter ----

DeliveryRouter::DeliveryRouter(std::shared_ptr<const mappings::Destinations> destinations)
    : destinations_(std::move(destinations)) {}

std::vector<DestinationTarget> DeliveryRouter::route(const mappings::PlanRecord& record) {
  std::shared_ptr<const mappings::Destinations> d = current();
  std::vector<DestinationTarget> targets;
  if (!d) return targets;
  for (mappings::RoutedTarget& t : mappings::routeRecord(*d, record)) {
    DestinationTarget target;
    target.destinationId = std::move(t.destinationId);
    target.initialState =
        t.patientUnmatched ? OutboxState::kPatientUnmatched : OutboxState::kPending;
    target.reason = std::move(t.reason);
    targets.push_back(std::move(target));
  }
  return targets;
}

void DeliveryRouter::onAccepted() {
  std::function<void()> callback;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    callback = onAccepted_;
  }
  if (callback) callback();
}

std::shared_ptr<const mappings::Destinations> DeliveryRouter::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return destinations_;
}

void DeliveryRouter::replace(std::shared_ptr<const mappings::Destinations> destinations) {
  std::lock_guard<std::mutex> lock(mutex_);
  destinations_ = std::move(destinations);
}

void DeliveryRouter::setOnAccepted(std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(mutex_);
  onAccepted_ = std::move(callback);
}

// ---- DeliveryEngine ----

struct DeliveryEngine::Pool {
  Pool(mappings::DestinationProfile p, CircuitBreakerSettings b)
      : profile(std::move(p)), breaker(b), rate(profile.rateLimitPerSecond) {}

  const mappings::DestinationProfile profile;
  std::unique_ptr<DeliveryChannel> channel;  // null: misconfigured (channelError)
  std::string channelError;
  CircuitBreaker breaker;
  RateLimiter rate;  // the destination's rateLimitPerSecond, shared by its workers
  std::atomic<bool> stopping{false};
  std::vector<std::thread> workers;

  std::mutex capsMutex;  // held while fetching: one fetch at a time
  std::mutex mutex;      // guards everything below
  std::optional<mappings::CapabilitySet> caps;
  std::string capsError;
  // What the receiver's answers taught (refused types, conditional update),
  // kept apart from `caps` so that a statement read later does not erase it.
  std::map<std::string, std::string, std::less<>> refused;
  std::string conditionalUpdateRefused;
  bool capsTried = false;
  std::int64_t capsTriedAt = 0;
  std::string lastError;
  std::int64_t lastErrorAt = 0;
  std::int64_t lastDeliveredAt = 0;
  DeliveryCounters counters;
  std::array<std::uint64_t, kLatencyBuckets.size()> latencyBuckets{};
  std::uint64_t latencyCount = 0;
  double latencySum = 0;
};

DeliveryEngine::DeliveryEngine(DeliverySettings settings, DeliveryEngineDeps deps)
    : settings_(settings), deps_(std::move(deps)) {
  if (!deps_.random) deps_.random = systemRandom();
}

DeliveryEngine::~DeliveryEngine() { stop(); }

std::uint64_t DeliveryEngine::generation() {
  std::lock_guard<std::mutex> lock(wakeMutex_);
  return generation_;
}

void DeliveryEngine::notify() {
  {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    ++generation_;
  }
  wakeCv_.notify_all();
}

void DeliveryEngine::waitFor(Pool& pool, std::uint64_t seen, std::int64_t millis) {
  millis = std::clamp<std::int64_t>(millis, 1, settings_.idleWakeMillis);
  std::unique_lock<std::mutex> lock(wakeMutex_);
  wakeCv_.wait_for(lock, std::chrono::milliseconds(millis),
                   [&] { return pool.stopping.load() || generation_ != seen; });
}

void DeliveryEngine::changed() {
  if (deps_.changes != nullptr) deps_.changes->notifyAll();
}

void DeliveryEngine::stopPool(Pool& pool) {
  pool.stopping = true;
  {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    ++generation_;
  }
  wakeCv_.notify_all();
  for (std::thread& t : pool.workers) {
    if (t.joinable()) t.join();
  }
  pool.workers.clear();
  if (pool.channel) {
    pool.channel->close();
    applyPublications(pool);
  }
}

void DeliveryEngine::applyPublications(Pool& pool) {
  std::vector<NdjsonPublication> publications = pool.channel->takePublications();
  if (publications.empty()) return;
  for (const NdjsonPublication& p : publications) {
    // Empty ids: every written message (start-up), or a file of lines no
    // message claimed (nothing to mark).
    if (p.messageIds.empty() && !p.everyWritten) continue;
    fhir::Result<std::int64_t> n =
        deps_.store->markPublished(pool.profile.id, p.messageIds, p.path,
                                   std::string(mappings::destinationKindName(pool.profile.kind)));
    if (!n.isOk()) {
      // The messages stay written; the next start-up publication delivers
      // them (their lines are in a published file).
      std::lock_guard<std::mutex> lock(pool.mutex);
      pool.lastError = "store: " + n.status().message();
      pool.lastErrorAt = deps_.clock->nowMillis();
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(pool.mutex);
      pool.counters.delivered += static_cast<std::uint64_t>(*n);
      if (*n > 0) pool.lastDeliveredAt = deps_.clock->nowMillis();
    }
    if (deps_.logger != nullptr && *n > 0) {
      fhir::Json f = fhir::Json::object();
      f.set("destination", fhir::Json::string(pool.profile.id));
      f.set("file", fhir::Json::string(p.path));
      f.set("delivered", fhir::Json::number(*n));
      deps_.logger->log(LogLevel::kInfo, "published", f);
    }
  }
  changed();
}

void DeliveryEngine::stop() {
  std::map<std::string, std::unique_ptr<Pool>> pools;
  {
    std::lock_guard<std::mutex> lock(poolsMutex_);
    if (stopped_) return;
    stopped_ = true;
    pools.swap(pools_);
    order_.clear();
  }
  for (auto& [id, pool] : pools) pool->stopping = true;
  for (auto& [id, pool] : pools) stopPool(*pool);
}

void DeliveryEngine::setDestinations(std::shared_ptr<const mappings::Destinations> destinations) {
  std::vector<std::unique_ptr<Pool>> retired;
  {
    std::lock_guard<std::mutex> lock(poolsMutex_);
    if (stopped_) return;
    std::map<std::string, std::unique_ptr<Pool>> next;
    std::vector<std::string> order;
    std::vector<Pool*> toStart;
    if (destinations) {
      for (const mappings::DestinationProfile& profile : destinations->destinations) {
        order.push_back(profile.id);
        auto it = pools_.find(profile.id);
        if (it != pools_.end() && it->second->profile == profile) {
          next[profile.id] = std::move(it->second);
          pools_.erase(it);
          continue;
        }
        if (it != pools_.end() &&
            (it->second->profile.kind == mappings::DestinationKind::kNdjsonDir ||
             profile.kind == mappings::DestinationKind::kNdjsonDir)) {
          // One writer per working file: the old channel publishes what it
          // wrote (and is done) before the new one opens the folder.
          stopPool(*it->second);
        }
        auto pool = std::make_unique<Pool>(profile, settings_.breaker);
        fhir::Result<std::unique_ptr<DeliveryChannel>> channel = deps_.channels(profile);
        if (channel.isOk()) {
          pool->channel = std::move(channel).value();
        } else {
          pool->channelError = channel.status().message();
          pool->lastError = "configuration: " + pool->channelError;
          pool->lastErrorAt = deps_.clock->nowMillis();
          if (deps_.logger != nullptr) {
            fhir::Json f = fhir::Json::object();
            f.set("destination", fhir::Json::string(profile.id));
            f.set("error", fhir::Json::string(pool->channelError));
            deps_.logger->log(LogLevel::kError, "destination-misconfigured", f);
          }
        }
        toStart.push_back(pool.get());
        next[profile.id] = std::move(pool);
      }
    }
    for (auto& [id, pool] : pools_) retired.push_back(std::move(pool));
    pools_ = std::move(next);
    order_ = std::move(order);
    for (Pool* pool : toStart) {
      if (!pool->channel || !pool->profile.enabled) continue;
      const int n = std::max(1, pool->profile.maxInFlight);
      for (int i = 0; i < n; ++i) {
        pool->workers.emplace_back([this, pool] { workerLoop(*pool); });
      }
    }
  }
  // Outside the lock: retired workers may be finishing a send.
  for (auto& pool : retired) stopPool(*pool);
}

void DeliveryEngine::ensureCapabilities(Pool& pool) {
  if (!mappings::isFhirServerKind(pool.profile.kind)) return;
  const std::int64_t now = deps_.clock->nowMillis();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (pool.caps) return;
    if (pool.capsTried && now - pool.capsTriedAt < settings_.capabilityRetryMillis) return;
  }
  std::lock_guard<std::mutex> fetching(pool.capsMutex);
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (pool.caps) return;
    if (pool.capsTried && now - pool.capsTriedAt < settings_.capabilityRetryMillis) return;
  }
  fhir::Result<mappings::CapabilitySet> caps = pool.channel->fetchCapabilities();
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.capsTried = true;
  pool.capsTriedAt = deps_.clock->nowMillis();
  if (caps.isOk()) {
    pool.caps = std::move(caps).value();
    pool.capsError.clear();
  } else {
    pool.capsError = caps.status().message();
  }
  if (deps_.logger != nullptr) {
    fhir::Json f = fhir::Json::object();
    f.set("destination", fhir::Json::string(pool.profile.id));
    if (pool.caps) {
      f.set("software", fhir::Json::string(pool.caps->software));
      f.set("transaction", fhir::Json::boolean(pool.caps->transaction));
      f.set("effectiveKind", fhir::Json::string(std::string(mappings::destinationKindName(
                                 mappings::chooseKind(pool.profile, &*pool.caps)))));
    } else {
      f.set("error", fhir::Json::string(pool.capsError));
    }
    deps_.logger->log(pool.caps ? LogLevel::kInfo : LogLevel::kWarning, "capabilities", f);
  }
  changed();
}

void DeliveryEngine::workerLoop(Pool& pool) {
  const std::string& id = pool.profile.id;
  while (!pool.stopping) {
    const std::uint64_t seen = generation();
    ensureCapabilities(pool);
    // Any worker may be the one awake when a file falls due (ndjson-dir).
    pool.channel->tick();
    applyPublications(pool);
    std::int64_t now = deps_.clock->nowMillis();
    if (!pool.breaker.tryAcquire(now)) {
      const std::int64_t retryAt = pool.breaker.retryAt();
      waitFor(pool, seen, retryAt > now ? retryAt - now : 1);
      continue;
    }
    if (std::int64_t wait = pool.rate.tryTake(now); wait > 0) {
      pool.breaker.release();
      waitFor(pool, seen, wait);
      continue;
    }
    fhir::Result<std::vector<OutboxMessage>> claimed =
        deps_.store->claimDue(id, now, 1, settings_.leaseMillis);
    if (!claimed.isOk() || claimed->empty()) pool.rate.refund();
    if (!claimed.isOk()) {
      pool.breaker.release();
      {
        std::lock_guard<std::mutex> lock(pool.mutex);
        pool.lastError = "store: " + claimed.status().message();
        pool.lastErrorAt = now;
      }
      waitFor(pool, seen, settings_.storeErrorBackoffMillis);
      continue;
    }
    if (claimed->empty()) {
      pool.breaker.release();
      fhir::Result<std::int64_t> next = deps_.store->nextDueAt(id);
      std::int64_t delay = settings_.idleWakeMillis;
      if (next.isOk() && *next > 0) delay = *next - deps_.clock->nowMillis();
      if (const std::int64_t tickAt = pool.channel->nextTickAtMillis(); tickAt > 0) {
        delay = std::min(delay, tickAt - deps_.clock->nowMillis());
      }
      waitFor(pool, seen, delay);
      continue;
    }
    for (const OutboxMessage& message : *claimed) {
      process(pool, message);
      changed();
    }
  }
}

void DeliveryEngine::process(Pool& pool, const OutboxMessage& message) {
  const Clock& clock = *deps_.clock;
  DeliveryAttempt attempt;
  attempt.messageId = message.messageId;
  attempt.atMillis = clock.nowMillis();
  attempt.endpointKind = std::string(mappings::destinationKindName(pool.profile.kind));

  auto finish = [&](AttemptOutcome outcome) {
    attempt.outcome = outcome;
    attempt.durationMillis = std::max<std::int64_t>(0, clock.nowMillis() - attempt.atMillis);
    fhir::Status st = deps_.store->finishAttempt(attempt);
    if (!st.isOk() && deps_.logger != nullptr) {
      // The lease expires and the message is claimed again: sent twice at
      // worst, which conditional updates make harmless.
      fhir::Json f = fhir::Json::object();
      f.set("destination", fhir::Json::string(pool.profile.id));
      f.set("messageId", fhir::Json::number(message.messageId));
      f.set("error", fhir::Json::string(st.message()));
      deps_.logger->log(LogLevel::kError, "delivery-report-failed", f);
    }
    std::lock_guard<std::mutex> lock(pool.mutex);
    switch (outcome) {
      case AttemptOutcome::kDelivered:
        ++pool.counters.delivered;
        pool.lastDeliveredAt = clock.nowMillis();
        break;
      case AttemptOutcome::kRetry:
        ++pool.counters.failed;
        ++pool.counters.retried;
        break;
      case AttemptOutcome::kDeadLetter:
        ++pool.counters.failed;
        ++pool.counters.deadLettered;
        break;
      case AttemptOutcome::kParked:
        ++pool.counters.parked;
        break;
      case AttemptOutcome::kNotSent:
        ++pool.counters.notSent;
        break;
      case AttemptOutcome::kWritten:
        ++pool.counters.written;
        break;
    }
    if (outcome == AttemptOutcome::kRetry || outcome == AttemptOutcome::kDeadLetter ||
        outcome == AttemptOutcome::kNotSent) {
      pool.lastError = attempt.error;
      pool.lastErrorAt = attempt.atMillis;
    }
  };
  // What the log says instead of attempt.error when that quotes the receiver.
  std::string logError;
  auto log = [&](const char* event, LogLevel level) {
    if (deps_.logger == nullptr || !deps_.logger->enabled(level)) return;
    fhir::Json f = fhir::Json::object();
    f.set("destination", fhir::Json::string(pool.profile.id));
    f.set("recordId", fhir::Json::string(message.recordId));
    f.set("version", fhir::Json::number(message.version));
    f.set("messageId", fhir::Json::number(message.messageId));
    f.set("attempt", fhir::Json::number(message.attempts + 1));
    if (attempt.httpStatus != 0) {
      f.set("status", fhir::Json::number(std::int64_t{attempt.httpStatus}));
    }
    if (!attempt.error.empty() && attempt.outcome != AttemptOutcome::kDelivered) {
      f.set("error", fhir::Json::string(logError.empty() ? attempt.error : logError));
    }
    if (attempt.outcome == AttemptOutcome::kRetry) {
      f.set("nextAttemptAt", fhir::Json::string(formatInstant(attempt.nextAttemptAtMillis)));
    }
    f.set("latencyMs", fhir::Json::number(attempt.durationMillis));
    deps_.logger->log(level, event, f);
  };

  std::optional<mappings::CapabilitySet> caps = effectiveCapabilities(pool);
  const mappings::CapabilitySet* capsPtr = caps ? &*caps : nullptr;
  // The key a kept shape must match: digested only when a message comes with
  // one or is to be retried (not on a first attempt that is delivered).
  std::optional<std::string> key;
  auto shapeKey = [&]() -> const std::string& {
    if (!key) key = shapeKeyFor(pool.profile, capsPtr);
    return *key;
  };
  mappings::ShapedDelivery shaped;
  // True when this attempt shaped the message (no fitting kept shape).
  bool shapedNow = true;
  if (!message.keptShape.empty() && !shapeKey().empty() && message.shapeKey == shapeKey()) {
    fhir::Result<fhir::Json> kept = fhir::parseJson(message.keptShape, kStoredJsonLimits);
    fhir::Issues issues;
    std::optional<mappings::ShapedDelivery> read =
        kept.isOk() ? mappings::readKeptShape(*kept, &issues) : std::nullopt;
    if (read) {
      shaped = std::move(*read);
      shapedNow = false;
    }
  }
  if (shapedNow) {
    std::optional<AttemptOutcome> early = shapeMessage(pool, message, capsPtr, &shaped, &attempt);
    if (early) {
      pool.breaker.release();
      finish(*early);
      if (*early == AttemptOutcome::kDeadLetter) log("delivery-dead-letter", LogLevel::kError);
      return;
    }
  }

  switch (shaped.state) {
    case mappings::ShapeState::kPatientUnmatched:
      pool.breaker.release();
      attempt.error = shaped.reason;
      finish(AttemptOutcome::kParked);
      log("delivery-parked", LogLevel::kWarning);
      return;
    case mappings::ShapeState::kNothingToSend:
      // Not delivered: the receiver got nothing. Visible, alerted on, kept
      // for replay once the destination takes something of it.
      pool.breaker.release();
      attempt.error = "not sent: " + shapingNote(shaped);
      finish(AttemptOutcome::kNotSent);
      log("delivery-not-sent", LogLevel::kWarning);
      return;
    case mappings::ShapeState::kInvalid:
      pool.breaker.release();
      attempt.error = "cannot shape for this destination: " + shaped.reason;
      finish(AttemptOutcome::kDeadLetter);
      log("delivery-dead-letter", LogLevel::kError);
      return;
    case mappings::ShapeState::kSend:
      break;
  }

  const auto started = std::chrono::steady_clock::now();
  DeliveryOutcome outcome = pool.channel->send(shaped, message.messageId);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      if (seconds <= kLatencyBuckets[i]) ++pool.latencyBuckets[i];
    }
    ++pool.latencyCount;
    pool.latencySum += seconds;
  }
  attempt.httpStatus = outcome.httpStatus;
  attempt.operationOutcome = outcome.operationOutcome;
  if (outcome.outcome != OutcomeClass::kDelivered && outcome.outcome != OutcomeClass::kWritten) {
    attempt.response = exchangeJson(outcome, false);
    if (outcome.outcome == OutcomeClass::kPermanent) attempt.request = exchangeJson(outcome, true);
  }
  logError = outcome.logSummary;
  attempt.location = joinLocations(outcome.locations);
  const std::int64_t now = clock.nowMillis();
  switch (outcome.outcome) {
    case OutcomeClass::kDelivered:
      pool.breaker.onSuccess(now);
      attempt.error = shapingNote(shaped);
      finish(AttemptOutcome::kDelivered);
      log("delivered", LogLevel::kInfo);
      return;
    case OutcomeClass::kWritten:
      // Durable, but the reader sees it only once its file is published:
      // delivered then (applyPublications), not now.
      pool.breaker.onSuccess(now);
      attempt.error = outcome.summary;
      finish(AttemptOutcome::kWritten);
      log("delivery-written", LogLevel::kInfo);
      // This worker, awake now, waits no longer than the file's age limit
      // (workerLoop: nextTickAtMillis), then publishes it.
      applyPublications(pool);
      return;
    case OutcomeClass::kRetry: {
      // A conflict (409) says nothing about the receiver's health.
      if (outcome.httpStatus == 409) {
        pool.breaker.onSuccess(now);
      } else {
        pool.breaker.onFailure(now);
      }
      attempt.error = outcome.summary;
      attempt.nextAttemptAtMillis = now + retryDelay(settings_.backoff, message.attempts + 1,
                                                     outcome.retryAfterMillis, deps_.random);
      if (shapedNow && !shapeKey().empty()) {
        // Sent again as it is, unless what shaping reads changes meanwhile.
        attempt.shapeKey = shapeKey();
        attempt.keptShape = fhir::writeJson(mappings::writeKeptShape(shaped));
      }
      finish(AttemptOutcome::kRetry);
      log("delivery-retry", LogLevel::kWarning);
      return;
    }
    case OutcomeClass::kUnmatched:
      // The receiver does not know the patient (or knows two): parked,
      // visible; a later version, a replay or a reload sends it again.
      pool.breaker.onSuccess(now);
      attempt.error = outcome.summary;
      finish(AttemptOutcome::kParked);
      log("delivery-parked", LogLevel::kWarning);
      return;
    case OutcomeClass::kPermanent:
      // The receiver answered sensibly: it is healthy, the message is not.
      pool.breaker.onSuccess(now);
      attempt.error = outcome.summary;
      if (learnRefusal(pool, outcome, capsPtr)) {
        // A type (or the transaction, or a conditional update) it does not
        // take: shaped again at once with the fallback.
        attempt.nextAttemptAtMillis = now;
        finish(AttemptOutcome::kRetry);
        log("delivery-retry", LogLevel::kWarning);
        return;
      }
      finish(AttemptOutcome::kDeadLetter);
      log("delivery-dead-letter", LogLevel::kError);
      return;
  }
}

std::string DeliveryEngine::exchangeJson(const DeliveryOutcome& outcome, bool request) {
  fhir::Json o = fhir::Json::object();
  if (request) {
    if (outcome.sentRequest.empty()) return {};
    o.set("request", fhir::Json::string(outcome.sentRequest));
    o.set("body", fhir::Json::string(outcome.sentBody));
    return fhir::writeJson(o);
  }
  if (outcome.httpStatus == 0 && outcome.responseHeaders.empty() && outcome.responseBody.empty()) {
    return {};
  }
  o.set("status", fhir::Json::number(std::int64_t{outcome.httpStatus}));
  fhir::Json headers = fhir::Json::object();
  for (const auto& h : outcome.responseHeaders) headers.set(h.name, fhir::Json::string(h.value));
  o.set("headers", std::move(headers));
  if (!outcome.responseBody.empty()) o.set("body", fhir::Json::string(outcome.responseBody));
  return fhir::writeJson(o);
}

std::optional<AttemptOutcome> DeliveryEngine::shapeMessage(Pool& pool, const OutboxMessage& message,
                                                           const mappings::CapabilitySet* caps,
                                                           mappings::ShapedDelivery* shaped,
                                                           DeliveryAttempt* attempt) {
  // The record and its stored translation: claimed with the message, or read
  // now when a kept shape came instead and no longer fits.
  OutboxMessage source;
  const OutboxMessage* from = &message;
  if (!message.keptShape.empty()) {
    source.messageId = message.messageId;
    if (fhir::Status st = deps_.store->readMessageSource(&source); !st.isOk()) {
      attempt->error = "the stored record cannot be read: " + st.message();
      attempt->nextAttemptAtMillis = deps_.clock->nowMillis() + settings_.storeErrorBackoffMillis;
      return AttemptOutcome::kRetry;
    }
    from = &source;
  }
  fhir::Result<fhir::Json> doc = fhir::parseJson(from->recordJson, mappings::kRecordJsonLimits);
  std::optional<mappings::PlanRecord> record;
  if (doc.isOk()) {
    fhir::Issues issues;
    record = mappings::readPlanRecord(*doc, &issues);
  }
  if (!record) {
    attempt->error = "the stored record cannot be read (payload purged or corrupt)";
    return AttemptOutcome::kDeadLetter;
  }
  const mappings::TranslateOptions options = mappings::translateOptionsFor(pool.profile, caps);
  fhir::Result<fhir::Json> bundle = fhir::parseJson(from->bundleJson, kStoredJsonLimits);
  if (options.medicationAs == mappings::TranslateOptions{}.medicationAs) {
    if (bundle.isOk()) {
      *shaped = mappings::shapeForDestination(*bundle, *record, pool.profile, caps);
    } else {
      shaped->state = mappings::ShapeState::kInvalid;
      shaped->reason = "the stored translation cannot be read";
    }
    return std::nullopt;
  }
  std::shared_ptr<const mappings::MappingTables> tables = deps_.tables->current();
  if (!tables) {
    attempt->error = "no mapping tables loaded";
    attempt->nextAttemptAtMillis = deps_.clock->nowMillis() + settings_.storeErrorBackoffMillis;
    return AttemptOutcome::kRetry;
  }
  // Translated again for this destination; the stored Bundle's safety
  // notices travel with it.
  *shaped = mappings::shapeRecord(*record, *tables, pool.profile, caps,
                                  bundle.isOk() ? &*bundle : nullptr);
  return std::nullopt;
}

std::string DeliveryEngine::shapeKeyFor(const mappings::DestinationProfile& profile,
                                        const mappings::CapabilitySet* caps) {
  // The inloop version too: another release may shape differently.
  std::string inputs =
      std::string(kVersion) + "\n" + fhir::writeJson(mappings::shapingInputs(profile, caps));
  fhir::Result<std::string> key = sha256Hex(inputs);
  // Without a digest nothing kept can be trusted to fit: shape every time.
  return key.isOk() ? *key : std::string();
}

std::optional<mappings::CapabilitySet> DeliveryEngine::effectiveCapabilities(Pool& pool) {
  std::lock_guard<std::mutex> lock(pool.mutex);
  if (!pool.caps && pool.refused.empty() && pool.conditionalUpdateRefused.empty()) {
    return std::nullopt;
  }
  mappings::CapabilitySet caps;
  if (pool.caps) {
    caps = *pool.caps;
  } else {
    caps.statementRead = false;
  }
  for (const auto& [type, why] : pool.refused) caps.refused.emplace(type, why);
  caps.conditionalUpdateRefused = pool.conditionalUpdateRefused;
  return caps;
}

bool DeliveryEngine::learnRefusal(Pool& pool, const DeliveryOutcome& outcome,
                                  const mappings::CapabilitySet* shapedWith) {
  if (!mappings::isFhirServerKind(pool.profile.kind)) return false;
  const bool typeRefusal = !outcome.refusedType.empty() &&
                           !(outcome.refusedType == "Bundle" &&
                             pool.profile.kind != mappings::DestinationKind::kFhirTransaction);
  const bool shapedKnowingIt =
      shapedWith != nullptr &&
      ((outcome.conditionalUpdateRefused && !shapedWith->conditionalUpdateRefused.empty()) ||
       (typeRefusal && shapedWith->refused.count(outcome.refusedType) != 0));
  if (shapedKnowingIt) return false;
  std::string what;
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (outcome.conditionalUpdateRefused && pool.conditionalUpdateRefused.empty()) {
      pool.conditionalUpdateRefused = outcome.summary;
      what = "conditional update";
    } else if (typeRefusal && pool.refused.find(outcome.refusedType) == pool.refused.end()) {
      pool.refused.emplace(outcome.refusedType, outcome.summary);
      what = outcome.refusedType;
    } else {
      // Learnt by another worker while this message was on the wire: it went
      // out without the fallback, so it is shaped again, not dead-lettered.
      return outcome.conditionalUpdateRefused || typeRefusal;
    }
    ++pool.counters.learnt;
  }
  if (deps_.logger != nullptr) {
    fhir::Json f = fhir::Json::object();
    f.set("destination", fhir::Json::string(pool.profile.id));
    f.set("refused", fhir::Json::string(what));
    f.set("status", fhir::Json::number(std::int64_t{outcome.httpStatus}));
    deps_.logger->log(LogLevel::kWarning, "capability-learnt", f);
  }
  return true;
}

std::vector<DestinationStatus> DeliveryEngine::status() {
  const std::int64_t now = deps_.clock->nowMillis();
  std::map<std::string, DestinationQueue> queues;
  if (fhir::Result<std::vector<DestinationQueue>> q = deps_.store->destinationQueues(); q.isOk()) {
    for (DestinationQueue& d : *q) queues[d.destinationId] = std::move(d);
  }
  std::vector<DestinationStatus> out;
  std::set<std::string> seen;
  std::lock_guard<std::mutex> poolsLock(poolsMutex_);
  for (const std::string& id : order_) {
    auto it = pools_.find(id);
    if (it == pools_.end()) continue;
    Pool& pool = *it->second;
    DestinationStatus s;
    s.id = id;
    s.kind = std::string(mappings::destinationKindName(pool.profile.kind));
    s.endpoint = pool.profile.endpoint;
    s.enabled = pool.profile.enabled;
    s.circuit = pool.breaker.state(now);
    s.workers = static_cast<int>(pool.workers.size());
    s.capabilities = effectiveCapabilities(pool);
    {
      std::lock_guard<std::mutex> lock(pool.mutex);
      s.capabilityError = pool.capsError;
      s.lastError = pool.lastError;
      s.lastErrorAtMillis = pool.lastErrorAt;
      s.lastDeliveredAtMillis = pool.lastDeliveredAt;
      s.counters = pool.counters;
    }
    s.effectiveKind = std::string(mappings::destinationKindName(
        mappings::chooseKind(pool.profile, s.capabilities ? &*s.capabilities : nullptr)));
    if (auto q = queues.find(id); q != queues.end()) {
      s.queueDepth = q->second.pending;
      s.patientUnmatched = q->second.patientUnmatched;
      s.deadLetters = q->second.deadLetters;
      s.notSent = q->second.notSent;
      s.written = q->second.written;
      if (q->second.oldestPendingCreatedAtMillis > 0) {
        s.oldestPendingAgeMillis =
            std::max<std::int64_t>(0, now - q->second.oldestPendingCreatedAtMillis);
      }
    }
    s.alert =
        (s.queueDepth > 0 && s.oldestPendingAgeMillis > settings_.alertAgeMillis) || s.notSent > 0;
    if (!pool.channel) {
      s.health = "misconfigured";
    } else if (!s.enabled) {
      s.health = "disabled";
    } else if (s.circuit != CircuitState::kClosed) {
      s.health = "down";
    } else if (pool.breaker.consecutiveFailures() > 0 || s.notSent > 0 || s.deadLetters > 0) {
      s.health = "degraded";
    } else {
      s.health = "ok";
    }
    seen.insert(id);
    out.push_back(std::move(s));
  }
  for (auto& [id, q] : queues) {
    if (seen.count(id) != 0) continue;
    DestinationStatus s;
    s.id = id;
    s.health = "unconfigured";
    s.queueDepth = q.pending;
    s.patientUnmatched = q.patientUnmatched;
    s.deadLetters = q.deadLetters;
    s.notSent = q.notSent;
    s.written = q.written;
    if (q.oldestPendingCreatedAtMillis > 0) {
      s.oldestPendingAgeMillis = std::max<std::int64_t>(0, now - q.oldestPendingCreatedAtMillis);
    }
    s.alert =
        (s.queueDepth > 0 && s.oldestPendingAgeMillis > settings_.alertAgeMillis) || s.notSent > 0;
    s.lastError = "not in the current destinations configuration";
    out.push_back(std::move(s));
  }
  return out;
}

std::string DeliveryEngine::renderMetrics() {
  std::vector<DestinationStatus> all = status();
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  auto each = [&](const char* name, auto value) {
    for (const DestinationStatus& s : all) {
      out << name << "{destination=\"" << escapeLabel(s.id) << "\"} " << value(s) << "\n";
    }
  };
  family("inloop_delivery_delivered_total", "counter", "Messages delivered.");
  each("inloop_delivery_delivered_total",
       [](const DestinationStatus& s) { return s.counters.delivered; });
  family("inloop_delivery_failed_total", "counter", "Attempts that did not deliver.");
  each("inloop_delivery_failed_total",
       [](const DestinationStatus& s) { return s.counters.failed; });
  family("inloop_delivery_retried_total", "counter", "Retries scheduled.");
  each("inloop_delivery_retried_total",
       [](const DestinationStatus& s) { return s.counters.retried; });
  family("inloop_delivery_dead_lettered_total", "counter", "Messages dead-lettered.");
  each("inloop_delivery_dead_lettered_total",
       [](const DestinationStatus& s) { return s.counters.deadLettered; });
  family("inloop_delivery_queue_depth", "gauge", "Pending messages.");
  each("inloop_delivery_queue_depth", [](const DestinationStatus& s) { return s.queueDepth; });
  family("inloop_delivery_patient_unmatched", "gauge", "Messages parked as patient-unmatched.");
  each("inloop_delivery_patient_unmatched",
       [](const DestinationStatus& s) { return s.patientUnmatched; });
  family("inloop_delivery_dead_letters", "gauge", "Dead letters waiting for an operator.");
  each("inloop_delivery_dead_letters", [](const DestinationStatus& s) { return s.deadLetters; });
  family("inloop_delivery_not_sent", "gauge",
         "Messages of which this destination takes nothing: not delivered, kept for replay.");
  each("inloop_delivery_not_sent", [](const DestinationStatus& s) { return s.notSent; });
  family("inloop_delivery_not_sent_total", "counter", "Messages that became not-sent.");
  each("inloop_delivery_not_sent_total",
       [](const DestinationStatus& s) { return s.counters.notSent; });
  family("inloop_delivery_capabilities_learnt_total", "counter",
         "Refusals learnt from the receiver's answers (types, transactions, conditional update).");
  each("inloop_delivery_capabilities_learnt_total",
       [](const DestinationStatus& s) { return s.counters.learnt; });
  family("inloop_delivery_oldest_pending_seconds", "gauge", "Age of the oldest pending message.");
  each("inloop_delivery_oldest_pending_seconds", [](const DestinationStatus& s) {
    return formatSeconds(static_cast<double>(s.oldestPendingAgeMillis) / 1000.0);
  });
  family("inloop_delivery_alert", "gauge",
         "1 when the oldest pending message is older than the alert age, or messages are "
         "not sent.");
  each("inloop_delivery_alert", [](const DestinationStatus& s) { return s.alert ? 1 : 0; });
  family("inloop_delivery_circuit_open", "gauge", "1 when the circuit breaker is not closed.");
  each("inloop_delivery_circuit_open",
       [](const DestinationStatus& s) { return s.circuit == CircuitState::kClosed ? 0 : 1; });

  family("inloop_delivery_latency_seconds", "histogram", "Send latency per delivery attempt.");
  std::lock_guard<std::mutex> poolsLock(poolsMutex_);
  for (const std::string& id : order_) {
    auto it = pools_.find(id);
    if (it == pools_.end()) continue;
    Pool& pool = *it->second;
    std::lock_guard<std::mutex> lock(pool.mutex);
    const std::string label = "destination=\"" + escapeLabel(id) + "\"";
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out << "inloop_delivery_latency_seconds_bucket{" << label << ",le=\""
          << formatSeconds(kLatencyBuckets[i]) << "\"} " << pool.latencyBuckets[i] << "\n";
    }
    out << "inloop_delivery_latency_seconds_bucket{" << label << ",le=\"+Inf\"} "
        << pool.latencyCount << "\n";
    out << "inloop_delivery_latency_seconds_sum{" << label << "} " << formatSeconds(pool.latencySum)
        << "\n";
    out << "inloop_delivery_latency_seconds_count{" << label << "} " << pool.latencyCount << "\n";
  }
  return out.str();
}

}  // namespace inloop::gateway
