// `inloop backup FILE`: an online, consistent copy of the store taken while
// the daemon ingests (records posted from client threads, as fast as the
// daemon takes them). The copy passes integrity_check, holds every record
// acknowledged before the backup began, and a daemon started on it serves
// them (the restore of docs/reliability.md).

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json.h"
#include "gateway/cli/cli.h"
#include "tests/gateway/support/cli_run.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/e2e_checks.h"
#include "tests/gateway/support/serve_child.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

namespace fs = std::filesystem;
using inloop::delivery_testing::waitUntil;
using inloop::fhir::Json;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::kAdminToken;
using inloop::testing::runInloop;

// The example measurement as record `id`.
std::string recordWithId(const Json& base, const std::string& id) {
  Json r = base;
  r.set("recordId", Json::string(id));
  return inloop::fhir::writeJson(r);
}

}  // namespace

TEST_CASE("backup: an online copy during ingest holds every record acknowledged before it",
          "[gateway][store][durability]") {
  inloop::server_testing::TempDir dir;
  const Json base =
      *inloop::fhir::parseJson(inloop::server_testing::exampleRecord("measurement-pain-nrs.json"));
  DaemonFixture daemon;
  REQUIRE(daemon.startError().empty());
  const fs::path dataDir = daemon.tmp() / "data";

  std::mutex mutex;
  std::vector<std::string> acked;
  inloop::gateway::ChangeSignal ackedMore;  // notified by the clients after each ack
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string id = "BK-" + std::to_string(t) + "-" + std::to_string(i);
        if (daemon.request("POST", "/records", kAdminToken, recordWithId(base, id)).status == 202) {
          {
            std::lock_guard<std::mutex> lock(mutex);
            acked.push_back(id);
          }
          ackedMore.notifyAll();
        }
      }
    });
  }
  // Ingest is running: wait for some records, then note what was acknowledged
  // before the backup begins.
  REQUIRE(waitUntil(ackedMore, [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return acked.size() >= 200;
  }));
  std::vector<std::string> before;
  {
    std::lock_guard<std::mutex> lock(mutex);
    before = acked;
  }
  const fs::path copy = dir.path() / "inloop-backup.db";
  const inloop::testing::CliRun backup =
      runInloop({"backup", copy.string(), "--data-dir", dataDir.string()});
  // Ingest went on during the backup.
  const std::size_t ackedAtEnd = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return acked.size();
  }();
  stop = true;
  for (std::thread& c : clients) c.join();
  INFO(backup.err);
  REQUIRE(backup.code == 0);
  CHECK(backup.out.find("integrity ok") != std::string::npos);
  CHECK(ackedAtEnd > before.size());
  CHECK((fs::status(copy).permissions() & fs::perms::others_read) == fs::perms::none);
  CHECK_FALSE(fs::exists(copy.string() + ".tmp"));

  CHECK(inloop::testing::storeQuery(copy, "PRAGMA integrity_check") == "ok");
  int missing = 0;
  for (const std::string& id : before) {
    if (inloop::testing::storeCount(
            copy, "SELECT count(*) FROM records WHERE record_id = '" + id + "'") != 1) {
      ++missing;
    }
  }
  CHECK(missing == 0);

  // An existing file is never overwritten.
  CHECK(runInloop({"backup", copy.string(), "--data-dir", dataDir.string()}).code == 2);
  // No store: a clear error, nothing written.
  const inloop::testing::CliRun none =
      runInloop({"backup", (dir.path() / "x.db").string(), "--data-dir", dir.path().string()});
  CHECK(none.code == 3);
  CHECK(none.err.find("no store at") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path() / "x.db"));

  // Restore: a daemon started on the copy serves what it holds.
  const fs::path restored = dir.path() / "restored";
  fs::create_directories(restored);
  fs::copy_file(copy, restored / "inloop.db");
  DaemonFixture again([&](inloop::gateway::DaemonConfig& c) { c.dataDir = restored.string(); });
  REQUIRE(again.startError().empty());
  for (const std::string& id : {before.front(), before.back()}) {
    INFO(id);
    CHECK(again.request("GET", "/records/" + id, kAdminToken).status == 200);
  }
}
