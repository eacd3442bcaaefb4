// The daemon over HTTPS (throwaway PKI generated at test time): bearer tokens
// over TLS, and a client certificate mapped to a principal (mTLS).
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPSClientSession.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/gateway/support/server_fixture.h"
#include "tests/gateway/support/test_pki.h"

namespace {

using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::sendRequest;

Poco::Net::Context::Ptr clientContext(const inloop::testing::TestPki& pki, bool withCertificate) {
  Poco::Net::Context::Params params;
  params.caLocation = pki.caCert;
  params.loadDefaultCAs = false;
  params.verificationMode = Poco::Net::Context::VERIFY_RELAXED;
  if (withCertificate) {
    params.certificateFile = pki.clientCert;
    params.privateKeyFile = pki.clientKey;
  }
  return new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
}

}  // namespace

TEST_CASE("HTTPS: tokens over TLS, and a client certificate as the principal (mTLS)",
          "[gateway][server]") {
  inloop::testing::TestPki pki;
  REQUIRE(pki.ok);
  DaemonFixture f([&](inloop::gateway::DaemonConfig& c) {
    inloop::gateway::TlsConfig tls;
    tls.certificateFile = pki.serverCert;
    tls.privateKeyFile = pki.serverKey;
    tls.caFile = pki.caCert;
    tls.verifyClient = inloop::gateway::ClientVerification::kOptional;
    inloop::gateway::RoleSet ingest;
    ingest.add(inloop::gateway::Role::kIngest);
    tls.clientPrincipals = {{"O=inloop tests,CN=inloop-gateway", "clinic-mtls", ingest}};
    c.tls = tls;
  });
  REQUIRE(f.startError() == "");

  SECTION("server certificate and bearer token") {
    Poco::Net::HTTPSClientSession session("127.0.0.1", f.port(), clientContext(pki, false));
    CHECK(sendRequest(session, "GET", "/healthz").status == 200);
    HttpReply r = sendRequest(session, "POST", "/records", kIngestToken,
                              exampleRecord("measurement-pain-nrs.json"));
    CHECK(r.status == 202);
    // No certificate and no token: 401.
    CHECK(sendRequest(session, "POST", "/records", "", "{}").status == 401);
  }
  SECTION("client certificate maps to a principal with its roles") {
    Poco::Net::HTTPSClientSession session("127.0.0.1", f.port(), clientContext(pki, true));
    HttpReply r =
        sendRequest(session, "POST", "/records", "", exampleRecord("measurement-pain-nrs.json"));
    INFO(r.body);
    CHECK(r.status == 202);
    // The certificate's principal has only the ingest role.
    CHECK(sendRequest(session, "GET", "/records/M-2026-118834").status == 403);
    CHECK(f.stopAndLog().find("\"principal\":\"clinic-mtls\"") != std::string::npos);
  }
}
