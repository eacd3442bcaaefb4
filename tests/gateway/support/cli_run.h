#pragma once

// Runs the `inloop` CLI in-process (gateway::runCli) for tests: the exit code
// and what it wrote to stdout and stderr.

#include <sstream>
#include <string>
#include <vector>

#include "gateway/cli/cli.h"

namespace inloop::testing {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

// `inloop ARGS...` with `stdinText` as standard input.
inline CliRun runInloop(std::vector<std::string> args, const std::string& stdinText = {}) {
  args.insert(args.begin(), "inloop");
  std::istringstream in(stdinText);
  std::ostringstream out;
  std::ostringstream err;
  CliRun r;
  r.code = gateway::runCli(args, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace inloop::testing
