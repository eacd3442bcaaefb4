// `inloop serve` as a real child process: it logs {"event":"listening","port":N}
// as its first line, accepts a record, delivers it with the shipped
// configuration (to files under var/outbox/), and SIGTERM makes it drain and exit 0;
// SIGHUP reloads the configuration and routes records left unroutable.
#include <Poco/Net/HTTPClientSession.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/gateway/support/serve_child.h"
#include "tests/gateway/support/server_fixture.h"

extern char** environ;

namespace {

using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::sendRequest;
using inloop::server_testing::TempDir;

// Reads one line from `fd` (blocking; the child writes it and flushes).
std::string readLine(int fd) {
  std::string line;
  char c = 0;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

// Reads the child's log from `fd` into *log until a line holding `needle`
// (true); false at the end of the output or once `limit` has passed.
bool readUntilLine(int fd, const std::string& needle, std::chrono::seconds limit,
                   std::string* log) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string line;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char c = 0;
    if (read(fd, &c, 1) != 1) return false;
    log->push_back(c);
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    if (line.find(needle) != std::string::npos) return true;
    line.clear();
  }
}

}  // namespace

TEST_CASE(
    "inloop serve runs as a child, logs its port, ingests, delivers with the shipped config, "
    "and stops on SIGTERM",
    "[gateway][server]") {
  TempDir tmp;
  int out[2];
  REQUIRE(pipe(out) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);

  std::vector<std::string> args = {
      INLOOP_BINARY, "serve",
      "--config",    inloop::testing::copyShippedConfig(tmp.path()).string(),
      "--listen",    "127.0.0.1:0",
      "--data-dir",  (tmp.path() / "data").string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = {"INLOOP_API_TOKEN=child-test-token"};
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("INLOOP_API_TOKEN=", 0) != 0) env.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, INLOOP_BINARY, &actions, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);

  const std::string first = readLine(out[0]);
  INFO(first);
  inloop::fhir::Result<inloop::fhir::Json> event = inloop::fhir::parseJson(first);
  bool listening = event.isOk() && event->find("event") != nullptr &&
                   event->find("event")->text() == "listening";
  if (!listening) kill(pid, SIGKILL);
  REQUIRE(listening);
  const auto port = static_cast<std::uint16_t>(event->find("port")->toInt64().value_or(0));
  REQUIRE(port != 0);

  {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    HttpReply r = sendRequest(session, "POST", "/records", "child-test-token",
                              exampleRecord("measurement-pain-nrs.json"));
    CHECK(r.status == 202);
    HttpReply bad = sendRequest(session, "POST", "/records", "wrong-token", "{}");
    CHECK(bad.status == 401);
  }

  // The shipped destinations deliver every practice to ../var/outbox (relative
  // to the config folder): the record's Observation lands there as NDJSON.
  // The engine logs the attempt once the lines are in the working file.
  const std::filesystem::path active = tmp.path() / "var/outbox/.inloop-local-files.ndjson.tmp";
  std::string rest;
  CHECK(readUntilLine(out[0], "\"event\":\"delivery-written\"", std::chrono::seconds(60), &rest));
  {
    std::ifstream in(active);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("\"resourceType\":\"Observation\"") != std::string::npos);
  }

  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  // The rest of the log: the request and a clean stop, never patient data.
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) rest.append(buf, std::size_t(n));
  close(out[0]);
  CHECK(rest.find("\"event\":\"request\"") != std::string::npos);
  CHECK(rest.find("\"event\":\"stopped\"") != std::string::npos);
  CHECK(rest.find("Alvarez") == std::string::npos);
}

TEST_CASE("inloop serve --help lists every option", "[gateway][server]") {
  FILE* pipe = ::popen((std::string(INLOOP_BINARY) + " serve --help 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string help;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) help.append(buf, n);
  const int status = ::pclose(pipe);
  INFO(help);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (const char* option :
       {"--config=FILE", "--listen=HOST:PORT", "--data-dir=DIR", "--destinations=FILE",
        "--route=PRACTICE_ID=KIND:URL", "--daemon", "--pidfile"}) {
    CHECK(help.find(option) != std::string::npos);
  }
}

TEST_CASE("SIGHUP reloads the destinations and delivers the records that were unroutable",
          "[gateway][server]") {
  TempDir tmp;
  const std::filesystem::path config = inloop::testing::copyShippedConfig(tmp.path());
  const std::filesystem::path destinations = config.parent_path() / "destinations.json";
  const std::string shipped = inloop::server_testing::readFile(destinations);
  inloop::server_testing::writeFile(destinations, R"({"destinations": [], "routes": {}})");
  inloop::testing::ServeChild child(
      inloop::testing::ServeOptions{tmp.path() / "data", "sighup-token", config, {}});
  const int port = child.waitForPort(std::chrono::seconds(60));
  INFO(child.output());
  REQUIRE(port != 0);
  {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<std::uint16_t>(port));
    REQUIRE(inloop::testing::postRecord(session, exampleRecord("measurement-pain-nrs.json"),
                                        "sighup-token") == 202);
  }
  // The shipped destinations come back: every practice to var/outbox.
  inloop::server_testing::writeFile(destinations, shipped);
  REQUIRE(::kill(child.pid(), SIGHUP) == 0);
  CHECK(child.waitForOutput("\"event\":\"unroutable-routed\"", 1, std::chrono::seconds(60)));
  const std::filesystem::path active = tmp.path() / "var/outbox/.inloop-local-files.ndjson.tmp";
  CHECK(child.waitUntil(
      [&] {
        std::ifstream in(active);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return text.find("\"resourceType\":\"Observation\"") != std::string::npos;
      },
      std::chrono::seconds(60)));
  CHECK(child.terminate() == 0);
}
