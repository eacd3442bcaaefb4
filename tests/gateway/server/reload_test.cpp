// Reload (POST /admin/reload; SIGHUP calls the same Daemon::reload) of a
// daemon in-process started from an inloop.json file: what changes live
// (tokens, logLevel, destinations), what needs a restart (named in the answer
// and in a warning log line, the running value kept), that a rejected reload
// changes nothing, and that records left unroutable are routed as soon as a
// reload gives their practice a route.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "gateway/config/daemon_config.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/server_fixture.h"

using inloop::delivery_testing::measurement;
using inloop::delivery_testing::stateOf;
using inloop::delivery_testing::textOf;
using inloop::delivery_testing::waitUntil;
using inloop::fhir::Json;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kAdminToken;
using inloop::server_testing::kReadToken;
using inloop::server_testing::TempDir;
using inloop::server_testing::writeFile;
using inloop::testing::FaultReceiver;
using inloop::testing::Step;
namespace fs = std::filesystem;

namespace {

// A receiver that takes every transaction and has no CapabilityStatement.
void acceptEverything(FaultReceiver& receiver) {
  receiver.setDefault(
      Step::respond(200, R"({"resourceType":"Bundle","type":"transaction-response","entry":[]})"));
  receiver.setHandler([](const inloop::testing::ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET") return Step::respond(404);
    return std::nullopt;
  });
}

std::string routedTo(const std::string& url) {
  return R"({
    "destinations": [{"id": "ehr", "kind": "fhir-transaction", "endpoint": ")" +
         url + R"("}],
    "routes": {"riverside-family-medicine": ["ehr"]}
  })";
}

// An inloop.json for a daemon whose data and tables are the fixture's; one
// token `token` (every role) and the given extra members.
std::string daemonFile(const inloop::gateway::DaemonConfig& c, const std::string& token,
                       const std::string& extra) {
  return "{\n  // as an admin writes it\n  \"listen\": \"127.0.0.1:0\",\n  \"dataDir\": \"" +
         c.dataDir + "\",\n  \"mappingsDir\": \"" + c.mappingsDir +
         "\",\n  \"destinationsFile\": \"destinations.json\",\n  \"tokens\": [{\"id\": \"ops\", "
         "\"sha256\": \"" +
         inloop::gateway::sha256HexOf(token) +
         "\", \"roles\": [\"ingest\", \"read\", \"admin\"]}]" + extra + "\n}\n";
}

}  // namespace

TEST_CASE(
    "reload: records left unroutable are delivered once a reload gives their practice a "
    "route",
    "[gateway][delivery]") {
  FaultReceiver receiver;
  acceptEverything(receiver);
  TempDir files;
  const fs::path destinations = files.path() / "destinations.json";
  writeFile(destinations, R"({"destinations": [], "routes": {}})");
  DaemonFixture d(
      [&](inloop::gateway::DaemonConfig& c) { c.destinationsFile = destinations.string(); });
  REQUIRE(d.startError().empty());

  REQUIRE(d.request("POST", "/records", kAdminToken, measurement("UR-1", 1, "MRN-U1")).status ==
          202);
  REQUIRE(d.request("POST", "/records", kAdminToken, measurement("UR-2", 3, "MRN-U2")).status ==
          202);
  const std::string other =
      measurement("UR-3", 1, "MRN-U3", std::nullopt, "lakeside-medical-group");
  REQUIRE(d.request("POST", "/records", kAdminToken, other).status == 202);
  CHECK(stateOf(d, "UR-1") == "unroutable");
  CHECK(stateOf(d, "UR-3") == "unroutable");

  // A reload that fails changes nothing and routes nothing.
  writeFile(destinations, R"({"destinations": [{"id": "ehr"}], "routes": {}})");
  CHECK(d.request("POST", "/admin/reload", kAdminToken).status == 422);
  CHECK(stateOf(d, "UR-1") == "unroutable");

  writeFile(destinations, routedTo(receiver.url("/fhir")));
  HttpReply reload = d.request("POST", "/admin/reload", kAdminToken);
  INFO(reload.body);
  REQUIRE(reload.status == 200);
  CHECK(textOf(reload.json(), "routedUnroutable") == "2");
  CHECK(textOf(reload.json(), "stillUnroutable") == "1");
  REQUIRE(waitUntil(d.changes(), [&] {
    return stateOf(d, "UR-1") == "delivered" && stateOf(d, "UR-2") == "delivered";
  }));
  CHECK(stateOf(d, "UR-3") == "unroutable");
  // Delivered at the version that was stored, once each.
  const Json ledger = d.request("GET", "/deliveries?recordId=UR-2", kReadToken).json();
  REQUIRE(ledger.find("deliveries") != nullptr);
  REQUIRE(ledger.find("deliveries")->items().size() == 1);
  CHECK(textOf(ledger.find("deliveries")->items()[0], "version") == "3");

  // Another reload routes nothing twice.
  HttpReply again = d.request("POST", "/admin/reload", kAdminToken);
  CHECK(textOf(again.json(), "routedUnroutable") == "0");
  const std::string log = d.stopAndLog();
  CHECK(log.find("\"event\":\"unroutable-routed\"") != std::string::npos);
  CHECK(log.find("MRN-U1") == std::string::npos);
}

TEST_CASE(
    "reload: inloop.json is re-read - tokens and log level live, restart-only settings "
    "named, a broken file changes nothing",
    "[gateway][server]") {
  TempDir files;
  const fs::path file = files.path() / "inloop.json";
  writeFile(files.path() / "destinations.json", R"({"destinations": [], "routes": {}})");
  inloop::gateway::DaemonConfig started;
  DaemonFixture d([&](inloop::gateway::DaemonConfig& c) {
    writeFile(file, daemonFile(c, "first-token", ""));
    inloop::gateway::DaemonConfigLoad load = inloop::gateway::readDaemonConfigFile(file.string());
    REQUIRE(load.config.has_value());
    c = *load.config;
    c.configFile = file.string();
    started = c;
  });
  REQUIRE(d.startError().empty());
  CHECK(d.request("GET", "/destinations", "first-token").status == 200);
  CHECK(d.request("GET", "/destinations", kAdminToken).status == 401);  // not in the file

  // A new token replaces the old one, and the log level goes to warning.
  writeFile(file, daemonFile(started, "second-token", ",\n  \"logLevel\": \"warning\""));
  HttpReply first = d.request("POST", "/admin/reload", "first-token");
  INFO(first.body);
  REQUIRE(first.status == 200);
  const Json firstBody = first.json();
  REQUIRE(firstBody.find("needsRestart") != nullptr);
  CHECK(firstBody.find("needsRestart")->items().empty());
  CHECK(d.request("GET", "/destinations", "first-token").status == 401);
  CHECK(d.request("GET", "/destinations", "second-token").status == 200);

  // listen and a delivery setting cannot change while serving: named, not applied.
  std::string moved = daemonFile(started, "second-token",
                                 ",\n  \"logLevel\": \"warning\",\n  \"delivery\": "
                                 "{\"backoffBaseMs\": 7}");
  const std::string listen = "\"listen\": \"127.0.0.1:0\"";
  moved.replace(moved.find(listen), listen.size(), "\"listen\": \"127.0.0.1:1\"");
  writeFile(file, moved);
  HttpReply restart = d.request("POST", "/admin/reload", "second-token");
  INFO(restart.body);
  REQUIRE(restart.status == 200);
  const Json restartBody = restart.json();
  const Json* names = restartBody.find("needsRestart");
  REQUIRE(names != nullptr);
  REQUIRE(names->items().size() == 2);
  CHECK(names->items()[0].text() == "listen");
  CHECK(names->items()[1].text() == "delivery");
  CHECK(restart.body.find("takes effect at the next restart") != std::string::npos);
  CHECK(d.request("GET", "/healthz").status == 200);  // still on its old port

  // A broken file: 422 with file:line:column, and the running tokens stay.
  writeFile(file, "{\n  \"tokens\": [],\n  \"logLevle\": \"info\"\n}\n");
  HttpReply broken = d.request("POST", "/admin/reload", "second-token");
  INFO(broken.body);
  CHECK(broken.status == 422);
  CHECK(broken.body.find(file.string() + ":3:3") != std::string::npos);
  CHECK(d.request("GET", "/destinations", "second-token").status == 200);

  const std::string log = d.stopAndLog();
  CHECK(log.find("\"event\":\"config-needs-restart\"") != std::string::npos);
  CHECK(log.find("\"event\":\"config-rejected\"") != std::string::npos);
  // The level is "warning" from the first reload on: its own info line, and
  // the info lines of the requests after it, are not written.
  CHECK(log.find("\"event\":\"mappings-loaded\"") == std::string::npos);
  CHECK(log.find("\"route\":\"/admin/reload\"") == std::string::npos);
  CHECK(log.find("\"event\":\"request\"") != std::string::npos);  // before it
}
