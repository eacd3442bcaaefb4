#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/cli/cli.h"
#include "tests/gateway/support/cli_run.h"
#include "tests/support/files.h"

namespace {

const std::string kDir = std::string(INLOOP_TEST_DATA_DIR) + "/fhir/validator/";

using Run = inloop::testing::CliRun;

// `inloop validate ARGS...`.
Run run(std::vector<std::string> args, const std::string& stdinText = {}) {
  args.insert(args.begin(), "validate");
  return inloop::testing::runInloop(std::move(args), stdinText);
}

using inloop::testing::readFile;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("inloop validate exit codes and text output", "[gateway][cli]") {
  struct Case {
    std::vector<std::string> args;
    int code;
    const char* inOut;  // expected in stdout ("" for none)
    const char* inErr;  // expected in stderr ("" for none)
  };
  const Case cases[] = {
      {{kDir + "observation-bp-valid.json"}, 0, "valid (0 errors, 0 warnings)", ""},
      {{kDir + "bundle-transaction-valid.json"}, 0, ": valid (0 errors", ""},
      {{kDir + "observation-invalid.json"},
       1,
       "error Observation.status: 'done' is not in the required value set",
       ""},
      {{kDir + "observation-invalid.json"}, 1, "invalid (5 errors, 1 warning)", ""},
      {{kDir + "observation-invalid.json"},
       1,
       "warning Observation: dom-6: a resource should have narrative",
       ""},
      {{kDir + "observation-invalid.json"}, 1, "error Observation.dataAbsentReason: obs-6", ""},
      {{kDir + "not-json.json"}, 2, "", "not-json.json:4:3: not valid JSON"},
      {{kDir + "does-not-exist.json"}, 2, "", "cannot open"},
      {{kDir + "does-not-exist.json"}, 2, "", "does-not-exist.json"},
      {{}, 2, "", "usage: inloop validate"},
      {{"--format", "xml", kDir + "observation-bp-valid.json"}, 2, "", "unknown format 'xml'"},
      {{"--frobnicate", kDir + "observation-bp-valid.json"}, 2, "", "unknown option"},
      {{kDir + "observation-bp-valid.json", kDir + "observation-invalid.json"},
       2,
       "",
       "only one FILE"},
  };
  for (const Case& c : cases) {
    const Run r = run(c.args);
    INFO((c.args.empty() ? std::string("(no args)") : c.args.back()) << "\nstdout:\n"
                                                                     << r.out << "stderr:\n"
                                                                     << r.err);
    CHECK(r.code == c.code);
    if (*c.inOut != '\0') CHECK(contains(r.out, c.inOut));
    if (*c.inErr != '\0') CHECK(contains(r.err, c.inErr));
  }
}

TEST_CASE("inloop validate reads standard input", "[gateway][cli]") {
  Run r = run({"-"}, readFile(kDir + "observation-invalid.json"));
  CHECK(r.code == 1);
  CHECK(contains(r.out, "<stdin>: invalid"));
  r = run({"-"}, readFile(kDir + "observation-bp-valid.json"));
  CHECK(r.code == 0);
  r = run({"-"}, "{\"resourceType\": ");
  CHECK(r.code == 2);
  CHECK(contains(r.err, "<stdin>:1:"));
}

TEST_CASE("inloop validate --format json prints an OperationOutcome", "[gateway][cli]") {
  Run r = run({"--format", "json", kDir + "observation-invalid.json"});
  CHECK(r.code == 1);
  CHECK(contains(r.out, "\"resourceType\": \"OperationOutcome\""));
  CHECK(contains(r.out, "\"code\": \"code-invalid\""));
  CHECK(contains(r.out, "\"Observation.status\""));
  CHECK_FALSE(contains(r.out, "invalid (5 errors"));

  r = run({"--format=json", kDir + "observation-bp-valid.json"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "\"severity\": \"information\""));
  CHECK(contains(r.out, "\"code\": \"informational\""));
}
