#pragma once

// HttpClient: how inloop talks HTTP(S) to one receiver origin (scheme, host, port).
//
// Wraps Poco::Net::HTTPClientSession / HTTPSClientSession so that nothing POCO
// throws escapes: every call returns either a response value {status, headers,
// body} or a classified TransportError. TLS is configured per client (that is,
// per destination): TLS 1.2 or newer only; the server certificate is verified
// against the system trust store or a configured CA file, including the host
// name (or IP address) of the URL; verification is off only when
// TlsSettings::verify is false, which is logged as a warning on every client
// created. A client certificate and key (PEM) give mutual TLS.
//
// Sessions are kept alive and reused: idle sessions wait in a small pool, so
// concurrent send() calls each use their own connection and sequential calls
// reuse one. Timeouts: `connectMs` for the TCP connect (and TLS handshake),
// `requestMs` for the whole exchange: each socket call and, through the
// DeadlineWatchdog, the total from sending the request to the last body byte.
// A response body larger than `maxResponseBytes` is a kTooLarge error (the
// connection is dropped).
//
// Thread safety: send() may be called concurrently from any number of threads.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/status.h"
#include "mappings/shaping/destination.h"

namespace Poco::Net {
class HTTPClientSession;
class Context;
}  // namespace Poco::Net

namespace inloop::gateway {

class JsonLogger;

using HeaderList = std::vector<mappings::HeaderField>;

// First value of header `name` (case-insensitive), or empty.
std::string_view findHeader(const HeaderList& headers, std::string_view name);

struct HttpRequest {
  std::string method = "GET";
  // Path and query, starting with '/' ("/fhir/R4/metadata"). See
  // HttpClient::pathFor to build it from a URL relative to the base.
  std::string target = "/";
  HeaderList headers;
  std::string body;  // sent with Content-Length when non-empty or for POST/PUT
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  HeaderList headers;
  std::string body;
};

enum class TransportErrorKind {
  kConnectRefused,   // nothing listens at the address
  kDnsFailure,       // the host name does not resolve
  kTimeout,          // connect, send or receive timed out
  kTlsHandshake,     // TLS failed before any HTTP was exchanged (protocol, client cert)
  kTlsVerify,        // the server certificate failed verification (chain or name)
  kReset,            // the connection was reset or closed before a whole response
  kProtocol,         // the response was not well-formed HTTP
  kTooLarge,         // the response body exceeded maxResponseBytes
  kInvalidRequest,   // the request could not be sent as given (bug or bad config)
  kAuthUnavailable,  // credentials could not be obtained now (token endpoint down)
  kAuthFailed,       // credentials refused by the token endpoint, or misconfigured
  kOther,            // any other network failure
};

// "connect-refused", "dns-failure", "timeout", "tls-handshake", "tls-verify",
// "reset", "protocol", "too-large", "invalid-request", "auth-unavailable",
// "auth-failed", "other".
std::string_view transportErrorKindName(TransportErrorKind kind);

struct TransportError {
  TransportErrorKind kind = TransportErrorKind::kOther;
  std::string message;  // POCO/OpenSSL text; never contains request headers or bodies
};

// Either a response (any status code) or a transport error.
class HttpResult {
 public:
  HttpResult(HttpResponse response) : ok_(true), response_(std::move(response)) {}  // NOLINT
  HttpResult(TransportError error) : ok_(false), error_(std::move(error)) {}        // NOLINT

  bool isOk() const { return ok_; }
  // Precondition isOk() for response(), !isOk() for error().
  const HttpResponse& response() const { return response_; }
  HttpResponse& response() { return response_; }
  const TransportError& error() const { return error_; }

 private:
  bool ok_;
  HttpResponse response_;
  TransportError error_;
};

struct HttpClientOptions {
  mappings::TlsSettings tls;
  std::string certificateFile;  // client certificate (PEM) for mTLS; empty: none
  std::string keyFile;          // its private key (PEM, unencrypted)
  mappings::Timeouts timeouts;
  std::size_t maxResponseBytes = 16u << 20;
  std::size_t maxIdleSessions = 8;
  // Sent on every request unless the request sets the same header itself.
  HeaderList defaultHeaders;
  std::string userAgent = "inloop";
};

class HttpClient {
 public:
  // A client for the origin of `url` ("https://ehr.example.org:8443/fhir/R4";
  // only scheme, host and port are used, plus the path as the base for
  // pathFor). Fails with kInvalid for a URL that is not http(s) with a host,
  // and with kInvalid/kIoError when the TLS context cannot be built (unreadable
  // CA file, certificate or key; key not matching the certificate).
  // `logger` may be null; it must outlive the client.
  static fhir::Result<std::unique_ptr<HttpClient>> create(std::string_view url,
                                                          const HttpClientOptions& options,
                                                          JsonLogger* logger);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the whole response. Never throws.
  HttpResult send(const HttpRequest& request);

  // The request target for `relative` resolved against the base path: "" is
  // the base itself, "metadata" and "Patient?identifier=a|b" are appended after
  // a '/', a value starting with '/' is taken as is, and an absolute URL of
  // the same origin gives its path and query.
  std::string pathFor(std::string_view relative) const;

  const std::string& scheme() const { return scheme_; }
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  const std::string& basePath() const { return basePath_; }
  // "https://host:port", for logs.
  std::string origin() const;

 private:
  HttpClient() = default;
  std::unique_ptr<Poco::Net::HTTPClientSession> takeSession(bool* reused);
  void returnSession(std::unique_ptr<Poco::Net::HTTPClientSession> session);
  // `headerReceived` tells whether a response head arrived before any failure.
  // sendOn with the total requestMs deadline applied to exchange().
  HttpResult sendOn(Poco::Net::HTTPClientSession& session, const HttpRequest& request,
                    bool* headerReceived, bool* keepSession);
  HttpResult exchange(Poco::Net::HTTPClientSession& session, const HttpRequest& request,
                      std::chrono::steady_clock::time_point start, bool* deadlineFired,
                      bool* headerReceived, bool* keepSession);

  std::string scheme_;
  std::string host_;
  std::uint16_t port_ = 0;
  std::string basePath_;
  HttpClientOptions options_;
  struct ContextHolder;
  std::unique_ptr<ContextHolder> context_;  // null for plain http

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>> idle_;
};

// Reads the result's text for logs: "HTTP 503" or "timeout: <message>".
std::string describeResult(const HttpResult& result);

}  // namespace inloop::gateway
