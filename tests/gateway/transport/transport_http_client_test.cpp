#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <string>

#include "gateway/log/json_logger.h"
#include "gateway/transport/http_client.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/test_pki.h"

using inloop::gateway::HttpClient;
using inloop::gateway::HttpClientOptions;
using inloop::gateway::HttpRequest;
using inloop::gateway::HttpResult;
using inloop::gateway::TransportErrorKind;
using inloop::testing::FaultReceiver;
using inloop::testing::FaultReceiverOptions;
using inloop::testing::Step;
using inloop::testing::TestPki;

namespace {

std::unique_ptr<HttpClient> makeClient(const std::string& url, HttpClientOptions options = {},
                                       inloop::gateway::JsonLogger* logger = nullptr) {
  auto created = HttpClient::create(url, options, logger);
  REQUIRE(created.isOk());
  return std::move(created).value();
}

HttpRequest get(std::string target) {
  HttpRequest r;
  r.target = std::move(target);
  return r;
}

}  // namespace

TEST_CASE("HttpClient sends a request and returns status, headers and body", "[gateway]") {
  FaultReceiver receiver;
  receiver.script({Step::respond(201, R"({"ok":true})", {{"Location", "Patient/1/_history/1"}})});
  auto client = makeClient(receiver.url("/fhir/R4"));
  HttpRequest req;
  req.method = "POST";
  req.target = client->pathFor("");
  req.headers = {{"Content-Type", "application/fhir+json"}, {"X-Test", "1"}};
  req.body = R"({"resourceType":"Bundle"})";
  HttpResult result = client->send(req);
  REQUIRE(result.isOk());
  CHECK(result.response().status == 201);
  CHECK(result.response().body == R"({"ok":true})");
  CHECK(inloop::gateway::findHeader(result.response().headers, "location") ==
        "Patient/1/_history/1");
  auto seen = receiver.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].target == "/fhir/R4");
  CHECK(seen[0].body == req.body);
  CHECK(seen[0].header("X-Test") == "1");
  CHECK(seen[0].header("User-Agent") == "inloop");
}

TEST_CASE("HttpClient reuses a keep-alive connection", "[gateway]") {
  FaultReceiver receiver;
  auto client = makeClient(receiver.url());
  for (int i = 0; i < 3; ++i) REQUIRE(client->send(get("/x")).isOk());
  auto seen = receiver.requests();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].clientPort == seen[1].clientPort);
  CHECK(seen[1].clientPort == seen[2].clientPort);
}

TEST_CASE("HttpClient classifies transport failures", "[gateway]") {
  SECTION("timeout on a stalled response") {
    FaultReceiver receiver;
    receiver.script({Step::stall()});
    HttpClientOptions options;
    options.timeouts.requestMs = 200;
    auto client = makeClient(receiver.url(), options);
    HttpResult result = client->send(get("/slow"));
    receiver.releaseStalls();
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kTimeout);
  }
  SECTION("timeout on a receiver dripping its response (total, not per read)") {
    // Each body byte arrives well within requestMs (64 bytes, one per 25 ms), so
    // only a deadline on the whole exchange stops it; without one the client
    // would get a 200 after ~1.6 s.
    FaultReceiver receiver;
    receiver.script({Step::drip(std::chrono::milliseconds(25))});
    HttpClientOptions options;
    options.timeouts.requestMs = 300;
    auto client = makeClient(receiver.url(), options);
    HttpResult result = client->send(get("/drip"));
    receiver.releaseStalls();
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kTimeout);
    CHECK(result.error().message.find("requestMs 300") != std::string::npos);
  }
  SECTION("connection reset in the middle of the body") {
    FaultReceiver receiver;
    receiver.script({Step::resetMidResponse()});
    auto client = makeClient(receiver.url());
    HttpResult result = client->send(get("/reset"));
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kReset);
    // The next request works on a fresh connection.
    REQUIRE(client->send(get("/after")).isOk());
  }
  SECTION("connection closed without a response") {
    FaultReceiver receiver;
    receiver.script({Step::closeWithoutResponse()});
    auto client = makeClient(receiver.url());
    HttpResult result = client->send(get("/close"));
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kReset);
  }
  SECTION("connection refused") {
    std::uint16_t port = 0;
    {
      Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
      port = probe.address().port();
    }  // closed: nothing listens there now
    auto client = makeClient("http://127.0.0.1:" + std::to_string(port) + "/");
    HttpResult result = client->send(get("/"));
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kConnectRefused);
  }
  SECTION("host name that does not resolve") {
    auto client = makeClient("http://no-such-host.invalid/");
    HttpResult result = client->send(get("/"));
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kDnsFailure);
  }
  SECTION("response body over the limit") {
    FaultReceiver receiver;
    receiver.script({Step::respond(200, std::string(5000, 'a'))});
    HttpClientOptions options;
    options.maxResponseBytes = 1000;
    auto client = makeClient(receiver.url(), options);
    HttpResult result = client->send(get("/big"));
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kTooLarge);
  }
  SECTION("header injection is refused before sending") {
    FaultReceiver receiver;
    auto client = makeClient(receiver.url());
    HttpRequest req = get("/");
    req.headers = {{"X-Bad", "a\r\nInjected: yes"}};
    HttpResult result = client->send(req);
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kInvalidRequest);
    CHECK(receiver.requestCount() == 0);
  }
}

TEST_CASE("HttpClient resolves targets against the base path", "[gateway]") {
  auto client = makeClient("https://ehr.example.org:8443/fhir/R4/");
  struct Case {
    const char* relative;
    const char* expected;
  };
  const Case cases[] = {
      {"", "/fhir/R4"},
      {"metadata", "/fhir/R4/metadata"},
      {"Patient?identifier=a|b", "/fhir/R4/Patient?identifier=a|b"},
      {"/token", "/token"},
      {"https://ehr.example.org:8443/auth/token?x=1", "/auth/token?x=1"},
  };
  for (const auto& c : cases) {
    INFO(c.relative);
    CHECK(client->pathFor(c.relative) == c.expected);
  }
  CHECK(client->port() == 8443);
  CHECK(client->host() == "ehr.example.org");
}

TEST_CASE("HttpClient refuses URLs it cannot use", "[gateway]") {
  for (const char* url : {"ftp://example.org/", "not a url", "http:///nohost"}) {
    INFO(url);
    CHECK_FALSE(HttpClient::create(url, {}, nullptr).isOk());
  }
}

TEST_CASE("TLS: a receiver certificate from the configured CA is accepted", "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  FaultReceiver receiver({pki.serverCert, pki.serverKey, "", false});
  HttpClientOptions options;
  options.tls.caFile = pki.caCert;
  auto client = makeClient(receiver.url("/fhir"), options);
  HttpResult result = client->send(get("/fhir/metadata"));
  INFO(inloop::gateway::describeResult(result));
  REQUIRE(result.isOk());
  CHECK(result.response().status == 200);
}

TEST_CASE("TLS: verification is on by default and refuses unknown issuers", "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  SECTION("self-signed receiver, system trust store") {
    FaultReceiver receiver({pki.selfSignedCert, pki.selfSignedKey, "", false});
    auto client = makeClient(receiver.url());
    HttpResult result = client->send(get("/"));
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kTlsVerify);
    CHECK(receiver.requestCount() == 0);
  }
  SECTION("CA-issued receiver, but another CA configured") {
    FaultReceiver receiver({pki.serverCert, pki.serverKey, "", false});
    HttpClientOptions options;
    options.tls.caFile = pki.selfSignedCert;
    auto client = makeClient(receiver.url(), options);
    HttpResult result = client->send(get("/"));
    REQUIRE_FALSE(result.isOk());
    CHECK(result.error().kind == TransportErrorKind::kTlsVerify);
  }
  SECTION("self-signed receiver with its own certificate configured as the CA") {
    FaultReceiver receiver({pki.selfSignedCert, pki.selfSignedKey, "", false});
    HttpClientOptions options;
    options.tls.caFile = pki.selfSignedCert;
    auto client = makeClient(receiver.url(), options);
    HttpResult result = client->send(get("/"));
    INFO(inloop::gateway::describeResult(result));
    CHECK(result.isOk());
  }
}

TEST_CASE("TLS: the host name must match the certificate", "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  // The client certificate is CA-issued but names "inloop-gateway", not 127.0.0.1.
  FaultReceiver receiver({pki.clientCert, pki.clientKey, "", false});
  HttpClientOptions options;
  options.tls.caFile = pki.caCert;
  auto client = makeClient(receiver.url(), options);
  HttpResult result = client->send(get("/"));
  REQUIRE_FALSE(result.isOk());
  CHECK(result.error().kind == TransportErrorKind::kTlsVerify);
}

TEST_CASE("TLS: insecureSkipVerify accepts a self-signed receiver and logs a warning",
          "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  FaultReceiver receiver({pki.selfSignedCert, pki.selfSignedKey, "", false});
  std::ostringstream logs;
  inloop::gateway::JsonLogger logger(logs, inloop::gateway::LogLevel::kInfo);
  HttpClientOptions options;
  options.tls.verify = false;
  auto client = makeClient(receiver.url(), options, &logger);
  CHECK(logs.str().find("tls-verification-disabled") != std::string::npos);
  CHECK(logs.str().find("\"warning\"") != std::string::npos);
  HttpResult result = client->send(get("/"));
  INFO(inloop::gateway::describeResult(result));
  REQUIRE(result.isOk());
}

TEST_CASE("mTLS: a receiver requiring a client certificate", "[gateway]") {
  TestPki pki;
  REQUIRE(pki.ok);
  FaultReceiver receiver({pki.serverCert, pki.serverKey, pki.caCert, true});
  HttpClientOptions options;
  options.tls.caFile = pki.caCert;
  SECTION("with the client certificate: accepted") {
    options.certificateFile = pki.clientCert;
    options.keyFile = pki.clientKey;
    auto client = makeClient(receiver.url(), options);
    HttpResult result = client->send(get("/"));
    INFO(inloop::gateway::describeResult(result));
    REQUIRE(result.isOk());
    auto seen = receiver.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].clientCertSubject.find("inloop-gateway") != std::string::npos);
  }
  SECTION("without a client certificate: refused") {
    auto client = makeClient(receiver.url(), options);
    HttpResult result = client->send(get("/"));
    REQUIRE_FALSE(result.isOk());
    CHECK((result.error().kind == TransportErrorKind::kTlsHandshake ||
           result.error().kind == TransportErrorKind::kReset));
    CHECK(receiver.requestCount() == 0);
  }
  SECTION("a key that does not match the certificate is a configuration error") {
    options.certificateFile = pki.clientCert;
    options.keyFile = pki.serverKey;
    CHECK_FALSE(HttpClient::create(receiver.url(), options, nullptr).isOk());
  }
}
