#pragma once

// RAII wrappers for a libpq connection (PGconn*) and a result (PGresult*), for
// the PostgreSQL store (issue 22). Statements go out with text parameters
// ($1, $2, ...; never spliced into the SQL). PostgreSQL errors become
// fhir::Status values by SQLSTATE (errorStatus below). Nothing throws.
// Thread safety: a libpq connection is not thread-safe; a Connection belongs
// to one thread at a time and the caller serialises access.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/status.h"

struct pg_conn;
struct pg_result;

namespace inloop::gateway::pg {

// A statement parameter in text form; nullopt is SQL NULL.
using Param = std::optional<std::string>;

// Status for a failed statement or connection: by SQLSTATE, a lost or refused
// connection, a deadlock, a serialization failure, a lock not available or a
// server out of resources -> kUnavailable (retry later); a unique violation ->
// kConflict; a missing database -> kNotFound; a refused login -> kUnauthorized;
// everything else -> kIoError. A connection that cannot be made has no SQLSTATE
// (libpq reports only text): kUnavailable with libpq's reason, whether the
// server is down, the database missing or the login refused. The message is "<what>: SQLSTATE <code> <primary
// message>" without the server's DETAIL, which can quote row values, and
// without the primary message of data exceptions (class 22), which quote the
// value that failed: no stored data reaches an error message.
fhir::Status errorStatus(pg_conn* conn, const pg_result* result, std::string_view what);

// The rows of one statement (owns the PGresult).
class Rows {
 public:
  explicit Rows(pg_result* result) : result_(result) {}
  ~Rows();
  Rows(Rows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Rows& operator=(Rows&& other) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const;
  // Rows affected by an INSERT, UPDATE or DELETE.
  std::int64_t affected() const;
  std::string text(int row, int column) const;
  std::int64_t int64(int row, int column) const;
  bool isNull(int row, int column) const;

 private:
  pg_result* result_;
};

struct ConnectOptions {
  // Used unless the URL sets connect_timeout itself.
  int connectTimeoutSeconds = 10;
};

class Connection {
 public:
  // Connects to `url`: a libpq connection URI (postgresql://...) or key=value
  // string, with whatever it sets (sslmode=verify-full, sslrootcert, passfile,
  // ...). kInvalid when libpq cannot parse it; a failed connection as
  // errorStatus (kUnavailable when the server cannot be reached).
  static fhir::Result<std::unique_ptr<Connection>> open(const std::string& url,
                                                        const ConnectOptions& options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without parameters or rows (DDL, BEGIN, COMMIT).
  fhir::Status exec(const std::string& sql);
  // Runs one statement with text parameters $1..$n.
  fhir::Result<Rows> query(const std::string& sql, const std::vector<Param>& params = {});
  // A single-value integer query; kNotFound when it returns no row or NULL.
  fhir::Result<std::int64_t> queryInt(const std::string& sql,
                                      const std::vector<Param>& params = {});

  // false once the server connection is gone (the pool drops such connections).
  bool healthy() const;
  pg_conn* handle() const { return conn_; }

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
};

// Connections to one database for several threads: a thread takes one for
// one unit of work (a transaction) and gives it back; a connection found
// broken is dropped, and the next acquire() connects anew, so a restarted
// server costs the calls in flight (kUnavailable), not the pool.
class Pool {
 public:
  // Keeps at most `maxIdle` idle connections; more are opened while more
  // threads work at once, and closed when given back.
  Pool(std::string url, ConnectOptions options, std::size_t maxIdle);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    ~Lease();
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // An idle connection, or a new one (errors as Connection::open).
  fhir::Result<Lease> acquire();

  // Runs `work` in one transaction on a pooled connection: COMMIT when it
  // returns ok, ROLLBACK otherwise (its Status is returned either way).
  fhir::Status inTransaction(const std::function<fhir::Status(Connection&)>& work);

 private:
  void giveBack(std::unique_ptr<Connection> conn);

  const std::string url_;
  const ConnectOptions options_;
  const std::size_t maxIdle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

// Checks `url` as libpq will read it without connecting: kInvalid with libpq's
// reason when it cannot be parsed (check-config reports it).
fhir::Status checkUrl(const std::string& url);

}  // namespace inloop::gateway::pg
