#pragma once

// Subcommands of the `inloop` CLI. Each lives in its own gateway/cmd_*.cpp and
// is listed in the table in gateway/cli/cli.cpp.

#include <iosfwd>
#include <string>
#include <vector>

#include "fhir/status.h"

namespace inloop::gateway {

struct CommandContext {
  std::vector<std::string> args;  // after the subcommand name
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// Reads a whole file, or standard input when `path` is "-". Fails with
// kIoError naming the path. At most `maxBytes` are read (kTooLarge beyond).
fhir::Result<std::string> readInput(const std::string& path, std::istream& in,
                                    std::size_t maxBytes = 64u << 20);

int cmdValidate(CommandContext& ctx);
int cmdCheckConfig(CommandContext& ctx);
int cmdServe(CommandContext& ctx);
int cmdHashToken(CommandContext& ctx);
int cmdTranslate(CommandContext& ctx);
int cmdStatus(CommandContext& ctx);
int cmdDeadletter(CommandContext& ctx);
int cmdSummary(CommandContext& ctx);
int cmdBackup(CommandContext& ctx);
int cmdPurge(CommandContext& ctx);
int cmdDisclosures(CommandContext& ctx);
int cmdKeygen(CommandContext& ctx);
int cmdRekey(CommandContext& ctx);

}  // namespace inloop::gateway
