#pragma once

// The HTTP API of `inloop serve`: a POCO request handler factory routing
//
//   POST /records            ingest role   one plan record (application/json)
//   POST /records/$batch     ingest role   NDJSON (application/x-ndjson)
//   GET  /records/{recordId} read role     latest version, receipt, translation, notices
//   GET  /patients/{mrn}/summary  read role  patient summary (JSON; HTML with
//                                           Accept: text/html), gateway/patient_summary.h
//   POST /admin/reload       admin role    re-read the mapping tables
//   GET  /metrics            read role     Prometheus text (or open, configurable)
//   GET  /healthz            no auth       process up
//   GET  /readyz             no auth       store writable and configuration loaded
//   GET  /destinations       read role     delivery status per destination
//   GET  /deliveries?recordId=  read role  the delivery ledger of a record
//   GET  /deadletters[?destination=&limit=]  read role
//   GET  /deadletters/{id}   read role     one dead letter with its ledger
//   POST /deadletters/{id}/replay|discard  admin role
//   (the delivery routes answer 404 when ApiContext::delivery is null)
//
// Errors are FHIR OperationOutcomes (application/fhir+json). Every handler has
// one top-level try/catch: POCO 1.11 drops the connection without a reply when
// an exception escapes, so anything unexpected becomes a 500 OperationOutcome.
// Requests beyond limits.maxInFlight are answered 503 with Retry-After at once
// instead of queueing without bound.
//
// Thread safety: the factory and its handlers run on POCO's server threads;
// every collaborator in ApiContext must be thread-safe.

#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/status.h"
#include "gateway/daemon_config.h"
#include "gateway/ingest_pipeline.h"
#include "gateway/server/auth.h"
#include "gateway/server/json_logger.h"
#include "gateway/server/metrics.h"

namespace inloop::gateway {

class DeliveryOperations;  // gateway/delivery/operations.h

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
  bool metricsRequireAuth = true;
  // GET /records/{id}: the JSON view, or kNotFound / another error.
  std::function<fhir::Result<fhir::Json>(const std::string& recordId)> getRecord;
  // GET /patients/{mrn}/summary: the summary JSON, or kNotFound / another
  // error; null: not served (404).
  std::function<fhir::Result<fhir::Json>(const std::string& mrn)> patientSummary;
  // Scrape-time values for /metrics.
  std::function<MetricGauges()> gauges;
  // /readyz: ok, or why not ready (kUnavailable).
  std::function<fhir::Status()> ready;
  // POST /admin/reload: the issues of the new tables (errors: rejected, the old
  // ones keep serving) and, when accepted, the new tables' version.
  std::function<fhir::Issues(std::string* version)> reload;
  // The delivery operator routes; null: not served (404).
  DeliveryOperations* delivery = nullptr;
  // Appended to /metrics (delivery metrics); may be empty.
  std::function<std::string()> extraMetrics;
};

class ApiHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit ApiHandlerFactory(ApiContext context) : context_(std::move(context)) {}

  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override;

  // Requests being handled right now (for draining on shutdown).
  int inFlight() const { return inFlight_.load(); }

 private:
  ApiContext context_;
  std::atomic<int> inFlight_{0};
};

}  // namespace inloop::gateway
