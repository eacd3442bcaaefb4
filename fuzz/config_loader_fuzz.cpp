// libFuzzer target: mappings::loadMappingTables with the input as one table
// file among the shipped others. The first input byte picks which file it
// replaces (kTableFileNames), the rest is that file's text. Properties:
//  - tables are returned exactly when no error is reported;
//  - every issue names its file (path starts with a table file name);
//  - loaded tables answer lookups and conversions without crashing.
// Not covered: the destinations and daemon config parsers, which live in
// gateway/ (POCO) and are not linked into the fuzz build.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fuzz/fuzz_support.h"
#include "mappings/tables/tables.h"

namespace {

namespace mappings = inloop::mappings;
using inloop::fuzz::fail;

const std::vector<mappings::TableFile>& shippedFiles() {
  static const std::vector<mappings::TableFile> files = inloop::fuzz::shippedTableFiles();
  return files;
}

void exerciseTables(const mappings::MappingTables& tables) {
  for (const mappings::Measure& measure : tables.measures) {
    (void)tables.findMeasure(measure.code);
    for (const mappings::Unit& unit : tables.units) {
      (void)tables.canConvert(unit.name, measure.unit, measure.code);
      (void)tables.convert("12.5", unit.name, measure.unit, measure.code);
    }
  }
  for (const mappings::Practice& practice : tables.practices) {
    (void)tables.safetySettingsFor(practice.practiceId);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)shippedFiles();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t which = data[0] % std::size(mappings::kTableFileNames);
  std::vector<mappings::TableFile> files = shippedFiles();
  files[which].text.assign(reinterpret_cast<const char*>(data) + 1, size - 1);

  const mappings::TablesLoad load = mappings::loadMappingTables(files);
  if (load.tables.has_value() == inloop::fhir::hasErrors(load.issues)) {
    fail("loadMappingTables: tables presence disagrees with its errors", load.issues);
  }
  for (const inloop::fhir::Issue& issue : load.issues) {
    bool named = false;
    for (std::string_view name : mappings::kTableFileNames) {
      if (std::string_view(issue.path).starts_with(name)) named = true;
    }
    if (!named) fail("issue without a file name in its path", load.issues);
  }
  if (load.tables) exerciseTables(*load.tables);
  return 0;
}
