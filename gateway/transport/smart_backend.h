#pragma once

// SmartBackendAuth: SMART Backend Services (OAuth 2.0 client_credentials with
// private_key_jwt), the way EHRs let a system write without a user.
//
//  1. The token endpoint is the configured tokenUrl, or is discovered once from
//     GET [base]/.well-known/smart-configuration ("token_endpoint").
//  2. A client assertion JWT is signed with the configured private key
//     (RS384 or ES384, gateway/transport/jwt.h): iss = sub = clientId,
//     aud = token URL, exp <= now + 5 min, a fresh random jti, kid if set.
//  3. POST token URL, application/x-www-form-urlencoded:
//     grant_type=client_credentials&scope=...&client_assertion_type=
//     urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=...
//  4. The access token is cached until shortly before it expires (expires_in,
//     default 300 s when absent; refreshed when less than a fifth of its
//     lifetime, at most 60 s, is left), then fetched again. A 401 from the
//     receiver drops it and fetches a new one (once per rejected token).
//
// Logged (info): token fetched (destination, token URL, expires_in, scope
// granted); warning: token request failed (status, OAuth "error" code), a
// discovered token endpoint refused. Never logged: the assertion, the access
// token, the key.
//
// Where credentials go (docs/security.md, "Outbound authentication"): a
// discovered token_endpoint is used only when it is https on the origin of
// the FHIR base URL; the assertion and the token never travel over plain http
// except loopback to loopback (credentialUrlProblem).
// Time comes from the Clock passed in (tests use ManualClock).
// Thread safety: applyAuth/onUnauthorized may be called concurrently; one
// thread fetches while the others wait for its token.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "gateway/transport/jwt.h"
#include "gateway/transport/outbound_auth.h"

namespace inloop::gateway {

class SmartBackendAuth final : public AuthProvider {
 public:
  // `fhirBaseUrl` is the destination's endpoint (for discovery). `clientOptions`
  // are used for the discovery and token requests. Fails with kInvalid when
  // clientId, scopes or the key file name are missing, a configured tokenUrl
  // is not an http(s) URL, or the endpoint or tokenUrl is plain http off
  // loopback (the message names `destinationId` and the URL). The key is loaded at first use (an
  // unreadable or unfitting key then fails applyAuth with kInvalid/kIoError). `clock` (and
  // `logger`, may be null) must outlive the provider.
  static fhir::Result<std::unique_ptr<SmartBackendAuth>> create(
      const mappings::SmartBackendSettings& settings, std::string fhirBaseUrl,
      HttpClientOptions clientOptions, const Clock& clock, JsonLogger* logger,
      std::string destinationId = {});

  fhir::Status applyAuth(HttpRequest& request) override;
  bool onUnauthorized(const HttpRequest& rejected) override;
  std::string_view name() const override { return "smart-backend"; }

  // The token URL in use (empty until discovered). For status pages.
  std::string tokenUrl() const;
  // Number of access tokens obtained so far. For tests and metrics.
  int tokensFetched() const;

 private:
  SmartBackendAuth(mappings::SmartBackendSettings settings, std::string fhirBaseUrl,
                   HttpClientOptions options, const Clock& clock, JsonLogger* logger,
                   std::string destinationId);

  // A warning line: destination, token URL, why (never a secret).
  void logWarning(const char* event, const std::string& tokenUrl, const std::string& error) const;

  // With mutex_ held.
  fhir::Status discoverLocked();
  fhir::Status fetchTokenLocked();
  fhir::Result<HttpClient*> clientForLocked(const std::string& url,
                                            std::unique_ptr<HttpClient>* slot);

  mappings::SmartBackendSettings settings_;
  std::string fhirBaseUrl_;
  HttpClientOptions options_;
  const Clock& clock_;
  JsonLogger* logger_;
  std::string destinationId_;

  mutable std::mutex mutex_;
  std::string tokenUrl_;
  std::optional<SigningKey> key_;  // loaded at first use
  std::unique_ptr<HttpClient> discoveryClient_;
  std::unique_ptr<HttpClient> tokenClient_;
  std::string accessToken_;
  std::int64_t refreshAtMillis_ = 0;
  int tokensFetched_ = 0;
};

}  // namespace inloop::gateway
