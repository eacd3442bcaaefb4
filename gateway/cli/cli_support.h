#pragma once

// What the store-reading CLI commands (`status`, `deadletter`, `summary`,
// `disclosures`) and `serve` share: parsing options, finding and loading the
// daemon configuration, and opening the existing store in its data directory. Messages go to the
// command's error stream, prefixed with the command's name.

#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/config/daemon_config.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

// The configuration file used when --config is not given and it exists in the
// working directory.
inline constexpr const char* kDefaultConfigPath = "config/inloop.json";
// Loads `path`; when `path` is empty, kDefaultConfigPath if it is a regular
// file, else the built-in defaults. Every issue of the file is written to `err`
// as "PATH: SEVERITY: MESSAGE" lines; nullopt when the file has errors.
std::optional<DaemonConfig> loadCliConfig(const std::string& path, std::ostream& err);

// One option of a command line: `--name VALUE` into *value, or the flag
// `--name` setting *flag (exactly one of the two is non-null).
struct CliOption {
  const char* name;
  std::string* value = nullptr;
  bool* flag = nullptr;
};

// Parses `args` (after the subcommand name) against `options`, with exactly
// one positional argument (`required`, "MRN") into *positional. false with
// *problem ("unknown option --x", "--since needs a value", "unexpected
// argument 'y'", "missing MRN") otherwise. `required` null: no positional
// argument at all (`positional` may then be null).
bool parseCliOptions(const std::vector<std::string>& args, const std::vector<CliOption>& options,
                     const char* required, std::string* positional, std::string* problem);

// The options every store maintenance command (purge, rekey) takes: exactly
// one of --dry-run (count only) and --apply, --config FILE, --data-dir DIR.
struct MaintenanceOptions {
  bool apply = false;  // false: --dry-run
  std::string configPath;
  std::string dataDir;
};
// parseCliOptions over those and `extra`; false with *problem as there, or
// "give --dry-run (count only) or --apply".
bool parseMaintenanceOptions(const std::vector<std::string>& args,
                             std::initializer_list<CliOption> extra, MaintenanceOptions* out,
                             std::string* problem);

// Opens the existing store DATA_DIR/inloop.db (never creates one), with the
// payload key ring `config` names (encryption.keyFile). On failure writes
// "inloop COMMAND: no store at PATH", "...: cannot open the store PATH:
// REASON" or the key file's problem to `err` and returns nullptr. `clock`
// must outlive the store.
std::unique_ptr<Store> openExistingStore(const std::string& command, const DaemonConfig& config,
                                         const std::string& dataDir, const Clock& clock,
                                         std::ostream& err);

}  // namespace inloop::gateway
