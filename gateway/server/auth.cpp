#include "gateway/server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

namespace inloop::gateway {

namespace {

constexpr std::string_view kBearer = "Bearer ";

std::array<unsigned char, 32> sha256Of(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  // One-shot digest: no EVP_MD_CTX to own. A failure leaves the all-zero hash,
  // which no configured token hash can equal by chance.
  if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1) {
    out.fill(0);
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string sha256HexOf(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<unsigned char, 32> hash = sha256Of(text);
  std::string out;
  out.reserve(64);
  for (unsigned char b : hash) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Authenticator::Authenticator(const std::vector<TokenConfig>& tokens,
                             const std::vector<ClientPrincipalConfig>& clientPrincipals)
    : clientPrincipals_(clientPrincipals) {
  replaceTokens(tokens);
}

void Authenticator::replaceTokens(const std::vector<TokenConfig>& tokens) {
  auto entries = std::make_shared<std::vector<Entry>>();
  for (const TokenConfig& t : tokens) {
    if (t.sha256Hex.size() != 64) continue;
    Entry e;
    bool ok = true;
    for (std::size_t i = 0; i < 32; ++i) {
      int hi = hexValue(t.sha256Hex[2 * i]);
      int lo = hexValue(t.sha256Hex[2 * i + 1]);
      ok = ok && hi >= 0 && lo >= 0;
      e.hash[i] = static_cast<unsigned char>((hi << 4) | (lo & 15));
    }
    if (!ok) continue;
    e.principal = Principal{t.id, t.roles};
    entries->push_back(std::move(e));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_ = std::move(entries);
}

fhir::Result<Principal> Authenticator::authenticateBearer(std::string_view authorization) const {
  if (authorization.empty()) {
    return fhir::Status(fhir::ErrorCode::kUnauthorized,
                        "authentication required: send Authorization: Bearer TOKEN");
  }
  if (authorization.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(), [](char want, char got) {
        // The scheme name is case-insensitive (RFC 9110).
        return want == got || (want >= 'A' && want <= 'Z' && got == want + 32) ||
               (want >= 'a' && want <= 'z' && got == want - 32);
      })) {
    return fhir::Status(fhir::ErrorCode::kUnauthorized,
                        "unsupported authorization scheme: send Authorization: Bearer TOKEN");
  }
  std::string_view token = authorization.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  const std::array<unsigned char, 32> hash = sha256Of(token);
  std::shared_ptr<const std::vector<Entry>> tokens;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tokens = tokens_;
  }
  const Entry* match = nullptr;
  // No early exit: every entry is compared so timing does not depend on which matched.
  for (const Entry& e : *tokens) {
    if (CRYPTO_memcmp(e.hash.data(), hash.data(), hash.size()) == 0) match = &e;
  }
  if (match == nullptr || token.empty()) {
    return fhir::Status(fhir::ErrorCode::kUnauthorized, "unknown or revoked API token");
  }
  return match->principal;
}

fhir::Result<Principal> Authenticator::authenticateSubject(std::string_view subject) const {
  for (const ClientPrincipalConfig& p : clientPrincipals_) {
    if (p.subject == subject) return Principal{p.id, p.roles};
  }
  return fhir::Status(
      fhir::ErrorCode::kUnauthorized,
      "client certificate subject \"" + std::string(subject) + "\" is not a configured principal");
}

}  // namespace inloop::gateway
