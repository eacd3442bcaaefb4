#include "gateway/store/retention.h"

#include <sys/stat.h>

#include <filesystem>
#include <system_error>

namespace inloop::gateway {

fhir::Result<RetentionRun> runRetention(AdminStore& store, const std::string& processedDir,
                                        std::int64_t beforeMillis, bool dryRun) {
  RetentionRun run;
  fhir::Result<std::int64_t> purged = store.purge(beforeMillis, dryRun);
  if (!purged.isOk()) return purged.status();
  run.records = *purged;
  if (processedDir.empty()) return run;
  std::error_code ec;
  std::filesystem::directory_iterator it(processedDir, ec);
  if (ec) return run;  // no inbox yet: nothing to clean
  for (const auto& entry : it) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const std::int64_t modified =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
    if (modified >= beforeMillis) continue;
    if (!dryRun && !std::filesystem::remove(entry.path(), ec)) {
      return fhir::Status(fhir::ErrorCode::kIoError,
                          "cannot delete " + entry.path().string() + ": " + ec.message());
    }
    run.processedFiles.push_back(entry.path().string());
  }
  return run;
}

}  // namespace inloop::gateway
