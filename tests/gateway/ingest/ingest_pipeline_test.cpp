// The ingest pipeline stores the one translation of a record: the Bundle it
// keeps is byte for byte what translateRecordJson (the CLI, the benchmark)
// makes of the same record, and what translateRecord builds as a tree, apart
// from the safety notices only the pipeline adds (it knows the patient's list).
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "tests/gateway/support/delivery_support.h"

namespace fs = std::filesystem;
using inloop::delivery_testing::EngineHarness;
using inloop::gateway::IngestStatus;

TEST_CASE("the pipeline stores the Bundle translateRecordJson makes, plus its notices",
          "[gateway][ingest]") {
  std::vector<fs::path> records;
  for (const char* dir : {"examples/records", "tests/data/records/translate"}) {
    for (const auto& e : fs::directory_iterator(fs::path(INLOOP_SOURCE_DIR) / dir)) {
      if (e.path().extension() == ".json") records.push_back(e.path());
    }
  }
  REQUIRE(records.size() >= 30);
  int identical = 0;
  int withNotices = 0;
  for (const fs::path& path : records) {
    INFO(path.filename().string());
    EngineHarness h;  // nothing routed: the record is stored as unroutable
    const std::string text = inloop::server_testing::readFile(path);
    const inloop::fhir::Json doc = *inloop::fhir::parseJson(text);
    REQUIRE(h.ingest(text) == IngestStatus::kAccepted);
    auto view = h.store().getRecord(doc.find("recordId")->text());
    REQUIRE(view.isOk());
    auto tables = inloop::gateway::readMappingTablesDir(
                      (fs::path(INLOOP_SOURCE_DIR) / "config/mappings").string())
                      .tables;
    const inloop::mappings::TranslatedJson direct =
        inloop::mappings::translateRecordJson(text, *tables);
    REQUIRE_FALSE(direct.bundleJson.empty());
    // ...which is the whole Bundle translateRecord builds, written at once.
    inloop::fhir::Issues issues;
    const auto record = inloop::mappings::readPlanRecord(doc, &issues);
    REQUIRE(record);
    const auto tree = inloop::mappings::translateRecord(*record, *tables);
    REQUIRE(tree.bundle);
    CHECK(inloop::fhir::writeJson(*tree.bundle) == direct.bundleJson);
    if (view->bundleJson.find("\"notice/") == std::string::npos) {
      CHECK(view->bundleJson == direct.bundleJson);
      ++identical;
    } else {
      // The notices are entries of their own (and Provenance names them):
      // every other entry is the one translateRecordJson makes.
      const inloop::fhir::Json stored = *inloop::fhir::parseJson(view->bundleJson);
      const inloop::fhir::Json made = *inloop::fhir::parseJson(direct.bundleJson);
      for (const inloop::fhir::Json& e : made.find("entry")->items()) {
        const std::string type = e.find("resource")->find("resourceType")->text();
        if (type == "Provenance") continue;
        bool found = false;
        for (const inloop::fhir::Json& s : stored.find("entry")->items()) found |= s == e;
        INFO(type);
        CHECK(found);
      }
      ++withNotices;
    }
  }
  CHECK(identical >= 20);
  CHECK(withNotices >= 5);
}
