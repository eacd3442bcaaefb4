// End-to-end: inloop (daemon in-process, port 0) delivering the example
// records to a REAL, validating FHIR R4 server (tests/peers/fhir-server.mjs:
// @medplum/fhir-router + MemoryRepository, started as a child on port 0).
// Then the FHIR server is queried: every resource is there exactly once,
// valid, and linked; replays and a forced retry (--fail-first 2:503) create no
// duplicates; a server refusing CarePlan/Goal gets the configured fallback.
// Skipped with a WARN only when `node` is not installed.
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "fhir/validator.h"
#include "mappings/shaping/destination.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/e2e_checks.h"
#include "tests/gateway/support/fhir_server_peer.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::delivery_testing::waitUntil;
using inloop::e2e_testing::postExamples;
using inloop::e2e_testing::waitAllDelivered;
using inloop::fhir::Json;
using inloop::server_testing::allDelivered;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::FixtureStore;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kAdminToken;
using inloop::server_testing::sendRequest;
using inloop::server_testing::withMember;
using inloop::testing::nodeInstalled;
using FhirServer = inloop::testing::FhirServerPeer;

std::vector<Json> entries(const Json& bundle) { return inloop::testing::bundleResources(bundle); }

using inloop::e2e_testing::checkExactlyOnce;
using inloop::e2e_testing::memberOr;
using inloop::e2e_testing::recordIdOf;
using inloop::e2e_testing::textOf;
using inloop::e2e_testing::translation;

const std::vector<std::string>& kExamples = inloop::e2e_testing::exampleNames();

}  // namespace

TEST_CASE(
    "examples reach a real FHIR server exactly once, valid and linked, through a forced "
    "retry and replays",
    "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("end-to-end delivery test")) return;
  FhirServer server({"--fail-first", "2:503"});
  REQUIRE_FALSE(server.base().empty());
  DaemonFixture daemon(
      [&](inloop::gateway::DaemonConfig& c) {
        c.routeFlags = {"*=fhir-transaction:" + server.base()};
        c.delivery.backoffBaseMs = 20;
        c.delivery.backoffCapMs = 200;
      },
      FixtureStore::kMemory);
  REQUIRE(daemon.startError().empty());

  const std::vector<std::string> ids = postExamples(daemon, kExamples);
  const bool delivered = waitAllDelivered(daemon, ids, 60);
  if (!delivered) {
    for (const std::string& id : ids) {
      INFO(daemon.request("GET", "/deliveries?recordId=" + id, kAdminToken).body);
      CHECK(allDelivered(daemon, id));
    }
  }
  REQUIRE(delivered);

  // The forced retry is in the ledger: two 503s, then deliveries.
  int retried503 = 0;
  for (const std::string& id : ids) {
    Json ledger = daemon.request("GET", "/deliveries?recordId=" + id, kAdminToken).json();
    REQUIRE(ledger.find("attempts") != nullptr);
    for (const Json& a : ledger.find("attempts")->items()) {
      const Json* status = a.find("status");
      if (textOf(a, "outcome") == "retry" && status != nullptr && status->text() == "503") {
        ++retried503;
      }
    }
  }
  CHECK(retried503 == 2);

  // Replays (twice each) are recognised and not sent again.
  for (int round = 0; round < 2; ++round) {
    for (const std::string& name : kExamples) {
      CHECK(daemon.request("POST", "/records", kAdminToken, exampleRecord(name)).status == 200);
    }
  }
  for (const std::string& id : ids) {
    Json ledger = daemon.request("GET", "/deliveries?recordId=" + id, kAdminToken).json();
    REQUIRE(ledger.find("deliveries") != nullptr);
    CHECK(ledger.find("deliveries")->items().size() == 1);
  }

  for (std::size_t i = 0; i < ids.size(); ++i) {
    checkExactlyOnce(server, translation(daemon, ids[i]), ids[i]);
  }

  // Linked: the measurement's basedOn names the CarePlan, which exists once;
  // CarePlan.goal resolves to the two Goals.
  int status = 0;
  Json obs = server.get(
      "Observation?identifier=https://paincenter.example.org/fhir/sid/record%7CM-2026-118834",
      &status);
  REQUIRE(entries(obs).size() == 1);
  const std::vector<Json> observations = entries(obs);
  const Json* basedOn = observations[0].find("basedOn");
  REQUIRE(basedOn != nullptr);
  REQUIRE_FALSE(basedOn->items().empty());
  const Json* planIdentifier = basedOn->items()[0].find("identifier");
  REQUIRE(planIdentifier != nullptr);
  CHECK(textOf(*planIdentifier, "value") == "CP-2026-0412");
  const std::string planQuery =
      "CarePlan?identifier=" + textOf(*planIdentifier, "system") + "%7CCP-2026-0412";
  Json plans = server.get(planQuery);
  INFO(planQuery << " -> " << inloop::fhir::writeJson(plans).substr(0, 500));
  REQUIRE(entries(plans).size() == 1);
  const std::vector<Json> planEntries = entries(plans);
  const Json* goals = planEntries[0].find("goal");
  REQUIRE(goals != nullptr);
  CHECK(goals->items().size() == 2);
  std::set<std::string> goalIds;
  for (const Json& g : goals->items()) {
    const std::string ref = textOf(g, "reference");
    CHECK(ref.starts_with("Goal/"));
    Json goal = server.get(ref, &status);
    CHECK(status == 200);
    CHECK(textOf(goal, "resourceType") == "Goal");
    goalIds.insert(ref);
  }
  CHECK(goalIds.size() == 2);

  // Every Bundle carried the pain center's Organization: the server has one,
  // and the plan's author is it.
  const std::vector<Json> orgs = entries(server.get("Organization", &status));
  REQUIRE(orgs.size() == 1);
  CHECK(textOf(memberOr(orgs[0], "identifier").items()[0], "value") == "1498712045");
  CHECK(textOf(memberOr(planEntries[0], "author"), "reference") ==
        "Organization/" + textOf(orgs[0], "id"));

  // A new version is delivered as conditional updates: still one of each.
  const std::string v2 = withMember(exampleRecord("measurement-pain-nrs.json"), "version",
                                    Json::number(std::int64_t{2}));
  CHECK(daemon.request("POST", "/records", kAdminToken, v2).status == 202);
  CHECK(waitUntil(
      daemon.changes(), [&] { return allDelivered(daemon, "M-2026-118834"); }, 60));
  obs = server.get(
      "Observation?identifier=https://paincenter.example.org/fhir/sid/record%7CM-2026-118834");
  CHECK(entries(obs).size() == 1);

  // The operator view of the destination.
  Json dest = daemon.request("GET", "/destinations", kAdminToken).json();
  REQUIRE(memberOr(dest, "destinations").items().size() == 1);
  const Json& first = memberOr(dest, "destinations").items()[0];
  CHECK(textOf(first, "health") == "ok");
  CHECK(textOf(first, "queueDepth") == "0");
  CHECK(memberOr(memberOr(first, "capabilities"), "known").asBool());
}

TEST_CASE("a FHIR server refusing CarePlan and Goal gets the Communication fallback",
          "[gateway][delivery][e2e]") {
  if (!inloop::testing::peersAvailable("end-to-end delivery test")) return;
  FhirServer server({"--reject-types", "CarePlan,Goal"});
  REQUIRE_FALSE(server.base().empty());
  DaemonFixture daemon(
      [&](inloop::gateway::DaemonConfig& c) {
        c.routeFlags = {"riverside-family-medicine=fhir-transaction:" + server.base()};
      },
      FixtureStore::kMemory);
  REQUIRE(daemon.startError().empty());
  CHECK(daemon
            .request("POST", "/records", kAdminToken,
                     exampleRecord("care-plan-functional-restoration.json"))
            .status == 202);
  const bool delivered = waitUntil(
      daemon.changes(), [&] { return allDelivered(daemon, "CP-2026-0412"); }, 60);
  INFO(daemon.request("GET", "/deliveries?recordId=CP-2026-0412", kAdminToken).body);
  REQUIRE(delivered);

  Json ledger = daemon.request("GET", "/deliveries?recordId=CP-2026-0412", kAdminToken).json();
  REQUIRE_FALSE(memberOr(ledger, "attempts").items().empty());
  const Json& attempt = memberOr(ledger, "attempts").items().back();
  CHECK(textOf(attempt, "outcome") == "delivered");
  CHECK(textOf(attempt, "note").find("Communication") != std::string::npos);

  int status = 0;
  Json plans = server.get("CarePlan", &status);
  CHECK(status == 200);
  CHECK(entries(plans).empty());
  Json comms = server.get("Communication", &status);
  REQUIRE(status == 200);
  REQUIRE(entries(comms).size() == 1);
  const std::string expected = inloop::mappings::communicationIdentifierValue("CP-2026-0412", 1);
  CHECK(inloop::fhir::writeJson(entries(comms)[0]).find(expected) != std::string::npos);
}
