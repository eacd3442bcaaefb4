#pragma once

// Secret files (TLS and signing private keys, token and password files) should
// be readable by their owner only. These checks warn, they never refuse: the
// files belong to the operator, and a warning (check-config, the serve log)
// says which file and what to run.
//
// Reads file modes with stat(2); files that do not exist are not reported here
// (the loaders warn about those). Thread safety: free functions.

#include <string>

#include "fhir/issue.h"
#include "gateway/config/daemon_config.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

// A warning issue (code "security", path `where`) when `path` exists and its
// group or others may read it; `setting` names where the file is configured.
void warnIfSecretFileExposed(const std::string& path, const std::string& setting,
                             const std::string& where, fhir::Issues* issues);

// The same for every secret file `config` names (tls.privateKeyFile, alert
// webhook secrets; path: config.configFile) and, when not null, `destinations`
// names (auth token and password files, private keys; path: `destinationsFile`).
fhir::Issues exposedSecretFiles(const DaemonConfig& config,
                                const mappings::Destinations* destinations,
                                const std::string& destinationsFile);

}  // namespace inloop::gateway
