#pragma once

// Encryption of stored payloads (issue 16, docs/security.md): the plan records,
// their FHIR Bundles, medication lists, notice texts and the requests and
// answers kept in the delivery ledger are sealed with AES-256-GCM (OpenSSL)
// before they reach the store's file, when `encryption.keyFile` is configured.
//
// Key file (outside the data directory, mode 0600): one key per line,
//   <key id> <32 random bytes, base64>
// `#` starts a comment line; blank lines are ignored. The FIRST key seals new
// payloads; every key opens. `inloop keygen FILE` adds a new first key;
// `inloop rekey` re-seals every payload under the first key, after which the
// older lines may be deleted.
//
// A sealed value is text, so it fits the store's TEXT columns:
//   inloop:aes256gcm:<key id>:<base64(12-byte nonce || ciphertext || 16-byte tag)>
// The nonce is random per value; the associated data is the prefix with the key
// id plus the column's name, so a value moved to another column or relabelled
// with another key id fails to open. Plaintext the store wrote before
// encryption was turned on (JSON, notice text) never starts with the prefix and
// is read as it is.
//
// Thread safety: a PayloadKeyRing and a PayloadCipher are immutable after
// construction; concurrent use is safe.

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/status.h"

namespace inloop::gateway {

inline constexpr std::string_view kSealedPrefix = "inloop:aes256gcm:";

struct PayloadKey {
  std::string id;  // [A-Za-z0-9._-]{1,32}
  std::array<unsigned char, 32> bytes{};
};

class PayloadKeyRing {
 public:
  // Parses a key file's text. Issues name "FILE:LINE:COLUMN". Errors: a line
  // that is not "<id> <base64>", an id outside [A-Za-z0-9._-]{1,32}, a key that
  // is not 32 bytes of standard base64, a repeated id, no key at all.
  static fhir::Result<PayloadKeyRing> parse(std::string_view text, const std::string& fileName,
                                            fhir::Issues* issues);
  // Reads and parses `path`; kIoError when it cannot be read, kInvalid with
  // the issues' text otherwise.
  static fhir::Result<PayloadKeyRing> load(const std::string& path);

  PayloadKeyRing(const PayloadKeyRing&) = delete;
  PayloadKeyRing& operator=(const PayloadKeyRing&) = delete;
  PayloadKeyRing(PayloadKeyRing&&) noexcept = default;
  PayloadKeyRing& operator=(PayloadKeyRing&&) noexcept = default;
  ~PayloadKeyRing();  // wipes the key bytes

  const PayloadKey& current() const { return keys_.front(); }
  // nullptr when the ring has no key of that id.
  const PayloadKey* find(std::string_view id) const;
  const std::vector<PayloadKey>& keys() const { return keys_; }

 private:
  explicit PayloadKeyRing(std::vector<PayloadKey> keys) : keys_(std::move(keys)) {}
  std::vector<PayloadKey> keys_;  // never empty
};

// A new key line for a key file: "<id> <32 random bytes from the OpenSSL
// CSPRNG, base64>\n". kInvalid for a bad id, kInternal when the CSPRNG fails.
fhir::Result<std::string> newPayloadKeyLine(const std::string& id);
// Whether `id` is a valid key id.
bool isPayloadKeyId(std::string_view id);

// What one stored value is: plaintext, or sealed under `keyId`.
struct SealedInfo {
  bool sealed = false;
  std::string keyId;
};
SealedInfo inspectStoredPayload(std::string_view stored);

class PayloadCipher {
 public:
  // `keys` null: seal() returns plaintext unchanged, open() refuses sealed
  // values (the key file is not configured).
  explicit PayloadCipher(std::shared_ptr<const PayloadKeyRing> keys = nullptr)
      : keys_(std::move(keys)) {}

  bool enabled() const { return keys_ != nullptr; }
  // The id of the key that seals ("" when disabled).
  std::string currentKeyId() const { return keys_ ? keys_->current().id : std::string(); }

  // Seals `plaintext` for `column` ("table.column") under the current key, or
  // returns it unchanged when disabled. kInternal when OpenSSL fails.
  fhir::Result<std::string> seal(std::string_view column, std::string_view plaintext) const;
  // Seals under the key `keyId` of the ring (rekey); kNotFound when absent.
  fhir::Result<std::string> sealWith(std::string_view keyId, std::string_view column,
                                     std::string_view plaintext) const;
  // The plaintext of a stored value of `column`: plaintext as it is; a sealed
  // value decrypted and authenticated. kUnavailable when the value is sealed
  // and no key file is configured or it lacks the value's key id (the message
  // names the key id); kIoError when the value is malformed or fails
  // authentication (altered, moved from another column, or a wrong key).
  fhir::Result<std::string> open(std::string_view column, std::string_view stored) const;

 private:
  std::shared_ptr<const PayloadKeyRing> keys_;
};

}  // namespace inloop::gateway
