#include "gateway/config/destinations_config.h"

// The destinations file loader (file:line:column issues), secrets by
// reference, and the --route shorthand.

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "gateway/cli/cli.h"
#include "tests/support/files.h"

using inloop::gateway::DestinationsLoad;
using inloop::gateway::parseDestinationsConfig;
using inloop::gateway::parseRouteFlag;
using inloop::gateway::RouteFlag;
using inloop::gateway::SecretProbe;
using namespace inloop::mappings;  // NOLINT: test file

namespace fs = std::filesystem;

namespace {

using inloop::testing::readFile;

// A fresh directory under the system temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("inloop-destinations-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text) const {
    fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  fs::path path_;
};

SecretProbe probeSaying(bool exists) {
  SecretProbe p;
  p.fileReadable = [exists](const std::string&) { return exists; };
  p.envSet = [exists](const std::string&) { return exists; };
  return p;
}

std::string errorsOf(const DestinationsLoad& load) {
  return inloop::fhir::formatIssues(load.issues);
}

std::size_t countErrors(const inloop::fhir::Issues& issues) {
  std::size_t n = 0;
  for (const auto& i : issues) n += i.severity == inloop::fhir::Severity::kError ? 1 : 0;
  return n;
}

// "FILE:LINE:COLUMN" of the byte right after the first "/*here*/" in `text`.
std::string markedLocation(const std::string& file, const std::string& text) {
  std::size_t at = text.find("/*here*/");
  REQUIRE(at != std::string::npos);
  at += 8;
  std::size_t line = 1;
  std::size_t lineStart = 0;
  for (std::size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
  }
  return file + ":" + std::to_string(line) + ":" + std::to_string(at - lineStart + 1);
}

// A valid destination "a" with `extra` members appended, routed from "p".
std::string withDestination(const std::string& extra, const std::string& kind = "fhir-transaction",
                            const std::string& endpoint = "\"https://x.example.org/fhir\"") {
  return "{\n  \"destinations\": [\n    {\"id\": \"a\", \"kind\": \"" + kind +
         "\", \"endpoint\": " + endpoint + extra + "}\n  ],\n  \"routes\": {\"p\": [\"a\"]}\n}\n";
}

}  // namespace

TEST_CASE("destinations: the shipped configuration writes every practice to var/outbox",
          "[gateway][destinations]") {
  fs::path file = fs::path(INLOOP_SOURCE_DIR) / "config/destinations.json";
  DestinationsLoad load = inloop::gateway::readDestinationsFile(file.string(), probeSaying(false));
  INFO(errorsOf(load));
  REQUIRE(load.config.has_value());
  CHECK(load.issues.empty());
  const Destinations& ds = *load.config;
  REQUIRE(ds.destinations.size() == 1);
  const DestinationProfile& local = ds.destinations[0];
  CHECK(local.id == "local-files");
  CHECK(local.kind == DestinationKind::kNdjsonDir);
  CHECK(local.endpoint == (file.parent_path() / "../var/outbox").lexically_normal().string());
  CHECK(ds.routesFor("any-practice") == std::vector<std::string>{"local-files"});
}

TEST_CASE("destinations: the example with two EHRs and an engine loads",
          "[gateway][destinations]") {
  fs::path file = fs::path(INLOOP_SOURCE_DIR) / "examples/destinations/ehrs-and-engine.json";
  SecretProbe all = probeSaying(true);
  DestinationsLoad load = inloop::gateway::readDestinationsFile(file.string(), all);
  INFO(errorsOf(load));
  REQUIRE(load.config.has_value());
  CHECK(load.issues.empty());
  CHECK(load.insecure.empty());
  const Destinations& ds = *load.config;
  REQUIRE(ds.destinations.size() == 4);

  const DestinationProfile* ehr = ds.find("riverside-ehr");
  REQUIRE(ehr != nullptr);
  CHECK(ehr->kind == DestinationKind::kFhirTransaction);
  CHECK(ehr->endpoint == "https://ehr.riverside.example.org/fhir/R4");
  CHECK(ehr->auth.type == AuthType::kSmartBackend);
  CHECK(ehr->auth.smart.clientId == "inloop-paincenter");
  CHECK(ehr->auth.smart.alg == SigningAlg::kRs384);
  CHECK(ehr->auth.smart.scopes.size() == 6);
  CHECK(ehr->auth.smart.privateKeyFile ==
        (file.parent_path() / "secrets/riverside-ehr-key.pem").lexically_normal().string());
  CHECK(ehr->tls.verify);
  CHECK(ehr->rateLimitPerSecond == 20);
  CHECK(ehr->patientMatching.mode == PatientMatchingMode::kReference);
  CHECK(ehr->patientMatching.patientIdentifierSystem == "urn:oid:2.16.840.1.113883.3.9999.1");
  REQUIRE(ehr->headers.size() == 1);
  CHECK(ehr->headers[0].name == "X-Source-System");

  const DestinationProfile* lakeside = ds.find("lakeside-ehr");
  REQUIRE(lakeside != nullptr);
  CHECK(lakeside->auth.token.source == SecretSource::kFile);
  CHECK(lakeside->fallbacks.carePlan == CarePlanFallback::kCommunication);
  const DestinationProfile* engine = ds.find("hospital-engine");
  REQUIRE(engine != nullptr);
  CHECK(engine->auth.password == SecretRef{SecretSource::kEnv, "INLOOP_ENGINE_PASSWORD"});
  const DestinationProfile* files = ds.find("archive-files");
  REQUIRE(files != nullptr);
  CHECK_FALSE(files->enabled);
  CHECK(files->endpoint ==
        (file.parent_path() / "../var/outbox-files").lexically_normal().string());

  CHECK(ds.routesFor("riverside-family-medicine") ==
        std::vector<std::string>{"riverside-ehr", "hospital-engine", "archive-files"});
  CHECK(ds.routesFor("unknown-practice") ==
        std::vector<std::string>{"hospital-engine", "archive-files"});

  // Without the secrets present: warnings only, still loaded.
  DestinationsLoad missing =
      inloop::gateway::readDestinationsFile(file.string(), probeSaying(false));
  CHECK(missing.config.has_value());
  CHECK(countErrors(missing.issues) == 0);
  CHECK(missing.issues.size() >= 4);  // key, CA, token file, password env
}

TEST_CASE("destinations: errors name file:line:column", "[gateway][destinations]") {
  struct Row {
    std::string text;
    std::string message;  // a fragment of the expected error
    // fhir::parseJson places strings with escapes approximately: line only.
    bool exactColumn = true;
  };
  const std::string d =
      "{\"id\": \"a\", \"kind\": \"fhir-transaction\", "
      "\"endpoint\": \"https://x.example.org/fhir\"";
  const std::vector<Row> rows = {
      {"{\n  \"destinations\": [],\n  /*here*/\"routs\": {}\n}",
       "$.routs: unknown field \"routs\"; did you mean \"routes\"?"},
      {"{\"destinations\": [/*here*/,]}", ""},
      {"{\"destinations\": /*here*/{}}", "$.destinations: expected a list, got an object"},
      {withDestination(",\n /*here*/\"endpiont\": \"x\""),
       "$.destinations[0].endpiont: unknown field \"endpiont\"; did you mean \"endpoint\"?"},
      {withDestination(",\n \"conditionalReferences\": /*here*/\"yes\""),
       "$.destinations[0].conditionalReferences: expected true or false, got string \"yes\""},
      {withDestination(""
                       ",\n \"auth\": {\"type\": \"bearer\", \"token\": /*here*/\"abc123\"}"),
       "never written in this file"},
      {withDestination(",\n \"auth\": /*here*/{\"type\": \"bearer\"}"),
       "$.destinations[0].auth.token: missing required field \"token\""},
      {withDestination(
           ",\n \"auth\": {\"type\": \"bearer\", \"token\": {\"env\": /*here*/\"1X\"}}"),
       "environment variable name"},
      {withDestination(
           ",\n \"auth\": {\"type\": \"bearer\", \"token\": {/*here*/\"vault\": \"x\"}}"),
       "auth.token.vault: unknown field \"vault\" (known: \"file\", \"env\")"},
      {withDestination(",\n \"auth\": {\"type\": \"bearer\", \"token\": /*here*/{}}"),
       "auth.token: expected exactly one of \"file\" or \"env\""},
      {withDestination(",\n \"auth\": {\"type\": /*here*/\"oauth\"}"),
       "$.destinations[0].auth.type: expected one of \"none\", \"bearer\", \"basic\", "
       "\"smart-backend\", \"mtls\", got \"oauth\""},
      {withDestination(",\n \"auth\": {\"type\": \"basic\", \"user\": \"u\", /*here*/\"token\": "
                       "{\"env\": \"T\"}}"),
       "auth.token: unknown field \"token\" (known: \"type\", \"user\", \"password\", "
       "\"certificateFile\", \"keyFile\")"},
      {withDestination(",\n \"auth\": /*here*/{\"type\": \"smart-backend\", \"clientId\": \"c\", "
                       "\"privateKeyFile\": \"k.pem\"}"),
       "auth.scopes: missing required field \"scopes\""},
      {withDestination(",\n \"auth\": {\"type\": \"smart-backend\", \"clientId\": \"c\", "
                       "\"privateKeyFile\": \"k.pem\", \"scopes\": [\"system/*.write\"], "
                       "\"alg\": /*here*/\"HS256\"}"),
       "auth.alg: expected one of \"RS384\", \"ES384\", got \"HS256\""},
      {withDestination(
           ",\n \"auth\": /*here*/{\"type\": \"mtls\", \"certificateFile\": \"c.pem\"}"),
       "auth.keyFile: missing required field \"keyFile\""},
      {withDestination(",\n \"tls\": {\"verify\": /*here*/false}"), "insecureSkipVerify"},
      {withDestination(",\n \"tls\": {\"insecureSkipVerify\": /*here*/true}"), "only confirms"},
      {withDestination(",\n \"maxInFlight\": /*here*/0"),
       "maxInFlight: expected an integer from 1 to 256, got number 0"},
      {withDestination(",\n \"timeouts\": {\"requestMs\": /*here*/-5}"),
       "timeouts.requestMs: expected an integer from 1 to 3600000, got number -5"},
      {withDestination(",\n \"rateLimitPerSecond\": /*here*/\"fast\""),
       "rateLimitPerSecond: expected a number from 0 to 100000, got string \"fast\""},
      {withDestination(",\n \"accepts\": /*here*/[]"), "accepts: needs at least 1 item"},
      {withDestination(",\n \"accepts\": [\"Goal\", /*here*/\"Goal\"]"),
       "accepts[1]: \"Goal\" is listed twice"},
      {withDestination(",\n \"fallbacks\": {\"CarePlan\": /*here*/\"Task\"}"),
       "fallbacks.CarePlan: expected one of \"Communication\", \"skip\", got \"Task\""},
      {withDestination(",\n \"fallbacks\": {\"MedicationStatement\": /*here*/\"Communication\"}"),
       "fallbacks.MedicationStatement: expected one of \"MedicationRequest\", \"skip\""},
      {withDestination(",\n \"patientMatching\": /*here*/{\"mode\": \"reference\"}"),
       "patientMatching: mode \"reference\" needs \"patientIdentifierSystem\""},
      {withDestination(",\n \"patientMatching\": {\"mode\": \"reference\", "
                       "\"patientIdentifierSystem\": /*here*/\"practice-ids\"}"),
       "patientIdentifierSystem: expected an absolute URI"},
      {withDestination(",\n \"patientMatching\": /*here*/{}"),
       "patientMatching.mode: missing required field \"mode\""},
      {withDestination(",\n \"headers\": {\"Authorization\": /*here*/\"Bearer x\"}"),
       "headers.Authorization: inloop sets this header itself (credentials belong in "
       "\"auth\", never inline)"},
      {withDestination(",\n \"headers\": {\"X-A\": /*here*/\"a\\r\\nb\"}"),
       "headers.X-A: expected a header value without control characters", false},
      {withDestination(",\n \"headers\": {\"Bad Name\": /*here*/\"v\"}"),
       "headers.Bad Name: expected an HTTP header name"},
      {withDestination(",\n \"enabled\": /*here*/\"yes\""), "enabled: expected true or false"},
      {"{\"destinations\": [{\"id\": \"a\", \"kind\": /*here*/\"fhir\", \"endpoint\": "
       "\"https://x.example.org\"}]}",
       "$.destinations[0].kind: expected one of \"fhir-transaction\", \"fhir-put\", "
       "\"http-bundle\", \"ndjson-dir\", got \"fhir\""},
      {withDestination("", "fhir-put", "/*here*/\"ftp://x.example.org\""),
       "endpoint: the URL \"ftp://x.example.org\" must start with http:// or https://"},
      {withDestination("", "fhir-put", "/*here*/\"https://u:p@x.example.org\""),
       "endpoint: the URL \"https://u:p@x.example.org\" must not carry credentials"},
      {withDestination("", "fhir-put", "/*here*/\"https://x.example.org/fhir?x=1\""),
       "must not have a query or fragment"},
      {withDestination(",\n \"auth\": /*here*/{\"type\": \"bearer\", \"token\": {\"env\": \"T\"}}",
                       "ndjson-dir", "\"out\""),
       "$.destinations[0].auth: an ndjson-dir destination writes files and takes no auth"},
      {"{\"destinations\": [\n  /*here*/{\"kind\": \"fhir-put\", \"endpoint\": "
       "\"https://x.example.org\"}\n]}",
       "$.destinations[0].id: missing required field \"id\""},
      {"{\"destinations\": [\n  {\"id\": /*here*/\"a b\", \"kind\": \"fhir-put\", \"endpoint\": "
       "\"https://x.example.org\"}\n]}",
       "$.destinations[0].id: expected 1 to 64 of A-Z a-z 0-9 . _ -, got \"a b\""},
      {"{\"destinations\": [" + d + "},\n  " +
           "{\"id\": /*here*/\"a\", \"kind\": \"fhir-put\", \"endpoint\": "
           "\"https://y.example.org\"}"
           "\n], \"routes\": {\"p\": [\"a\"]}}",
       "$.destinations[1].id: \"a\" is listed twice"},
      {"{\"destinations\": [" + d + "}],\n \"routes\": {\"p\": [\"a\", /*here*/\"nope\"]}}",
       "$.routes.p[1]: expected one of \"a\", got \"nope\""},
      {"{\"destinations\": [" + d + "}],\n \"routes\": {\"p\": [\"a\", /*here*/\"a\"]}}",
       "$.routes.p[1]: \"a\" is listed twice"},
      {"{\"destinations\": [" + d + "}],\n \"routes\": {\"p\": /*here*/\"a\"}}",
       "$.routes.p: expected a list, got string \"a\""},
      {"{\"destinations\": [" + d + "}],\n \"routes\": /*here*/[]}",
       "$.routes: expected an object, got a list"},
  };
  for (const Row& row : rows) {
    INFO(row.text);
    DestinationsLoad load = parseDestinationsConfig(row.text, "d.json", "/cfg", nullptr);
    INFO(errorsOf(load));
    CHECK_FALSE(load.config.has_value());
    std::string where = markedLocation("d.json", row.text);
    if (!row.exactColumn) where = where.substr(0, where.rfind(':') + 1);
    bool found = false;
    for (const auto& issue : load.issues) {
      if (issue.severity == inloop::fhir::Severity::kError &&
          issue.path.substr(0, row.exactColumn ? std::string::npos : where.size()) == where &&
          issue.message.find(row.message) != std::string::npos) {
        found = true;
      }
    }
    CHECK(found);
  }
}

TEST_CASE("destinations: warnings, defaults and relative paths", "[gateway][destinations]") {
  const std::string text = R"({
  // comments are allowed
  "destinations": [
    {"id": "ehr", "kind": "fhir-transaction", "endpoint": "http://ehr.example.org/fhir/",
     "allowPlainHttpPhi": "I understand PHI crosses the network unencrypted",
     "auth": {"type": "bearer", "token": {"file": "secrets/ehr.token"}},
     "tls": {"verify": false, "insecureSkipVerify": true, "caFile": "/etc/ca.pem"},
     "accepts": ["Observation", "Encounter"]},
    {"id": "files", "kind": "ndjson-dir", "endpoint": "out"},
    {"id": "lonely", "kind": "http-bundle", "endpoint": "http://127.0.0.1:9/in",
     "auth": {"type": "basic", "user": "u", "password": {"env": "LONELY_PASSWORD"}}}
  ],
  "routes": {"p": ["ehr", "files"]}
})";
  DestinationsLoad load = parseDestinationsConfig(text, "d.json", "/cfg", nullptr);
  INFO(errorsOf(load));
  REQUIRE(load.config.has_value());
  CHECK(countErrors(load.issues) == 0);
  auto warned = [&](const std::string& fragment) {
    for (const auto& i : load.issues) {
      if (i.severity == inloop::fhir::Severity::kWarning &&
          i.message.find(fragment) != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  CHECK(warned("certificate verification is OFF"));
  CHECK(warned("inloop never sends \"Encounter\""));
  CHECK(warned("plain http to ehr.example.org"));
  CHECK(warned("patient data crosses the network unencrypted"));
  CHECK(load.plainHttp == std::vector<std::string>{"ehr"});
  CHECK(warned("\"lonely\" is named by no route"));
  CHECK_FALSE(warned("127.0.0.1"));  // loopback over http is fine (tests)
  CHECK(load.insecure == std::vector<std::string>{"ehr"});

  const DestinationProfile& ehr = *load.config->find("ehr");
  CHECK(ehr.endpoint == "http://ehr.example.org/fhir");  // trailing slash removed
  CHECK(ehr.auth.token == SecretRef{SecretSource::kFile, "/cfg/secrets/ehr.token"});
  CHECK(ehr.tls.caFile == "/etc/ca.pem");
  CHECK_FALSE(ehr.tls.verify);
  // Defaults.
  CHECK(ehr.timeouts.connectMs == 5000);
  CHECK(ehr.timeouts.requestMs == 30000);
  CHECK(ehr.maxInFlight == 4);
  CHECK(ehr.rateLimitPerSecond == 0);
  CHECK(ehr.enabled);
  CHECK(ehr.patientMatching.mode == PatientMatchingMode::kConditionalCreate);
  CHECK(ehr.fallbacks.medicationStatement == MedicationFallback::kMedicationRequest);
  CHECK(load.config->find("files")->endpoint == "/cfg/out");

  // Secrets referenced but missing: warnings naming the source, never errors.
  const SecretProbe none = probeSaying(false);
  DestinationsLoad probed = parseDestinationsConfig(text, "d.json", "/cfg", &none);
  REQUIRE(probed.config.has_value());
  bool fileWarned = false;
  bool envWarned = false;
  for (const auto& i : probed.issues) {
    if (i.message.find("/cfg/secrets/ehr.token") != std::string::npos) fileWarned = true;
    if (i.message.find("LONELY_PASSWORD is not set") != std::string::npos) envWarned = true;
  }
  CHECK(fileWarned);
  CHECK(envWarned);

  // An empty file routes nothing: loaded, with a warning.
  DestinationsLoad empty = parseDestinationsConfig("{}", "d.json", "", nullptr);
  REQUIRE(empty.config.has_value());
  CHECK(empty.config->destinations.empty());
  REQUIRE(empty.issues.size() == 1);
  CHECK(empty.issues[0].message.find("unroutable") != std::string::npos);
}

TEST_CASE("destinations: plain http off loopback needs allowPlainHttpPhi in words",
          "[gateway][destinations][security]") {
  // Issue 16 item 3: an http destination to another host once loaded with no
  // warning when it had no auth; patient data would cross the network in clear.
  const std::string consent = "\"I understand PHI crosses the network unencrypted\"";
  struct Case {
    const char* name;
    std::string extra;
    std::string endpoint;
    const char* error;  // nullptr: loads
  };
  const std::vector<Case> cases = {
      {"no auth, no consent", "", "\"http://ehr.example.org/fhir\"",
       "plain http to ehr.example.org would carry patient data unencrypted"},
      {"bearer, no consent", R"(, "auth": {"type": "bearer", "token": {"env": "T"}})",
       "\"http://ehr.example.org/fhir\"", "allowPlainHttpPhi"},
      {"consent", ", \"allowPlainHttpPhi\": " + consent, "\"http://ehr.example.org/fhir\"",
       nullptr},
      {"a boolean is not consent", R"(, "allowPlainHttpPhi": true)",
       "\"http://ehr.example.org/fhir\"",
       "allowPlainHttpPhi: expected exactly \"I understand PHI crosses the network unencrypted\", "
       "got "
       "true"},
      {"other words are not consent", R"(, "allowPlainHttpPhi": "yes")",
       "\"http://ehr.example.org/fhir\"",
       "allowPlainHttpPhi: expected exactly \"I understand PHI crosses the network unencrypted\", "
       "got "
       "string \"yes\""},
      {"consent on https is an error", ", \"allowPlainHttpPhi\": " + consent,
       "\"https://ehr.example.org/fhir\"", "only confirms a plain http endpoint"},
      {"loopback needs nothing", "", "\"http://127.0.0.1:8080/fhir\"", nullptr},
      {"smart-backend: never over plain http, consent or not",
       ", \"allowPlainHttpPhi\": " + consent +
           R"(, "auth": {"type": "smart-backend", "clientId": "c", "privateKeyFile": "k.pem",
           "scopes": ["system/Observation.write"]})",
       "\"http://ehr.example.org/fhir\"", "smart-backend refuses http://ehr.example.org/fhir"},
      {"smart-backend: a plain http tokenUrl", R"(, "auth": {"type": "smart-backend",
           "clientId": "c", "privateKeyFile": "k.pem", "tokenUrl": "http://login.example.org/t",
           "scopes": ["system/Observation.write"]})",
       "\"https://ehr.example.org/fhir\"", "smart-backend refuses http://login.example.org/t"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    DestinationsLoad load = parseDestinationsConfig(
        withDestination(c.extra, "fhir-transaction", c.endpoint), "d.json", "/cfg", nullptr);
    INFO(errorsOf(load));
    if (c.error == nullptr) {
      CHECK(countErrors(load.issues) == 0);
      continue;
    }
    CHECK_FALSE(load.config.has_value());
    bool found = false;
    for (const auto& i : load.issues) {
      found =
          found || (i.severity == inloop::fhir::Severity::kError &&
                    i.message.find(c.error) != std::string::npos && i.path.starts_with("d.json:"));
    }
    CHECK(found);
  }
  // --route cannot carry the consent: plain http there is loopback only.
  auto flag = parseRouteFlag("fm-1=fhir-put:http://ehr.example.org/fhir");
  REQUIRE_FALSE(flag.isOk());
  CHECK(flag.status().message().find("plain http to ehr.example.org") != std::string::npos);
  CHECK(parseRouteFlag("fm-1=fhir-put:http://localhost:8080/fhir").isOk());
}

TEST_CASE("destinations: reading files and secrets", "[gateway][destinations]") {
  TempDir dir;
  dir.write("secrets/token", "s3cret-token\n");
  dir.write("secrets/empty", "\n");
  fs::path file = dir.write(
      "destinations.json",
      R"({"destinations": [{"id": "a", "kind": "fhir-put", "endpoint": "https://x.example.org",
          "auth": {"type": "bearer", "token": {"file": "secrets/token"}}}],
          "routes": {"p": ["a"]}})");
  DestinationsLoad load = inloop::gateway::readDestinationsFile(file.string());
  INFO(errorsOf(load));
  REQUIRE(load.config.has_value());
  CHECK(load.issues.empty());  // the secret file exists: no warning
  const SecretRef& token = load.config->find("a")->auth.token;
  CHECK(token.name == (dir.path() / "secrets/token").string());
  auto secret = inloop::gateway::readSecret(token);
  REQUIRE(secret.isOk());
  CHECK(*secret == "s3cret-token");

  auto empty =
      inloop::gateway::readSecret({SecretSource::kFile, (dir.path() / "secrets/empty").string()});
  CHECK(empty.status().code() == inloop::fhir::ErrorCode::kInvalid);
  auto missing = inloop::gateway::readSecret({SecretSource::kFile, (dir.path() / "nope").string()});
  CHECK(missing.status().code() == inloop::fhir::ErrorCode::kNotFound);
  CHECK(missing.status().message().find("nope") != std::string::npos);

  const std::string var = "INLOOP_TEST_ROUTING_SECRET_" + std::to_string(::getpid());
  ::unsetenv(var.c_str());
  auto unset = inloop::gateway::readSecret({SecretSource::kEnv, var});
  CHECK(unset.status().code() == inloop::fhir::ErrorCode::kNotFound);
  ::setenv(var.c_str(), "env-secret", 1);
  auto set = inloop::gateway::readSecret({SecretSource::kEnv, var});
  ::unsetenv(var.c_str());
  REQUIRE(set.isOk());
  CHECK(*set == "env-secret");
  CHECK(inloop::gateway::readSecret({}).status().code() == inloop::fhir::ErrorCode::kNotFound);

  DestinationsLoad absent =
      inloop::gateway::readDestinationsFile((dir.path() / "no.json").string());
  CHECK_FALSE(absent.config.has_value());
  REQUIRE(absent.issues.size() == 1);
  CHECK(absent.issues[0].path == (dir.path() / "no.json").string());
}

TEST_CASE("destinations: --route PRACTICE_ID=KIND:URL", "[gateway][destinations]") {
  struct Ok {
    std::string flag;
    std::string practice;
    std::string id;
    DestinationKind kind;
    std::string endpoint;
  };
  const std::vector<Ok> good = {
      {"fm-1=fhir-transaction:http://127.0.0.1:8080/fhir/R4", "fm-1", "route-fm-1-fhir-transaction",
       DestinationKind::kFhirTransaction, "http://127.0.0.1:8080/fhir/R4"},
      {"fm-1=fhir-put:https://ehr.example.org/fhir/", "fm-1", "route-fm-1-fhir-put",
       DestinationKind::kFhirPut, "https://ehr.example.org/fhir"},
      {"*=http-bundle:http://[::1]:9000/in", "*", "route-any-http-bundle",
       DestinationKind::kHttpBundle, "http://[::1]:9000/in"},
      {"a/b=ndjson-dir:/var/spool/inloop", "a/b", "route-a_b-ndjson-dir",
       DestinationKind::kNdjsonDir, "/var/spool/inloop"},
      {"p=ndjson-dir:C:/out", "p", "route-p-ndjson-dir", DestinationKind::kNdjsonDir, "C:/out"},
  };
  for (const Ok& row : good) {
    INFO(row.flag);
    auto f = parseRouteFlag(row.flag);
    INFO(f.status().toString());
    REQUIRE(f.isOk());
    CHECK(f->practiceId == row.practice);
    CHECK(f->destination.id == row.id);
    CHECK(f->destination.kind == row.kind);
    CHECK(f->destination.endpoint == row.endpoint);
    // Defaults.
    CHECK(f->destination.auth.type == AuthType::kNone);
    CHECK(f->destination.tls.verify);
    CHECK(f->destination.accepts.empty());
    CHECK(f->destination.patientMatching.mode == PatientMatchingMode::kConditionalCreate);
    CHECK(f->destination.enabled);
  }
  struct Bad {
    std::string flag;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {"fm-1", "no '='"},
      {"=fhir-put:http://x", "empty practice id"},
      {"fm 1=fhir-put:http://x", "spaces"},
      {"fm-1=fhir-put", "no ':'"},
      {"fm-1=fhir:http://x", "unknown kind \"fhir\""},
      {"fm-1=fhir-put:ftp://x", "http:// or https://"},
      {"fm-1=http-bundle:http://", "no host"},
      {"fm-1=ndjson-dir:", "empty directory"},
  };
  for (const Bad& row : bad) {
    INFO(row.flag);
    auto f = parseRouteFlag(row.flag);
    REQUIRE_FALSE(f.isOk());
    CHECK(f.status().code() == inloop::fhir::ErrorCode::kInvalid);
    CHECK(f.status().message().find(row.message) != std::string::npos);
    CHECK(f.status().message().find("PRACTICE_ID=KIND:URL") != std::string::npos);
  }
}

TEST_CASE("destinations: --route flags merge into the file's destinations",
          "[gateway][destinations]") {
  Destinations ds;
  DestinationProfile taken;
  taken.id = "route-fm-1-fhir-put";
  taken.kind = DestinationKind::kFhirPut;
  taken.endpoint = "https://other.example.org";
  ds.destinations.push_back(taken);
  ds.routes["fm-9"] = {taken.id};

  std::vector<RouteFlag> flags;
  for (const char* text :
       {"fm-1=fhir-put:http://127.0.0.1:1/fhir", "fm-2=fhir-put:http://127.0.0.1:1/fhir",
        "fm-1=ndjson-dir:/tmp/out", "fm-1=fhir-put:http://127.0.0.1:1/fhir"}) {
    auto f = parseRouteFlag(text);
    REQUIRE(f.isOk());
    flags.push_back(*f);
  }
  inloop::gateway::addRouteFlags(flags, &ds);
  REQUIRE(ds.destinations.size() == 3);
  CHECK(ds.destinations[1].id == "route-fm-1-fhir-put-2");  // the file's id was taken
  CHECK(ds.destinations[2].id == "route-fm-1-ndjson-dir");
  CHECK(ds.routesFor("fm-1") ==
        std::vector<std::string>{"route-fm-1-fhir-put-2", "route-fm-1-ndjson-dir"});
  CHECK(ds.routesFor("fm-2") == std::vector<std::string>{"route-fm-1-fhir-put-2"});  // shared
  CHECK(ds.routesFor("fm-9") == std::vector<std::string>{"route-fm-1-fhir-put"});

  DestinationsLoad bad = inloop::gateway::loadDestinations(
      std::nullopt, {"fm-1=fhir-put:http://127.0.0.1:1/fhir", "nonsense"}, probeSaying(true));
  CHECK_FALSE(bad.config.has_value());
  REQUIRE(bad.issues.size() == 1);
  CHECK(bad.issues[0].path == "--route");

  DestinationsLoad good = inloop::gateway::loadDestinations(
      std::nullopt, {"fm-1=fhir-put:http://127.0.0.1:1/fhir"}, probeSaying(true));
  REQUIRE(good.config.has_value());
  CHECK(good.config->routesFor("fm-1") == std::vector<std::string>{"route-fm-1-fhir-put"});

  TempDir dir;
  fs::path file = dir.write("destinations.json", R"({"destinations": [], "routes": {}})");
  DestinationsLoad both = inloop::gateway::loadDestinations(
      file.string(), {"*=http-bundle:http://127.0.0.1:2/in"}, probeSaying(true));
  REQUIRE(both.config.has_value());
  CHECK(both.config->routesFor("anyone") == std::vector<std::string>{"route-any-http-bundle"});
}

TEST_CASE("destinations: check-config checker", "[gateway][destinations]") {
  CHECK(inloop::gateway::isDestinationsFileName("destinations.json"));
  CHECK_FALSE(inloop::gateway::isDestinationsFileName("destination.json"));
  std::vector<TableFile> files = {
      {"destinations.json", readFile(fs::path(INLOOP_SOURCE_DIR) / "config/destinations.json")}};
  CHECK(countErrors(inloop::gateway::checkDestinationsFiles(files)) == 0);
  files[0].text = "{\"destinations\": [],\n \"routes\": {\"p\": [\"x\"]}}";
  inloop::fhir::Issues issues = inloop::gateway::checkDestinationsFiles(files);
  REQUIRE(countErrors(issues) == 1);
  CHECK(issues[0].path == "destinations.json:2:19");
}

TEST_CASE("destinations: inloop check-config checks destinations.json", "[gateway][destinations]") {
  TempDir dir;
  dir.write("destinations.json",
            readFile(fs::path(INLOOP_SOURCE_DIR) / "config/destinations.json"));
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  CHECK(inloop::gateway::runCli({"inloop", "check-config", dir.path().string()}, in, out, err) ==
        inloop::gateway::kExitOk);
  INFO(out.str() << err.str());
  CHECK(out.str().find("OK") != std::string::npos);

  dir.write("destinations.json", "{\"destinations\": [],\n \"routes\": {\"p\": [\"x\"]}}");
  std::ostringstream out2;
  CHECK(inloop::gateway::runCli({"inloop", "check-config", dir.path().string()}, in, out2, err) ==
        inloop::gateway::kExitInvalid);
  CHECK(out2.str().find("destinations.json:2:19: error: $.routes.p[0]: expected the id of a "
                        "destination (the file "
                        "defines none), got \"x\"") != std::string::npos);
}

TEST_CASE("destinations: conditionalReferences says the receiver resolves them (default off)",
          "[gateway][destinations]") {
  DestinationsLoad off = parseDestinationsConfig(withDestination(""), "d.json", "/cfg", nullptr);
  REQUIRE(off.config.has_value());
  CHECK_FALSE(off.config->destinations[0].conditionalReferences);
  DestinationsLoad on = parseDestinationsConfig(
      withDestination(",\n \"conditionalReferences\": true"), "d.json", "/cfg", nullptr);
  INFO(errorsOf(on));
  REQUIRE(on.config.has_value());
  CHECK(on.config->destinations[0].conditionalReferences);
}

TEST_CASE("destinations: ndjson-dir rotation is configurable, and only there",
          "[gateway][destinations]") {
  DestinationsLoad files = parseDestinationsConfig(
      withDestination(",\n \"rotation\": {\"maxBytes\": 1048576, \"maxAgeMs\": 5000}", "ndjson-dir",
                      "\"/var/spool/inloop\""),
      "d.json", "/cfg", nullptr);
  INFO(errorsOf(files));
  REQUIRE(files.config.has_value());
  CHECK(files.config->destinations[0].rotation.maxBytes == 1048576u);
  CHECK(files.config->destinations[0].rotation.maxAgeMs == 5000);
  DestinationsLoad fhirServer = parseDestinationsConfig(
      withDestination(",\n \"rotation\": {\"maxAgeMs\": 5000}"), "d.json", "/cfg", nullptr);
  CHECK_FALSE(fhirServer.config.has_value());
  CHECK(errorsOf(fhirServer)
            .find("$.destinations[0].rotation: applies to ndjson-dir destinations only") !=
        std::string::npos);
  DestinationsLoad tiny = parseDestinationsConfig(
      withDestination(",\n \"rotation\": {\"maxBytes\": 10}", "ndjson-dir", "\"/x\""), "d.json",
      "/cfg", nullptr);
  CHECK(errorsOf(tiny).find("$.destinations[0].rotation.maxBytes: expected an integer from 1024 to "
                            "1099511627776, got number 10") != std::string::npos);
}

TEST_CASE("destinations: ndjson-dir fileMode is 0600 or 0640, and only there",
          "[gateway][destinations][security]") {
  auto parse = [](const std::string& fileMode, const char* kind = "ndjson-dir") {
    return parseDestinationsConfig(
        withDestination(",\n \"fileMode\": " + fileMode, kind, "\"/var/spool/inloop\""), "d.json",
        "/cfg", nullptr);
  };
  DestinationsLoad byDefault = parseDestinationsConfig(
      withDestination("", "ndjson-dir", "\"/var/spool/inloop\""), "d.json", "/cfg", nullptr);
  REQUIRE(byDefault.config.has_value());
  CHECK(byDefault.config->destinations[0].fileMode == 0600u);
  DestinationsLoad group = parse("\"0640\"");
  INFO(errorsOf(group));
  REQUIRE(group.config.has_value());
  CHECK(group.config->destinations[0].fileMode == 0640u);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"\"0644\"", "expected one of \"0600\", \"0640\", got \"0644\""},
      {"\"0666\"", "expected one of \"0600\", \"0640\", got \"0666\""},
      {"416", "expected a string, got number 416"},
      {"\"rw-r-----\"", "expected one of \"0600\", \"0640\", got \"rw-r-----\""},
  };
  for (const auto& [value, message] : refused) {
    INFO(value);
    DestinationsLoad load = parse(value);
    CHECK_FALSE(load.config.has_value());
    CHECK(errorsOf(load).find("$.destinations[0].fileMode: " + message) != std::string::npos);
  }
  DestinationsLoad fhirServer = parseDestinationsConfig(
      withDestination(",\n \"fileMode\": \"0600\""), "d.json", "/cfg", nullptr);
  CHECK(errorsOf(fhirServer)
            .find("$.destinations[0].fileMode: applies to ndjson-dir destinations only") !=
        std::string::npos);
}

TEST_CASE("destinations: the lists that read a file write it back", "[gateway][destinations]") {
  const std::string settings = R"({
  "destinations": [
    {"id": "ehr", "kind": "fhir-put", "endpoint": "https://ehr.example.org/fhir/", "enabled": false,
     "auth": {"type": "smart-backend", "clientId": "c", "privateKeyFile": "/k.pem",
              "tokenUrl": "https://ehr.example.org/token", "alg": "ES384", "keyId": "k1",
              "scopes": ["system/Observation.write"]},
     "tls": {"verify": false, "insecureSkipVerify": true, "caFile": "/etc/ca.pem"},
     "timeouts": {"connectMs": 100}, "maxInFlight": 2, "rateLimitPerSecond": 2.5,
     "accepts": ["Observation"], "fallbacks": {"CarePlan": "skip", "Communication": "skip"},
     "patientMatching": {"mode": "reference", "patientIdentifierSystem": "urn:oid:1.2"},
     "headers": {"X-Source-System": "inloop", "X-Empty": ""}, "conditionalReferences": true},
    {"id": "engine", "kind": "http-bundle", "endpoint": "https://engine.example.org/in",
     "auth": {"type": "basic", "user": "u", "password": {"env": "P"},
              "certificateFile": "/c.pem", "keyFile": "/k.pem"}},
    {"id": "plain", "kind": "http-bundle", "endpoint": "http://engine.example.org/in",
     "allowPlainHttpPhi": "I understand PHI crosses the network unencrypted"},
    {"id": "files", "kind": "ndjson-dir", "endpoint": "/out", "fileMode": "0640",
     "rotation": {"maxBytes": 2048, "maxAgeMs": 500}}
  ],
  "routes": {"p": ["ehr", "engine", "plain"], "*": ["files"]}
})";
  DestinationsLoad first = parseDestinationsConfig(settings, "d.json", "/cfg", nullptr);
  INFO(errorsOf(first));
  REQUIRE(first.config.has_value());
  CHECK(first.config->find("ehr")->rateLimitPerSecond == 2.5);
  CHECK(first.config->find("ehr")->auth.smart.alg == SigningAlg::kEs384);
  CHECK_FALSE(first.config->find("ehr")->enabled);
  CHECK(first.insecure == std::vector<std::string>{"ehr"});
  CHECK(first.plainHttp == std::vector<std::string>{"plain"});

  const std::string written =
      inloop::fhir::writeJson(inloop::gateway::writeDestinationsConfig(*first.config));
  INFO(written);
  DestinationsLoad again = parseDestinationsConfig(written, "w.json", "/cfg", nullptr);
  INFO(errorsOf(again));
  REQUIRE(again.config.has_value());
  CHECK(again.config->destinations == first.config->destinations);
  CHECK(again.config->routes == first.config->routes);
  CHECK(again.insecure == first.insecure);
  CHECK(again.plainHttp == first.plainHttp);
}

TEST_CASE(
    "destinations: a destination with problems is still known to routes, and an unknown kind "
    "leaves the settings that depend on it unchecked",
    "[gateway][destinations]") {
  DestinationsLoad load = parseDestinationsConfig(
      R"({"destinations": [
    {"id": "a", "kind": "fhir-put", "endpoint": "https://x.example.org", "maxInFlight": 0},
    {"id": "b", "kind": "ndjson-folder", "endpoint": "out", "fileMode": "0640"}
  ],
  "routes": {"p": ["a", "b", "c"]}})",
      "d.json", "/cfg", nullptr);
  INFO(errorsOf(load));
  CHECK_FALSE(load.config.has_value());
  CHECK(countErrors(load.issues) == 3);
  const std::string errors = errorsOf(load);
  CHECK(errors.find("$.destinations[0].maxInFlight: expected an integer from 1 to 256") !=
        std::string::npos);
  CHECK(errors.find("$.destinations[1].kind: expected one of") != std::string::npos);
  CHECK(errors.find(R"($.routes.p[2]: expected one of "a", "b", got "c")") != std::string::npos);
}
