#include "gateway/config/payload_keys.h"

#include <openssl/crypto.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/config/secret_files.h"

namespace inloop::gateway {

namespace {

namespace fs = std::filesystem;

// True when `file` is `dir` or lies below it (symbolic links resolved as far
// as the paths exist).
bool isInside(const std::string& file, const std::string& dir) {
  std::error_code ec;
  const fs::path f = fs::weakly_canonical(fs::absolute(file, ec), ec);
  const fs::path d = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  auto fi = f.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++fi) {
    if (di->empty()) continue;  // a trailing separator
    if (fi == f.end() || *fi != *di) return false;
  }
  return true;
}

std::string insideMessage(const DaemonConfig& config) {
  return "encryption.keyFile " + config.encryption.keyFile + " is inside the data directory " +
         config.dataDir +
         ": keep the key elsewhere (e.g. /etc/inloop/payload.keys), so that a copy of the data "
         "directory does not carry the key that opens it";
}

}  // namespace

fhir::Result<std::shared_ptr<const PayloadKeyRing>> loadPayloadKeys(const DaemonConfig& config) {
  if (config.encryption.keyFile.empty()) return std::shared_ptr<const PayloadKeyRing>();
  if (isInside(config.encryption.keyFile, config.dataDir)) {
    return fhir::Status(fhir::ErrorCode::kInvalid, insideMessage(config));
  }
  fhir::Result<PayloadKeyRing> ring = PayloadKeyRing::load(config.encryption.keyFile);
  if (!ring) return ring.status();
  return std::shared_ptr<const PayloadKeyRing>(std::make_shared<PayloadKeyRing>(std::move(*ring)));
}

fhir::Issues checkPayloadKeys(const DaemonConfig& config) {
  fhir::Issues issues;
  const std::string& file = config.encryption.keyFile;
  if (file.empty()) return issues;
  if (isInside(file, config.dataDir)) {
    fhir::addError(&issues, "security", config.configFile, insideMessage(config));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    fhir::addError(
        &issues, "not-found", config.configFile,
        "encryption.keyFile " + file + " cannot be read (inloop keygen FILE writes one)");
    return issues;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  (void)PayloadKeyRing::parse(content, file, &issues);
  OPENSSL_cleanse(content.data(), content.size());
  warnIfSecretFileExposed(file, "encryption.keyFile", config.configFile, &issues);
  return issues;
}

}  // namespace inloop::gateway
