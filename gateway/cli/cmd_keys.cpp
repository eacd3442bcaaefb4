// Payload encryption keys (docs/security.md "Encryption at rest"):
//
// `inloop keygen FILE [--id ID]`: adds a new key, 32 bytes from the OpenSSL
//   CSPRNG, as the FIRST line of FILE (the key that seals new payloads),
//   creating FILE with mode 0600 when it does not exist. The existing keys stay
//   (they still open what they sealed). The key never appears on the terminal.
//   ID defaults to the UTC time ("k20261207T190312Z").
// `inloop rekey --dry-run|--apply [--decrypt] [--config FILE | --data-dir DIR]`:
//   seals every stored payload not under the current key again (plaintext
//   values too: after turning encryption on), or with --decrypt stores them
//   as plaintext (before turning it off). Safe while `inloop serve` runs: the
//   daemon reads the key file again when it meets a key id it lacks.
//
// Exit codes: 0 done; 2 usage or configuration error; 3 the key file or the
// store cannot be written.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>

#include "gateway/base/clock.h"
#include "gateway/base/durable_file.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/cli_support.h"
#include "gateway/cli/commands.h"
#include "gateway/config/daemon_config.h"
#include "gateway/store/payload_cipher.h"

namespace inloop::gateway {

namespace {

constexpr const char* kKeygenUsage = "usage: inloop keygen FILE [--id ID]\n";
constexpr const char* kRekeyUsage =
    "usage: inloop rekey --dry-run|--apply [--decrypt] [--config FILE | --data-dir DIR]\n";

constexpr const char* kKeyFileHeader =
    "# inloop payload keys (docs/security.md): \"<key id> <32 bytes, base64>\" per line.\n"
    "# The first key seals new payloads; every key opens what it sealed. Keep this\n"
    "# file outside the data directory, mode 0600, and back it up apart from it.\n";

std::string defaultKeyId() {
  // "k" and the UTC time to the second without separators: k20261207T231500Z.
  const std::string at = formatInstant(SystemClock().nowMillis());
  std::string id = "k";
  for (char c : at.substr(0, 19)) {
    if (c != '-' && c != ':') id += c;
  }
  return id + "Z";
}

}  // namespace

int cmdKeygen(CommandContext& ctx) {
  std::string file;
  std::string id;
  std::string problem;
  if (!parseCliOptions(ctx.args, {{"--id", &id}}, "FILE", &file, &problem)) {
    ctx.err << "inloop keygen: " << problem << "\n" << kKeygenUsage;
    return kExitUsage;
  }
  if (id.empty()) id = defaultKeyId();
  if (!isPayloadKeyId(id)) {
    ctx.err << "inloop keygen: key id \"" << id
            << "\" must be 1 to 32 characters of A-Z a-z 0-9 . _ -\n";
    return kExitUsage;
  }
  std::string existing;
  std::error_code ec;
  const bool exists = std::filesystem::exists(file, ec);
  if (exists) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
      ctx.err << "inloop keygen: cannot read " << file << "\n";
      return kExitFailure;
    }
    existing = text.str();
    fhir::Issues issues;
    fhir::Result<PayloadKeyRing> ring = PayloadKeyRing::parse(existing, file, &issues);
    if (!ring) {
      OPENSSL_cleanse(existing.data(), existing.size());
      ctx.err << "inloop keygen: " << file << " is not a valid key file; nothing changed:\n"
              << fhir::formatIssues(issues);
      return kExitUsage;
    }
    if (ring->find(id) != nullptr) {
      OPENSSL_cleanse(existing.data(), existing.size());
      ctx.err << "inloop keygen: " << file << " already holds a key \"" << id
              << "\"; choose another --id\n";
      return kExitUsage;
    }
  }
  fhir::Result<std::string> line = newPayloadKeyLine(id);
  if (!line) {
    ctx.err << "inloop keygen: " << line.status().message() << "\n";
    return kExitFailure;
  }
  // The new key goes before the first key line (after the leading comments).
  std::string text;
  if (!exists) {
    text = std::string(kKeyFileHeader) + *line;
  } else {
    std::size_t pos = 0;
    while (pos < existing.size()) {
      const std::size_t end = existing.find('\n', pos);
      const std::string_view l(existing.data() + pos,
                               (end == std::string::npos ? existing.size() : end) - pos);
      const std::size_t first = l.find_first_not_of(" \t\r");
      if (first != std::string_view::npos && l[first] != '#') break;
      pos = end == std::string::npos ? existing.size() : end + 1;
    }
    text = existing.substr(0, pos);
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += *line + existing.substr(pos);
  }
  fhir::Status written = writeFileAtomically(file, text, 0600);
  OPENSSL_cleanse(text.data(), text.size());
  OPENSSL_cleanse(line->data(), line->size());
  OPENSSL_cleanse(existing.data(), existing.size());
  if (!written.isOk()) {
    ctx.err << "inloop keygen: " << written.message() << "\n";
    return kExitFailure;
  }
  ctx.out << "inloop keygen: key \"" << id << "\" added to " << file
          << " as the key that seals new payloads (mode 0600).\n"
          << (exists ? "Next: inloop rekey --apply seals the older payloads under it (inloop serve "
                       "reads the key file again when it meets the new key; restart it to seal "
                       "new payloads under the new key too).\n"
                     : "Next: set \"encryption\": {\"keyFile\": \"" + file +
                           "\"} in inloop.json, restart inloop serve, and run inloop rekey --apply "
                           "to seal what is already stored.\n");
  return kExitOk;
}

int cmdRekey(CommandContext& ctx) {
  MaintenanceOptions opts;
  bool decrypt = false;
  std::string problem;
  const bool ok =
      parseMaintenanceOptions(ctx.args, {{"--decrypt", nullptr, &decrypt}}, &opts, &problem);
  if (!ok) {
    ctx.err << "inloop rekey: " << problem << "\n" << kRekeyUsage;
    return kExitUsage;
  }
  std::optional<DaemonConfig> config = loadCliConfig(opts.configPath, ctx.err);
  if (!config) return kExitUsage;
  if (!decrypt && config->encryption.keyFile.empty()) {
    ctx.err << "inloop rekey: no encryption.keyFile in the configuration: nothing to seal with "
               "(inloop keygen FILE writes a key file; --decrypt stores payloads as plaintext)\n";
    return kExitUsage;
  }
  SystemClock clock;
  std::unique_ptr<Store> store = openExistingStore(
      "rekey", *config, opts.dataDir.empty() ? config->dataDir : opts.dataDir, clock, ctx.err);
  if (!store) return kExitFailure;
  fhir::Result<RekeyReport> report = store->rekeyPayloads(decrypt, !opts.apply);
  if (!report) {
    ctx.err << "inloop rekey: " << report.status().message() << "\n";
    return kExitFailure;
  }
  ctx.out << "inloop rekey: stored payload values before: ";
  bool first = true;
  std::int64_t toChange = 0;
  for (const auto& [keyId, count] : report->valuesByKey) {
    ctx.out << (first ? "" : ", ") << count
            << (keyId.empty() ? " plaintext" : " under key \"" + keyId + "\"");
    first = false;
    if (decrypt ? !keyId.empty() : keyId != report->targetKeyId) toChange += count;
  }
  if (first) ctx.out << "none";
  ctx.out << "\n";
  const std::string target = decrypt ? std::string("stored as plaintext")
                                     : "sealed under key \"" + report->targetKeyId + "\"";
  if (!opts.apply) {
    ctx.out << "inloop rekey: would change " << toChange << " value(s): " << target << "\n";
  } else {
    ctx.out << "inloop rekey: " << report->changed << " value(s) " << target << "\n";
  }
  return kExitOk;
}

}  // namespace inloop::gateway
