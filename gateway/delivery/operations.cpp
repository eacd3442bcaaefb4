#include "gateway/delivery/operations.h"

#include <charconv>
#include <utility>

#include "fhir/validator.h"
#include "gateway/base/change_signal.h"
#include "gateway/base/clock.h"
#include "gateway/delivery/channel.h"
#include "gateway/delivery/engine.h"
#include "gateway/ingest/ingest_pipeline.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/safety/safety.h"

namespace inloop::gateway {

namespace {

using fhir::Json;

Json instantOrNull(std::int64_t millis) {
  return millis > 0 ? Json::string(formatInstant(millis)) : Json();
}

// The stored OperationOutcome text back as JSON (it was written by us from a
// parsed value), or a string when it cannot be read.
Json outcomeJson(const std::string& text) {
  if (text.empty()) return Json();
  fhir::Result<Json> v = fhir::parseJson(text);
  return v.isOk() ? std::move(v).value() : Json::string(text);
}

std::string outcomeSummary(const std::string& text) {
  if (text.empty()) return {};
  fhir::Result<Json> doc = fhir::parseJson(text);
  if (!doc.isOk()) return {};
  const Json* issues = doc->find("issue");
  if (issues == nullptr || !issues->isArray() || issues->items().empty()) return {};
  const Json& first = issues->items().front();
  std::string out;
  if (const Json* c = first.find("code"); c != nullptr && c->isString()) out = c->text();
  if (const Json* d = first.find("diagnostics"); d != nullptr && d->isString()) {
    out += (out.empty() ? "" : ": ") + d->text();
  } else if (const Json* det = first.find("details"); det != nullptr) {
    if (const Json* t = det->find("text"); t != nullptr && t->isString()) {
      out += (out.empty() ? "" : ": ") + t->text();
    }
  }
  if (out.size() > 300) out = out.substr(0, 297) + "...";
  return out;
}

}  // namespace

bool parseMessageId(const std::string& text, std::int64_t* id) {
  if (text.empty() || text.size() > 18) return false;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v <= 0) return false;
  *id = v;
  return true;
}

Json attemptToJson(const DeliveryAttempt& a) {
  Json o = Json::object();
  o.set("attemptId", Json::number(a.id));
  o.set("messageId", Json::number(a.messageId));
  o.set("destination", Json::string(a.destinationId));
  o.set("version", Json::number(a.version));
  o.set("at", Json::string(formatInstant(a.atMillis)));
  o.set("durationMs", Json::number(a.durationMillis));
  o.set("outcome", Json::string(attemptOutcomeName(a.outcome)));
  if (a.httpStatus != 0) o.set("status", Json::number(std::int64_t{a.httpStatus}));
  if (!a.error.empty()) {
    o.set(a.outcome == AttemptOutcome::kDelivered ? "note" : "error", Json::string(a.error));
  }
  if (std::string s = outcomeSummary(a.operationOutcome); !s.empty()) {
    o.set("operationOutcomeSummary", Json::string(s));
  }
  if (!a.location.empty()) o.set("location", Json::string(a.location));
  // What the receiver answered and, for a dead letter, what was sent.
  for (const auto& [key, text] :
       {std::pair<const char*, const std::string&>{"response", a.response},
        std::pair<const char*, const std::string&>{"request", a.request}}) {
    if (text.empty()) continue;
    fhir::Result<Json> parsed = fhir::parseJson(text);
    if (parsed.isOk()) o.set(key, std::move(parsed).value());
  }
  if (a.outcome == AttemptOutcome::kRetry) {
    o.set("nextAttemptAt", Json::string(formatInstant(a.nextAttemptAtMillis)));
  }
  return o;
}

Json deadLetterToJson(const DeadLetterEntry& e, bool withOutcome) {
  Json o = Json::object();
  o.set("messageId", Json::number(e.messageId));
  o.set("destination", Json::string(e.destinationId));
  o.set("recordId", Json::string(e.recordId));
  o.set("version", Json::number(e.version));
  o.set("recordType", Json::string(e.recordType));
  o.set("state", Json::string(outboxStateName(e.state)));
  o.set("attempts", Json::number(e.attempts));
  if (e.lastStatus != 0) o.set("lastStatus", Json::number(std::int64_t{e.lastStatus}));
  if (!e.lastError.empty()) o.set("lastError", Json::string(e.lastError));
  if (std::string s = outcomeSummary(e.operationOutcome); !s.empty()) {
    o.set("operationOutcomeSummary", Json::string(s));
  }
  if (withOutcome && !e.operationOutcome.empty()) {
    o.set("operationOutcome", outcomeJson(e.operationOutcome));
  }
  o.set("queuedAt", Json::string(formatInstant(e.createdAtMillis)));
  o.set("updatedAt", Json::string(formatInstant(e.updatedAtMillis)));
  return o;
}

void DeliveryOperations::changed(bool wakeEngine) {
  if (wakeEngine && engine_ != nullptr) engine_->notify();
  if (changes_ != nullptr) changes_->notifyAll();
}

Json DeliveryOperations::destinations() {
  Json list = Json::array();
  if (engine_ != nullptr) {
    for (const DestinationStatus& s : engine_->status()) {
      Json o = Json::object();
      o.set("id", Json::string(s.id));
      if (!s.kind.empty()) o.set("kind", Json::string(s.kind));
      if (!s.effectiveKind.empty()) o.set("effectiveKind", Json::string(s.effectiveKind));
      if (!s.endpoint.empty()) o.set("endpoint", Json::string(s.endpoint));
      o.set("enabled", Json::boolean(s.enabled));
      o.set("health", Json::string(s.health));
      o.set("circuit", Json::string(std::string(circuitStateName(s.circuit))));
      o.set("workers", Json::number(std::int64_t{s.workers}));
      o.set("queueDepth", Json::number(s.queueDepth));
      o.set("patientUnmatched", Json::number(s.patientUnmatched));
      o.set("deadLetters", Json::number(s.deadLetters));
      o.set("notSent", Json::number(s.notSent));
      o.set("awaitingPublication", Json::number(s.written));
      o.set("oldestPendingAgeSeconds", Json::number(s.oldestPendingAgeMillis / 1000));
      o.set("alert", Json::boolean(s.alert));
      if (!s.lastError.empty()) {
        o.set("lastError", Json::string(s.lastError));
        o.set("lastErrorAt", instantOrNull(s.lastErrorAtMillis));
      }
      if (s.lastDeliveredAtMillis > 0) {
        o.set("lastDeliveredAt", instantOrNull(s.lastDeliveredAtMillis));
      }
      Json counters = Json::object();
      counters.set("delivered", Json::number(static_cast<std::int64_t>(s.counters.delivered)));
      counters.set("failed", Json::number(static_cast<std::int64_t>(s.counters.failed)));
      counters.set("retried", Json::number(static_cast<std::int64_t>(s.counters.retried)));
      counters.set("deadLettered",
                   Json::number(static_cast<std::int64_t>(s.counters.deadLettered)));
      counters.set("parked", Json::number(static_cast<std::int64_t>(s.counters.parked)));
      counters.set("notSent", Json::number(static_cast<std::int64_t>(s.counters.notSent)));
      counters.set("written", Json::number(static_cast<std::int64_t>(s.counters.written)));
      counters.set("learnt", Json::number(static_cast<std::int64_t>(s.counters.learnt)));
      o.set("counters", std::move(counters));
      Json caps = Json::object();
      const bool statement = s.capabilities && s.capabilities->statementRead;
      caps.set("known", Json::boolean(statement));
      if (statement) {
        caps.set("fhirVersion", Json::string(s.capabilities->fhirVersion));
        caps.set("software", Json::string(s.capabilities->software));
        caps.set("transaction", Json::boolean(s.capabilities->transaction));
        // No list: the statement says nothing about types; every type is
        // sent and the receiver's answers decide ("refused" below).
        caps.set("resourcesListed", Json::boolean(s.capabilities->resourcesListed));
        Json types = Json::array();
        for (const mappings::ResourceCapability& r : s.capabilities->resources) {
          types.push(Json::string(r.type));
        }
        caps.set("resources", std::move(types));
      } else if (!s.capabilityError.empty()) {
        caps.set("error", Json::string(s.capabilityError));
      }
      if (s.capabilities) {
        // What the receiver's answers taught, and the words it used.
        Json refused = Json::object();
        for (const auto& [type, why] : s.capabilities->refused) {
          refused.set(type, Json::string(why));
        }
        caps.set("refused", std::move(refused));
        if (!s.capabilities->conditionalUpdateRefused.empty()) {
          caps.set("conditionalUpdateRefused",
                   Json::string(s.capabilities->conditionalUpdateRefused));
        }
      }
      o.set("capabilities", std::move(caps));
      list.push(std::move(o));
    }
  } else if (auto queues = store_.destinationQueues(); queues.isOk()) {
    for (const DestinationQueue& q : *queues) {
      Json o = Json::object();
      o.set("id", Json::string(q.destinationId));
      o.set("queueDepth", Json::number(q.pending));
      o.set("patientUnmatched", Json::number(q.patientUnmatched));
      o.set("deadLetters", Json::number(q.deadLetters));
      o.set("notSent", Json::number(q.notSent));
      o.set("awaitingPublication", Json::number(q.written));
      list.push(std::move(o));
    }
  }
  Json out = Json::object();
  out.set("destinations", std::move(list));
  return out;
}

fhir::Result<Json> DeliveryOperations::deliveries(const std::string& recordId) {
  fhir::Result<RecordView> view = store_.getRecord(recordId);
  if (!view.isOk()) return view.status();
  fhir::Result<std::vector<DeliveryAttempt>> attempts = store_.listAttempts(recordId, 1000);
  if (!attempts.isOk()) return attempts.status();
  Json rows = Json::array();
  for (const DeliveryState& d : view->deliveries) {
    Json e = Json::object();
    e.set("messageId", Json::number(d.messageId));
    e.set("destination", Json::string(d.destinationId));
    e.set("version", Json::number(d.version));
    e.set("state", Json::string(outboxStateName(d.state)));
    e.set("attempts", Json::number(d.attempts));
    if (d.lastStatus != 0) e.set("lastStatus", Json::number(std::int64_t{d.lastStatus}));
    if (!d.lastError.empty()) e.set("lastError", Json::string(d.lastError));
    if (!d.reason.empty()) e.set("reason", Json::string(d.reason));
    if (d.state == OutboxState::kPending) {
      e.set("nextAttemptAt", Json::string(formatInstant(d.nextAttemptAtMillis)));
    }
    e.set("updatedAt", Json::string(formatInstant(d.updatedAtMillis)));
    rows.push(std::move(e));
  }
  Json ledger = Json::array();
  for (const DeliveryAttempt& a : *attempts) ledger.push(attemptToJson(a));
  Json out = Json::object();
  out.set("recordId", Json::string(recordId));
  out.set("deliveries", std::move(rows));
  out.set("attempts", std::move(ledger));
  return out;
}

fhir::Result<Json> DeliveryOperations::deadLetters(const std::string& destinationId, int limit) {
  fhir::Result<std::vector<DeadLetterEntry>> list = store_.listDeadLetters(destinationId, limit);
  if (!list.isOk()) return list.status();
  Json items = Json::array();
  for (const DeadLetterEntry& e : *list) items.push(deadLetterToJson(e, false));
  Json out = Json::object();
  out.set("deadLetters", std::move(items));
  return out;
}

fhir::Result<Json> DeliveryOperations::deadLetter(std::int64_t messageId) {
  fhir::Result<DeadLetterEntry> e = store_.getDeadLetter(messageId);
  if (!e.isOk()) return e.status();
  fhir::Result<std::vector<DeliveryAttempt>> attempts = store_.listMessageAttempts(messageId);
  if (!attempts.isOk()) return attempts.status();
  Json out = deadLetterToJson(*e, true);
  Json ledger = Json::array();
  for (const DeliveryAttempt& a : *attempts) ledger.push(attemptToJson(a));
  out.set("ledger", std::move(ledger));
  return out;
}

fhir::Result<Json> DeliveryOperations::replay(std::int64_t messageId,
                                              const std::string& principal) {
  if (fhir::Status st = store_.replayDeadLetter(messageId, principal); !st.isOk()) return st;
  changed(true);
  return deadLetter(messageId);
}

fhir::Result<Json> DeliveryOperations::replayMatching(const std::string& destinationId,
                                                      std::int64_t sinceMillis,
                                                      const std::string& principal) {
  constexpr int kMax = 100000;
  fhir::Result<std::vector<DeadLetterEntry>> list = store_.listDeadLetters(destinationId, kMax);
  if (!list.isOk()) return list.status();
  std::int64_t replayed = 0;
  Json skipped = Json::array();
  // Newest first from the store: replay the oldest first, so queues keep their order.
  for (auto it = list->rbegin(); it != list->rend(); ++it) {
    if (it->updatedAtMillis < sinceMillis) continue;
    fhir::Status st = store_.replayDeadLetter(it->messageId, principal);
    if (st.isOk()) {
      ++replayed;
      continue;
    }
    if (st.code() != fhir::ErrorCode::kConflict) return st;
    Json s = Json::object();
    s.set("messageId", Json::number(it->messageId));
    s.set("reason", Json::string(st.message()));
    skipped.push(std::move(s));
  }
  if (replayed > 0) changed(true);
  Json out = Json::object();
  out.set("replayed", Json::number(replayed));
  out.set("skipped", std::move(skipped));
  return out;
}

fhir::Result<Json> DeliveryOperations::discard(std::int64_t messageId,
                                               const std::string& principal) {
  if (fhir::Status st = store_.discardDeadLetter(messageId, principal); !st.isOk()) return st;
  changed(false);
  return deadLetter(messageId);
}

fhir::Result<Json> DeliveryOperations::reprocess(const std::string& recordId,
                                                 const mappings::MappingTables& tables,
                                                 IngestRouter& router,
                                                 const std::string& principal) {
  fhir::Result<RecordView> view = store_.getRecord(recordId);
  if (!view.isOk()) return view.status();
  if (view->purged || view->recordJson.empty()) {
    return fhir::Status(fhir::ErrorCode::kNotFound,
                        "record " + recordId + " was purged: nothing to translate again");
  }
  fhir::Result<Json> doc = fhir::parseJson(view->recordJson, kStoredJsonLimits);
  std::optional<mappings::PlanRecord> record;
  if (doc.isOk()) record = mappings::readPlanRecord(*doc).record;
  if (!record) {
    return fhir::Status(fhir::ErrorCode::kIoError, "the stored record cannot be read");
  }
  mappings::TranslationResult t = mappings::translateRecord(*record, tables);
  if (!t.bundle || fhir::hasErrors(t.issues)) {
    std::string why = "the current mapping tables cannot translate " + recordId;
    for (const fhir::Issue& i : t.issues) {
      if (i.severity == fhir::Severity::kError || i.severity == fhir::Severity::kFatal) {
        why += ": " + i.path + ": " + i.message;
        break;
      }
    }
    return fhir::Status(fhir::ErrorCode::kInvalid, why);
  }
  if (!view->bundleJson.empty()) {
    // The notices were decided at ingest, against the list as it was then.
    fhir::Result<Json> stored = fhir::parseJson(view->bundleJson, kStoredJsonLimits);
    if (!stored.isOk()) return stored.status();
    fhir::Result<std::size_t> carried =
        mappings::carryNoticeEntries(*stored, mappings::MedicationAs::kStatement, &*t.bundle);
    if (!carried.isOk()) return carried.status();
  }
  fhir::Issues fhirIssues = fhir::validateResource(*t.bundle);
  if (fhir::hasErrors(fhirIssues)) {
    return fhir::Status(fhir::ErrorCode::kInternal,
                        "the new translation is not valid FHIR (a mapping bug): " +
                            fhir::formatIssues(fhirIssues).substr(0, 500));
  }
  std::vector<DestinationTarget> targets = router.route(*record);
  Json ids = Json::array();
  for (const DestinationTarget& target : targets) ids.push(Json::string(target.destinationId));
  fhir::Status st = store_.reprocess(recordId, view->latestVersion, fhir::writeJson(*t.bundle),
                                     std::move(targets), principal);
  if (!st.isOk()) return st;
  changed(true);
  Json out = Json::object();
  out.set("recordId", Json::string(recordId));
  out.set("version", Json::number(view->latestVersion));
  out.set("mappingTablesVersion", Json::string(tables.version));
  out.set("destinations", std::move(ids));
  return out;
}

fhir::Result<RouteAgainResult> DeliveryOperations::routeUnroutable(IngestRouter& router,
                                                                   const std::string& principal) {
  constexpr int kPage = 256;
  RouteAgainResult result;
  std::string unreadable;
  std::int64_t after = 0;
  for (;;) {
    fhir::Result<std::vector<UnroutableRecord>> page = store_.listUnroutable(after, kPage);
    if (!page.isOk()) return page.status();
    for (const UnroutableRecord& row : *page) {
      after = row.messageId;
      fhir::Result<Json> doc = fhir::parseJson(row.recordJson, kStoredJsonLimits);
      std::optional<mappings::PlanRecord> record;
      if (doc.isOk()) record = mappings::readPlanRecord(*doc).record;
      if (!record) {
        if (unreadable.empty())
          unreadable = row.recordId + " version " + std::to_string(row.version);
        continue;
      }
      std::vector<DestinationTarget> targets = router.route(*record);
      if (targets.empty()) {
        ++result.stillUnroutable;
        continue;
      }
      fhir::Status st = store_.routeUnroutable(row.messageId, std::move(targets), principal);
      if (st.code() == fhir::ErrorCode::kConflict) {
        ++result.skipped;
      } else if (!st.isOk()) {
        return st;
      } else {
        ++result.routed;
      }
    }
    if (page->size() < static_cast<std::size_t>(kPage)) break;
  }
  if (result.routed > 0) changed(true);
  if (!unreadable.empty()) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "the stored record " + unreadable + " cannot be read back to route it");
  }
  return result;
}

}  // namespace inloop::gateway
