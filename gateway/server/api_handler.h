#pragma once

// The HTTP API of `inloop serve`: a POCO request handler factory routing
//
//   POST /records            ingest role   one plan record (application/json)
//   POST /records/$batch     ingest role   NDJSON (application/x-ndjson)
//   GET  /records/{recordId} read role     latest version, receipt, translation, notices
//   GET  /patients/{mrn}/summary  read role  patient summary (JSON; HTML with
//                                           Accept: text/html), gateway/reports/patient_summary.h
//   POST /admin/reload       admin role    re-read the mapping tables
//   GET  /metrics            metrics or read role  Prometheus text (or open, configurable)
//   GET  /healthz            no auth       process up
//   GET  /readyz             no auth       store writable and configuration loaded
//   GET  /destinations       read role     delivery status per destination
//   GET  /deliveries?recordId=  read role  the delivery ledger of a record
//   GET  /deadletters[?destination=&limit=]  read role
//   GET  /deadletters/{id}   read role     one dead letter with its ledger
//   POST /deadletters/{id}/replay|discard  admin role
//   (the delivery routes answer 404 when ApiContext::delivery is null)
//   GET  /audit?patient=MRN[&since=INSTANT]  admin role  the patient's audit rows
//
// Every request on a PHI route (records, patient summary, deliveries, dead
// letters, audit) and every admin action is audited through ApiContext::audit
// with principal, remote address and outcome, refusals (401/403/404) included.
//
// Errors are FHIR OperationOutcomes (application/fhir+json). Every handler has
// one top-level try/catch: POCO 1.11 drops the connection without a reply when
// an exception escapes, so anything unexpected becomes a 500 OperationOutcome.
// Requests beyond limits.maxInFlight are answered 503 with Retry-After at once
// instead of queueing without bound; so are batches beyond
// limits.maxConcurrentBatches (before their body is read).
// A request with both Content-Length and Transfer-Encoding, or with a
// Transfer-Encoding other than one final "chunked", is answered 400 (501 for
// codings before "chunked") and its connection closed (RFC 9112 6.3).
// A body that no route read (a refusal before the body: 401, 403, 404, 405,
// 503, a GET with a body) is read and dropped when it is at most 64 KiB, else
// the connection is closed: it is never parsed as the next request.
//
// Thread safety: the factory and its handlers run on POCO's server threads;
// every collaborator in ApiContext must be thread-safe.

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/TCPServerConnectionFactory.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/status.h"
#include "gateway/config/daemon_config.h"
#include "gateway/ingest/ingest_pipeline.h"
#include "gateway/log/json_logger.h"
#include "gateway/server/auth.h"
#include "gateway/server/connection_gate.h"
#include "gateway/server/metrics.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

class DeliveryOperations;  // gateway/delivery/operations.h

// RequestDeadlines: the server's whole-request deadline (limits.requestDeadlineMs)
// and its shorter header-phase deadline (limits.headerDeadlineMs).
// POCO's timeouts apply to each receive, so a client sending one byte within
// each of them would hold a handler thread for ever. Each open connection gets
// one deadline on the shared DeadlineWatchdog (gateway/transport/deadline_watchdog.h),
// counted from the connection's start and again from the end of each response
// until that request's header and body are read. Until the head is complete
// the deadline is the header one (from the end of a response: the keep-alive
// wait plus the header deadline, so an idle keep-alive connection is closed by
// POCO's keep-alive timeout first); once the head is in (headReceived()), the
// whole-request one. When it passes, the socket is shut down: the blocked read
// fails and POCO ends the connection.
//
// The watchdog is armed with a dup(2) of the connection's descriptor, closed by
// close(): POCO closes its own descriptor before the connection object is gone,
// and a shutdown through the duplicate can only ever reach this connection's
// socket, never one that reused the number.
//
// Connections are keyed by POCO's descriptor: open()/close() by the connection
// (DeadlineConnectionFactory), headReceived()/disarm()/arm() by its request
// handler, all on that connection's thread. Thread safety: all members may be
// called from any thread.
class RequestDeadlines {
 public:
  // `request`: head and body; `header`: the head alone (capped at `request`);
  // `keepAliveIdle`: the idle wait allowed before a keep-alive request's head.
  explicit RequestDeadlines(std::chrono::milliseconds request,
                            std::chrono::milliseconds header = std::chrono::milliseconds::max(),
                            std::chrono::milliseconds keepAliveIdle = std::chrono::milliseconds(0))
      : budget_(request),
        headerBudget_(std::min(header, request)),
        nextHeaderBudget_(header >= request ? request : std::min(header + keepAliveIdle, request)) {
  }
  RequestDeadlines(const RequestDeadlines&) = delete;
  RequestDeadlines& operator=(const RequestDeadlines&) = delete;
  ~RequestDeadlines();

  std::chrono::milliseconds budget() const { return budget_; }
  std::chrono::milliseconds headerBudget() const { return headerBudget_; }

  // Registers the connection on `fd` and arms its header deadline; returns the
  // id to pass to close(). When no duplicate descriptor can be made the
  // connection runs without a deadline (its per-receive timeouts still apply).
  std::uint64_t open(int fd);
  // Disarms and forgets connection `id` (if `fd` still names it); true when a
  // deadline had passed since the last disarm(). Call before the socket closes.
  bool close(int fd, std::uint64_t id);
  // (Re)starts the header deadline of the connection on `fd` from now (the end
  // of a response: the keep-alive wait is included).
  void arm(int fd);
  // The head is in: the whole-request deadline, from the same start, applies
  // to the body.
  void headReceived(int fd);
  // Stops it (idempotent); true when it had passed and the socket was shut down.
  bool disarm(int fd);

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Connection {
    std::uint64_t id = 0;
    int watchedFd = -1;  // dup(2) of the connection's descriptor; owned
    std::uint64_t ticket = 0;
    bool armed = false;
    TimePoint start{};             // of this request's deadline
    bool firedUnreported = false;  // passed while the head was being read
  };
  bool disarmLocked(Connection& c);
  void armLocked(Connection& c, TimePoint start, std::chrono::milliseconds budget);

  const std::chrono::milliseconds budget_;
  const std::chrono::milliseconds headerBudget_;
  const std::chrono::milliseconds nextHeaderBudget_;
  std::mutex mutex_;
  std::map<int, Connection> connections_;
  std::uint64_t nextId_ = 1;
};

// THE mapping from error codes to HTTP statuses (kOk is 200).
int httpStatusFor(fhir::ErrorCode code);

// The HTTP status for one ingest outcome (202 accepted, 200 replay, else the
// status of its error code).
int httpStatusFor(IngestStatus status);

// What the API needs from the daemon. All references must outlive the factory;
// all callables must be thread-safe and must not throw.
struct ApiContext {
  IngestPipeline& pipeline;
  const Authenticator& auth;
  Metrics& metrics;
  JsonLogger& logger;
  ServerLimits limits;
  // false: GET /metrics needs no token; changes on reload. Null: true.
  const std::atomic<bool>* metricsRequireAuth = nullptr;
  // GET /records/{id}: the JSON view, or kNotFound / another error.
  std::function<fhir::Result<fhir::Json>(const std::string& recordId)> getRecord{};
  // GET /patients/{mrn}/summary: the summary JSON, or kNotFound / another
  // error; null: not served (404).
  std::function<fhir::Result<fhir::Json>(const std::string& mrn)> patientSummary{};
  // Scrape-time values for /metrics.
  std::function<MetricGauges()> gauges{};
  // /readyz: ok, or why not ready (kUnavailable).
  std::function<fhir::Status()> ready{};
  // POST /records/{id}/reprocess by `principal` (DeliveryOperations::reprocess
  // with the current tables and routes); null: not served (404).
  std::function<fhir::Result<fhir::Json>(const std::string& recordId, const std::string& principal)>
      reprocess{};
  // POST /admin/reload by `principal` (Daemon::reload).
  std::function<ReloadReport(const std::string& principal)> reload{};
  // The delivery operator routes; null: not served (404).
  DeliveryOperations* delivery = nullptr;
  // Appended to /metrics (delivery metrics); may be empty.
  std::function<std::string()> extraMetrics{};
  // The whole-request deadline; null: none (only POCO's per-receive timeouts).
  RequestDeadlines* deadlines = nullptr;
  // Appends one audit row (Store::appendAudit) for every request on a PHI or
  // admin route, answered or refused; null: no audit. A failed write is logged
  // ("audit-write-failed") and does not change the reply: reads go on when the
  // disk is full.
  std::function<fhir::Status(AuditEntry)> audit{};
  // GET /audit?patient=MRN&since=INSTANT (admin): the patient's audit rows,
  // oldest first; null: not served (404).
  std::function<fhir::Result<std::vector<AuditEntry>>(const AuditQuery&)> listAudit{};
  // Notified when a batch slot was taken (inloop_http_batches_in_flight
  // changed); null: nobody listens.
  ChangeSignal* changes = nullptr;
};

class ApiHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit ApiHandlerFactory(ApiContext context) : context_(std::move(context)) {}

  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override;

  // Requests being handled right now (for draining on shutdown).
  int inFlight() const { return inFlight_.load(); }
  // POST /records/$batch requests holding one of limits.maxConcurrentBatches.
  int batchesInFlight() const { return batches_.load(); }

  // Tells every open connection to finish its current request and close (what
  // Poco::Net::HTTPServer::stopAll(false) does); call after the server stopped
  // accepting. `sender` is the server.
  void stopConnections(const void* sender) { serverStopped(sender, false); }

 private:
  ApiContext context_;
  std::atomic<int> inFlight_{0};
  std::atomic<int> batches_{0};
};

// The TCP connection factory of the API server, in place of POCO's
// HTTPServerConnectionFactory: POCO's HTTPServerConnection (request loop,
// keep-alive, `handlers`' serverStopped event) with the connection registered in
// `deadlines` for its whole life. A deadline that passes before a request's
// header is complete is logged as {"event":"request-deadline","phase":"header"}.
// Each connection is reported to `gate` (when not null) when it ends.
// `deadlines` and `logger` must outlive the server.
class DeadlineConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  DeadlineConnectionFactory(Poco::Net::HTTPServerParams::Ptr params,
                            Poco::Net::HTTPRequestHandlerFactory::Ptr handlers,
                            RequestDeadlines& deadlines, JsonLogger& logger,
                            Poco::AutoPtr<ConnectionGate> gate = {})
      : params_(std::move(params)),
        handlers_(std::move(handlers)),
        deadlines_(deadlines),
        logger_(logger),
        gate_(std::move(gate)) {}

  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override;

 private:
  Poco::Net::HTTPServerParams::Ptr params_;
  Poco::Net::HTTPRequestHandlerFactory::Ptr handlers_;
  RequestDeadlines& deadlines_;
  JsonLogger& logger_;
  Poco::AutoPtr<ConnectionGate> gate_;
};

}  // namespace inloop::gateway
