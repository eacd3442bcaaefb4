// Retention (gateway/store/retention.h): `inloop purge` while the daemon serves.
// A record that came through the file inbox and was delivered everywhere is
// purged: afterwards its patient's name is in no file under the data
// directory (database, WAL, inbox), while a record still waiting for its
// destination is untouched. --dry-run changes nothing.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fhir/json.h"
#include "gateway/cli/cli.h"
#include "tests/gateway/support/cli_run.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/e2e_checks.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

namespace fs = std::filesystem;
using inloop::delivery_testing::stateAt;
using inloop::delivery_testing::waitUntil;
using inloop::e2e_testing::memberOr;
using inloop::e2e_testing::textOf;
using inloop::fhir::Json;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::filesHolding;
using inloop::server_testing::kAdminToken;
using inloop::testing::runInloop;

// `inloop purge ARGS`: its exit code; stdout and stderr in *out.
int runPurge(std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), "purge");
  const inloop::testing::CliRun r = runInloop(std::move(args));
  *out = r.out + r.err;
  return r.code;
}

}  // namespace

TEST_CASE("retention: purge --apply leaves the purged patient's name in no file of the data dir",
          "[gateway][store]") {
  inloop::server_testing::TempDir files;
  inloop::server_testing::writeFile(files.path() / "destinations.json",
                                    R"({"destinations": [
  {"id": "files", "kind": "ndjson-dir", "endpoint": ")" +
                                        (files.path() / "out").string() +
                                        R"(", "rotation": {"maxBytes": 1024}},
  {"id": "paused", "kind": "ndjson-dir", "enabled": false, "endpoint": ")" +
                                        (files.path() / "paused").string() + R"("}],
 "routes": {"held-practice": ["paused"], "*": ["files"]}})");
  DaemonFixture daemon([&](inloop::gateway::DaemonConfig& c) {
    c.destinationsFile = (files.path() / "destinations.json").string();
    c.inbox.pollIntervalMs = 20;
  });
  REQUIRE(daemon.startError().empty());
  const fs::path dataDir = daemon.tmp() / "data";

  // Delivered everywhere: comes through the inbox (so processed/ holds it).
  Json gone =
      *inloop::fhir::parseJson(inloop::server_testing::exampleRecord("measurement-pain-nrs.json"));
  gone.set("recordId", Json::string("RT-GONE-1"));
  gone.find("patient")->find("name")->set("family", Json::string("Zyxpurgetest"));
  {
    std::ofstream f(dataDir / "inbox" / "gone.json.part", std::ios::binary);
    f << inloop::fhir::writeJson(gone);
  }
  fs::rename(dataDir / "inbox" / "gone.json.part", dataDir / "inbox" / "gone.json");
  // Waiting: its practice's own destination is paused (the "*" one delivers).
  Json kept = gone;
  kept.set("recordId", Json::string("RT-KEPT-1"));
  kept.find("patient")->set("mrn", Json::string("PC-777001"));
  kept.find("patient")->find("name")->set("family", Json::string("Qwvkeeptest"));
  kept.find("pcp")->set("practiceId", Json::string("held-practice"));
  REQUIRE(daemon.request("POST", "/records", kAdminToken, inloop::fhir::writeJson(kept)).status ==
          202);
  REQUIRE(waitUntil(
      daemon.changes(), [&] { return stateAt(daemon, "RT-GONE-1", "files") == "delivered"; }, 30));
  REQUIRE(fs::exists(dataDir / "inbox" / "processed" / "gone.json"));
  CHECK(stateAt(daemon, "RT-KEPT-1", "paused") == "pending");

  std::string out;
  // No policy configured and no --older-than-days: nothing to do.
  CHECK(runPurge({"--apply", "--data-dir", dataDir.string()}, &out) == 2);
  CHECK(out.find("no retention policy") != std::string::npos);
  // A dry run counts and changes nothing.
  REQUIRE(runPurge({"--dry-run", "--older-than-days", "0", "--data-dir", dataDir.string()}, &out) ==
          0);
  CHECK(out.find("would purge 1 record(s)") != std::string::npos);
  CHECK(fs::exists(dataDir / "inbox" / "processed" / "gone.json"));
  CHECK(daemon.request("GET", "/records/RT-GONE-1", kAdminToken).json().find("purged") != nullptr);
  CHECK_FALSE(filesHolding(dataDir, "Zyxpurgetest").empty());

  // Applied while the daemon serves.
  REQUIRE(runPurge({"--apply", "--older-than-days", "0", "--data-dir", dataDir.string()}, &out) ==
          0);
  INFO(out);
  CHECK(out.find("1 record(s) delivered everywhere") != std::string::npos);
  CHECK(out.find("1 processed inbox file(s) deleted") != std::string::npos);
  const Json view = daemon.request("GET", "/records/RT-GONE-1", kAdminToken).json();
  CHECK(memberOr(view, "purged").isBool());
  CHECK(memberOr(view, "purged").asBool());
  const std::vector<std::string> holding = filesHolding(dataDir, "Zyxpurgetest");
  INFO("files holding the purged name: " << holding.size());
  for (const std::string& f : holding) INFO(f);
  CHECK(holding.empty());
  // The waiting record is untouched.
  CHECK_FALSE(filesHolding(dataDir, "Qwvkeeptest").empty());
  CHECK(stateAt(daemon, "RT-KEPT-1", "paused") == "pending");
  // A replay of the purged record is still recognised (hashes and receipts stay).
  CHECK(daemon.request("POST", "/records", kAdminToken, inloop::fhir::writeJson(gone)).status ==
        200);
}
