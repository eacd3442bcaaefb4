#pragma once

// RAII wrappers for sqlite3* and sqlite3_stmt* with a per-connection cache of
// prepared statements. SQLite result codes become fhir::Status values:
// SQLITE_BUSY, SQLITE_LOCKED and SQLITE_FULL -> kUnavailable (retry later),
// everything else -> kIoError. Nothing throws.
// Thread safety: a Database (and its statements) belongs to one thread at a
// time; the caller serialises access.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "fhir/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace inloop::gateway::sqlite {

// Statement and savepoint journals (the pages a savepoint may have to restore)
// stay in memory up to this size, then spill to a temporary file. SQLite's
// default, 64 KiB, is less than one ingested record's pages: the group
// commit's per-job savepoint created, wrote and deleted a file in /var/tmp for
// nearly every job.
inline constexpr int kStatementJournalSpillBytes = 16 << 20;

// Process-wide SQLite settings (kStatementJournalSpillBytes); idempotent. Must
// run before SQLite initialises, so Database::open and anything else that
// initialises SQLite (the store fault hook) call it first.
void configureLibrary();

// Status for SQLite result code `rc` ("<what>: <sqlite message>").
fhir::Status errorStatus(int rc, sqlite3* db, std::string_view what);

// A prepared statement owned by the Database cache. Use through Stmt.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  sqlite3_stmt* handle() const { return stmt_; }
  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One use of a cached statement: binds, steps, reads columns; the destructor
// resets it and clears its bindings so the next use starts clean. Indexes of
// bind* are 1-based, of column* 0-based (as in SQLite).
class Stmt {
 public:
  explicit Stmt(Statement* statement) : statement_(statement) {}
  ~Stmt();
  Stmt(Stmt&& other) noexcept : statement_(other.statement_) { other.statement_ = nullptr; }
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int index, std::string_view text);
  // Binds `text` without copying it (SQLITE_STATIC): it must stay as it is
  // until this Stmt is destroyed. For large payloads that outlive the write.
  Stmt& bindStatic(int index, std::string_view text);
  Stmt& bind(int index, std::int64_t value);
  Stmt& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Stmt& bindNull(int index);

  // true: a row is available; false: done. Errors as Status.
  fhir::Result<bool> next();
  // Steps to completion (for statements without rows).
  fhir::Status run();

  std::int64_t int64(int column) const;
  std::string text(int column) const;
  bool isNull(int column) const;

 private:
  Stmt& bindText(int index, std::string_view text, void (*destructor)(void*));

  Statement* statement_;
  fhir::Status bindStatus_;
};

class Database {
 public:
  // Opens `path` (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE when `create`,
  // SQLITE_OPEN_NOMUTEX: one thread at a time) and sets busy_timeout.
  static fhir::Result<std::unique_ptr<Database>> open(const std::string& path, bool create,
                                                      int busyTimeoutMillis);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without results.
  fhir::Status exec(std::string_view sql);
  // A cached prepared statement for `sql` (prepared on first use).
  fhir::Result<Stmt> prepare(std::string_view sql);
  // Runs a single-value query ("PRAGMA user_version").
  fhir::Result<std::int64_t> queryInt(std::string_view sql);

  std::int64_t lastInsertRowid() const;
  int changes() const;
  sqlite3* handle() const { return db_; }

 private:
  // Looked up by string_view: no copy of the SQL text per use.
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const {
      return std::hash<std::string_view>{}(sql);
    }
  };

  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<Statement>, SqlHash, std::equal_to<>> cache_;
};

}  // namespace inloop::gateway::sqlite
