// The operator surface of delivery: the HTTP API of a daemon in-process
// (GET /destinations, /deliveries, /deadletters, /deadletters/{id}, POST
// replay/discard with roles, /metrics, /records/{id}) routed with `--route` to
// the fault receiver, then `inloop deadletter ...` on the same data directory.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/cli/cli.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/server_fixture.h"

using inloop::delivery_testing::measurement;
using inloop::delivery_testing::stateOf;
using inloop::delivery_testing::textOf;
using inloop::delivery_testing::waitUntil;
using inloop::fhir::Json;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::FixtureStore;
using inloop::server_testing::kAdminToken;
using inloop::server_testing::kReadToken;
using inloop::testing::FaultReceiver;
using inloop::testing::Step;

namespace {

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

Run cli(std::vector<std::string> args) {
  args.insert(args.begin(), {"inloop", "deadletter"});
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  Run r;
  r.code = inloop::gateway::runCli(args, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// `inloop deadletter ...` on the data directory of a stopped daemon that
// left one dead letter (OPS-2) and one delivered replay (OPS-1).
void cliOnStore(const std::string& dataDir) {
  Run list = cli({"list", "--data-dir", dataDir});
  CHECK(list.code == 0);
  CHECK(list.out.find("OPS-2") != std::string::npos);
  CHECK(list.out.find("OPS-1") == std::string::npos);
  Run mine = cli({"list", "--destination", "route-any-fhir-transaction", "--data-dir", dataDir});
  CHECK(mine.code == 0);
  CHECK(mine.out.find("OPS-2") != std::string::npos);
  // A destination that does not exist is an error, not an empty list.
  Run typo = cli({"list", "--destination", "nosuch", "--data-dir", dataDir});
  CHECK(typo.code == 1);
  CHECK(typo.err.find("no destination \"nosuch\"") != std::string::npos);
  CHECK(typo.err.find("route-any-fhir-transaction") != std::string::npos);
  CHECK(typo.out.empty());
  Run json = cli({"list", "--json", "--data-dir", dataDir});
  REQUIRE(json.code == 0);
  const Json parsed = *inloop::fhir::parseJson(json.out);
  REQUIRE(parsed.find("deadLetters")->items().size() == 1);
  const std::string id2 = textOf(parsed.find("deadLetters")->items()[0], "messageId");

  Run show = cli({"show", id2, "--data-dir", dataDir});
  CHECK(show.code == 0);
  CHECK(show.out.find("not known here") != std::string::npos);
  Run discard = cli({"discard", id2, "--data-dir", dataDir});
  CHECK(discard.code == 0);
  CHECK(discard.out.find("\"discarded\"") != std::string::npos);
  CHECK(cli({"replay", id2, "--data-dir", dataDir}).code == 1);  // discarded: refused
  CHECK(cli({"list", "--data-dir", dataDir}).out.find("no dead letters") != std::string::npos);
  CHECK(cli({"show", "424242", "--data-dir", dataDir}).code == 1);
  CHECK(cli({"frobnicate", "--data-dir", dataDir}).code == 2);
  CHECK(cli({"replay", "--data-dir", dataDir}).code == 2);
  CHECK(cli({"replay", "--all", id2, "--data-dir", dataDir}).code == 2);
  CHECK(cli({"list", "--all", "--data-dir", dataDir}).code == 2);
  CHECK(cli({"replay", "--since", "last week", "--data-dir", dataDir}).code == 2);
  Run none = cli({"replay", "--destination", "elsewhere", "--data-dir", dataDir});
  CHECK(none.code == 0);
  CHECK(none.err.find("replayed: 0 message(s)") != std::string::npos);
  CHECK(cli({"list", "--data-dir", dataDir + "/missing"}).code == 3);
}

}  // namespace

TEST_CASE("operators see, replay and discard dead letters over HTTP and with the CLI",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  receiver.setDefault(Step::operationOutcome(422, "invalid", "Observation.code: not known here"));
  receiver.setHandler([](const inloop::testing::ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET") return Step::respond(404);  // no CapabilityStatement
    return std::nullopt;
  });
  {
    std::string dataDir;
    DaemonFixture d([&](inloop::gateway::DaemonConfig& c) {
      c.routeFlags = {"*=fhir-transaction:" + receiver.url("/fhir")};
    });
    REQUIRE(d.startError().empty());
    dataDir = (d.tmp() / "data").string();
    REQUIRE(d.request("POST", "/records", kAdminToken, measurement("OPS-1", 1, "MRN-O")).status ==
            202);
    REQUIRE(d.request("POST", "/records", kAdminToken, measurement("OPS-2", 1, "MRN-P")).status ==
            202);
    REQUIRE(waitUntil(d.changes(), [&] {
      return stateOf(d, "OPS-1") == "dead-letter" && stateOf(d, "OPS-2") == "dead-letter";
    }));

    const Json list = d.request("GET", "/deadletters", kReadToken).json();
    REQUIRE(list.find("deadLetters") != nullptr);
    REQUIRE(list.find("deadLetters")->items().size() == 2);
    std::string id1;
    std::string id2;
    for (const Json& e : list.find("deadLetters")->items()) {
      (textOf(e, "recordId") == "OPS-1" ? id1 : id2) = textOf(e, "messageId");
      CHECK(textOf(e, "operationOutcomeSummary").find("not known here") != std::string::npos);
    }
    REQUIRE_FALSE(id1.empty());

    const Json one = d.request("GET", "/deadletters/" + id1, kReadToken).json();
    CHECK(textOf(one, "state") == "dead-letter");
    CHECK(one.find("operationOutcome") != nullptr);
    CHECK(one.find("ledger") != nullptr);
    CHECK(d.request("GET", "/deadletters/999999", kReadToken).status == 404);
    CHECK(d.request("GET", "/deadletters/abc", kReadToken).status == 404);

    // Roles: reading is not enough to act.
    CHECK(d.request("POST", "/deadletters/" + id1 + "/replay", kReadToken).status == 403);
    CHECK(d.request("POST", "/deadletters/" + id1 + "/replay").status == 401);
    CHECK(d.request("GET", "/deadletters/" + id1 + "/replay", kAdminToken).status == 405);

    // The receiver is fixed; the operator replays one message.
    receiver.setDefault(Step::respond(
        200, R"({"resourceType":"Bundle","type":"transaction-response","entry":[]})"));
    CHECK(d.request("POST", "/deadletters/" + id1 + "/replay", kAdminToken).status == 200);
    REQUIRE(waitUntil(d.changes(), [&] { return stateOf(d, "OPS-1") == "delivered"; }));
    CHECK(d.request("POST", "/deadletters/" + id1 + "/discard", kAdminToken).status == 409);

    const Json ledger = d.request("GET", "/deliveries?recordId=OPS-1", kReadToken).json();
    REQUIRE(ledger.find("attempts") != nullptr);
    REQUIRE(ledger.find("attempts")->items().size() == 2);
    CHECK(textOf(ledger.find("attempts")->items()[0], "outcome") == "dead-letter");
    CHECK(textOf(ledger.find("attempts")->items()[0], "status") == "422");
    CHECK(textOf(ledger.find("attempts")->items()[1], "outcome") == "delivered");
    CHECK(d.request("GET", "/deliveries", kReadToken).status == 422);
    CHECK(d.request("GET", "/deliveries?recordId=NOPE", kReadToken).status == 404);

    const Json record = d.request("GET", "/records/OPS-1", kReadToken).json();
    REQUIRE(record.find("deliveries") != nullptr);
    CHECK(textOf(record.find("deliveries")->items().back(), "state") == "delivered");

    const Json dest = d.request("GET", "/destinations", kReadToken).json();
    REQUIRE(dest.find("destinations") != nullptr);
    REQUIRE(dest.find("destinations")->items().size() == 1);
    const Json& first = dest.find("destinations")->items()[0];
    CHECK(textOf(first, "deadLetters") == "1");
    CHECK(textOf(first, "endpoint") == receiver.url("/fhir"));

    const std::string metrics = d.request("GET", "/metrics", kReadToken).body;
    CHECK(metrics.find("inloop_delivery_delivered_total{destination=\"route-any-fhir-"
                       "transaction\"} 1") != std::string::npos);
    CHECK(metrics.find("inloop_delivery_dead_letters{destination=\"route-any-fhir-"
                       "transaction\"} 1") != std::string::npos);
    d.stopAndLog();
    cliOnStore(dataDir);
  }
}

TEST_CASE("POST /admin/reload picks up a new destinations file - a bad one changes nothing",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  receiver.setDefault(
      Step::respond(200, R"({"resourceType":"Bundle","type":"transaction-response","entry":[]})"));
  receiver.setHandler([](const inloop::testing::ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET") return Step::respond(404);
    return std::nullopt;
  });
  inloop::server_testing::TempDir files;
  const auto destinations = files.path() / "destinations.json";
  inloop::server_testing::writeFile(destinations, R"({"destinations": [], "routes": {}})");
  DaemonFixture d(
      [&](inloop::gateway::DaemonConfig& c) { c.destinationsFile = destinations.string(); },
      FixtureStore::kMemory);
  REQUIRE(d.startError().empty());

  REQUIRE(d.request("POST", "/records", kAdminToken, measurement("RL-1", 1, "MRN-RL")).status ==
          202);
  CHECK(stateOf(d, "RL-1") == "unroutable");

  inloop::server_testing::writeFile(destinations, R"({
    // a comment, as the real file has
    "destinations": [{"id": "ehr", "kind": "fhir-transaction", "endpoint": ")" +
                                                      receiver.url("/fhir") + R"("}],
    "routes": {"riverside-family-medicine": ["ehr"]}
  })");
  CHECK(d.request("POST", "/admin/reload", kAdminToken).status == 200);
  const Json dest = d.request("GET", "/destinations", kReadToken).json();
  REQUIRE(dest.find("destinations") != nullptr);
  REQUIRE(dest.find("destinations")->items().size() == 1);
  CHECK(textOf(dest.find("destinations")->items()[0], "id") == "ehr");

  // Version 2 is routed now (and supersedes the unroutable marker).
  REQUIRE(d.request("POST", "/records", kAdminToken, measurement("RL-1", 2, "MRN-RL")).status ==
          202);
  REQUIRE(waitUntil(d.changes(), [&] { return stateOf(d, "RL-1") == "delivered"; }));

  inloop::server_testing::writeFile(destinations, R"({"destinations": [{"id": "x"}]})");
  CHECK(d.request("POST", "/admin/reload", kAdminToken).status == 422);
  const Json after = d.request("GET", "/destinations", kReadToken).json();
  REQUIRE(after.find("destinations") != nullptr);
  REQUIRE(after.find("destinations")->items().size() == 1);
  CHECK(textOf(after.find("destinations")->items()[0], "id") == "ehr");
}

TEST_CASE(
    "nothing this destination takes: not-sent, never delivered - visible, alerted, "
    "replayable",
    "[gateway][delivery]") {
  FaultReceiver receiver;
  receiver.setDefault(Step::respond(200));
  inloop::server_testing::TempDir files;
  const auto destinations = files.path() / "destinations.json";
  auto write = [&](const std::string& accepts) {
    inloop::server_testing::writeFile(
        destinations, R"({"destinations": [{"id": "engine", "kind": "http-bundle", "endpoint": ")" +
                          receiver.url("/in") + "\"" + accepts +
                          R"(}], "routes": {"*": ["engine"]}})");
  };
  write(R"(, "accepts": ["Goal"])");
  DaemonFixture d(
      [&](inloop::gateway::DaemonConfig& c) { c.destinationsFile = destinations.string(); },
      FixtureStore::kMemory);
  REQUIRE(d.startError().empty());
  REQUIRE(d.request("POST", "/records", kAdminToken, measurement("NS-1", 1, "MRN-NS")).status ==
          202);
  REQUIRE(waitUntil(d.changes(), [&] { return stateOf(d, "NS-1") == "not-sent"; }));
  CHECK(receiver.requestCount() == 0);

  const Json dest = d.request("GET", "/destinations", kReadToken).json();
  REQUIRE(dest.find("destinations") != nullptr);
  const Json& engine = dest.find("destinations")->items()[0];
  CHECK(textOf(engine, "notSent") == "1");
  CHECK(textOf(engine, "health") == "degraded");
  CHECK(engine.find("alert")->asBool());
  const std::string metrics = d.request("GET", "/metrics", kReadToken).body;
  CHECK(metrics.find("inloop_delivery_not_sent{destination=\"engine\"} 1") != std::string::npos);
  CHECK(metrics.find("inloop_delivery_delivered_total{destination=\"engine\"} 0") !=
        std::string::npos);

  const Json ledger = d.request("GET", "/deliveries?recordId=NS-1", kReadToken).json();
  const Json& attempt = ledger.find("attempts")->items().back();
  CHECK(textOf(attempt, "outcome") == "not-sent");
  CHECK(textOf(attempt, "error").find("not in its \"accepts\" list") != std::string::npos);

  // Listed with the dead letters; once the destination takes it, a replay sends it.
  const Json list = d.request("GET", "/deadletters", kReadToken).json();
  REQUIRE(list.find("deadLetters")->items().size() == 1);
  const Json& entry = list.find("deadLetters")->items()[0];
  CHECK(textOf(entry, "state") == "not-sent");
  write("");
  REQUIRE(d.request("POST", "/admin/reload", kAdminToken).status == 200);
  // Replay by filter: a bad instant is refused, another destination replays nothing.
  CHECK(d.request("POST", "/deadletters/replay?since=yesterday", kAdminToken).status == 422);
  CHECK(d.request("POST", "/deadletters/replay?destination=engine", kReadToken).status == 403);
  CHECK(textOf(d.request("POST", "/deadletters/replay?destination=other", kAdminToken).json(),
               "replayed") == "0");
  CHECK(textOf(
            d.request("POST", "/deadletters/replay?since=2999-01-01T00:00:00Z", kAdminToken).json(),
            "replayed") == "0");
  const Json replayed = d.request("POST",
                                  "/deadletters/replay?destination=engine&since=2000-01-01T00:00:"
                                  "00Z",
                                  kAdminToken)
                            .json();
  CHECK(textOf(replayed, "replayed") == "1");
  CHECK(textOf(entry, "messageId") != "");
  REQUIRE(waitUntil(d.changes(), [&] { return stateOf(d, "NS-1") == "delivered"; }));
  CHECK(receiver.requestCount() == 1);
}

TEST_CASE("the ledger keeps the receiver's answer and, for a dead letter, what was sent",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  receiver.setDefault(Step::respond(400, "<html>listener refuses: no channel for this feed</html>",
                                    {{"X-Request-Id", "req-42"}, {"Content-Type", "text/html"}}));
  DaemonFixture d(
      [&](inloop::gateway::DaemonConfig& c) {
        c.routeFlags = {"*=http-bundle:" + receiver.url("/in")};
      },
      FixtureStore::kMemory);
  REQUIRE(d.startError().empty());
  REQUIRE(d.request("POST", "/records", kAdminToken, measurement("LG-1", 1, "MRN-LG")).status ==
          202);
  const bool dead = waitUntil(d.changes(), [&] { return stateOf(d, "LG-1") == "dead-letter"; });
  INFO(d.request("GET", "/deliveries?recordId=LG-1", kReadToken).body);
  REQUIRE(dead);
  const Json list = d.request("GET", "/deadletters", kReadToken).json();
  REQUIRE(list.find("deadLetters")->items().size() == 1);
  const std::string id = textOf(list.find("deadLetters")->items()[0], "messageId");
  const Json one = d.request("GET", "/deadletters/" + id, kReadToken).json();
  REQUIRE(one.find("ledger") != nullptr);
  const Json& attempt = one.find("ledger")->items().back();
  const Json* response = attempt.find("response");
  REQUIRE(response != nullptr);
  CHECK(textOf(*response, "status") == "400");
  CHECK(textOf(*response, "body").find("no channel for this feed") != std::string::npos);
  CHECK(textOf(*response->find("headers"), "X-Request-Id") == "req-42");
  const Json* request = attempt.find("request");
  REQUIRE(request != nullptr);
  CHECK(textOf(*request, "request") == "POST ");
  CHECK(textOf(*request, "body").find("\"resourceType\":\"Bundle\"") != std::string::npos);
  // Never in the log: the receiver may echo the patient back.
  const std::string log = d.stopAndLog();
  CHECK(log.find("no channel for this feed") == std::string::npos);
}

TEST_CASE("reprocess: a record translated again with the current tables replaces its dead letter",
          "[gateway][delivery]") {
  FaultReceiver receiver;
  receiver.setDefault(Step::operationOutcome(422, "invalid", "Observation.code: not known here"));
  receiver.setHandler([](const inloop::testing::ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET") return Step::respond(404);
    return std::nullopt;
  });
  DaemonFixture d(
      [&](inloop::gateway::DaemonConfig& c) {
        c.routeFlags = {"*=fhir-transaction:" + receiver.url("/fhir")};
      },
      FixtureStore::kMemory);
  REQUIRE(d.startError().empty());
  REQUIRE(d.request("POST", "/records", kAdminToken, measurement("RP-1", 1, "MRN-RP")).status ==
          202);
  REQUIRE(waitUntil(d.changes(), [&] { return stateOf(d, "RP-1") == "dead-letter"; }));

  // The admin fixes the table the receiver objected to, reloads, reprocesses.
  const auto measures = d.mappingsDir() / "measures.json";
  std::string text = inloop::server_testing::readFile(measures);
  const std::string from = "Pain intensity (0-10 numeric rating scale)";
  REQUIRE(text.find(from) != std::string::npos);
  text.replace(text.find(from), from.size(), "Pain intensity, 0-10 NRS (fixed)");
  inloop::server_testing::writeFile(measures, text);
  REQUIRE(d.request("POST", "/admin/reload", kAdminToken).status == 200);
  receiver.setDefault(
      Step::respond(200, R"({"resourceType":"Bundle","type":"transaction-response","entry":[]})"));

  CHECK(d.request("POST", "/records/RP-1/reprocess", kReadToken).status == 403);
  CHECK(d.request("POST", "/records/NOPE-1/reprocess", kAdminToken).status == 404);
  CHECK(d.request("GET", "/records/RP-1/reprocess", kAdminToken).status == 405);
  const Json answer = d.request("POST", "/records/RP-1/reprocess", kAdminToken).json();
  CHECK(textOf(answer, "version") == "1");
  REQUIRE(answer.find("destinations") != nullptr);
  CHECK(answer.find("destinations")->items().size() == 1);
  REQUIRE(waitUntil(d.changes(), [&] { return stateOf(d, "RP-1") == "delivered"; }));

  const Json view = d.request("GET", "/records/RP-1", kReadToken).json();
  CHECK(inloop::fhir::writeJson(*view.find("translation")).find("0-10 NRS (fixed)") !=
        std::string::npos);
  const Json ledger = d.request("GET", "/deliveries?recordId=RP-1", kReadToken).json();
  const auto& rows = ledger.find("deliveries")->items();
  REQUIRE(rows.size() == 2);
  CHECK(textOf(rows[0], "state") == "superseded");
  CHECK(textOf(rows[1], "state") == "delivered");
  // The delivered request carried the new translation.
  CHECK(receiver.requests().back().body.find("0-10 NRS (fixed)") != std::string::npos);
  CHECK(d.request("GET", "/deadletters", kReadToken).json().find("deadLetters")->items().empty());
}
