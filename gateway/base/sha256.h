#pragma once

// SHA-256 over OpenSSL EVP (the EVP_MD_CTX is owned by an RAII wrapper).
// Used for record content hashes and API-token hashes.
//
// Failures (OpenSSL out of memory, provider missing) are values: kInternal.
// Thread safety: the free functions are thread-safe; a Sha256 object is not
// (use one per thread).

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "fhir/status.h"

namespace inloop::gateway {

using Sha256Digest = std::array<unsigned char, 32>;

// The 32-byte digest of `data`.
fhir::Result<Sha256Digest> sha256(std::string_view data);

// The digest of `data` as 64 lower-case hex characters.
fhir::Result<std::string> sha256Hex(std::string_view data);

// Lower-case hex of a digest (64 characters).
std::string toHex(const Sha256Digest& digest);

// Incremental hashing: update() any number of times, then finish() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Adds bytes. Errors are remembered and reported by finish().
  void update(std::string_view data);
  // The digest of everything added; kInternal if OpenSSL failed at any step.
  // The object must not be used after finish().
  fhir::Result<Sha256Digest> finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool failed_ = false;
};

}  // namespace inloop::gateway
