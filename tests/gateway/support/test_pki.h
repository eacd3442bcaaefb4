#pragma once

// TestPki: throwaway keys and certificates generated at test time with the
// OpenSSL API, written as PEM into a fresh temporary directory that is removed
// when the object is destroyed. Nothing is checked in, nothing is fetched.
//
//  - a CA (self-signed, CA:TRUE);
//  - a server certificate from that CA for 127.0.0.1 and localhost (SANs);
//  - a client certificate from that CA (for mutual TLS);
//  - a self-signed server certificate for 127.0.0.1 (not from the CA);
//  - RSA 2048 and EC P-384 key pairs for JWT signing (private and public PEM).
//
// Thread safety: construct once per test; the paths are plain strings.

#include <string>

namespace inloop::testing {

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `text` to `path` (truncating); returns false on failure.
bool writeTextFile(const std::string& path, const std::string& text);

struct TestPki {
  TestPki();

  TempDir dir;
  std::string caCert, caKey;
  std::string serverCert, serverKey;
  std::string clientCert, clientKey;
  std::string selfSignedCert, selfSignedKey;
  std::string rsaPrivate, rsaPublic;  // RS384
  std::string ecPrivate, ecPublic;    // ES384 (P-384)
  bool ok = false;                    // false: generation failed (tests REQUIRE it)
};

}  // namespace inloop::testing
