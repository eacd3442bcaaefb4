#include "tests/gateway/support/fhir_server_peer.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/URI.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include "tests/gateway/support/server_fixture.h"

extern char** environ;

namespace inloop::testing {

bool nodeInstalled() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(start, end - start) + "/node";
    if (access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

bool peersAvailable(const char* what) {
  const std::filesystem::path modules =
      std::filesystem::path(INLOOP_SOURCE_DIR) / "tests/peers/node_modules";
  std::string missing;
  if (!nodeInstalled()) missing = "node is not on PATH";
  if (missing.empty() && !std::filesystem::is_directory(modules)) {
    missing = "tests/peers/node_modules is missing (scripts/test installs it: npm ci)";
  }
  if (missing.empty()) return true;
  const char* required = std::getenv("INLOOP_REQUIRE_PEERS");
  if (required != nullptr && *required != '\0' && std::string(required) != "0") {
    FAIL(missing << ": " << what << " cannot run, and INLOOP_REQUIRE_PEERS is set");
  }
  WARN(missing << ": " << what << " SKIPPED");
  return false;
}

FhirServerPeer::FhirServerPeer(std::vector<std::string> extraArgs) {
  int out[2];
  if (pipe(out) != 0) return;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<std::string> args = {"node",
                                   std::string(INLOOP_SOURCE_DIR) + "/tests/peers/fhir-server.mjs"};
  for (std::string& a : extraArgs) args.push_back(std::move(a));
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawnp(&pid_, "node", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    pid_ = 0;
    close(out[0]);
    return;
  }
  std::string line;
  char c = 0;
  while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  close(out[0]);  // the server writes nothing more to stdout
  fhir::Result<fhir::Json> doc = fhir::parseJson(line);
  if (doc.isOk() && doc->find("listening") != nullptr) base_ = doc->find("listening")->text();
}

FhirServerPeer::~FhirServerPeer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

namespace {

fhir::Json exchange(const std::string& base, const std::string& method, const std::string& relative,
                    const std::string& body, int* status) {
  if (status != nullptr) *status = 0;
  try {
    Poco::URI uri(base);
    Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
    server_testing::HttpReply r = server_testing::sendRequest(
        session, method, uri.getPath() + "/" + relative, {}, body, "application/fhir+json");
    if (status != nullptr) *status = r.status;
    return r.json();
  } catch (const Poco::Exception&) {
    return fhir::Json();
  } catch (const std::exception&) {
    return fhir::Json();
  }
}

}  // namespace

fhir::Json FhirServerPeer::get(const std::string& relative, int* status) const {
  return exchange(base_, "GET", relative, {}, status);
}

fhir::Json FhirServerPeer::post(const std::string& relative, const fhir::Json& body,
                                int* status) const {
  return exchange(base_, "POST", relative, fhir::writeJson(body), status);
}

std::vector<fhir::Json> bundleResources(const fhir::Json& bundle) {
  std::vector<fhir::Json> out;
  if (const fhir::Json* e = bundle.find("entry"); e != nullptr && e->isArray()) {
    for (const fhir::Json& x : e->items()) {
      if (const fhir::Json* r = x.find("resource")) out.push_back(*r);
    }
  }
  return out;
}

}  // namespace inloop::testing
