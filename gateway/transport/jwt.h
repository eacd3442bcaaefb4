#pragma once

// Client assertion JWTs for SMART Backend Services (private_key_jwt), signed
// with OpenSSL EVP directly: RS384 (RSASSA-PKCS1-v1_5 with SHA-384, RSA key of
// 2048 bits or more) and ES384 (ECDSA on P-384 with SHA-384; the signature is
// JOSE's fixed-width R || S, 96 bytes, not DER).
//
// The private key is loaded once from a PEM file (unencrypted PKCS#8 or
// traditional format) and kept in an RAII wrapper. Nothing here logs; callers
// must never log keys or assertions.
//
// Thread safety: a loaded SigningKey is immutable; sign() may be called
// concurrently.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fhir/json.h"
#include "fhir/status.h"
#include "gateway/base/base64.h"
#include "mappings/shaping/destination.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace inloop::gateway {

// 16 random bytes from the OpenSSL CSPRNG as 32 lower-case hex digits.
std::string randomHex16();

class SigningKey {
 public:
  // Loads the private key in `pemFile` for `alg`. Fails with kIoError when the
  // file cannot be read, kInvalid when it holds no private key or the key does
  // not fit the algorithm (RS384: RSA >= 2048 bits; ES384: EC on P-384). The
  // message names the file, never its contents.
  static fhir::Result<SigningKey> loadPem(const std::string& pemFile, mappings::SigningAlg alg);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  mappings::SigningAlg alg() const { return alg_; }

  // The JWS: base64url(header) "." base64url(claims) "." base64url(signature).
  // `header` gets "alg" (and "typ": "JWT") set; other members are kept.
  fhir::Result<std::string> sign(fhir::Json header, const fhir::Json& claims) const;

 private:
  struct Deleter {
    void operator()(EVP_PKEY* key) const;
  };
  SigningKey(std::unique_ptr<EVP_PKEY, Deleter> key, mappings::SigningAlg alg);

  std::unique_ptr<EVP_PKEY, Deleter> key_;
  mappings::SigningAlg alg_;
};

// Lifetime of a client assertion: SMART requires exp no more than five minutes
// after the time of signing; a little less leaves room for clock skew.
inline constexpr std::int64_t kAssertionLifetimeSeconds = 240;

// The client assertion for `settings` at `nowMillis`: header {alg, typ, kid if
// configured}; claims iss = sub = clientId, aud = tokenUrl, iat, exp = iat +
// kAssertionLifetimeSeconds, jti = `jti` (unique per assertion; randomHex16()).
fhir::Result<std::string> makeClientAssertion(const mappings::SmartBackendSettings& settings,
                                              std::string_view tokenUrl, const SigningKey& key,
                                              std::int64_t nowMillis, std::string_view jti);

}  // namespace inloop::gateway
