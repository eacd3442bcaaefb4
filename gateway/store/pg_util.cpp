#include "gateway/store/pg_util.h"

#include <libpq-fe.h>

#include <charconv>

namespace inloop::gateway::pg {

namespace {

using fhir::ErrorCode;

ErrorCode codeForSqlState(std::string_view state) {
  if (state.size() != 5) return ErrorCode::kUnavailable;  // no server answer at all
  const std::string_view cls = state.substr(0, 2);
  // 08 connection exception, 53 insufficient resources, 57P0x the server is
  // shutting down or starting, 40001 serialization failure, 40P01 deadlock,
  // 55P03 lock not available: all pass; the caller retries.
  if (cls == "08" || cls == "53" || state == "57P01" || state == "57P02" || state == "57P03" ||
      state == "40001" || state == "40P01" || state == "55P03") {
    return ErrorCode::kUnavailable;
  }
  if (state == "23505") return ErrorCode::kConflict;
  if (state == "3D000") return ErrorCode::kNotFound;
  if (cls == "28") return ErrorCode::kUnauthorized;
  return ErrorCode::kIoError;
}

// libpq's connection-level message ("connection to server ... failed: ...")
// on one line: it names the host, never stored data.
std::string connectionMessage(pg_conn* conn) {
  std::string message = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return message;
}

void ignoreNotice(void*, const char*) {}

}  // namespace

fhir::Status errorStatus(pg_conn* conn, const pg_result* result, std::string_view what) {
  std::string message(what);
  message += ": ";
  const char* state =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (state == nullptr) {
    // No SQLSTATE: the statement never reached the server or the connection broke.
    message += connectionMessage(conn);
    return fhir::Status(ErrorCode::kUnavailable, std::move(message));
  }
  const std::string_view code(state);
  message += "SQLSTATE ";
  message += code;
  if (code.substr(0, 2) != "22") {
    if (const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) {
      message += " ";
      message += primary;
    }
  }
  return fhir::Status(codeForSqlState(code), std::move(message));
}

Rows::~Rows() { PQclear(result_); }

Rows& Rows::operator=(Rows&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

int Rows::size() const { return result_ != nullptr ? PQntuples(result_) : 0; }

std::int64_t Rows::affected() const {
  const char* n = result_ != nullptr ? PQcmdTuples(result_) : "";
  std::int64_t value = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), value);
  return value;
}

std::string Rows::text(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     static_cast<std::size_t>(PQgetlength(result_, row, column)));
}

std::int64_t Rows::int64(int row, int column) const {
  const char* begin = PQgetvalue(result_, row, column);
  std::int64_t value = 0;
  std::from_chars(begin, begin + PQgetlength(result_, row, column), value);
  return value;
}

bool Rows::isNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

fhir::Status checkUrl(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &error);
  if (parsed == nullptr) {
    std::string reason = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    return fhir::Status(ErrorCode::kInvalid, "not a PostgreSQL connection URL: " + reason);
  }
  PQconninfoFree(parsed);
  return fhir::Status::ok();
}

fhir::Result<std::unique_ptr<Connection>> Connection::open(const std::string& url,
                                                           const ConnectOptions& options) {
  if (auto st = checkUrl(url); !st.isOk()) return st;
  // The URL comes last and is expanded (expand_dbname), so what it sets wins
  // over these defaults.
  const std::string timeout = std::to_string(options.connectTimeoutSeconds);
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "inloop", url.c_str(), nullptr};
  pg_conn* conn = PQconnectdbParams(keywords, values, 1);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    fhir::Status st = errorStatus(conn, nullptr, "cannot connect to PostgreSQL");
    PQfinish(conn);
    return st;
  }
  // Notices ("relation already exists, skipping") would go to stderr.
  PQsetNoticeProcessor(conn, ignoreNotice, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

namespace {

// A statement's result as Rows, or the error it reports.
fhir::Result<Rows> checked(pg_conn* conn, pg_result* result, std::string_view what) {
  Rows rows(result);
  const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return rows;
  return errorStatus(conn, result, what);
}

}  // namespace

fhir::Status Connection::exec(const std::string& sql) {
  auto rows = checked(conn_, PQexec(conn_, sql.c_str()), "statement failed");
  return rows.isOk() ? fhir::Status::ok() : rows.status();
}

fhir::Result<Rows> Connection::query(const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  // Text parameters whose types the server infers from the statement.
  return checked(conn_,
                 PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0),
                 "statement failed");
}

fhir::Result<std::int64_t> Connection::queryInt(const std::string& sql,
                                                const std::vector<Param>& params) {
  auto rows = query(sql, params);
  if (!rows) return rows.status();
  if (rows->size() == 0 || rows->isNull(0, 0)) {
    return fhir::Status(ErrorCode::kNotFound, "query returned no value");
  }
  return rows->int64(0, 0);
}

Pool::Pool(std::string url, ConnectOptions options, std::size_t maxIdle)
    : url_(std::move(url)), options_(options), maxIdle_(maxIdle) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->giveBack(std::move(conn_));
}

fhir::Result<Pool::Lease> Pool::acquire() {
  {
    std::lock_guard lock(mutex_);
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->healthy()) return Lease(this, std::move(conn));
    }
  }
  // Connecting takes a round trip or more: not under the lock.
  auto conn = Connection::open(url_, options_);
  if (!conn) return conn.status();
  return Lease(this, std::move(conn).value());
}

void Pool::giveBack(std::unique_ptr<Connection> conn) {
  // A connection left inside a transaction (a failed ROLLBACK) or broken is
  // not used again.
  if (!conn->healthy() || PQtransactionStatus(conn->handle()) != PQTRANS_IDLE) return;
  std::lock_guard lock(mutex_);
  if (idle_.size() < maxIdle_) idle_.push_back(std::move(conn));
}

fhir::Status Pool::inTransaction(const std::function<fhir::Status(Connection&)>& work) {
  auto lease = acquire();
  if (!lease) return lease.status();
  Connection& conn = **lease;
  if (auto st = conn.exec("BEGIN"); !st.isOk()) return st;
  fhir::Status st = work(conn);
  // COMMIT of a transaction a statement failed in rolls back and still
  // answers ok: a failure `work` did not pass on must not read as committed.
  if (st.isOk() && PQtransactionStatus(conn.handle()) == PQTRANS_INERROR) {
    st = fhir::Status(ErrorCode::kInternal, "a statement failed inside the transaction");
  }
  if (st.isOk()) st = conn.exec("COMMIT");
  if (!st.isOk()) (void)conn.exec("ROLLBACK");
  return st;
}

bool Connection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

}  // namespace inloop::gateway::pg
