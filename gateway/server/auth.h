#pragma once

// Authenticator: who is calling, from the `Authorization: Bearer TOKEN` header
// or from a verified TLS client certificate (mTLS).
//
// Tokens are configured as SHA-256 hashes only (inloop hash-token prints one).
// The presented token is hashed and compared with EVERY configured hash with
// CRYPTO_memcmp, so the time taken does not reveal which bytes matched, nor
// which entry. Thread safety: every method may be called concurrently;
// replaceTokens() (a configuration reload) swaps the token list atomically.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/status.h"
#include "gateway/config/daemon_config.h"

namespace inloop::gateway {

struct Principal {
  std::string id;  // token id or client principal id; logged and audited
  RoleSet roles;
};

class Authenticator {
 public:
  // `tokens` must have valid sha256Hex (DaemonConfig guarantees it).
  Authenticator(const std::vector<TokenConfig>& tokens,
                const std::vector<ClientPrincipalConfig>& clientPrincipals);

  // The principal of an Authorization header value ("Bearer abc"). Fails with
  // kUnauthorized when the header is empty, not a Bearer token, or the token is
  // unknown (the message never contains the token).
  fhir::Result<Principal> authenticateBearer(std::string_view authorization) const;

  // The principal of a verified client certificate's subject; kUnauthorized
  // when no client principal has that subject.
  fhir::Result<Principal> authenticateSubject(std::string_view subject) const;

  // Replaces the accepted tokens (a reload of inloop.json): requests already
  // authenticated keep their principal; the next ones see the new list.
  void replaceTokens(const std::vector<TokenConfig>& tokens);

 private:
  struct Entry {
    std::array<unsigned char, 32> hash;
    Principal principal;
  };
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<Entry>> tokens_;
  std::vector<ClientPrincipalConfig> clientPrincipals_;
};

// Lower-case hex SHA-256 of `text` (for `inloop hash-token` and the
// INLOOP_API_TOKEN environment token).
std::string sha256HexOf(std::string_view text);

}  // namespace inloop::gateway
