#include "tests/gateway/support/test_pki.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

namespace inloop::testing {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Bio = std::unique_ptr<BIO, BioFree>;
using Ext = std::unique_ptr<X509_EXTENSION, ExtFree>;

bool addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// A certificate for `key` named `cn`, signed by issuerKey (self-signed when
// issuer is null). `sans`: subjectAltName value or empty.
Cert makeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuerKey, bool isCa,
              const char* sans, bool clientAuth) {
  Cert cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("inloop tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  bool ok = true;
  if (isCa) {
    ok = ok && addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && addExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    ok = ok && addExtension(cert.get(), signer, NID_key_usage,
                            "critical,digitalSignature,keyEncipherment");
    ok = ok && addExtension(cert.get(), signer, NID_ext_key_usage,
                            clientAuth ? "clientAuth" : "serverAuth");
  }
  ok = ok && addExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (sans != nullptr) ok = ok && addExtension(cert.get(), signer, NID_subject_alt_name, sans);
  if (!ok) return nullptr;
  if (X509_sign(cert.get(), issuerKey != nullptr ? issuerKey : key, EVP_sha256()) == 0) {
    return nullptr;
  }
  return cert;
}

bool writePem(const std::string& path, X509* cert) {
  Bio bio(BIO_new_file(path.c_str(), "w"));
  return bio && PEM_write_bio_X509(bio.get(), cert) == 1;
}

bool writeKey(const std::string& path, EVP_PKEY* key) {
  Bio bio(BIO_new_file(path.c_str(), "w"));
  return bio &&
         PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
}

bool writePublic(const std::string& path, EVP_PKEY* key) {
  Bio bio(BIO_new_file(path.c_str(), "w"));
  return bio && PEM_write_bio_PUBKEY(bio.get(), key) == 1;
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "inloop-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool writeTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

TestPki::TestPki() {
  if (dir.path().empty()) return;
  Pkey caKeyPair(EVP_EC_gen("P-256"));
  Pkey serverKeyPair(EVP_EC_gen("P-256"));
  Pkey clientKeyPair(EVP_EC_gen("P-256"));
  Pkey selfKeyPair(EVP_EC_gen("P-256"));
  Pkey rsa(EVP_RSA_gen(2048));
  Pkey ec(EVP_EC_gen("P-384"));
  if (!caKeyPair || !serverKeyPair || !clientKeyPair || !selfKeyPair || !rsa || !ec) return;

  Cert ca = makeCert(caKeyPair.get(), "inloop test CA", nullptr, nullptr, true, nullptr, false);
  if (!ca) return;
  Cert server = makeCert(serverKeyPair.get(), "127.0.0.1", ca.get(), caKeyPair.get(), false,
                         "IP:127.0.0.1,DNS:localhost", false);
  Cert client = makeCert(clientKeyPair.get(), "inloop-gateway", ca.get(), caKeyPair.get(), false,
                         "DNS:inloop-gateway", true);
  Cert self = makeCert(selfKeyPair.get(), "127.0.0.1", nullptr, nullptr, false,
                       "IP:127.0.0.1,DNS:localhost", false);
  if (!server || !client || !self) return;

  caCert = dir.file("ca.pem");
  caKey = dir.file("ca.key");
  serverCert = dir.file("server.pem");
  serverKey = dir.file("server.key");
  clientCert = dir.file("client.pem");
  clientKey = dir.file("client.key");
  selfSignedCert = dir.file("self.pem");
  selfSignedKey = dir.file("self.key");
  rsaPrivate = dir.file("jwt-rsa.key");
  rsaPublic = dir.file("jwt-rsa.pub");
  ecPrivate = dir.file("jwt-ec.key");
  ecPublic = dir.file("jwt-ec.pub");
  ok = writePem(caCert, ca.get()) && writeKey(caKey, caKeyPair.get()) &&
       writePem(serverCert, server.get()) && writeKey(serverKey, serverKeyPair.get()) &&
       writePem(clientCert, client.get()) && writeKey(clientKey, clientKeyPair.get()) &&
       writePem(selfSignedCert, self.get()) && writeKey(selfSignedKey, selfKeyPair.get()) &&
       writeKey(rsaPrivate, rsa.get()) && writePublic(rsaPublic, rsa.get()) &&
       writeKey(ecPrivate, ec.get()) && writePublic(ecPublic, ec.get());
}

}  // namespace inloop::testing
