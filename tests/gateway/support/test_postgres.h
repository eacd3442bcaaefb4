#pragma once

// The PostgreSQL the store tests run against (issue 22): a throwaway server
// from tests/support/test_postgres.sh. Under ctest it is started once per run
// by the fixture `postgres` (tests/CMakeLists.txt) and its URL read from the
// fixture's state file; a test binary run by hand without that file starts
// one of its own on first use and stops it at exit. When no server can be had
// the calling test FAILS: it never passes without PostgreSQL.

#include <string>

namespace inloop::store_testing {

// The URL of a new, empty database on the test server (one per call, so
// tests running at the same time do not see each other's rows).
std::string freshPostgresDatabase();

}  // namespace inloop::store_testing
