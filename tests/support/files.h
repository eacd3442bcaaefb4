#pragma once

// Whole-file reading for the tests of every layer: one helper instead of a
// copy per test file.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace inloop::testing {

// The whole file, bytes as they are; empty when it cannot be read.
inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace inloop::testing
