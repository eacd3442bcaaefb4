// Durability of `inloop serve` as a whole: the real binary (INLOOP_BINARY) runs
// as a child on port 0 with a temp data dir; client threads post records over
// keep-alive HTTP; the child is killed with SIGKILL at a random point, five
// times. After each restart: every record that got a 2xx is in the store,
// exactly once, with its translation and outbox row, the file passes
// PRAGMA integrity_check, and posting an acknowledged record again is a replay.
//
// Synchronisation is by conditions only: the child's "listening" log line (a
// bounded wait with a deadline) and the HTTP replies.

#include <Poco/Net/HTTPClientSession.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json.h"
#include "tests/gateway/support/serve_child.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::gateway {
namespace {

namespace fs = std::filesystem;

constexpr const char* kToken = "durability-test-token-0123456789";
constexpr int kCycles = 5;
constexpr int kClientThreads = 2;

using DurabilityDir = server_testing::TempDir;
using testing::firstColumn;

// The durability suite's child: config/inloop.json, the test token.
class ServeChild : public testing::ServeChild {
 public:
  explicit ServeChild(const fs::path& dataDir)
      : testing::ServeChild(testing::ServeOptions{dataDir, kToken, {}, {}}) {}
};

int postRecord(Poco::Net::HTTPClientSession& session, const std::string& body) {
  return testing::postRecord(session, body, kToken);
}

// Acknowledged records, shared by the client threads and the test.
struct Acks {
  std::mutex mutex;
  std::vector<std::string> ids;  // every recordId that got a 2xx (version 1)
  std::vector<int> unexpected;   // statuses other than 2xx / 503 / connection loss
};

struct Checked {
  std::string integrity;
  std::size_t missing = 0;      // acknowledged but not in record_versions
  std::size_t halfWritten = 0;  // a version without translation or outbox row
  std::int64_t duplicates = 0;  // (record_id, version) pairs stored twice
  std::int64_t versions = 0;
};

Checked checkStore(const fs::path& dbPath, const std::vector<std::string>& acked) {
  Checked c;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(dbPath.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    c.integrity = "cannot open";
    sqlite3_close(db);
    return c;
  }
  sqlite3_busy_timeout(db, 10000);
  c.integrity = firstColumn(db, "PRAGMA integrity_check");
  c.duplicates =
      std::stoll(firstColumn(db,
                             "SELECT COUNT(*) FROM (SELECT record_id, version FROM record_versions "
                             "GROUP BY record_id, version HAVING COUNT(*) > 1)"));
  c.versions = std::stoll(firstColumn(db, "SELECT COUNT(*) FROM record_versions"));
  c.halfWritten = static_cast<std::size_t>(std::stoll(
      firstColumn(db,
                  "SELECT COUNT(*) FROM record_versions rv WHERE "
                  "NOT EXISTS (SELECT 1 FROM translations t WHERE t.version_id = rv.id "
                  "            AND length(t.bundle_json) > 0) "
                  "OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.version_id = rv.id) "
                  "OR NOT EXISTS (SELECT 1 FROM records r WHERE r.record_id = rv.record_id "
                  "               AND r.latest_version >= rv.version)")));
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT COUNT(*) FROM record_versions WHERE record_id = ? AND "
                             "version = 1 AND length(record_json) > 0",
                             -1, &stmt, nullptr) == SQLITE_OK);
  for (const std::string& id : acked) {
    sqlite3_reset(stmt);
    sqlite3_bind_text(stmt, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(stmt) != SQLITE_ROW || sqlite3_column_int64(stmt, 0) != 1) ++c.missing;
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return c;
}

std::string recordText(const fhir::Json& base, const std::string& recordId) {
  fhir::Json doc = base;
  doc.set("recordId", fhir::Json::string(recordId));
  return fhir::writeJson(doc);
}

}  // namespace

TEST_CASE("inloop serve killed with SIGKILL keeps every acknowledged record exactly once",
          "[gateway][durability]") {
  DurabilityDir dir;
  const fs::path dbPath = dir.path() / "inloop.db";
  const fhir::Json base = *fhir::parseJson(server_testing::readFile(
      fs::path(INLOOP_SOURCE_DIR) / "examples/records/measurement-pain-nrs.json"));
  const unsigned seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  Acks acks;

  // The file inbox of the same daemon: one good NDJSON file and one bad record,
  // there before the first start.
  const fs::path inbox = dir.path() / "inbox";
  fs::create_directories(inbox);
  {
    std::ofstream good(inbox / "boot.ndjson.tmp", std::ios::binary);
    for (int i = 0; i < 3; ++i) good << recordText(base, "INBOX-" + std::to_string(i)) << "\n";
    fhir::Json bad = base;
    bad.set("measure", fhir::Json::string("no-such-measure"));
    std::ofstream badFile(inbox / "bad.json.tmp", std::ios::binary);
    badFile << recordText(bad, "INBOX-BAD");
  }
  fs::rename(inbox / "boot.ndjson.tmp", inbox / "boot.ndjson");
  fs::rename(inbox / "bad.json.tmp", inbox / "bad.json");

  for (int cycle = 0; cycle <= kCycles; ++cycle) {
    INFO("cycle " << cycle);
    ServeChild child(dir.path());
    const int port = child.waitForPort(std::chrono::seconds(60));
    INFO("child output:\n" << child.output());
    REQUIRE(port > 0);
    if (cycle == 0) {
      // The daemon scans its inbox right after start-up.
      REQUIRE(child.waitForOutput("\"event\":\"inbox-file\"", 2, std::chrono::seconds(60)));
      CHECK(fs::exists(inbox / "processed" / "boot.ndjson"));
      CHECK(fs::exists(inbox / "rejected" / "bad.json"));
      CHECK(fs::exists(inbox / "rejected" / "bad.json.errors.json"));
      std::lock_guard<std::mutex> lock(acks.mutex);
      for (int i = 0; i < 3; ++i) acks.ids.push_back("INBOX-" + std::to_string(i));
    }

    if (cycle > 0) {
      // After the restart: the previous cycles' acknowledgements hold.
      std::vector<std::string> acked;
      {
        std::lock_guard<std::mutex> lock(acks.mutex);
        acked = acks.ids;
      }
      REQUIRE_FALSE(acked.empty());
      Checked c = checkStore(dbPath, acked);
      CHECK(c.integrity == "ok");
      CHECK(c.missing == 0);
      CHECK(c.duplicates == 0);
      CHECK(c.halfWritten == 0);
      CHECK(c.versions >= static_cast<std::int64_t>(acked.size()));

      // Posting acknowledged records again is a replay (200), never a new version.
      Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
      session.setKeepAlive(true);
      session.setTimeout(Poco::Timespan(30, 0));
      for (std::size_t i = 0; i < 3; ++i) {
        const std::string& id = acked[rng() % acked.size()];
        INFO("replay of " << id);
        CHECK(postRecord(session, recordText(base, id)) == 200);
      }
      CHECK(checkStore(dbPath, acked).versions == c.versions);
    }
    if (cycle == kCycles) {
      const int status = child.terminate();
      CHECK(WIFEXITED(status));
      break;
    }

    // Kill after a random number of acknowledgements in this cycle.
    const std::size_t killAfter = 20 + rng() % 180;
    const testing::KillCycle killed = testing::killAfterAcks(
        child, kClientThreads, killAfter, [&](int t, testing::AckCounter& counter) {
          Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
          session.setKeepAlive(true);
          session.setTimeout(Poco::Timespan(30, 0));
          for (int n = 0;; ++n) {
            const std::string id =
                "DUR-" + std::to_string(cycle) + "-" + std::to_string(t) + "-" + std::to_string(n);
            const int status = postRecord(session, recordText(base, id));
            if (status == 0) break;  // the child is gone
            std::lock_guard<std::mutex> lock(acks.mutex);
            if (status == 200 || status == 202) {
              acks.ids.push_back(id);
              counter.ack();
            } else if (status != 503) {
              acks.unexpected.push_back(status);
              break;
            }
          }
        });
    CHECK(WIFSIGNALED(killed.waitStatus));
    REQUIRE(killed.reached);
    std::lock_guard<std::mutex> lock(acks.mutex);
    INFO("unexpected statuses: " << acks.unexpected.size());
    REQUIRE(acks.unexpected.empty());
  }
}

}  // namespace inloop::gateway
