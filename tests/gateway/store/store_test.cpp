#include "gateway/store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/store/sqlite_store.h"

namespace inloop::gateway {
namespace {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/inloop-store-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

IngestItem makeItem(const std::string& recordId, std::int64_t version,
                    const std::string& content = "a", const std::string& patient = "mrn-1",
                    std::vector<DestinationTarget> destinations = {}) {
  IngestItem item;
  item.recordId = recordId;
  item.version = version;
  item.recordType = "measurement";
  item.practiceId = "practice-1";
  item.patientKey = patient;
  item.recordJson = R"({"recordId":")" + recordId + R"(","note":")" + content + R"("})";
  item.contentHash = sha256Hex(item.recordJson).value();
  item.bundleJson = R"({"resourceType":"Bundle","type":"transaction"})";
  item.destinations = std::move(destinations);
  item.principal = "clinic-export";
  item.source = "http";
  return item;
}

std::vector<DestinationTarget> to(const std::string& destinationId) {
  return {DestinationTarget{destinationId, OutboxState::kPending, ""}};
}

std::unique_ptr<Store> open(const TempDir& dir, const Clock& clock,
                            SqliteStoreOptions options = {}) {
  auto store = openSqliteStore(dir.file("inloop.db"), options, clock);
  INFO(store.status().toString());
  REQUIRE(store.isOk());
  return std::move(store).value();
}

IngestResult ingestOne(Store& store, IngestItem item) {
  std::vector<IngestItem> items;
  items.push_back(std::move(item));
  auto results = store.ingest(std::move(items));
  INFO(results.status().toString());
  REQUIRE(results.isOk());
  REQUIRE(results->size() == 1);
  return results->front();
}

std::vector<OutboxMessage> claim(Store& store, const std::string& destination, std::int64_t now,
                                 int limit = 10, std::int64_t leaseFor = 60000) {
  auto messages = store.claimDue(destination, now, limit, leaseFor);
  INFO(messages.status().toString());
  REQUIRE(messages.isOk());
  return std::move(messages).value();
}

std::vector<std::string> recordIdsOf(const std::vector<OutboxMessage>& messages) {
  std::vector<std::string> ids;
  for (const auto& m : messages) ids.push_back(m.recordId + "@" + std::to_string(m.version));
  std::sort(ids.begin(), ids.end());
  return ids;
}

int fileMode(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return static_cast<int>(info.st_mode & 0777);
}

}  // namespace

TEST_CASE("sha256Hex and formatInstant give known values", "[gateway][store]") {
  CHECK(sha256Hex("").value() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256Hex("abc").value() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 incremental;
  incremental.update("a");
  incremental.update("bc");
  CHECK(toHex(incremental.finish().value()) == sha256Hex("abc").value());

  struct Case {
    std::int64_t millis;
    const char* text;
  };
  const Case cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1714557600123, "2024-05-01T10:00:00.123Z"},
      {951782400000, "2000-02-29T00:00:00.000Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
  };
  for (const Case& c : cases) CHECK(formatInstant(c.millis) == c.text);

  ManualClock clock(1000);
  clock.advance(500);
  CHECK(clock.nowMillis() == 1500);
}

TEST_CASE("ingest decides accepted, replay, conflict and stale per item", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);

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

TEST_CASE("items of one call are decided in order", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
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

TEST_CASE("outbox rows: unroutable marker, pending, patient-unmatched", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
  REQUIRE(ingestOne(*store, makeItem("rec-u", 1)).outcome == IngestOutcome::kAccepted);
  std::vector<DestinationTarget> two = {{"ehr", OutboxState::kPending, ""},
                                        {"engine", OutboxState::kPatientUnmatched, "no pcpId"}};
  REQUIRE(ingestOne(*store, makeItem("rec-r", 1, "a", "mrn-1", two)).outcome ==
          IngestOutcome::kAccepted);

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
  CHECK(stats->dbFileBytes > 0);
  // Parked and unroutable rows are never handed out.
  CHECK(claim(*store, "engine", clock.nowMillis()).empty());
  CHECK(claim(*store, "", clock.nowMillis()).empty());
}

TEST_CASE("unroutable markers are listed and routed once, in one transaction with an audit row",
          "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
  REQUIRE(ingestOne(*store, makeItem("u1", 1, "a", "mrn-1")).outcome == IngestOutcome::kAccepted);
  REQUIRE(ingestOne(*store, makeItem("u2", 1, "a", "mrn-2")).outcome == IngestOutcome::kAccepted);
  REQUIRE(ingestOne(*store, makeItem("r1", 1, "a", "mrn-1", to("ehr"))).outcome ==
          IngestOutcome::kAccepted);
  // A newer unroutable version replaces the older marker: one marker per record.
  REQUIRE(ingestOne(*store, makeItem("u2", 2, "b", "mrn-2")).outcome == IngestOutcome::kAccepted);

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

TEST_CASE("claimDue is FIFO per patient and patients do not block each other", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
  for (const auto& [recordId, patient] : std::vector<std::pair<std::string, std::string>>{
           {"a1", "p1"}, {"a2", "p1"}, {"b1", "p2"}, {"b2", "p2"}, {"c1", "p3"}}) {
    REQUIRE(ingestOne(*store, makeItem(recordId, 1, "x", patient, to("ehr"))).outcome ==
            IngestOutcome::kAccepted);
  }
  REQUIRE(ingestOne(*store, makeItem("other", 1, "x", "p1", to("lab"))).outcome ==
          IngestOutcome::kAccepted);
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

TEST_CASE("an expired lease makes the message due again", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
  REQUIRE(ingestOne(*store, makeItem("r", 1, "x", "p", to("ehr"))).outcome ==
          IngestOutcome::kAccepted);
  const std::int64_t t0 = clock.nowMillis();
  auto first = claim(*store, "ehr", t0, 10, 5000);
  REQUIRE(first.size() == 1);
  CHECK(first[0].leaseUntilMillis == t0 + 5000);
  CHECK(claim(*store, "ehr", t0 + 4999).empty());
  auto again = claim(*store, "ehr", t0 + 5000);
  REQUIRE(again.size() == 1);
  CHECK(again[0].messageId == first[0].messageId);
}

TEST_CASE("releaseLeases makes leased messages due at once (a restart after a crash)",
          "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  const std::int64_t t0 = clock.nowMillis();
  {
    auto store = open(dir, clock);
    REQUIRE(ingestOne(*store, makeItem("a", 1, "x", "p1", to("ehr"))).outcome ==
            IngestOutcome::kAccepted);
    REQUIRE(ingestOne(*store, makeItem("b", 1, "y", "p2", to("ehr"))).outcome ==
            IngestOutcome::kAccepted);
    REQUIRE(claim(*store, "ehr", t0, 10, 300000).size() == 2);
    CHECK(claim(*store, "ehr", t0 + 1).empty());
  }  // the process "dies" holding both leases
  auto store = open(dir, clock);
  CHECK(claim(*store, "ehr", t0 + 1).empty());  // still leased after reopening
  auto released = store->releaseLeases();
  REQUIRE(released.isOk());
  CHECK(*released == 2);
  auto again = claim(*store, "ehr", t0 + 1);
  CHECK(recordIdsOf(again) == std::vector<std::string>{"a@1", "b@1"});
  auto none = store->releaseLeases();
  REQUIRE(none.isOk());
  CHECK(*none == 2);  // the new claims' leases
  CHECK(recordIdsOf(claim(*store, "ehr", t0 + 2)) == std::vector<std::string>{"a@1", "b@1"});
}

TEST_CASE("a newer version supersedes older undelivered rows", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
  REQUIRE(ingestOne(*store, makeItem("r", 1, "v1", "p", to("ehr"))).outcome ==
          IngestOutcome::kAccepted);
  REQUIRE(ingestOne(*store, makeItem("r", 2, "v2", "p", to("ehr"))).outcome ==
          IngestOutcome::kAccepted);
  REQUIRE(ingestOne(*store, makeItem("u", 1, "v1", "p")).outcome == IngestOutcome::kAccepted);
  REQUIRE(ingestOne(*store, makeItem("u", 2, "v2", "p", to("ehr"))).outcome ==
          IngestOutcome::kAccepted);

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

TEST_CASE("audit rows say who, what and when, never the payload", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
  IngestItem item = makeItem("rec-a", 1, "Jane Doe 1970-01-01 secret note");
  REQUIRE(ingestOne(*store, item).outcome == IngestOutcome::kAccepted);
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

TEST_CASE("purge clears only fully delivered records older than the cutoff", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  auto store = open(dir, clock);
  REQUIRE(ingestOne(*store, makeItem("done", 1, "x", "p1", to("ehr"))).outcome ==
          IngestOutcome::kAccepted);
  REQUIRE(ingestOne(*store, makeItem("waiting", 1, "x", "p2", to("ehr"))).outcome ==
          IngestOutcome::kAccepted);
  REQUIRE(ingestOne(*store, makeItem("unroutable", 1, "x", "p3")).outcome ==
          IngestOutcome::kAccepted);
  std::vector<DestinationTarget> both = {{"ehr", OutboxState::kPending, ""},
                                         {"lab", OutboxState::kPending, ""}};
  REQUIRE(ingestOne(*store, makeItem("half", 1, "x", "p4", both)).outcome ==
          IngestOutcome::kAccepted);
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

TEST_CASE("schema migrations, reopen, newer schema refused, file mode 0600", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  const std::string path = dir.file("inloop.db");
  std::string receiptId;
  {
    auto store = open(dir, clock);
    receiptId = ingestOne(*store, makeItem("rec-1", 1, "x", "p", to("ehr"))).receipt.receiptId;
    REQUIRE(store->checkWritable().isOk());
    CHECK(fileMode(path) == 0600);
    CHECK(fileMode(path + "-wal") == 0600);
    CHECK(fileMode(path + "-shm") == 0600);
  }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_int(stmt, 0) == kStoreSchemaVersion);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  {
    auto store = open(dir, clock);
    auto view = store->getRecord("rec-1");
    REQUIRE(view.isOk());
    CHECK(view->receipt.receiptId == receiptId);
    CHECK(view->deliveries.size() == 1);
    CHECK(ingestOne(*store, makeItem("rec-1", 1, "x")).outcome == IngestOutcome::kReplay);
  }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto refused = openSqliteStore(path, {}, clock);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().code() == fhir::ErrorCode::kUnsupported);
  CHECK(refused.status().message().find("newer") != std::string::npos);

  auto missingDir = openSqliteStore(dir.file("no/such/dir.db"), {}, clock);
  CHECK(missingDir.status().code() == fhir::ErrorCode::kIoError);
  {
    std::FILE* junk = std::fopen(dir.file("junk.db").c_str(), "w");
    REQUIRE(junk != nullptr);
    std::fputs("this is not a database file, not at all, no header here......", junk);
    std::fclose(junk);
  }
  CHECK(openSqliteStore(dir.file("junk.db"), {}, clock).status().code() ==
        fhir::ErrorCode::kIoError);
}

TEST_CASE("concurrent ingests are group-committed", "[gateway][store]") {
  TempDir dir;
  SystemClock clock;
  auto store = open(dir, clock);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 200;
  std::atomic<int> accepted{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        std::vector<IngestItem> items;
        items.push_back(makeItem(id, 1, "x", "p" + std::to_string(t), to("ehr")));
        auto results = store->ingest(std::move(items));
        if (results.isOk() && results->front().outcome == IngestOutcome::kAccepted) {
          ++accepted;
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  CHECK(accepted.load() == kThreads * kPerThread);
  auto stats = store->stats();
  REQUIRE(stats.isOk());
  CHECK(stats->versions == kThreads * kPerThread);
  CHECK(stats->outboxByState["pending"] == kThreads * kPerThread);
  CHECK(stats->committedWrites == static_cast<std::uint64_t>(kThreads * kPerThread));
  // Batching happened: far fewer transactions (fsyncs) than records.
  INFO("commits: " << stats->commits);
  CHECK(stats->commits < static_cast<std::uint64_t>(kThreads * kPerThread) / 2);
  CHECK(store->getRecord("t15-199").isOk());
}

TEST_CASE("a full write queue answers unavailable instead of waiting", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  SqliteStoreOptions options;
  options.maxQueuedItems = 2;
  options.busyTimeoutMillis = 60000;
  auto store = open(dir, clock, options);

  // Another connection holds the write lock, so the writer blocks in BEGIN.
  sqlite3* blocker = nullptr;
  REQUIRE(sqlite3_open(dir.file("inloop.db").c_str(), &blocker) == SQLITE_OK);
  REQUIRE(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);

  auto queued = [&] { return store->stats().value().queuedItems; };
  // Catch2 assertions are not thread-safe: the threads only record what happened.
  std::atomic<bool> firstOk{false};
  std::atomic<bool> secondOk{false};
  std::thread first([&] {
    std::vector<IngestItem> items;
    items.push_back(makeItem("first", 1));
    firstOk = store->ingest(std::move(items)).isOk();
  });
  // Wait until the writer took "first" off the queue and is blocked on the lock.
  while (store->stats().value().committingItems != 1) std::this_thread::yield();
  CHECK(queued() == 0);
  std::thread second([&] {
    std::vector<IngestItem> items;
    items.push_back(makeItem("second-a", 1));
    items.push_back(makeItem("second-b", 1));
    secondOk = store->ingest(std::move(items)).isOk();
  });
  while (queued() != 2) std::this_thread::yield();

  std::vector<IngestItem> items;
  items.push_back(makeItem("third", 1));
  auto refused = store->ingest(std::move(items));
  CHECK(refused.status().code() == fhir::ErrorCode::kUnavailable);

  REQUIRE(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(blocker);
  first.join();
  second.join();
  CHECK(firstOk.load());
  CHECK(secondOk.load());
  CHECK(store->getRecord("first").isOk());
  CHECK(store->getRecord("second-b").isOk());
  CHECK(store->getRecord("third").status().code() == fhir::ErrorCode::kNotFound);
}

}  // namespace inloop::gateway

namespace inloop::gateway {

TEST_CASE("every outbox state and attempt outcome name reads back", "[gateway][store]") {
  for (OutboxState s :
       {OutboxState::kPending, OutboxState::kUnroutable, OutboxState::kPatientUnmatched,
        OutboxState::kDelivered, OutboxState::kDeadLetter, OutboxState::kSuperseded,
        OutboxState::kDiscarded, OutboxState::kNotSent}) {
    OutboxState back = OutboxState::kPending;
    INFO(outboxStateName(s));
    REQUIRE(parseOutboxState(outboxStateName(s), &back));
    CHECK(back == s);
  }
  for (AttemptOutcome o :
       {AttemptOutcome::kDelivered, AttemptOutcome::kRetry, AttemptOutcome::kDeadLetter,
        AttemptOutcome::kParked, AttemptOutcome::kNotSent}) {
    AttemptOutcome back = AttemptOutcome::kRetry;
    INFO(attemptOutcomeName(o));
    REQUIRE(parseAttemptOutcome(attemptOutcomeName(o), &back));
    CHECK(back == o);
  }
  OutboxState ignored;
  CHECK_FALSE(parseOutboxState("sent", &ignored));
}

}  // namespace inloop::gateway
