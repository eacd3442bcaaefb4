#pragma once

// The payload key ring of a configuration (`encryption.keyFile`,
// gateway/store/payload_cipher.h): loaded by `serve` and by every command that
// opens the store, checked by `check-config`.
//
// The key file must lie outside the data directory: a copy of the data
// directory (a backup, a stolen disk image of that volume) must not carry the
// key that opens it. Thread safety: free functions.

#include <memory>

#include "fhir/issue.h"
#include "fhir/status.h"
#include "gateway/config/daemon_config.h"
#include "gateway/store/payload_cipher.h"

namespace inloop::gateway {

// The key ring `config` names; nullptr when encryption is not configured.
// kInvalid when the key file is inside the data directory or malformed (the
// message names FILE:LINE:COLUMN), kIoError when it cannot be read.
fhir::Result<std::shared_ptr<const PayloadKeyRing>> loadPayloadKeys(const DaemonConfig& config);

// check-config: the same problems as issues (the key file's own issues name
// its lines; the others `config.configFile`), plus a warning when group or
// others may read the key file.
fhir::Issues checkPayloadKeys(const DaemonConfig& config);

}  // namespace inloop::gateway
