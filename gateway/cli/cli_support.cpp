#include "gateway/cli/cli_support.h"

#include <filesystem>
#include <ostream>
#include <system_error>
#include <utility>

#include "fhir/issue.h"
#include "gateway/config/payload_keys.h"
#include "gateway/store/sqlite_store.h"

namespace inloop::gateway {

std::optional<DaemonConfig> loadCliConfig(const std::string& path, std::ostream& err) {
  std::string file = path;
  std::error_code ec;
  if (file.empty() && std::filesystem::is_regular_file(kDefaultConfigPath, ec)) {
    file = kDefaultConfigPath;
  }
  if (file.empty()) return DaemonConfig{};
  DaemonConfigLoad load = readDaemonConfigFile(file);
  for (const fhir::Issue& i : load.issues) {
    err << i.path << ": " << fhir::severityName(i.severity) << ": " << i.message << "\n";
  }
  if (!load.config) return std::nullopt;
  // Absolute: `serve --daemon` changes the working directory before a reload reads it again.
  load.config->configFile = std::filesystem::absolute(file, ec).lexically_normal().string();
  return std::move(*load.config);
}

bool parseCliOptions(const std::vector<std::string>& args, const std::vector<CliOption>& options,
                     const char* required, std::string* positional, std::string* problem) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const CliOption* option = nullptr;
    for (const CliOption& o : options) {
      if (a == o.name) option = &o;
    }
    if (option != nullptr && option->flag != nullptr) {
      *option->flag = true;
    } else if (option != nullptr) {
      if (i + 1 >= args.size()) {
        *problem = a + " needs a value";
        return false;
      }
      *option->value = args[++i];
    } else if (!a.empty() && a[0] == '-') {
      *problem = "unknown option " + a;
      return false;
    } else if (required != nullptr && positional->empty()) {
      *positional = a;
    } else {
      *problem = "unexpected argument '" + a + "'";
      return false;
    }
  }
  if (required != nullptr && positional->empty()) {
    *problem = std::string("missing ") + required;
    return false;
  }
  return true;
}

bool parseMaintenanceOptions(const std::vector<std::string>& args,
                             std::initializer_list<CliOption> extra, MaintenanceOptions* out,
                             std::string* problem) {
  bool dryRun = false;
  std::vector<CliOption> options = {{"--dry-run", nullptr, &dryRun},
                                    {"--apply", nullptr, &out->apply},
                                    {"--config", &out->configPath},
                                    {"--data-dir", &out->dataDir}};
  options.insert(options.end(), extra.begin(), extra.end());
  if (!parseCliOptions(args, options, nullptr, nullptr, problem)) return false;
  if (dryRun == out->apply) {
    *problem = "give --dry-run (count only) or --apply";
    return false;
  }
  return true;
}

std::unique_ptr<Store> openExistingStore(const std::string& command, const DaemonConfig& config,
                                         const std::string& dataDir, const Clock& clock,
                                         std::ostream& err) {
  const std::string storePath = storePathIn(dataDir);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(storePath, ec)) {
    err << "inloop " << command << ": no store at " << storePath << "\n";
    return nullptr;
  }
  SqliteStoreOptions options;
  fhir::Result<std::shared_ptr<const PayloadKeyRing>> keys = loadPayloadKeys(config);
  if (!keys) {
    err << "inloop " << command << ": " << keys.status().message() << "\n";
    return nullptr;
  }
  options.payloadKeys = std::move(*keys);
  options.payloadKeyFile = config.encryption.keyFile;
  fhir::Result<std::unique_ptr<Store>> store = openSqliteStore(storePath, options, clock);
  if (!store.isOk()) {
    err << "inloop " << command << ": cannot open the store " << storePath << ": "
        << store.status().message() << "\n";
    return nullptr;
  }
  return std::move(*store);
}

}  // namespace inloop::gateway
