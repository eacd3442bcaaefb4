#pragma once

// Shared helpers of the libFuzzer targets (fuzz/*_fuzz.cpp). Not product code:
// the targets may read the shipped mapping tables from disk once at start-up
// (INLOOP_SOURCE_DIR is compiled in) and abort on a broken property, which is
// how libFuzzer learns about a bug.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/issue.h"
#include "mappings/tables/tables.h"

namespace inloop::fuzz {

// Prints `what` (and the issues, if any) and aborts: a property the code
// promises does not hold for this input.
[[noreturn]] inline void fail(std::string_view what, const fhir::Issues& issues = {}) {
  std::fprintf(stderr, "fuzz property broken: %.*s\n%s\n", static_cast<int>(what.size()),
               what.data(), fhir::formatIssues(issues).c_str());
  std::abort();
}

inline std::string readWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The shipped table files (config/mappings/*.json), name -> text, in
// kTableFileNames order.
inline std::vector<mappings::TableFile> shippedTableFiles() {
  std::vector<mappings::TableFile> files;
  const std::filesystem::path dir = std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings";
  for (std::string_view name : mappings::kTableFileNames) {
    files.push_back({std::string(name), readWholeFile(dir / std::string(name))});
  }
  return files;
}

// The shipped tables, loaded once; aborts if they do not load (a broken
// checkout, not a finding).
inline const mappings::MappingTables& shippedTables() {
  static const mappings::MappingTables tables = [] {
    mappings::TablesLoad load = mappings::loadMappingTables(shippedTableFiles());
    if (!load.tables) fail("shipped mapping tables do not load", load.issues);
    return std::move(*load.tables);
  }();
  return tables;
}

}  // namespace inloop::fuzz
