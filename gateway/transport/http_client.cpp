#include "gateway/transport/http_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SocketImpl.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <istream>
#include <mutex>
#include <ostream>

#include "gateway/log/json_logger.h"
#include "gateway/transport/deadline_watchdog.h"

namespace inloop::gateway {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void initializeSslOnce() {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Net::initializeSSL(); });
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// Maps what POCO threw to a transport error. Most derived types first.
TransportError classify(const Poco::Exception& e) {
  using namespace Poco::Net;
  const std::string text = e.displayText();
  auto make = [&](TransportErrorKind kind) { return TransportError{kind, text}; };
  if (dynamic_cast<const ConnectionRefusedException*>(&e)) {
    return make(TransportErrorKind::kConnectRefused);
  }
  if (dynamic_cast<const DNSException*>(&e)) return make(TransportErrorKind::kDnsFailure);
  if (dynamic_cast<const Poco::TimeoutException*>(&e)) return make(TransportErrorKind::kTimeout);
  if (dynamic_cast<const CertificateValidationException*>(&e)) {
    return make(TransportErrorKind::kTlsVerify);
  }
  if (dynamic_cast<const SSLConnectionUnexpectedlyClosedException*>(&e)) {
    return make(TransportErrorKind::kReset);
  }
  if (dynamic_cast<const SSLException*>(&e)) {
    if (contains(text, "certificate verify failed") || contains(text, "verify")) {
      return make(TransportErrorKind::kTlsVerify);
    }
    return make(TransportErrorKind::kTlsHandshake);
  }
  if (dynamic_cast<const ConnectionResetException*>(&e) ||
      dynamic_cast<const ConnectionAbortedException*>(&e) ||
      dynamic_cast<const NoMessageException*>(&e)) {
    return make(TransportErrorKind::kReset);
  }
  if (dynamic_cast<const MessageException*>(&e)) return make(TransportErrorKind::kProtocol);
  if (dynamic_cast<const InvalidAddressException*>(&e)) {
    return make(TransportErrorKind::kDnsFailure);
  }
  // A socket error POCO did not type (EPIPE while sending, for example).
  if (contains(text, "reset") || contains(text, "Broken pipe")) {
    return make(TransportErrorKind::kReset);
  }
  return make(TransportErrorKind::kOther);
}

bool isIpAddress(const std::string& host) {
  Poco::Net::IPAddress ip;
  return Poco::Net::IPAddress::tryParse(host, ip);
}

}  // namespace

std::string_view findHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

std::string_view transportErrorKindName(TransportErrorKind kind) {
  switch (kind) {
    case TransportErrorKind::kConnectRefused:
      return "connect-refused";
    case TransportErrorKind::kDnsFailure:
      return "dns-failure";
    case TransportErrorKind::kTimeout:
      return "timeout";
    case TransportErrorKind::kTlsHandshake:
      return "tls-handshake";
    case TransportErrorKind::kTlsVerify:
      return "tls-verify";
    case TransportErrorKind::kReset:
      return "reset";
    case TransportErrorKind::kProtocol:
      return "protocol";
    case TransportErrorKind::kTooLarge:
      return "too-large";
    case TransportErrorKind::kInvalidRequest:
      return "invalid-request";
    case TransportErrorKind::kAuthUnavailable:
      return "auth-unavailable";
    case TransportErrorKind::kAuthFailed:
      return "auth-failed";
    case TransportErrorKind::kOther:
      return "other";
  }
  return "other";
}

std::string describeResult(const HttpResult& result) {
  if (result.isOk()) return "HTTP " + std::to_string(result.response().status);
  return std::string(transportErrorKindName(result.error().kind)) + ": " + result.error().message;
}

struct HttpClient::ContextHolder {
  Poco::AutoPtr<Poco::Net::Context> context;
};

HttpClient::~HttpClient() = default;

fhir::Result<std::unique_ptr<HttpClient>> HttpClient::create(std::string_view url,
                                                             const HttpClientOptions& options,
                                                             JsonLogger* logger) {
  std::unique_ptr<HttpClient> client(new HttpClient());
  try {
    Poco::URI uri{std::string(url)};
    client->scheme_ = uri.getScheme();
    client->host_ = uri.getHost();
    client->port_ = uri.getPort();
    std::string path = uri.getPathEtc();
    if (auto q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    client->basePath_ = path.empty() ? "/" : path;
  } catch (const Poco::Exception& e) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "invalid URL: " + e.displayText());
  }
  if (client->scheme_ != "http" && client->scheme_ != "https") {
    return fhir::Status(fhir::ErrorCode::kInvalid, "URL scheme must be http or https");
  }
  if (client->host_.empty()) return fhir::Status(fhir::ErrorCode::kInvalid, "URL has no host");
  client->options_ = options;

  if (client->scheme_ == "https") {
    initializeSslOnce();
    const bool verify = options.tls.verify;
    Poco::Net::Context::Params params;
    params.verificationMode =
        verify ? Poco::Net::Context::VERIFY_RELAXED : Poco::Net::Context::VERIFY_NONE;
    params.caLocation = options.tls.caFile;
    params.loadDefaultCAs = verify && options.tls.caFile.empty();
    params.certificateFile = options.certificateFile;
    params.privateKeyFile = options.keyFile;
    params.verificationDepth = 9;
    params.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES";
    auto holder = std::make_unique<ContextHolder>();
    try {
      holder->context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
      holder->context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
      // OpenSSL checks the host name below; POCO's own check would be skipped
      // for loopback names and consult process-wide certificate handlers.
      holder->context->enableExtendedCertificateVerification(false);
    } catch (const Poco::Exception& e) {
      return fhir::Status(fhir::ErrorCode::kInvalid, "TLS settings: " + e.displayText());
    }
    SSL_CTX* ssl = holder->context->sslContext();
    // No verify callback: POCO's would route failures through the process-wide
    // SSLManager handlers (interactive by default). OpenSSL's own result decides.
    SSL_CTX_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (verify) {
      X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ssl);
      int ok = isIpAddress(client->host_)
                   ? X509_VERIFY_PARAM_set1_ip_asc(param, client->host_.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, client->host_.c_str(), 0);
      if (ok != 1) {
        return fhir::Status(fhir::ErrorCode::kInvalid, "cannot set the expected TLS host name");
      }
    }
    if (!options.certificateFile.empty() && SSL_CTX_check_private_key(ssl) != 1) {
      return fhir::Status(fhir::ErrorCode::kInvalid,
                          "TLS client key does not match the client certificate");
    }
    client->context_ = std::move(holder);
    if (!verify && logger != nullptr) {
      fhir::Json fields = fhir::Json::object();
      fields.set("origin", fhir::Json::string(client->origin()));
      fields.set("reason",
                 fhir::Json::string("insecureSkipVerify is set: the receiver's certificate is NOT "
                                    "verified; anyone on the path can read and alter traffic"));
      logger->log(LogLevel::kWarning, "tls-verification-disabled", fields);
    }
  }
  return client;
}

std::string HttpClient::origin() const {
  return scheme_ + "://" + host_ + ":" + std::to_string(port_);
}

std::string HttpClient::pathFor(std::string_view relative) const {
  if (relative.empty()) return basePath_;
  if (relative.rfind("http://", 0) == 0 || relative.rfind("https://", 0) == 0) {
    try {
      Poco::URI uri{std::string(relative)};
      std::string p = uri.getPathEtc();
      return p.empty() ? "/" : p;
    } catch (const Poco::Exception&) {
      return "/";
    }
  }
  if (relative.front() == '/') return std::string(relative);
  std::string out = basePath_ == "/" ? "" : basePath_;
  if (relative.front() != '?') out += '/';
  out += relative;
  return out;
}

std::unique_ptr<Poco::Net::HTTPClientSession> HttpClient::takeSession(bool* reused) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      auto s = std::move(idle_.back());
      idle_.pop_back();
      *reused = true;
      return s;
    }
  }
  *reused = false;
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  if (context_) {
    session = std::make_unique<Poco::Net::HTTPSClientSession>(host_, port_, context_->context);
  } else {
    session = std::make_unique<Poco::Net::HTTPClientSession>(host_, port_);
  }
  session->setKeepAlive(true);
  // Shorter than common server idle timeouts, so a pooled connection is
  // rarely one the server already closed.
  session->setKeepAliveTimeout(Poco::Timespan(4, 0));
  return session;
}

void HttpClient::returnSession(std::unique_ptr<Poco::Net::HTTPClientSession> session) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < options_.maxIdleSessions) idle_.push_back(std::move(session));
}

HttpResult HttpClient::send(const HttpRequest& request) {
  if (request.target.empty() || request.target.front() != '/' ||
      request.target.find_first_of("\r\n ") != std::string::npos) {
    return TransportError{TransportErrorKind::kInvalidRequest, "request target must be a path"};
  }
  for (const auto& h : request.headers) {
    if (h.name.find_first_of("\r\n:") != std::string::npos ||
        h.value.find_first_of("\r\n") != std::string::npos) {
      return TransportError{TransportErrorKind::kInvalidRequest, "invalid header " + h.name};
    }
  }
  bool reused = false;
  auto session = takeSession(&reused);
  bool headerReceived = false;
  bool keep = false;
  HttpResult result = sendOn(*session, request, &headerReceived, &keep);
  if (!result.isOk() && reused && !headerReceived &&
      (result.error().kind == TransportErrorKind::kReset ||
       result.error().kind == TransportErrorKind::kProtocol)) {
    // The server closed a pooled keep-alive connection before this request
    // reached it: nothing was processed, so one fresh attempt is safe.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.clear();  // its siblings are probably stale too
    }
    session = takeSession(&reused);
    headerReceived = false;
    keep = false;
    result = sendOn(*session, request, &headerReceived, &keep);
  }
  if (keep) returnSession(std::move(session));
  return result;
}

HttpResult HttpClient::sendOn(Poco::Net::HTTPClientSession& session, const HttpRequest& request,
                              bool* headerReceived, bool* keepSession) {
  const auto start = DeadlineWatchdog::Clock::now();
  bool deadlineFired = false;
  HttpResult result =
      exchange(session, request, start, &deadlineFired, headerReceived, keepSession);
  if (!deadlineFired) return result;
  // The watchdog shut the socket down: whatever the exchange saw after that is
  // an effect of the deadline, not of the receiver.
  *keepSession = false;
  try {
    session.reset();
  } catch (...) {
    // The session is dropped either way.
  }
  return TransportError{TransportErrorKind::kTimeout,
                        "no complete response within requestMs " +
                            std::to_string(options_.timeouts.requestMs) + " ms"};
}

HttpResult HttpClient::exchange(Poco::Net::HTTPClientSession& session, const HttpRequest& request,
                                DeadlineWatchdog::Clock::time_point start, bool* deadlineFired,
                                bool* headerReceived, bool* keepSession) {
  *keepSession = false;
  try {
    const auto connectUs = static_cast<Poco::Timespan::TimeDiff>(
        std::max<std::int64_t>(1, options_.timeouts.connectMs) * 1000);
    const auto requestUs = static_cast<Poco::Timespan::TimeDiff>(
        std::max<std::int64_t>(1, options_.timeouts.requestMs) * 1000);
    session.setTimeout(Poco::Timespan(connectUs), Poco::Timespan(requestUs),
                       Poco::Timespan(requestUs));

    Poco::Net::HTTPRequest req(request.method, request.target, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    req.set("User-Agent", options_.userAgent);
    for (const auto& h : options_.defaultHeaders) req.set(h.name, h.value);
    for (const auto& h : request.headers) req.set(h.name, h.value);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
      req.setContentLength(static_cast<std::streamsize>(request.body.size()));
    }
    std::ostream& os = session.sendRequest(req);
    os.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
    os.flush();
    if (!os.good()) {
      if (const Poco::Exception* ex = session.networkException()) {
        TransportError e = classify(*ex);
        session.reset();
        return e;
      }
      session.reset();
      return TransportError{TransportErrorKind::kReset, "connection failed while sending"};
    }

    // requestMs bounds the whole exchange, not only each socket call: a
    // receiver dripping bytes would otherwise hold this worker for ever. The
    // guard is released before every close below (drop), so the watchdog never
    // shuts down a reused descriptor.
    DeadlineGuard deadline(
        session.socket().impl()->sockfd(),
        start + std::chrono::milliseconds(std::max<std::int64_t>(1, options_.timeouts.requestMs)),
        deadlineFired);
    auto drop = [&] {
      deadline.release();
      session.reset();
    };

    Poco::Net::HTTPResponse resp;
    std::istream& is = session.receiveResponse(resp);
    *headerReceived = true;
    HttpResponse out;
    out.status = static_cast<int>(resp.getStatus());
    out.reason = resp.getReason();
    for (const auto& [name, value] : resp) out.headers.push_back({name, value});

    const std::size_t limit = options_.maxResponseBytes;
    const bool hasLength = resp.hasContentLength();
    const std::int64_t length = hasLength ? resp.getContentLength64() : -1;
    if (hasLength && length > static_cast<std::int64_t>(limit)) {
      drop();
      return TransportError{TransportErrorKind::kTooLarge,
                            "response body of " + std::to_string(length) +
                                " bytes exceeds the limit of " + std::to_string(limit)};
    }
    char buffer[16384];
    while (is) {
      is.read(buffer, sizeof buffer);
      const auto n = static_cast<std::size_t>(is.gcount());
      if (n == 0) continue;
      if (out.body.size() + n > limit) {
        drop();
        return TransportError{TransportErrorKind::kTooLarge,
                              "response body exceeds the limit of " + std::to_string(limit)};
      }
      out.body.append(buffer, n);
    }
    if (is.bad()) {
      TransportError e{TransportErrorKind::kReset, "connection failed while reading the body"};
      if (const Poco::Exception* ex = session.networkException()) e = classify(*ex);
      drop();
      return e;
    }
    if (hasLength && static_cast<std::int64_t>(out.body.size()) < length) {
      drop();
      return TransportError{TransportErrorKind::kReset,
                            "connection closed after " + std::to_string(out.body.size()) + " of " +
                                std::to_string(length) + " body bytes"};
    }
    *keepSession = resp.getKeepAlive();
    deadline.release();
    if (!*keepSession) session.reset();
    return out;
  } catch (const Poco::Exception& e) {
    TransportError err = classify(e);
    if (err.kind == TransportErrorKind::kOther) {
      if (const Poco::Exception* ex = session.networkException()) err = classify(*ex);
    }
    try {
      session.reset();
    } catch (...) {
      // The session is dropped either way.
    }
    return err;
  } catch (const std::exception& e) {
    try {
      session.reset();
    } catch (...) {
    }
    return TransportError{TransportErrorKind::kOther, e.what()};
  }
}

}  // namespace inloop::gateway
