#pragma once

// Test fixture for the daemon: a temporary directory with a copy of the shipped
// mapping tables, a Daemon started IN-PROCESS on 127.0.0.1 port 0, and a small
// HTTP client (Poco HTTPClientSession) that returns status, headers and body.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/change_signal.h"
#include "gateway/config/daemon_config.h"
#include "gateway/server/auth.h"
#include "gateway/server/daemon.h"
#include "gateway/store/memory_store.h"
#include "tests/support/files.h"

namespace inloop::server_testing {

using inloop::testing::readFile;

inline void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Files under `dir` (recursively) whose bytes contain `needle`: where a
// patient's name may not be (purged, or sealed by payload encryption).
inline std::vector<std::string> filesHolding(const std::filesystem::path& dir,
                                             const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && readFile(e.path()).find(needle) != std::string::npos) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

// The shipped example records (examples/records/*.json).
inline std::string exampleRecord(const std::string& name) {
  return readFile(std::filesystem::path(INLOOP_SOURCE_DIR) / "examples/records" / name);
}

// The file names of the shipped example records, in order.
inline const std::vector<std::string>& exampleRecordNames() {
  static const std::vector<std::string> names = {"care-plan-functional-restoration.json",
                                                 "measurement-blood-pressure.json",
                                                 "measurement-pain-nrs.json",
                                                 "measurement-standing-tolerance.json",
                                                 "medication-start-duloxetine.json",
                                                 "medication-taper-oxycodone.json"};
  return names;
}

// `text` as compact JSON with member `key` replaced (must parse).
inline std::string withMember(const std::string& text, const std::string& key, fhir::Json value) {
  fhir::Json doc = *fhir::parseJson(text);
  doc.set(key, std::move(value));
  return fhir::writeJson(doc);
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "inloop-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct HttpReply {
  int status = 0;
  std::string reason;  // of the status line ("Accepted")
  std::string body;
  std::string contentType;
  std::string retryAfter;
  std::string wwwAuthenticate;
  std::string cacheControl;
  fhir::Json json() const {
    fhir::Result<fhir::Json> j = fhir::parseJson(body);
    return j.isOk() ? *j : fhir::Json();
  }
};

inline HttpReply sendRequest(Poco::Net::HTTPClientSession& session, const std::string& method,
                             const std::string& path, const std::string& token = {},
                             const std::string& body = {},
                             const std::string& contentType = "application/json") {
  Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  if (!token.empty()) req.set("Authorization", "Bearer " + token);
  if (method == "POST" || !body.empty()) {
    req.setContentType(contentType);
    req.setContentLength64(static_cast<Poco::Int64>(body.size()));
  }
  std::ostream& out = session.sendRequest(req);
  out << body;
  Poco::Net::HTTPResponse resp;
  std::istream& in = session.receiveResponse(resp);
  HttpReply r;
  Poco::StreamCopier::copyToString(in, r.body);
  r.status = static_cast<int>(resp.getStatus());
  r.reason = resp.getReason();
  r.contentType = resp.getContentType();
  r.retryAfter = resp.get("Retry-After", "");
  r.wwwAuthenticate = resp.get("WWW-Authenticate", "");
  r.cacheControl = resp.get("Cache-Control", "");
  return r;
}

inline constexpr const char* kIngestToken = "ingest-token-for-tests";
inline constexpr const char* kReadToken = "read-token-for-tests";
inline constexpr const char* kAdminToken = "admin-token-for-tests";

// A daemon on 127.0.0.1:0 with its own data dir and a copy of the tables.
// The store a DaemonFixture's daemon works on: the SQLite file in its data
// directory (as `inloop serve`), or the in-memory store for tests about
// something else (it does not survive a restart).
enum class FixtureStore { kSqlite, kMemory };

class DaemonFixture {
 public:
  explicit DaemonFixture(std::function<void(gateway::DaemonConfig&)> adjust = nullptr,
                         FixtureStore store = FixtureStore::kSqlite) {
    mappingsDir_ = tmp_.path() / "mappings";
    std::filesystem::copy(std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings",
                          mappingsDir_);
    config_.host = "127.0.0.1";
    config_.port = 0;
    config_.dataDir = (tmp_.path() / "data").string();
    config_.mappingsDir = mappingsDir_.string();
    using gateway::Role;
    gateway::RoleSet ingest;
    ingest.add(Role::kIngest);
    gateway::RoleSet read;
    read.add(Role::kRead);
    config_.tokens = {{"ingester", gateway::sha256HexOf(kIngestToken), ingest},
                      {"reader", gateway::sha256HexOf(kReadToken), read},
                      {"admin", gateway::sha256HexOf(kAdminToken), gateway::RoleSet::all()}};
    if (adjust) adjust(config_);
    auto started =
        store == FixtureStore::kMemory
            ? gateway::Daemon::start(
                  config_, log_,
                  [](gateway::Clock& clock) -> fhir::Result<std::unique_ptr<gateway::Store>> {
                    return gateway::openMemoryStore(clock);
                  })
            : gateway::Daemon::start(config_, log_);
    if (started.isOk()) {
      daemon_ = std::move(started).value();
    } else {
      startError_ = started.status().message();
    }
  }

  gateway::Daemon* daemon() { return daemon_.get(); }
  // The daemon's change events (Daemon::changes); when it did not start, a
  // signal nobody notifies.
  gateway::ChangeSignal& changes() { return daemon_ ? daemon_->changes() : notStarted_; }
  const std::string& startError() const { return startError_; }
  std::uint16_t port() const { return daemon_ ? daemon_->port() : 0; }
  const std::filesystem::path& mappingsDir() const { return mappingsDir_; }
  const std::filesystem::path& tmp() const { return tmp_.path(); }
  // Stops the daemon (drains it) and returns everything it logged.
  std::string stopAndLog() {
    if (daemon_) daemon_->stop();
    return log_.str();
  }

  HttpReply request(const std::string& method, const std::string& path,
                    const std::string& token = {}, const std::string& body = {},
                    const std::string& contentType = "application/json") {
    Poco::Net::HTTPClientSession session("127.0.0.1", port());
    return sendRequest(session, method, path, token, body, contentType);
  }

 private:
  TempDir tmp_;
  std::filesystem::path mappingsDir_;
  gateway::DaemonConfig config_;
  std::ostringstream log_;
  std::unique_ptr<gateway::Daemon> daemon_;
  gateway::ChangeSignal notStarted_;
  std::string startError_;
};

// True when every delivery row of `recordId` (GET /deliveries, admin token) is
// delivered or superseded by a delivered newer version, and there is at least one.
inline bool allDelivered(DaemonFixture& d, const std::string& recordId) {
  HttpReply r = d.request("GET", "/deliveries?recordId=" + recordId, kAdminToken);
  if (r.status != 200) return false;
  const fhir::Json body = r.json();
  const fhir::Json* rows = body.find("deliveries");
  if (rows == nullptr || rows->items().empty()) return false;
  for (const fhir::Json& row : rows->items()) {
    const fhir::Json* state = row.find("state");
    if (state == nullptr || (state->text() != "delivered" && state->text() != "superseded")) {
      return false;
    }
  }
  return true;
}

}  // namespace inloop::server_testing
