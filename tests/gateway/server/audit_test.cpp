// Audit of PHI access and the accounting of disclosures (issue 16 item 5,
// docs/security.md "Audit and accounting of disclosures"): every delivered
// record version leaves a "disclose" row written with the state change; every
// request on a PHI or admin route leaves a row with principal and remote
// address, refused ones as attempts; `inloop disclosures MRN` prints one
// patient's disclosures and nothing of another's.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/cli/cli.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"
#include "tests/gateway/support/cli_run.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/fhir_receiver_script.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::fhir::Json;
using inloop::gateway::AttemptOutcome;
using inloop::gateway::AuditEntry;
using inloop::gateway::AuditQuery;
using inloop::gateway::DeliveryAttempt;
using inloop::gateway::DestinationTarget;
using inloop::gateway::IngestItem;
using inloop::gateway::ManualClock;
using inloop::gateway::OutboxState;
using inloop::gateway::Store;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::kAdminToken;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::kReadToken;
using inloop::server_testing::TempDir;
using inloop::testing::CliRun;
using inloop::testing::runInloop;

// The example measurement: record M-2026-118834 of patient PC-448812 (Alvarez).
constexpr const char* kRecordId = "M-2026-118834";
constexpr const char* kMrn = "PC-448812";

IngestItem auditItem(const std::string& recordId, const std::string& mrn,
                     const std::string& destinationId) {
  IngestItem item;
  item.recordId = recordId;
  item.version = 1;
  item.recordType = "measurement";
  item.practiceId = "practice-1";
  item.patientKey = mrn;
  item.recordJson = R"({"recordId":")" + recordId + R"(","name":"Jane Secret"})";
  item.contentHash = inloop::gateway::sha256Hex(item.recordJson).value();
  item.bundleJson = R"({"resourceType":"Bundle","type":"transaction","entry":[]})";
  item.destinations = {DestinationTarget{destinationId, OutboxState::kPending, ""}};
  item.principal = "audit-test";
  item.source = "http";
  return item;
}

std::vector<AuditEntry> disclosuresOf(Store& store, const std::string& mrn) {
  AuditQuery query;
  query.patientKey = mrn;
  query.action = "disclose";
  auto rows = store.listAuditFor(query);
  REQUIRE(rows.isOk());
  return *rows;
}

// Claims the one due message of `destinationId` and reports `outcome` for it.
void report(Store& store, ManualClock& clock, const std::string& destinationId,
            AttemptOutcome outcome, const std::string& kind) {
  auto claimed = store.claimDue(destinationId, clock.nowMillis(), 10, 60000);
  REQUIRE(claimed.isOk());
  REQUIRE(claimed->size() == 1);
  DeliveryAttempt attempt;
  attempt.messageId = claimed->front().messageId;
  attempt.outcome = outcome;
  attempt.httpStatus = outcome == AttemptOutcome::kRetry ? 503 : 200;
  attempt.endpointKind = kind;
  REQUIRE(store.finishAttempt(attempt).isOk());
}

// Every audit row of the store (newest first).
std::vector<AuditEntry> allAudit(const std::filesystem::path& db) {
  ManualClock clock(0);
  auto store = inloop::gateway::openSqliteStore(db.string(), {}, clock);
  REQUIRE(store.isOk());
  auto rows = (*store)->listAudit(1000);
  REQUIRE(rows.isOk());
  return *rows;
}

const AuditEntry* findRow(const std::vector<AuditEntry>& rows, const std::string& principal,
                          const std::string& source, const std::string& outcome) {
  for (const AuditEntry& e : rows) {
    if (e.principal == principal && e.source == source && e.outcome == outcome) return &e;
  }
  return nullptr;
}

TEST_CASE("a delivered message leaves one disclosure row, written with the state change",
          "[gateway][audit]") {
  TempDir tmp;
  ManualClock clock(1'765'000'000'000);
  auto opened = inloop::gateway::openSqliteStore((tmp.path() / "inloop.db").string(), {}, clock);
  REQUIRE(opened.isOk());
  Store& store = **opened;
  auto ingested =
      store.ingest({auditItem("D-1", "MRN-D", "ehr"), auditItem("D-2", "MRN-E", "drop")});
  REQUIRE(ingested.isOk());

  // A retry discloses nothing; the delivery that follows discloses once.
  report(store, clock, "ehr", AttemptOutcome::kRetry, "fhir-put");
  CHECK(disclosuresOf(store, "MRN-D").empty());
  report(store, clock, "ehr", AttemptOutcome::kDelivered, "fhir-put");
  std::vector<AuditEntry> rows = disclosuresOf(store, "MRN-D");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].principal == "delivery");
  CHECK(rows[0].recordId == "D-1");
  CHECK(rows[0].version == 1);
  CHECK(rows[0].recordType == "measurement");
  CHECK(rows[0].destinationId == "ehr");
  CHECK(rows[0].source == "fhir-put");
  CHECK(rows[0].atMillis == clock.nowMillis());
  CHECK(rows[0].detail.find("Jane") == std::string::npos);

  // ndjson-dir: written is not disclosed; publication is.
  report(store, clock, "drop", AttemptOutcome::kWritten, "ndjson-dir");
  CHECK(disclosuresOf(store, "MRN-E").empty());
  auto published = store.markPublished("drop", {}, "/out/file.ndjson", "ndjson-dir");
  REQUIRE(published.isOk());
  CHECK(*published == 1);
  rows = disclosuresOf(store, "MRN-E");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].recordId == "D-2");
  CHECK(rows[0].destinationId == "drop");
  CHECK(rows[0].source == "ndjson-dir");
  // Nothing of one patient in the other's accounting.
  CHECK(disclosuresOf(store, "MRN-D").size() == 1);
}

TEST_CASE("the delivery engine's delivery to a FHIR server is disclosed with the endpoint kind",
          "[gateway][audit]") {
  inloop::testing::FaultReceiver receiver;
  inloop::delivery_testing::serveMetadata(receiver);
  // SQLite: the disclosure row is written by the product's store, in the
  // transaction that makes the message delivered.
  inloop::delivery_testing::EngineHarness h(inloop::delivery_testing::quickSettings(),
                                            inloop::delivery_testing::HarnessStore::kSqlite);
  h.configure(inloop::delivery_testing::ehr(receiver));
  REQUIRE(h.ingest(inloop::delivery_testing::measurement("DISC-1", 1, "MRN-DISC")) ==
          inloop::gateway::IngestStatus::kAccepted);
  REQUIRE(inloop::delivery_testing::waitUntil(
      h.changes(), [&] { return h.is("DISC-1", OutboxState::kDelivered); }));
  std::vector<AuditEntry> rows = disclosuresOf(h.store(), "MRN-DISC");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].recordId == "DISC-1");
  CHECK(rows[0].destinationId == "ehr");
  CHECK(rows[0].source == "fhir-transaction");
}

TEST_CASE("a PHI read is audited with principal and remote address, refused reads as attempts",
          "[gateway][audit]") {
  DaemonFixture d;
  REQUIRE(d.startError().empty());
  REQUIRE(d.request("POST", "/records", kIngestToken, exampleRecord("measurement-pain-nrs.json"))
              .status == 202);
  const std::string recordPath = std::string("/records/") + kRecordId;
  CHECK(d.request("GET", recordPath, kReadToken).status == 200);
  CHECK(d.request("GET", recordPath).status == 401);
  CHECK(d.request("GET", recordPath, kIngestToken).status == 403);
  CHECK(d.request("GET", "/records/NO-SUCH-RECORD", kReadToken).status == 404);
  CHECK(d.request("GET", std::string("/patients/") + kMrn + "/summary", kReadToken).status == 200);
  CHECK(d.request("GET", std::string("/deliveries?recordId=") + kRecordId, kIngestToken).status ==
        403);

  // The patient's audit through the API (admin), oldest first.
  auto reply = d.request("GET", std::string("/audit?patient=") + kMrn, kAdminToken);
  REQUIRE(reply.status == 200);
  CHECK(reply.body.find("Alvarez") == std::string::npos);
  CHECK(reply.body.find("Maria") == std::string::npos);
  const Json body = reply.json();
  const Json* audit = body.find("audit");
  REQUIRE(audit != nullptr);
  std::vector<std::string> seen;
  for (const Json& row : audit->items()) {
    using inloop::delivery_testing::textOf;
    if (textOf(row, "action") != "read") continue;
    CHECK(textOf(row, "remoteAddress") == "127.0.0.1");
    CHECK(textOf(row, "patient") == kMrn);
    seen.push_back(textOf(row, "principal") + " " + textOf(row, "source") + " " +
                   textOf(row, "outcome") + " " + textOf(row, "recordId") + " " +
                   textOf(row, "detail"));
  }
  CHECK(seen == std::vector<std::string>{
                    "reader GET /records/{recordId} ok M-2026-118834 HTTP 200",
                    "anonymous GET /records/{recordId} attempt M-2026-118834 HTTP 401",
                    "ingester GET /records/{recordId} attempt M-2026-118834 HTTP 403",
                    "reader GET /patients/{mrn}/summary ok  HTTP 200",
                    "ingester GET /deliveries attempt M-2026-118834 HTTP 403",
                });
  d.stopAndLog();
  // The 404 names no patient; it is audited all the same.
  const std::vector<AuditEntry> all = allAudit(d.tmp() / "data" / "inloop.db");
  const AuditEntry* missing = nullptr;
  for (const AuditEntry& e : all) {
    if (e.recordId == "NO-SUCH-RECORD") missing = &e;
  }
  REQUIRE(missing != nullptr);
  CHECK(missing->principal == "reader");
  CHECK(missing->outcome == "attempt");
  CHECK(missing->detail == "HTTP 404");
  CHECK(missing->remoteAddress == "127.0.0.1");
}

TEST_CASE("an admin action is audited with principal and remote address, a refused one too",
          "[gateway][audit]") {
  DaemonFixture d;
  REQUIRE(d.startError().empty());
  CHECK(d.request("POST", "/admin/reload", kAdminToken, "{}").status == 200);
  CHECK(d.request("POST", "/admin/reload", kReadToken, "{}").status == 403);
  CHECK(d.request("POST", "/deadletters/42/replay", kAdminToken, "{}").status == 404);
  d.stopAndLog();
  const std::vector<AuditEntry> all = allAudit(d.tmp() / "data" / "inloop.db");
  const AuditEntry* reload = findRow(all, "admin", "POST /admin/reload", "ok");
  REQUIRE(reload != nullptr);
  CHECK(reload->action == "admin");
  CHECK(reload->remoteAddress == "127.0.0.1");
  const AuditEntry* refused = findRow(all, "reader", "POST /admin/reload", "attempt");
  REQUIRE(refused != nullptr);
  CHECK(refused->detail == "HTTP 403");
  const AuditEntry* replay = findRow(all, "admin", "POST /deadletters/{id}/{action}", "attempt");
  REQUIRE(replay != nullptr);
  CHECK(replay->detail == "HTTP 404, message 42");
}

TEST_CASE("inloop disclosures prints one patient's disclosures and nothing of another's",
          "[gateway][audit][cli]") {
  TempDir tmp;
  const std::string dataDir = tmp.path().string();
  ManualClock clock(1'765'000'000'000);  // 2025-12-06T05:46:40Z
  {
    auto opened = inloop::gateway::openSqliteStore((tmp.path() / "inloop.db").string(), {}, clock);
    REQUIRE(opened.isOk());
    Store& store = **opened;
    REQUIRE(store.ingest({auditItem("A-1", "MRN-A", "ehr"), auditItem("B-1", "MRN-B", "clinic")})
                .isOk());
    report(store, clock, "ehr", AttemptOutcome::kDelivered, "fhir-put");
    report(store, clock, "clinic", AttemptOutcome::kDelivered, "fhir-transaction");
    clock.advance(60'000);
    REQUIRE(store.ingest({auditItem("A-2", "MRN-A", "clinic")}).isOk());
    report(store, clock, "clinic", AttemptOutcome::kDelivered, "fhir-transaction");
  }

  CliRun r = runInloop({"disclosures", "MRN-A", "--data-dir", dataDir});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out ==
        "at\trecordId\tversion\trecordType\tdestination\tendpointKind\n"
        "2025-12-06T05:46:40.000Z\tA-1\t1\tmeasurement\tehr\tfhir-put\n"
        "2025-12-06T05:47:40.000Z\tA-2\t1\tmeasurement\tclinic\tfhir-transaction\n");
  CHECK(r.out.find("B-1") == std::string::npos);
  CHECK(r.out.find("Jane") == std::string::npos);

  r = runInloop(
      {"disclosures", "MRN-A", "--data-dir", dataDir, "--since", "2025-12-06T05:47:00Z", "--json"});
  REQUIRE(r.code == 0);
  auto doc = inloop::fhir::parseJson(r.out);
  REQUIRE(doc.isOk());
  const Json* list = doc->find("disclosures");
  REQUIRE(list != nullptr);
  REQUIRE(list->items().size() == 1);
  CHECK(inloop::delivery_testing::textOf(list->items()[0], "recordId") == "A-2");
  CHECK(inloop::delivery_testing::textOf(list->items()[0], "destination") == "clinic");
  CHECK(r.out.find("MRN-B") == std::string::npos);

  r = runInloop({"disclosures", "MRN-B", "--data-dir", dataDir});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("B-1") != std::string::npos);
  CHECK(r.out.find("A-") == std::string::npos);

  CHECK(runInloop({"disclosures", "--data-dir", dataDir}).code == 2);
  CHECK(runInloop({"disclosures", "MRN-A", "--since", "yesterday", "--data-dir", dataDir}).code ==
        2);
}

}  // namespace
