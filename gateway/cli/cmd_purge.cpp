// `inloop purge --dry-run|--apply [--older-than-days N] [--config FILE | --data-dir DIR]`:
// the retention policy run once (gateway/store/retention.h). N defaults to the
// configuration's retention.purgeAfterDays; without either there is no policy
// and nothing is purged. --dry-run counts what would go; --apply purges it.
// Safe while `inloop serve` runs (SQLite WAL; the WAL is truncated after a
// purge, retried while the daemon's readers hold it).
//
// Exit codes: 0 done; 2 usage or configuration error; 3 the store cannot be
// opened or the purge failed.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/cli_support.h"
#include "gateway/cli/commands.h"
#include "gateway/config/daemon_config.h"
#include "gateway/store/retention.h"

namespace inloop::gateway {

namespace {

constexpr const char* kPurgeUsage =
    "usage: inloop purge --dry-run|--apply [--older-than-days N] "
    "[--config FILE | --data-dir DIR]\n";

}  // namespace

int cmdPurge(CommandContext& ctx) {
  MaintenanceOptions opts;
  std::string daysText;
  std::string problem;
  bool ok = parseMaintenanceOptions(ctx.args, {{"--older-than-days", &daysText}}, &opts, &problem);
  std::optional<std::int64_t> days;
  if (ok && !daysText.empty()) {
    char* end = nullptr;
    const long long n = std::strtoll(daysText.c_str(), &end, 10);
    if (*end != 0 || n < 0 || n > 36'500) {
      problem = "--older-than-days must be a number of days from 0 to 36500";
      ok = false;
    }
    days = n;
  }
  if (!ok) {
    ctx.err << "inloop purge: " << problem << "\n" << kPurgeUsage;
    return kExitUsage;
  }
  std::optional<DaemonConfig> loaded = loadCliConfig(opts.configPath, ctx.err);
  if (!loaded) return kExitUsage;
  DaemonConfig config = std::move(*loaded);
  if (!opts.dataDir.empty()) config.dataDir = opts.dataDir;
  const std::int64_t olderThanDays = days.value_or(config.retention.purgeAfterDays);
  if (!days && olderThanDays <= 0) {
    ctx.err << "inloop purge: no retention policy: set retention.purgeAfterDays in inloop.json "
               "or pass --older-than-days N\n";
    return kExitUsage;
  }
  SystemClock clock;
  std::unique_ptr<Store> store = openExistingStore("purge", config, config.dataDir, clock, ctx.err);
  if (!store) return kExitFailure;
  const std::string processed = (std::filesystem::path(inboxDirOf(config)) / "processed").string();
  const std::int64_t before = clock.nowMillis() - olderThanDays * 86'400'000;
  fhir::Result<RetentionRun> run = runRetention(*store, processed, before, !opts.apply);
  if (!run.isOk()) {
    ctx.err << "inloop purge: " << run.status().message() << "\n";
    return kExitFailure;
  }
  ctx.out << "inloop purge: " << (opts.apply ? "" : "would purge ") << run->records
          << " record(s) delivered everywhere before " << formatInstant(before)
          << (opts.apply ? " purged" : "") << "; " << run->processedFiles.size()
          << " processed inbox file(s) " << (opts.apply ? "deleted" : "to delete") << "\n";
  return kExitOk;
}

}  // namespace inloop::gateway
