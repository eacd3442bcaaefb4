// The delivery engine against the fault-injecting receiver (real HTTP on
// loopback, port 0): retries with Retry-After / 429 / 500, timeouts, resets,
// slow responses, 422 -> dead letter with the outcome kept, replay/discard,
// FIFO per patient without head-of-line blocking across patients, collapse of
// superseded versions, patient-unmatched release, circuit breaker and alert.
// Time is a ManualClock: advancing it wakes the workers and the test's waits.
// The store is the in-memory one (store_contract_test.cpp holds it to
// SQLite's semantics).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/fhir_receiver_script.h"

using inloop::delivery_testing::carried;
using inloop::delivery_testing::ehr;
using inloop::delivery_testing::EngineHarness;
using inloop::delivery_testing::kTransactionResponse;
using inloop::delivery_testing::measurement;
using inloop::delivery_testing::posts;
using inloop::delivery_testing::quickSettings;
using inloop::delivery_testing::serveMetadata;
using inloop::delivery_testing::waitUntil;
using inloop::gateway::AttemptOutcome;
using inloop::gateway::CircuitState;
using inloop::gateway::DeliverySettings;
using inloop::gateway::IngestStatus;
using inloop::gateway::OutboxState;
using inloop::mappings::DestinationKind;
using inloop::mappings::DestinationProfile;
using inloop::mappings::PatientMatchingMode;
using inloop::testing::FaultReceiver;
using inloop::testing::ReceivedRequest;
using inloop::testing::Step;

TEST_CASE("503 Retry-After, 429, 500 then success: retried at the right times, ledger complete",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  serveMetadata(receiver);
  receiver.script({Step::retryAfter(503, "2"), Step::retryAfter(429, "1"), Step::respond(500),
                   Step::respond(200, kTransactionResponse)});
  EngineHarness h(quickSettings());
  h.configure(ehr(receiver));
  const std::int64_t t0 = h.clock().nowMillis();
  REQUIRE(h.ingest(measurement("RETRY-1", 1, "MRN-R1")) == IngestStatus::kAccepted);

  REQUIRE(waitUntil(h.changes(), [&] { return h.attempts("RETRY-1").size() == 1; }));
  auto a = h.attempts("RETRY-1");
  CHECK(a[0].outcome == AttemptOutcome::kRetry);
  CHECK(a[0].httpStatus == 503);
  CHECK(a[0].nextAttemptAtMillis == t0 + 2000);  // Retry-After over zero jitter
  CHECK(h.is("RETRY-1", OutboxState::kPending));

  h.advance(2000);
  REQUIRE(waitUntil(h.changes(), [&] { return h.attempts("RETRY-1").size() == 2; }));
  a = h.attempts("RETRY-1");
  CHECK(a[1].httpStatus == 429);
  CHECK(a[1].nextAttemptAtMillis == t0 + 3000);

  // The 500 gets the (zero-jitter) backoff: due at once, then the success.
  h.advance(1000);
  REQUIRE(waitUntil(h.changes(), [&] { return h.is("RETRY-1", OutboxState::kDelivered); }));
  a = h.attempts("RETRY-1");
  REQUIRE(a.size() == 4);
  CHECK(a[2].outcome == AttemptOutcome::kRetry);
  CHECK(a[2].httpStatus == 500);
  CHECK(a[3].outcome == AttemptOutcome::kDelivered);
  CHECK(a[3].httpStatus == 200);
  CHECK(posts(receiver).size() == 4);
  CHECK(h.rows("RETRY-1").back().attempts == 4);

  auto status = h.engine().status();
  REQUIRE(status.size() == 1);
  CHECK(status[0].counters.delivered == 1);
  CHECK(status[0].counters.retried == 3);
  CHECK(status[0].capabilities.has_value());
  CHECK(status[0].effectiveKind == "fhir-transaction");
}

TEST_CASE("timeouts and resets mid-response are retried - a slow response is waited for",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  serveMetadata(receiver);
  EngineHarness h(quickSettings());
  receiver.notifyOn(&h.changes());
  DestinationProfile p = ehr(receiver);

  SECTION("timeout, then reset, then success") {
    p.timeouts.requestMs = 300;
    receiver.script(
        {Step::stall(), Step::resetMidResponse(), Step::respond(200, kTransactionResponse)});
    h.configure(p);
    REQUIRE(h.ingest(measurement("NET-1", 1, "MRN-N1")) == IngestStatus::kAccepted);
    REQUIRE(waitUntil(h.changes(), [&] { return h.is("NET-1", OutboxState::kDelivered); }));
    auto a = h.attempts("NET-1");
    REQUIRE(a.size() == 3);
    CHECK(a[0].outcome == AttemptOutcome::kRetry);
    CHECK(a[0].httpStatus == 0);
    CHECK(a[0].error.find("timeout") != std::string::npos);
    CHECK(a[1].outcome == AttemptOutcome::kRetry);
    CHECK(a[1].httpStatus == 0);
    CHECK(a[2].outcome == AttemptOutcome::kDelivered);
    receiver.releaseStalls();
  }
  SECTION("slow response within the timeout") {
    receiver.script({Step::stall(200, kTransactionResponse)});
    h.configure(p);
    REQUIRE(h.ingest(measurement("SLOW-1", 1, "MRN-S1")) == IngestStatus::kAccepted);
    REQUIRE(waitUntil(h.changes(), [&] { return posts(receiver).size() == 1; }));
    CHECK(h.attempts("SLOW-1").empty());  // still waiting for the answer
    CHECK(h.is("SLOW-1", OutboxState::kPending));
    receiver.releaseStalls();
    REQUIRE(waitUntil(h.changes(), [&] { return h.is("SLOW-1", OutboxState::kDelivered); }));
    CHECK(h.attempts("SLOW-1").size() == 1);
    CHECK(posts(receiver).size() == 1);
  }
}

TEST_CASE(
    "422 with OperationOutcome dead-letters with the outcome - the patient's queue moves on - "
    "replay and discard",
    "[gateway][delivery]") {
  FaultReceiver receiver;
  serveMetadata(receiver);
  receiver.script({Step::operationOutcome(422, "invalid", "Observation.code: unknown code X")});
  EngineHarness h(quickSettings());
  h.configure(ehr(receiver));
  REQUIRE(h.ingest(measurement("DL-1", 1, "MRN-D")) == IngestStatus::kAccepted);
  REQUIRE(h.ingest(measurement("DL-2", 1, "MRN-D")) == IngestStatus::kAccepted);

  REQUIRE(waitUntil(h.changes(), [&] { return h.is("DL-2", OutboxState::kDelivered); }));
  CHECK(h.is("DL-1", OutboxState::kDeadLetter));
  CHECK(carried(receiver, {"DL-1", "DL-2"}) == std::vector<std::string>{"DL-1", "DL-2"});
  auto a = h.attempts("DL-1");
  REQUIRE(a.size() == 1);
  CHECK(a[0].outcome == AttemptOutcome::kDeadLetter);
  CHECK(a[0].httpStatus == 422);
  CHECK(a[0].operationOutcome.find("unknown code X") != std::string::npos);

  auto list = h.store().listDeadLetters("", 10);
  REQUIRE(list.isOk());
  REQUIRE(list->size() == 1);
  const std::int64_t id = (*list)[0].messageId;
  CHECK((*list)[0].recordId == "DL-1");
  auto shown = h.operations().deadLetter(id);
  REQUIRE(shown.isOk());
  CHECK(inloop::fhir::writeJson(*shown).find("unknown code X") != std::string::npos);

  SECTION("replay delivers it") {
    REQUIRE(h.operations().replay(id, "admin").isOk());
    REQUIRE(waitUntil(h.changes(), [&] { return h.is("DL-1", OutboxState::kDelivered); }));
    a = h.attempts("DL-1");
    REQUIRE(a.size() == 2);
    CHECK(a[1].outcome == AttemptOutcome::kDelivered);
    CHECK(h.store().listDeadLetters("", 10)->empty());
    // Replaying something that is not dead-lettered is refused.
    CHECK(h.store().replayDeadLetter(id, "admin").code() == inloop::fhir::ErrorCode::kConflict);
  }
  SECTION("discard keeps it visible and refuses a later replay") {
    REQUIRE(h.operations().discard(id, "admin").isOk());
    CHECK(h.is("DL-1", OutboxState::kDiscarded));
    CHECK(h.store().listDeadLetters("", 10)->empty());
    CHECK(h.store().replayDeadLetter(id, "admin").code() == inloop::fhir::ErrorCode::kConflict);
    auto audit = h.store().listAudit(5);
    REQUIRE(audit.isOk());
    CHECK(audit->front().action == "deadletter-discard");
  }
}

TEST_CASE("a blocked patient does not delay others - order per patient is kept",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  serveMetadata(receiver);
  const std::string caps = inloop::delivery_testing::peerCapabilities();
  // Patient A's records always get 503 with a long Retry-After.
  receiver.setHandler([caps](const ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET" && r.target.ends_with("/metadata")) return Step::respond(200, caps);
    if (r.body.find("\"BLOCKA-") != std::string::npos) return Step::retryAfter(503, "3600");
    return std::nullopt;
  });
  EngineHarness h(quickSettings());
  h.configure(ehr(receiver));
  const std::vector<std::string> order = {"BLOCKA-1", "FREEB-1", "FREEB-2", "BLOCKA-2", "FREEB-3"};
  for (const std::string& id : order) {
    const std::string mrn = id.starts_with("BLOCKA") ? "MRN-A" : "MRN-B";
    REQUIRE(h.ingest(measurement(id, 1, mrn)) == IngestStatus::kAccepted);
  }
  // B's last record delivered, and A's head answered (its worker may still be
  // on the wire when B's queue is done).
  REQUIRE(waitUntil(h.changes(), [&] {
    return h.is("FREEB-3", OutboxState::kDelivered) && !h.attempts("BLOCKA-1").empty();
  }));
  CHECK(h.is("FREEB-1", OutboxState::kDelivered));
  CHECK(h.is("FREEB-2", OutboxState::kDelivered));
  CHECK(carried(receiver, {"FREEB-1", "FREEB-2", "FREEB-3"}) ==
        std::vector<std::string>{"FREEB-1", "FREEB-2", "FREEB-3"});
  // A's head keeps retrying (not dead-lettered); A's next record waits behind it.
  CHECK(h.is("BLOCKA-1", OutboxState::kPending));
  CHECK(h.attempts("BLOCKA-1").size() == 1);
  CHECK(h.is("BLOCKA-2", OutboxState::kPending));
  CHECK(h.attempts("BLOCKA-2").empty());
  CHECK(carried(receiver, {"BLOCKA-2"}).empty());
}

TEST_CASE(
    "queued superseded versions collapse to the newest - patient-unmatched is released by "
    "a later version",
    "[gateway][delivery]") {
  FaultReceiver receiver;
  serveMetadata(receiver);
  EngineHarness h(quickSettings());

  SECTION("three versions queued before the engine runs: one delivery, the newest") {
    h.configure(ehr(receiver), false);
    for (int v = 1; v <= 3; ++v) {
      REQUIRE(h.ingest(measurement("COLLAPSE-1", v, "MRN-C")) == IngestStatus::kAccepted);
    }
    h.startEngine();
    REQUIRE(waitUntil(h.changes(), [&] { return h.is("COLLAPSE-1", OutboxState::kDelivered); }));
    auto rows = h.rows("COLLAPSE-1");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].state == OutboxState::kSuperseded);
    CHECK(rows[1].state == OutboxState::kSuperseded);
    CHECK(rows[2].state == OutboxState::kDelivered);
    CHECK(rows[2].version == 3);
    CHECK(posts(receiver).size() == 1);
  }
  SECTION("reference mode: parked without pcpPatientId, released by the next version") {
    DestinationProfile p = ehr(receiver);
    p.patientMatching.mode = PatientMatchingMode::kReference;
    p.patientMatching.patientIdentifierSystem = "https://riverside.example.org/patient-ids";
    h.configure(p);
    REQUIRE(h.ingest(measurement("MATCH-1", 1, "MRN-M", std::nullopt)) == IngestStatus::kAccepted);
    CHECK(h.is("MATCH-1", OutboxState::kPatientUnmatched));
    CHECK_FALSE(h.rows("MATCH-1").back().reason.empty());
    REQUIRE(h.ingest(measurement("MATCH-1", 2, "MRN-M", "RFM-77")) == IngestStatus::kAccepted);
    REQUIRE(waitUntil(h.changes(), [&] { return h.is("MATCH-1", OutboxState::kDelivered); }));
    auto rows = h.rows("MATCH-1");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].state == OutboxState::kSuperseded);
    CHECK(rows[1].version == 2);
    REQUIRE(posts(receiver).size() == 1);
    CHECK(posts(receiver)[0].body.find("RFM-77") != std::string::npos);
    // The receiver's own id, found by one search, not a conditional reference
    // some servers store literally.
    CHECK(posts(receiver)[0].body.find(std::string("\"Patient/") +
                                       inloop::delivery_testing::kKnownPatientId + "\"") !=
          std::string::npos);
    CHECK(posts(receiver)[0].body.find("\"Patient?identifier") == std::string::npos);
    std::size_t searches = 0;
    for (const auto& r : receiver.requests()) {
      searches += r.method == "GET" && r.target.find("/Patient?identifier=") != std::string::npos;
    }
    CHECK(searches == 1);
  }
}

TEST_CASE(
    "circuit breaker opens on consecutive failures, probes after the cool-down - old "
    "messages raise the alert",
    "[gateway][delivery]") {
  FaultReceiver receiver;
  serveMetadata(receiver);
  receiver.setDefault(Step::respond(503));
  DeliverySettings s = quickSettings();
  s.backoff.baseMillis = 1;  // zero jitter anyway: retries are due at once
  s.breaker.failureThreshold = 2;
  s.breaker.openMillis = 10000;
  s.alertAgeMillis = 5000;
  EngineHarness h(s);
  h.configure(ehr(receiver));
  REQUIRE(h.ingest(measurement("CB-1", 1, "MRN-CB")) == IngestStatus::kAccepted);

  // The breaker trips before the worker's ledger write of that attempt lands:
  // wait for both.
  REQUIRE(waitUntil(h.changes(), [&] {
    return h.engine().status()[0].circuit == CircuitState::kOpen && h.attempts("CB-1").size() >= 2;
  }));
  CHECK(h.attempts("CB-1").size() == 2);
  CHECK(h.engine().status()[0].health == "down");
  CHECK_FALSE(h.engine().status()[0].alert);

  h.advance(6000);  // older than the alert age, still within the cool-down
  auto st = h.engine().status()[0];
  CHECK(st.alert);
  CHECK(st.queueDepth == 1);
  CHECK(st.oldestPendingAgeMillis >= 6000);
  const std::string metrics = h.engine().renderMetrics();
  CHECK(metrics.find("inloop_delivery_alert{destination=\"ehr\"} 1") != std::string::npos);
  CHECK(metrics.find("inloop_delivery_circuit_open{destination=\"ehr\"} 1") != std::string::npos);
  CHECK(h.attempts("CB-1").size() == 2);  // nothing sent while open

  receiver.setDefault(Step::respond(200, kTransactionResponse));
  h.advance(4000);  // cool-down over: one probe
  // The worker counts the delivery just after the store has it: wait for both.
  REQUIRE(waitUntil(h.changes(), [&] {
    return h.is("CB-1", OutboxState::kDelivered) &&
           h.engine().renderMetrics().find(
               "inloop_delivery_delivered_total{destination=\"ehr\"} 1") != std::string::npos;
  }));
  CHECK(h.attempts("CB-1").size() == 3);
  CHECK(h.engine().status()[0].circuit == CircuitState::kClosed);
  CHECK_FALSE(h.engine().status()[0].alert);
}

TEST_CASE("a refusal learnt while another message was on the wire: that one is shaped again",
          "[gateway][delivery]") {
  // Two patients, two workers: both transactions (with conditional updates)
  // are in flight when the receiver refuses conditional updates. The first
  // answer teaches the refusal; the second must not be dead-lettered for it
  // (it went out before the fallback was known). Found under load by the
  // receiver conformance suite: one record of six dead-lettered.
  FaultReceiver receiver;
  serveMetadata(receiver);
  const std::string caps = inloop::delivery_testing::peerCapabilities();
  std::atomic<int> refused{0};
  std::atomic<int> created{0};
  receiver.setHandler([&](const ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET" && r.target.ends_with("/metadata")) return Step::respond(200, caps);
    if (r.method == "GET") {
      return Step::respond(200, R"({"resourceType":"Bundle","type":"searchset","total":0})");
    }
    const bool conditionalPut = r.body.find("\"PUT\"") != std::string::npos &&
                                r.body.find("?identifier=") != std::string::npos;
    if (r.method == "POST" && conditionalPut && refused.fetch_add(1) < 2) {
      Step step = Step::operationOutcome(400, "not-supported",
                                         "Conditional update is not supported by this server");
      step.action = Step::Action::kStall;
      return step;
    }
    if (r.method == "POST" && r.target != "/fhir") {
      // A create (after the fallback's search found nothing): 201 with an id.
      const std::string type = r.target.substr(r.target.rfind('/') + 1);
      const std::string id = "n" + std::to_string(created.fetch_add(1));
      return Step::respond(201, R"({"resourceType":")" + type + R"(","id":")" + id + R"("})",
                           {{"Location", "/fhir/" + type + "/" + id + "/_history/1"}});
    }
    return std::nullopt;
  });
  EngineHarness h(quickSettings());
  receiver.notifyOn(&h.changes());
  h.configure(ehr(receiver));
  REQUIRE(h.ingest(measurement("RACE-A", 1, "MRN-A")) == IngestStatus::kAccepted);
  REQUIRE(h.ingest(measurement("RACE-B", 1, "MRN-B")) == IngestStatus::kAccepted);
  REQUIRE(waitUntil(h.changes(), [&] { return refused.load() >= 2; }));
  receiver.releaseStalls();
  const bool both = waitUntil(h.changes(), [&] {
    return h.is("RACE-A", OutboxState::kDelivered) && h.is("RACE-B", OutboxState::kDelivered);
  });
  for (const ReceivedRequest& r : receiver.requests()) {
    UNSCOPED_INFO(r.method << " " << r.target << " " << r.body.substr(0, 300));
  }
  for (const char* id : {"RACE-A", "RACE-B"}) {
    for (const auto& a : h.attempts(id)) {
      UNSCOPED_INFO(id << " " << static_cast<int>(a.outcome) << " " << a.httpStatus << " "
                       << a.error);
    }
  }
  REQUIRE(both);
  for (const char* id : {"RACE-A", "RACE-B"}) {
    INFO(id);
    const auto attempts = h.attempts(id);
    REQUIRE(attempts.size() >= 2);
    CHECK(attempts.front().outcome == AttemptOutcome::kRetry);
    CHECK(attempts.back().outcome == AttemptOutcome::kDelivered);
  }
}

TEST_CASE("a retried message goes out again as first shaped - new tables shape new versions only",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  serveMetadata(receiver);
  receiver.script({Step::retryAfter(503, "2"), Step::respond(200, kTransactionResponse),
                   Step::respond(200, kTransactionResponse)});
  // A copy of the shipped tables, edited while the message waits.
  inloop::server_testing::TempDir tmp;
  const std::filesystem::path tables = tmp.path() / "mappings";
  std::filesystem::copy(std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings", tables);
  EngineHarness h(quickSettings());
  h.loadTables(tables);
  DestinationProfile profile = ehr(receiver);
  // No MedicationStatement: every record is translated for this destination
  // (medications as MedicationRequest), with the tables current at shaping.
  profile.accepts = {"Patient",      "Observation",       "Provenance",
                     "Organization", "MedicationRequest", "Communication"};
  h.configure(profile);
  REQUIRE(h.ingest(measurement("KEPT-1", 1, "MRN-K1")) == IngestStatus::kAccepted);
  REQUIRE(waitUntil(h.changes(), [&] { return h.attempts("KEPT-1").size() == 1; }));
  REQUIRE(h.attempts("KEPT-1")[0].outcome == AttemptOutcome::kRetry);

  // The pain center is renamed in the tables (a reload) before the retry.
  const std::filesystem::path practices = tables / "practices.json";
  std::string text = inloop::server_testing::readFile(practices);
  const std::string oldName = "Example Pain Management Center";
  const std::size_t at = text.find(oldName);
  REQUIRE(at != std::string::npos);
  text.replace(at, oldName.size(), "Renamed Pain Management Center");
  inloop::server_testing::writeFile(practices, text);
  h.loadTables(tables);

  h.advance(2000);
  REQUIRE(waitUntil(h.changes(), [&] { return h.is("KEPT-1", OutboxState::kDelivered); }));
  auto sent = posts(receiver);
  REQUIRE(sent.size() == 2);
  // The retry is the first attempt's request, byte for byte.
  CHECK(sent[1].body == sent[0].body);
  CHECK(sent[1].body.find(oldName) != std::string::npos);

  // A new version is shaped now, with the tables now current.
  REQUIRE(h.ingest(measurement("KEPT-1", 2, "MRN-K1")) == IngestStatus::kAccepted);
  REQUIRE(waitUntil(h.changes(), [&] { return posts(receiver).size() == 3; }));
  CHECK(posts(receiver)[2].body.find("Renamed Pain Management Center") != std::string::npos);
}
