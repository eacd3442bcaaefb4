#pragma once

// Numbered schema migrations of the SQLite store. Migration N brings the file
// from user_version N-1 to N inside one transaction, so a crash leaves either
// the old or the new schema. Internal to gateway/store.

#include "fhir/status.h"
#include "gateway/store/sqlite_util.h"

namespace inloop::gateway::sqlite {

// Applies every migration above the file's PRAGMA user_version up to
// `targetVersion` (kStoreSchemaVersion in production). kUnsupported when the
// file is already newer than `targetVersion` (nothing is changed); SQLite
// failures as errorStatus().
fhir::Status migrate(Database& db, int targetVersion);

}  // namespace inloop::gateway::sqlite
