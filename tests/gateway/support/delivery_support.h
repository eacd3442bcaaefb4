#pragma once

// Shared by the delivery tests: records made from the shipped example, a
// store (in memory unless asked for SQLite) + pipeline + engine harness on a
// ManualClock, and waiting on a condition re-checked at each change event (no
// fixed sleeps, no polling: the wait ends as soon as the condition holds
// after a change).

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/change_signal.h"
#include "gateway/base/clock.h"
#include "gateway/config/tables_dir.h"
#include "gateway/delivery/engine.h"
#include "gateway/delivery/operations.h"
#include "gateway/ingest/ingest_pipeline.h"
#include "gateway/server/daemon.h"
#include "gateway/store/memory_store.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"
#include "mappings/shaping/destination.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::delivery_testing {

inline constexpr const char* kPractice = "riverside-family-medicine";

// A pain-NRS measurement with the given ids (synthetic data only).
inline std::string measurement(const std::string& recordId, std::int64_t version,
                               const std::string& mrn,
                               std::optional<std::string> pcpPatientId = std::string("RFM-1"),
                               const std::string& practice = kPractice) {
  fhir::Json doc = *fhir::parseJson(server_testing::exampleRecord("measurement-pain-nrs.json"));
  doc.set("recordId", fhir::Json::string(recordId));
  doc.set("version", fhir::Json::number(version));
  fhir::Json* patient = doc.find("patient");
  patient->set("mrn", fhir::Json::string(mrn));
  if (pcpPatientId) {
    patient->set("pcpPatientId", fhir::Json::string(*pcpPatientId));
  } else {
    patient->erase("pcpPatientId");
  }
  doc.find("pcp")->set("practiceId", fhir::Json::string(practice));
  return fhir::writeJson(doc);
}

// The text of member `key` of `j` ("" when absent).
inline std::string textOf(const fhir::Json& j, const char* key) {
  const fhir::Json* v = j.find(key);
  return v != nullptr ? v->text() : std::string();
}

// The state of the newest outbox row of `recordId` (GET /deliveries), "" when none.
inline std::string stateOf(server_testing::DaemonFixture& d, const std::string& recordId) {
  const fhir::Json view =
      d.request("GET", "/deliveries?recordId=" + recordId, server_testing::kReadToken).json();
  const fhir::Json* rows = view.find("deliveries");
  if (rows == nullptr || rows->items().empty()) return {};
  return textOf(rows->items().back(), "state");
}

// The state of `recordId`'s outbox row for `destination`, "" when none.
inline std::string stateAt(server_testing::DaemonFixture& d, const std::string& recordId,
                           const std::string& destination) {
  const fhir::Json view =
      d.request("GET", "/deliveries?recordId=" + recordId, server_testing::kReadToken).json();
  const fhir::Json* rows = view.find("deliveries");
  if (rows == nullptr) return {};
  for (const fhir::Json& row : rows->items()) {
    if (textOf(row, "destination") == destination) return textOf(row, "state");
  }
  return {};
}

// Waits until `condition` holds: it is checked now and again each time
// `changes` is notified (the product's change events: an attempt finished, a
// record accepted, an operator action, the ManualClock moved, ...), never on
// a timer. `seconds` only bounds a broken test. Returns its last value.
inline bool waitUntil(gateway::ChangeSignal& changes, const std::function<bool()>& condition,
                      int seconds = 20) {
  return changes.waitFor(condition,
                         std::chrono::steady_clock::now() + std::chrono::seconds(seconds));
}

// The store an EngineHarness runs on: the in-memory store (the default: the
// engine's behaviour does not depend on SQLite, and the store contract test
// proves both stores alike), or SQLite where a test is about what the product
// writes to its file.
enum class HarnessStore { kMemory, kSqlite };

class EngineHarness {
 public:
  explicit EngineHarness(gateway::DeliverySettings settings = {},
                         HarnessStore kind = HarnessStore::kMemory) {
    if (kind == HarnessStore::kSqlite) {
      store_ = std::move(gateway::openSqliteStore((tmp_.path() / "inloop.db").string(),
                                                  gateway::SqliteStoreOptions{}, clock_)
                             .value());
    } else {
      store_ = gateway::openMemoryStore(clock_);
    }
    gateway::MappingTablesRead read = gateway::readMappingTablesDir(
        (std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings").string());
    tables_.replace(read.tables);
    gateway::DeliveryEngineDeps deps;
    deps.store = store_.get();
    deps.clock = &clock_;
    deps.tables = &tables_;
    deps.channels = gateway::defaultChannelFactory(clock_, nullptr);
    deps.random = [] { return 0.0; };  // no jitter: retry times are exact
    deps.changes = &changes_;
    engine_ = std::make_unique<gateway::DeliveryEngine>(settings, std::move(deps));
    gateway::DeliveryEngine* engine = engine_.get();
    router_.setOnAccepted([engine] { engine->notify(); });
    // Moving time wakes the workers (a retry or cool-down fell due) and the
    // test's waits.
    clock_.onChange([this] {
      engine_->notify();
      changes_.notifyAll();
    });
    pipeline_ = std::make_unique<gateway::IngestPipeline>(*store_, tables_, gateway::IngestLimits{},
                                                          nullptr, &router_, &changes_);
    operations_ = std::make_unique<gateway::DeliveryOperations>(*store_, engine_.get(), &changes_);
  }
  ~EngineHarness() { engine_->stop(); }

  // Routes kPractice to `profile`; `startEngine` false: only ingest routes.
  void configure(const mappings::DestinationProfile& profile, bool startEngine = true) {
    auto d = std::make_shared<mappings::Destinations>();
    d->destinations.push_back(profile);
    d->routes[kPractice] = {profile.id};
    destinations_ = d;
    router_.replace(d);
    if (startEngine) engine_->setDestinations(d);
  }
  void startEngine() { engine_->setDestinations(destinations_); }

  gateway::IngestStatus ingest(const std::string& json) {
    return pipeline_->ingestOne(json, gateway::IngestSource{"test", "test"}).status;
  }

  std::vector<gateway::DeliveryAttempt> attempts(const std::string& recordId) {
    auto a = store_->listAttempts(recordId, 1000);
    return a.isOk() ? *a : std::vector<gateway::DeliveryAttempt>{};
  }
  std::vector<gateway::DeliveryState> rows(const std::string& recordId) {
    auto v = store_->getRecord(recordId);
    return v.isOk() ? v->deliveries : std::vector<gateway::DeliveryState>{};
  }
  // State of the newest outbox row of the record.
  std::optional<gateway::OutboxState> state(const std::string& recordId) {
    auto r = rows(recordId);
    if (r.empty()) return std::nullopt;
    return r.back().state;
  }
  bool is(const std::string& recordId, gateway::OutboxState s) { return state(recordId) == s; }

  // Advances the manual clock (which wakes the workers and the waits).
  void advance(std::int64_t millis) { clock_.advance(millis); }

  // Loads the mapping tables of `dir` in place of the current ones (as a reload does).
  void loadTables(const std::filesystem::path& dir) {
    gateway::MappingTablesRead read = gateway::readMappingTablesDir(dir.string());
    REQUIRE(read.tables != nullptr);
    tables_.replace(read.tables);
  }

  gateway::ManualClock& clock() { return clock_; }
  // Notified by the engine, the pipeline, the operations and the clock.
  gateway::ChangeSignal& changes() { return changes_; }
  gateway::Store& store() { return *store_; }
  gateway::DeliveryEngine& engine() { return *engine_; }
  gateway::DeliveryOperations& operations() { return *operations_; }

 private:
  server_testing::TempDir tmp_;
  gateway::ChangeSignal changes_;
  gateway::ManualClock clock_;
  std::unique_ptr<gateway::Store> store_;
  gateway::MappingTablesHolder tables_;
  gateway::DeliveryRouter router_;
  std::shared_ptr<const mappings::Destinations> destinations_;
  std::unique_ptr<gateway::DeliveryEngine> engine_;
  std::unique_ptr<gateway::IngestPipeline> pipeline_;
  std::unique_ptr<gateway::DeliveryOperations> operations_;
};

}  // namespace inloop::delivery_testing
