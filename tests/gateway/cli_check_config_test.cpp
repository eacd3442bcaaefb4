#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/cli.h"

namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run checkConfig(std::vector<std::string> args) {
  args.insert(args.begin(), {"inloop", "check-config"});
  std::istringstream in;
  std::ostringstream out, err;
  int code = inloop::gateway::runCli(args, in, out, err);
  return Run{code, out.str(), err.str()};
}

const std::string kDataDir = INLOOP_TEST_DATA_DIR;

}  // namespace

TEST_CASE("check-config accepts the shipped mapping tables", "[gateway][cli]") {
  std::string dir = std::string(INLOOP_SOURCE_DIR) + "/config/mappings";
  Run r = checkConfig({dir});
  INFO(r.out << r.err);
  CHECK(r.code == inloop::gateway::kExitOk);
  CHECK(r.out == dir + ": 7 files, 0 errors, 0 warnings: OK\n");
  CHECK(r.err.empty());
}

TEST_CASE("check-config lists every problem as DIR/file:line:column", "[gateway][cli]") {
  std::string dir = kDataDir + "/config/bad-typo";
  Run r = checkConfig({dir});
  CHECK(r.code == inloop::gateway::kExitInvalid);
  const std::string all =
      "(the mapping tables need all of: manifest.json, units.json, measures.json, "
      "activities.json, drugs.json, drug-classes.json, practices.json)\n";
  const std::string expected =
      dir + "/practice.json: error: not a known configuration file (is the name misspelt?)\n" +
      dir + "/manifest.json: error: file is missing " + all +  //
      dir + "/units.json: error: file is missing " + all +     //
      dir + "/activities.json: error: file is missing " + all + dir +
      "/drugs.json: error: file is missing " + all + dir +
      "/drug-classes.json: error: file is missing " + all + dir +
      "/practices.json: error: file is missing " + all + dir +
      "/measures.json:4:5: error: measure \"pain-nrs\": missing required field \"display\"\n" +
      dir + "/measures.json:4:26: error: measure \"pain-nrs\": unknown field \"dispaly\" " +
      "(expected: category, code, components, direction, display, loinc, otherUnits, range, " +
      "total, unit, valueAllowed)\n" + dir + ": 2 files, 9 errors, 0 warnings: INVALID\n";
  CHECK(r.out == expected);
}

TEST_CASE("check-config usage errors and missing directories exit 2", "[gateway][cli]") {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const Case cases[] = {
      {{}, "usage: inloop check-config DIR\n"},
      {{"a", "b"}, "usage: inloop check-config DIR\n"},
      {{kDataDir + "/config/no-such-dir"},
       "inloop check-config: " + kDataDir + "/config/no-such-dir: no such directory\n"},
  };
  for (const Case& c : cases) {
    Run r = checkConfig(c.args);
    CHECK(r.code == inloop::gateway::kExitUsage);
    CHECK(r.err == c.err);
    CHECK(r.out.empty());
  }
}

TEST_CASE("check-config on a directory without configuration files fails", "[gateway][cli]") {
  std::string dir = kDataDir + "/config";  // holds only fixture folders
  Run r = checkConfig({dir});
  CHECK(r.code == inloop::gateway::kExitInvalid);
  CHECK(r.out == dir + ": error: no configuration files found\n" + dir +
                     ": 0 files, 1 error, 0 warnings: INVALID\n");
}
