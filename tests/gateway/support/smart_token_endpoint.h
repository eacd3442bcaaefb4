#pragma once

// SmartTokenEndpoint: a SMART Backend Services authorization server double,
// installed as the handler of a FaultReceiver (which then plays both the
// authorization server and the FHIR resource server).
//
//  - GET  .../.well-known/smart-configuration: {token_endpoint, ...}
//  - POST <tokenPath>: checks grant_type, client_assertion_type and scope;
//    verifies the client assertion with the PUBLIC key through POCO JWT (an
//    implementation independent of the gateway's OpenSSL signer): only the
//    configured alg is accepted; iss = sub = clientId, aud = the token URL,
//    now < exp <= now + 5 min (by the test's clock), jti present and never
//    seen before. Issues an opaque token valid for tokenLifetimeSeconds.
//    Refusals answer 401 {"error":"invalid_client"} and record why.
//  - any other request: when requireBearer, 401 unless it carries a token this
//    endpoint issued that is not expired (test clock) or revoked; accepted
//    requests fall through to the receiver's script.
//
// Thread safety: all methods may be called while requests are served.

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "mappings/shaping/destination.h"
#include "tests/gateway/support/fault_receiver.h"

namespace inloop::testing {

struct SmartTokenEndpointOptions {
  std::string clientId = "inloop-test-client";
  std::string publicKeyFile;  // PEM public key of the client
  mappings::SigningAlg alg = mappings::SigningAlg::kRs384;
  std::int64_t tokenLifetimeSeconds = 300;
  std::string tokenPath = "/auth/token";
  bool requireBearer = true;
};

struct SeenAssertion {
  std::string kid;
  std::string jti;
  std::int64_t iat = 0;
  std::int64_t exp = 0;
  std::string scope;
};

class SmartTokenEndpoint {
 public:
  // Installs itself as `receiver`'s handler. Both must outlive the traffic.
  SmartTokenEndpoint(FaultReceiver& receiver, const gateway::Clock& clock,
                     SmartTokenEndpointOptions options);

  std::string tokenUrl() const;
  int tokensIssued() const;
  // Why assertions or bearer tokens were refused, in order.
  std::vector<std::string> rejections() const;
  std::vector<SeenAssertion> accepted() const;
  // Every token issued so far stops working (the resource server answers 401).
  void revokeAll();

 private:
  std::optional<Step> handle(const ReceivedRequest& request);
  Step token(const ReceivedRequest& request);
  Step refuse(std::string why, int status = 401);

  FaultReceiver& receiver_;
  const gateway::Clock& clock_;
  SmartTokenEndpointOptions options_;

  mutable std::mutex mutex_;
  std::set<std::string> jtis_;
  struct Issued {
    std::string token;
    std::int64_t expiresAtMillis = 0;
    bool revoked = false;
  };
  std::vector<Issued> issued_;
  std::vector<std::string> rejections_;
  std::vector<SeenAssertion> accepted_;
};

}  // namespace inloop::testing
