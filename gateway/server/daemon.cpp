#include "gateway/server/daemon.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/change_signal.h"
#include "gateway/base/clock.h"
#include "gateway/config/destinations_config.h"
#include "gateway/config/payload_keys.h"
#include "gateway/config/secret_files.h"
#include "gateway/config/tables_dir.h"
#include "gateway/delivery/alerts.h"
#include "gateway/delivery/engine.h"
#include "gateway/delivery/operations.h"
#include "gateway/ingest/inbox.h"
#include "gateway/ingest/ingest_pipeline.h"
#include "gateway/log/json_logger.h"
#include "gateway/reports/patient_summary.h"
#include "gateway/server/api_handler.h"
#include "gateway/server/auth.h"
#include "gateway/server/connection_gate.h"
#include "gateway/server/metrics.h"
#include "gateway/store/retention.h"
#include "gateway/store/sqlite_store.h"
#include "gateway/store/store.h"
#include "gateway/version.h"
#include "mappings/tables/tables.h"

namespace inloop::gateway {

namespace {

fhir::Json issuesToJson(const fhir::Issues& issues) {
  fhir::Json list = fhir::Json::array();
  for (const fhir::Issue& i : issues) {
    fhir::Json o = fhir::Json::object();
    o.set("severity", fhir::Json::string(fhir::severityName(i.severity)));
    o.set("path", fhir::Json::string(i.path));
    o.set("message", fhir::Json::string(i.message));
    list.push(std::move(o));
  }
  return list;
}

// Stored JSON back into a value; a stored payload always parses, so a failure
// is reported as the text itself rather than losing it.
fhir::Json storedJson(const std::string& text) {
  if (text.empty()) return fhir::Json();
  fhir::Result<fhir::Json> v = fhir::parseJson(text, kStoredJsonLimits);
  return v.isOk() ? std::move(v).value() : fhir::Json::string(text);
}

fhir::Json receiptToJson(const Receipt& r) {
  fhir::Json o = fhir::Json::object();
  o.set("receiptId", fhir::Json::string(r.receiptId));
  o.set("recordId", fhir::Json::string(r.recordId));
  o.set("version", fhir::Json::number(r.version));
  o.set("status", fhir::Json::string("accepted"));
  o.set("receivedAt", fhir::Json::string(r.receivedAt));
  return o;
}

fhir::Json recordViewToJson(const RecordView& v) {
  fhir::Json o = fhir::Json::object();
  o.set("recordId", fhir::Json::string(v.recordId));
  o.set("recordType", fhir::Json::string(v.recordType));
  o.set("practiceId", fhir::Json::string(v.practiceId));
  o.set("version", fhir::Json::number(v.latestVersion));
  o.set("receipt", receiptToJson(v.receipt));
  o.set("purged", fhir::Json::boolean(v.purged));
  o.set("record", storedJson(v.recordJson));
  o.set("translation", storedJson(v.bundleJson));
  fhir::Json versions = fhir::Json::array();
  for (const VersionInfo& vi : v.versions) {
    fhir::Json e = fhir::Json::object();
    e.set("version", fhir::Json::number(vi.version));
    e.set("receivedAt", fhir::Json::string(formatInstant(vi.receivedAtMillis)));
    e.set("contentHash", fhir::Json::string(vi.contentHash));
    e.set("receiptId", fhir::Json::string(vi.receiptId));
    if (vi.purged) e.set("purged", fhir::Json::boolean(true));
    versions.push(std::move(e));
  }
  o.set("versions", std::move(versions));
  fhir::Json deliveries = fhir::Json::array();
  for (const DeliveryState& d : v.deliveries) {
    fhir::Json e = fhir::Json::object();
    e.set("destination", fhir::Json::string(d.destinationId));
    e.set("version", fhir::Json::number(d.version));
    e.set("state", fhir::Json::string(outboxStateName(d.state)));
    e.set("attempts", fhir::Json::number(d.attempts));
    if (d.lastStatus != 0) e.set("lastStatus", fhir::Json::number(std::int64_t{d.lastStatus}));
    if (!d.lastError.empty()) e.set("lastError", fhir::Json::string(d.lastError));
    if (!d.reason.empty()) e.set("reason", fhir::Json::string(d.reason));
    e.set("updatedAt", fhir::Json::string(formatInstant(d.updatedAtMillis)));
    deliveries.push(std::move(e));
  }
  o.set("deliveries", std::move(deliveries));
  return o;
}

Poco::Net::Context::Ptr makeServerContext(const TlsConfig& tls) {
  Poco::Net::Context::Params params;
  params.certificateFile = tls.certificateFile;
  params.privateKeyFile = tls.privateKeyFile;
  params.caLocation = tls.caFile;
  params.loadDefaultCAs = false;
  switch (tls.verifyClient) {
    case ClientVerification::kNone:
      params.verificationMode = Poco::Net::Context::VERIFY_NONE;
      break;
    case ClientVerification::kOptional:
      params.verificationMode = Poco::Net::Context::VERIFY_RELAXED;
      break;
    case ClientVerification::kRequired:
      params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
      break;
  }
  params.verificationDepth = 9;
  params.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES";
  Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
  ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
  return ctx;
}

}  // namespace

namespace {

// An exclusive flock(2) on DATA_DIR/inloop.lock for the life of the serve
// process: two daemons delivering from one SQLite store would each take the
// other's leases for dead ones. The kernel drops the lock when the process
// dies, however it dies. CLI commands reading the store do not take it.
class DataDirLock {
 public:
  DataDirLock() = default;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock() { release(); }
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  fhir::Status acquire(const std::string& dataDir) {
    const std::string path = (std::filesystem::path(dataDir) / "inloop.lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      return fhir::Status(fhir::ErrorCode::kIoError,
                          "cannot open " + path + ": " + std::strerror(errno));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      char pid[32] = {};
      const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK) {
        std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
          holder.pop_back();
        }
        return fhir::Status(fhir::ErrorCode::kConflict,
                            "another inloop serve" +
                                (holder.empty() ? "" : " (pid " + holder + ")") +
                                " is using the data directory " + dataDir);
      }
      return fhir::Status(fhir::ErrorCode::kIoError,
                          "cannot lock " + path + ": " + std::strerror(err));
    }
    // For operators: which process holds it.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      // Informational only; the lock itself is held.
    }
    return fhir::Status::ok();
  }

 private:
  int fd_ = -1;
};

}  // namespace

struct Daemon::Impl {
  Impl(const DaemonConfig& c, std::ostream& out)
      : config(c), logger(out, logLevelFromName(c.logLevel), &clock) {}

  DaemonConfig config;
  SystemClock clock;  // before the logger, which stamps its lines with it
  JsonLogger logger;
  DataDirLock dataDirLock;  // released after the store is closed
  std::unique_ptr<Store> store;
  MappingTablesHolder tables;
  Metrics metrics;
  std::unique_ptr<DeliveryRouter> router;
  ChangeSignal changes;  // before everything that notifies it
  std::unique_ptr<DeliveryEngine> engine;
  std::unique_ptr<DeliveryOperations> operations;
  std::unique_ptr<Alerter> alerter;  // after engine: stopped (destroyed) before it
  std::unique_ptr<IngestPipeline> pipeline;
  std::unique_ptr<Inbox> inbox;  // after pipeline: destroyed (stopped) before it
  // Scheduled retention (config.retention.purgeAfterDays > 0).
  std::thread retention;
  std::mutex retentionMutex;
  std::condition_variable retentionCv;
  bool retentionStopping = false;
  std::unique_ptr<Authenticator> auth;
  std::mutex reloadMutex;
  std::atomic<bool> metricsRequireAuth{true};
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<RequestDeadlines> deadlines;  // outlives the server's connections
  Poco::AutoPtr<ConnectionGate> gate;           // shared with the server and its connections
  Poco::Net::HTTPRequestHandlerFactory::Ptr handlers;
  ApiHandlerFactory* api = nullptr;  // = handlers
  std::unique_ptr<Poco::Net::TCPServer> server;
  bool sslInitialized = false;
  bool stopped = false;

  // Reads the configuration file again (with the command line's overrides),
  // then the mapping tables and destinations it names; installs everything or
  // nothing. Settings that cannot change while serving are named, not applied.
  ReloadReport reload(const std::string& principal) {
    std::lock_guard<std::mutex> lock(reloadMutex);
    ReloadReport report;
    fhir::Json f = fhir::Json::object();
    auto reject = [&](std::string_view stage) {
      metrics.observeReload(false);
      f.set("issues", issuesToJson(report.issues));
      logger.log(LogLevel::kError, std::string(stage) + "-rejected", f);
      audit(principal, "rejected", fhir::formatIssues(report.issues));
      alerter->reloadRejected(
          stage, static_cast<std::size_t>(std::count_if(
                     report.issues.begin(), report.issues.end(),
                     [](const fhir::Issue& i) { return i.severity <= fhir::Severity::kError; })));
      return report;
    };
    DaemonConfigLoad reread = rereadDaemonConfig(config);
    report.issues = std::move(reread.issues);
    if (!reread.config) {
      f.set("configFile", fhir::Json::string(config.configFile));
      return reject("config");
    }
    DaemonConfig next = std::move(*reread.config);
    f.set("mappingsDir", fhir::Json::string(next.mappingsDir));
    MappingTablesRead read = readMappingTablesDir(next.mappingsDir);
    for (fhir::Issue& i : read.issues) report.issues.push_back(std::move(i));
    if (!read.tables) {
      if (!fhir::hasErrors(report.issues)) {
        fhir::addError(&report.issues, "exception", next.mappingsDir, "no tables were loaded");
      }
      return reject("mappings");
    }
    // Destinations are checked before anything is installed: a reload is
    // all or nothing, so tables and routes never come from different attempts.
    DestinationsLoad dest = loadDestinations(next);
    for (fhir::Issue& i : dest.issues) report.issues.push_back(i);
    if (!dest.config) return reject("destinations");

    report.needsRestart = settingsNeedingRestart(config, next);
    for (const std::string& name : report.needsRestart) {
      fhir::addWarning(&report.issues, "not-supported", config.configFile + ": " + name,
                       "\"" + name +
                           "\" changed; it takes effect at the next restart (the "
                           "running value is kept)");
    }
    report.mappingTablesVersion = read.tables->version;
    f.set("mappingTablesVersion", fhir::Json::string(read.tables->version));
    tables.replace(std::move(read.tables));
    installDestinations(std::move(dest));
    auth->replaceTokens(next.tokens);
    logger.setLevel(logLevelFromName(next.logLevel));
    metricsRequireAuth.store(next.metricsRequireAuth);
    config.tokens = next.tokens;
    config.logLevel = next.logLevel;
    config.metricsRequireAuth = next.metricsRequireAuth;
    config.mappingsDir = next.mappingsDir;
    config.destinationsFile = next.destinationsFile;
    if (next.alerts != config.alerts) {
      alerter->reconfigure(next.alerts);
      config.alerts = next.alerts;
      logger.log(LogLevel::kInfo, "alerts-reloaded");
    }
    alerter->reloadApplied();
    metrics.observeReload(true);
    logger.log(LogLevel::kInfo, "mappings-loaded", f);
    if (!report.needsRestart.empty()) {
      fhir::Json w = fhir::Json::object();
      fhir::Json names = fhir::Json::array();
      for (const std::string& name : report.needsRestart) names.push(fhir::Json::string(name));
      w.set("settings", std::move(names));
      w.set("configFile", fhir::Json::string(config.configFile));
      logger.log(LogLevel::kWarning, "config-needs-restart", w);
    }
    routeAgain(principal, &report);
    audit(principal, "reloaded",
          "tables " + report.mappingTablesVersion + "; routed " + std::to_string(report.routed) +
              " unroutable records" +
              (report.needsRestart.empty() ? std::string() : "; needs a restart"));
    return report;
  }

  // Records left unroutable go to the destinations a reload gave their practice.
  void routeAgain(const std::string& principal, ReloadReport* report) {
    fhir::Result<RouteAgainResult> routed = operations->routeUnroutable(*router, principal);
    fhir::Json f = fhir::Json::object();
    if (!routed.isOk()) {
      fhir::addWarning(&report->issues, "exception", "",
                       "unroutable records were not all routed: " + routed.status().message());
      f.set("error", fhir::Json::string(routed.status().message()));
      logger.log(LogLevel::kError, "route-unroutable-failed", f);
      return;
    }
    report->routed = routed->routed;
    report->stillUnroutable = routed->stillUnroutable;
    if (routed->routed == 0) return;
    f.set("routed", fhir::Json::number(routed->routed));
    f.set("stillUnroutable", fhir::Json::number(routed->stillUnroutable));
    logger.log(LogLevel::kInfo, "unroutable-routed", f);
  }

  void audit(const std::string& principal, const char* outcome, const std::string& detail) {
    AuditEntry entry;
    entry.principal = principal;
    entry.action = "reload";
    entry.outcome = outcome;
    entry.source = config.configFile;
    entry.detail = detail.substr(0, 2000);
    (void)store->appendAudit(std::move(entry));  // best effort: the log line has it too
  }

  // The SQLite store in the data directory, with the configured payload keys
  // and limits; the error names the file.
  static fhir::Result<std::unique_ptr<Store>> openConfiguredStore(
      const DaemonConfig& config, std::shared_ptr<const PayloadKeyRing> payloadKeys, Clock& clock) {
    SqliteStoreOptions storeOptions;
    storeOptions.payloadKeys = std::move(payloadKeys);
    storeOptions.payloadKeyFile = config.encryption.keyFile;
    storeOptions.maxQueuedItems = config.storeQueueCapacity;
    storeOptions.busyTimeoutMillis = static_cast<int>(config.storeBusyTimeoutMs);
    const std::string storePath = storePathIn(config.dataDir);
    fhir::Result<std::unique_ptr<Store>> store = openSqliteStore(storePath, storeOptions, clock);
    if (!store.isOk()) {
      return fhir::Status(store.status().code(),
                          "cannot open the store " + storePath + ": " + store.status().message());
    }
    return store;
  }

  static DestinationsLoad loadDestinations(const DaemonConfig& c) {
    std::optional<std::string> file;
    if (!c.destinationsFile.empty()) file = c.destinationsFile;
    return gateway::loadDestinations(file, c.routeFlags);
  }

  // `quiet`: at start-up, where the first log line must be "listening" (the
  // counts are logged with it instead).
  // The settings an admin confirmed in words, logged at every start and reload
  // so nobody forgets them: TLS verification off, PHI over plain http.
  void logConfirmedRisks(const DestinationsLoad& load) {
    const std::pair<const std::vector<std::string>*, const char*> lists[] = {
        {&load.insecure, "tls-verification-off"}, {&load.plainHttp, "plain-http-phi"}};
    for (const auto& [ids, event] : lists) {
      for (const std::string& id : *ids) {
        fhir::Json w = fhir::Json::object();
        w.set("destination", fhir::Json::string(id));
        logger.log(LogLevel::kWarning, event, w);
      }
    }
  }

  void installDestinations(DestinationsLoad load, bool quiet = false) {
    logConfirmedRisks(load);
    auto destinations = std::make_shared<const mappings::Destinations>(std::move(*load.config));
    fhir::Json f = fhir::Json::object();
    f.set("destinations",
          fhir::Json::number(static_cast<std::int64_t>(destinations->destinations.size())));
    f.set("routes", fhir::Json::number(static_cast<std::int64_t>(destinations->routes.size())));
    router->replace(destinations);
    engine->setDestinations(destinations);
    engine->notify();
    if (!quiet) logger.log(LogLevel::kInfo, "destinations-loaded", f);
  }

  MetricGauges gauges() {
    MetricGauges g;
    fhir::Result<StoreStats> s = store->stats();
    if (s.isOk()) {
      for (const auto& [k, v] : s->recordsByType) g.recordsByType.emplace_back(k, v);
      for (const auto& [k, v] : s->outboxByState) g.outboxByState.emplace_back(k, v);
      g.storeSizeBytes = s->dbFileBytes;
      g.storeCommits = static_cast<std::int64_t>(s->commits);
    }
    g.ready = ready().isOk();
    return g;
  }

  fhir::Status ready() {
    if (stopped) return fhir::Status(fhir::ErrorCode::kUnavailable, "shutting down");
    if (!tables.current()) {
      return fhir::Status(fhir::ErrorCode::kUnavailable, "mapping tables not loaded");
    }
    fhir::Status st = store->checkWritable();
    if (!st.isOk()) {
      return fhir::Status(fhir::ErrorCode::kUnavailable, "store not writable: " + st.message());
    }
    return fhir::Status::ok();
  }

  // Every retention.intervalMinutes (the first run at start-up): purges what
  // the policy lets go (gateway/store/retention.h) and logs what it did.
  void retentionLoop() {
    const std::string processed =
        (std::filesystem::path(inboxDirOf(config)) / "processed").string();
    std::unique_lock<std::mutex> lock(retentionMutex);
    while (!retentionStopping) {
      lock.unlock();
      const std::int64_t before = clock.nowMillis() - config.retention.purgeAfterDays * 86'400'000;
      fhir::Result<RetentionRun> run = runRetention(*store, processed, before, false);
      fhir::Json f = fhir::Json::object();
      f.set("deliveredBefore", fhir::Json::string(formatInstant(before)));
      if (run.isOk()) {
        f.set("records", fhir::Json::number(run->records));
        f.set("inboxFiles",
              fhir::Json::number(static_cast<std::int64_t>(run->processedFiles.size())));
        logger.log(LogLevel::kInfo, "retention", f);
      } else {
        f.set("error", fhir::Json::string(run.status().message()));
        logger.log(LogLevel::kError, "retention-failed", f);
      }
      lock.lock();
      retentionCv.wait_for(lock, std::chrono::minutes(config.retention.intervalMinutes),
                           [&] { return retentionStopping; });
    }
  }

  void shutdown() {
    if (stopped) return;
    stopped = true;
    logger.log(LogLevel::kInfo, "stopping");
    if (server) {
      // Stop accepting; open connections finish their current request, then close.
      server->stop();
      api->stopConnections(server.get());
      pool->joinAll();
      server.reset();
    }
    if (inbox) inbox->stop();  // after its current file; the rest waits in the folder
    inbox.reset();
    if (retention.joinable()) {
      {
        std::lock_guard<std::mutex> lock(retentionMutex);
        retentionStopping = true;
      }
      retentionCv.notify_all();
      retention.join();
    }
    if (alerter) alerter->stop();  // its timer reads the engine's status
    alerter.reset();
    // Workers finish their in-flight sends; anything claimed but unreported
    // is re-sent after its lease expires.
    if (engine) engine->stop();
    pipeline.reset();
    operations.reset();
    engine.reset();
    store.reset();  // drains queued writes
    dataDirLock.release();
    logger.log(LogLevel::kInfo, "stopped");
    if (sslInitialized) {
      Poco::Net::uninitializeSSL();
      sslInitialized = false;
    }
  }
};

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() { stop(); }

void Daemon::stop() {
  if (impl_) impl_->shutdown();
}

ChangeSignal& Daemon::changes() { return impl_->changes; }

std::uint16_t Daemon::port() const { return impl_->server ? impl_->server->port() : 0; }

ReloadReport Daemon::reload(const std::string& principal) { return impl_->reload(principal); }

fhir::Result<std::unique_ptr<Daemon>> Daemon::start(const DaemonConfig& config,
                                                    std::ostream& logOut) {
  return start(config, logOut, nullptr);
}

fhir::Result<std::unique_ptr<Daemon>> Daemon::start(const DaemonConfig& config,
                                                    std::ostream& logOut,
                                                    const StoreOpener& openStore) {
  auto impl = std::make_unique<Impl>(config, logOut);
  Impl& d = *impl;

  // Mapping tables first: without them nothing can be accepted.
  // (Not logged here: the first log line of a started daemon is "listening".)
  MappingTablesRead initial = readMappingTablesDir(config.mappingsDir);
  if (!initial.tables) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "mapping tables in " + config.mappingsDir +
                                                       " are invalid:\n" +
                                                       fhir::formatIssues(initial.issues));
  }
  const std::string version = initial.tables->version;
  d.tables.replace(std::move(initial.tables));

  std::error_code ec;
  std::filesystem::create_directories(config.dataDir, ec);
  if (ec) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "cannot create data directory " + config.dataDir + ": " + ec.message());
  }
  // The store and the delivery files inside hold patient data: owner only.
  std::filesystem::permissions(config.dataDir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (ec) {
    return fhir::Status(
        fhir::ErrorCode::kIoError,
        "cannot make the data directory " + config.dataDir + " mode 0700: " + ec.message());
  }
  if (fhir::Status locked = d.dataDirLock.acquire(config.dataDir); !locked.isOk()) {
    return locked;
  }
  fhir::Result<std::shared_ptr<const PayloadKeyRing>> payloadKeys = loadPayloadKeys(config);
  if (!payloadKeys) return payloadKeys.status();
  fhir::Result<std::unique_ptr<Store>> store =
      openStore ? openStore(d.clock) : Impl::openConfiguredStore(config, *payloadKeys, d.clock);
  if (!store.isOk()) return store.status();
  d.store = std::move(store).value();
  // This process is now the only deliverer: a lease still held was taken by
  // one that died, and its messages are due now rather than when it expires.
  fhir::Result<std::int64_t> released = d.store->releaseLeases();
  if (!released.isOk()) {
    return fhir::Status(
        released.status().code(),
        "cannot release the delivery leases of a previous run: " + released.status().message());
  }
  std::int64_t releasedLeases = *released;

  DestinationsLoad destinations = Impl::loadDestinations(config);
  if (!destinations.config) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "destinations are invalid:\n" + fhir::formatIssues(destinations.issues));
  }
  DeliverySettings delivery;
  delivery.backoff.baseMillis = config.delivery.backoffBaseMs;
  delivery.backoff.capMillis = config.delivery.backoffCapMs;
  delivery.alertAgeMillis = config.delivery.alertAgeMs;
  delivery.breaker.failureThreshold = config.delivery.breakerFailures;
  delivery.breaker.openMillis = config.delivery.breakerOpenMs;
  delivery.leaseMillis = config.delivery.leaseMs;
  DeliveryEngineDeps deps;
  deps.store = d.store.get();
  deps.clock = &d.clock;
  deps.tables = &d.tables;
  deps.channels = defaultChannelFactory(d.clock, &d.logger);
  deps.logger = &d.logger;
  deps.changes = &d.changes;
  d.router = std::make_unique<DeliveryRouter>();
  d.engine = std::make_unique<DeliveryEngine>(delivery, std::move(deps));
  d.operations = std::make_unique<DeliveryOperations>(*d.store, d.engine.get(), &d.changes);
  DeliveryEngine* engine = d.engine.get();
  d.router->setOnAccepted([engine] { engine->notify(); });
  AlerterDeps alerterDeps;
  alerterDeps.statuses = [engine] { return engine->status(); };
  alerterDeps.clock = &d.clock;
  alerterDeps.logger = &d.logger;
  alerterDeps.changes = &d.changes;
  d.alerter = std::make_unique<Alerter>(config.alerts, std::move(alerterDeps));
  DestinationsLoad risks;  // logged after the "listening" line
  risks.insecure = std::move(destinations.insecure);
  risks.plainHttp = std::move(destinations.plainHttp);
  const auto destinationCount = static_cast<std::int64_t>(destinations.config->destinations.size());
  destinations.insecure.clear();
  destinations.plainHttp.clear();
  d.installDestinations(std::move(destinations), true);

  IngestLimits limits;
  limits.maxBatchRecords = config.limits.maxBatchRecords;
  limits.maxRecordBytes = config.limits.maxBodyBytes;
  d.pipeline = std::make_unique<IngestPipeline>(*d.store, d.tables, limits, &d.metrics,
                                                d.router.get(), &d.changes);
  if (config.inbox.enabled) {
    InboxOptions inboxOptions;
    inboxOptions.dir = inboxDirOf(config);
    inboxOptions.pollIntervalMs = config.inbox.pollIntervalMs;
    inboxOptions.maxFileBytes = config.inbox.maxFileBytes;
    d.inbox = std::make_unique<Inbox>(*d.pipeline, inboxOptions, &d.logger, &d.changes);
    fhir::Status prepared = d.inbox->prepare();
    if (!prepared.isOk()) return prepared;
  }
  std::vector<ClientPrincipalConfig> clients;
  if (config.tls) clients = config.tls->clientPrincipals;
  d.auth = std::make_unique<Authenticator>(config.tokens, clients);

  d.metricsRequireAuth.store(config.metricsRequireAuth);
  ApiContext api{.pipeline = *d.pipeline,
                 .auth = *d.auth,
                 .metrics = d.metrics,
                 .logger = d.logger,
                 .limits = config.limits};
  api.metricsRequireAuth = &d.metricsRequireAuth;
  api.changes = &d.changes;
  Impl* self = &d;
  api.getRecord = [self](const std::string& id) -> fhir::Result<fhir::Json> {
    fhir::Result<RecordView> v = self->store->getRecord(id);
    if (!v.isOk()) {
      if (v.status().code() == fhir::ErrorCode::kNotFound) {
        return fhir::Status(fhir::ErrorCode::kNotFound, "no record \"" + id + "\"");
      }
      return v.status();
    }
    fhir::Json view = recordViewToJson(*v);
    fhir::Result<std::vector<StoredNotice>> notices = self->store->listRecordNotices(id);
    if (!notices.isOk()) return notices.status();
    view.set("notices", noticesToJson(*notices));
    return view;
  };
  api.patientSummary = [self](const std::string& mrn) -> fhir::Result<fhir::Json> {
    std::shared_ptr<const mappings::MappingTables> tables = self->tables.current();
    if (!tables) return fhir::Status(fhir::ErrorCode::kUnavailable, "no mapping tables loaded");
    return buildPatientSummary(*self->store, *tables, mrn);
  };
  api.gauges = [self] { return self->gauges(); };
  api.ready = [self] { return self->ready(); };
  api.reload = [self](const std::string& principal) { return self->reload(principal); };
  api.reprocess = [self](const std::string& id,
                         const std::string& principal) -> fhir::Result<fhir::Json> {
    std::shared_ptr<const mappings::MappingTables> tables = self->tables.current();
    if (!tables) return fhir::Status(fhir::ErrorCode::kUnavailable, "no mapping tables loaded");
    return self->operations->reprocess(id, *tables, *self->router, principal);
  };
  api.delivery = d.operations.get();
  // Admission at accept: per client address, and no silent queue (503 instead).
  d.gate = new ConnectionGate(
      ConnectionGate::Limits{
          .maxOpen = config.limits.maxThreads + config.limits.maxQueuedConnections,
          .maxPerClient = config.limits.maxConnectionsPerClient,
          .retryAfterSeconds = config.limits.retryAfterSeconds},
      &d.changes);
  api.audit = [self](AuditEntry entry) { return self->store->appendAudit(std::move(entry)); };
  api.listAudit = [self](const AuditQuery& query) { return self->store->listAuditFor(query); };
  api.extraMetrics = [self] {
    const int batches = self->api != nullptr ? self->api->batchesInFlight() : 0;
    return self->engine->renderMetrics() + self->alerter->renderMetrics() +
           self->gate->renderMetrics() +
           "# HELP inloop_http_batches_in_flight POST /records/$batch requests being handled.\n"
           "# TYPE inloop_http_batches_in_flight gauge\n"
           "inloop_http_batches_in_flight " +
           std::to_string(batches) + "\n";
  };
  d.deadlines = std::make_unique<RequestDeadlines>(
      std::chrono::milliseconds(config.limits.requestDeadlineMs),
      std::chrono::milliseconds(config.limits.headerDeadlineMs),
      std::chrono::milliseconds(config.limits.keepAliveTimeoutMs));
  api.deadlines = d.deadlines.get();

  try {
    Poco::Net::SocketAddress address(config.host, config.port);
    Poco::Net::ServerSocket socket;
    if (config.tls) {
      Poco::Net::initializeSSL();
      d.sslInitialized = true;
      socket = Poco::Net::SecureServerSocket(address, 64, makeServerContext(*config.tls));
    } else {
      socket = Poco::Net::ServerSocket(address, 64);
    }
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setTimeout(Poco::Timespan(config.limits.requestTimeoutMs * 1000));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(config.limits.keepAliveTimeoutMs * 1000));
    params->setMaxKeepAliveRequests(config.limits.maxKeepAliveRequests);
    params->setMaxThreads(config.limits.maxThreads);
    params->setMaxQueued(config.limits.maxQueuedConnections);
    params->setSoftwareVersion(std::string("inloop/") + kVersion);
    d.pool = std::make_unique<Poco::ThreadPool>(2, config.limits.maxThreads + 1);
    d.api = new ApiHandlerFactory(std::move(api));
    d.handlers = d.api;  // owns it
    // POCO's HTTP connections, each under the whole-request deadline.
    d.server = std::make_unique<Poco::Net::TCPServer>(
        new DeadlineConnectionFactory(params, d.handlers, *d.deadlines, d.logger, d.gate), *d.pool,
        socket, params);
    d.server->setConnectionFilter(d.gate);
    d.server->start();
  } catch (const Poco::Exception& e) {
    return fhir::Status(fhir::ErrorCode::kIoError, "cannot listen on " + config.host + ":" +
                                                       std::to_string(config.port) + ": " +
                                                       e.displayText());
  } catch (const std::exception& e) {
    return fhir::Status(
        fhir::ErrorCode::kIoError,
        "cannot listen on " + config.host + ":" + std::to_string(config.port) + ": " + e.what());
  }

  fhir::Json f = fhir::Json::object();
  f.set("host", fhir::Json::string(config.host));
  f.set("port", fhir::Json::number(std::int64_t{d.server->port()}));
  f.set("tls", fhir::Json::boolean(config.tls.has_value()));
  f.set("dataDir", fhir::Json::string(config.dataDir));
  f.set("mappingTablesVersion", fhir::Json::string(version));
  f.set("version", fhir::Json::string(kVersion));
  f.set("destinations", fhir::Json::number(destinationCount));
  f.set("releasedLeases", fhir::Json::number(releasedLeases));
  d.logger.log(LogLevel::kInfo, "listening", f);
  d.logConfirmedRisks(risks);
  if (listensInClear(config)) {
    // Records, tokens and summaries would cross the network in clear.
    fhir::Json w = fhir::Json::object();
    w.set("host", fhir::Json::string(config.host));
    w.set("port", fhir::Json::number(std::int64_t{d.server->port()}));
    d.logger.log(LogLevel::kWarning, "plain-http-listener", w);
  }
  // Keys, tokens and passwords readable by group or others (check-config warns too).
  for (const fhir::Issue& i :
       exposedSecretFiles(config, d.router->current().get(), config.destinationsFile)) {
    fhir::Json w = fhir::Json::object();
    w.set("message", fhir::Json::string(i.message));
    d.logger.log(LogLevel::kWarning, "secret-file-exposed", w);
  }
  {
    // Which key seals new payloads (never the key itself), or that none does.
    fhir::Json e = fhir::Json::object();
    const std::shared_ptr<const PayloadKeyRing>& keys = *payloadKeys;
    e.set("enabled", fhir::Json::boolean(keys != nullptr));
    if (keys) {
      e.set("keyId", fhir::Json::string(keys->current().id));
      e.set("keys", fhir::Json::number(static_cast<std::int64_t>(keys->keys().size())));
    }
    d.logger.log(LogLevel::kInfo, "payload-encryption", e);
  }
  // After the "listening" line: the first evaluation and the inbox's first scan log too.
  d.alerter->start();
  if (config.retention.purgeAfterDays > 0) {
    d.retention = std::thread([self] { self->retentionLoop(); });
  }
  if (d.inbox) {
    fhir::Status started = d.inbox->start();
    if (!started.isOk()) {
      d.shutdown();
      return started;
    }
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

}  // namespace inloop::gateway
