// Security checks as tests (issue 8 item 6), against the daemon in-process on
// port 0: every authenticated route (enumerated from the router's route table in
// gateway/server/api_handler.cpp) refuses missing/unknown credentials with 401
// and a principal lacking the role with 403; tokens are configured as hashes
// only and compared with CRYPTO_memcmp; TLS below 1.2 is refused; store files
// are 0600; patient identifiers and tokens never reach the log or /metrics, nor
// the delivery engine's log lines when a receiver echoes them back, nor the
// inbox's errors files.
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/config/daemon_config.h"
#include "gateway/server/auth.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/hostile_corpus.h"
#include "tests/gateway/support/hostile_support.h"
#include "tests/gateway/support/server_fixture.h"
#include "tests/gateway/support/test_pki.h"

namespace {

using inloop::fhir::Json;
using inloop::gateway::Role;
using inloop::gateway::RoleSet;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kAdminToken;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::kReadToken;
using inloop::server_testing::readFile;
using inloop::server_testing::sendRequest;
using inloop::server_testing::writeFile;

constexpr const char* kOperatorToken = "operator-token-ingest-and-read";

// A daemon with one more principal: ingest + read, but not admin.
DaemonFixture securedDaemon(const std::function<void(inloop::gateway::DaemonConfig&)>& more = {}) {
  return DaemonFixture([&](inloop::gateway::DaemonConfig& c) {
    RoleSet both;
    both.add(Role::kIngest);
    both.add(Role::kRead);
    c.tokens.push_back({"operator", inloop::gateway::sha256HexOf(kOperatorToken), both});
    if (more) more(c);
  });
}

// The route templates the router knows (its metric labels), read from its source.
std::set<std::string> routerRoutes() {
  const std::string source =
      readFile(std::filesystem::path(INLOOP_SOURCE_DIR) / "gateway/server/api_handler.cpp");
  std::set<std::string> routes;
  const std::regex route(R"re(constexpr const char\* kRoute\w+ = "([^"]+)")re");
  for (auto it = std::sregex_iterator(source.begin(), source.end(), route);
       it != std::sregex_iterator(); ++it) {
    routes.insert((*it)[1].str());
  }
  return routes;
}

struct Route {
  std::string templ;  // as in the router
  std::string method;
  std::string path;
  Role role;
  std::string contentType = "application/json";
};

// One concrete request per authenticated route.
std::vector<Route> authenticatedRoutes() {
  return {
      {"/records", "POST", "/records", Role::kIngest},
      {"/records/$batch", "POST", "/records/$batch", Role::kIngest, "application/x-ndjson"},
      {"/records/{recordId}", "GET", "/records/M-2026-118834", Role::kRead},
      {"/admin/reload", "POST", "/admin/reload", Role::kAdmin},
      {"/metrics", "GET", "/metrics", Role::kRead},
      {"/destinations", "GET", "/destinations", Role::kRead},
      {"/deliveries", "GET", "/deliveries?recordId=M-2026-118834", Role::kRead},
      {"/deadletters", "GET", "/deadletters", Role::kRead},
      {"/deadletters/{id}", "GET", "/deadletters/1", Role::kRead},
      {"/deadletters/{id}/{action}", "POST", "/deadletters/1/replay", Role::kAdmin},
      {"/deadletters/{id}/{action}", "POST", "/deadletters/1/discard", Role::kAdmin},
      {"/deadletters/replay", "POST", "/deadletters/replay?destination=x", Role::kAdmin},
      {"/records/{recordId}/reprocess", "POST", "/records/M-2026-118834/reprocess", Role::kAdmin},
      {"/patients/{mrn}/summary", "GET", "/patients/PC-448812/summary", Role::kRead},
      {"/audit", "GET", "/audit?patient=PC-448812", Role::kAdmin},
  };
}

// The routes of the sweep that the router serves (a route being added may
// already be in the table).
std::vector<Route> servedRoutes() {
  const std::set<std::string> served = routerRoutes();
  std::vector<Route> out;
  for (Route& r : authenticatedRoutes()) {
    if (served.count(r.templ) == 1) out.push_back(std::move(r));
  }
  return out;
}

HttpReply call(DaemonFixture& f, const Route& r, const std::string& token,
               const std::string& authorization = {}) {
  Poco::Net::HTTPClientSession session("127.0.0.1", f.port());
  Poco::Net::HTTPRequest req(r.method, r.path, Poco::Net::HTTPMessage::HTTP_1_1);
  if (!token.empty()) req.set("Authorization", "Bearer " + token);
  if (!authorization.empty()) req.set("Authorization", authorization);
  std::string body;
  if (r.method == "POST") {
    body = r.templ.starts_with("/records") ? exampleRecord("measurement-pain-nrs.json") : "{}";
    if (r.contentType == "application/x-ndjson") {
      body = inloop::fhir::writeJson(*inloop::fhir::parseJson(body)) + "\n";
    }
    req.setContentType(r.contentType);
    req.setContentLength64(static_cast<Poco::Int64>(body.size()));
  }
  session.sendRequest(req) << body;
  Poco::Net::HTTPResponse resp;
  std::istream& in = session.receiveResponse(resp);
  HttpReply out;
  Poco::StreamCopier::copyToString(in, out.body);
  out.status = static_cast<int>(resp.getStatus());
  out.wwwAuthenticate = resp.get("WWW-Authenticate", "");
  out.cacheControl = resp.get("Cache-Control", "");
  return out;
}

std::string textAt(const Json& doc, std::initializer_list<const char*> path) {
  const Json* v = &doc;
  for (const char* key : path) {
    v = v->find(key);
    if (v == nullptr) return {};
  }
  return v->text();
}

// Names, birth date, MRN, the PCP's patient id and the note of one example.
std::vector<std::string> patientIdentifiers(const Json& record) {
  std::vector<std::string> out = {
      textAt(record, {"patient", "name", "family"}), textAt(record, {"patient", "birthDate"}),
      textAt(record, {"patient", "mrn"}), textAt(record, {"patient", "pcpPatientId"}),
      textAt(record, {"note"})};
  if (const Json* given = record.find("patient")->find("name")->find("given")) {
    for (const Json& g : given->items()) out.push_back(g.text());
  }
  std::erase(out, std::string());
  return out;
}

unsigned permissionBits(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 07777;
  return st.st_mode & 0777;
}

// Serves HTTPS with the test PKI's server certificate and key.
std::function<void(inloop::gateway::DaemonConfig&)> withServerTls(
    const inloop::testing::TestPki& pki) {
  return [&pki](inloop::gateway::DaemonConfig& c) {
    inloop::gateway::TlsConfig tls;
    tls.certificateFile = pki.serverCert;
    tls.privateKeyFile = pki.serverKey;
    c.tls = tls;
  };
}

}  // namespace

TEST_CASE("every authenticated route: 401 without valid credentials, 403 without the role",
          "[gateway][security]") {
  DaemonFixture f = securedDaemon();
  REQUIRE(f.startError() == "");

  // The sweep covers every route of the router except the open health checks.
  std::set<std::string> covered = {"/healthz", "/readyz", "other"};
  const std::vector<Route> sweep = servedRoutes();
  for (const Route& r : sweep) covered.insert(r.templ);
  const std::set<std::string> routes = routerRoutes();
  REQUIRE(routes.size() >= 10);
  for (const std::string& r : routes) {
    INFO("route " << r << " is served but not in the security sweep");
    CHECK(covered.count(r) == 1);
  }

  struct Credential {
    const char* name;
    std::string token;
    std::string authorization;  // raw header, when not a bearer token
  };
  const std::vector<Credential> refused = {
      {"no credentials", "", ""},
      {"unknown token", "not-a-token", ""},
      {"the stored hash presented as the token", inloop::gateway::sha256HexOf(kAdminToken), ""},
      {"admin token with a suffix", std::string(kAdminToken) + "x", ""},
      {"admin token truncated", std::string(kAdminToken).substr(1), ""},
      {"basic scheme", "", std::string("Basic ") + kAdminToken},
      {"scheme only", "", "Bearer "},
      {"token without a scheme", "", kAdminToken},
  };
  for (const Route& r : sweep) {
    for (const Credential& c : refused) {
      INFO(r.method << " " << r.path << " with " << c.name);
      HttpReply reply = call(f, r, c.token, c.authorization);
      CHECK(reply.status == 401);
      CHECK(reply.cacheControl == "no-store");
      CHECK(reply.wwwAuthenticate.starts_with("Bearer"));
      CHECK(inloop::hostile_testing::isOperationOutcome(reply));
      CHECK(reply.body.find(kAdminToken) == std::string::npos);
    }
  }

  struct Principal {
    const char* name;
    std::string token;
    std::vector<Role> roles;
  };
  const std::vector<Principal> principals = {
      {"ingest", kIngestToken, {Role::kIngest}},
      {"read", kReadToken, {Role::kRead}},
      {"ingest+read", kOperatorToken, {Role::kIngest, Role::kRead}},
      {"admin", kAdminToken, {Role::kIngest, Role::kRead, Role::kAdmin}},
  };
  auto has = [](const Principal& p, Role role) {
    return std::find(p.roles.begin(), p.roles.end(), role) != p.roles.end();
  };
  // Refusals first: a refused POST /records must not store the record.
  for (const Route& r : sweep) {
    for (const Principal& p : principals) {
      if (has(p, r.role)) continue;
      INFO(r.method << " " << r.path << " as " << p.name);
      HttpReply reply = call(f, r, p.token);
      CHECK(reply.status == 403);
      CHECK(reply.cacheControl == "no-store");
      CHECK(inloop::hostile_testing::isOperationOutcome(reply));
    }
  }
  CHECK(f.request("GET", "/records/M-2026-118834", kAdminToken).status == 404);
  // The same requests with the role get past authorization (the route exists).
  for (const Route& r : sweep) {
    for (const Principal& p : principals) {
      if (!has(p, r.role)) continue;
      INFO(r.method << " " << r.path << " as " << p.name);
      HttpReply reply = call(f, r, p.token);
      CHECK(reply.status != 401);
      CHECK(reply.status != 403);
      // Records, ledgers, metrics: no cache may keep a copy (issue 16 item 11).
      CHECK(reply.cacheControl == "no-store");
    }
  }
  CHECK(f.request("GET", "/records/M-2026-118834", kAdminToken).status == 200);
  // Health checks stay open.
  CHECK(f.request("GET", "/healthz").status == 200);
  CHECK(f.request("GET", "/readyz").status == 200);
}

TEST_CASE("tokens are configured as SHA-256 hashes only", "[gateway][security]") {
  struct Case {
    const char* name;
    std::string tokens;
    bool ok;
  };
  const std::string hash = inloop::gateway::sha256HexOf("secret");
  const std::vector<Case> cases = {
      {"hash", R"([{"id":"a","sha256":")" + hash + R"(","roles":["read"]}])", true},
      {"plain token field", R"([{"id":"a","token":"secret","roles":["read"]}])", false},
      {"plain value in sha256", R"([{"id":"a","sha256":"secret","roles":["read"]}])", false},
      {"upper-case hash",
       R"([{"id":"a","sha256":")" + std::string(64, 'A') + R"(","roles":["read"]}])", false},
      {"hash and a plain token",
       R"([{"id":"a","sha256":")" + hash + R"(","token":"secret","roles":["read"]}])", false},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    inloop::gateway::DaemonConfigLoad load =
        inloop::gateway::parseDaemonConfig("{\"tokens\": " + c.tokens + "}", "inloop.json", "");
    CHECK(load.config.has_value() == c.ok);
    if (load.config) {
      REQUIRE(load.config->tokens.size() == 1);
      CHECK(load.config->tokens[0].sha256Hex == hash);
    }
  }
}

TEST_CASE("token comparison: hashed, every entry compared with CRYPTO_memcmp",
          "[gateway][security]") {
  RoleSet read;
  read.add(Role::kRead);
  const std::string token = "0123456789abcdef0123456789abcdef";
  inloop::gateway::Authenticator auth(
      {{"first", inloop::gateway::sha256HexOf("another-token"), RoleSet::all()},
       {"second", inloop::gateway::sha256HexOf(token), read}},
      {});
  struct Case {
    const char* name;
    std::string presented;
    bool ok;
  };
  std::string lastByte = token;
  lastByte.back() = 'e';
  std::string firstByte = token;
  firstByte.front() = '1';
  const std::vector<Case> cases = {
      {"equal", token, true},
      {"case-insensitive scheme, padded", token, true},
      {"differs in the last byte", lastByte, false},
      {"differs in the first byte", firstByte, false},
      {"prefix", token.substr(0, 31), false},
      {"longer", token + "0", false},
      {"the configured hash itself", inloop::gateway::sha256HexOf(token), false},
      {"empty", "", false},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string header = std::string(c.name).starts_with("case-insensitive")
                                   ? "bEaReR   " + c.presented + "  "
                                   : "Bearer " + c.presented;
    auto who = auth.authenticateBearer(header);
    CHECK(who.isOk() == c.ok);
    if (who.isOk()) CHECK(who->id == "second");
    if (!who.isOk()) {
      CHECK(who.status().code() == inloop::fhir::ErrorCode::kUnauthorized);
      if (!c.presented.empty())
        CHECK(who.status().message().find(c.presented) == std::string::npos);
    }
  }
  // The comparison itself is OpenSSL's constant-time one, and no plain
  // comparison of secrets sits beside it.
  const std::string source =
      readFile(std::filesystem::path(INLOOP_SOURCE_DIR) / "gateway/server/auth.cpp");
  CHECK(source.find("CRYPTO_memcmp(e.hash.data(), hash.data(), hash.size())") != std::string::npos);
  CHECK(std::regex_search(source, std::regex(R"((^|[^_])memcmp\()")) == false);
  CHECK(std::regex_search(source, std::regex(R"(hash\s*==|==\s*hash|strcmp)")) == false);
}

TEST_CASE("HTTPS refuses clients limited to TLS 1.0 or 1.1", "[gateway][security]") {
  inloop::testing::TestPki pki;
  REQUIRE(pki.ok);
  DaemonFixture f(withServerTls(pki));
  REQUIRE(f.startError() == "");
  struct Case {
    const char* name;
    int maxVersion;
    bool served;
  };
  const std::vector<Case> cases = {
      {"TLS 1.0", TLS1_VERSION, false},
      {"TLS 1.1", TLS1_1_VERSION, false},
      {"TLS 1.2", TLS1_2_VERSION, true},
      {"TLS 1.3", TLS1_3_VERSION, true},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Poco::Net::Context::Params params;
    params.caLocation = pki.caCert;
    params.loadDefaultCAs = false;
    params.verificationMode = Poco::Net::Context::VERIFY_RELAXED;
    Poco::Net::Context::Ptr ctx =
        new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    // The client is willing to speak the old protocol (security level 0), so a
    // refusal is the server's doing.
    SSL_CTX* ssl = ctx->sslContext();
    SSL_CTX_set_security_level(ssl, 0);
    REQUIRE(SSL_CTX_set_cipher_list(ssl, "DEFAULT:@SECLEVEL=0") == 1);
    REQUIRE(SSL_CTX_set_min_proto_version(ssl, TLS1_VERSION) == 1);
    REQUIRE(SSL_CTX_set_max_proto_version(ssl, c.maxVersion) == 1);
    Poco::Net::HTTPSClientSession session("127.0.0.1", f.port(), ctx);
    int status = 0;
    try {
      status = sendRequest(session, "GET", "/healthz").status;
    } catch (const Poco::Exception&) {
      status = -1;
    }
    CHECK((status == 200) == c.served);
  }
}

TEST_CASE("store files are created 0600", "[gateway][security]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  for (const std::string& name : inloop::hostile_testing::exampleNames()) {
    REQUIRE(f.request("POST", "/records", kIngestToken, exampleRecord(name)).status == 202);
  }
  const std::filesystem::path data = f.tmp() / "data";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  REQUIRE(std::find(files.begin(), files.end(), data / "inloop.db") != files.end());
  for (const auto& p : files) {
    INFO(p.string());
    CHECK(permissionBits(p) == 0600);
  }
  f.stopAndLog();
  CHECK(permissionBits(data / "inloop.db") == 0600);
}

TEST_CASE("free text that reads like markup is accepted over HTTP (202, not 500)",
          "[gateway][security]") {
  // Issue 16 item 9: the narrative check once scanned escaped text for
  // "javascript:" and " onclick=", so such a note answered 500.
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  Json record = *inloop::fhir::parseJson(exampleRecord("medication-start-duloxetine.json"));
  record.set("note", Json::string("see javascript: notes <script>alert(1)</script> & \"x\""));
  record.set("reason", Json::string("pain at night onclick=x"));
  record.find("prescriber")->set("name", Json::string("Dr. Test onerror=y \xE2\x80\xAE"));
  HttpReply reply = f.request("POST", "/records", kIngestToken, inloop::fhir::writeJson(record));
  INFO(reply.body);
  CHECK(reply.status == 202);
}

TEST_CASE("plain http: refused at start-up without consent, logged at every start with it",
          "[gateway][security]") {
  // Issue 16 item 3. Nothing leaves the machine: the destination is disabled,
  // an interface engine (no capability read at start) on a .invalid host.
  inloop::server_testing::TempDir cfg;
  const std::filesystem::path file = cfg.path() / "destinations.json";
  auto destinations = [&](const std::string& extra) {
    writeFile(file, R"({"destinations": [{"id": "ehr", "kind": "http-bundle", "enabled": false,
      "endpoint": "http://ehr.invalid/in")" +
                        extra + R"(}], "routes": {"p": ["ehr"]}})");
  };
  auto withFile = [&](inloop::gateway::DaemonConfig& c) { c.destinationsFile = file.string(); };

  destinations("");
  DaemonFixture refused(withFile);
  CHECK(refused.startError().find("allowPlainHttpPhi") != std::string::npos);
  CHECK(refused.startError().find("ehr.invalid") != std::string::npos);

  destinations(R"(, "allowPlainHttpPhi": "I understand PHI crosses the network unencrypted")");
  DaemonFixture allowed(withFile);
  REQUIRE(allowed.startError() == "");
  const std::string log = allowed.stopAndLog();
  CHECK(log.find("\"plain-http-phi\"") != std::string::npos);
  CHECK(log.find("\"plain-http-listener\"") == std::string::npos);  // 127.0.0.1
}

TEST_CASE("serve warns when it listens off loopback without TLS", "[gateway][security]") {
  // Decided by listensInClear (the daemon logs "plain-http-listener" when it
  // is true); tests listen on loopback only, so the rule is checked here.
  inloop::gateway::DaemonConfig c;
  for (const char* host : {"127.0.0.1", "localhost", "::1"}) {
    c.host = host;
    CHECK_FALSE(inloop::gateway::listensInClear(c));
  }
  for (const char* host : {"0.0.0.0", "", "::", "10.1.2.3", "inloop.example.org"}) {
    INFO(host);
    c.host = host;
    CHECK(inloop::gateway::listensInClear(c));
  }
  c.tls = inloop::gateway::TlsConfig{};
  CHECK_FALSE(inloop::gateway::listensInClear(c));
}

TEST_CASE("a metrics principal reads GET /metrics and nothing else", "[gateway][security]") {
  // Issue 16 item 4: a scraper no longer needs "read", which reads every record.
  inloop::gateway::DaemonConfigLoad load = inloop::gateway::parseDaemonConfig(
      R"({"tokens": [{"id": "scraper", "sha256": ")" + inloop::gateway::sha256HexOf("s") +
          R"(", "roles": ["metrics"]}]})",
      "inloop.json", "");
  INFO(inloop::fhir::formatIssues(load.issues));
  REQUIRE(load.config);
  REQUIRE(load.config->tokens.size() == 1);
  CHECK(load.config->tokens[0].roles.has(Role::kMetrics));
  CHECK_FALSE(load.config->tokens[0].roles.has(Role::kRead));

  constexpr const char* kScraperToken = "scraper-token-metrics-only";
  DaemonFixture f = securedDaemon([&](inloop::gateway::DaemonConfig& c) {
    RoleSet metrics;
    metrics.add(Role::kMetrics);
    c.tokens.push_back({"scraper", inloop::gateway::sha256HexOf(kScraperToken), metrics});
  });
  REQUIRE(f.startError() == "");
  REQUIRE(f.request("POST", "/records", kIngestToken, exampleRecord("measurement-pain-nrs.json"))
              .status == 202);
  const HttpReply scraped = f.request("GET", "/metrics", kScraperToken);
  CHECK(scraped.status == 200);
  CHECK(scraped.body.find("inloop_http_requests_total") != std::string::npos);
  // The read role keeps /metrics too.
  CHECK(f.request("GET", "/metrics", kReadToken).status == 200);
  for (const Route& r : servedRoutes()) {
    if (r.templ == "/metrics") continue;
    INFO(r.method << " " << r.path);
    const HttpReply reply = call(f, r, kScraperToken);
    CHECK(reply.status == 403);
    CHECK(reply.body.find("M-2026-118834\",\"recordType") == std::string::npos);
  }
}

TEST_CASE("existing store files and the data directory are made owner-only at start",
          "[gateway][security]") {
  // Issue 16 item 11: files left by an older install or restored from a backup
  // kept their 0644; the data directory kept its 0755.
  inloop::server_testing::TempDir tmp;
  const std::filesystem::path data = tmp.path() / "data";
  std::filesystem::create_directories(data);
  ::chmod(data.c_str(), 0755);
  const std::vector<std::string> names = {"inloop.db", "inloop.db-wal", "inloop.db-shm"};
  for (const std::string& name : names) {
    writeFile(data / name, "");
    REQUIRE(::chmod((data / name).c_str(), 0644) == 0);
  }
  {
    DaemonFixture f([&](inloop::gateway::DaemonConfig& c) { c.dataDir = data.string(); });
    REQUIRE(f.startError() == "");
    CHECK(f.request("POST", "/records", kIngestToken, exampleRecord("measurement-pain-nrs.json"))
              .status == 202);
    CHECK(permissionBits(data) == 0700);
    for (const std::string& name : names) {
      INFO(name);
      CHECK(permissionBits(data / name) == 0600);
    }
  }
}

TEST_CASE("ndjson-dir delivery files are 0600 whatever the umask, 0640 when configured",
          "[gateway][security]") {
  // The widest umask while the files are made: only the code's own mode counts.
  struct UmaskZero {
    mode_t old = ::umask(0);
    ~UmaskZero() { ::umask(old); }
  } umaskZero;
  struct Case {
    const char* name;
    const char* fileMode;  // in the destinations file; null: a --route flag
    unsigned expected;
  };
  for (const Case& c : {Case{"default (--route)", nullptr, 0600}, Case{"\"0600\"", "0600", 0600},
                        Case{"\"0640\"", "0640", 0640}}) {
    INFO(c.name);
    inloop::server_testing::TempDir out;
    DaemonFixture f([&](inloop::gateway::DaemonConfig& conf) {
      if (c.fileMode == nullptr) {
        conf.routeFlags = {"*=ndjson-dir:" + out.path().string()};
        return;
      }
      conf.destinationsFile = (out.path() / "destinations.json").string();
      writeFile(conf.destinationsFile,
                R"({"destinations": [{"id": "files", "kind": "ndjson-dir", "endpoint": ")" +
                    (out.path() / "files").string() + R"(", "fileMode": ")" + c.fileMode +
                    R"("}], "routes": {"*": ["files"]}})");
    });
    REQUIRE(f.startError() == "");
    REQUIRE(f.request("POST", "/records", kIngestToken, exampleRecord("measurement-pain-nrs.json"))
                .status == 202);
    const std::filesystem::path dir = c.fileMode == nullptr ? out.path() : out.path() / "files";
    std::vector<std::filesystem::path> files;
    REQUIRE(inloop::delivery_testing::waitUntil(f.changes(), [&] {
      files.clear();
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.is_regular_file() && e.file_size() > 0) files.push_back(e.path());
      }
      return !files.empty();
    }));
    for (const auto& p : files) {
      INFO(p.string());
      CHECK(permissionBits(p) == c.expected);
    }
  }
}

TEST_CASE("secret files readable by group or others are warned about in the serve log",
          "[gateway][security]") {
  inloop::testing::TestPki pki;
  REQUIRE(pki.ok);
  REQUIRE(::chmod(pki.serverKey.c_str(), 0640) == 0);
  DaemonFixture f(withServerTls(pki));
  REQUIRE(f.startError() == "");
  const std::string log = f.stopAndLog();
  INFO(log);
  CHECK(log.find("\"event\":\"secret-file-exposed\"") != std::string::npos);
  CHECK(log.find("chmod 600 " + pki.serverKey) != std::string::npos);
  // Owner-only: no warning.
  REQUIRE(::chmod(pki.serverKey.c_str(), 0600) == 0);
  DaemonFixture quiet(withServerTls(pki));
  REQUIRE(quiet.startError() == "");
  CHECK(quiet.stopAndLog().find("secret-file-exposed") == std::string::npos);
}

TEST_CASE("patient identifiers and tokens never appear in the log or /metrics",
          "[gateway][security]") {
  DaemonFixture f([](inloop::gateway::DaemonConfig& c) { c.logLevel = "debug"; });
  REQUIRE(f.startError() == "");
  std::vector<std::string> secrets = {kIngestToken, kReadToken, kAdminToken};
  std::vector<std::string> recordIds;
  std::string batch;
  for (const std::string& name : inloop::hostile_testing::exampleNames()) {
    INFO(name);
    const std::string text = exampleRecord(name);
    const Json record = *inloop::fhir::parseJson(text);
    for (std::string& s : patientIdentifiers(record)) secrets.push_back(std::move(s));
    recordIds.push_back(textAt(record, {"recordId"}));
    REQUIRE(f.request("POST", "/records", kIngestToken, text).status == 202);
    HttpReply back = f.request("GET", "/records/" + recordIds.back(), kReadToken);
    CHECK(back.status == 200);
    if (routerRoutes().count("/patients/{mrn}/summary") == 1) {
      const std::string mrn = textAt(record, {"patient", "mrn"});
      CHECK(f.request("GET", "/patients/" + mrn + "/summary", kReadToken).status == 200);
    }
    batch += inloop::fhir::writeJson(record) + "\n";

    // A rejected variant (bad birth date, unknown sex, note too long): the
    // outcome names the paths but never quotes the values.
    Json bad = record;
    Json* patient = bad.find("patient");
    patient->set("birthDate", Json::string("1961-02-30"));
    patient->set("sex", Json::string("femalex"));
    bad.set("note", Json::string(std::string(4001, 'q')));
    HttpReply refused = f.request("POST", "/records", kIngestToken, inloop::fhir::writeJson(bad));
    CHECK(refused.status == 422);
    CHECK(inloop::hostile_testing::outcomeNames(refused, "$.patient.birthDate"));
    CHECK(refused.body.find("1961-02-30") == std::string::npos);
    CHECK(refused.body.find("femalex") == std::string::npos);
    CHECK(refused.body.find("qqqq") == std::string::npos);
  }
  REQUIRE(secrets.size() > 20);
  // Replays through the batch route, and reads of the delivery ledger.
  CHECK(f.request("POST", "/records/$batch", kIngestToken, batch, "application/x-ndjson").status ==
        200);
  for (const std::string& id : recordIds) {
    CHECK(f.request("GET", "/deliveries?recordId=" + id, kReadToken).status == 200);
  }
  HttpReply metrics = f.request("GET", "/metrics", kReadToken);
  REQUIRE(metrics.status == 200);
  const std::string log = f.stopAndLog();
  // The capture is real: request lines with record ids were logged.
  for (const std::string& id : recordIds) {
    CHECK(log.find("\"recordId\":\"" + id + "\"") != std::string::npos);
  }
  CHECK(metrics.body.find("inloop_") != std::string::npos);
  for (const std::string& s : secrets) {
    INFO("must not appear: " << s);
    CHECK(log.find(s) == std::string::npos);
    CHECK(metrics.body.find(s) == std::string::npos);
  }
  CHECK(log.find("1961-02-30") == std::string::npos);
  CHECK(log.find("femalex") == std::string::npos);
}

TEST_CASE(
    "patient identifiers stay out of the delivery log when a receiver echoes them, and out of "
    "the inbox's errors files",
    "[gateway][security]") {
  using inloop::testing::ReceivedRequest;
  using inloop::testing::Step;
  std::vector<std::string> texts;
  std::vector<std::string> secrets;
  std::vector<std::string> recordIds;
  std::vector<std::string> families;
  std::string badLines;
  for (const std::string& name : inloop::hostile_testing::exampleNames()) {
    texts.push_back(exampleRecord(name));
    const Json record = *inloop::fhir::parseJson(texts.back());
    for (std::string& s : patientIdentifiers(record)) secrets.push_back(std::move(s));
    families.push_back(textAt(record, {"patient", "name", "family"}));
    recordIds.push_back(textAt(record, {"recordId"}));
    Json bad = record;
    bad.find("patient")->set("birthDate", Json::string("1961-02-30"));
    bad.find("patient")->set("sex", Json::string("femalex"));
    bad.set("note", Json::string(std::string(4001, 'q')));
    badLines += inloop::fhir::writeJson(bad) + "\n";
  }
  REQUIRE(secrets.size() > 20);

  // A receiver that refuses every Bundle with an OperationOutcome quoting the
  // patient back, as a real EHR may (every identifier of the request first, then
  // the request): 500 the first time (retried), 400 the second (dead letter).
  inloop::testing::FaultReceiver receiver;
  std::mutex seenMutex;
  std::set<std::string> seen;
  receiver.setHandler([&](const ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET") return Step::respond(404);  // no CapabilityStatement
    std::string quoted = "rejected:";
    for (const std::string& s : secrets) {
      if (r.body.find(s) != std::string::npos) quoted += " " + s;
    }
    std::lock_guard<std::mutex> lock(seenMutex);
    const bool again = !seen.insert(r.body).second;
    return Step::operationOutcome(again ? 400 : 500, "invalid", quoted + " in " + r.body);
  });
  DaemonFixture f([&](inloop::gateway::DaemonConfig& c) {
    c.logLevel = "debug";
    c.routeFlags = {"*=fhir-transaction:" + receiver.url("/fhir")};
    c.delivery.backoffBaseMs = 10;
    c.delivery.backoffCapMs = 50;
    c.delivery.breakerFailures = 1000;
    c.inbox.pollIntervalMs = 20;
  });
  REQUIRE(f.startError() == "");
  for (const std::string& text : texts) {
    REQUIRE(f.request("POST", "/records", kIngestToken, text).status == 202);
  }

  // Delivery: every message is retried once, then dead-lettered.
  auto stateOf = [&](const std::string& id) {
    const Json view = f.request("GET", "/deliveries?recordId=" + id, kReadToken).json();
    const Json* rows = view.find("deliveries");
    if (rows == nullptr || rows->items().empty()) return std::string();
    const Json* state = rows->items().back().find("state");
    return state != nullptr ? state->text() : std::string();
  };
  REQUIRE(inloop::delivery_testing::waitUntil(
      f.changes(),
      [&] {
        for (const std::string& id : recordIds) {
          const std::string state = stateOf(id);
          if (state.empty() || state == "pending") return false;
        }
        return true;
      },
      60));
  // The receiver's text is kept where operators look: the dead letter's ledger.
  const Json letters = f.request("GET", "/deadletters", kReadToken).json();
  REQUIRE(letters.find("deadLetters") != nullptr);
  REQUIRE_FALSE(letters.find("deadLetters")->items().empty());
  bool echoStored = false;
  for (const Json& e : letters.find("deadLetters")->items()) {
    const std::string id = e.find("messageId")->text();
    const std::string one = f.request("GET", "/deadletters/" + id, kReadToken).body;
    for (const std::string& family : families) {
      echoStored = echoStored || one.find(family) != std::string::npos;
    }
  }
  CHECK(echoStored);

  // Inbox: a rejected record and a rejected NDJSON file with names and notes.
  const std::filesystem::path inbox = f.tmp() / "data" / "inbox";
  writeFile(inbox / "bad-record.json.tmp", badLines.substr(0, badLines.find('\n')));
  std::filesystem::rename(inbox / "bad-record.json.tmp", inbox / "bad-record.json");
  writeFile(inbox / "bad-lines.ndjson.tmp", badLines);
  std::filesystem::rename(inbox / "bad-lines.ndjson.tmp", inbox / "bad-lines.ndjson");
  const std::filesystem::path rejected = inbox / "rejected";
  REQUIRE(inloop::delivery_testing::waitUntil(f.changes(), [&] {
    return std::filesystem::exists(rejected / "bad-record.json.errors.json") &&
           std::filesystem::exists(rejected / "bad-lines.ndjson.errors.json");
  }));
  for (const char* file : {"bad-record.json.errors.json", "bad-lines.ndjson.errors.json"}) {
    INFO(file);
    const std::string errors = readFile(rejected / file);
    // Names the path and the rule ...
    CHECK(errors.find("$.patient.birthDate") != std::string::npos);
    CHECK(errors.find("$.patient.sex") != std::string::npos);
    CHECK(errors.find("$.note") != std::string::npos);
    // ... and never the values.
    for (const std::string& s : secrets) {
      INFO("must not appear: " << s);
      CHECK(errors.find(s) == std::string::npos);
    }
    CHECK(errors.find("1961-02-30") == std::string::npos);
    CHECK(errors.find("femalex") == std::string::npos);
    CHECK(errors.find("qqqq") == std::string::npos);
  }
  CHECK(readFile(rejected / "bad-lines.ndjson.errors.json").find("line 6: $.patient.birthDate") !=
        std::string::npos);

  const std::string log = f.stopAndLog();
  // The capture is real: the engine logged retries and dead letters, the inbox its files.
  CHECK(log.find("\"event\":\"delivery-retry\"") != std::string::npos);
  CHECK(log.find("\"event\":\"delivery-dead-letter\"") != std::string::npos);
  CHECK(log.find("bad-lines.ndjson") != std::string::npos);
  for (const std::string& s : secrets) {
    INFO("must not appear in the log: " << s);
    CHECK(log.find(s) == std::string::npos);
  }
  CHECK(log.find("1961-02-30") == std::string::npos);
  CHECK(log.find("qqqq") == std::string::npos);
}
