#pragma once

// Test helpers shared by every test that uses the mappings layer
// (mappings_tests and gateway_tests): reading fixture files, the shipped
// mapping tables, example records. Header-only; uses Catch2 assertions, so
// include it from test files only.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json.h"
#include "mappings/record/plan_record.h"
#include "mappings/tables/tables.h"
#include "tests/support/files.h"

namespace inloop::testing {

inline std::filesystem::path shippedMappingsDir() {
  return std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings";
}

// config/mappings/*.json by file name.
inline std::map<std::string, std::string> shippedTableFiles() {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(shippedMappingsDir())) {
    if (e.path().extension() != ".json") continue;
    files[e.path().filename().string()] = readFile(e.path());
  }
  return files;
}

inline mappings::TablesLoad loadTables(const std::map<std::string, std::string>& files) {
  std::vector<mappings::TableFile> list;
  for (const auto& [name, text] : files) list.push_back({name, text});
  return mappings::loadMappingTables(list);
}

// The shipped tables, loaded once; fails the test if they do not load.
inline const mappings::MappingTables& shippedTables() {
  static const mappings::TablesLoad load = loadTables(shippedTableFiles());
  INFO(fhir::formatIssues(load.issues));
  REQUIRE(load.tables.has_value());
  return *load.tables;
}

// The value at a path of object keys and array indexes ("0", "1", ...), or
// nullptr when any step is absent.
inline const fhir::Json* at(const fhir::Json& j, std::initializer_list<std::string_view> keys) {
  const fhir::Json* cur = &j;
  for (std::string_view k : keys) {
    if (cur == nullptr) return nullptr;
    if (!k.empty() && k[0] >= '0' && k[0] <= '9') {
      std::size_t i = std::stoul(std::string(k));
      cur = cur->isArray() && i < cur->items().size() ? &cur->items()[i] : nullptr;
    } else {
      cur = cur->isObject() ? cur->find(k) : nullptr;
    }
  }
  return cur;
}

// The text at a path, or "<absent>".
inline std::string textAt(const fhir::Json& j, std::initializer_list<std::string_view> keys) {
  const fhir::Json* v = at(j, keys);
  return v ? v->text() : std::string("<absent>");
}

inline fhir::Json parseOrFail(std::string_view text) {
  auto parsed = fhir::parseJson(text);
  INFO(parsed.status().toString());
  REQUIRE(parsed.isOk());
  return std::move(parsed).value();
}

// A record file read with readPlanRecord; fails the test on any error.
inline mappings::PlanRecord readRecordFile(const std::filesystem::path& path) {
  INFO(path.string());
  fhir::Issues issues;
  std::optional<mappings::PlanRecord> record =
      mappings::readPlanRecord(parseOrFail(readFile(path)), &issues);
  INFO(fhir::formatIssues(issues));
  REQUIRE(record.has_value());
  return *record;
}

// tests/data/golden: expected Bundles (pretty JSON), also cross-validated by
// tests/scripts/cross_validate.sh with the third-party validators.
inline std::filesystem::path goldenDir() {
  return std::filesystem::path(INLOOP_TEST_DATA_DIR) / "golden";
}

// Checks `bundle` against golden file `name`. INLOOP_UPDATE_GOLDEN=1 rewrites
// the file first (review the diff by eye before committing).
inline void checkGolden(const std::string& name, const fhir::Json& bundle) {
  const std::filesystem::path p = goldenDir() / name;
  const std::string actual = fhir::writeJson(bundle, fhir::JsonStyle::kPretty);
  const char* update = std::getenv("INLOOP_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::filesystem::create_directories(goldenDir());
    std::ofstream(p, std::ios::binary) << actual;
  }
  INFO("golden file " << p << " (INLOOP_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(std::filesystem::exists(p));
  CHECK(readFile(p) == actual);
}

}  // namespace inloop::testing
