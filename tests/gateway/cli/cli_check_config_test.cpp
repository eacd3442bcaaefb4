#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/cli/cli.h"
#include "tests/gateway/support/server_fixture.h"

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
      "/measures.json:4:26: error: $.measures[0].dispaly: unknown field \"dispaly\"; did you " +
      "mean \"display\"?\n" + dir +
      "/measures.json:4:5: error: $.measures[0].display: missing required field \"display\"\n" +
      dir + ": 2 files, 9 errors, 0 warnings: INVALID\n";
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

namespace {

namespace fs = std::filesystem;

namespace {

// TMP/etc (returned, empty) beside TMP/tables, a copy of the shipped mapping tables.
fs::path etcBesideTables(const inloop::server_testing::TempDir& tmp) {
  const fs::path dir = tmp.path() / "etc";
  fs::create_directories(dir);
  fs::copy(fs::path(INLOOP_SOURCE_DIR) / "config/mappings", tmp.path() / "tables",
           fs::copy_options::recursive);
  return dir;
}

}  // namespace

std::string readAll(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Replaces the first `from` after `after` in `file` by `to`; returns the
// 1-based "line:column" where `to` begins plus `offset` characters.
std::string replaceIn(const fs::path& file, const std::string& after, const std::string& from,
                      const std::string& to, std::size_t offset = 0) {
  std::string text = readAll(file);
  const std::size_t at = text.find(from, text.find(after));
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  const std::size_t pos = at + offset;
  const std::size_t line =
      1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + pos, '\n'));
  const std::size_t lineStart = text.rfind('\n', pos - 1);
  const std::size_t column = lineStart == std::string::npos ? pos + 1 : pos - lineStart;
  return std::to_string(line) + ":" + std::to_string(column);
}

}  // namespace

TEST_CASE("check-config checks the shipped tree: inloop.json, its destinations and mappings",
          "[gateway][cli]") {
  const std::string dir = std::string(INLOOP_SOURCE_DIR) + "/config";
  Run r = checkConfig({dir});
  INFO(r.out << r.err);
  CHECK(r.code == inloop::gateway::kExitOk);
  // inloop.json + destinations.json + the 7 mapping tables.
  CHECK(r.out == dir + ": 9 files, 0 errors, 0 warnings: OK\n");
}

TEST_CASE("check-config on a broken copy of the tree names each file's error at line:column",
          "[gateway][cli]") {
  inloop::server_testing::TempDir tmp;
  fs::copy(fs::path(INLOOP_SOURCE_DIR) / "config", tmp.path() / "config",
           fs::copy_options::recursive);
  const fs::path dir = tmp.path() / "config";
  // An unknown setting (reported at its key), a kind that does not exist,
  // and a drug without its display.
  const std::string inloopAt =
      replaceIn(dir / "inloop.json", "{", "\"logLevel\": \"info\"", "\"logLevle\": \"info\"");
  const std::string destAt = replaceIn(dir / "destinations.json", "{", "\"kind\": \"ndjson-dir\"",
                                       "\"kind\": \"ndjson-folder\"", 8);
  const std::string drugAt =
      replaceIn(dir / "mappings/drugs.json", "\"oxycodone\"", "\"display\": \"Oxycodone\",",
                "\"dispaly\": \"Oxycodone\",");
  Run r = checkConfig({dir.string()});
  INFO(r.out << r.err);
  CHECK(r.code == inloop::gateway::kExitInvalid);
  CHECK(r.out.find(dir.string() + "/inloop.json:" + inloopAt +
                   ": error: $.logLevle: unknown field \"logLevle\"; did you mean \"logLevel\"?") !=
        std::string::npos);
  CHECK(r.out.find(dir.string() + "/destinations.json:" + destAt +
                   ": error: $.destinations[0].kind: expected one of \"fhir-transaction\", "
                   "\"fhir-put\", \"http-bundle\", \"ndjson-dir\", got \"ndjson-folder\"") !=
        std::string::npos);
  CHECK(r.out.find(dir.string() + "/mappings/drugs.json:" + drugAt) != std::string::npos);
  CHECK(r.out.find("unknown field \"dispaly\"") != std::string::npos);
  CHECK(r.out.find(dir.string() + "/mappings/drugs.json:" + drugAt +
                   ": error: $.drugs[0].dispaly: unknown field \"dispaly\"; did you mean "
                   "\"display\"?\n") != std::string::npos);
  CHECK(r.out.find(": 9 files, ") != std::string::npos);
  CHECK(r.out.find(": INVALID\n") != std::string::npos);
}

TEST_CASE("check-config follows the destinationsFile and mappingsDir inloop.json names",
          "[gateway][cli]") {
  inloop::server_testing::TempDir tmp;
  const fs::path dir = etcBesideTables(tmp);
  std::ofstream(dir / "inloop.json")
      << "{\"mappingsDir\": \"../tables\", \"destinationsFile\": \"../routing/where.json\"}\n";
  Run missing = checkConfig({dir.string()});
  INFO(missing.out << missing.err);
  CHECK(missing.code == inloop::gateway::kExitInvalid);
  CHECK(missing.out.find("where.json") != std::string::npos);

  fs::create_directories(tmp.path() / "routing");
  std::ofstream(tmp.path() / "routing/where.json")
      << "{\"destinations\": [],\n \"routes\": {\"p\": [\"nowhere\"]}}\n";
  Run bad = checkConfig({dir.string()});
  INFO(bad.out << bad.err);
  CHECK(bad.code == inloop::gateway::kExitInvalid);
  CHECK(bad.out.find((tmp.path() / "routing/where.json").string() + ":2:19: error:") !=
        std::string::npos);

  std::ofstream(tmp.path() / "routing/where.json", std::ios::trunc)
      << "{\"destinations\": [], \"routes\": {}}\n";
  Run ok = checkConfig({dir.string()});
  INFO(ok.out << ok.err);
  CHECK(ok.code == inloop::gateway::kExitOk);
  CHECK(ok.out == (tmp.path() / "routing/where.json").string() +
                      ":1:1: warning: no routes: every record is stored as unroutable\n" +
                      dir.string() + ": 9 files, 0 errors, 1 warning: OK\n");
}

TEST_CASE("check-config warns when the tables name nobody to call (no contact section)",
          "[gateway][cli]") {
  inloop::server_testing::TempDir tmp;
  const fs::path dir = tmp.path() / "mappings";
  fs::copy(fs::path(INLOOP_SOURCE_DIR) / "config/mappings", dir);
  struct Case {
    const char* name;
    const char* practices;
    std::string expected;
  };
  const std::string warning =
      ":1:1: warning: no \"contact\" section: Bundles carry no Organization for the pain "
      "center and notices give no number to call (docs/mapping-tables.md, \"Contact\")\n";
  const Case cases[] = {
      {"no contact", "{\"practices\": []}",
       dir.string() + "/practices.json" + warning + dir.string() +
           ": 7 files, 0 errors, 1 warning: OK\n"},
      {"comments first: the warning points at the object",
       "// practices\n// without a contact\n{\"practices\": []}",
       dir.string() + "/practices.json:3:1" + warning.substr(4) + dir.string() +
           ": 7 files, 0 errors, 1 warning: OK\n"},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      std::ofstream(dir / "practices.json", std::ios::binary | std::ios::trunc) << c.practices;
      Run r = checkConfig({dir.string()});
      INFO(r.out << r.err);
      CHECK(r.code == inloop::gateway::kExitOk);
      CHECK(r.out == c.expected);
    }
  }
}

TEST_CASE("check-config accepts the metrics role and warns about secret files others can read",
          "[gateway][cli][security]") {
  // Issue 16 items 4 and 11.
  inloop::server_testing::TempDir tmp;
  const fs::path dir = etcBesideTables(tmp);
  std::ofstream(dir / "server.crt") << "not checked here\n";
  std::ofstream(dir / "server.key") << "not checked here\n";
  fs::permissions(dir / "server.key", fs::perms::owner_read | fs::perms::owner_write |
                                          fs::perms::group_read | fs::perms::others_read);
  std::ofstream(dir / "inloop.json")
      << "{\"mappingsDir\": \"../tables\",\n"
         " \"tokens\": [{\"id\": \"scraper\", \"sha256\": \""
      << std::string(64, 'a')
      << "\", \"roles\": [\"metrics\"]}],\n"
         " \"tls\": {\"certificateFile\": \"server.crt\", \"privateKeyFile\": \"server.key\"}}\n";
  Run exposed = checkConfig({dir.string()});
  INFO(exposed.out << exposed.err);
  CHECK(exposed.code == inloop::gateway::kExitOk);
  CHECK(exposed.out.find("warning: tls.privateKeyFile: secret file " +
                         (dir / "server.key").string() + " is readable by others (mode 0644)") !=
        std::string::npos);
  CHECK(exposed.out.find("0 errors, 1 warning: OK") != std::string::npos);

  fs::permissions(dir / "server.key", fs::perms::owner_read | fs::perms::owner_write);
  Run quiet = checkConfig({dir.string()});
  INFO(quiet.out << quiet.err);
  CHECK(quiet.code == inloop::gateway::kExitOk);
  CHECK(quiet.out.find("0 errors, 0 warnings: OK") != std::string::npos);
}
