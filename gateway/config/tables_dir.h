#pragma once

// The mapping tables folder (config/mappings): read by `serve` at start and on
// every reload, and by `check-config`, `translate` and `summary`.

#include <memory>
#include <string>

#include "fhir/issue.h"

namespace inloop::mappings {
struct MappingTables;
}

namespace inloop::gateway {

// Reads the mapping table files (mappings::kTableFileNames) of `dir` and
// validates them. Issue paths are "DIR/file.json:LINE:COLUMN". `tables` is set
// only when there are no errors.
struct MappingTablesRead {
  std::shared_ptr<const mappings::MappingTables> tables;
  fhir::Issues issues;
};
MappingTablesRead readMappingTablesDir(const std::string& dir);

}  // namespace inloop::gateway
