#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/cli/cli.h"
#include "tests/gateway/support/cli_run.h"
#include "tests/support/files.h"

namespace {

const std::string kExamples = std::string(INLOOP_SOURCE_DIR) + "/examples/records/";
const std::string kMappings = std::string(INLOOP_SOURCE_DIR) + "/config/mappings";

using Run = inloop::testing::CliRun;

// `inloop translate ARGS...`.
Run run(std::vector<std::string> args, const std::string& stdinText = {}) {
  args.insert(args.begin(), "translate");
  return inloop::testing::runInloop(std::move(args), stdinText);
}

using inloop::testing::readFile;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("inloop translate prints the Bundle of a record", "[gateway][cli][translate]") {
  Run r = run({"--mappings", kMappings, kExamples + "measurement-blood-pressure.json"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(r.out ==
        readFile(std::string(INLOOP_TEST_DATA_DIR) + "/golden/measurement-blood-pressure.json"));
}

TEST_CASE("inloop translate --as request and stdin", "[gateway][cli][translate]") {
  Run r = run({"--mappings", kMappings, "--as", "request", "-"},
              readFile(kExamples + "medication-taper-oxycodone.json"));
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(contains(r.out, "\"resourceType\": \"MedicationRequest\""));
  CHECK_FALSE(contains(r.out, "MedicationStatement"));
}

TEST_CASE("inloop translate exit codes", "[gateway][cli][translate]") {
  std::string bad = readFile(kExamples + "measurement-pain-nrs.json");
  bad.replace(bad.find("\"pain-nrs\""), 10, "\"pain-vas\"");
  Run invalid = run({"--mappings", kMappings, "-"}, bad);
  CHECK(invalid.code == 1);
  CHECK(invalid.out.empty());
  CHECK(contains(invalid.err, "$.measure: unknown measure code \"pain-vas\""));

  Run notJson = run({"--mappings", kMappings, "-"}, "{not json");
  CHECK(notJson.code == 1);
  CHECK(contains(notJson.err, "error $: "));

  CHECK(run({}).code == 2);
  CHECK(run({"--to", "xml", "x.json"}).code == 2);
  CHECK(run({"--as", "order", "x.json"}).code == 2);
  CHECK(run({"--bogus", "x.json"}).code == 2);
  CHECK(run({"--mappings", kMappings, "a.json", "b.json"}).code == 2);
  Run missing = run({"--mappings", kMappings, kExamples + "no-such-record.json"});
  CHECK(missing.code == 2);
  Run noTables = run({"--mappings", std::string(INLOOP_TEST_DATA_DIR) + "/no-such-dir",
                      kExamples + "measurement-pain-nrs.json"});
  CHECK(noTables.code == 2);
  CHECK(contains(noTables.err, "manifest.json"));
}

TEST_CASE("inloop translate --to record round-trips a Bundle", "[gateway][cli][translate]") {
  Run fwd = run({"--mappings", kMappings, kExamples + "measurement-pain-nrs.json"});
  REQUIRE(fwd.code == 0);
  Run back = run(
      {"--mappings", kMappings, "--to", "record", "--practice", "riverside-family-medicine", "-"},
      fwd.out);
  INFO(back.err);
  CHECK(back.code == 0);
  CHECK(contains(back.out, "\"recordId\": \"M-2026-118834\""));
  CHECK(contains(back.out, "\"measure\": \"pain-nrs\""));
}
