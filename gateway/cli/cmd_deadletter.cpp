// `inloop deadletter list|show|replay|discard`: the dead-letter operations of
// docs/delivery.md, working directly on the store (dataDir/inloop.db), so an
// operator can act without the HTTP API (and while the daemon is stopped; with
// the daemon running, SQLite's locking makes both safe, and a running daemon
// picks a replay up at its next timer wake-up).
//
//   inloop deadletter list [--destination ID] [--limit N] [--json] [COMMON]
//   inloop deadletter show ID [COMMON]             (JSON: entry, outcome, ledger)
//   inloop deadletter replay ID [COMMON]           (back in its patient's queue)
//   inloop deadletter replay --all | [--destination ID] [--since INSTANT] [COMMON]
//                                                  (every matching one, oldest first)
//   inloop deadletter discard ID [COMMON]          (kept for the ledger, not sent)
//   COMMON: [--config FILE] [--data-dir DIR]
//
// dataDir: --data-dir, else the configuration's (--config FILE, else
// config/inloop.json when it exists, else "var"), as `inloop status`.
// Exit codes: 0 ok; 1 refused (not a dead letter, unknown id, a newer version
// exists, `list --destination` of a destination neither configured nor in the
// store); 2 usage or configuration error; 3 the store cannot be used.
// Output names ids, destinations, statuses and receiver diagnostics; never
// clinical content. Replays and discards are audited as "cli:$USER".

#include <cstdlib>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/cli_support.h"
#include "gateway/cli/commands.h"
#include "gateway/config/daemon_config.h"
#include "gateway/config/destinations_config.h"
#include "gateway/delivery/operations.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

namespace {

constexpr const char* kUsage =
    "usage: inloop deadletter list [--destination ID] [--limit N] [--json] [--config FILE] "
    "[--data-dir DIR]\n"
    "       inloop deadletter show|replay|discard ID [--config FILE] [--data-dir DIR]\n"
    "       inloop deadletter replay --all | [--destination ID] [--since INSTANT] "
    "[--config FILE] [--data-dir DIR]\n";

struct Args {
  std::string action;
  std::string id;
  std::string destination;
  std::int64_t limit = 100;
  bool json = false;
  bool all = false;
  std::string since;  // an instant, as given
  std::int64_t sinceMillis = 0;
  std::string configPath;
  std::string dataDir;
};

bool parseArgs(const std::vector<std::string>& args, Args* out, std::string* problem) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* target) {
      if (i + 1 >= args.size()) {
        *problem = a + " needs a value";
        return false;
      }
      *target = args[++i];
      return true;
    };
    if (a == "--config") {
      if (!value(&out->configPath)) return false;
    } else if (a == "--data-dir") {
      if (!value(&out->dataDir)) return false;
    } else if (a == "--destination") {
      if (!value(&out->destination)) return false;
    } else if (a == "--limit") {
      std::string v;
      if (!value(&v)) return false;
      if (!parseMessageId(v, &out->limit) || out->limit > 100000) {
        *problem = "--limit must be 1..100000";
        return false;
      }
    } else if (a == "--json") {
      out->json = true;
    } else if (a == "--all") {
      out->all = true;
    } else if (a == "--since") {
      if (!value(&out->since)) return false;
      std::optional<std::int64_t> ms = parseInstant(out->since);
      if (!ms) {
        *problem = "--since must be an instant such as 2026-12-07T09:00:00Z";
        return false;
      }
      out->sinceMillis = *ms;
    } else if (!a.empty() && a[0] == '-') {
      *problem = "unknown option " + a;
      return false;
    } else if (out->action.empty()) {
      out->action = a;
    } else if (out->id.empty()) {
      out->id = a;
    } else {
      *problem = "unexpected argument '" + a + "'";
      return false;
    }
  }
  if (out->action != "list" && out->action != "show" && out->action != "replay" &&
      out->action != "discard") {
    *problem = out->action.empty() ? "missing action" : "unknown action '" + out->action + "'";
    return false;
  }
  if (out->action == "list" && !out->id.empty()) {
    *problem = "list takes no id";
    return false;
  }
  const bool filter =
      out->all || !out->since.empty() || (out->action == "replay" && !out->destination.empty());
  if (filter && (out->action != "replay" || !out->id.empty())) {
    *problem =
        "--all, --since and --destination select what to replay: replay takes them "
        "instead of an id";
    return false;
  }
  if (out->action != "list" && out->id.empty() && !filter) {
    *problem = out->action + " needs a dead-letter id (see inloop deadletter list)" +
               (out->action == "replay" ? ", or --all, --destination ID, --since INSTANT" : "");
    return false;
  }
  return true;
}

int exitFor(const fhir::Status& st) {
  switch (st.code()) {
    case fhir::ErrorCode::kNotFound:
    case fhir::ErrorCode::kConflict:
    case fhir::ErrorCode::kInvalid:
      return kExitInvalid;
    default:
      return kExitFailure;
  }
}

void printList(std::ostream& out, const fhir::Json& list) {
  const fhir::Json* items = list.find("deadLetters");
  if (items == nullptr || items->items().empty()) {
    out << "no dead letters\n";
    return;
  }
  for (const fhir::Json& e : items->items()) {
    auto text = [&](const char* key) {
      const fhir::Json* v = e.find(key);
      return v != nullptr ? v->text() : std::string("-");
    };
    out << text("messageId") << "  " << text("destination") << "  " << text("recordId") << " v"
        << text("version") << "  attempts " << text("attempts") << "  status " << text("lastStatus")
        << "  since " << text("updatedAt") << "\n    " << text("lastError") << "\n";
  }
}

// The destinations the operator can mean: those of the configuration's
// destinations file and those the store has rows for (a --route destination, or
// one removed from the file since). Sorted, without duplicates.
std::set<std::string> knownDestinations(const std::string& configPath, Store& store) {
  std::set<std::string> ids;
  std::ostringstream ignored;  // a broken configuration: the store's ids still count
  if (std::optional<DaemonConfig> config = loadCliConfig(configPath, ignored);
      config && !config->destinationsFile.empty()) {
    SecretProbe anything;  // secrets do not matter for a name
    anything.fileReadable = [](const std::string&) { return true; };
    anything.envSet = [](const std::string&) { return true; };
    DestinationsLoad load = readDestinationsFile(config->destinationsFile, anything);
    if (load.config) {
      for (const mappings::DestinationProfile& d : load.config->destinations) ids.insert(d.id);
    }
  }
  if (fhir::Result<std::vector<DestinationQueue>> queues = store.destinationQueues();
      queues.isOk()) {
    for (const DestinationQueue& q : *queues) ids.insert(q.destinationId);
  }
  return ids;
}

}  // namespace

int cmdDeadletter(CommandContext& ctx) {
  Args args;
  std::string problem;
  if (!parseArgs(ctx.args, &args, &problem)) {
    ctx.err << "inloop deadletter: " << problem << "\n" << kUsage;
    return kExitUsage;
  }
  std::int64_t id = 0;
  if (!args.id.empty() && !parseMessageId(args.id, &id)) {
    ctx.err << "inloop deadletter: '" << args.id << "' is not a dead-letter id\n";
    return kExitUsage;
  }
  // The configuration names the payload key file even when --data-dir is given.
  std::optional<DaemonConfig> config = loadCliConfig(args.configPath, ctx.err);
  if (!config) return kExitUsage;
  const std::string dataDir = args.dataDir.empty() ? config->dataDir : args.dataDir;
  SystemClock clock;
  std::unique_ptr<Store> store = openExistingStore("deadletter", *config, dataDir, clock, ctx.err);
  if (!store) return kExitFailure;
  DeliveryOperations ops(*store, nullptr);
  const char* user = std::getenv("USER");
  const std::string principal = std::string("cli:") + (user != nullptr ? user : "unknown");

  fhir::Result<fhir::Json> result = fhir::Json();
  if (args.action == "list") {
    result = ops.deadLetters(args.destination, static_cast<int>(args.limit));
    const fhir::Json* rows = result.isOk() ? result->find("deadLetters") : nullptr;
    if (!args.destination.empty() && rows != nullptr && rows->items().empty()) {
      // Nothing listed: say so when the destination does not exist at all (a
      // typo must not read as "all is well").
      std::set<std::string> known = knownDestinations(args.configPath, *store);
      if (known.count(args.destination) == 0) {
        std::string names;
        for (const std::string& k : known) names += (names.empty() ? "" : ", ") + k;
        ctx.err << "inloop deadletter list: no destination \"" << args.destination
                << "\" (known: " << (names.empty() ? "none" : names) << ")\n";
        return kExitInvalid;
      }
    }
  } else if (args.action == "show") {
    result = ops.deadLetter(id);
  } else if (args.action == "replay" && args.id.empty()) {
    result = ops.replayMatching(args.destination, args.sinceMillis, principal);
  } else if (args.action == "replay") {
    result = ops.replay(id, principal);
  } else {
    result = ops.discard(id, principal);
  }
  if (!result.isOk()) {
    ctx.err << "inloop deadletter " << args.action << ": " << result.status().message() << "\n";
    return exitFor(result.status());
  }
  if (args.action == "list" && !args.json) {
    printList(ctx.out, *result);
  } else {
    ctx.out << fhir::writeJson(*result, fhir::JsonStyle::kPretty);
  }
  if (args.action == "replay" && args.id.empty()) {
    const fhir::Json* n = result->find("replayed");
    const fhir::Json* skipped = result->find("skipped");
    ctx.err << "replayed: " << (n != nullptr ? n->text() : "0") << " message(s) back in their "
            << "queues; skipped: " << (skipped != nullptr ? skipped->size() : 0) << "\n";
  } else if (args.action == "replay") {
    ctx.err << "replayed: message " << id << " is back in its queue\n";
  } else if (args.action == "discard") {
    ctx.err << "discarded: message " << id << " will not be sent\n";
  }
  return kExitOk;
}

}  // namespace inloop::gateway
