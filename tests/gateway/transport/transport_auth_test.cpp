#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "gateway/base/clock.h"
#include "gateway/base/url_origin.h"
#include "gateway/log/json_logger.h"
#include "gateway/transport/jwt.h"
#include "gateway/transport/outbound_auth.h"
#include "gateway/transport/smart_backend.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/smart_token_endpoint.h"
#include "tests/gateway/support/test_pki.h"

using namespace inloop;
using gateway::HttpClient;
using gateway::HttpRequest;
using gateway::HttpResult;
using gateway::TransportErrorKind;
using testing::FaultReceiver;
using testing::SmartTokenEndpoint;
using testing::SmartTokenEndpointOptions;
using testing::Step;
using testing::TempDir;
using testing::TestPki;

namespace {

mappings::DestinationProfile profileFor(const std::string& endpoint) {
  mappings::DestinationProfile p;
  p.id = "ehr-test";
  p.endpoint = endpoint;
  return p;
}

// A smart-backend destination at `endpoint`.
mappings::DestinationProfile smartProfileFor(const std::string& endpoint, std::string clientId,
                                             std::string privateKeyFile, mappings::SigningAlg alg,
                                             std::vector<std::string> scopes) {
  mappings::DestinationProfile p = profileFor(endpoint);
  p.auth.type = mappings::AuthType::kSmartBackend;
  p.auth.smart.clientId = std::move(clientId);
  p.auth.smart.privateKeyFile = std::move(privateKeyFile);
  p.auth.smart.alg = alg;
  p.auth.smart.scopes = std::move(scopes);
  return p;
}

std::unique_ptr<HttpClient> clientFor(const std::string& url) {
  auto c = HttpClient::create(url, {}, nullptr);
  REQUIRE(c.isOk());
  return std::move(c).value();
}

// The auth provider of `profile`, logging into `logs`, and a client for its endpoint.
struct AuthRig {
  AuthRig(const mappings::DestinationProfile& profile, const gateway::Clock& clock)
      : logger(logs, gateway::LogLevel::kDebug) {
    auto made = gateway::makeAuthProvider(profile, {&clock, &logger});
    REQUIRE(made.isOk());
    auth = std::move(made).value();
    client = clientFor(profile.endpoint);
  }
  std::ostringstream logs;
  gateway::JsonLogger logger;
  std::unique_ptr<gateway::AuthProvider> auth;
  std::unique_ptr<HttpClient> client;
};

HttpRequest get(std::string target) {
  HttpRequest r;
  r.target = std::move(target);
  return r;
}

std::string authorizationOf(const HttpRequest& r) {
  return std::string(gateway::findHeader(r.headers, "Authorization"));
}

std::uint16_t closedPort() {
  Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
  return probe.address().port();
}

}  // namespace

TEST_CASE("base64 and base64url encodings", "[gateway]") {
  struct Case {
    const char* in;
    const char* standard;
    const char* url;
  };
  const Case cases[] = {
      {"", "", ""},
      {"f", "Zg==", "Zg"},
      {"fo", "Zm8=", "Zm8"},
      {"foo", "Zm9v", "Zm9v"},
      {"user:pass", "dXNlcjpwYXNz", "dXNlcjpwYXNz"},
      {"\xfb\xff\xfe", "+//+", "-__-"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(gateway::base64Encode(c.in) == c.standard);
    CHECK(gateway::base64UrlEncode(c.in) == c.url);
  }
  CHECK(gateway::randomHex16().size() == 32);
  CHECK(gateway::randomHex16() != gateway::randomHex16());
}

TEST_CASE("bearer and basic providers set Authorization and re-read after a 401", "[gateway]") {
  TempDir dir;
  REQUIRE(testing::writeTextFile(dir.file("token"), "first\n"));
  REQUIRE(testing::writeTextFile(dir.file("password"), "pass\n"));
  gateway::AuthDeps deps;

  auto bearerProfile = profileFor("https://ehr.example.org/fhir");
  bearerProfile.auth.type = mappings::AuthType::kBearer;
  bearerProfile.auth.token = {mappings::SecretSource::kFile, dir.file("token")};
  auto bearer = gateway::makeAuthProvider(bearerProfile, deps);
  REQUIRE(bearer.isOk());
  HttpRequest r = get("/");
  r.headers = {{"authorization", "stale"}};
  REQUIRE((*bearer)->applyAuth(r).isOk());
  CHECK(authorizationOf(r) == "Bearer first");
  CHECK(r.headers.size() == 1);
  CHECK_FALSE((*bearer)->onUnauthorized(r));  // same token: repeating is pointless
  REQUIRE(testing::writeTextFile(dir.file("token"), "second"));
  CHECK((*bearer)->onUnauthorized(r));
  REQUIRE((*bearer)->applyAuth(r).isOk());
  CHECK(authorizationOf(r) == "Bearer second");

  auto basicProfile = profileFor("https://ehr.example.org/fhir");
  basicProfile.auth.type = mappings::AuthType::kBasic;
  basicProfile.auth.user = "user";
  basicProfile.auth.password = {mappings::SecretSource::kFile, dir.file("password")};
  auto basic = gateway::makeAuthProvider(basicProfile, deps);
  REQUIRE(basic.isOk());
  HttpRequest b = get("/");
  REQUIRE((*basic)->applyAuth(b).isOk());
  CHECK(authorizationOf(b) == "Basic dXNlcjpwYXNz");

  SECTION("a missing secret fails at use, not at creation; impossible settings at creation") {
    ::unsetenv("INLOOP_TRANSPORT_TEST_UNSET");
    bearerProfile.auth.token = {mappings::SecretSource::kEnv, "INLOOP_TRANSPORT_TEST_UNSET"};
    auto lazy = gateway::makeAuthProvider(bearerProfile, deps);
    REQUIRE(lazy.isOk());
    HttpRequest x = get("/");
    fhir::Status s = (*lazy)->applyAuth(x);
    CHECK_FALSE(s.isOk());
    CHECK(s.message().find("INLOOP_TRANSPORT_TEST_UNSET") != std::string::npos);
    CHECK(authorizationOf(x).empty());
    bearerProfile.auth.token = {};
    CHECK_FALSE(gateway::makeAuthProvider(bearerProfile, deps).isOk());
    basicProfile.auth.user = "a:b";
    CHECK_FALSE(gateway::makeAuthProvider(basicProfile, deps).isOk());
    auto mtls = profileFor("https://ehr.example.org/fhir");
    mtls.auth.type = mappings::AuthType::kMtls;
    CHECK_FALSE(gateway::makeAuthProvider(mtls, deps).isOk());
  }
}

TEST_CASE("sendWithAuth repeats a request once after a 401 with new credentials", "[gateway]") {
  TempDir dir;
  REQUIRE(testing::writeTextFile(dir.file("token"), "old"));
  FaultReceiver receiver;
  receiver.script({Step::respond(401), Step::respond(401), Step::respond(200, "{}")});
  auto profile = profileFor(receiver.url("/fhir"));
  profile.auth.type = mappings::AuthType::kBearer;
  profile.auth.token = {mappings::SecretSource::kFile, dir.file("token")};
  auto auth = gateway::makeAuthProvider(profile, {});
  REQUIRE(auth.isOk());
  auto client = clientFor(profile.endpoint);

  // Unchanged token: the 401 is final, no repeat.
  HttpResult first = gateway::sendWithAuth(*client, auth->get(), get("/fhir/Patient"));
  REQUIRE(first.isOk());
  CHECK(first.response().status == 401);
  CHECK(receiver.requestCount() == 1);

  // Rotated token: one repeat, and a second 401 is final too.
  REQUIRE(testing::writeTextFile(dir.file("token"), "new"));
  HttpResult second = gateway::sendWithAuth(*client, auth->get(), get("/fhir/Patient"));
  REQUIRE(second.isOk());
  CHECK(second.response().status == 200);
  auto seen = receiver.requests();
  REQUIRE(seen.size() == 3);
  CHECK(seen[1].header("Authorization") == "Bearer old");
  CHECK(seen[2].header("Authorization") == "Bearer new");
}

TEST_CASE("client assertions have the SMART claims", "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  mappings::SmartBackendSettings settings;
  settings.clientId = "client-1";
  settings.keyId = "key-7";
  for (auto alg : {mappings::SigningAlg::kRs384, mappings::SigningAlg::kEs384}) {
    settings.alg = alg;
    INFO(mappings::signingAlgName(alg));
    auto key = gateway::SigningKey::loadPem(
        alg == mappings::SigningAlg::kRs384 ? pki.rsaPrivate : pki.ecPrivate, alg);
    REQUIRE(key.isOk());
    auto jwt = gateway::makeClientAssertion(settings, "https://auth.example.org/token", *key,
                                            1714557600123, "jti-1");
    REQUIRE(jwt.isOk());
    const std::string& text = *jwt;
    const auto dot1 = text.find('.');
    const auto dot2 = text.find('.', dot1 + 1);
    REQUIRE(dot2 != std::string::npos);
    // ES384 is R || S: 96 bytes, 128 base64url characters; RS384 with 2048 bits: 342.
    CHECK(text.size() - dot2 - 1 == (alg == mappings::SigningAlg::kEs384 ? 128u : 342u));
    CHECK(text.find('=') == std::string::npos);
  }
  SECTION("a key that does not fit the algorithm is refused") {
    CHECK_FALSE(gateway::SigningKey::loadPem(pki.ecPrivate, mappings::SigningAlg::kRs384).isOk());
    CHECK_FALSE(gateway::SigningKey::loadPem(pki.rsaPrivate, mappings::SigningAlg::kEs384).isOk());
    // P-256 is not ES384's curve.
    CHECK_FALSE(gateway::SigningKey::loadPem(pki.clientKey, mappings::SigningAlg::kEs384).isOk());
    CHECK_FALSE(gateway::SigningKey::loadPem(pki.rsaPublic, mappings::SigningAlg::kRs384).isOk());
  }
}

TEST_CASE("SMART Backend Services against the token endpoint double", "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  const bool rsa = GENERATE(true, false);
  const auto alg = rsa ? mappings::SigningAlg::kRs384 : mappings::SigningAlg::kEs384;
  INFO(mappings::signingAlgName(alg));
  gateway::ManualClock clock;
  FaultReceiver receiver;
  SmartTokenEndpointOptions options;
  options.publicKeyFile = rsa ? pki.rsaPublic : pki.ecPublic;
  options.alg = alg;
  options.tokenLifetimeSeconds = 300;
  SmartTokenEndpoint endpoint(receiver, clock, options);

  auto profile = smartProfileFor(receiver.url("/fhir/R4"), options.clientId,
                                 rsa ? pki.rsaPrivate : pki.ecPrivate, alg,
                                 {"system/Observation.write", "system/Patient.read"});
  profile.auth.smart.keyId = "kid-1";
  AuthRig rig(profile, clock);
  std::ostringstream& logs = rig.logs;
  auto& auth = rig.auth;
  auto& client = rig.client;

  HttpResult first = gateway::sendWithAuth(*client, auth.get(), get("/fhir/R4/metadata"));
  INFO(gateway::describeResult(first));
  INFO((endpoint.rejections().empty() ? "" : endpoint.rejections().back()));
  REQUIRE(first.isOk());
  CHECK(first.response().status == 200);
  CHECK(endpoint.tokensIssued() == 1);
  REQUIRE(endpoint.accepted().size() == 1);
  const auto seen = endpoint.accepted()[0];
  CHECK(seen.kid == "kid-1");
  CHECK(seen.scope == "system/Observation.write system/Patient.read");
  CHECK(seen.exp > clock.nowMillis() / 1000);
  CHECK(seen.exp <= clock.nowMillis() / 1000 + 300);
  auto* smart = dynamic_cast<gateway::SmartBackendAuth*>(auth.get());
  REQUIRE(smart != nullptr);
  CHECK(smart->tokenUrl() == endpoint.tokenUrl());
  // Secrets stay out of the logs.
  CHECK(logs.str().find("smart-token-fetched") != std::string::npos);
  CHECK(logs.str().find("tok-") == std::string::npos);
  CHECK(logs.str().find("client_assertion") == std::string::npos);

  SECTION("the token is cached while fresh") {
    clock.advance(200 * 1000);
    REQUIRE(gateway::sendWithAuth(*client, auth.get(), get("/fhir/R4/Patient")).isOk());
    CHECK(endpoint.tokensIssued() == 1);
  }
  SECTION("refreshed shortly before expiry, with a new jti") {
    clock.advance(250 * 1000);  // 50 s left of 300: inside the 60 s margin
    HttpResult r = gateway::sendWithAuth(*client, auth.get(), get("/fhir/R4/Patient"));
    REQUIRE(r.isOk());
    CHECK(r.response().status == 200);
    CHECK(endpoint.tokensIssued() == 2);
    auto all = endpoint.accepted();
    REQUIRE(all.size() == 2);
    CHECK(all[0].jti != all[1].jti);
    CHECK(endpoint.rejections().empty());
  }
  SECTION("refreshed once on a 401, then the request is repeated") {
    endpoint.revokeAll();
    HttpResult r = gateway::sendWithAuth(*client, auth.get(), get("/fhir/R4/Patient"));
    REQUIRE(r.isOk());
    CHECK(r.response().status == 200);
    CHECK(endpoint.tokensIssued() == 2);
  }
  SECTION("a second 401 is final: no refresh loop") {
    receiver.script({Step::respond(401), Step::respond(401), Step::respond(401)});
    HttpResult r = gateway::sendWithAuth(*client, auth.get(), get("/fhir/R4/Patient"));
    REQUIRE(r.isOk());
    CHECK(r.response().status == 401);
    CHECK(endpoint.tokensIssued() == 2);
  }
}

TEST_CASE("SMART: refused and unreachable token endpoints", "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  gateway::ManualClock clock;
  FaultReceiver receiver;
  SmartTokenEndpointOptions options;
  options.publicKeyFile = pki.ecPublic;  // the endpoint expects ES384 ...
  options.alg = mappings::SigningAlg::kEs384;
  SmartTokenEndpoint endpoint(receiver, clock, options);
  auto profile = smartProfileFor(receiver.url("/fhir"), options.clientId,
                                 pki.rsaPrivate,  // ... the client signs RS384
                                 mappings::SigningAlg::kRs384, {"system/Observation.write"});

  SECTION("wrong algorithm: refused, reported as an auth failure") {
    auto auth = gateway::makeAuthProvider(profile, {&clock, nullptr});
    REQUIRE(auth.isOk());
    auto client = clientFor(profile.endpoint);
    HttpResult r = gateway::sendWithAuth(*client, auth->get(), get("/fhir/metadata"));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.error().kind == TransportErrorKind::kAuthFailed);
    CHECK(r.error().message.find("invalid_client") != std::string::npos);
    CHECK_FALSE(endpoint.rejections().empty());
    CHECK(endpoint.tokensIssued() == 0);
  }
  SECTION("wrong client id: refused") {
    profile.auth.smart.privateKeyFile = pki.ecPrivate;
    profile.auth.smart.alg = mappings::SigningAlg::kEs384;
    profile.auth.smart.clientId = "someone-else";
    auto auth = gateway::makeAuthProvider(profile, {&clock, nullptr});
    REQUIRE(auth.isOk());
    auto client = clientFor(profile.endpoint);
    HttpResult r = gateway::sendWithAuth(*client, auth->get(), get("/fhir/metadata"));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.error().kind == TransportErrorKind::kAuthFailed);
    REQUIRE_FALSE(endpoint.rejections().empty());
    CHECK(endpoint.rejections().back() == "iss");
  }
  SECTION("token endpoint not listening: retry later") {
    profile.auth.smart.tokenUrl = "http://127.0.0.1:" + std::to_string(closedPort()) + "/token";
    auto auth = gateway::makeAuthProvider(profile, {&clock, nullptr});
    REQUIRE(auth.isOk());
    auto client = clientFor(profile.endpoint);
    HttpResult r = gateway::sendWithAuth(*client, auth->get(), get("/fhir/metadata"));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.error().kind == TransportErrorKind::kAuthUnavailable);
    CHECK(receiver.requestCount() == 0);
  }
  SECTION("an unreadable key fails the delivery, not the start-up") {
    profile.auth.smart.privateKeyFile = pki.dir.file("missing.key");
    auto auth = gateway::makeAuthProvider(profile, {&clock, nullptr});
    REQUIRE(auth.isOk());
    auto client = clientFor(profile.endpoint);
    HttpResult r = gateway::sendWithAuth(*client, auth->get(), get("/fhir/metadata"));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.error().kind == TransportErrorKind::kAuthFailed);
    CHECK(r.error().message.find("missing.key") != std::string::npos);
    profile.auth.smart.privateKeyFile.clear();
    CHECK_FALSE(gateway::makeAuthProvider(profile, {&clock, nullptr}).isOk());
  }
}

TEST_CASE("SMART: a discovered token_endpoint off the FHIR server's origin gets no assertion",
          "[gateway][security]") {
  // Issue 16 item 2: a FHIR server's smart-configuration naming another
  // origin (here an "internal admin" URL on another loopback port) once made
  // inloop POST its signed client assertion there.
  TestPki pki;
  REQUIRE(pki.ok);
  gateway::ManualClock clock;
  FaultReceiver fhirServer;
  FaultReceiver admin;
  const std::string refused =
      GENERATE(std::string("admin"), std::string("https://other.test/token"),
               std::string("http://localhost/token"));
  const std::string tokenEndpoint = refused == "admin" ? admin.url("/internal/admin?x=1") : refused;
  fhirServer.setHandler([&](const testing::ReceivedRequest& r) -> std::optional<Step> {
    if (r.target.find("/.well-known/smart-configuration") == std::string::npos) return std::nullopt;
    return Step::respond(200, "{\"token_endpoint\":\"" + tokenEndpoint + "\"}");
  });
  auto profile = smartProfileFor(fhirServer.url("/fhir"), "inloop-test-client", pki.ecPrivate,
                                 mappings::SigningAlg::kEs384, {"system/Observation.write"});
  AuthRig rig(profile, clock);
  std::ostringstream& logs = rig.logs;
  auto& auth = rig.auth;
  auto& client = rig.client;
  HttpResult r = gateway::sendWithAuth(*client, auth.get(), get("/fhir/metadata"));
  INFO(tokenEndpoint);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.error().kind == TransportErrorKind::kAuthFailed);
  CHECK(r.error().message.find("\"ehr-test\"") != std::string::npos);
  CHECK(r.error().message.find(tokenEndpoint) != std::string::npos);
  CHECK(admin.requestCount() == 0);
  CHECK(fhirServer.requestCount() == 1);  // the discovery only: no resource request either
  CHECK(logs.str().find("smart-token-endpoint-refused") != std::string::npos);
}

TEST_CASE("SMART: assertions and tokens never travel over plain http off loopback",
          "[gateway][security]") {
  gateway::ManualClock clock;
  auto profile = smartProfileFor("https://ehr.example.org/fhir", "c",
                                 "/nonexistent/key.pem",  // loaded at first use only
                                 mappings::SigningAlg::kRs384, {"system/Observation.write"});
  auto make = [&] { return gateway::makeAuthProvider(profile, {&clock, nullptr}); };
  // A configured token server elsewhere is the admin's choice, over https.
  profile.auth.smart.tokenUrl = "https://login.example.org/oauth2/token";
  CHECK(make().isOk());
  profile.auth.smart.tokenUrl = "http://login.example.org/oauth2/token";
  auto plain = make();
  REQUIRE_FALSE(plain.isOk());
  CHECK(plain.status().message().find("\"ehr-test\"") != std::string::npos);
  CHECK(plain.status().message().find("http://login.example.org/oauth2/token") !=
        std::string::npos);
  // http to loopback only when the destination is loopback http as well.
  profile.auth.smart.tokenUrl = "http://127.0.0.1:9/token";
  CHECK_FALSE(make().isOk());
  profile.endpoint = "http://127.0.0.1:8080/fhir";
  CHECK(make().isOk());
  // The access token itself would cross the network in clear.
  profile.endpoint = "http://ehr.example.org/fhir";
  profile.auth.smart.tokenUrl = "https://login.example.org/oauth2/token";
  CHECK_FALSE(make().isOk());
}

TEST_CASE("url origins and loopback hosts", "[gateway][security]") {
  using gateway::originOf;
  REQUIRE(originOf("https://EHR.example.org/fhir"));
  CHECK(originOf("https://EHR.example.org/fhir")->toString() == "https://ehr.example.org:443");
  CHECK(originOf("http://127.0.0.1:8080?x")->toString() == "http://127.0.0.1:8080");
  CHECK(originOf("http://[::1]:81/a")->host == "[::1]");
  CHECK(originOf("https://a.example:443/x") == originOf("https://a.example/y"));
  CHECK_FALSE(originOf("ftp://a.example/"));
  CHECK_FALSE(originOf("https://user@a.example/"));
  CHECK_FALSE(originOf("https://a.example:99999/"));
  CHECK_FALSE(originOf("https:///x"));
  CHECK(gateway::isLoopbackHost("127.0.0.2"));
  CHECK(gateway::isLoopbackHost("localhost"));
  CHECK(gateway::isLoopbackHost("[::1]"));
  CHECK_FALSE(gateway::isLoopbackHost("127.0.0.1.example.org"));
  CHECK_FALSE(gateway::isLoopbackHost("10.0.0.1"));
}
