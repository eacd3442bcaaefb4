#include "gateway/config/tables_dir.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "mappings/tables/tables.h"

namespace inloop::gateway {

MappingTablesRead readMappingTablesDir(const std::string& dir) {
  MappingTablesRead out;
  std::vector<mappings::TableFile> files;
  for (std::string_view name : mappings::kTableFileNames) {
    const std::filesystem::path path = std::filesystem::path(dir) / name;
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open()) {
      fhir::addError(&out.issues, "required", path.string(), "cannot read the mapping table file");
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    files.push_back(mappings::TableFile{std::string(name), text.str()});
  }
  if (fhir::hasErrors(out.issues)) return out;
  mappings::TablesLoad load = mappings::loadMappingTables(files);
  for (fhir::Issue& i : load.issues) i.path = (std::filesystem::path(dir) / i.path).string();
  out.issues = std::move(load.issues);
  if (load.tables && !fhir::hasErrors(out.issues)) {
    out.tables = std::make_shared<const mappings::MappingTables>(std::move(*load.tables));
  }
  return out;
}

}  // namespace inloop::gateway
