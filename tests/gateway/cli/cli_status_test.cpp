// `inloop status` in-process on a temp store filled through the Store interface.

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/cli/cli.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"

namespace inloop::gateway {
namespace {

namespace fs = std::filesystem;

class StatusDir {
 public:
  StatusDir() {
    std::string pattern = (fs::temp_directory_path() / "inloop-status-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~StatusDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

IngestItem statusItem(const std::string& recordId, const std::string& type, bool routed) {
  IngestItem item;
  item.recordId = recordId;
  item.version = 1;
  item.recordType = type;
  item.practiceId = "practice-1";
  item.patientKey = "patient-" + recordId;
  item.recordJson = R"({"recordId":")" + recordId + R"(","secretNote":"DO-NOT-PRINT"})";
  item.contentHash = sha256Hex(item.recordJson).value();
  item.bundleJson = R"({"resourceType":"Bundle","type":"transaction","entry":[]})";
  if (routed) item.destinations = {DestinationTarget{"ehr-1", OutboxState::kPending, ""}};
  item.principal = "status-test";
  item.source = "inbox:export.ndjson";
  return item;
}

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

Run status(std::vector<std::string> args) {
  args.insert(args.begin(), {"inloop", "status"});
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  Run r;
  r.code = runCli(args, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

void fillStore(const fs::path& dir, ManualClock& clock) {
  auto store = openSqliteStore((dir / "inloop.db").string(), {}, clock);
  REQUIRE(store.isOk());
  auto results = (*store)->ingest({statusItem("S-1", "measurement", false),
                                   statusItem("S-2", "measurement", true),
                                   statusItem("S-3", "care-plan", false)});
  REQUIRE(results.isOk());
  // A second version of S-1.
  IngestItem v2 = statusItem("S-1", "measurement", false);
  v2.version = 2;
  v2.recordJson += " ";
  v2.contentHash = sha256Hex(v2.recordJson).value();
  REQUIRE((*store)->ingest({v2}).isOk());
}

}  // namespace

TEST_CASE("inloop status prints records, outbox states and audit without payload",
          "[gateway][cli]") {
  StatusDir dir;
  ManualClock clock;
  fillStore(dir.path(), clock);

  Run r = status({"--data-dir", dir.path().string()});
  INFO(r.out << r.err);
  REQUIRE(r.code == kExitOk);
  const std::vector<std::string> expected = {
      "records:  3 (4 versions)", "  measurement: 2",
      "  care-plan: 1",           "  pending: 1",
      "  unroutable: 2",          "  superseded: 1",
      "  dead-letter: 0",         "  patient-unmatched: 0",
      "inbox:export.ndjson",      "status-test ingest S-1 v2 measurement accepted"};
  for (const std::string& line : expected) {
    INFO(line);
    CHECK(r.out.find(line) != std::string::npos);
  }
  CHECK(r.out.find((dir.path() / "inloop.db").string()) != std::string::npos);
  CHECK(r.out.find("DO-NOT-PRINT") == std::string::npos);
  CHECK(r.out.find("secretNote") == std::string::npos);
}

TEST_CASE("inloop status --json is machine-readable", "[gateway][cli]") {
  StatusDir dir;
  ManualClock clock;
  fillStore(dir.path(), clock);

  Run r = status({"--json", "--data-dir", dir.path().string(), "--audit", "2"});
  INFO(r.out << r.err);
  REQUIRE(r.code == kExitOk);
  fhir::Result<fhir::Json> doc = fhir::parseJson(r.out);
  REQUIRE(doc.isOk());
  const fhir::Json* records = doc->find("records");
  REQUIRE(records != nullptr);
  CHECK(records->find("total")->toInt64() == 3);
  CHECK(records->find("versions")->toInt64() == 4);
  CHECK(records->find("byType")->find("measurement")->toInt64() == 2);
  const fhir::Json* outbox = doc->find("outbox");
  REQUIRE(outbox != nullptr);
  CHECK(outbox->find("pending")->toInt64() == 1);
  CHECK(outbox->find("unroutable")->toInt64() == 2);
  CHECK(outbox->find("superseded")->toInt64() == 1);
  CHECK(outbox->find("dead-letter")->toInt64() == 0);
  REQUIRE(doc->find("audit") != nullptr);
  CHECK(doc->find("audit")->items().size() == 2);
  CHECK(doc->find("store")->find("sizeBytes")->toInt64().value_or(0) > 0);
  CHECK(r.out.find("DO-NOT-PRINT") == std::string::npos);
}

TEST_CASE("inloop status fails with exit 3 naming the path when there is no store",
          "[gateway][cli]") {
  StatusDir dir;
  const fs::path missing = dir.path() / "nothing-here";
  Run r = status({"--data-dir", missing.string()});
  CHECK(r.code == kExitFailure);
  CHECK(r.err.find((missing / "inloop.db").string()) != std::string::npos);
  CHECK_FALSE(fs::exists(missing / "inloop.db"));  // never created

  // A file that is not a database.
  fs::create_directories(missing);
  {
    std::ofstream junk(missing / "inloop.db", std::ios::binary);
    junk << "this is not a database, just text that is long enough to matter............";
  }
  r = status({"--data-dir", missing.string()});
  CHECK(r.code == kExitFailure);
  CHECK(r.err.find((missing / "inloop.db").string()) != std::string::npos);
}

TEST_CASE("inloop status usage errors", "[gateway][cli]") {
  struct Case {
    std::vector<std::string> args;
  };
  const std::vector<Case> cases = {
      {{"--data-dir"}}, {{"--bogus"}}, {{"--audit", "-1"}}, {{"--audit", "x"}}, {{"extra"}}};
  for (const Case& c : cases) {
    INFO(c.args.front());
    Run r = status(c.args);
    CHECK(r.code == kExitUsage);
    CHECK(r.err.find("usage: inloop status") != std::string::npos);
  }
}

}  // namespace inloop::gateway
