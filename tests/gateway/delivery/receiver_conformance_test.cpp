// Receiver conformance: the example records delivered by inloop (daemon
// in-process, port 0) to the real FHIR server peer (tests/peers/fhir-server.mjs)
// in each of the ways real FHIR servers legally differ, one variant per test:
//
//   --unmodified               @medplum/fhir-router over its own MemoryRepository,
//                              untouched (no validation, no conditional-reference
//                              resolution, no rollback; no rest.resource list)
//   --plain                    the router's own behaviour: conditional references
//                              in bodies stored literally (no resolution)
//   --terse-capabilities       a CapabilityStatement without rest.resource
//   --no-transaction [--no-batch]
//   --no-conditional-update    (declared, or only answered)
//   --refuse-client-ids
//   --entry-error Goal         a transaction-response with an entry-level error
//   --version-conflicts N      409 for the first writes
//   --reject-types CarePlan,Goal with a terse statement (learnt from the 422)
//
// After every run: each record is `delivered` in inloop's ledger; the server
// holds each of its resources exactly once, valid, with every reference
// resolvable (no conditional reference stored literally, no urn:uuid); what
// the variant refused is absent and the ledger says why. `reference` patient
// matching resolves the practice's patient id by a search, and parks a record
// whose patient the receiver does not know.
// Skipped with a WARN only when `node` is not installed.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/e2e_checks.h"
#include "tests/gateway/support/fhir_server_peer.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::delivery_testing::waitUntil;
using inloop::e2e_testing::checkExactlyOnce;
using inloop::e2e_testing::checkReferencesResolve;
using inloop::e2e_testing::exampleNames;
using inloop::e2e_testing::memberOr;
using inloop::e2e_testing::postExamples;
using inloop::e2e_testing::recordIdOf;
using inloop::e2e_testing::textOf;
using inloop::e2e_testing::translation;
using inloop::e2e_testing::waitAllDelivered;
using inloop::fhir::Json;
using inloop::server_testing::allDelivered;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::FixtureStore;
using inloop::server_testing::kAdminToken;
using inloop::testing::FhirServerPeer;
using inloop::testing::nodeInstalled;

// The destination's view (GET /destinations), its first entry.
Json destinationView(DaemonFixture& d) {
  const Json all = d.request("GET", "/destinations", kAdminToken).json();
  const Json& list = memberOr(all, "destinations");
  return list.isArray() && !list.items().empty() ? list.items()[0] : Json();
}

// Every attempt note of a record's ledger, joined.
std::string ledgerNotes(DaemonFixture& d, const std::string& recordId) {
  const Json ledger = d.request("GET", "/deliveries?recordId=" + recordId, kAdminToken).json();
  std::string notes;
  for (const Json& a : memberOr(ledger, "attempts").items()) {
    notes += textOf(a, "outcome") + ": " + textOf(a, "note") + " " + textOf(a, "error") + "\n";
  }
  return notes;
}

// Sends every example record to a server started with `serverArgs`, as a
// destination of `kind`, and checks the outcome described at the top; types in
// `absent` the receiver ends up without (refused: fallback or skip). Returns
// the daemon's view of the destination afterwards.
Json deliverExamples(const std::vector<std::string>& serverArgs,
                     const std::string& kind = "fhir-transaction",
                     const std::set<std::string>& absent = {}) {
  FhirServerPeer server(serverArgs);
  REQUIRE_FALSE(server.base().empty());
  DaemonFixture daemon(
      [&](inloop::gateway::DaemonConfig& c) {
        c.routeFlags = {"*=" + kind + ":" + server.base()};
        c.delivery.backoffBaseMs = 10;
        c.delivery.backoffCapMs = 100;
      },
      FixtureStore::kMemory);
  REQUIRE(daemon.startError().empty());
  const std::vector<std::string> ids = postExamples(daemon, exampleNames());
  const bool delivered = waitAllDelivered(daemon, ids, 90);
  for (const std::string& id : ids) {
    INFO(id << ":\n" << ledgerNotes(daemon, id));
    CHECK(allDelivered(daemon, id));
  }
  REQUIRE(delivered);
  int followed = 0;
  for (const std::string& id : ids) {
    INFO(id << ":\n" << ledgerNotes(daemon, id));
    followed += checkExactlyOnce(server, translation(daemon, id), id, absent);
  }
  CHECK(followed >= static_cast<int>(ids.size()));  // every subject was followed
  // Every subject at the server is a Patient it holds.
  for (const char* type : {"Observation", "MedicationStatement", "CarePlan", "Goal"}) {
    int status = 0;
    for (const Json& r : inloop::testing::bundleResources(server.get(type, &status))) {
      CHECK(textOf(memberOr(r, "subject"), "reference").rfind("Patient/", 0) == 0);
    }
  }
  Json view = destinationView(daemon);
  CHECK(textOf(view, "notSent") == "0");
  CHECK(textOf(view, "deadLetters") == "0");
  return view;
}

}  // namespace

TEST_CASE("conformance: the router's own behaviour and a statement without a resource list",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  // Before: no type was read as writable, nothing was sent, every record was
  // marked delivered; subjects were stored as literal conditional references.
  Json view = deliverExamples({"--plain", "--terse-capabilities"});
  const Json& caps = memberOr(view, "capabilities");
  CHECK(memberOr(caps, "known").asBool());
  CHECK_FALSE(memberOr(caps, "resourcesListed").asBool());
  CHECK(memberOr(caps, "refused").members().empty());
  CHECK(textOf(view, "effectiveKind") == "fhir-transaction");
}

TEST_CASE("conformance: the unmodified Medplum router over its own MemoryRepository",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  // No code of ours between the router and its repository: every example
  // record arrives once, valid (checked here, the server checks nothing), and
  // every subject resolves to a Patient/{id} the server holds.
  SECTION("as transactions") {
    Json view = deliverExamples({"--unmodified"});
    CHECK(textOf(view, "effectiveKind") == "fhir-transaction");
  }
  SECTION("as single requests (fhir-put)") { deliverExamples({"--unmodified"}, "fhir-put"); }
}

TEST_CASE("conformance: no transactions (batch only), declared in the statement",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  Json view = deliverExamples({"--plain", "--no-transaction"});
  CHECK(textOf(view, "effectiveKind") == "fhir-put");
}

TEST_CASE("conformance: neither transactions nor batches, with a terse statement",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  Json view =
      deliverExamples({"--plain", "--no-transaction", "--no-batch", "--terse-capabilities"});
  CHECK(textOf(view, "effectiveKind") == "fhir-put");
}

TEST_CASE("conformance: conditional update refused - search, then PUT Type/{id} or POST",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  SECTION("declared in the statement") { deliverExamples({"--plain", "--no-conditional-update"}); }
  SECTION("only answered (terse statement), and client ids refused too") {
    Json view = deliverExamples(
        {"--plain", "--no-conditional-update", "--terse-capabilities", "--refuse-client-ids"});
    CHECK(textOf(memberOr(view, "capabilities"), "conditionalUpdateRefused")
              .find("Conditional update is not supported") != std::string::npos);
  }
}

TEST_CASE("conformance: client-assigned ids refused on create", "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  deliverExamples({"--plain", "--refuse-client-ids"}, "fhir-put");
}

TEST_CASE("conformance: a transaction-response with an entry-level error teaches the type",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  Json view = deliverExamples({"--plain", "--terse-capabilities", "--entry-error", "Goal"},
                              "fhir-transaction", {"Goal"});
  const Json& refused = memberOr(memberOr(view, "capabilities"), "refused");
  CHECK(textOf(refused, "Goal").find("Goal not supported") != std::string::npos);
}

TEST_CASE("conformance: version conflicts (409) are retried", "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  Json view = deliverExamples({"--plain", "--version-conflicts", "3"});
  CHECK(textOf(memberOr(view, "counters"), "retried") != "0");
}

TEST_CASE("conformance: CarePlan and Goal refused, learnt from a terse server's 422",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  // The CarePlan goes as a Communication; the Goals are left out (listed in
  // its narrative).
  Json view =
      deliverExamples({"--plain", "--terse-capabilities", "--reject-types", "CarePlan,Goal"},
                      "fhir-transaction", {"CarePlan", "Goal"});
  const Json& refused = memberOr(memberOr(view, "capabilities"), "refused");
  CHECK(refused.find("CarePlan") != nullptr);
  CHECK(refused.find("Goal") != nullptr);
}

TEST_CASE("conformance: reference matching resolves the practice's patient id by a search",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("receiver conformance")) return;
  FhirServerPeer server({"--plain", "--terse-capabilities"});
  REQUIRE_FALSE(server.base().empty());
  // The practice's EHR knows RFM-99231 (the pain-NRS example's patient) only.
  const std::string system = "https://riverside.example.org/fhir/sid/patient";
  int status = 0;
  Json patient =
      *inloop::fhir::parseJson(R"({"resourceType":"Patient","identifier":[{"system":")" + system +
                               R"(","value":"RFM-99231"}],"name":[{"family":"Testpatient"}]})");
  Json created = server.post("Patient", patient, &status);
  REQUIRE(status == 201);
  const std::string patientId = textOf(created, "id");

  inloop::server_testing::TempDir files;
  inloop::server_testing::writeFile(
      files.path() / "destinations.json",
      R"({"destinations": [{"id": "ehr", "kind": "fhir-transaction", "endpoint": ")" +
          server.base() + R"(", "patientMatching": {"mode": "reference", )" +
          R"("patientIdentifierSystem": ")" + system + R"("}}], "routes": {"*": ["ehr"]}})");
  DaemonFixture daemon(
      [&](inloop::gateway::DaemonConfig& c) {
        c.destinationsFile = (files.path() / "destinations.json").string();
      },
      FixtureStore::kMemory);
  REQUIRE(daemon.startError().empty());
  const std::string known = exampleRecord("measurement-pain-nrs.json");
  REQUIRE(daemon.request("POST", "/records", kAdminToken, known).status == 202);
  REQUIRE(waitUntil(
      daemon.changes(), [&] { return allDelivered(daemon, "M-2026-118834"); }, 60));
  Json obs = server.get(
      "Observation?identifier=https://paincenter.example.org/fhir/sid/record%7CM-2026-118834",
      &status);
  const std::vector<Json> found = inloop::testing::bundleResources(obs);
  REQUIRE(found.size() == 1);
  CHECK(textOf(memberOr(found[0], "subject"), "reference") == "Patient/" + patientId);
  CHECK(checkReferencesResolve(server, found[0]) >= 1);

  // A patient the EHR does not know: parked, visible, not delivered.
  Json other = *inloop::fhir::parseJson(known);
  other.set("recordId", Json::string("M-UNKNOWN-1"));
  other.find("patient")->set("pcpPatientId", Json::string("RFM-00000"));
  other.find("patient")->set("mrn", Json::string("PC-000001"));
  const std::string unknown = inloop::fhir::writeJson(other);
  REQUIRE(daemon.request("POST", "/records", kAdminToken, unknown).status == 202);
  REQUIRE(waitUntil(daemon.changes(), [&] {
    const Json ledger =
        daemon.request("GET", "/deliveries?recordId=M-UNKNOWN-1", kAdminToken).json();
    const Json& rows = memberOr(ledger, "deliveries");
    return rows.isArray() && !rows.items().empty() &&
           textOf(rows.items().back(), "state") == "patient-unmatched";
  }));
  CHECK(ledgerNotes(daemon, "M-UNKNOWN-1").find("does not know this patient") != std::string::npos);
  CHECK(inloop::testing::bundleResources(
            server.get("Observation?identifier=https://paincenter.example.org/fhir/sid/"
                       "record%7CM-UNKNOWN-1"))
            .empty());
}
