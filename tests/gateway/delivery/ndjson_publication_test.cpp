// ndjson-dir: a record counts as delivered only once the file holding its
// lines is published (renamed to its final name, which the interface engine
// polls for). Until then the message is "written": durable in the hidden
// working file, visible in GET /destinations (awaitingPublication), not
// delivered. Checked in-process (publication by age, on shutdown) and with
// the real binary killed by SIGKILL between the write and the publication.

#include <Poco/Net/HTTPClientSession.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/e2e_checks.h"
#include "tests/gateway/support/serve_child.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

namespace fs = std::filesystem;
using inloop::delivery_testing::stateAt;
using inloop::delivery_testing::waitUntil;
using inloop::e2e_testing::memberOr;
using inloop::e2e_testing::recordIdOf;
using inloop::e2e_testing::textOf;
using inloop::fhir::Json;
using inloop::server_testing::allDelivered;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::kAdminToken;

// The published files of `dir` (names not starting with a dot).
std::vector<fs::path> publishedFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().front() != '.') out.push_back(e.path());
  }
  return out;
}

// How many lines of the published files of `dir` carry `recordId`.
int linesNaming(const fs::path& dir, const std::string& recordId) {
  int n = 0;
  for (const fs::path& file : publishedFiles(dir)) {
    const std::string text = inloop::server_testing::readFile(file);
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (text.substr(start, end - start).find(recordId) != std::string::npos) {
        ++n;
      }
      start = end + 1;
    }
  }
  return n;
}

Json destinationNamed(DaemonFixture& d, const std::string& id) {
  const Json all = d.request("GET", "/destinations", kAdminToken).json();
  for (const Json& o : memberOr(all, "destinations").items()) {
    if (textOf(o, "id") == id) return o;
  }
  return Json();
}

}  // namespace

TEST_CASE("ndjson-dir: delivered once the file is published, not when the line is written",
          "[gateway][delivery]") {
  inloop::server_testing::TempDir files;
  const fs::path held = files.path() / "held";
  const fs::path quick = files.path() / "quick";
  inloop::server_testing::writeFile(files.path() / "destinations.json",
                                    R"({"destinations": [
  {"id": "held", "kind": "ndjson-dir", "endpoint": ")" +
                                        held.string() + R"(", "rotation": {"maxAgeMs": 3600000}},
  {"id": "quick", "kind": "ndjson-dir", "endpoint": ")" +
                                        quick.string() + R"(", "rotation": {"maxAgeMs": 200}}],
 "routes": {"*": ["held", "quick"]}})");
  std::string log;
  const std::string json = exampleRecord("measurement-pain-nrs.json");
  const std::string id = recordIdOf(json);
  {
    DaemonFixture daemon([&](inloop::gateway::DaemonConfig& c) {
      c.destinationsFile = (files.path() / "destinations.json").string();
    });
    REQUIRE(daemon.startError().empty());
    REQUIRE(daemon.request("POST", "/records", kAdminToken, json).status == 202);

    // "quick" publishes its file within its age limit: delivered, and the
    // ledger names the published file.
    REQUIRE(waitUntil(
        daemon.changes(), [&] { return stateAt(daemon, id, "quick") == "delivered"; }, 30));
    const std::vector<fs::path> published = publishedFiles(quick);
    REQUIRE(published.size() == 1);
    CHECK(linesNaming(quick, id) > 0);
    const Json ledger = daemon.request("GET", "/deliveries?recordId=" + id, kAdminToken).json();
    std::set<std::string> outcomes;
    bool namesFile = false;
    for (const Json& a : memberOr(ledger, "attempts").items()) {
      if (textOf(a, "destination") != "quick") continue;
      outcomes.insert(textOf(a, "outcome"));
      if (textOf(a, "location").find(published[0].filename().string()) != std::string::npos) {
        namesFile = true;
      }
    }
    CHECK(outcomes == std::set<std::string>{"written", "delivered"});
    CHECK(namesFile);

    // "held" keeps its working file for an hour: written, NOT delivered, and
    // GET /destinations says a message awaits publication.
    REQUIRE(waitUntil(
        daemon.changes(), [&] { return stateAt(daemon, id, "held") == "written"; }, 30));
    CHECK_FALSE(allDelivered(daemon, id));
    CHECK(publishedFiles(held).empty());
    const Json view = destinationNamed(daemon, "held");
    CHECK(textOf(view, "awaitingPublication") == "1");
    CHECK(textOf(memberOr(view, "counters"), "written") == "1");
    CHECK(textOf(memberOr(view, "counters"), "delivered") == "0");
    CHECK(textOf(destinationNamed(daemon, "quick"), "awaitingPublication") == "0");
    log = daemon.stopAndLog();
  }
  // Shutdown publishes the working file, and its message is delivered then.
  CHECK(publishedFiles(held).size() == 1);
  CHECK(linesNaming(held, id) == linesNaming(quick, id));
  CHECK(log.find("\"event\":\"published\"") != std::string::npos);
  CHECK(log.find("\"destination\":\"held\"") != std::string::npos);
}

TEST_CASE("ndjson-dir: lines written before a SIGKILL are published and delivered at restart",
          "[gateway][delivery][durability]") {
  inloop::server_testing::TempDir dir;
  const fs::path dataDir = dir.path() / "data";
  const fs::path config = inloop::testing::copyShippedConfig(dir.path());
  const fs::path outbox = dir.path() / "var" / "outbox";  // the shipped ndjson-dir
  const fs::path db = dataDir / "inloop.db";
  const std::string token = "ndjson-publication-token-0123456789";
  const std::vector<std::string> names = {"measurement-pain-nrs.json",
                                          "medication-start-duloxetine.json"};
  const auto count = [&](const char* state) {
    return inloop::testing::storeCount(
        db, std::string("SELECT count(*) FROM outbox WHERE destination_id != '' AND state = '") +
                state + "'");
  };
  std::vector<std::string> ids;
  {
    inloop::testing::ServeChild child({dataDir, token, config, {}});
    const int port = child.waitForPort(std::chrono::seconds(60));
    INFO(child.output());
    REQUIRE(port > 0);
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    for (const std::string& name : names) {
      const std::string json = exampleRecord(name);
      ids.push_back(recordIdOf(json));
      REQUIRE(inloop::testing::postRecord(session, json, token) == 202);
    }
    // Written (the shipped rotation publishes after a minute), not delivered.
    REQUIRE(child.waitUntil([&] { return count("written") == 2; }, std::chrono::seconds(60)));
    CHECK(count("delivered") == 0);
    child.kill9();
  }
  CHECK(publishedFiles(outbox).empty());
  {
    inloop::testing::ServeChild child({dataDir, token, config, {}});
    INFO(child.output());
    REQUIRE(child.waitForPort(std::chrono::seconds(60)) > 0);
    // The working file left behind is published at start-up, and its
    // messages are delivered then: nothing written remains, nothing sent twice.
    REQUIRE(child.waitUntil([&] { return count("delivered") == 2; }, std::chrono::seconds(60)));
    CHECK(count("written") == 0);
    CHECK(publishedFiles(outbox).size() == 1);
    for (const std::string& id : ids) {
      INFO(id);
      CHECK(linesNaming(outbox, id) > 0);
      CHECK(inloop::testing::storeCount(db, "SELECT count(*) FROM attempts WHERE record_id = '" +
                                                id + "' AND outcome = 'delivered'") == 1);
    }
    child.terminate();
  }
}
