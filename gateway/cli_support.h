#pragma once

// What the store-reading CLI commands (`status`, `deadletter`, `summary`) and
// `serve` share: finding and loading the daemon configuration, and opening the
// existing store in its data directory. Messages go to the command's error
// stream, prefixed with the command's name.

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "gateway/clock.h"
#include "gateway/daemon_config.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

// The configuration file used when --config is not given and it exists in the
// working directory.
inline constexpr const char* kDefaultConfigPath = "config/inloop.json";
// Loads `path`; when `path` is empty, kDefaultConfigPath if it is a regular
// file, else the built-in defaults. Every issue of the file is written to `err`
// as "PATH: SEVERITY: MESSAGE" lines; nullopt when the file has errors.
std::optional<DaemonConfig> loadCliConfig(const std::string& path, std::ostream& err);

// Opens the existing store DATA_DIR/inloop.db (never creates one). On failure
// writes "inloop COMMAND: no store at PATH" or "...: cannot open the store PATH:
// REASON" to `err` and returns nullptr. `clock` must outlive the store.
std::unique_ptr<Store> openExistingStore(const std::string& command, const std::string& dataDir,
                                         const Clock& clock, std::ostream& err);

}  // namespace inloop::gateway
