// The Store contract (gateway/store/store.h), run against both
// implementations: SqliteStore and MemoryStore must decide ingest, order and
// lease the outbox, move messages through their states, keep the ledger, dead
// letters, audit and safety rows, and purge the same way. What only SQLite has
// (files, migrations, group commit, crash durability) is tested in
// store_test.cpp and the durability suites.

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/store/store.h"
#include "tests/gateway/support/store_support.h"

namespace inloop::gateway {
namespace {

using store_testing::accept;
using store_testing::claim;
using store_testing::ingestOne;
using store_testing::makeItem;
using store_testing::MemoryKind;
using store_testing::recordIdsOf;
using store_testing::SqliteKind;
using store_testing::to;

// The message id of `recordId`'s newest outbox row for `destination`.
std::int64_t messageOf(Store& store, const std::string& recordId,
                       const std::string& destination = "ehr") {
  auto view = store.getRecord(recordId);
  REQUIRE(view.isOk());
  std::int64_t id = 0;
  for (const DeliveryState& d : view->deliveries) {
    if (d.destinationId == destination) id = d.messageId;
  }
  REQUIRE(id != 0);
  return id;
}

DeliveryAttempt attemptOf(std::int64_t messageId, AttemptOutcome outcome, std::int64_t at,
                          int status = 0, std::string error = {}) {
  DeliveryAttempt a;
  a.messageId = messageId;
  a.outcome = outcome;
  a.atMillis = at;
  a.durationMillis = 5;
  a.httpStatus = status;
  a.error = std::move(error);
  a.endpointKind = "fhir-transaction";
  return a;
}

// The state of the row `messageId` of `recordId`.
OutboxState rowState(Store& store, const std::string& recordId, std::int64_t messageId) {
  auto view = store.getRecord(recordId);
  REQUIRE(view.isOk());
  for (const DeliveryState& d : view->deliveries) {
    if (d.messageId == messageId) return d.state;
  }
  FAIL("no row " << messageId << " for " << recordId);
  return OutboxState::kPending;
}

// The message of `recordId` among `messages` (it must be there).
const OutboxMessage& messageFor(const std::vector<OutboxMessage>& messages,
                                const std::string& recordId) {
  for (const OutboxMessage& m : messages) {
    if (m.recordId == recordId) return m;
  }
  FAIL("no message for " << recordId);
  return messages.front();
}

}  // namespace

TEMPLATE_TEST_CASE("ingest decides accepted, replay, conflict and stale per item",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);

  const IngestResult first = ingestOne(*store, makeItem("rec-1", 2, "a"));
  REQUIRE(first.outcome == IngestOutcome::kAccepted);
  CHECK(first.receipt.receiptId.rfind("rcpt-", 0) == 0);
  CHECK(first.receipt.receivedAt == formatInstant(clock.nowMillis()));

  clock.advance(1000);
  struct Case {
    std::int64_t version;
    const char* content;
    IngestOutcome expected;
  };
  const Case cases[] = {
      {2, "a", IngestOutcome::kReplay},    // identical: original receipt
      {2, "b", IngestOutcome::kConflict},  // same version, other content
      {1, "a", IngestOutcome::kStale},     // lower than the stored version
      {1, "z", IngestOutcome::kStale},
  };
  for (const Case& c : cases) {
    const IngestResult r = ingestOne(*store, makeItem("rec-1", c.version, c.content));
    INFO("version " << c.version << " content " << c.content);
    CHECK(r.outcome == c.expected);
    if (c.expected == IngestOutcome::kReplay) {
      CHECK(r.receipt.receiptId == first.receipt.receiptId);
      CHECK(r.receipt.receivedAtMillis == first.receipt.receivedAtMillis);
      CHECK(r.receipt.status == IngestOutcome::kReplay);
    } else {
      CHECK(r.receipt.receiptId.empty());
      CHECK_FALSE(r.message.empty());
    }
  }
  const IngestResult third = ingestOne(*store, makeItem("rec-1", 3, "c"));
  CHECK(third.outcome == IngestOutcome::kAccepted);
  CHECK(third.receipt.receiptId != first.receipt.receiptId);

  auto view = store->getRecord("rec-1");
  REQUIRE(view.isOk());
  CHECK(view->latestVersion == 3);
  CHECK(view->recordJson == makeItem("rec-1", 3, "c").recordJson);
  CHECK(view->bundleJson == makeItem("rec-1", 3).bundleJson);
  CHECK(view->receipt.receiptId == third.receipt.receiptId);
  REQUIRE(view->versions.size() == 2);
  CHECK(view->versions[0].version == 2);
  CHECK(view->versions[0].receiptId == first.receipt.receiptId);
  CHECK(view->versions[1].contentHash == makeItem("rec-1", 3, "c").contentHash);

  CHECK(store->getRecord("nope").status().code() == fhir::ErrorCode::kNotFound);
  std::vector<IngestItem> bad;
  bad.push_back(makeItem("", 1));
  CHECK(store->ingest(std::move(bad)).status().code() == fhir::ErrorCode::kInvalid);
}

TEMPLATE_TEST_CASE("items of one call are decided in order", "[gateway][store][contract]",
                   SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  std::vector<IngestItem> items;
  items.push_back(makeItem("rec-1", 2, "a"));
  items.push_back(makeItem("rec-1", 3, "b"));
  items.push_back(makeItem("rec-1", 3, "b"));  // replay of the item before
  items.push_back(makeItem("rec-1", 1, "a"));  // lower than version 3: stale
  items.push_back(makeItem("rec-2", 1, "a"));
  auto results = store->ingest(std::move(items));
  REQUIRE(results.isOk());
  REQUIRE(results->size() == 5);
  CHECK((*results)[0].outcome == IngestOutcome::kAccepted);
  CHECK((*results)[1].outcome == IngestOutcome::kAccepted);
  CHECK((*results)[2].outcome == IngestOutcome::kReplay);
  CHECK((*results)[2].receipt.receiptId == (*results)[1].receipt.receiptId);
  CHECK((*results)[3].outcome == IngestOutcome::kStale);
  CHECK((*results)[4].outcome == IngestOutcome::kAccepted);
  CHECK(store->getRecord("rec-1")->latestVersion == 3);
  CHECK(store->getRecord("rec-1")->versions.size() == 2);
}

TEMPLATE_TEST_CASE("outbox rows: unroutable marker, pending, patient-unmatched",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("rec-u", 1));
  std::vector<DestinationTarget> two = {{"ehr", OutboxState::kPending, ""},
                                        {"engine", OutboxState::kPatientUnmatched, "no pcpId"}};
  accept(*store, makeItem("rec-r", 1, "a", "mrn-1", two));

  auto unroutable = store->getRecord("rec-u");
  REQUIRE(unroutable.isOk());
  REQUIRE(unroutable->deliveries.size() == 1);
  CHECK(unroutable->deliveries[0].destinationId.empty());
  CHECK(unroutable->deliveries[0].state == OutboxState::kUnroutable);

  auto routed = store->getRecord("rec-r");
  REQUIRE(routed.isOk());
  REQUIRE(routed->deliveries.size() == 2);
  CHECK(routed->deliveries[0].destinationId == "ehr");
  CHECK(routed->deliveries[0].state == OutboxState::kPending);
  CHECK(routed->deliveries[1].state == OutboxState::kPatientUnmatched);
  CHECK(routed->deliveries[1].reason == "no pcpId");

  auto stats = store->stats();
  REQUIRE(stats.isOk());
  CHECK(stats->outboxByState["unroutable"] == 1);
  CHECK(stats->outboxByState["pending"] == 1);
  CHECK(stats->outboxByState["patient-unmatched"] == 1);
  CHECK(stats->records == 2);
  CHECK(stats->recordsByType["measurement"] == 2);
  CHECK((stats->dbFileBytes > 0) == TestType::kOnDisk);
  // Parked and unroutable rows are never handed out.
  CHECK(claim(*store, "engine", clock.nowMillis()).empty());
  CHECK(claim(*store, "", clock.nowMillis()).empty());
}

TEMPLATE_TEST_CASE(
    "unroutable markers are listed and routed once, in one transaction with an audit row",
    "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("u1", 1, "a", "mrn-1"));
  accept(*store, makeItem("u2", 1, "a", "mrn-2"));
  accept(*store, makeItem("r1", 1, "a", "mrn-1", to("ehr")));
  // A newer unroutable version replaces the older marker: one marker per record.
  accept(*store, makeItem("u2", 2, "b", "mrn-2"));

  auto listed = store->listUnroutable(0, 10);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].recordId == "u1");
  CHECK((*listed)[1].recordId == "u2");
  CHECK((*listed)[1].version == 2);
  CHECK((*listed)[1].practiceId == "practice-1");
  auto page = store->listUnroutable((*listed)[0].messageId, 10);
  REQUIRE(page.isOk());
  REQUIRE(page->size() == 1);
  CHECK((*page)[0].recordId == "u2");

  REQUIRE(store->routeUnroutable((*listed)[0].messageId, to("ehr"), "admin").isOk());
  // Routed once: the marker is gone, so a second call is a conflict or not found.
  CHECK_FALSE(store->routeUnroutable((*listed)[0].messageId, to("ehr"), "admin").isOk());
  CHECK(store->routeUnroutable((*listed)[1].messageId, {}, "admin").code() ==
        fhir::ErrorCode::kInvalid);
  CHECK(store->routeUnroutable(999999, to("ehr"), "admin").code() == fhir::ErrorCode::kNotFound);

  auto after = store->listUnroutable(0, 10);
  REQUIRE(after.isOk());
  REQUIRE(after->size() == 1);
  CHECK((*after)[0].recordId == "u2");
  auto view = store->getRecord("u1");
  REQUIRE(view.isOk());
  REQUIRE(view->deliveries.size() == 1);
  CHECK(view->deliveries[0].destinationId == "ehr");
  CHECK(view->deliveries[0].state == OutboxState::kPending);
  // It joins its patient's queue behind what was already there (r1 came first).
  CHECK(recordIdsOf(claim(*store, "ehr", clock.nowMillis())) == std::vector<std::string>{"r1@1"});

  auto audit = store->listAudit(100);
  REQUIRE(audit.isOk());
  bool routedRow = false;
  for (const AuditEntry& e : *audit) {
    if (e.action == "route" && e.recordId == "u1" && e.principal == "admin") routedRow = true;
  }
  CHECK(routedRow);
}

TEMPLATE_TEST_CASE("claimDue is FIFO per patient and patients do not block each other",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  for (const auto& [recordId, patient] : std::vector<std::pair<std::string, std::string>>{
           {"a1", "p1"}, {"a2", "p1"}, {"b1", "p2"}, {"b2", "p2"}, {"c1", "p3"}}) {
    accept(*store, makeItem(recordId, 1, "x", patient, to("ehr")));
  }
  accept(*store, makeItem("other", 1, "x", "p1", to("lab")));
  const std::int64_t t0 = clock.nowMillis();

  auto heads = claim(*store, "ehr", t0);
  CHECK(recordIdsOf(heads) == std::vector<std::string>{"a1@1", "b1@1", "c1@1"});
  // Leased: nothing more is due for these patients until a report or the lease ends.
  CHECK(claim(*store, "ehr", t0).empty());
  CHECK(claim(*store, "ehr", t0, 1, 1000).empty());

  auto idOf = [&](const std::string& recordId) {
    for (const auto& m : heads) {
      if (m.recordId == recordId) return m.messageId;
    }
    FAIL("no message for " << recordId);
    return std::int64_t{0};
  };
  // p1 fails transiently: its head stays head and a2 waits behind it.
  REQUIRE(store->scheduleRetry(idOf("a1"), t0 + 30000, 503, "busy").isOk());
  // p2 succeeds: b2 becomes due at once.
  REQUIRE(store->markDelivered(idOf("b1"), 200).isOk());
  // p3 fails for good: it leaves the queue.
  REQUIRE(store->deadLetter(idOf("c1"), 422, "rejected").isOk());

  CHECK(recordIdsOf(claim(*store, "ehr", t0 + 1)) == std::vector<std::string>{"b2@1"});
  auto retry = claim(*store, "ehr", t0 + 30000);
  REQUIRE(recordIdsOf(retry) == std::vector<std::string>{"a1@1"});
  CHECK(retry[0].attempts == 1);
  CHECK(retry[0].bundleJson == makeItem("a1", 1).bundleJson);
  REQUIRE(store->markDelivered(retry[0].messageId, 201).isOk());
  CHECK(recordIdsOf(claim(*store, "ehr", t0 + 30001)) == std::vector<std::string>{"a2@1"});
  // Other destinations are separate queues.
  CHECK(recordIdsOf(claim(*store, "lab", t0)) == std::vector<std::string>{"other@1"});

  auto view = store->getRecord("c1");
  REQUIRE(view.isOk());
  REQUIRE(view->deliveries.size() == 1);
  CHECK(view->deliveries[0].state == OutboxState::kDeadLetter);
  CHECK(view->deliveries[0].lastStatus == 422);
  CHECK(view->deliveries[0].attempts == 1);
  CHECK(store->markDelivered(999999, 200).code() == fhir::ErrorCode::kNotFound);
  CHECK(store->scheduleRetry(idOf("c1"), t0, 500, "x").code() == fhir::ErrorCode::kConflict);
}

TEMPLATE_TEST_CASE("an expired lease makes the message due again", "[gateway][store][contract]",
                   SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("r", 1, "x", "p", to("ehr")));
  const std::int64_t t0 = clock.nowMillis();
  auto first = claim(*store, "ehr", t0, 10, 5000);
  REQUIRE(first.size() == 1);
  CHECK(first[0].leaseUntilMillis == t0 + 5000);
  CHECK(claim(*store, "ehr", t0 + 4999).empty());
  auto again = claim(*store, "ehr", t0 + 5000);
  REQUIRE(again.size() == 1);
  CHECK(again[0].messageId == first[0].messageId);
}

TEMPLATE_TEST_CASE(
    "a retry keeps what was sent, and the message comes with it until it leaves pending",
    "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("r", 1, "v1", "p", to("ehr")));
  accept(*store, makeItem("s", 1, "s1", "q", to("ehr")));
  const std::string shape = R"({"kind":"http-bundle","requests":[]})";

  auto first = claim(*store, "ehr", clock.nowMillis());
  REQUIRE(first.size() == 2);
  for (const OutboxMessage& m : first) {
    CHECK(m.keptShape.empty());
    CHECK_FALSE(m.recordJson.empty());
    CHECK_FALSE(m.bundleJson.empty());
    DeliveryAttempt a = attemptOf(m.messageId, AttemptOutcome::kRetry, clock.nowMillis(), 503);
    a.nextAttemptAtMillis = clock.nowMillis();
    if (m.recordId == "r") {
      a.shapeKey = "key-1";
      a.keptShape = shape;
    }
    REQUIRE(store->finishAttempt(a).isOk());
  }

  // r comes with its kept shape instead of its payload; s as before.
  auto second = claim(*store, "ehr", clock.nowMillis());
  REQUIRE(second.size() == 2);
  const OutboxMessage& r = messageFor(second, "r");
  const OutboxMessage& s = messageFor(second, "s");
  CHECK(r.shapeKey == "key-1");
  CHECK(r.keptShape == shape);
  CHECK(r.recordJson.empty());
  CHECK(r.bundleJson.empty());
  CHECK(s.keptShape.empty());
  CHECK_FALSE(s.recordJson.empty());
  // A stale kept shape: the payload is read on request.
  OutboxMessage source;
  source.messageId = r.messageId;
  REQUIRE(store->readMessageSource(&source).isOk());
  CHECK(source.recordJson == makeItem("r", 1, "v1").recordJson);
  CHECK(source.bundleJson == makeItem("r", 1, "v1").bundleJson);
  OutboxMessage unknown;
  unknown.messageId = 999999;
  CHECK(store->readMessageSource(&unknown).code() == fhir::ErrorCode::kNotFound);

  // A retry without a new shape leaves the kept one; a dead letter drops it.
  DeliveryAttempt again = attemptOf(r.messageId, AttemptOutcome::kRetry, clock.nowMillis(), 500);
  again.nextAttemptAtMillis = clock.nowMillis();
  REQUIRE(store->finishAttempt(again).isOk());
  REQUIRE(
      store->finishAttempt(attemptOf(s.messageId, AttemptOutcome::kRetry, clock.nowMillis(), 500))
          .isOk());
  auto third = claim(*store, "ehr", clock.nowMillis());
  REQUIRE(third.size() == 2);
  const OutboxMessage& r3 = messageFor(third, "r");
  CHECK(r3.keptShape == shape);
  REQUIRE(store
              ->finishAttempt(
                  attemptOf(r3.messageId, AttemptOutcome::kDeadLetter, clock.nowMillis(), 422))
              .isOk());
  REQUIRE(store->replayDeadLetter(r3.messageId, "admin").isOk());
  auto replayed = claim(*store, "ehr", clock.nowMillis());
  const OutboxMessage& r4 = messageFor(replayed, "r");
  CHECK(r4.keptShape.empty());
  CHECK_FALSE(r4.recordJson.empty());

  // Superseded by a newer version: the next version comes with its payload.
  DeliveryAttempt kept = attemptOf(r4.messageId, AttemptOutcome::kRetry, clock.nowMillis(), 503);
  kept.nextAttemptAtMillis = clock.nowMillis();
  kept.shapeKey = "key-2";
  kept.keptShape = shape;
  REQUIRE(store->finishAttempt(kept).isOk());
  accept(*store, makeItem("r", 2, "v2", "p", to("ehr")));
  auto fourth = claim(*store, "ehr", clock.nowMillis());
  const OutboxMessage& r5 = messageFor(fourth, "r");
  CHECK(r5.version == 2);
  CHECK(r5.keptShape.empty());
}

TEMPLATE_TEST_CASE("a newer version supersedes older undelivered rows",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("r", 1, "v1", "p", to("ehr")));
  accept(*store, makeItem("r", 2, "v2", "p", to("ehr")));
  accept(*store, makeItem("u", 1, "v1", "p"));
  accept(*store, makeItem("u", 2, "v2", "p", to("ehr")));

  auto view = store->getRecord("r");
  REQUIRE(view.isOk());
  REQUIRE(view->deliveries.size() == 2);
  CHECK(view->deliveries[0].state == OutboxState::kSuperseded);
  CHECK(view->deliveries[1].state == OutboxState::kPending);
  auto unroutable = store->getRecord("u");
  REQUIRE(unroutable.isOk());
  REQUIRE(unroutable->deliveries.size() == 2);
  CHECK(unroutable->deliveries[0].state == OutboxState::kSuperseded);
  // Only the newest version of each record is handed out (FIFO head moved on).
  CHECK(recordIdsOf(claim(*store, "ehr", clock.nowMillis())) == std::vector<std::string>{"r@2"});
}

TEMPLATE_TEST_CASE("audit rows say who, what and when, never the payload",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  IngestItem item = makeItem("rec-a", 1, "Jane Doe 1970-01-01 secret note");
  accept(*store, item);
  REQUIRE(ingestOne(*store, item).outcome == IngestOutcome::kReplay);
  AuditEntry reload;
  reload.principal = "admin";
  reload.action = "reload";
  reload.outcome = "ok";
  REQUIRE(store->appendAudit(reload).isOk());

  auto audit = store->listAudit(10);
  REQUIRE(audit.isOk());
  REQUIRE(audit->size() == 3);
  CHECK((*audit)[0].action == "reload");
  CHECK((*audit)[0].atMillis == clock.nowMillis());
  CHECK((*audit)[1].outcome == "replay");
  CHECK((*audit)[2].outcome == "accepted");
  CHECK((*audit)[2].principal == "clinic-export");
  CHECK((*audit)[2].recordId == "rec-a");
  CHECK((*audit)[2].version == 1);
  CHECK((*audit)[2].recordType == "measurement");
  CHECK((*audit)[2].source == "http");
  for (const AuditEntry& e : *audit) {
    for (const std::string* field :
         {&e.principal, &e.action, &e.recordId, &e.recordType, &e.outcome, &e.source, &e.detail}) {
      CHECK(field->find("Jane") == std::string::npos);
      CHECK(field->find("secret") == std::string::npos);
    }
  }
  CHECK(store->listAudit(1)->size() == 1);
}

TEMPLATE_TEST_CASE("purge clears only fully delivered records older than the cutoff",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("done", 1, "x", "p1", to("ehr")));
  accept(*store, makeItem("waiting", 1, "x", "p2", to("ehr")));
  accept(*store, makeItem("unroutable", 1, "x", "p3"));
  std::vector<DestinationTarget> both = {{"ehr", OutboxState::kPending, ""},
                                         {"lab", OutboxState::kPending, ""}};
  accept(*store, makeItem("half", 1, "x", "p4", both));
  for (const auto& m : claim(*store, "ehr", clock.nowMillis())) {
    if (m.recordId == "done" || m.recordId == "half") {
      REQUIRE(store->markDelivered(m.messageId, 200).isOk());
    }
  }
  const std::int64_t deliveredAt = clock.nowMillis();
  clock.advance(86400000);

  // A cutoff before the delivery purges nothing.
  CHECK(store->purge(deliveredAt).value() == 0);
  CHECK(store->purge(clock.nowMillis()).value() == 1);

  auto done = store->getRecord("done");
  REQUIRE(done.isOk());
  CHECK(done->purged);
  CHECK(done->recordJson.empty());
  CHECK(done->bundleJson.empty());
  CHECK(done->versions[0].purged);
  for (const char* kept : {"waiting", "unroutable", "half"}) {
    auto view = store->getRecord(kept);
    REQUIRE(view.isOk());
    CHECK_FALSE(view->purged);
    CHECK(view->recordJson == makeItem(kept, 1, "x").recordJson);
  }
  // Hashes stay: a resend of the purged version is still a replay.
  CHECK(ingestOne(*store, makeItem("done", 1, "x", "p1", to("ehr"))).outcome ==
        IngestOutcome::kReplay);
}

TEMPLATE_TEST_CASE("finishAttempt writes the ledger row and moves the message in one step",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  for (const char* id : {"ok", "retry", "dead", "parked", "none", "file"}) {
    accept(*store, makeItem(id, 1, "x", std::string("p-") + id, to("ehr")));
  }
  const std::int64_t t0 = clock.nowMillis();
  REQUIRE(claim(*store, "ehr", t0).size() == 6);

  // Delivered: the ledger row, the state, and the disclosure audit row.
  const std::int64_t ok = messageOf(*store, "ok");
  REQUIRE(store->finishAttempt(attemptOf(ok, AttemptOutcome::kDelivered, t0, 200)).isOk());
  CHECK(rowState(*store, "ok", ok) == OutboxState::kDelivered);
  // A second report for a delivered message is refused and records nothing.
  CHECK(store->finishAttempt(attemptOf(ok, AttemptOutcome::kRetry, t0, 503)).code() ==
        fhir::ErrorCode::kConflict);
  CHECK(store->finishAttempt(attemptOf(999999, AttemptOutcome::kRetry, t0)).code() ==
        fhir::ErrorCode::kNotFound);
  auto okLedger = store->listAttempts("ok", 10);
  REQUIRE(okLedger.isOk());
  REQUIRE(okLedger->size() == 1);
  CHECK((*okLedger)[0].destinationId == "ehr");
  CHECK((*okLedger)[0].version == 1);
  CHECK((*okLedger)[0].httpStatus == 200);
  AuditQuery query;
  query.patientKey = "p-ok";
  query.action = "disclose";
  auto disclosures = store->listAuditFor(query);
  REQUIRE(disclosures.isOk());
  REQUIRE(disclosures->size() == 1);
  CHECK((*disclosures)[0].destinationId == "ehr");
  CHECK((*disclosures)[0].source == "fhir-transaction");
  CHECK((*disclosures)[0].principal == "delivery");
  CHECK((*disclosures)[0].recordType == "measurement");

  // Retry: stays pending (the patient's head) until its time, with the reason.
  const std::int64_t retry = messageOf(*store, "retry");
  DeliveryAttempt transient = attemptOf(retry, AttemptOutcome::kRetry, t0, 503, "HTTP 503");
  transient.nextAttemptAtMillis = t0 + 7000;
  REQUIRE(store->finishAttempt(transient).isOk());
  auto retryView = store->getRecord("retry");
  REQUIRE(retryView.isOk());
  CHECK(retryView->deliveries[0].state == OutboxState::kPending);
  CHECK(retryView->deliveries[0].nextAttemptAtMillis == t0 + 7000);
  CHECK(retryView->deliveries[0].lastError == "HTTP 503");
  CHECK(retryView->deliveries[0].attempts == 1);
  auto next = store->nextDueAt("ehr");
  REQUIRE(next.isOk());
  CHECK(*next == t0 + 7000);
  CHECK(claim(*store, "ehr", t0 + 6999).empty());
  CHECK(recordIdsOf(claim(*store, "ehr", t0 + 7000)) == std::vector<std::string>{"retry@1"});

  // Dead letter (the receiver's OperationOutcome kept, cut to its cap),
  // parked, not-sent.
  const std::int64_t dead = messageOf(*store, "dead");
  DeliveryAttempt permanent = attemptOf(dead, AttemptOutcome::kDeadLetter, t0, 422, "HTTP 422");
  permanent.operationOutcome = std::string(40000, 'o');
  permanent.request = std::string(100000, 'r');
  REQUIRE(store->finishAttempt(permanent).isOk());
  const std::int64_t parked = messageOf(*store, "parked");
  REQUIRE(store->finishAttempt(attemptOf(parked, AttemptOutcome::kParked, t0, 0, "no pcpPatientId"))
              .isOk());
  const std::int64_t none = messageOf(*store, "none");
  REQUIRE(store->finishAttempt(attemptOf(none, AttemptOutcome::kNotSent, t0, 0, "nothing taken"))
              .isOk());
  CHECK(rowState(*store, "dead", dead) == OutboxState::kDeadLetter);
  auto parkedView = store->getRecord("parked");
  REQUIRE(parkedView.isOk());
  CHECK(parkedView->deliveries[0].state == OutboxState::kPatientUnmatched);
  CHECK(parkedView->deliveries[0].reason == "no pcpPatientId");
  CHECK(rowState(*store, "none", none) == OutboxState::kNotSent);
  auto deadLedger = store->listMessageAttempts(dead);
  REQUIRE(deadLedger.isOk());
  REQUIRE(deadLedger->size() == 1);
  CHECK((*deadLedger)[0].operationOutcome.size() == 16u << 10);
  CHECK((*deadLedger)[0].request.size() == 80u << 10);

  // Dead letters and not-sent messages are listed, newest first.
  clock.advance(10);
  auto letters = store->listDeadLetters("", 10);
  REQUIRE(letters.isOk());
  REQUIRE(letters->size() == 2);
  CHECK((*letters)[0].messageId == none);
  CHECK((*letters)[0].state == OutboxState::kNotSent);
  CHECK((*letters)[1].messageId == dead);
  CHECK((*letters)[1].lastStatus == 422);
  CHECK((*letters)[1].operationOutcome.size() == 16u << 10);
  CHECK(store->listDeadLetters("lab", 10)->empty());
  CHECK(store->getDeadLetter(ok).status().code() == fhir::ErrorCode::kNotFound);

  // Written (ndjson-dir), then published: delivered, with a ledger row naming the file.
  const std::int64_t file = messageOf(*store, "file");
  REQUIRE(store->finishAttempt(attemptOf(file, AttemptOutcome::kWritten, t0)).isOk());
  CHECK(rowState(*store, "file", file) == OutboxState::kWritten);
  auto queues = store->destinationQueues();
  REQUIRE(queues.isOk());
  REQUIRE(queues->size() == 1);
  CHECK((*queues)[0].written == 1);
  CHECK((*queues)[0].deadLetters == 1);
  CHECK((*queues)[0].notSent == 1);
  CHECK((*queues)[0].patientUnmatched == 1);
  CHECK((*queues)[0].pending == 1);  // "retry", claimed again above
  auto published = store->markPublished("ehr", {file, ok}, "/out/a.ndjson", "ndjson-dir");
  REQUIRE(published.isOk());
  CHECK(*published == 1);  // "ok" was delivered already
  CHECK(rowState(*store, "file", file) == OutboxState::kDelivered);
  auto fileLedger = store->listMessageAttempts(file);
  REQUIRE(fileLedger.isOk());
  REQUIRE(fileLedger->size() == 2);
  CHECK((*fileLedger)[1].location == "/out/a.ndjson");
  // A write reported after its file was published keeps it delivered.
  REQUIRE(store->finishAttempt(attemptOf(file, AttemptOutcome::kWritten, t0)).isOk());
  CHECK(rowState(*store, "file", file) == OutboxState::kDelivered);
}

TEMPLATE_TEST_CASE("a delivery reported for a message superseded in flight keeps it superseded",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("r", 1, "v1", "p", to("ehr")));
  const std::int64_t t0 = clock.nowMillis();
  auto first = claim(*store, "ehr", t0, 1, 1000);
  REQUIRE(first.size() == 1);
  // Version 2 while version 1 is leased: version 1 is left alone (in flight).
  accept(*store, makeItem("r", 2, "v2", "p", to("ehr")));
  CHECK(rowState(*store, "r", first[0].messageId) == OutboxState::kPending);
  CHECK(claim(*store, "ehr", t0 + 1).empty());  // the head is leased
  REQUIRE(
      store->finishAttempt(attemptOf(first[0].messageId, AttemptOutcome::kDelivered, t0 + 2, 200))
          .isOk());
  CHECK(rowState(*store, "r", first[0].messageId) == OutboxState::kDelivered);
  CHECK(recordIdsOf(claim(*store, "ehr", t0 + 3)) == std::vector<std::string>{"r@2"});

  // Version 3 supersedes version 2 once its lease expired; a late success stays superseded.
  const std::int64_t second = messageOf(*store, "r");
  clock.set(t0 + 3 + 60000);
  accept(*store, makeItem("r", 3, "v3", "p", to("ehr")));
  CHECK(rowState(*store, "r", second) == OutboxState::kSuperseded);
  REQUIRE(store->finishAttempt(attemptOf(second, AttemptOutcome::kDelivered, t0 + 4, 200)).isOk());
  CHECK(rowState(*store, "r", second) == OutboxState::kSuperseded);
  CHECK(store->finishAttempt(attemptOf(second, AttemptOutcome::kRetry, t0 + 4, 503)).code() ==
        fhir::ErrorCode::kConflict);
}

TEMPLATE_TEST_CASE("dead letters are replayed or discarded once, audited, never over newer data",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("a", 1, "x", "p1", to("ehr")));
  accept(*store, makeItem("b", 1, "x", "p2", to("ehr")));
  const std::int64_t t0 = clock.nowMillis();
  for (const OutboxMessage& m : claim(*store, "ehr", t0)) {
    REQUIRE(store->deadLetter(m.messageId, 400, "HTTP 400").isOk());
  }
  const std::int64_t a = messageOf(*store, "a");
  const std::int64_t b = messageOf(*store, "b");

  clock.advance(1000);
  REQUIRE(store->replayDeadLetter(a, "admin").isOk());
  CHECK(rowState(*store, "a", a) == OutboxState::kPending);
  CHECK(store->replayDeadLetter(a, "admin").code() == fhir::ErrorCode::kConflict);
  CHECK(recordIdsOf(claim(*store, "ehr", clock.nowMillis())) == std::vector<std::string>{"a@1"});

  // A newer version of b is queued: replaying the old one would overwrite it.
  accept(*store, makeItem("b", 2, "y", "p2", to("ehr")));
  CHECK(store->replayDeadLetter(b, "admin").code() == fhir::ErrorCode::kConflict);
  REQUIRE(store->discardDeadLetter(b, "admin").isOk());
  CHECK(store->discardDeadLetter(b, "admin").code() == fhir::ErrorCode::kConflict);
  CHECK(store->discardDeadLetter(999999, "admin").code() == fhir::ErrorCode::kNotFound);
  auto discarded = store->getDeadLetter(b);
  REQUIRE(discarded.isOk());
  CHECK(discarded->state == OutboxState::kDiscarded);
  CHECK(discarded->attempts == 1);

  auto audit = store->listAudit(100);
  REQUIRE(audit.isOk());
  std::vector<std::string> actions;
  for (const AuditEntry& e : *audit) {
    if (e.principal == "admin") actions.push_back(e.action + " " + e.recordId + " " + e.source);
  }
  CHECK(actions == std::vector<std::string>{"deadletter-discard b ehr", "deadletter-replay a ehr"});
}

TEMPLATE_TEST_CASE("reprocess replaces the translation and queues the latest version again",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("r", 1, "x", "p", to("ehr")));
  const std::int64_t t0 = clock.nowMillis();
  auto leased = claim(*store, "ehr", t0, 1, 5000);
  REQUIRE(leased.size() == 1);
  const std::string fixed = R"({"resourceType":"Bundle","type":"transaction","id":"fixed"})";
  // Being sent right now: try again later.
  CHECK(store->reprocess("r", 1, fixed, to("ehr"), "admin").code() == fhir::ErrorCode::kConflict);
  REQUIRE(store->deadLetter(leased[0].messageId, 422, "HTTP 422").isOk());
  CHECK(store->reprocess("nope", 1, fixed, to("ehr"), "admin").code() ==
        fhir::ErrorCode::kNotFound);
  CHECK(store->reprocess("r", 2, fixed, to("ehr"), "admin").code() == fhir::ErrorCode::kNotFound);

  REQUIRE(store->reprocess("r", 1, fixed, to("lab"), "admin").isOk());
  auto view = store->getRecord("r");
  REQUIRE(view.isOk());
  CHECK(view->bundleJson == fixed);
  REQUIRE(view->deliveries.size() == 2);
  CHECK(view->deliveries[0].state == OutboxState::kSuperseded);
  CHECK(view->deliveries[1].destinationId == "lab");
  CHECK(view->deliveries[1].state == OutboxState::kPending);
  auto again = claim(*store, "lab", clock.nowMillis());
  REQUIRE(again.size() == 1);
  CHECK(again[0].bundleJson == fixed);
  CHECK(store->listDeadLetters("", 10)->empty());

  accept(*store, makeItem("r", 2, "y", "p", to("ehr")));
  CHECK(store->reprocess("r", 1, fixed, to("ehr"), "admin").code() == fhir::ErrorCode::kConflict);
  bool audited = false;
  auto audit = store->listAudit(100);
  REQUIRE(audit.isOk());
  for (const AuditEntry& e : *audit) {
    audited = audited || (e.action == "reprocess" && e.recordId == "r" && e.principal == "admin");
  }
  CHECK(audited);
}

TEMPLATE_TEST_CASE("safety lists, notices and a patient's records are kept per patient",
                   "[gateway][store][contract]", SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  CHECK(store->getMedicationList("p").status().code() == fhir::ErrorCode::kNotFound);
  IngestItem first = makeItem("plan", 1, "x", "p");
  first.recordType = "medication-plan";
  first.medicationListJson = R"({"items":[1]})";
  StoredNotice notice;
  notice.key = "notice/1";
  notice.ruleId = "managed-effect";
  notice.priority = "routine";
  notice.date = "2026-01-01";
  notice.text = "first";
  first.notices.push_back(notice);
  accept(*store, first);
  clock.advance(1000);
  IngestItem second = makeItem("plan", 2, "y", "p");
  second.recordType = "medication-plan";
  second.medicationListJson = R"({"items":[2]})";
  notice.text = "updated";
  notice.priority = "urgent";
  second.notices.push_back(notice);
  StoredNotice other = notice;
  other.key = "notice/2";
  other.text = "second";
  second.notices.push_back(other);
  accept(*store, second);
  clock.advance(1000);
  accept(*store, makeItem("m", 1, "z", "p"));
  // A conflicting version carries nothing into the lists.
  IngestItem conflict = makeItem("plan", 2, "changed", "p");
  conflict.medicationListJson = R"({"items":[3]})";
  REQUIRE(ingestOne(*store, conflict).outcome == IngestOutcome::kConflict);

  auto list = store->getMedicationList("p");
  REQUIRE(list.isOk());
  CHECK(list->listJson == R"({"items":[2]})");
  CHECK(list->version == 2);
  auto notices = store->listRecordNotices("plan");
  REQUIRE(notices.isOk());
  REQUIRE(notices->size() == 2);
  CHECK((*notices)[0].key == "notice/1");  // updated in place, keeps its place
  CHECK((*notices)[0].text == "updated");
  CHECK((*notices)[0].priority == "urgent");
  CHECK((*notices)[0].version == 2);
  auto newest = store->listPatientNotices("p", 1);
  REQUIRE(newest.isOk());
  REQUIRE(newest->size() == 1);
  CHECK((*newest)[0].key == "notice/2");
  auto records = store->listPatientRecords("p", "", 10);
  REQUIRE(records.isOk());
  REQUIRE(records->size() == 2);
  CHECK((*records)[0].recordId == "m");
  CHECK((*records)[1].recordId == "plan");
  CHECK((*records)[1].version == 2);
  auto plans = store->listPatientRecords("p", "medication-plan", 10);
  REQUIRE(plans.isOk());
  CHECK(plans->size() == 1);

  AuditQuery query;
  query.patientKey = "p";
  query.action = "ingest";
  auto ingests = store->listAuditFor(query);
  REQUIRE(ingests.isOk());
  REQUIRE(ingests->size() == 4);
  CHECK((*ingests)[3].outcome == "conflict");
  CHECK(store->listAuditFor(AuditQuery{}).status().code() == fhir::ErrorCode::kInvalid);
  AuditEntry read;
  read.principal = "reader";
  read.action = "read";
  read.recordId = "plan";
  read.outcome = "ok";
  REQUIRE(store->appendAudit(read).isOk());
  query.action = "read";
  auto reads = store->listAuditFor(query);
  REQUIRE(reads.isOk());
  REQUIRE(reads->size() == 1);
  CHECK((*reads)[0].version == 2);  // filled from the record
}

TEMPLATE_TEST_CASE("releaseLeases ends every lease and counts them", "[gateway][store][contract]",
                   SqliteKind, MemoryKind) {
  ManualClock clock;
  TestType kind;
  auto store = kind.open(clock);
  accept(*store, makeItem("a", 1, "x", "p1", to("ehr")));
  accept(*store, makeItem("b", 1, "y", "p2", to("ehr")));
  const std::int64_t t0 = clock.nowMillis();
  REQUIRE(claim(*store, "ehr", t0, 10, 300000).size() == 2);
  CHECK(*store->nextDueAt("ehr") == t0 + 300000);
  CHECK(*store->releaseLeases() == 2);
  CHECK(*store->nextDueAt("ehr") == t0);
  CHECK(recordIdsOf(claim(*store, "ehr", t0)) == std::vector<std::string>{"a@1", "b@1"});
  CHECK(*store->nextDueAt("lab") == 0);
}

}  // namespace inloop::gateway
