#pragma once

// AuthProvider: how a request to a destination gets its credentials.
//
// One interface for every auth type of a destination (mappings::AuthType):
//  - none, and mtls (the client certificate lives in the TLS context, see
//    httpClientOptionsFor; no header is added);
//  - bearer: `Authorization: Bearer <token>`, the token read from a file or an
//    environment variable named in the configuration (never the config text);
//  - basic: `Authorization: Basic base64(user:password)`, the password read the
//    same way;
//  - smart-backend: SMART Backend Services (gateway/transport/smart_backend.h).
//
// Protocol for callers (the senders): applyAuth() before each request; on a
// 401, call onUnauthorized() with the rejected request once; when it returns
// true, applyAuth() again and repeat the request ONCE; a second 401 is final.
//
// Secrets are read with readSecret (gateway/config/destinations_config.h), never
// logged and never put in a Status message; messages name where the secret was
// looked for (file name, variable name).
// Thread safety: every provider may be used from several threads at once.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "fhir/status.h"
#include "gateway/transport/http_client.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

class Clock;
class JsonLogger;

class AuthProvider {
 public:
  virtual ~AuthProvider() = default;

  // Adds credentials to `request` (replacing any Authorization header). Fails
  // without touching the request: kUnavailable when fresh credentials could not
  // be obtained for now (token endpoint down: retry later), kUnauthorized when
  // the credentials were refused, kInvalid/kIoError for configuration problems.
  virtual fhir::Status applyAuth(HttpRequest& request) = 0;

  // The receiver answered `rejected` with 401. Returns true when credentials
  // other than those of `rejected` are now available (re-read secret, new
  // token), so repeating the request once is worthwhile.
  virtual bool onUnauthorized(const HttpRequest& rejected) = 0;

  // "none", "bearer", "basic", "smart-backend", "mtls".
  virtual std::string_view name() const = 0;
};

struct AuthDeps {
  const Clock* clock = nullptr;  // required for smart-backend
  JsonLogger* logger = nullptr;  // may be null
};

// The provider for `destination.auth`. Fails (kInvalid) only for settings that
// can never work (no secret reference, a user name with ':', mtls without a
// certificate, smart-backend without clientId or scopes). Secrets and keys are
// read at first use, so a missing secret file fails deliveries (retried,
// visible) instead of the start-up, as docs/destinations.md promises.
// smart-backend talks to the token endpoint with the destination's TLS
// settings (httpClientOptionsFor).
fhir::Result<std::unique_ptr<AuthProvider>> makeAuthProvider(
    const mappings::DestinationProfile& destination, const AuthDeps& deps);

// HttpClient options for a destination: its TLS settings, its client
// certificate and key (any auth type may carry them; mtls requires them), its
// timeouts and its extra static headers.
HttpClientOptions httpClientOptionsFor(const mappings::DestinationProfile& destination);

// Sends `request` with credentials from `auth` (may be null: none), following
// the 401 protocol above: at most one refresh and one repeat. A credential
// failure before sending is a kAuthUnavailable transport error when
// applyAuth said kUnavailable, kAuthFailed otherwise.
HttpResult sendWithAuth(HttpClient& client, AuthProvider* auth, HttpRequest request);

}  // namespace inloop::gateway
