#include "gateway/cli/cli.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "gateway/cli/commands.h"
#include "gateway/version.h"

namespace inloop::gateway {

namespace {

struct Command {
  const char* name;
  const char* synopsis;
  int (*run)(CommandContext&);
};

// Every subcommand, in the order `inloop --help` lists them.
const Command kCommands[] = {
    {"validate", "validate FILE|-            validate a FHIR R4 resource or Bundle (JSON)",
     cmdValidate},
    {"check-config", "check-config DIR           check the configuration files in DIR",
     cmdCheckConfig},
    {"serve", "serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR]  run the daemon",
     cmdServe},
    {"hash-token", "hash-token < TOKEN          print the SHA-256 of an API token for the config",
     cmdHashToken},
    {"translate", "translate [--mappings DIR] [--to fhir|record] [--as statement|request] FILE|-",
     cmdTranslate},
    {"status", "status [--config FILE] [--data-dir DIR] [--json]  store records, outbox, audit",
     cmdStatus},
    {"deadletter", "deadletter list|show|replay|discard [ID]  operate on undeliverable messages",
     cmdDeadletter},
    {"summary", "summary MRN [--config FILE|--data-dir DIR] [--html]  a patient's safety summary",
     cmdSummary},
    {"backup", "backup FILE [--config FILE|--data-dir DIR]  consistent copy of the store, online",
     cmdBackup},
    {"purge", "purge --dry-run|--apply [--older-than-days N]  the retention policy, once",
     cmdPurge},
    {"disclosures",
     "disclosures MRN [--since INSTANT] [--config FILE|--data-dir DIR] [--json]  accounting of "
     "disclosures",
     cmdDisclosures},
    {"keygen", "keygen FILE [--id ID]        add a payload encryption key (the new current one)",
     cmdKeygen},
    {"rekey", "rekey --dry-run|--apply [--decrypt]  seal stored payloads under the current key",
     cmdRekey},
};

void printHelp(std::ostream& out) {
  out << "inloop " << kVersion
      << ": FHIR R4 gateway from the pain center's plan records to primary care.\n\n"
         "Usage: inloop COMMAND [OPTIONS] [ARGS]\n\nCommands:\n";
  for (const Command& c : kCommands) out << "  " << c.synopsis << "\n";
  out << "\nOptions:\n"
         "  -h, --help      show this help\n"
         "  --version       show the version\n\n"
         "Exit codes: 0 ok, 1 input invalid, 2 usage error or unreadable input,\n"
         "3 runtime failure.\n";
}

}  // namespace

fhir::Result<std::string> readInput(const std::string& path, std::istream& in,
                                    std::size_t maxBytes) {
  std::string text;
  auto readAll = [&](std::istream& s) -> bool {
    char buf[65536];
    while (s.read(buf, sizeof buf) || s.gcount() > 0) {
      text.append(buf, static_cast<std::size_t>(s.gcount()));
      if (text.size() > maxBytes) return false;
    }
    return true;
  };
  bool withinLimit = true;
  if (path == "-") {
    withinLimit = readAll(in);
    if (in.bad()) return fhir::Status(fhir::ErrorCode::kIoError, "cannot read standard input");
  } else {
    std::ifstream f(path, std::ios::binary);
    if (!f) return fhir::Status(fhir::ErrorCode::kIoError, "cannot open " + path);
    withinLimit = readAll(f);
    if (f.bad()) return fhir::Status(fhir::ErrorCode::kIoError, "cannot read " + path);
  }
  if (!withinLimit) {
    return fhir::Status(fhir::ErrorCode::kTooLarge,
                        path + " is larger than " + std::to_string(maxBytes) + " bytes");
  }
  return text;
}

int runCli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
           std::ostream& err) {
  try {
    if (args.size() < 2) {
      printHelp(err);
      return kExitUsage;
    }
    const std::string& name = args[1];
    if (name == "-h" || name == "--help" || name == "help") {
      printHelp(out);
      return kExitOk;
    }
    if (name == "--version" || name == "version") {
      out << "inloop " << kVersion << " (" << kBuildType << ")\n";
      return kExitOk;
    }
    for (const Command& c : kCommands) {
      if (name == c.name) {
        CommandContext ctx{std::vector<std::string>(args.begin() + 2, args.end()), in, out, err};
        return c.run(ctx);
      }
    }
    err << "inloop: unknown command '" << name << "' (see inloop --help)\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    // Start-up boundary: one of the two places exceptions are caught.
    err << "inloop: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace inloop::gateway
