// Crash durability of the SQLite store: a child process ingests from several
// threads and reports every acknowledged record on a pipe; the parent kills it
// with SIGKILL mid-stream, reopens the store and checks that every
// acknowledged record is there and the file is intact. Repeated a few times.

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/sha256.h"
#include "gateway/store/sqlite_store.h"

namespace inloop::gateway {
namespace {

class CrashTempDir {
 public:
  CrashTempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/inloop-crash-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~CrashTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

IngestItem crashItem(const std::string& recordId) {
  IngestItem item;
  item.recordId = recordId;
  item.version = 1;
  item.recordType = "measurement";
  item.practiceId = "practice-1";
  item.patientKey = "patient-" + recordId.substr(0, recordId.find('-', 3));
  item.recordJson = R"({"recordId":")" + recordId + R"("})";
  item.contentHash = sha256Hex(item.recordJson).value();
  item.bundleJson = R"({"resourceType":"Bundle","type":"transaction","entry":[]})";
  item.destinations = {DestinationTarget{"ehr", OutboxState::kPending, ""}};
  item.principal = "crash-test";
  item.source = "http";
  return item;
}

// The child: ingest until killed; one line per acknowledged record on `fd`.
[[noreturn]] void runChild(const std::string& path, int round, int fd) {
  SystemClock clock;
  auto opened = openSqliteStore(path, {}, clock);
  if (!opened.isOk()) ::_exit(3);
  Store& store = **opened;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, round, fd, t] {
      for (int i = 0;; ++i) {
        std::vector<IngestItem> items;
        const int batch = t == 0 ? 10 : 1;  // one thread sends small batches
        for (int b = 0; b < batch; ++b) {
          items.push_back(crashItem("r" + std::to_string(round) + "-t" + std::to_string(t) + "-" +
                                    std::to_string(i * batch + b)));
        }
        std::vector<std::string> ids;
        for (const auto& item : items) ids.push_back(item.recordId);
        auto results = store.ingest(std::move(items));
        if (!results.isOk()) ::_exit(4);
        for (const auto& id : ids) {
          const std::string line = id + "\n";  // < PIPE_BUF: written atomically
          if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            ::_exit(5);
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ::_exit(0);
}

std::string integrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string answer = "cannot open";
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      answer = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return answer;
}

}  // namespace

TEST_CASE("a store killed with SIGKILL mid-ingest keeps every acknowledged record",
          "[gateway][store]") {
  CrashTempDir dir;
  const std::string path = dir.file("inloop.db");
  std::set<std::string> acknowledged;
  constexpr int kRounds = 3;
  constexpr std::size_t kAcksBeforeKill = 300;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      runChild(path, round, fds[1]);
    }
    ::close(fds[1]);
    std::FILE* acks = ::fdopen(fds[0], "r");
    REQUIRE(acks != nullptr);
    char line[256];
    std::size_t seen = 0;
    bool killed = false;
    // Keep reading after the kill: lines already in the pipe were acknowledged too.
    while (std::fgets(line, sizeof line, acks) != nullptr) {
      std::string id(line);
      if (!id.empty() && id.back() == '\n') id.pop_back();
      acknowledged.insert(id);
      if (++seen == kAcksBeforeKill && !killed) {
        REQUIRE(::kill(child, SIGKILL) == 0);
        killed = true;
      }
    }
    std::fclose(acks);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("round " << round << ", child status " << status);
    REQUIRE(killed);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);

    CHECK(integrityCheck(path) == "ok");
    SystemClock clock;
    auto store = openSqliteStore(path, {}, clock);
    REQUIRE(store.isOk());
    std::size_t missing = 0;
    for (const std::string& id : acknowledged) {
      if (!(*store)->getRecord(id).isOk()) ++missing;
    }
    CHECK(missing == 0);
    auto stats = (*store)->stats();
    REQUIRE(stats.isOk());
    CHECK(stats->versions >= static_cast<std::int64_t>(acknowledged.size()));
    // Each stored version has exactly one outbox row: nothing half-written.
    CHECK(stats->outboxByState["pending"] == stats->versions);
  }
}

}  // namespace inloop::gateway
