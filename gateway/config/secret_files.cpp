#include "gateway/config/secret_files.h"

#include <sys/stat.h>

#include <cstdio>

namespace inloop::gateway {

void warnIfSecretFileExposed(const std::string& path, const std::string& setting,
                             const std::string& where, fhir::Issues* issues) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return;
  const unsigned mode = st.st_mode & 0777;
  if ((mode & 0044) == 0) return;
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode);
  fhir::addWarning(issues, "security", where,
                   setting + ": secret file " + path + " is readable by " +
                       ((mode & 0004) != 0 ? "others" : "its group") + " (mode " + octal +
                       "); make it owner-only: chmod 600 " + path);
}

fhir::Issues exposedSecretFiles(const DaemonConfig& config,
                                const mappings::Destinations* destinations,
                                const std::string& destinationsFile) {
  fhir::Issues issues;
  auto secret = [&](const mappings::SecretRef& ref, const std::string& setting,
                    const std::string& where) {
    if (ref.source == mappings::SecretSource::kFile) {
      warnIfSecretFileExposed(ref.name, setting, where, &issues);
    }
  };
  const std::string& file = config.configFile;
  if (config.tls) {
    warnIfSecretFileExposed(config.tls->privateKeyFile, "tls.privateKeyFile", file, &issues);
  }
  for (const AlertWebhookConfig& w : config.alerts.webhooks) {
    const std::string what = "alerts.webhooks[\"" + w.id + "\"]";
    secret(w.urlSecret, what + ".url", file);
    for (const SecretHeaderConfig& h : w.secretHeaders) {
      secret(h.value, what + ".secretHeaders[\"" + h.name + "\"]", file);
    }
  }
  if (destinations == nullptr) return issues;
  for (const mappings::DestinationProfile& d : destinations->destinations) {
    const std::string what = "destinations[\"" + d.id + "\"].auth";
    secret(d.auth.token, what + ".token", destinationsFile);
    secret(d.auth.password, what + ".password", destinationsFile);
    warnIfSecretFileExposed(d.auth.smart.privateKeyFile, what + ".privateKeyFile", destinationsFile,
                            &issues);
    warnIfSecretFileExposed(d.auth.keyFile, what + ".keyFile", destinationsFile, &issues);
  }
  return issues;
}

}  // namespace inloop::gateway
