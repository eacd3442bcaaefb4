#pragma once

// Daemon: everything `inloop serve` runs, wired together and started: the
// SQLite store (dataDir/inloop.db), the mapping tables (mappingsDir), the
// ingest pipeline, the delivery engine and its alerts (gateway/delivery/), the
// HTTP(S) API (gateway/server/api_handler.h), metrics and the JSON logger.
// Tests start it in-process on port 0; cmd_serve wraps it in a POCO
// ServerApplication.
//
// Lifecycle: start() -> serving; reload() any number of times (SIGHUP,
// POST /admin/reload); stop() (or the destructor): stop accepting connections,
// let in-flight requests finish, then close the store (queued writes drain).
// Thread safety: reload() and port() may be called from any thread;
// stop() once, from the owning thread.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "fhir/issue.h"
#include "fhir/status.h"
#include "gateway/config/daemon_config.h"

namespace inloop::gateway {

class ChangeSignal;
class Clock;
class Store;

class Daemon {
 public:
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Opens the store, loads the tables and starts listening. Logs go to `logOut`
  // (must outlive the daemon); the first line after start-up is
  // {"event":"listening","port":N,...}. Failures (bad mapping tables, store
  // cannot be opened, port in use, TLS files unreadable) are a Status whose
  // message says what and where; the issues of bad tables are also logged.
  static fhir::Result<std::unique_ptr<Daemon>> start(const DaemonConfig& config,
                                                     std::ostream& logOut);

  // Opens the store the daemon works on, with the daemon's clock. The default
  // (start() above) is the SQLite store in the data directory, with the
  // configured payload keys and limits; tests that do not test the store give
  // another (gateway/store/memory_store.h).
  using StoreOpener = std::function<fhir::Result<std::unique_ptr<Store>>(Clock& clock)>;
  static fhir::Result<std::unique_ptr<Daemon>> start(const DaemonConfig& config,
                                                     std::ostream& logOut,
                                                     const StoreOpener& openStore);

  // The port actually bound (useful with port 0).
  std::uint16_t port() const;

  // Re-reads the configuration file (config.configFile, with the command
  // line's overrides applied again), the mapping tables and the destinations,
  // validates all of them and installs them only when all are valid (errors in
  // the report: rejected, the old set keeps serving, and a "reload-rejected"
  // alert fires). Live: tokens, logLevel, metricsRequireAuth, mappingsDir,
  // destinationsFile, alerts; other changed settings
  // are kept at their running value and named in report.needsRestart, a
  // warning issue and a "config-needs-restart" log line. Then records stored
  // as unroutable whose practice now has a route are queued for delivery.
  // Logged and audited with `principal`.
  ReloadReport reload(const std::string& principal);

  // Notified after every change the daemon makes that can be observed from
  // outside (an accepted ingest, a delivery attempt or publication, an
  // operator action, an inbox file, an alert post, a batch admitted, a
  // connection ended): tests wait on it (ChangeSignal::waitFor) instead of
  // polling. Valid until the daemon is destroyed.
  ChangeSignal& changes();

  // Stops accepting, drains in-flight requests, closes the store. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace inloop::gateway
