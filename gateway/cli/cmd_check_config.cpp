// `inloop check-config DIR`: validates a configuration tree before a reload or
// a start, and prints one line per issue, `PATH:LINE:COLUMN: error: message`,
// then a summary. What DIR holds decides what is checked, in one run:
//   - inloop.json: the daemon settings, then the destinations file and the
//     mapping tables folder it names (wherever they are), as `inloop serve`
//     would load them (secret files and variables are checked for existence);
//   - destinations.json not named by an inloop.json in DIR: checked on its own;
//   - mapping table files (drugs.json, measures.json, ...): checked as a set.
// So `check-config config/` checks the shipped tree, and `check-config
// config/mappings` only the tables. A *.json file in DIR that none of these
// claims is an error (a misspelt file name must not be silently ignored).
//
// Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage error or an
// unreadable directory or file.
#include <algorithm>
#include <filesystem>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "fhir/issue.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/commands.h"
#include "gateway/config/daemon_config.h"
#include "gateway/config/destinations_config.h"
#include "gateway/config/payload_keys.h"
#include "gateway/config/secret_files.h"
#include "gateway/config/tables_dir.h"
#include "mappings/tables/tables.h"

namespace inloop::gateway {

namespace {

namespace fs = std::filesystem;

inline constexpr std::string_view kDaemonConfigFileName = "inloop.json";

std::string joinPath(const std::string& dir, const std::string& path) {
  if (dir.empty()) return path;
  if (path.empty()) return dir;
  return dir.back() == '/' ? dir + path : dir + "/" + path;
}

// The same file, however it was spelt.
bool sameFile(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec);
}

// Loaders report absolute paths for files an inloop.json names; show them
// the way the user named DIR ("config/mappings/drugs.json:3:4").
class PathDisplay {
 public:
  explicit PathDisplay(const std::string& dir) : dir_(dir) {
    std::error_code ec;
    absDir_ = fs::absolute(dir, ec).lexically_normal().string();
    while (absDir_.size() > 1 && absDir_.back() == '/') absDir_.pop_back();
  }
  std::string operator()(const std::string& path) const {
    if (path.size() > absDir_.size() && path.compare(0, absDir_.size(), absDir_) == 0 &&
        path[absDir_.size()] == '/') {
      return joinPath(dir_, path.substr(absDir_.size() + 1));
    }
    // Outside DIR: absolute as given when DIR was, else relative to the
    // working directory, like DIR.
    if (!path.empty() && path.front() == '/' && !dir_.empty() && dir_.front() != '/') {
      std::error_code ec;
      fs::path rel = fs::proximate(path, ec);
      if (!ec && !rel.empty()) return rel.string();
    }
    return path;
  }

 private:
  std::string dir_;
  std::string absDir_;
};

// What one run found: issues with displayable paths and the files read.
struct Check {
  fhir::Issues issues;
  std::set<std::string> files;

  void add(fhir::Issues found, const PathDisplay& show) {
    for (fhir::Issue& i : found) {
      i.path = show(i.path);
      issues.push_back(std::move(i));
    }
  }
};

// inloop.json and what it names. Returns the absolute destinations file and
// mappings folder it covers (empty when it names none or cannot be read).
struct Covered {
  std::string destinationsFile;
  std::string mappingsDir;
};

Covered checkDaemonTree(const std::string& file, const PathDisplay& show, Check* check) {
  Covered covered;
  check->files.insert(file);
  DaemonConfigLoad load = readDaemonConfigFile(file);
  check->add(std::move(load.issues), show);
  DaemonConfig config;
  if (load.config) {
    config = std::move(*load.config);
  } else {
    // Still check the rest, where the file would name it by default: a
    // destinations.json beside it is checked on its own, the tables here.
    config.mappingsDir = (fs::path(file).parent_path() / "mappings").string();
    std::error_code ec;
    if (!fs::is_directory(config.mappingsDir, ec)) return covered;
  }
  std::optional<mappings::Destinations> destinations;
  if (!config.destinationsFile.empty()) {
    covered.destinationsFile = config.destinationsFile;
    check->files.insert(config.destinationsFile);
    DestinationsLoad dest = readDestinationsFile(config.destinationsFile);
    check->add(std::move(dest.issues), show);
    destinations = std::move(dest.config);
  }
  if (load.config) {
    // Keys, tokens and passwords readable by group or others: a warning.
    config.configFile = file;
    check->add(exposedSecretFiles(config, destinations ? &*destinations : nullptr,
                                  config.destinationsFile),
               show);
    check->add(checkPayloadKeys(config), show);
  }
  covered.mappingsDir = config.mappingsDir;
  for (const std::string_view name : mappings::kTableFileNames) {
    check->files.insert(joinPath(config.mappingsDir, std::string(name)));
  }
  check->add(readMappingTablesDir(config.mappingsDir).issues, show);
  return covered;
}

}  // namespace

int cmdCheckConfig(CommandContext& ctx) {
  if (ctx.args.size() != 1 || ctx.args[0].empty() || ctx.args[0][0] == '-') {
    ctx.err << "usage: inloop check-config DIR\n";
    return kExitUsage;
  }
  const std::string& dir = ctx.args[0];
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    ctx.err << "inloop check-config: " << dir << ": no such directory\n";
    return kExitUsage;
  }
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
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

  const PathDisplay show(dir);
  Check check;
  Covered covered;
  if (std::find(names.begin(), names.end(), kDaemonConfigFileName) != names.end()) {
    covered = checkDaemonTree(joinPath(dir, std::string(kDaemonConfigFileName)), show, &check);
  }
  const bool tablesCovered = !covered.mappingsDir.empty() && sameFile(covered.mappingsDir, dir);
  std::vector<mappings::TableFile> tables;
  for (const std::string& name : names) {
    const std::string path = joinPath(dir, name);
    if (name == kDaemonConfigFileName) continue;
    if (isDestinationsFileName(name)) {
      if (covered.destinationsFile.empty() || !sameFile(covered.destinationsFile, path)) {
        check.files.insert(path);
        check.add(readDestinationsFile(path).issues, show);
      }
      continue;
    }
    if (mappings::isTableFileName(name)) {
      if (tablesCovered) continue;
      auto text = readInput(path, ctx.in, 16u << 20);
      if (!text.isOk()) {
        ctx.err << "inloop check-config: " << text.status().message() << "\n";
        return kExitUsage;
      }
      check.files.insert(path);
      tables.push_back(mappings::TableFile{name, std::move(text).value()});
      continue;
    }
    check.files.insert(path);
    fhir::addError(&check.issues, "not-supported", path,
                   "not a known configuration file (is the name misspelt?)");
  }
  if (!tables.empty()) {
    fhir::Issues found = mappings::loadMappingTables(tables).issues;
    for (fhir::Issue& i : found) i.path = joinPath(dir, i.path);
    check.issues.insert(check.issues.end(), found.begin(), found.end());
  }
  if (check.files.empty()) {
    fhir::addError(&check.issues, "required", dir, "no configuration files found");
  }
  for (const fhir::Issue& i : check.issues) {
    ctx.out << i.path << ": " << fhir::severityName(i.severity) << ": " << i.message << "\n";
  }

  std::size_t errors = 0;
  for (const fhir::Issue& i : check.issues) {
    if (i.severity == fhir::Severity::kError || i.severity == fhir::Severity::kFatal) ++errors;
  }
  const std::size_t warnings = check.issues.size() - errors;
  const std::size_t files = check.files.size();
  ctx.out << dir << ": " << files << (files == 1 ? " file, " : " files, ") << errors
          << (errors == 1 ? " error, " : " errors, ") << warnings
          << (warnings == 1 ? " warning" : " warnings") << (errors ? ": INVALID\n" : ": OK\n");
  return errors ? kExitInvalid : kExitOk;
}

}  // namespace inloop::gateway
