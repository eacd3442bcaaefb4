// `inloop summary MRN [--config FILE | --data-dir DIR] [--mappings DIR] [--html]`:
// the patient summary of docs/safety-loop.md (current medication list with
// doses and total daily MME, latest plan, latest measures against the plan's
// goal targets, notices sent), read directly from the store (dataDir/inloop.db;
// safe while the daemon runs: SQLite's locking, reads only).
//
// dataDir: --data-dir, else the configuration's (--config FILE, else
// config/inloop.json when it exists, else "var"); mapping tables (for MME
// factors and measure directions): --mappings, else the configuration's
// mappingsDir. Output: JSON (pretty), or an HTML page with --html.
// Exit codes: 0 ok; 1 no record of that patient; 2 usage or configuration
// error; 3 the store or the tables cannot be used.

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/cli_support.h"
#include "gateway/cli/commands.h"
#include "gateway/config/daemon_config.h"
#include "gateway/config/tables_dir.h"
#include "gateway/reports/patient_summary.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

namespace {

constexpr const char* kUsage =
    "usage: inloop summary MRN [--config FILE | --data-dir DIR] [--mappings DIR] [--html]\n";

struct SummaryArgs {
  std::string mrn;
  std::string configPath;
  std::string dataDir;
  std::string mappingsDir;
  bool html = false;
};

}  // namespace

int cmdSummary(CommandContext& ctx) {
  SummaryArgs args;
  std::string problem;
  if (!parseCliOptions(ctx.args,
                       {{"--config", &args.configPath},
                        {"--data-dir", &args.dataDir},
                        {"--mappings", &args.mappingsDir},
                        {"--html", nullptr, &args.html}},
                       "MRN", &args.mrn, &problem)) {
    ctx.err << "inloop summary: " << problem << "\n" << kUsage;
    return kExitUsage;
  }
  std::optional<DaemonConfig> loaded = loadCliConfig(args.configPath, ctx.err);
  if (!loaded) return kExitUsage;
  DaemonConfig config = std::move(*loaded);
  if (!args.dataDir.empty()) config.dataDir = args.dataDir;
  if (!args.mappingsDir.empty()) config.mappingsDir = args.mappingsDir;

  MappingTablesRead tables = readMappingTablesDir(config.mappingsDir);
  if (!tables.tables) {
    ctx.err << "inloop summary: the mapping tables in " << config.mappingsDir
            << " cannot be used:\n"
            << fhir::formatIssues(tables.issues);
    return kExitFailure;
  }
  SystemClock clock;
  std::unique_ptr<Store> store =
      openExistingStore("summary", config, config.dataDir, clock, ctx.err);
  if (!store) return kExitFailure;
  fhir::Result<fhir::Json> summary = buildPatientSummary(*store, *tables.tables, args.mrn);
  if (!summary.isOk()) {
    const bool unknown = summary.status().code() == fhir::ErrorCode::kNotFound;
    ctx.err << "inloop summary: "
            << (unknown ? "no record of that patient" : summary.status().message()) << "\n";
    return unknown ? kExitInvalid : kExitFailure;
  }
  ctx.out << (args.html ? patientSummaryHtml(*summary)
                        : fhir::writeJson(*summary, fhir::JsonStyle::kPretty));
  return kExitOk;
}

}  // namespace inloop::gateway
