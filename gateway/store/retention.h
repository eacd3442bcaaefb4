#pragma once

// Retention (docs/security.md, "Retention"): payloads of records delivered
// everywhere and older than the policy are purged from the store
// (Store::purge: record and Bundle text, the receivers' answers kept for them,
// their notices' text; freed bytes zeroed, the WAL truncated), and files in the
// inbox's processed/ folder older than the policy are deleted. Ledger, audit,
// hashes and receipts stay. Undelivered, parked, not-sent or dead-lettered
// records are never purged. Run on a schedule by `inloop serve`
// ("retention" in inloop.json) and by `inloop purge`.

#include <cstdint>
#include <string>
#include <vector>

#include "fhir/status.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

struct RetentionRun {
  std::int64_t records = 0;                 // purged (or purgeable, dry run)
  std::vector<std::string> processedFiles;  // deleted (or to delete), paths
};

// Purges what was delivered before `beforeMillis` and deletes files of
// `processedDir` (may be empty: none) last modified before it. `dryRun`
// changes nothing and reports what would go.
fhir::Result<RetentionRun> runRetention(AdminStore& store, const std::string& processedDir,
                                        std::int64_t beforeMillis, bool dryRun);

}  // namespace inloop::gateway
