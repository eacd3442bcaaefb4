// End-to-end: a safety notice reaches a REAL, validating FHIR R4 server
// (tests/peers/fhir-server.mjs, Medplum's router) through the daemon's ordered,
// retried delivery, and is read back: once, valid, with its text; a receiver
// that refuses Communication gets the notice as a note on the
// MedicationStatement. Skipped with a WARN only when `node` is not installed.

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "delivery_support.h"
#include "fhir/validator.h"
#include "tests/gateway/server_fixture.h"
#include "tests/gateway/support/fhir_server_peer.h"

namespace {

using inloop::delivery_testing::waitUntil;
using inloop::fhir::Json;
using inloop::server_testing::allDelivered;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kAdminToken;

// The first identifier of the stored translation's first Communication, as a
// search parameter value "system%7Cvalue" ("" when there is none).
std::string noticeIdentifierQuery(DaemonFixture& d, const std::string& recordId) {
  const Json view = d.request("GET", "/records/" + recordId, kAdminToken).json();
  const Json* entries =
      view.find("translation") ? view.find("translation")->find("entry") : nullptr;
  if (entries == nullptr) return "";
  for (const Json& e : entries->items()) {
    const Json* res = e.find("resource");
    if (res == nullptr || res->find("resourceType")->text() != "Communication") continue;
    const Json& id = res->find("identifier")->items()[0];
    return id.find("system")->text() + "%7C" + id.find("value")->text();
  }
  return "";
}

std::string jsonText(const Json& resource) { return inloop::fhir::writeJson(resource); }

// A FHIR server peer (started with `serverArgs`) as every practice's
// destination, and the duloxetine start posted and delivered to it.
struct DeliveredDuloxetine {
  explicit DeliveredDuloxetine(std::vector<std::string> serverArgs)
      : server(std::move(serverArgs)), daemon([this](inloop::gateway::DaemonConfig& c) {
          c.routeFlags = {"*=fhir-transaction:" + server.base()};
          c.delivery.backoffBaseMs = 20;
          c.delivery.backoffCapMs = 200;
        }) {
    REQUIRE_FALSE(server.base().empty());
    REQUIRE(daemon.startError().empty());
    REQUIRE(daemon
                .request("POST", "/records", kAdminToken,
                         exampleRecord("medication-start-duloxetine.json"))
                .status == 202);
    const bool done = waitUntil([&] { return allDelivered(daemon, "RX-2026-5521"); }, 60);
    INFO(daemon.request("GET", "/deliveries?recordId=RX-2026-5521", kAdminToken).body);
    REQUIRE(done);
  }
  inloop::testing::FhirServerPeer server;
  DaemonFixture daemon;
};

}  // namespace

TEST_CASE("a safety notice lands on a real FHIR server as a valid Communication",
          "[gateway][safety][e2e]") {
  if (!inloop::testing::nodeInstalled()) {
    WARN("node is not installed: end-to-end safety test SKIPPED");
    return;
  }
  DeliveredDuloxetine d({"--fail-first", "1:503"});
  const std::string query = noticeIdentifierQuery(d.daemon, "RX-2026-5521");
  REQUIRE_FALSE(query.empty());
  int status = 0;
  Json found = d.server.get("Communication?identifier=" + query, &status);
  REQUIRE(status == 200);
  std::vector<Json> comms = inloop::testing::bundleResources(found);
  REQUIRE(comms.size() == 1);
  inloop::fhir::Issues issues = inloop::fhir::validateResource(comms[0]);
  INFO(inloop::fhir::formatIssues(issues));
  CHECK_FALSE(inloop::fhir::hasErrors(issues));
  CHECK(jsonText(comms[0]).find("may raise blood pressure") != std::string::npos);
  CHECK(comms[0].find("subject") != nullptr);
  // The MedicationStatement it is about is there too (same transaction).
  Json statements = d.server.get("MedicationStatement", &status);
  CHECK(inloop::testing::bundleResources(statements).size() == 1);
}

TEST_CASE("a FHIR server refusing Communication gets the notice as a note",
          "[gateway][safety][e2e]") {
  if (!inloop::testing::nodeInstalled()) {
    WARN("node is not installed: end-to-end safety test SKIPPED");
    return;
  }
  DeliveredDuloxetine d({"--reject-types", "Communication"});
  int status = 0;
  CHECK(inloop::testing::bundleResources(d.server.get("Communication", &status)).empty());
  std::vector<Json> statements =
      inloop::testing::bundleResources(d.server.get("MedicationStatement", &status));
  REQUIRE(statements.size() == 1);
  CHECK(jsonText(statements[0]).find("ATTENTION (inloop safety notice, routine): Duloxetine") !=
        std::string::npos);
}
