#include "gateway/store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/store/sqlite_store.h"
#include "tests/gateway/support/store_support.h"

namespace inloop::gateway {
namespace {

using store_testing::claim;
using store_testing::ingestOne;
using store_testing::makeItem;
using store_testing::recordIdsOf;
using store_testing::to;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/inloop-store-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::unique_ptr<Store> open(const TempDir& dir, const Clock& clock,
                            SqliteStoreOptions options = {}) {
  auto store = openSqliteStore(dir.file("inloop.db"), options, clock);
  INFO(store.status().toString());
  REQUIRE(store.isOk());
  return std::move(store).value();
}

int fileMode(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return static_cast<int>(info.st_mode & 0777);
}

}  // namespace

TEST_CASE("sha256Hex and formatInstant give known values", "[gateway][store]") {
  CHECK(sha256Hex("").value() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256Hex("abc").value() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 incremental;
  incremental.update("a");
  incremental.update("bc");
  CHECK(toHex(incremental.finish().value()) == sha256Hex("abc").value());

  struct Case {
    std::int64_t millis;
    const char* text;
  };
  const Case cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1714557600123, "2024-05-01T10:00:00.123Z"},
      {951782400000, "2000-02-29T00:00:00.000Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
  };
  for (const Case& c : cases) CHECK(formatInstant(c.millis) == c.text);

  ManualClock clock(1000);
  clock.advance(500);
  CHECK(clock.nowMillis() == 1500);
}

TEST_CASE("releaseLeases makes leased messages due at once (a restart after a crash)",
          "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  const std::int64_t t0 = clock.nowMillis();
  {
    auto store = open(dir, clock);
    REQUIRE(ingestOne(*store, makeItem("a", 1, "x", "p1", to("ehr"))).outcome ==
            IngestOutcome::kAccepted);
    REQUIRE(ingestOne(*store, makeItem("b", 1, "y", "p2", to("ehr"))).outcome ==
            IngestOutcome::kAccepted);
    REQUIRE(claim(*store, "ehr", t0, 10, 300000).size() == 2);
    CHECK(claim(*store, "ehr", t0 + 1).empty());
  }  // the process "dies" holding both leases
  auto store = open(dir, clock);
  CHECK(claim(*store, "ehr", t0 + 1).empty());  // still leased after reopening
  auto released = store->releaseLeases();
  REQUIRE(released.isOk());
  CHECK(*released == 2);
  auto again = claim(*store, "ehr", t0 + 1);
  CHECK(recordIdsOf(again) == std::vector<std::string>{"a@1", "b@1"});
  auto none = store->releaseLeases();
  REQUIRE(none.isOk());
  CHECK(*none == 2);  // the new claims' leases
  CHECK(recordIdsOf(claim(*store, "ehr", t0 + 2)) == std::vector<std::string>{"a@1", "b@1"});
}

TEST_CASE("schema migrations, reopen, newer schema refused, file mode 0600", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  const std::string path = dir.file("inloop.db");
  std::string receiptId;
  {
    auto store = open(dir, clock);
    receiptId = ingestOne(*store, makeItem("rec-1", 1, "x", "p", to("ehr"))).receipt.receiptId;
    REQUIRE(store->checkWritable().isOk());
    CHECK(fileMode(path) == 0600);
    CHECK(fileMode(path + "-wal") == 0600);
    CHECK(fileMode(path + "-shm") == 0600);
  }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_int(stmt, 0) == kStoreSchemaVersion);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  {
    auto store = open(dir, clock);
    auto view = store->getRecord("rec-1");
    REQUIRE(view.isOk());
    CHECK(view->receipt.receiptId == receiptId);
    CHECK(view->deliveries.size() == 1);
    CHECK(ingestOne(*store, makeItem("rec-1", 1, "x")).outcome == IngestOutcome::kReplay);
  }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto refused = openSqliteStore(path, {}, clock);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().code() == fhir::ErrorCode::kUnsupported);
  CHECK(refused.status().message().find("newer") != std::string::npos);

  auto missingDir = openSqliteStore(dir.file("no/such/dir.db"), {}, clock);
  CHECK(missingDir.status().code() == fhir::ErrorCode::kIoError);
  {
    std::FILE* junk = std::fopen(dir.file("junk.db").c_str(), "w");
    REQUIRE(junk != nullptr);
    std::fputs("this is not a database file, not at all, no header here......", junk);
    std::fclose(junk);
  }
  CHECK(openSqliteStore(dir.file("junk.db"), {}, clock).status().code() ==
        fhir::ErrorCode::kIoError);
}

TEST_CASE("concurrent ingests are group-committed", "[gateway][store]") {
  TempDir dir;
  SystemClock clock;
  auto store = open(dir, clock);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 200;
  std::atomic<int> accepted{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        std::vector<IngestItem> items;
        items.push_back(makeItem(id, 1, "x", "p" + std::to_string(t), to("ehr")));
        auto results = store->ingest(std::move(items));
        if (results.isOk() && results->front().outcome == IngestOutcome::kAccepted) {
          ++accepted;
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  CHECK(accepted.load() == kThreads * kPerThread);
  auto stats = store->stats();
  REQUIRE(stats.isOk());
  CHECK(stats->versions == kThreads * kPerThread);
  CHECK(stats->outboxByState["pending"] == kThreads * kPerThread);
  CHECK(stats->committedWrites == static_cast<std::uint64_t>(kThreads * kPerThread));
  // Batching happened: far fewer transactions (fsyncs) than records.
  INFO("commits: " << stats->commits);
  CHECK(stats->commits < static_cast<std::uint64_t>(kThreads * kPerThread) / 2);
  CHECK(store->getRecord("t15-199").isOk());
}

TEST_CASE("a full write queue answers unavailable instead of waiting", "[gateway][store]") {
  TempDir dir;
  ManualClock clock;
  SqliteStoreOptions options;
  options.maxQueuedItems = 2;
  options.busyTimeoutMillis = 60000;
  auto store = open(dir, clock, options);

  // Another connection holds the write lock, so the writer blocks in BEGIN.
  sqlite3* blocker = nullptr;
  REQUIRE(sqlite3_open(dir.file("inloop.db").c_str(), &blocker) == SQLITE_OK);
  REQUIRE(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);

  auto queued = [&] { return store->stats().value().queuedItems; };
  // Catch2 assertions are not thread-safe: the threads only record what happened.
  std::atomic<bool> firstOk{false};
  std::atomic<bool> secondOk{false};
  std::thread first([&] {
    std::vector<IngestItem> items;
    items.push_back(makeItem("first", 1));
    firstOk = store->ingest(std::move(items)).isOk();
  });
  // Wait until the writer took "first" off the queue and is blocked on the lock.
  while (store->stats().value().committingItems != 1) std::this_thread::yield();
  CHECK(queued() == 0);
  std::thread second([&] {
    std::vector<IngestItem> items;
    items.push_back(makeItem("second-a", 1));
    items.push_back(makeItem("second-b", 1));
    secondOk = store->ingest(std::move(items)).isOk();
  });
  while (queued() != 2) std::this_thread::yield();

  std::vector<IngestItem> items;
  items.push_back(makeItem("third", 1));
  auto refused = store->ingest(std::move(items));
  CHECK(refused.status().code() == fhir::ErrorCode::kUnavailable);

  REQUIRE(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(blocker);
  first.join();
  second.join();
  CHECK(firstOk.load());
  CHECK(secondOk.load());
  CHECK(store->getRecord("first").isOk());
  CHECK(store->getRecord("second-b").isOk());
  CHECK(store->getRecord("third").status().code() == fhir::ErrorCode::kNotFound);
}

}  // namespace inloop::gateway

namespace inloop::gateway {

TEST_CASE("every outbox state and attempt outcome name reads back", "[gateway][store]") {
  for (OutboxState s :
       {OutboxState::kPending, OutboxState::kUnroutable, OutboxState::kPatientUnmatched,
        OutboxState::kDelivered, OutboxState::kDeadLetter, OutboxState::kSuperseded,
        OutboxState::kDiscarded, OutboxState::kNotSent}) {
    OutboxState back = OutboxState::kPending;
    INFO(outboxStateName(s));
    REQUIRE(parseOutboxState(outboxStateName(s), &back));
    CHECK(back == s);
  }
  for (AttemptOutcome o :
       {AttemptOutcome::kDelivered, AttemptOutcome::kRetry, AttemptOutcome::kDeadLetter,
        AttemptOutcome::kParked, AttemptOutcome::kNotSent}) {
    AttemptOutcome back = AttemptOutcome::kRetry;
    INFO(attemptOutcomeName(o));
    REQUIRE(parseAttemptOutcome(attemptOutcomeName(o), &back));
    CHECK(back == o);
  }
  OutboxState ignored;
  CHECK_FALSE(parseOutboxState("sent", &ignored));
}

}  // namespace inloop::gateway
