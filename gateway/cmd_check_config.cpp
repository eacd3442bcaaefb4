// `inloop check-config DIR`: validates the configuration files in DIR (every
// *.json, in name order) and prints one line per issue,
// `DIR/file.json:LINE:COLUMN: error: message`, then a summary.
//
// Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage error or an
// unreadable directory or file.
//
// Each kind of configuration is a ConfigChecker: it claims files by name and
// checks the ones it claims together. To plug in another loader (daemon
// settings, destinations), add a row to kCheckers. A checker runs only when DIR
// holds at least one of its files; a *.json file no checker claims is an error
// (a misspelt file name must not be silently ignored).
#include <algorithm>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "fhir/issue.h"
#include "gateway/cli.h"
#include "gateway/commands.h"
#include "gateway/destinations_config.h"
#include "mappings/tables.h"

namespace inloop::gateway {

namespace {

struct ConfigChecker {
  const char* what;  // for the summary
  bool (*claims)(std::string_view fileName);
  // Issue paths are relative to DIR ("measures.json:3:12", "units.json").
  fhir::Issues (*check)(const std::vector<mappings::TableFile>& files);
};

fhir::Issues checkMappingTables(const std::vector<mappings::TableFile>& files) {
  return mappings::loadMappingTables(files).issues;
}

const ConfigChecker kCheckers[] = {
    {"mapping tables", mappings::isTableFileName, checkMappingTables},
    {"destinations", isDestinationsFileName, checkDestinationsFiles},
};

std::string joinPath(const std::string& dir, const std::string& path) {
  if (dir.empty()) return path;
  if (path.empty()) return dir;
  return dir.back() == '/' ? dir + path : dir + "/" + path;
}

void printIssues(const std::string& dir, const fhir::Issues& issues, std::ostream& out) {
  for (const fhir::Issue& i : issues) {
    out << joinPath(dir, i.path) << ": " << fhir::severityName(i.severity) << ": " << i.message
        << "\n";
  }
}

}  // namespace

int cmdCheckConfig(CommandContext& ctx) {
  if (ctx.args.size() != 1 || ctx.args[0].empty() || ctx.args[0][0] == '-') {
    ctx.err << "usage: inloop check-config DIR\n";
    return kExitUsage;
  }
  const std::string& dir = ctx.args[0];
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    ctx.err << "inloop check-config: " << dir << ": no such directory\n";
    return kExitUsage;
  }
  std::vector<std::string> names;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& path = it->path();
    if (path.extension() == ".json" && it->is_regular_file(ec)) {
      names.push_back(path.filename().string());
    }
  }
  if (ec) {
    ctx.err << "inloop check-config: " << dir << ": cannot list: " << ec.message() << "\n";
    return kExitUsage;
  }
  std::sort(names.begin(), names.end());

  fhir::Issues issues;
  std::vector<std::vector<mappings::TableFile>> claimed(std::size(kCheckers));
  for (const std::string& name : names) {
    auto text = readInput(joinPath(dir, name), ctx.in, 16u << 20);
    if (!text.isOk()) {
      ctx.err << "inloop check-config: " << text.status().message() << "\n";
      return kExitUsage;
    }
    bool owned = false;
    for (std::size_t c = 0; c < std::size(kCheckers) && !owned; ++c) {
      if (kCheckers[c].claims(name)) {
        claimed[c].push_back(mappings::TableFile{name, std::move(text).value()});
        owned = true;
      }
    }
    if (!owned) {
      fhir::addError(&issues, "not-supported", name,
                     "not a known configuration file (is the name misspelt?)");
    }
  }
  std::size_t checked = 0;
  for (std::size_t c = 0; c < std::size(kCheckers); ++c) {
    if (claimed[c].empty()) continue;
    ++checked;
    fhir::Issues found = kCheckers[c].check(claimed[c]);
    issues.insert(issues.end(), found.begin(), found.end());
  }
  if (checked == 0) {
    fhir::addError(&issues, "required", "", "no configuration files found");
  }
  printIssues(dir, issues, ctx.out);

  std::size_t errors = 0;
  for (const fhir::Issue& i : issues) {
    if (i.severity == fhir::Severity::kError || i.severity == fhir::Severity::kFatal) ++errors;
  }
  std::size_t warnings = issues.size() - errors;
  ctx.out << dir << ": " << names.size() << (names.size() == 1 ? " file, " : " files, ") << errors
          << (errors == 1 ? " error, " : " errors, ") << warnings
          << (warnings == 1 ? " warning" : " warnings") << (errors ? ": INVALID\n" : ": OK\n");
  return errors ? kExitInvalid : kExitOk;
}

}  // namespace inloop::gateway
