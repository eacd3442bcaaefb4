// Crash suite with delivery: the real `inloop serve` (INLOOP_BINARY) runs as a
// child with a route to the real FHIR server peer (tests/peers/fhir-server.mjs)
// while client threads post measurements (several patients, each record in
// several versions). The child is killed with SIGKILL at a random moment of
// each cycle (after 0..39 acknowledgements: during start-up recovery, ingest
// and delivery) and restarted. INLOOP_CRASH_CYCLES sets the number of cycles
// (default 5; scripts/stress runs 50). A last start drains the queue (bounded
// polling of the store file), then:
//   - PRAGMA integrity_check is ok;
//   - every acknowledged (recordId, version) is stored, and nothing is half
//     present (each stored version has its translation and outbox row);
//   - the outbox holds no pending or dead-lettered row, and each record's
//     latest version is delivered;
//   - the FHIR server holds exactly one Observation per record identifier, at
//     the store's latest version (record-version extension), no Observation the
//     store does not know, and one Patient per patient.
// Skipped with a WARN only when `node` is not installed.

#include <Poco/Net/HTTPClientSession.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fhir_server_peer.h"
#include "tests/gateway/support/serve_child.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

namespace fs = std::filesystem;
using inloop::delivery_testing::measurement;
using inloop::fhir::Json;
using inloop::testing::FhirServerPeer;
using inloop::testing::ServeChild;
using inloop::testing::ServeOptions;
using inloop::testing::storeCount;
using inloop::testing::storeQuery;

constexpr const char* kToken = "crash-suite-token-0123456789abcdef";
constexpr int kClientThreads = 2;
constexpr int kPatientsPerThread = 2;
constexpr int kRecordsPerPatient = 3;
constexpr const char* kRecordSystem = "https://paincenter.example.org/fhir/sid/record";

int crashCycles() {
  const char* env = std::getenv("INLOOP_CRASH_CYCLES");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 5;
}

// One record a client thread owns: the next version to post and the highest
// acknowledged one. Each record belongs to one thread (no stale races).
struct TrackedRecord {
  std::string recordId;
  std::string mrn;
  std::string pcpPatientId;
  std::int64_t nextVersion = 1;
  std::int64_t ackedVersion = 0;
  std::vector<std::int64_t> acked;
};

struct Shared {
  std::mutex mutex;
  std::vector<int> unexpected;  // statuses other than 200/202/503/connection loss
};

// Writes the daemon config: shipped mapping tables, no inbox, short lease and
// backoff so work interrupted by a kill is picked up again within seconds.
fs::path writeConfig(const fs::path& dir) {
  const fs::path file = dir / "inloop.json";
  inloop::server_testing::writeFile(
      file, "{\n  \"mappingsDir\": \"" +
                (fs::path(INLOOP_SOURCE_DIR) / "config/mappings").string() +
                "\",\n"
                "  \"inbox\": {\"enabled\": false},\n"
                "  \"delivery\": {\"leaseMs\": 3000, \"backoffBaseMs\": 50, "
                "\"backoffCapMs\": 1000, \"breakerOpenMs\": 200}\n}\n");
  return file;
}

// The record-version extension value of a resource (0 when absent).
std::int64_t recordVersionOf(const Json& resource) {
  const Json* ext = resource.find("extension");
  if (ext == nullptr || !ext->isArray()) return 0;
  for (const Json& e : ext->items()) {
    const Json* url = e.find("url");
    const Json* value = e.find("valuePositiveInt");
    if (url != nullptr && value != nullptr && url->text().ends_with("record-version")) {
      return value->toInt64().value_or(0);
    }
  }
  return 0;
}

// Posts versions of the thread's records in turn until the child dies.
void runClient(int port, std::vector<TrackedRecord>* records, Shared* shared, unsigned seed,
               inloop::testing::AckCounter& acks) {
  Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
  session.setKeepAlive(true);
  session.setTimeout(Poco::Timespan(30, 0));
  std::mt19937 rng(seed);
  for (;;) {
    TrackedRecord& r = (*records)[rng() % records->size()];
    const int status = inloop::testing::postRecord(
        session, measurement(r.recordId, r.nextVersion, r.mrn, r.pcpPatientId), kToken);
    if (status == 0) {
      ++r.nextVersion;  // unknown whether it was stored: never reuse the number
      return;
    }
    if (status == 200 || status == 202) {
      r.ackedVersion = r.nextVersion;
      r.acked.push_back(r.nextVersion);
      ++r.nextVersion;
      acks.ack();
    } else if (status != 503) {
      std::lock_guard<std::mutex> lock(shared->mutex);
      shared->unexpected.push_back(status);
      return;
    }
  }
}

}  // namespace

TEST_CASE(
    "inloop serve killed with SIGKILL during ingest and delivery: every acknowledged record "
    "stored, delivered once at its latest version",
    "[gateway][crash][e2e]") {
  if (!inloop::testing::peersAvailable("crash suite with delivery")) return;
  FhirServerPeer server;
  REQUIRE_FALSE(server.base().empty());
  inloop::server_testing::TempDir dir;
  const fs::path dataDir = dir.path() / "data";
  const fs::path db = dataDir / "inloop.db";
  ServeOptions options{
      dataDir, kToken, writeConfig(dir.path()), {"--route", "*=fhir-transaction:" + server.base()}};
  const int cycles = crashCycles();
  const unsigned seed = std::random_device{}();
  INFO("seed " << seed << ", cycles " << cycles);
  std::mt19937 rng(seed);

  std::vector<std::vector<TrackedRecord>> owned(kClientThreads);
  std::map<std::string, std::string> mrnOf;
  for (int t = 0; t < kClientThreads; ++t) {
    for (int p = 0; p < kPatientsPerThread; ++p) {
      const int patient = t * kPatientsPerThread + p;
      for (int k = 0; k < kRecordsPerPatient; ++k) {
        TrackedRecord r;
        r.recordId = "CRASH-" + std::to_string(patient) + "-" + std::to_string(k);
        r.mrn = "MRN-CRASH-" + std::to_string(patient);
        r.pcpPatientId = "RFM-CRASH-" + std::to_string(patient);
        mrnOf[r.recordId] = r.mrn;
        owned[t].push_back(r);
      }
    }
  }
  Shared shared;

  for (int cycle = 0; cycle < cycles; ++cycle) {
    INFO("cycle " << cycle);
    ServeChild child(options);
    const int port = child.waitForPort(std::chrono::seconds(60));
    INFO("child output:\n" << child.output());
    REQUIRE(port > 0);
    const std::size_t killAfter = rng() % 40;
    std::vector<unsigned> seeds;
    for (int t = 0; t < kClientThreads; ++t) seeds.push_back(static_cast<unsigned>(rng()));
    const inloop::testing::KillCycle killed = inloop::testing::killAfterAcks(
        child, kClientThreads, killAfter, [&](int t, inloop::testing::AckCounter& acks) {
          runClient(port, &owned[static_cast<std::size_t>(t)], &shared,
                    seeds[static_cast<std::size_t>(t)], acks);
        });
    CHECK(WIFSIGNALED(killed.waitStatus));
    REQUIRE(killed.reached);
    std::lock_guard<std::mutex> lock(shared.mutex);
    INFO("unexpected statuses: " << shared.unexpected.size());
    REQUIRE(shared.unexpected.empty());
  }

  // A last start with no load: the queue drains (leases of killed workers
  // expire), then a clean stop.
  {
    ServeChild child(options);
    REQUIRE(child.waitForPort(std::chrono::seconds(60)) > 0);
    const bool drained = child.waitUntil(
        [&] { return storeCount(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == 0; },
        std::chrono::seconds(180));
    INFO("child output:\n" << child.output());
    CHECK(drained);
    CHECK(WIFEXITED(child.terminate()));
  }

  CHECK(storeQuery(db, "PRAGMA integrity_check") == "ok");
  CHECK(storeCount(db,
                   "SELECT COUNT(*) FROM record_versions rv WHERE "
                   "NOT EXISTS (SELECT 1 FROM translations t WHERE t.version_id = rv.id "
                   "            AND length(t.bundle_json) > 0) "
                   "OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.version_id = rv.id)") == 0);
  CHECK(storeCount(
            db, "SELECT COUNT(*) FROM outbox WHERE state NOT IN ('delivered', 'superseded')") == 0);
  CHECK(storeCount(db,
                   "SELECT COUNT(*) FROM records r WHERE NOT EXISTS (SELECT 1 FROM outbox o "
                   "WHERE o.record_id = r.record_id AND o.version = r.latest_version AND "
                   "o.state = 'delivered')") == 0);

  std::size_t ackedVersions = 0;
  std::set<std::string> storedMrns;
  std::int64_t storedRecords = 0;
  for (const std::vector<TrackedRecord>& records : owned) {
    for (const TrackedRecord& r : records) {
      INFO("record " << r.recordId);
      const std::int64_t latest = storeCount(
          db, "SELECT coalesce(max(latest_version), 0) FROM records WHERE record_id = '" +
                  r.recordId + "'");
      CHECK(latest >= r.ackedVersion);
      for (std::int64_t v : r.acked) {
        ++ackedVersions;
        CHECK(storeCount(db, "SELECT COUNT(*) FROM record_versions WHERE record_id = '" +
                                 r.recordId + "' AND version = " + std::to_string(v)) == 1);
      }
      if (latest == 0) continue;  // never stored: must not be at the server either
      ++storedRecords;
      storedMrns.insert(r.mrn);
      int status = 0;
      const Json found = server.get(
          "Observation?identifier=" + std::string(kRecordSystem) + "%7C" + r.recordId, &status);
      REQUIRE(status == 200);
      const std::vector<Json> matches = inloop::testing::bundleResources(found);
      REQUIRE(matches.size() == 1);
      CHECK(recordVersionOf(matches[0]) == latest);
    }
  }
  CHECK(ackedVersions > 0);
  WARN("crash suite: " << cycles << " SIGKILL cycles, " << ackedVersions
                       << " acknowledged versions, " << storedRecords << " records delivered");
  int status = 0;
  const std::size_t observations =
      inloop::testing::bundleResources(server.get("Observation?_count=1000", &status)).size();
  CHECK(status == 200);
  CHECK(static_cast<std::int64_t>(observations) == storedRecords);
  const std::size_t patients =
      inloop::testing::bundleResources(server.get("Patient?_count=1000", &status)).size();
  CHECK(status == 200);
  CHECK(patients == storedMrns.size());
}
