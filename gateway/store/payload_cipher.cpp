#include "gateway/store/payload_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fstream>
#include <sstream>

#include "gateway/base/base64.h"

namespace inloop::gateway {

namespace {

constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kMaxKeyIdChars = 32;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// The associated data of a value: its prefix with the key id, and its column.
std::string associatedData(std::string_view keyId, std::string_view column) {
  std::string aad(kSealedPrefix);
  aad += keyId;
  aad += ':';
  aad += column;
  return aad;
}

fhir::Status opensslFailure(const char* what) {
  return fhir::Status(fhir::ErrorCode::kInternal, std::string("payload encryption: ") + what);
}

fhir::Result<std::string> sealUnder(const PayloadKey& key, std::string_view column,
                                    std::string_view plaintext) {
  std::string raw(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(raw.data());
  if (RAND_bytes(nonce, static_cast<int>(kNonceBytes)) != 1) {
    return opensslFailure("no random nonce");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const std::string aad = associatedData(key.id, column);
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return opensslFailure("cannot start AES-256-GCM");
  }
  auto* out = nonce + kNonceBytes;
  int written = 0;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), out, &written,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    return opensslFailure("encryption failed");
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out + written, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          out + plaintext.size()) != 1) {
    return opensslFailure("encryption failed");
  }
  std::string sealed(kSealedPrefix);
  sealed += key.id;
  sealed += ':';
  sealed += base64Encode(raw);
  return sealed;
}

}  // namespace

bool isPayloadKeyId(std::string_view id) {
  if (id.empty() || id.size() > kMaxKeyIdChars) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

PayloadKeyRing::~PayloadKeyRing() {
  for (PayloadKey& key : keys_) OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
}

const PayloadKey* PayloadKeyRing::find(std::string_view id) const {
  for (const PayloadKey& key : keys_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

fhir::Result<PayloadKeyRing> PayloadKeyRing::parse(std::string_view text,
                                                   const std::string& fileName,
                                                   fhir::Issues* issues) {
  std::vector<PayloadKey> keys;
  const std::size_t before = issues->size();
  std::size_t lineNo = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto where = [&](std::size_t column) {
      return fileName + ":" + std::to_string(lineNo) + ":" + std::to_string(column + 1);
    };
    const std::size_t idEnd = line.find_first_of(" \t", first);
    const std::size_t keyStart =
        idEnd == std::string_view::npos ? idEnd : line.find_first_not_of(" \t", idEnd);
    if (keyStart == std::string_view::npos) {
      fhir::addError(issues, "structure", where(first),
                     "expected \"<key id> <32 bytes, base64>\" (inloop keygen writes one)");
      continue;
    }
    std::string_view id = line.substr(first, idEnd - first);
    std::size_t keyEnd = line.find_last_not_of(" \t");
    std::string_view keyText = line.substr(keyStart, keyEnd + 1 - keyStart);
    if (!isPayloadKeyId(id)) {
      fhir::addError(
          issues, "value", where(first),
          "key id \"" + std::string(id) + "\" must be 1 to 32 characters of A-Z a-z 0-9 . _ -");
      continue;
    }
    std::optional<std::string> bytes = base64Decode(keyText);
    if (!bytes || bytes->size() != 32) {
      fhir::addError(issues, "value", where(keyStart),
                     "the key of \"" + std::string(id) +
                         "\" must be 32 bytes in standard base64 (44 characters)");
      if (bytes) OPENSSL_cleanse(bytes->data(), bytes->size());
      continue;
    }
    bool repeated = false;
    for (const PayloadKey& k : keys) repeated = repeated || k.id == id;
    if (repeated) {
      fhir::addError(issues, "duplicate", where(first),
                     "key id \"" + std::string(id) + "\" appears twice");
    } else {
      PayloadKey key;
      key.id = std::string(id);
      std::copy(bytes->begin(), bytes->end(), key.bytes.begin());
      keys.push_back(std::move(key));
    }
    OPENSSL_cleanse(bytes->data(), bytes->size());
  }
  if (keys.empty() && issues->size() == before) {
    fhir::addError(issues, "required", fileName + ":1:1",
                   "the key file holds no key (inloop keygen FILE writes one)");
  }
  if (issues->size() != before) {
    for (PayloadKey& key : keys) OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "the payload key file " + fileName + " is invalid");
  }
  return PayloadKeyRing(std::move(keys));
}

fhir::Result<PayloadKeyRing> PayloadKeyRing::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fhir::Status(fhir::ErrorCode::kIoError, "cannot read the payload key file " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  fhir::Issues issues;
  fhir::Result<PayloadKeyRing> ring = parse(content, path, &issues);
  OPENSSL_cleanse(content.data(), content.size());
  if (!ring.isOk()) {
    std::string message = fhir::formatIssues(issues);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return fhir::Status(fhir::ErrorCode::kInvalid, message);
  }
  return ring;
}

fhir::Result<std::string> newPayloadKeyLine(const std::string& id) {
  if (!isPayloadKeyId(id)) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "key id \"" + id + "\" must be 1 to 32 characters of A-Z a-z 0-9 . _ -");
  }
  std::string bytes(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), 32) != 1) {
    return opensslFailure("no random key");
  }
  std::string line = id + " " + base64Encode(bytes) + "\n";
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return line;
}

SealedInfo inspectStoredPayload(std::string_view stored) {
  SealedInfo info;
  if (stored.substr(0, kSealedPrefix.size()) != kSealedPrefix) return info;
  std::string_view rest = stored.substr(kSealedPrefix.size());
  info.sealed = true;
  info.keyId = std::string(rest.substr(0, rest.find(':')));
  return info;
}

fhir::Result<std::string> PayloadCipher::seal(std::string_view column,
                                              std::string_view plaintext) const {
  if (!keys_) return std::string(plaintext);
  return sealUnder(keys_->current(), column, plaintext);
}

fhir::Result<std::string> PayloadCipher::sealWith(std::string_view keyId, std::string_view column,
                                                  std::string_view plaintext) const {
  const PayloadKey* key = keys_ ? keys_->find(keyId) : nullptr;
  if (key == nullptr) {
    return fhir::Status(fhir::ErrorCode::kNotFound,
                        "the payload key file holds no key \"" + std::string(keyId) + "\"");
  }
  return sealUnder(*key, column, plaintext);
}

fhir::Result<std::string> PayloadCipher::open(std::string_view column,
                                              std::string_view stored) const {
  if (stored.substr(0, kSealedPrefix.size()) != kSealedPrefix) return std::string(stored);
  std::string_view rest = stored.substr(kSealedPrefix.size());
  const std::size_t colon = rest.find(':');
  if (colon == std::string_view::npos) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "a sealed value of " + std::string(column) + " is malformed (no key id)");
  }
  const std::string_view keyId = rest.substr(0, colon);
  if (!keys_) {
    return fhir::Status(fhir::ErrorCode::kUnavailable,
                        "a value of " + std::string(column) + " is encrypted under key \"" +
                            std::string(keyId) +
                            "\", and no payload key file is configured (encryption.keyFile in "
                            "inloop.json)");
  }
  const PayloadKey* key = keys_->find(keyId);
  if (key == nullptr) {
    return fhir::Status(fhir::ErrorCode::kUnavailable,
                        "a value of " + std::string(column) + " is encrypted under key \"" +
                            std::string(keyId) +
                            "\", which the payload key file does not hold (was it removed before "
                            "inloop rekey finished?)");
  }
  std::optional<std::string> raw = base64Decode(rest.substr(colon + 1));
  if (!raw || raw->size() < kNonceBytes + kTagBytes) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "a sealed value of " + std::string(column) + " is malformed");
  }
  const std::size_t cipherBytes = raw->size() - kNonceBytes - kTagBytes;
  auto* nonce = reinterpret_cast<unsigned char*>(raw->data());
  auto* cipherText = nonce + kNonceBytes;
  auto* tag = cipherText + cipherBytes;
  const std::string aad = associatedData(keyId, column);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string plaintext(cipherBytes, '\0');
  int len = 0;
  int written = 0;
  const bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key->bytes.data(), nonce) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      (cipherBytes == 0 ||
       EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &written,
                         cipherText, static_cast<int>(cipherBytes)) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + written,
                          &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "a sealed value of " + std::string(column) +
                            " failed authentication under key \"" + std::string(keyId) +
                            "\" (altered, moved from another column, or another key of that id)");
  }
  return plaintext;
}

}  // namespace inloop::gateway
