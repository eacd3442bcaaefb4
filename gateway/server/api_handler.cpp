#include "gateway/server/api_handler.h"

#include <Poco/Crypto/X509Certificate.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerConnection.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureStreamSocketImpl.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/String.h>
#include <Poco/URI.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <istream>
#include <ostream>
#include <utility>
#include <vector>

#include "fhir/operation_outcome.h"
#include "fhir/primitives.h"
#include "gateway/base/clock.h"
#include "gateway/delivery/operations.h"
#include "gateway/reports/audit_report.h"
#include "gateway/reports/patient_summary.h"
#include "gateway/transport/deadline_watchdog.h"

namespace inloop::gateway {

namespace {

using fhir::ErrorCode;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

// Route templates: the metric label values.
constexpr const char* kRouteRecords = "/records";
constexpr const char* kRouteBatch = "/records/$batch";
constexpr const char* kRouteRecord = "/records/{recordId}";
constexpr const char* kRouteReprocess = "/records/{recordId}/reprocess";
constexpr const char* kRouteReload = "/admin/reload";
constexpr const char* kRouteMetrics = "/metrics";
constexpr const char* kRouteHealthz = "/healthz";
constexpr const char* kRouteReadyz = "/readyz";
constexpr const char* kRouteDestinations = "/destinations";
constexpr const char* kRouteDeliveries = "/deliveries";
constexpr const char* kRouteDeadLetters = "/deadletters";
constexpr const char* kRouteDeadLetter = "/deadletters/{id}";
constexpr const char* kRouteDeadLetterAction = "/deadletters/{id}/{action}";
constexpr const char* kRouteDeadLettersReplay = "/deadletters/replay";
constexpr const char* kRoutePatientSummary = "/patients/{mrn}/summary";
constexpr const char* kRouteAudit = "/audit";
constexpr const char* kRouteOther = "other";

constexpr const char* kJson = "application/json";
constexpr const char* kFhirJson = "application/fhir+json";

struct Reply {
  int status = 200;
  std::string contentType = kJson;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // the request body was not read: do not reuse the connection
  // For a 5xx, why (the error issues' messages: the store's or the server's own
  // words, never record content); the request log line carries it.
  std::string cause;
};

// What the request log line carries besides method, route, status, latency.
struct LogInfo {
  std::string principal;
  std::string recordId;
  std::int64_t version = 0;
  std::string outcome;
  std::size_t records = 0;  // batch lines
  // For the audit row only, never logged: the patient whose data the request
  // is about, and what else names it ("message 12").
  std::string patientKey;
  std::string detail;
};

// The audit action of a route: "read" (PHI read), "admin" (admin action), or
// nullptr when requests on it are not audited.
const char* auditActionOf(const std::string& route) {
  static const std::string_view kReads[] = {kRouteRecord,     kRoutePatientSummary,
                                            kRouteDeliveries, kRouteDeadLetters,
                                            kRouteDeadLetter, kRouteAudit};
  static const std::string_view kAdmin[] = {kRouteReprocess, kRouteReload, kRouteDeadLetterAction,
                                            kRouteDeadLettersReplay};
  for (std::string_view r : kReads) {
    if (route == r) return "read";
  }
  for (std::string_view r : kAdmin) {
    if (route == r) return "admin";
  }
  return nullptr;
}

const char* issueCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformed:
      return "structure";
    case ErrorCode::kInvalid:
      return "invalid";
    case ErrorCode::kTooLarge:
      return "too-long";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kUnauthorized:
      return "login";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kUnsupported:
      return "not-supported";
    case ErrorCode::kUnavailable:
      return "transient";
    default:
      return "exception";
  }
}

Reply outcomeReply(int status, const fhir::Issues& issues) {
  Reply r;
  r.status = status;
  r.contentType = kFhirJson;
  r.body = fhir::writeJson(fhir::operationOutcome(issues));
  if (status >= 500) {
    for (const fhir::Issue& i : issues) {
      if (i.severity != fhir::Severity::kError && i.severity != fhir::Severity::kFatal) continue;
      r.cause += (r.cause.empty() ? "" : "; ") + i.message;
    }
  }
  return r;
}

Reply errorReply(ErrorCode code, std::string message, std::string path = {}) {
  fhir::Issues issues;
  fhir::addError(&issues, issueCodeFor(code), std::move(path), std::move(message));
  return outcomeReply(httpStatusFor(code), issues);
}

Reply jsonReply(int status, const fhir::Json& body) {
  Reply r;
  r.status = status;
  r.body = fhir::writeJson(body);
  return r;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "application/json; charset=utf-8" -> "application/json".
std::string mediaType(const HTTPServerRequest& req) {
  std::string ct = req.getContentType();
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  while (!ct.empty() && ct.front() == ' ') ct.erase(ct.begin());
  return lower(ct);
}

bool isRecordId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// A patient key (MRN) as a client may name it: at most 64 bytes, UTF-8, no
// control characters. Anything else names no patient (404, and the audit row
// carries none).
bool isPatientKeyText(std::string_view key) {
  return !key.empty() && key.size() <= 64 && fhir::isValidUtf8(key) &&
         std::all_of(key.begin(), key.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

fhir::Json issuesJson(const fhir::Issues& issues) {
  fhir::Json list = fhir::Json::array();
  for (const fhir::Issue& i : issues) {
    fhir::Json o = fhir::Json::object();
    o.set("severity", fhir::Json::string(fhir::severityName(i.severity)));
    o.set("code", fhir::Json::string(i.code));
    if (!i.path.empty()) o.set("path", fhir::Json::string(i.path));
    o.set("message", fhir::Json::string(i.message));
    list.push(std::move(o));
  }
  return list;
}

fhir::Json receiptJson(const RecordOutcome& o) {
  fhir::Json r = fhir::Json::object();
  r.set("receiptId", fhir::Json::string(o.receiptId));
  r.set("recordId", fhir::Json::string(o.recordId));
  r.set("version", fhir::Json::number(o.version));
  // The receipt is the record's first acceptance; a replay returns it unchanged.
  r.set("status", fhir::Json::string("accepted"));
  if (!o.receivedAt.empty()) r.set("receivedAt", fhir::Json::string(o.receivedAt));
  return r;
}

// One of at most `limit` concurrent holders of `count`, for the life of the
// object; held() is false when `limit` were taken already.
class CountedSlot {
 public:
  CountedSlot(std::atomic<int>& count, int limit) : count_(count), held_(++count_ <= limit) {
    if (!held_) --count_;
  }
  ~CountedSlot() {
    if (held_) --count_;
  }
  CountedSlot(const CountedSlot&) = delete;
  CountedSlot& operator=(const CountedSlot&) = delete;
  bool held() const { return held_; }

 private:
  std::atomic<int>& count_;
  const bool held_;
};

class ApiHandler : public Poco::Net::HTTPRequestHandler {
 public:
  // `inFlight` was already incremented for this request (by the factory, before
  // POCO answers `Expect: 100-continue`); the destructor decrements it.
  ApiHandler(const ApiContext& ctx, std::atomic<int>& inFlight, int inFlightAtStart,
             std::atomic<int>& batches)
      : ctx_(ctx), inFlight_(inFlight), inFlightAtStart_(inFlightAtStart), batches_(batches) {}
  ~ApiHandler() override { --inFlight_; }
  ApiHandler(const ApiHandler&) = delete;
  ApiHandler& operator=(const ApiHandler&) = delete;

  void handleRequest(HTTPServerRequest& req, HTTPServerResponse& resp) override {
    // The one top-level boundary: nothing may escape to POCO.
    try {
      fd_ = connectionFd(req);
      handle(req, resp);
    } catch (...) {
      try {
        if (!resp.sent()) {
          send(resp, errorReply(ErrorCode::kInternal, "internal error"));
        }
      } catch (...) {
        // The connection is gone; nothing left to tell the client.
      }
    }
  }

 private:
  void handle(HTTPServerRequest& req, HTTPServerResponse& resp) {
    const auto start = std::chrono::steady_clock::now();
    std::string route = kRouteOther;
    LogInfo info;
    Reply reply;
    // The head is in: a request without a body is read; one with a body has
    // the whole-request deadline until readBody() (or drainBody()) is done.
    if (!expectsBody(req)) {
      requestRead();
    } else if (ctx_.deadlines != nullptr && fd_ >= 0) {
      ctx_.deadlines->headReceived(fd_);
    }
    try {
      if (inFlightAtStart_ > ctx_.limits.maxInFlight) {
        reply = errorReply(ErrorCode::kUnavailable, "too many requests in flight; retry later");
      } else {
        reply = dispatch(req, &route, &info);
      }
    } catch (const std::exception& e) {
      ctx_.logger.log(LogLevel::kError, "handler-exception",
                      logFields({{"route", fhir::Json::string(route)},
                                 {"error", fhir::Json::string(e.what())}}));
      reply = errorReply(ErrorCode::kInternal, "internal error");
    } catch (...) {
      reply = errorReply(ErrorCode::kInternal, "internal error");
    }
    // A body the route did not read would be parsed as the next request on
    // this keep-alive connection (request desync): drop a small one, else close.
    if (!reply.close && !bodyRead_ && expectsBody(req) && !drainBody(req)) reply.close = true;
    requestRead();
    if (deadlinePassed_) {
      // The socket is shut down already; this reply is for the log and metrics.
      reply = errorReply(ErrorCode::kMalformed, "the request was not received within " +
                                                    std::to_string(ctx_.limits.requestDeadlineMs) +
                                                    " ms (limits.requestDeadlineMs)");
      reply.status = 408;
      reply.close = true;
      ctx_.logger.log(
          LogLevel::kWarning, "request-deadline",
          logFields({{"phase", fhir::Json::string("body")},
                     {"route", fhir::Json::string(route)},
                     {"deadlineMs", fhir::Json::number(ctx_.limits.requestDeadlineMs)}}));
    }
    audit(req, route, reply.status, info);
    if (reply.status == 503) {
      reply.headers.emplace_back("Retry-After", std::to_string(ctx_.limits.retryAfterSeconds));
    }
    try {
      send(resp, reply);
    } catch (...) {
      // Client went away mid-reply; the outcome (e.g. a stored record) stands.
    }
    // The next request on this keep-alive connection gets a deadline of its own.
    if (ctx_.deadlines != nullptr && fd_ >= 0 && resp.getKeepAlive()) ctx_.deadlines->arm(fd_);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctx_.metrics.observeRequest(route, reply.status, seconds);
    // 5xx lines are warnings (503: retry later) or errors, so an operator logging at
    // "warning" still sees a full disk or a failing store.
    const LogLevel level = reply.status == 503   ? LogLevel::kWarning
                           : reply.status >= 500 ? LogLevel::kError
                                                 : LogLevel::kInfo;
    if (ctx_.logger.enabled(level) && route != kRouteHealthz && route != kRouteReadyz &&
        route != kRouteMetrics) {
      fhir::Json f = fhir::Json::object();
      f.set("method", fhir::Json::string(req.getMethod()));
      f.set("route", fhir::Json::string(route));
      f.set("status", fhir::Json::number(std::int64_t{reply.status}));
      if (!info.principal.empty()) f.set("principal", fhir::Json::string(info.principal));
      if (!info.recordId.empty()) f.set("recordId", fhir::Json::string(info.recordId));
      if (info.version > 0) f.set("version", fhir::Json::number(info.version));
      if (!info.outcome.empty()) f.set("outcome", fhir::Json::string(info.outcome));
      if (info.records > 0) f.set("records", fhir::Json::number(std::int64_t(info.records)));
      f.set("latencyMs", fhir::Json::number(std::round(seconds * 1e6) / 1000.0));
      if (!reply.cause.empty()) f.set("error", fhir::Json::string(reply.cause));
      ctx_.logger.log(level, "request", f);
    }
  }

  // One audit row for a request on a PHI or admin route, before the reply goes
  // out. A failed write is logged; the reply stands (reads go on when the disk
  // is full, as they did before audit).
  void audit(HTTPServerRequest& req, const std::string& route, int status, const LogInfo& info) {
    const char* action = auditActionOf(route);
    if (action == nullptr || !ctx_.audit) return;
    AuditEntry entry;
    entry.principal = info.principal.empty() ? "anonymous" : info.principal;
    entry.action = action;
    entry.recordId = info.recordId;
    entry.version = info.version;
    entry.patientKey = info.patientKey;
    entry.outcome = status < 300 ? "ok" : "attempt";
    entry.source = req.getMethod() + " " + route;
    entry.detail = "HTTP " + std::to_string(status) +
                   (info.detail.empty() ? std::string() : ", " + info.detail);
    try {
      entry.remoteAddress = req.clientAddress().host().toString();
    } catch (...) {
      // No peer address (not a socket): the row is written without it.
    }
    if (fhir::Status st = ctx_.audit(std::move(entry)); !st.isOk()) {
      ctx_.logger.log(LogLevel::kError, "audit-write-failed",
                      logFields({{"route", fhir::Json::string(route)},
                                 {"error", fhir::Json::string(st.message())}}));
    }
  }

  static fhir::Json logFields(std::initializer_list<std::pair<const char*, fhir::Json>> fields) {
    fhir::Json f = fhir::Json::object();
    for (const auto& [k, v] : fields) f.set(k, v);
    return f;
  }

  static void send(HTTPServerResponse& resp, const Reply& reply) {
    // setStatusAndReason: setStatus alone keeps the default reason, "OK" (a "202 OK").
    resp.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    resp.setContentType(reply.contentType);
    resp.setContentLength64(static_cast<Poco::Int64>(reply.body.size()));
    // Records, summaries, ledgers and refusals alike: no cache may keep a copy.
    resp.set("Cache-Control", "no-store");
    for (const auto& [name, value] : reply.headers) resp.set(name, value);
    if (reply.close) resp.setKeepAlive(false);
    std::ostream& out = resp.send();
    out.write(reply.body.data(), static_cast<std::streamsize>(reply.body.size()));
    out.flush();
  }

  // Message framing (RFC 9112 6.1, 6.3). Transfer-Encoding together with
  // Content-Length is a request smuggling vector (a proxy in front may frame the
  // body by the other header): 400. So is a coding list that does not end in a
  // single "chunked" (400); codings before it are not supported (501). The body
  // is not read, so the connection is closed after the reply.
  static std::optional<Reply> checkFraming(const HTTPServerRequest& req) {
    std::vector<std::string> codings;
    bool present = false;
    for (auto it = req.find("Transfer-Encoding");
         it != req.end() && Poco::icompare(it->first, "Transfer-Encoding") == 0; ++it) {
      present = true;
      std::size_t start = 0;
      while (start <= it->second.size()) {
        std::size_t comma = it->second.find(',', start);
        if (comma == std::string::npos) comma = it->second.size();
        std::string coding = lower(it->second.substr(start, comma - start));
        coding.erase(0, coding.find_first_not_of(" \t"));
        coding.erase(coding.find_last_not_of(" \t") + 1);
        if (!coding.empty()) codings.push_back(std::move(coding));
        start = comma + 1;
      }
    }
    if (!present) return std::nullopt;
    Reply r;
    if (req.has("Content-Length")) {
      r = errorReply(ErrorCode::kMalformed,
                     "a request must not have both Content-Length and Transfer-Encoding "
                     "(RFC 9112 section 6.3); the connection is closed");
    } else if (codings.empty() || codings.back() != "chunked" ||
               std::count(codings.begin(), codings.end(), "chunked") > 1) {
      r = errorReply(ErrorCode::kMalformed,
                     "Transfer-Encoding must end with a single \"chunked\" (RFC 9112 section "
                     "6.3); the connection is closed");
    } else if (codings.size() > 1) {
      r = errorReply(ErrorCode::kUnsupported,
                     "only Transfer-Encoding: chunked is supported, no other transfer coding; "
                     "the connection is closed");
      r.status = 501;
    } else {
      return std::nullopt;
    }
    r.close = true;
    return r;
  }

  Reply dispatch(HTTPServerRequest& req, std::string* route, LogInfo* info) {
    if (std::optional<Reply> bad = checkFraming(req)) return *bad;
    std::string path;
    {
      std::string uri = req.getURI();
      uri = uri.substr(0, uri.find('?'));
      try {
        Poco::URI::decode(uri, path);
      } catch (...) {
        return errorReply(ErrorCode::kMalformed, "the request path is not valid");
      }
    }
    const std::string& method = req.getMethod();
    if (req.size() > ctx_.limits.maxHeaderFields) {
      Reply r =
          errorReply(ErrorCode::kTooLarge, "too many header fields (at most " +
                                               std::to_string(ctx_.limits.maxHeaderFields) + ")");
      r.status = 431;
      r.close = true;
      return r;
    }

    auto onlyMethod = [&](const char* allowed) -> std::optional<Reply> {
      if (method == allowed) return std::nullopt;
      Reply r = errorReply(ErrorCode::kUnsupported,
                           "method " + method + " is not allowed here; use " + allowed);
      r.status = 405;
      r.headers.emplace_back("Allow", allowed);
      r.close = true;
      return r;
    };

    if (path == "/healthz") {
      *route = kRouteHealthz;
      if (auto r = onlyMethod("GET")) return *r;
      fhir::Json body = fhir::Json::object();
      body.set("status", fhir::Json::string("up"));
      return jsonReply(200, body);
    }
    if (path == "/readyz") {
      *route = kRouteReadyz;
      if (auto r = onlyMethod("GET")) return *r;
      fhir::Status st = ctx_.ready();
      fhir::Json body = fhir::Json::object();
      body.set("status", fhir::Json::string(st.isOk() ? "ready" : "not-ready"));
      if (!st.isOk()) body.set("reason", fhir::Json::string(st.message()));
      Reply r = jsonReply(st.isOk() ? 200 : 503, body);
      return r;
    }
    if (path == "/metrics") {
      *route = kRouteMetrics;
      if (auto r = onlyMethod("GET")) return *r;
      if (ctx_.metricsRequireAuth == nullptr || ctx_.metricsRequireAuth->load()) {
        if (auto denied = authorize(req, {Role::kMetrics, Role::kRead}, info)) return *denied;
      }
      Reply r;
      r.contentType = "text/plain; version=0.0.4; charset=utf-8";
      r.body = ctx_.metrics.render(ctx_.gauges());
      if (ctx_.extraMetrics) r.body += ctx_.extraMetrics();
      return r;
    }
    if (path == "/records") {
      *route = kRouteRecords;
      if (auto r = onlyMethod("POST")) return *r;
      if (auto denied = authorize(req, Role::kIngest, info)) return *denied;
      return postRecord(req, info);
    }
    if (path == "/records/$batch") {
      *route = kRouteBatch;
      if (auto r = onlyMethod("POST")) return *r;
      if (auto denied = authorize(req, Role::kIngest, info)) return *denied;
      // A batch is held in memory whole (up to maxBatchBytes, several times that
      // while it is parsed): at most maxConcurrentBatches at once; beyond, 503
      // before its body is read (handle() then drains or closes).
      CountedSlot slot(batches_, ctx_.limits.maxConcurrentBatches);
      if (!slot.held()) {
        info->outcome = "busy";
        return errorReply(ErrorCode::kUnavailable,
                          "too many batches in flight (limits.maxConcurrentBatches); retry later");
      }
      if (ctx_.changes != nullptr) ctx_.changes->notifyAll();
      return postBatch(req, info);
    }
    if (path.starts_with("/records/") && path.ends_with("/reprocess") && ctx_.reprocess) {
      *route = kRouteReprocess;
      if (auto r = onlyMethod("POST")) return *r;
      if (auto denied = authorize(req, Role::kAdmin, info)) return *denied;
      std::string id = path.substr(9, path.size() - 9 - 10);
      if (!isRecordId(id)) return errorReply(ErrorCode::kNotFound, "no record with that id");
      info->recordId = id;
      info->outcome = "reprocess";
      return resultReply(ctx_.reprocess(id, info->principal));
    }
    if (path.starts_with("/records/")) {
      *route = kRouteRecord;
      if (auto r = onlyMethod("GET")) return *r;
      std::string id = path.substr(9);
      // Set before authorising: a refused attempt is audited with the record it aimed at.
      if (isRecordId(id)) info->recordId = id;
      if (auto denied = authorize(req, Role::kRead, info)) return *denied;
      if (!isRecordId(id)) {
        return errorReply(ErrorCode::kNotFound, "no record with that id");
      }
      fhir::Result<fhir::Json> view = ctx_.getRecord(id);
      if (!view.isOk()) {
        return errorReply(view.status().code(), view.status().message());
      }
      return jsonReply(200, *view);
    }
    if (path.starts_with("/patients/") && path.ends_with("/summary") && path.size() > 18) {
      *route = kRoutePatientSummary;
      if (auto r = onlyMethod("GET")) return *r;
      const std::string mrn = path.substr(10, path.size() - 18);
      if (isPatientKeyText(mrn)) info->patientKey = mrn;
      if (auto denied = authorize(req, Role::kRead, info)) return *denied;
      return patientSummary(req, mrn);
    }
    if (path == "/audit" && ctx_.listAudit) {
      *route = kRouteAudit;
      if (auto r = onlyMethod("GET")) return *r;
      const std::string mrn = queryParameter(req, "patient");
      if (isPatientKeyText(mrn)) info->patientKey = mrn;
      if (auto denied = authorize(req, Role::kAdmin, info)) return *denied;
      return patientAudit(req, mrn);
    }
    if (path == "/admin/reload") {
      *route = kRouteReload;
      if (auto r = onlyMethod("POST")) return *r;
      if (auto denied = authorize(req, Role::kAdmin, info)) return *denied;
      ReloadReport report = ctx_.reload(info->principal);
      if (fhir::hasErrors(report.issues)) {
        info->outcome = "rejected";
        return outcomeReply(422, report.issues);
      }
      info->outcome = "reloaded";
      fhir::Json body = fhir::Json::object();
      body.set("status", fhir::Json::string("reloaded"));
      body.set("mappingTablesVersion", fhir::Json::string(report.mappingTablesVersion));
      fhir::Json restart = fhir::Json::array();
      for (const std::string& name : report.needsRestart) restart.push(fhir::Json::string(name));
      body.set("needsRestart", std::move(restart));
      body.set("routedUnroutable", fhir::Json::number(report.routed));
      body.set("stillUnroutable", fhir::Json::number(report.stillUnroutable));
      body.set("warnings", issuesJson(report.issues));
      return jsonReply(200, body);
    }
    if (ctx_.delivery != nullptr) {
      if (std::optional<Reply> r = dispatchDelivery(req, path, route, info)) return *r;
    }
    return errorReply(ErrorCode::kNotFound, "no such endpoint");
  }

  static std::string queryParameter(const HTTPServerRequest& req, const std::string& name) {
    try {
      for (const auto& [k, v] : Poco::URI(req.getURI()).getQueryParameters()) {
        if (k == name) return v;
      }
    } catch (...) {
      // A malformed query reads as absent parameters.
    }
    return {};
  }

  // ?since=INSTANT as epoch milliseconds into *since (unchanged when absent);
  // a reply when it is not an instant.
  static std::optional<Reply> sinceParameter(const HTTPServerRequest& req, std::int64_t* since) {
    const std::string t = queryParameter(req, "since");
    if (t.empty()) return std::nullopt;
    std::optional<std::int64_t> ms = parseInstant(t);
    if (!ms) {
      return errorReply(ErrorCode::kInvalid,
                        "since must be an instant such as 2026-12-07T09:00:00Z", "since");
    }
    *since = *ms;
    return std::nullopt;
  }

  // GET /audit?patient=MRN[&since=INSTANT]: the patient's audit rows, oldest first.
  Reply patientAudit(const HTTPServerRequest& req, const std::string& mrn) {
    if (!isPatientKeyText(mrn)) {
      return errorReply(ErrorCode::kInvalid,
                        "patient query parameter missing, longer than 64 bytes or not text",
                        "patient");
    }
    AuditQuery query;
    query.patientKey = mrn;
    if (std::optional<Reply> bad = sinceParameter(req, &query.sinceMillis)) return *bad;
    query.limit = 10000;
    fhir::Result<std::vector<AuditEntry>> rows = ctx_.listAudit(query);
    if (!rows.isOk()) return errorReply(rows.status().code(), rows.status().message());
    fhir::Json list = fhir::Json::array();
    for (const AuditEntry& e : *rows) list.push(auditEntryToJson(e));
    fhir::Json body = fhir::Json::object();
    body.set("patient", fhir::Json::string(mrn));
    body.set("audit", std::move(list));
    return jsonReply(200, body);
  }

  static Reply resultReply(const fhir::Result<fhir::Json>& result) {
    if (!result.isOk()) return errorReply(result.status().code(), result.status().message());
    return jsonReply(200, *result);
  }

  // GET /patients/{mrn}/summary: JSON, or HTML when the client accepts text/html.
  Reply patientSummary(const HTTPServerRequest& req, const std::string& mrn) {
    if (!ctx_.patientSummary || !isPatientKeyText(mrn)) {
      return errorReply(ErrorCode::kNotFound, "no patient with that MRN");
    }
    fhir::Result<fhir::Json> summary = ctx_.patientSummary(mrn);
    if (!summary.isOk()) {
      return errorReply(summary.status().code(), summary.status().code() == ErrorCode::kNotFound
                                                     ? "no patient with that MRN"
                                                     : summary.status().message());
    }
    if (lower(req.get("Accept", "")).find("text/html") == std::string::npos) {
      return jsonReply(200, *summary);
    }
    Reply r;
    r.contentType = "text/html; charset=utf-8";
    r.body = patientSummaryHtml(*summary);
    // A page of clinical text: nothing active, never framed, never cached.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }

  // The delivery operator routes (gateway/delivery/operations.h).
  std::optional<Reply> dispatchDelivery(HTTPServerRequest& req, const std::string& path,
                                        std::string* route, LogInfo* info) {
    const std::string& method = req.getMethod();
    auto onlyMethod = [&](const char* allowed) -> std::optional<Reply> {
      if (method == allowed) return std::nullopt;
      Reply r = errorReply(ErrorCode::kUnsupported,
                           "method " + method + " is not allowed here; use " + allowed);
      r.status = 405;
      r.headers.emplace_back("Allow", allowed);
      r.close = true;
      return r;
    };
    DeliveryOperations& ops = *ctx_.delivery;
    if (path == "/destinations") {
      *route = kRouteDestinations;
      if (auto r = onlyMethod("GET")) return *r;
      if (auto denied = authorize(req, Role::kRead, info)) return *denied;
      return jsonReply(200, ops.destinations());
    }
    if (path == "/deliveries") {
      *route = kRouteDeliveries;
      if (auto r = onlyMethod("GET")) return *r;
      const std::string id = queryParameter(req, "recordId");
      if (isRecordId(id)) info->recordId = id;  // a refused attempt names the record too
      if (auto denied = authorize(req, Role::kRead, info)) return *denied;
      if (!isRecordId(id)) {
        return errorReply(ErrorCode::kInvalid, "recordId query parameter missing or invalid",
                          "recordId");
      }
      return resultReply(ops.deliveries(id));
    }
    if (path == "/deadletters") {
      *route = kRouteDeadLetters;
      if (auto r = onlyMethod("GET")) return *r;
      if (auto denied = authorize(req, Role::kRead, info)) return *denied;
      std::int64_t limit = 100;
      if (std::string l = queryParameter(req, "limit"); !l.empty()) {
        if (!parseMessageId(l, &limit) || limit > 10000) {
          return errorReply(ErrorCode::kInvalid, "limit must be 1..10000", "limit");
        }
      }
      return resultReply(
          ops.deadLetters(queryParameter(req, "destination"), static_cast<int>(limit)));
    }
    if (path == "/deadletters/replay") {
      // Replay by filter: ?destination=ID&since=INSTANT (both optional; neither:
      // every dead letter and not-sent message).
      *route = kRouteDeadLettersReplay;
      if (auto r = onlyMethod("POST")) return *r;
      if (auto denied = authorize(req, Role::kAdmin, info)) return *denied;
      std::int64_t since = 0;
      if (std::optional<Reply> bad = sinceParameter(req, &since)) return *bad;
      info->outcome = "replay";
      return resultReply(
          ops.replayMatching(queryParameter(req, "destination"), since, info->principal));
    }
    if (!path.starts_with("/deadletters/")) return std::nullopt;
    std::string rest = path.substr(13);
    std::string action;
    if (std::size_t slash = rest.find('/'); slash != std::string::npos) {
      action = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
    }
    std::int64_t id = 0;
    if (!parseMessageId(rest, &id)) {
      *route = kRouteDeadLetter;
      return errorReply(ErrorCode::kNotFound, "no dead letter with that id");
    }
    if (action.empty()) {
      *route = kRouteDeadLetter;
      if (auto r = onlyMethod("GET")) return *r;
      info->detail = "message " + rest;
      if (auto denied = authorize(req, Role::kRead, info)) return *denied;
      fhir::Result<fhir::Json> letter = ops.deadLetter(id);
      if (letter.isOk()) {
        if (const fhir::Json* r = letter->find("recordId"); r != nullptr && r->isString()) {
          info->recordId = r->text();
        }
      }
      return resultReply(letter);
    }
    *route = kRouteDeadLetterAction;
    if (action != "replay" && action != "discard") {
      return errorReply(ErrorCode::kNotFound, "no such dead-letter action (replay, discard)");
    }
    info->detail = "message " + rest;
    if (auto r = onlyMethod("POST")) return *r;
    if (auto denied = authorize(req, Role::kAdmin, info)) return *denied;
    info->outcome = action;
    return resultReply(action == "replay" ? ops.replay(id, info->principal)
                                          : ops.discard(id, info->principal));
  }

  // The principal for a request: a verified client certificate when there is no
  // Authorization header, else the bearer token; it needs one of `roles`.
  // Returns a reply on refusal.
  std::optional<Reply> authorize(HTTPServerRequest& req, std::initializer_list<Role> roles,
                                 LogInfo* info) {
    const std::string authorization = req.get("Authorization", "");
    fhir::Result<Principal> who = fhir::Status(ErrorCode::kUnauthorized, "");
    std::string subject;
    if (authorization.empty() && peerSubject(req, &subject)) {
      who = ctx_.auth.authenticateSubject(subject);
    } else {
      who = ctx_.auth.authenticateBearer(authorization);
    }
    if (!who.isOk()) {
      Reply r = errorReply(ErrorCode::kUnauthorized, who.status().message());
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"inloop\"");
      return r;
    }
    info->principal = who->id;
    std::string names;
    for (Role role : roles) {
      if (who->roles.has(role)) return std::nullopt;
      names += (names.empty() ? "\"" : " or \"") + std::string(roleName(role)) + "\"";
    }
    return errorReply(ErrorCode::kForbidden,
                      "principal \"" + who->id + "\" lacks the " + names + " role");
  }
  std::optional<Reply> authorize(HTTPServerRequest& req, Role role, LogInfo* info) {
    return authorize(req, {role}, info);
  }

  static bool peerSubject(HTTPServerRequest& req, std::string* subject) {
    auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&req);
    if (impl == nullptr) return false;
    auto* secure = dynamic_cast<Poco::Net::SecureStreamSocketImpl*>(impl->socket().impl());
    if (secure == nullptr) return false;
    try {
      if (!secure->havePeerCertificate()) return false;
      *subject = secure->peerCertificate().subjectName();
      return true;
    } catch (...) {
      return false;
    }
  }

  // Reads the whole body, at most `limit` bytes (kTooLarge beyond; kMalformed
  // when it ends before its Content-Length or the request deadline passed).
  fhir::Result<std::string> readBody(HTTPServerRequest& req, std::size_t limit) {
    bodyRead_ = true;
    fhir::Result<std::string> body = readBodyBytes(req, limit);
    if (requestRead()) {
      return fhir::Status(ErrorCode::kMalformed, "the request deadline passed");
    }
    return body;
  }

  static fhir::Result<std::string> readBodyBytes(HTTPServerRequest& req, std::size_t limit) {
    // POCO reads "Content-Length: -1" as -1; reserving that many bytes threw (a 500).
    if (req.hasContentLength() && req.getContentLength64() < 0) {
      return fhir::Status(ErrorCode::kMalformed, "Content-Length must not be negative");
    }
    if (req.hasContentLength() && req.getContentLength64() > static_cast<Poco::Int64>(limit)) {
      return fhir::Status(ErrorCode::kTooLarge,
                          "request body is larger than " + std::to_string(limit) + " bytes");
    }
    std::string body;
    if (req.hasContentLength()) body.reserve(static_cast<std::size_t>(req.getContentLength64()));
    std::istream& in = req.stream();
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      body.append(buf, static_cast<std::size_t>(in.gcount()));
      if (body.size() > limit) {
        return fhir::Status(ErrorCode::kTooLarge,
                            "request body is larger than " + std::to_string(limit) + " bytes");
      }
    }
    if (req.hasContentLength() &&
        body.size() < static_cast<std::size_t>(req.getContentLength64())) {
      return fhir::Status(ErrorCode::kMalformed,
                          "the request body ended before its Content-Length");
    }
    return body;
  }

  // Reads and drops the rest of a body no route read, at most kDrainBytes (under
  // the request deadline, which is still armed). False when the connection must
  // close instead: a larger or unframed body (without Content-Length or chunked,
  // POCO would read to the end of the connection), or one that ended early.
  static bool drainBody(HTTPServerRequest& req) {
    constexpr std::int64_t kDrainBytes = 64 << 10;
    const bool chunked = req.getChunkedTransferEncoding();
    if (!chunked && !req.hasContentLength()) return false;
    const std::int64_t declared = chunked ? -1 : req.getContentLength64();
    if (!chunked && (declared < 0 || declared > kDrainBytes)) return false;
    try {
      std::istream& in = req.stream();
      char buf[8192];
      std::int64_t total = 0;
      while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        total += in.gcount();
        if (total > kDrainBytes) return false;
      }
      return !in.bad() && (chunked || total == declared);
    } catch (...) {
      return false;
    }
  }

  // POCO's descriptor of this request's connection (-1 when not a socket).
  static int connectionFd(HTTPServerRequest& req) {
    auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&req);
    if (impl == nullptr || impl->socket().impl() == nullptr) return -1;
    return static_cast<int>(impl->socket().impl()->sockfd());
  }

  // Whether POCO will read a body for this request (its own rule: framing
  // headers, else a body up to the end of the connection except for GET, HEAD
  // and DELETE).
  static bool expectsBody(const HTTPServerRequest& req) {
    if (req.has("Transfer-Encoding")) return true;
    if (req.has("Content-Length")) return req.get("Content-Length") != "0";
    const std::string& m = req.getMethod();
    return m != "GET" && m != "HEAD" && m != "DELETE";
  }

  // Ends the request's deadline (idempotent); true (once) when it had passed.
  bool requestRead() {
    if (ctx_.deadlines == nullptr || fd_ < 0) return false;
    if (ctx_.deadlines->disarm(fd_)) deadlinePassed_ = true;
    return deadlinePassed_;
  }

  static std::optional<Reply> checkMediaType(HTTPServerRequest& req,
                                             std::initializer_list<const char*> accepted) {
    const std::string type = mediaType(req);
    std::string list;
    for (const char* a : accepted) {
      if (type == a) return std::nullopt;
      list += (list.empty() ? "" : " or ") + std::string(a);
    }
    Reply r = errorReply(ErrorCode::kUnsupported,
                         "Content-Type must be " + list + (type.empty() ? "" : ", not " + type));
    r.close = true;
    return r;
  }

  Reply postRecord(HTTPServerRequest& req, LogInfo* info) {
    if (auto bad = checkMediaType(req, {"application/json"})) return *bad;
    fhir::Result<std::string> body = readBody(req, ctx_.limits.maxBodyBytes);
    if (!body.isOk()) {
      Reply r = errorReply(body.status().code(), body.status().message());
      r.close = true;
      return r;
    }
    IngestSource source{info->principal, "http"};
    RecordOutcome o = ctx_.pipeline.ingestOne(*body, source);
    info->recordId = o.recordId;
    info->version = o.version;
    info->outcome = ingestStatusName(o.status);
    const int status = httpStatusFor(o.status);
    if (o.status == IngestStatus::kAccepted || o.status == IngestStatus::kReplay) {
      Reply r = jsonReply(status, receiptJson(o));
      r.headers.emplace_back("Location", "/records/" + o.recordId);
      return r;
    }
    if (o.issues.empty()) {
      return errorReply(ingestStatusErrorCode(o.status), ingestStatusName(o.status));
    }
    return outcomeReply(status, o.issues);
  }

  Reply postBatch(HTTPServerRequest& req, LogInfo* info) {
    if (auto bad = checkMediaType(req, {"application/x-ndjson", "application/ndjson"})) {
      return *bad;
    }
    fhir::Result<std::string> body = readBody(req, ctx_.limits.maxBatchBytes);
    if (!body.isOk()) {
      Reply r = errorReply(body.status().code(), body.status().message());
      r.close = true;
      return r;
    }
    IngestSource source{info->principal, "http-batch"};
    fhir::Result<std::vector<RecordOutcome>> outcomes = ctx_.pipeline.ingestBatch(*body, source);
    if (!outcomes.isOk()) {
      info->outcome = fhir::errorCodeName(outcomes.status().code());
      return errorReply(outcomes.status().code(), outcomes.status().message());
    }
    fhir::Json results = fhir::Json::array();
    std::int64_t accepted = 0;
    std::int64_t rejected = 0;
    for (const RecordOutcome& o : *outcomes) {
      fhir::Json line = fhir::Json::object();
      line.set("line", fhir::Json::number(static_cast<std::int64_t>(o.line)));
      if (!o.recordId.empty()) line.set("recordId", fhir::Json::string(o.recordId));
      if (o.version > 0) line.set("version", fhir::Json::number(o.version));
      line.set("status", fhir::Json::string(ingestStatusName(o.status)));
      line.set("httpStatus", fhir::Json::number(std::int64_t{httpStatusFor(o.status)}));
      if (o.status == IngestStatus::kAccepted || o.status == IngestStatus::kReplay) {
        line.set("receiptId", fhir::Json::string(o.receiptId));
        ++accepted;
      } else {
        line.set("issues", issuesJson(o.issues));
        ++rejected;
      }
      results.push(std::move(line));
    }
    info->records = outcomes->size();
    fhir::Json reply = fhir::Json::object();
    reply.set("accepted", fhir::Json::number(accepted));
    reply.set("rejected", fhir::Json::number(rejected));
    reply.set("results", std::move(results));
    return jsonReply(200, reply);
  }

  const ApiContext& ctx_;
  std::atomic<int>& inFlight_;
  const int inFlightAtStart_;
  std::atomic<int>& batches_;
  int fd_ = -1;
  bool deadlinePassed_ = false;
  bool bodyRead_ = false;  // readBody() ran: the body is consumed or the connection closes
};

// POCO's connection with its whole life registered in RequestDeadlines.
class DeadlineConnection : public Poco::Net::HTTPServerConnection {
 public:
  DeadlineConnection(const Poco::Net::StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params,
                     Poco::Net::HTTPRequestHandlerFactory::Ptr handlers,
                     RequestDeadlines& deadlines, JsonLogger& logger,
                     Poco::AutoPtr<ConnectionGate> gate)
      : HTTPServerConnection(socket, std::move(params), std::move(handlers)),
        deadlines_(deadlines),
        logger_(logger),
        gate_(std::move(gate)) {}
  ~DeadlineConnection() override {
    if (gate_) gate_->connectionEnded(socket());
  }
  DeadlineConnection(const DeadlineConnection&) = delete;
  DeadlineConnection& operator=(const DeadlineConnection&) = delete;

  void run() override {
    // POCO's session closes its descriptor when the loop ends: read it first.
    const int fd = static_cast<int>(socket().impl()->sockfd());
    const std::uint64_t id = deadlines_.open(fd);
    try {
      HTTPServerConnection::run();
    } catch (...) {
      finish(fd, id);
      throw;  // to TCPServerConnection::start(), which reports and ends the connection
    }
    finish(fd, id);
  }

 private:
  void finish(int fd, std::uint64_t id) {
    if (!deadlines_.close(fd, id)) return;
    fhir::Json f = fhir::Json::object();
    f.set("phase", fhir::Json::string("header"));
    f.set("deadlineMs",
          fhir::Json::number(static_cast<std::int64_t>(deadlines_.headerBudget().count())));
    logger_.log(LogLevel::kWarning, "request-deadline", f);
  }

  RequestDeadlines& deadlines_;
  JsonLogger& logger_;
  Poco::AutoPtr<ConnectionGate> gate_;
};

}  // namespace

int httpStatusFor(fhir::ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kMalformed:
      return 400;
    case ErrorCode::kInvalid:
      return 422;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kUnsupported:
      return 415;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kIoError:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

int httpStatusFor(IngestStatus status) {
  if (status == IngestStatus::kAccepted) return 202;
  return httpStatusFor(ingestStatusErrorCode(status));
}

RequestDeadlines::~RequestDeadlines() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [fd, c] : connections_) {
    disarmLocked(c);
    ::close(c.watchedFd);
  }
}

bool RequestDeadlines::disarmLocked(Connection& c) {
  if (!c.armed) return false;
  c.armed = false;
  return DeadlineWatchdog::shared().disarm(c.ticket);
}

void RequestDeadlines::armLocked(Connection& c, TimePoint start, std::chrono::milliseconds budget) {
  disarmLocked(c);
  c.start = start;
  c.ticket = DeadlineWatchdog::shared().arm(c.watchedFd, start + budget);
  c.armed = true;
}

std::uint64_t RequestDeadlines::open(int fd) {
  const int watched = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  std::lock_guard<std::mutex> lock(mutex_);
  const std::uint64_t id = nextId_++;
  if (watched < 0) return id;
  if (auto old = connections_.find(fd); old != connections_.end()) {
    // A connection whose descriptor POCO closed and the kernel gave to this
    // one, before the old one reached close(): it is done with its socket.
    disarmLocked(old->second);
    ::close(old->second.watchedFd);
    connections_.erase(old);
  }
  Connection c;
  c.id = id;
  c.watchedFd = watched;
  armLocked(c, DeadlineWatchdog::Clock::now(), headerBudget_);
  connections_.emplace(fd, c);
  return id;
}

bool RequestDeadlines::close(int fd, std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = connections_.find(fd);
  if (it == connections_.end() || it->second.id != id) return false;
  const bool fired = disarmLocked(it->second) || it->second.firedUnreported;
  ::close(it->second.watchedFd);
  connections_.erase(it);
  return fired;
}

void RequestDeadlines::arm(int fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  armLocked(it->second, DeadlineWatchdog::Clock::now(), nextHeaderBudget_);
}

void RequestDeadlines::headReceived(int fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = connections_.find(fd);
  // Not armed: the header deadline passed (the socket is shut down) or the
  // request was already read.
  if (it == connections_.end() || !it->second.armed) return;
  if (disarmLocked(it->second)) {
    it->second.firedUnreported = true;  // for disarm()/close()
    return;
  }
  armLocked(it->second, it->second.start, budget_);
}

bool RequestDeadlines::disarm(int fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = connections_.find(fd);
  if (it == connections_.end()) return false;
  const bool fired = disarmLocked(it->second) || it->second.firedUnreported;
  it->second.firedUnreported = false;
  return fired;
}

Poco::Net::TCPServerConnection* DeadlineConnectionFactory::createConnection(
    const Poco::Net::StreamSocket& socket) {
  // POCO takes ownership of the connection.
  return new DeadlineConnection(socket, params_, handlers_, deadlines_, logger_, gate_);
}

Poco::Net::HTTPRequestHandler* ApiHandlerFactory::createRequestHandler(
    const Poco::Net::HTTPServerRequest&) {
  // POCO takes ownership of the handler and deletes it after the request.
  const int inFlight = ++inFlight_;
  return new ApiHandler(context_, inFlight_, inFlight, batches_);
}

}  // namespace inloop::gateway
