// Receipt ids of SqliteStore (gateway/store/sqlite_store.cpp).

#include <catch2/catch.hpp>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::gateway {
namespace {

using server_testing::TempDir;

// `count` new records in one ingest call; returns their receipt ids in order.
std::vector<std::string> ingestNew(Store& store, const std::string& prefix, int count) {
  std::vector<IngestItem> items;
  for (int i = 0; i < count; ++i) {
    IngestItem item;
    item.recordId = prefix + "-" + std::to_string(i);
    item.version = 1;
    item.recordType = "measurement";
    item.practiceId = "practice-1";
    item.patientKey = "mrn-" + std::to_string(i % 3);
    item.recordJson = R"({"recordId":")" + item.recordId + R"("})";
    item.contentHash = sha256Hex(item.recordJson).value();
    item.bundleJson = R"({"resourceType":"Bundle","type":"transaction"})";
    item.principal = "test";
    item.source = "http";
    items.push_back(std::move(item));
  }
  auto results = store.ingest(std::move(items));
  INFO(results.status().toString());
  REQUIRE(results.isOk());
  std::vector<std::string> ids;
  for (const IngestResult& r : *results) {
    REQUIRE(r.outcome == IngestOutcome::kAccepted);
    ids.push_back(r.receipt.receiptId);
  }
  return ids;
}

std::unique_ptr<Store> openStore(const std::string& path, const Clock& clock) {
  auto store = openSqliteStore(path, SqliteStoreOptions{}, clock);
  INFO(store.status().toString());
  REQUIRE(store.isOk());
  return std::move(store).value();
}

TEST_CASE("receipt ids ascend, also across a restart with a clock that went back",
          "[gateway][store]") {
  TempDir dir;
  const std::string path = (dir.path() / "inloop.db").string();
  ManualClock clock(1'800'000'000'000);
  std::vector<std::string> ids;
  {
    auto store = openStore(path, clock);
    for (const std::string& id : ingestNew(*store, "a", 5)) ids.push_back(id);
    clock.advance(1);
    for (const std::string& id : ingestNew(*store, "b", 2)) ids.push_back(id);
  }
  clock.set(1'700'000'000'000);  // earlier than every id issued so far
  {
    auto store = openStore(path, clock);
    for (const std::string& id : ingestNew(*store, "c", 3)) ids.push_back(id);
  }
  const std::regex shape("rcpt-[0-9a-f]{16}");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO(ids[i]);
    CHECK(std::regex_match(ids[i], shape));
    if (i > 0) CHECK(ids[i - 1] < ids[i]);
  }
}

}  // namespace
}  // namespace inloop::gateway
