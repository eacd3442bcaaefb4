// The PostgreSQL store's building blocks (issue 22) against a real PostgreSQL
// 15 (tests/gateway/support/test_postgres.h): the schema migrations under the
// advisory lock, and how libpq errors become Status values.

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/store/pg_migrations.h"
#include "gateway/store/pg_util.h"
#include "gateway/store/sqlite_store.h"
#include "tests/gateway/support/test_postgres.h"

namespace inloop::gateway {
namespace {

std::unique_ptr<pg::Connection> connect(const std::string& url) {
  auto conn = pg::Connection::open(url);
  INFO(conn.status().toString());
  REQUIRE(conn.isOk());
  return std::move(conn).value();
}

std::int64_t count(pg::Connection& conn, const std::string& sql) {
  auto n = conn.queryInt(sql);
  INFO(n.status().toString());
  REQUIRE(n.isOk());
  return *n;
}

TEST_CASE("PostgreSQL migrations bring an empty database to the store's schema version once",
          "[gateway][store][postgres]") {
  auto conn = connect(store_testing::freshPostgresDatabase());
  auto before = pg::schemaVersion(*conn);
  REQUIRE(before.isOk());
  CHECK(*before == 0);

  REQUIRE(pg::migrate(*conn, kStoreSchemaVersion).isOk());
  auto after = pg::schemaVersion(*conn);
  REQUIRE(after.isOk());
  CHECK(*after == kStoreSchemaVersion);
  // Every table of the SQLite schema is there (kept_shapes is the latest).
  CHECK(count(*conn, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND "
                     "tablename IN ('meta','records','record_versions','translations','outbox',"
                     "'outbox_heads','audit','attempts','medication_lists','notices',"
                     "'kept_shapes')") == 11);

  // Again: nothing to do, no version applied twice.
  REQUIRE(pg::migrate(*conn, kStoreSchemaVersion).isOk());
  CHECK(count(*conn, "SELECT COUNT(*) FROM inloop_schema") == kStoreSchemaVersion);
}

TEST_CASE("instances starting together on one PostgreSQL database migrate it once",
          "[gateway][store][postgres]") {
  const std::string url = store_testing::freshPostgresDatabase();
  constexpr int kInstances = 4;
  std::vector<std::unique_ptr<pg::Connection>> conns;
  for (int i = 0; i < kInstances; ++i) conns.push_back(connect(url));
  std::vector<fhir::Status> results(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] { results[i] = pg::migrate(*conns[i], kStoreSchemaVersion); });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) {
    INFO(st.toString());
    CHECK(st.isOk());
  }
  CHECK(count(*conns[0], "SELECT COUNT(*) FROM inloop_schema") == kStoreSchemaVersion);
  CHECK(count(*conns[0], "SELECT COUNT(DISTINCT version) FROM inloop_schema") ==
        kStoreSchemaVersion);
}

TEST_CASE("a PostgreSQL database newer than this inloop is refused and left unchanged",
          "[gateway][store][postgres]") {
  auto conn = connect(store_testing::freshPostgresDatabase());
  REQUIRE(pg::migrate(*conn, kStoreSchemaVersion).isOk());
  REQUIRE(conn->exec("INSERT INTO inloop_schema(version) VALUES (" +
                     std::to_string(kStoreSchemaVersion + 1) + ")")
              .isOk());
  const fhir::Status st = pg::migrate(*conn, kStoreSchemaVersion);
  CHECK(st.code() == fhir::ErrorCode::kUnsupported);
  CHECK(st.message().find("newer than this inloop supports") != std::string::npos);
  CHECK(count(*conn, "SELECT MAX(version) FROM inloop_schema") == kStoreSchemaVersion + 1);
}

TEST_CASE("PostgreSQL errors map to Status codes and quote no stored value",
          "[gateway][store][postgres]") {
  SECTION("a malformed URL is invalid before any connection is tried") {
    CHECK(pg::checkUrl("postgresql://[::1/inloop").code() == fhir::ErrorCode::kInvalid);
    CHECK(pg::checkUrl("postgresql://db.example/inloop?sslmode=verify-full").isOk());
    CHECK(pg::Connection::open("postgresql://[::1/inloop").status().code() ==
          fhir::ErrorCode::kInvalid);
  }
  SECTION("a server that is not there is unavailable (retry later)") {
    auto conn = pg::Connection::open("postgresql://inloop@%2Fnonexistent-inloop-socket/inloop");
    CHECK(conn.status().code() == fhir::ErrorCode::kUnavailable);
  }
  SECTION("a refused connection is unavailable and says why (libpq gives no SQLSTATE)") {
    std::string url = store_testing::freshPostgresDatabase();
    url = url.substr(0, url.rfind('/') + 1) + "no_such_database";
    const auto conn = pg::Connection::open(url);
    CHECK(conn.status().code() == fhir::ErrorCode::kUnavailable);
    CHECK(conn.status().message().find("does not exist") != std::string::npos);
  }
  SECTION("a unique violation is a conflict; the message has no row value") {
    auto conn = connect(store_testing::freshPostgresDatabase());
    REQUIRE(pg::migrate(*conn, kStoreSchemaVersion).isOk());
    const std::string sql = "INSERT INTO meta(key, value) VALUES ($1, $2)";
    REQUIRE(conn->query(sql, {"mrn-synthetic-77", "v"}).isOk());
    const auto again = conn->query(sql, {"mrn-synthetic-77", "v"});
    CHECK(again.status().code() == fhir::ErrorCode::kConflict);
    CHECK(again.status().message().find("23505") != std::string::npos);
    CHECK(again.status().message().find("mrn-synthetic-77") == std::string::npos);
  }
  SECTION("a data exception does not echo the value") {
    auto conn = connect(store_testing::freshPostgresDatabase());
    const auto bad = conn->query("SELECT $1::bigint", {"mrn-synthetic-78"});
    CHECK(bad.status().code() == fhir::ErrorCode::kIoError);
    CHECK(bad.status().message().find("mrn-synthetic-78") == std::string::npos);
  }
}

TEST_CASE("the PostgreSQL pool commits or rolls back whole and replaces a lost connection",
          "[gateway][store][postgres]") {
  const std::string url = store_testing::freshPostgresDatabase();
  pg::Pool pool(url, pg::ConnectOptions{}, 2);
  {
    auto lease = pool.acquire();
    REQUIRE(lease.isOk());
    REQUIRE(pg::migrate(**lease, kStoreSchemaVersion).isOk());
  }
  auto admin = connect(url);
  const std::string insert = "INSERT INTO meta(key, value) VALUES ($1, 'v')";

  SECTION("a failed unit of work leaves nothing") {
    const fhir::Status st = pool.inTransaction([&](pg::Connection& conn) {
      if (auto r = conn.query(insert, {"a"}); !r) return r.status();
      return conn.query(insert, {"a"}).status();  // a conflict: the first row goes too
    });
    CHECK(st.code() == fhir::ErrorCode::kConflict);
    CHECK(count(*admin, "SELECT COUNT(*) FROM meta") == 0);
  }
  SECTION("a failure the work did not pass on is not committed") {
    const fhir::Status st = pool.inTransaction([&](pg::Connection& conn) {
      (void)conn.query(insert, {"b"});
      (void)conn.query(insert, {"b"});
      return fhir::Status::ok();
    });
    CHECK(st.code() == fhir::ErrorCode::kInternal);
    CHECK(count(*admin, "SELECT COUNT(*) FROM meta") == 0);
  }
  SECTION("threads at once each get a connection") {
    std::vector<std::thread> threads;
    std::vector<fhir::Status> results(4);
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] {
        results[i] = pool.inTransaction([&](pg::Connection& conn) {
          return conn.query(insert, {"k" + std::to_string(i)}).status();
        });
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& st : results) CHECK(st.isOk());
    CHECK(count(*admin, "SELECT COUNT(*) FROM meta") == 4);
  }
  SECTION("a connection the server ended fails its call, and the next call reconnects") {
    std::int64_t pid = 0;
    {
      auto lease = pool.acquire();
      REQUIRE(lease.isOk());
      pid = count(**lease, "SELECT pg_backend_pid()");
    }
    REQUIRE(admin->query("SELECT pg_terminate_backend($1)", {std::to_string(pid)}).isOk());
    const fhir::Status lost = pool.inTransaction(
        [&](pg::Connection& conn) { return conn.query(insert, {"c"}).status(); });
    CHECK(lost.code() == fhir::ErrorCode::kUnavailable);
    const fhir::Status again = pool.inTransaction(
        [&](pg::Connection& conn) { return conn.query(insert, {"c"}).status(); });
    INFO(again.toString());
    CHECK(again.isOk());
    CHECK(count(*admin, "SELECT COUNT(*) FROM meta") == 1);
  }
}

}  // namespace
}  // namespace inloop::gateway
