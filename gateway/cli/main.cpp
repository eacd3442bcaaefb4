// inloop executable: hands argv to the CLI dispatcher.
#include <iostream>
#include <string>
#include <vector>

#include "gateway/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return inloop::gateway::runCli(args, std::cin, std::cout, std::cerr);
}
