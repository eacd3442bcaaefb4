#include "gateway/transport/jwt.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <vector>

namespace inloop::gateway {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

constexpr std::size_t kEs384CoordinateBytes = 48;

}  // namespace

std::string randomHex16() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return {};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

void SigningKey::Deleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

SigningKey::SigningKey(std::unique_ptr<EVP_PKEY, Deleter> key, mappings::SigningAlg alg)
    : key_(std::move(key)), alg_(alg) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

fhir::Result<SigningKey> SigningKey::loadPem(const std::string& pemFile, mappings::SigningAlg alg) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(pemFile.c_str(), "r"));
  if (!bio) {
    return fhir::Status(fhir::ErrorCode::kIoError, "cannot read private key file " + pemFile);
  }
  // An empty passphrase callback result: encrypted keys fail instead of prompting.
  auto noPassphrase = [](char*, int, int, void*) -> int { return 0; };
  std::unique_ptr<EVP_PKEY, Deleter> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  if (!key) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "no unencrypted PEM private key in " + pemFile);
  }
  if (alg == mappings::SigningAlg::kRs384) {
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key.get()) < 2048) {
      return fhir::Status(fhir::ErrorCode::kInvalid,
                          "RS384 needs an RSA key of at least 2048 bits: " + pemFile);
    }
  } else {
    char group[64] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1 ||
        std::strcmp(group, "secp384r1") != 0) {
      return fhir::Status(fhir::ErrorCode::kInvalid,
                          "ES384 needs an EC key on P-384 (secp384r1): " + pemFile);
    }
  }
  return SigningKey(std::move(key), alg);
}

fhir::Result<std::string> SigningKey::sign(fhir::Json header, const fhir::Json& claims) const {
  if (!header.isObject()) header = fhir::Json::object();
  header.set("alg", fhir::Json::string(std::string(mappings::signingAlgName(alg_))));
  if (header.find("typ") == nullptr) header.set("typ", fhir::Json::string("JWT"));
  const std::string input =
      base64UrlEncode(fhir::writeJson(header)) + "." + base64UrlEncode(fhir::writeJson(claims));

  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key_.get()) != 1) {
    return fhir::Status(fhir::ErrorCode::kInternal, "cannot initialise the JWT signer");
  }
  std::size_t sigLen = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &sigLen, data, input.size()) != 1) {
    return fhir::Status(fhir::ErrorCode::kInternal, "cannot size the JWT signature");
  }
  std::vector<unsigned char> sig(sigLen);
  if (EVP_DigestSign(ctx.get(), sig.data(), &sigLen, data, input.size()) != 1) {
    return fhir::Status(fhir::ErrorCode::kInternal, "signing the JWT failed");
  }
  sig.resize(sigLen);

  std::string signature;
  if (alg_ == mappings::SigningAlg::kRs384) {
    signature.assign(reinterpret_cast<const char*>(sig.data()), sig.size());
  } else {
    // OpenSSL gives DER (SEQUENCE of two INTEGERs); JWS wants R || S, each
    // left-padded to the curve size (RFC 7518 section 3.4).
    const unsigned char* p = sig.data();
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> ecdsa(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
    if (!ecdsa) return fhir::Status(fhir::ErrorCode::kInternal, "bad ECDSA signature");
    unsigned char raw[2 * kEs384CoordinateBytes];
    if (BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), raw, kEs384CoordinateBytes) !=
            static_cast<int>(kEs384CoordinateBytes) ||
        BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), raw + kEs384CoordinateBytes,
                     kEs384CoordinateBytes) != static_cast<int>(kEs384CoordinateBytes)) {
      return fhir::Status(fhir::ErrorCode::kInternal, "bad ECDSA signature size");
    }
    signature.assign(reinterpret_cast<const char*>(raw), sizeof raw);
  }
  return input + "." + base64UrlEncode(signature);
}

fhir::Result<std::string> makeClientAssertion(const mappings::SmartBackendSettings& settings,
                                              std::string_view tokenUrl, const SigningKey& key,
                                              std::int64_t nowMillis, std::string_view jti) {
  if (jti.empty()) return fhir::Status(fhir::ErrorCode::kInternal, "no random jti");
  fhir::Json header = fhir::Json::object();
  header.set("alg", fhir::Json::string(std::string(mappings::signingAlgName(key.alg()))));
  if (!settings.keyId.empty()) header.set("kid", fhir::Json::string(settings.keyId));
  header.set("typ", fhir::Json::string("JWT"));
  const std::int64_t now = nowMillis / 1000;
  fhir::Json claims = fhir::Json::object();
  claims.set("iss", fhir::Json::string(settings.clientId));
  claims.set("sub", fhir::Json::string(settings.clientId));
  claims.set("aud", fhir::Json::string(std::string(tokenUrl)));
  claims.set("iat", fhir::Json::number(now));
  claims.set("exp", fhir::Json::number(now + kAssertionLifetimeSeconds));
  claims.set("jti", fhir::Json::string(std::string(jti)));
  return key.sign(std::move(header), claims);
}

}  // namespace inloop::gateway
