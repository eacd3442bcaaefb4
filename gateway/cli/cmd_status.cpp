// `inloop status [--config FILE] [--data-dir DIR] [--json] [--audit N]`: what
// the store holds, for operators: records by type, versions, outbox rows by
// state, the age of the oldest pending delivery, the store's size on disk and
// the newest N audit entries (default 10; who sent what when; the audit log
// never holds clinical payload, and neither does this output).
//
// The store is dataDir/inloop.db: dataDir from --data-dir, else from the
// configuration (--config FILE, else config/inloop.json in the working directory
// when it exists, else the default "var"). The store is opened through the
// Store interface (which has no read-only mode); it is safe while `inloop serve`
// runs (SQLite WAL). A missing store is never created.
//
// Exit codes: 0 ok; 2 usage or configuration error; 3 the store cannot be
// opened or read (the message names the path).
#include <cstdint>
#include <cstdlib>
#include <map>
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
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

namespace {

constexpr const char* kStatusUsage =
    "usage: inloop status [--config FILE] [--data-dir DIR] [--json] [--audit N]\n";
constexpr int kMaxAudit = 1000;

// Every outbox state, in the order operators read them.
constexpr OutboxState kStates[] = {
    OutboxState::kPending,    OutboxState::kWritten,    OutboxState::kPatientUnmatched,
    OutboxState::kDelivered,  OutboxState::kDeadLetter, OutboxState::kNotSent,
    OutboxState::kUnroutable, OutboxState::kSuperseded, OutboxState::kDiscarded};

struct StatusArgs {
  std::string configPath;
  std::string dataDir;
  bool json = false;
  int audit = 10;
};

bool parseArgs(const std::vector<std::string>& args, StatusArgs* out, std::string* problem) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* into) {
      if (i + 1 >= args.size()) {
        *problem = a + " needs a value";
        return false;
      }
      *into = args[++i];
      return true;
    };
    if (a == "--json") {
      out->json = true;
    } else if (a == "--config") {
      if (!value(&out->configPath)) return false;
    } else if (a == "--data-dir") {
      if (!value(&out->dataDir)) return false;
    } else if (a == "--audit") {
      std::string n;
      if (!value(&n)) return false;
      char* end = nullptr;
      long v = std::strtol(n.c_str(), &end, 10);
      if (n.empty() || *end != 0 || v < 0 || v > kMaxAudit) {
        *problem = "--audit must be a number from 0 to " + std::to_string(kMaxAudit);
        return false;
      }
      out->audit = static_cast<int>(v);
    } else {
      *problem = "unexpected argument '" + a + "'";
      return false;
    }
  }
  return true;
}

std::string formatAge(std::int64_t millis) {
  if (millis <= 0) return "none";
  const std::int64_t s = millis / 1000;
  if (s < 120)
    return std::to_string(millis / 1000) + "." + std::to_string(millis % 1000 / 100) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  if (s < 172800) return std::to_string(s / 3600) + " h";
  return std::to_string(s / 86400) + " d";
}

fhir::Json auditToJson(const AuditEntry& e) {
  fhir::Json o = fhir::Json::object();
  o.set("at", fhir::Json::string(formatInstant(e.atMillis)));
  o.set("principal", fhir::Json::string(e.principal));
  o.set("action", fhir::Json::string(e.action));
  if (!e.recordId.empty()) o.set("recordId", fhir::Json::string(e.recordId));
  if (e.version != 0) o.set("version", fhir::Json::number(e.version));
  if (!e.recordType.empty()) o.set("recordType", fhir::Json::string(e.recordType));
  if (!e.outcome.empty()) o.set("outcome", fhir::Json::string(e.outcome));
  if (!e.source.empty()) o.set("source", fhir::Json::string(e.source));
  if (!e.detail.empty()) o.set("detail", fhir::Json::string(e.detail));
  return o;
}

void printJson(std::ostream& out, const std::string& path, const StoreStats& s,
               const std::vector<AuditEntry>& audit) {
  fhir::Json doc = fhir::Json::object();
  fhir::Json store = fhir::Json::object();
  store.set("path", fhir::Json::string(path));
  store.set("sizeBytes", fhir::Json::number(s.dbFileBytes));
  doc.set("store", std::move(store));
  fhir::Json records = fhir::Json::object();
  records.set("total", fhir::Json::number(s.records));
  records.set("versions", fhir::Json::number(s.versions));
  fhir::Json byType = fhir::Json::object();
  for (const auto& [type, n] : s.recordsByType) byType.set(type, fhir::Json::number(n));
  records.set("byType", std::move(byType));
  doc.set("records", std::move(records));
  fhir::Json outbox = fhir::Json::object();
  for (OutboxState st : kStates) {
    auto it = s.outboxByState.find(outboxStateName(st));
    outbox.set(outboxStateName(st),
               fhir::Json::number(it == s.outboxByState.end() ? std::int64_t{0} : it->second));
  }
  doc.set("outbox", std::move(outbox));
  doc.set("oldestPendingAgeMillis", fhir::Json::number(s.oldestPendingAgeMillis));
  fhir::Json entries = fhir::Json::array();
  for (const AuditEntry& e : audit) entries.push(auditToJson(e));
  doc.set("audit", std::move(entries));
  out << fhir::writeJson(doc, fhir::JsonStyle::kPretty) << "\n";
}

void printText(std::ostream& out, const std::string& path, const StoreStats& s,
               const std::vector<AuditEntry>& audit) {
  out << "store:    " << path << " (" << s.dbFileBytes << " bytes)\n";
  out << "records:  " << s.records << " (" << s.versions << " versions)\n";
  for (const auto& [type, n] : s.recordsByType) out << "  " << type << ": " << n << "\n";
  out << "outbox:\n";
  for (OutboxState st : kStates) {
    auto it = s.outboxByState.find(outboxStateName(st));
    out << "  " << outboxStateName(st) << ": "
        << (it == s.outboxByState.end() ? std::int64_t{0} : it->second) << "\n";
  }
  out << "oldest pending: " << formatAge(s.oldestPendingAgeMillis) << "\n";
  out << "audit (newest first):\n";
  if (audit.empty()) out << "  (none)\n";
  for (const AuditEntry& e : audit) {
    out << "  " << formatInstant(e.atMillis) << " " << e.principal << " " << e.action;
    if (!e.recordId.empty()) out << " " << e.recordId << " v" << e.version;
    if (!e.recordType.empty()) out << " " << e.recordType;
    if (!e.outcome.empty()) out << " " << e.outcome;
    if (!e.source.empty()) out << " (" << e.source << ")";
    if (!e.detail.empty()) out << ": " << e.detail;
    out << "\n";
  }
}

}  // namespace

int cmdStatus(CommandContext& ctx) {
  StatusArgs args;
  std::string problem;
  if (!parseArgs(ctx.args, &args, &problem)) {
    ctx.err << "inloop status: " << problem << "\n" << kStatusUsage;
    return kExitUsage;
  }
  // The configuration names the payload key file even when --data-dir is given.
  std::optional<DaemonConfig> config = loadCliConfig(args.configPath, ctx.err);
  if (!config) return kExitUsage;
  const std::string dataDir = args.dataDir.empty() ? config->dataDir : args.dataDir;
  SystemClock clock;
  std::unique_ptr<Store> store = openExistingStore("status", *config, dataDir, clock, ctx.err);
  if (!store) return kExitFailure;
  const std::string storePath = storePathIn(dataDir);
  fhir::Result<StoreStats> stats = store->stats();
  if (!stats.isOk()) {
    ctx.err << "inloop status: cannot read the store " << storePath << ": "
            << stats.status().message() << "\n";
    return kExitFailure;
  }
  std::vector<AuditEntry> audit;
  if (args.audit > 0) {
    fhir::Result<std::vector<AuditEntry>> entries = store->listAudit(args.audit);
    if (!entries.isOk()) {
      ctx.err << "inloop status: cannot read the audit log of " << storePath << ": "
              << entries.status().message() << "\n";
      return kExitFailure;
    }
    audit = std::move(entries).value();
  }
  if (args.json) {
    printJson(ctx.out, storePath, *stats, audit);
  } else {
    printText(ctx.out, storePath, *stats, audit);
  }
  return kExitOk;
}

}  // namespace inloop::gateway
