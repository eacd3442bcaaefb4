#pragma once

// Shared by the store tests: ingest items made by hand (synthetic data only),
// one-call helpers that REQUIRE success, and the two Store implementations
// as test types (SqliteKind on a fresh file, MemoryKind), so that a
// TEMPLATE_TEST_CASE runs the same contract against both.

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/store/memory_store.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::store_testing {

using gateway::DestinationTarget;
using gateway::IngestItem;
using gateway::IngestResult;
using gateway::OutboxMessage;
using gateway::OutboxState;
using gateway::Store;

inline IngestItem makeItem(const std::string& recordId, std::int64_t version,
                           const std::string& content = "a", const std::string& patient = "mrn-1",
                           std::vector<DestinationTarget> destinations = {}) {
  IngestItem item;
  item.recordId = recordId;
  item.version = version;
  item.recordType = "measurement";
  item.practiceId = "practice-1";
  item.patientKey = patient;
  item.recordJson = R"({"recordId":")" + recordId + R"(","note":")" + content + R"("})";
  item.contentHash = gateway::sha256Hex(item.recordJson).value();
  item.bundleJson = R"({"resourceType":"Bundle","type":"transaction"})";
  item.destinations = std::move(destinations);
  item.principal = "clinic-export";
  item.source = "http";
  return item;
}

inline std::vector<DestinationTarget> to(const std::string& destinationId) {
  return {DestinationTarget{destinationId, OutboxState::kPending, ""}};
}

inline IngestResult ingestOne(Store& store, IngestItem item) {
  std::vector<IngestItem> items;
  items.push_back(std::move(item));
  auto results = store.ingest(std::move(items));
  INFO(results.status().toString());
  REQUIRE(results.isOk());
  REQUIRE(results->size() == 1);
  return results->front();
}

// Ingests `item`, which must be accepted.
inline void accept(Store& store, IngestItem item) {
  const IngestResult result = ingestOne(store, std::move(item));
  INFO(result.message);
  REQUIRE(result.outcome == gateway::IngestOutcome::kAccepted);
}

inline std::vector<OutboxMessage> claim(Store& store, const std::string& destination,
                                        std::int64_t now, int limit = 10,
                                        std::int64_t leaseFor = 60000) {
  auto messages = store.claimDue(destination, now, limit, leaseFor);
  INFO(messages.status().toString());
  REQUIRE(messages.isOk());
  return std::move(messages).value();
}

// "recordId@version" of each message, sorted.
inline std::vector<std::string> recordIdsOf(const std::vector<OutboxMessage>& messages) {
  std::vector<std::string> ids;
  for (const auto& m : messages) ids.push_back(m.recordId + "@" + std::to_string(m.version));
  std::sort(ids.begin(), ids.end());
  return ids;
}

// A SqliteStore on a fresh file in a temporary folder.
struct SqliteKind {
  static constexpr bool kOnDisk = true;
  std::unique_ptr<Store> open(const gateway::Clock& clock) {
    auto store = gateway::openSqliteStore((dir.path() / "inloop.db").string(),
                                          gateway::SqliteStoreOptions{}, clock);
    INFO(store.status().toString());
    REQUIRE(store.isOk());
    return std::move(store).value();
  }
  server_testing::TempDir dir;
};

// A MemoryStore.
struct MemoryKind {
  static constexpr bool kOnDisk = false;
  std::unique_ptr<Store> open(const gateway::Clock& clock) {
    return gateway::openMemoryStore(clock);
  }
};

}  // namespace inloop::store_testing
