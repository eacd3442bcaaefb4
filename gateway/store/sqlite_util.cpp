#include "gateway/store/sqlite_util.h"

#include <sqlite3.h>

#include <climits>

namespace inloop::gateway::sqlite {

fhir::Status errorStatus(int rc, sqlite3* db, std::string_view what) {
  const int primary = rc & 0xff;
  std::string message(what);
  message += ": ";
  message += (db != nullptr && sqlite3_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
      return fhir::Status(fhir::ErrorCode::kUnavailable, std::move(message));
    default:
      return fhir::Status(fhir::ErrorCode::kIoError, std::move(message));
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Stmt::~Stmt() {
  if (statement_ == nullptr) return;
  sqlite3_reset(statement_->handle());
  sqlite3_clear_bindings(statement_->handle());
}

Stmt& Stmt::bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies, so temporaries are fine.
  return bindText(index, text, SQLITE_TRANSIENT);
}

Stmt& Stmt::bindStatic(int index, std::string_view text) {
  return bindText(index, text, SQLITE_STATIC);
}

Stmt& Stmt::bindText(int index, std::string_view text, void (*destructor)(void*)) {
  if (text.size() > static_cast<std::size_t>(INT_MAX)) {
    bindStatus_ = fhir::Status(fhir::ErrorCode::kTooLarge, "value too large for SQLite");
    return *this;
  }
  const int rc = sqlite3_bind_text(statement_->handle(), index, text.data(),
                                   static_cast<int>(text.size()), destructor);
  if (rc != SQLITE_OK && bindStatus_.isOk()) {
    bindStatus_ = errorStatus(rc, statement_->db(), "bind");
  }
  return *this;
}

Stmt& Stmt::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(statement_->handle(), index, value);
  if (rc != SQLITE_OK && bindStatus_.isOk()) {
    bindStatus_ = errorStatus(rc, statement_->db(), "bind");
  }
  return *this;
}

Stmt& Stmt::bindNull(int index) {
  const int rc = sqlite3_bind_null(statement_->handle(), index);
  if (rc != SQLITE_OK && bindStatus_.isOk()) {
    bindStatus_ = errorStatus(rc, statement_->db(), "bind");
  }
  return *this;
}

fhir::Result<bool> Stmt::next() {
  if (!bindStatus_.isOk()) return bindStatus_;
  const int rc = sqlite3_step(statement_->handle());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return errorStatus(rc, statement_->db(), "sqlite step");
}

fhir::Status Stmt::run() {
  for (;;) {
    auto row = next();
    if (!row) return row.status();
    if (!*row) return fhir::Status::ok();
  }
}

std::int64_t Stmt::int64(int column) const {
  return sqlite3_column_int64(statement_->handle(), column);
}

std::string Stmt::text(int column) const {
  const auto* data = sqlite3_column_text(statement_->handle(), column);
  const int size = sqlite3_column_bytes(statement_->handle(), column);
  if (data == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Stmt::isNull(int column) const {
  return sqlite3_column_type(statement_->handle(), column) == SQLITE_NULL;
}

void configureLibrary() {
  // sqlite3_config works only before SQLite initialises itself (at the first
  // open): later calls fail with SQLITE_MISUSE and change nothing.
  static const int kConfigured = [] {
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kStatementJournalSpillBytes);
  }();
  (void)kConfigured;
}

fhir::Result<std::unique_ptr<Database>> Database::open(const std::string& path, bool create,
                                                       int busyTimeoutMillis) {
  configureLibrary();
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 may hand back a handle even on failure; it must be closed.
  std::unique_ptr<Database> db(new Database(raw));
  if (rc != SQLITE_OK) return errorStatus(rc, raw, "cannot open " + path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busyTimeoutMillis);
  return db;
}

Database::~Database() {
  cache_.clear();  // statements must be finalized before the connection closes
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

fhir::Status Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return fhir::Status::ok();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  fhir::Status status = errorStatus(rc, nullptr, "sqlite");
  return fhir::Status(status.code(), "sqlite: " + message);
}

fhir::Result<Stmt> Database::prepare(std::string_view sql) {
  auto found = cache_.find(sql);
  if (found == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return errorStatus(rc, db_, "prepare");
    }
    found = cache_.emplace(std::string(sql), std::make_unique<Statement>(db_, stmt)).first;
  }
  return Stmt(found->second.get());
}

fhir::Result<std::int64_t> Database::queryInt(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt) return stmt.status();
  auto row = stmt->next();
  if (!row) return row.status();
  if (!*row) return fhir::Status(fhir::ErrorCode::kIoError, "no row from " + std::string(sql));
  return stmt->int64(0);
}

std::int64_t Database::lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

int Database::changes() const { return sqlite3_changes(db_); }

}  // namespace inloop::gateway::sqlite
