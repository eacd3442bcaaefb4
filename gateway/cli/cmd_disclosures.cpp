// `inloop disclosures MRN [--since INSTANT] [--config FILE | --data-dir DIR] [--json]`:
// the accounting of disclosures of one patient (HIPAA 45 CFR 164.528): every
// record version delivered to a destination, oldest first, with the time,
// record id, version, record type, destination id and its endpoint kind. Read
// from the store's audit table (dataDir/inloop.db; safe while the daemon runs:
// SQLite's locking, reads only). Nothing of another patient is printed.
//
// Output: a tab-separated table with a header line, or JSON with --json.
// Exit codes: 0 ok (also when there was no disclosure); 2 usage or
// configuration error; 3 the store cannot be used.

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
#include "gateway/reports/audit_report.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

namespace {

constexpr const char* kUsage =
    "usage: inloop disclosures MRN [--since INSTANT] [--config FILE | --data-dir DIR] [--json]\n";

struct DisclosuresArgs {
  std::string mrn;
  std::string since;
  std::string configPath;
  std::string dataDir;
  bool json = false;
};

}  // namespace

int cmdDisclosures(CommandContext& ctx) {
  DisclosuresArgs args;
  std::string problem;
  if (!parseCliOptions(ctx.args,
                       {{"--since", &args.since},
                        {"--config", &args.configPath},
                        {"--data-dir", &args.dataDir},
                        {"--json", nullptr, &args.json}},
                       "MRN", &args.mrn, &problem)) {
    ctx.err << "inloop disclosures: " << problem << "\n" << kUsage;
    return kExitUsage;
  }
  AuditQuery query;
  query.patientKey = args.mrn;
  query.action = "disclose";
  query.limit = 1 << 30;
  if (!args.since.empty()) {
    std::optional<std::int64_t> ms = parseInstant(args.since);
    if (!ms) {
      ctx.err << "inloop disclosures: --since must be an instant such as 2026-12-07T09:00:00Z\n";
      return kExitUsage;
    }
    query.sinceMillis = *ms;
  }
  std::optional<DaemonConfig> loaded = loadCliConfig(args.configPath, ctx.err);
  if (!loaded) return kExitUsage;
  const std::string dataDir = args.dataDir.empty() ? loaded->dataDir : args.dataDir;

  SystemClock clock;
  std::unique_ptr<Store> store = openExistingStore("disclosures", *loaded, dataDir, clock, ctx.err);
  if (!store) return kExitFailure;
  fhir::Result<std::vector<AuditEntry>> rows = store->listAuditFor(query);
  if (!rows.isOk()) {
    ctx.err << "inloop disclosures: " << rows.status().message() << "\n";
    return kExitFailure;
  }
  if (args.json) {
    fhir::Json list = fhir::Json::array();
    for (const AuditEntry& e : *rows) list.push(auditEntryToJson(e));
    fhir::Json body = fhir::Json::object();
    body.set("patient", fhir::Json::string(args.mrn));
    body.set("disclosures", std::move(list));
    ctx.out << fhir::writeJson(body, fhir::JsonStyle::kPretty) << "\n";
    return kExitOk;
  }
  ctx.out << "at\trecordId\tversion\trecordType\tdestination\tendpointKind\n";
  for (const AuditEntry& e : *rows) ctx.out << disclosureLine(e) << "\n";
  return kExitOk;
}

}  // namespace inloop::gateway
