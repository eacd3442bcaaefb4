#include "tests/gateway/support/serve_child.h"

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

#include <catch2/catch.hpp>
#include <cstdio>
#include <exception>

#include "fhir/json.h"

namespace inloop::testing {

namespace fs = std::filesystem;

fs::path copyShippedConfig(const fs::path& into) {
  std::error_code ec;
  fs::copy(fs::path(INLOOP_SOURCE_DIR) / "config", into / "config",
           fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  INFO("copying config/ to " << into.string() << ": " << ec.message());
  REQUIRE_FALSE(ec);
  return into / "config/inloop.json";
}

ServeChild::ServeChild(const ServeOptions& options) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const std::string binary = INLOOP_BINARY;
  std::string config = options.configFile.string();
  if (config.empty()) {
    std::string pattern = (fs::temp_directory_path() / "inloop-serve-config-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    ownConfigDir_ = pattern;
    config = copyShippedConfig(ownConfigDir_).string();
  }
  std::vector<std::string> args = {
      binary,     "serve",       "--config",   config,
      "--listen", "127.0.0.1:0", "--data-dir", options.dataDir.string()};
  for (const std::string& a : options.extraArgs) args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::setenv("INLOOP_API_TOKEN", options.apiToken.c_str(), 1);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  reader_ = std::thread([this, fd = fds[0]] { drain(fd); });
}

ServeChild::~ServeChild() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (!ownConfigDir_.empty()) {
    std::error_code ec;
    fs::remove_all(ownConfigDir_, ec);
  }
}

int ServeChild::waitForPort(std::chrono::seconds deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, deadline, [this] { return port_ != 0 || eof_; });
  return port_;
}

bool ServeChild::waitForOutput(const std::string& needle, int count,
                               std::chrono::seconds deadline) {
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

bool ServeChild::waitUntil(const std::function<bool()>& condition, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen = lines_;
    }
    if (condition()) return true;
    std::unique_lock<std::mutex> lock(mutex_);
    const bool more =
        cv_.wait_until(lock, deadline, [&] { return lines_ != seen || eof_; }) && lines_ != seen;
    if (!more) {
      // The deadline passed or the child is gone: nothing will change now.
      lock.unlock();
      return condition();
    }
  }
}

std::string ServeChild::output() {
  std::lock_guard<std::mutex> lock(mutex_);
  return output_;
}

int ServeChild::kill9() {
  REQUIRE(::kill(pid_, SIGKILL) == 0);
  return reap();
}

int ServeChild::terminate() {
  REQUIRE(::kill(pid_, SIGTERM) == 0);
  return reap();
}

int ServeChild::reap() {
  int status = 0;
  REQUIRE(::waitpid(pid_, &status, 0) == pid_);
  reaped_ = true;
  if (reader_.joinable()) reader_.join();
  return status;
}

void ServeChild::drain(int fd) {
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
    ++lines_;
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

void AckCounter::ack() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++acks_;
  cv_.notify_all();
}

void AckCounter::clientDone() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++done_;
  cv_.notify_all();
}

bool AckCounter::waitFor(std::size_t target, int clients, std::chrono::seconds deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, deadline, [&] { return acks_ >= target || done_ >= clients; });
  return acks_ >= target;
}

KillCycle killAfterAcks(ServeChild& child, int clients, std::size_t killAfter,
                        const std::function<void(int thread, AckCounter& acks)>& client,
                        std::chrono::seconds deadline) {
  AckCounter acks;
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      client(t, acks);
      acks.clientDone();
    });
  }
  KillCycle result;
  result.reached = acks.waitFor(killAfter, clients, deadline);
  result.waitStatus = child.kill9();
  for (std::thread& t : threads) t.join();
  return result;
}

int postRecord(Poco::Net::HTTPClientSession& session, const std::string& body,
               const std::string& token, std::string* answer) {
  try {
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, "/records",
                               Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    req.setContentType("application/json");
    req.set("Authorization", "Bearer " + token);
    req.setContentLength(static_cast<std::streamsize>(body.size()));
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse res;
    std::istream& in = session.receiveResponse(res);
    std::string text;
    Poco::StreamCopier::copyToString(in, text);
    if (answer != nullptr) *answer = std::move(text);
    return static_cast<int>(res.getStatus());
  } catch (const Poco::Exception& e) {
    if (answer != nullptr) *answer = e.displayText();
    return 0;
  } catch (const std::exception& e) {
    if (answer != nullptr) *answer = e.what();
    return 0;
  }
}

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

std::string storeQuery(const fs::path& db, const std::string& sql) {
  sqlite3* conn = nullptr;
  std::string answer = "?";
  if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(conn, 10000);
    answer = firstColumn(conn, sql.c_str());
  }
  sqlite3_close(conn);
  return answer;
}

std::int64_t storeCount(const fs::path& db, const std::string& sql) {
  const std::string text = storeQuery(db, sql);
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  return (text.empty() || end == nullptr || *end != 0) ? -1 : value;
}

}  // namespace inloop::testing
