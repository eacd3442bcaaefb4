// Durability of `inloop serve` as a whole: the real binary (INLOOP_BINARY) runs
// as a child on port 0 with a temp data dir; client threads post records over
// keep-alive HTTP; the child is killed with SIGKILL at a random point, five
// times. After each restart: every record that got a 2xx is in the store,
// exactly once, with its translation and outbox row, the file passes
// PRAGMA integrity_check, and posting an acknowledged record again is a replay.
//
// Synchronisation is by conditions only: the child's "listening" log line (a
// bounded wait with a deadline) and the HTTP replies.

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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

namespace inloop::gateway {
namespace {

namespace fs = std::filesystem;

constexpr const char* kToken = "durability-test-token-0123456789";
constexpr int kCycles = 5;
constexpr int kClientThreads = 2;

std::string slurpFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class DurabilityDir {
 public:
  DurabilityDir() {
    std::string pattern = (fs::temp_directory_path() / "inloop-durability-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~DurabilityDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A running `inloop serve`; its stdout and stderr are drained by a thread
// (a full pipe would block the child) that also finds the port.
class ServeChild {
 public:
  explicit ServeChild(const fs::path& dataDir) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const std::string binary = INLOOP_BINARY;
    const std::string config = (fs::path(INLOOP_SOURCE_DIR) / "config/inloop.json").string();
    const std::string data = dataDir.string();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::setenv("INLOOP_API_TOKEN", kToken, 1);
      ::execl(binary.c_str(), binary.c_str(), "serve", "--config", config.c_str(), "--listen",
              "127.0.0.1:0", "--data-dir", data.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] { drain(fd); });
  }

  ~ServeChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (reader_.joinable()) reader_.join();
  }

  // The port from the "listening" line; 0 when the child exited or the
  // deadline passed first.
  int waitForPort(std::chrono::seconds deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, deadline, [this] { return port_ != 0 || eof_; });
    return port_;
  }

  // True once `needle` occurs `count` times in the output (deadline bounded).
  bool waitForOutput(const std::string& needle, int count, std::chrono::seconds deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, deadline, [&] {
      int seen = 0;
      for (std::size_t at = output_.find(needle); at != std::string::npos;
           at = output_.find(needle, at + 1)) {
        ++seen;
      }
      return seen >= count || eof_;
    }) && !eof_;
  }

  std::string output() {
    std::lock_guard<std::mutex> lock(mutex_);
    return output_;
  }

  // SIGKILL, then wait for it. Returns the wait status.
  int kill9() {
    REQUIRE(::kill(pid_, SIGKILL) == 0);
    return reap();
  }
  int terminate() {
    REQUIRE(::kill(pid_, SIGTERM) == 0);
    return reap();
  }

 private:
  int reap() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    reaped_ = true;
    if (reader_.joinable()) reader_.join();
    return status;
  }

  void drain(int fd) {
    std::FILE* in = ::fdopen(fd, "r");
    if (in == nullptr) {
      ::close(fd);
      return;
    }
    char buf[8192];
    std::string line;
    while (std::fgets(buf, sizeof buf, in) != nullptr) {
      line += buf;
      if (line.empty() || line.back() != '\n') continue;
      std::lock_guard<std::mutex> lock(mutex_);
      if (output_.size() < (64u << 10)) output_ += line;
      cv_.notify_all();
      if (port_ == 0) {
        fhir::Result<fhir::Json> j = fhir::parseJson(line);
        const fhir::Json* event = j.isOk() ? j->find("event") : nullptr;
        const fhir::Json* port = j.isOk() ? j->find("port") : nullptr;
        if (event != nullptr && event->text() == "listening" && port != nullptr) {
          port_ = static_cast<int>(port->toInt64().value_or(0));
          cv_.notify_all();
        }
      }
      line.clear();
    }
    std::fclose(in);
    std::lock_guard<std::mutex> lock(mutex_);
    eof_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string output_;
  int port_ = 0;
  bool eof_ = false;
};

// POSTs one record on a keep-alive session; the HTTP status, or 0 when the
// connection failed (the child died).
int postRecord(Poco::Net::HTTPClientSession& session, const std::string& body) {
  try {
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, "/records",
                               Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    req.setContentType("application/json");
    req.set("Authorization", std::string("Bearer ") + kToken);
    req.setContentLength(static_cast<std::streamsize>(body.size()));
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse res;
    std::istream& in = session.receiveResponse(res);
    std::string ignored;
    Poco::StreamCopier::copyToString(in, ignored);
    return static_cast<int>(res.getStatus());
  } catch (const Poco::Exception&) {
    return 0;
  } catch (const std::exception&) {
    return 0;
  }
}

// Acknowledged records, shared by the client threads and the test.
struct Acks {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> ids;  // every recordId that got a 2xx (version 1)
  std::size_t thisCycle = 0;
  int clientsRunning = 0;
  std::vector<int> unexpected;  // statuses other than 2xx / 503 / connection loss
};

struct Checked {
  std::string integrity;
  std::size_t missing = 0;      // acknowledged but not in record_versions
  std::size_t halfWritten = 0;  // a version without translation or outbox row
  std::int64_t duplicates = 0;  // (record_id, version) pairs stored twice
  std::int64_t versions = 0;
};

std::string firstColumn(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  std::string answer = "?";
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    answer = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  return answer;
}

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
  const fhir::Json base = *fhir::parseJson(
      slurpFile(fs::path(INLOOP_SOURCE_DIR) / "examples/records/measurement-pain-nrs.json"));
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
    {
      std::lock_guard<std::mutex> lock(acks.mutex);
      acks.thisCycle = 0;
      acks.clientsRunning = kClientThreads;
    }
    std::vector<std::thread> clients;
    for (int t = 0; t < kClientThreads; ++t) {
      clients.emplace_back([&, t, cycle] {
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
            ++acks.thisCycle;
            acks.cv.notify_all();
          } else if (status != 503) {
            acks.unexpected.push_back(status);
            break;
          }
        }
        std::lock_guard<std::mutex> lock(acks.mutex);
        --acks.clientsRunning;
        acks.cv.notify_all();
      });
    }
    bool reached = false;
    {
      std::unique_lock<std::mutex> lock(acks.mutex);
      // Bounded: the clients either reach the target or stop.
      reached = acks.cv.wait_for(lock, std::chrono::seconds(120), [&] {
        return acks.thisCycle >= killAfter || acks.clientsRunning == 0;
      });
      reached = reached && acks.thisCycle >= killAfter;
    }
    const int status = child.kill9();
    for (std::thread& c : clients) c.join();
    CHECK(WIFSIGNALED(status));
    REQUIRE(reached);
    std::lock_guard<std::mutex> lock(acks.mutex);
    INFO("unexpected statuses: " << acks.unexpected.size());
    REQUIRE(acks.unexpected.empty());
  }
}

}  // namespace inloop::gateway
