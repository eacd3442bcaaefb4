#include "gateway/base/sha256.h"

#include <openssl/evp.h>

namespace inloop::gateway {

struct Sha256::Ctx {
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> md;
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md.reset(EVP_MD_CTX_new());
  failed_ = ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md.get(), EVP_sha256(), nullptr) != 1;
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view data) {
  if (failed_ || data.empty()) return;
  failed_ = EVP_DigestUpdate(ctx_->md.get(), data.data(), data.size()) != 1;
}

fhir::Result<Sha256Digest> Sha256::finish() {
  Sha256Digest digest{};
  unsigned int length = 0;
  if (failed_ || EVP_DigestFinal_ex(ctx_->md.get(), digest.data(), &length) != 1 ||
      length != digest.size()) {
    failed_ = true;
    return fhir::Status(fhir::ErrorCode::kInternal, "SHA-256 failed in OpenSSL");
  }
  failed_ = true;  // finish() is single-use
  return digest;
}

fhir::Result<Sha256Digest> sha256(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finish();
}

std::string toHex(const Sha256Digest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0x0f]);
  }
  return hex;
}

fhir::Result<std::string> sha256Hex(std::string_view data) {
  auto digest = sha256(data);
  if (!digest) return digest.status();
  return toHex(*digest);
}

}  // namespace inloop::gateway
