#pragma once

// Numbered schema migrations of the PostgreSQL store (issue 22): migration N
// makes the same schema as the SQLite store's migration N (migrations.cpp),
// written for PostgreSQL, so that one schema version means one schema in
// either store. The versions applied are rows of the table inloop_schema.
// Internal to gateway/store.

#include "fhir/status.h"
#include "gateway/store/pg_util.h"

namespace inloop::gateway::pg {

// Applies every migration above the database's version up to `targetVersion`
// (kStoreSchemaVersion in production), each in its own transaction holding a
// transaction-level advisory lock (pg_advisory_xact_lock): instances starting
// together on one database wait for each other, and each migration runs once.
// kUnsupported when the database is already newer than `targetVersion`
// (nothing is changed); PostgreSQL failures as errorStatus().
fhir::Status migrate(Connection& conn, int targetVersion);

// The database's schema version (0 when inloop has never migrated it).
fhir::Result<int> schemaVersion(Connection& conn);

}  // namespace inloop::gateway::pg
