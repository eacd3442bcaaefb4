// `inloop purge --dry-run|--apply [--older-than-days N] [--config FILE | --data-dir DIR]`:
// the retention policy run once (gateway/retention.h). N defaults to the
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

#include "gateway/cli.h"
#include "gateway/cli_support.h"
#include "gateway/clock.h"
#include "gateway/commands.h"
#include "gateway/daemon_config.h"
#include "gateway/retention.h"

namespace inloop::gateway {

namespace {

constexpr const char* kPurgeUsage =
    "usage: inloop purge --dry-run|--apply [--older-than-days N] "
    "[--config FILE | --data-dir DIR]\n";

struct PurgeArgs {
  std::optional<bool> apply;
  std::optional<std::int64_t> days;
  std::string configPath;
  std::string dataDir;
};

bool parsePurgeArgs(const std::vector<std::string>& args, PurgeArgs* out, std::string* problem) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--dry-run" || a == "--apply") {
      if (out->apply && *out->apply != (a == "--apply")) {
        *problem = "give one of --dry-run and --apply";
        return false;
      }
      out->apply = a == "--apply";
    } else if (a == "--config" || a == "--data-dir" || a == "--older-than-days") {
      if (i + 1 >= args.size()) {
        *problem = a + " needs a value";
        return false;
      }
      const std::string& v = args[++i];
      if (a == "--config") {
        out->configPath = v;
      } else if (a == "--data-dir") {
        out->dataDir = v;
      } else {
        char* end = nullptr;
        const long long n = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != 0 || n < 0 || n > 36'500) {
          *problem = "--older-than-days must be a number of days from 0 to 36500";
          return false;
        }
        out->days = n;
      }
    } else {
      *problem = "unexpected argument '" + a + "'";
      return false;
    }
  }
  if (!out->apply) {
    *problem = "give --dry-run (count only) or --apply";
    return false;
  }
  return true;
}

}  // namespace

int cmdPurge(CommandContext& ctx) {
  PurgeArgs args;
  std::string problem;
  if (!parsePurgeArgs(ctx.args, &args, &problem)) {
    ctx.err << "inloop purge: " << problem << "\n" << kPurgeUsage;
    return kExitUsage;
  }
  std::optional<DaemonConfig> loaded = loadCliConfig(args.configPath, ctx.err);
  if (!loaded) return kExitUsage;
  DaemonConfig config = std::move(*loaded);
  if (!args.dataDir.empty()) config.dataDir = args.dataDir;
  const std::int64_t days = args.days.value_or(config.retention.purgeAfterDays);
  if (!args.days && days <= 0) {
    ctx.err << "inloop purge: no retention policy: set retention.purgeAfterDays in inloop.json "
               "or pass --older-than-days N\n";
    return kExitUsage;
  }
  SystemClock clock;
  std::unique_ptr<Store> store = openExistingStore("purge", config.dataDir, clock, ctx.err);
  if (!store) return kExitFailure;
  const std::string processed = (std::filesystem::path(inboxDirOf(config)) / "processed").string();
  const std::int64_t before = clock.nowMillis() - days * 86'400'000;
  fhir::Result<RetentionRun> run = runRetention(*store, processed, before, !*args.apply);
  if (!run.isOk()) {
    ctx.err << "inloop purge: " << run.status().message() << "\n";
    return kExitFailure;
  }
  ctx.out << "inloop purge: " << (*args.apply ? "" : "would purge ") << run->records
          << " record(s) delivered everywhere before " << formatInstant(before)
          << (*args.apply ? " purged" : "") << "; " << run->processedFiles.size()
          << " processed inbox file(s) " << (*args.apply ? "deleted" : "to delete") << "\n";
  return kExitOk;
}

}  // namespace inloop::gateway
