#include "tests/gateway/support/test_postgres.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "gateway/store/pg_util.h"

namespace inloop::store_testing {

namespace {

namespace fs = std::filesystem;

const std::string kScript = std::string(INLOOP_SOURCE_DIR) + "/tests/support/test_postgres.sh";

std::string shellQuoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// Stops the server this process started (atexit: no test is running then).
std::string& ownStateFile() {
  static std::string path;
  return path;
}
void stopOwnServer() {
  if (ownStateFile().empty()) return;
  const std::string command =
      "bash " + shellQuoted(kScript) + " stop " + shellQuoted(ownStateFile()) + " >/dev/null 2>&1";
  (void)std::system(command.c_str());
}

std::string firstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The URL of the server's initial database `inloop`; "" when none can be had
// (the reason in `why`).
std::string serverUrl(std::string& why) {
  static std::mutex mutex;
  static std::string url;
  static std::string failure;
  std::lock_guard lock(mutex);
  if (!url.empty() || !failure.empty()) {
    why = failure;
    return url;
  }
  const std::string fixtureState = INLOOP_TEST_POSTGRES_STATE;
  if (fs::exists(fixtureState)) {
    url = firstLine(fixtureState);
  } else {
    ownStateFile() = (fs::temp_directory_path() /
                      ("inloop-pg-state-" + std::to_string(::getpid()))).string();
    const std::string command =
        "bash " + shellQuoted(kScript) + " start " + shellQuoted(ownStateFile());
    if (std::system(command.c_str()) == 0) {
      std::atexit(stopOwnServer);
      url = firstLine(ownStateFile());
    } else {
      failure = "tests/support/test_postgres.sh could not start PostgreSQL";
    }
  }
  if (url.empty() && failure.empty()) failure = "the test PostgreSQL's state file names no URL";
  why = failure;
  return url;
}

}  // namespace

std::string freshPostgresDatabase() {
  std::string why;
  const std::string url = serverUrl(why);
  if (url.empty()) FAIL("no test PostgreSQL: " << why);
  auto admin = gateway::pg::Connection::open(url);
  if (!admin) FAIL("cannot connect to the test PostgreSQL: " << admin.status().toString());
  static std::atomic<int> counter{0};
  const std::string name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  // Copied from template0: nothing left in `inloop` by other tests comes along.
  const auto st = (*admin)->exec("CREATE DATABASE " + name + " TEMPLATE template0");
  if (!st.isOk()) FAIL("cannot create a test database: " << st.toString());
  return url.substr(0, url.rfind('/') + 1) + name;
}

}  // namespace inloop::store_testing
