// DaemonConfig parsing: defaults, comments, relative paths, and errors with
// file:line:column.
#include <catch2/catch.hpp>
#include <string>

#include "gateway/config/daemon_config.h"
#include "gateway/server/auth.h"

namespace {

using inloop::gateway::DaemonConfigLoad;
using inloop::gateway::parseDaemonConfig;

}  // namespace

TEST_CASE("an empty config gives the documented defaults", "[gateway][server]") {
  DaemonConfigLoad load = parseDaemonConfig("{}", "inloop.json", "/etc/inloop");
  REQUIRE(load.config);
  const auto& c = *load.config;
  CHECK(c.host == "127.0.0.1");
  CHECK(c.port == 8080);
  CHECK(c.dataDir == "/etc/var");
  CHECK(c.mappingsDir == "/etc/inloop/mappings");
  CHECK(c.tokens.empty());
  CHECK_FALSE(c.tls);
  CHECK(c.limits.maxBodyBytes == 1u << 20);
  CHECK(c.limits.maxBatchRecords == 10000);
  // Connection and batch limits (docs/security.md, "HTTP server hardening").
  CHECK(c.limits.headerDeadlineMs == 10000);
  CHECK(c.limits.maxQueuedConnections == 64);
  CHECK(c.limits.maxConnectionsPerClient == 32);
  CHECK(c.limits.maxConcurrentBatches == 2);
  CHECK(c.metricsRequireAuth);
}

TEST_CASE("the shipped config/inloop.json is valid", "[gateway][server]") {
  auto load =
      inloop::gateway::readDaemonConfigFile(std::string(INLOOP_SOURCE_DIR) + "/config/inloop.json");
  INFO(inloop::fhir::formatIssues(load.issues));
  REQUIRE(load.config);
  CHECK(load.config->mappingsDir == std::string(INLOOP_SOURCE_DIR) + "/config/mappings");
  CHECK(load.config->dataDir == std::string(INLOOP_SOURCE_DIR) + "/var");
}

TEST_CASE("settings with comments and relative paths", "[gateway][server]") {
  const std::string hash = inloop::gateway::sha256HexOf("secret");
  const std::string text = R"({
    // comment
    "listen": "[::1]:0",
    "dataDir": "data", /* block */
    "mappingsDir": "/abs/mappings",
    "tokens": [{"id": "a", "sha256": ")" +
                           hash + R"(", "roles": ["ingest", "read"]}],
    "limits": {"maxBatchRecords": 5, "maxInFlight": 3},
    "metricsRequireAuth": false
  })";
  DaemonConfigLoad load = parseDaemonConfig(text, "x.json", "/srv/inloop/config");
  INFO(inloop::fhir::formatIssues(load.issues));
  REQUIRE(load.config);
  CHECK(load.config->host == "::1");
  CHECK(load.config->port == 0);
  CHECK(load.config->dataDir == "/srv/inloop/config/data");
  CHECK(load.config->mappingsDir == "/abs/mappings");
  REQUIRE(load.config->tokens.size() == 1);
  CHECK(load.config->tokens[0].roles.has(inloop::gateway::Role::kRead));
  CHECK_FALSE(load.config->tokens[0].roles.has(inloop::gateway::Role::kAdmin));
  CHECK(load.config->limits.maxBatchRecords == 5);
  CHECK(load.config->limits.maxInFlight == 3);
  CHECK_FALSE(load.config->metricsRequireAuth);
}

TEST_CASE("config errors name file, line and column", "[gateway][server]") {
  struct Case {
    const char* text;
    const char* path;
    const char* fragment;
  };
  const Case cases[] = {
      {"{\n  \"lisen\": \"x:1\"\n}", "c.json:2:3",
       "$.lisen: unknown field \"lisen\"; did you mean \"listen\"?"},
      {"{\"listen\": \"nohost\"}", "c.json:1:12", "HOST:PORT"},
      {"{\"listen\": \"a:99999\"}", "c.json:1:12", "0 to 65535"},
      {"{\"limits\": {\"maxThreads\": 0}}", "c.json:1:27", "limits.maxThreads"},
      {"{\"limits\": {\"maxThread\": 4}}", "c.json:1:13",
       "unknown field \"maxThread\"; did you mean \"maxThreads\"?"},
      {"{\"limits\": {\"maxConcurrentBatches\": 0}}", "c.json:1:37", "limits.maxConcurrentBatches"},
      {"{\"limits\": {\"headerDeadlineMs\": 10}}", "c.json:1:33", "limits.headerDeadlineMs"},
      {"{\"tokens\": [{\"id\": \"a\", \"sha256\": \"abc\", \"roles\": [\"ingest\"]}]}",
       "c.json:1:35", "64 lower-case hex"},
      {"{\"tokens\": [{\"id\": \"a\", \"sha256\": \""
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"roles\": "
       "[\"root\"]}]}",
       "c.json:1:113", "$.tokens[0].roles[0]: expected one of \"ingest\", \"read\""},
      {"{\"tls\": {\"certificateFile\": \"a.pem\"}}", "c.json:1:9", "privateKeyFile"},
      {"{\"logLevel\": \"loud\"}", "c.json:1:14", "logLevel"},
      {"{\"listen\": }", "c.json:1:12", "not valid JSON"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    DaemonConfigLoad load = parseDaemonConfig(c.text, "c.json", "");
    INFO(inloop::fhir::formatIssues(load.issues));
    CHECK_FALSE(load.config);
    REQUIRE_FALSE(load.issues.empty());
    CHECK(load.issues[0].path == c.path);
    CHECK(load.issues[0].message.find(c.fragment) != std::string::npos);
  }
}

TEST_CASE("bearer tokens are matched by hash - roles are kept", "[gateway][server]") {
  using inloop::gateway::Authenticator;
  inloop::gateway::RoleSet read;
  read.add(inloop::gateway::Role::kRead);
  Authenticator auth({{"t1", inloop::gateway::sha256HexOf("alpha"), read}}, {});
  auto ok = auth.authenticateBearer("Bearer alpha");
  REQUIRE(ok.isOk());
  CHECK(ok->id == "t1");
  CHECK(ok->roles.has(inloop::gateway::Role::kRead));
  CHECK(auth.authenticateBearer("bearer alpha").isOk());
  CHECK_FALSE(auth.authenticateBearer("Bearer alph").isOk());
  CHECK_FALSE(auth.authenticateBearer("Basic alpha").isOk());
  CHECK_FALSE(auth.authenticateBearer("").isOk());
  CHECK_FALSE(auth.authenticateBearer("Bearer ").isOk());
  // Known SHA-256 test vector.
  CHECK(inloop::gateway::sha256HexOf("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
