#pragma once

// The `inloop` command line: parses argv and dispatches to a subcommand.
// Kept out of main.cpp so that tests can run every command in-process.
//
// Exit codes (documented in `inloop --help`): 0 success, 1 the input was
// processed and found invalid, 2 usage error or unreadable input, 3 runtime
// failure (store, network).

#include <iosfwd>
#include <string>
#include <vector>

namespace inloop::gateway {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailure = 3;

// Runs the command in `args` (args[0] is the program name). `in` is standard
// input (for `-` file arguments). Never throws.
int runCli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
           std::ostream& err);

}  // namespace inloop::gateway
