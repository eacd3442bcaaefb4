#pragma once

// FaultReceiver: an in-process HTTP(S) receiver on 127.0.0.1, port 0, scripted
// per test. Each request consumes the next Step of the script (or the default
// step when the script is empty): a normal response (status, headers, body),
// a connection reset in the middle of the body, a stalled response (held until
// releaseStalls() or the receiver's destruction, so client timeouts fire
// without the test sleeping), or a close without any response. Every request is
// recorded (method, target, headers, body, client port: the same port twice
// means a reused keep-alive connection).
//
// A handler may answer before the script (for example the SMART token
// endpoint double); it returns nullopt to fall through.
//
// TLS: with a certificate and key it serves HTTPS (TLS 1.2+); with a CA file and
// requireClientCert, a client without a certificate signed by that CA is
// refused during the handshake (mutual TLS).
//
// Thread safety: all methods may be called while requests are being served.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/change_signal.h"
#include "gateway/transport/http_client.h"

namespace inloop::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;  // path and query as sent
  gateway::HeaderList headers;
  std::string body;
  std::uint16_t clientPort = 0;
  std::string clientCertSubject;  // mTLS: the verified client certificate's subject

  std::string header(std::string_view name) const {
    return std::string(gateway::findHeader(headers, name));
  }
};

struct Step {
  enum class Action {
    kRespond,           // send status, headers, body
    kResetMidResponse,  // headers promising `body`, half of it, then a TCP reset
    kStall,             // send nothing until releaseStalls(), then respond
    kCloseWithoutResponse,
    kDrip,  // status and headers, then the body one byte per `dripInterval`
  };
  Action action = Action::kRespond;
  int status = 200;
  gateway::HeaderList headers;
  std::string body;
  std::string contentType = "application/fhir+json";
  std::chrono::milliseconds dripInterval{0};

  static Step respond(int status, std::string body = {}, gateway::HeaderList headers = {});
  // `status` with a Retry-After header (delta-seconds or an HTTP-date).
  static Step retryAfter(int status, std::string value);
  static Step resetMidResponse(std::string body = std::string(4096, 'x'));
  static Step stall(int status = 200, std::string body = "{}");
  static Step closeWithoutResponse();
  // A slow receiver: the body trickles out one byte per `interval` (the rest
  // goes at once after releaseStalls()); stops when the client hangs up.
  static Step drip(std::chrono::milliseconds interval, int status = 200,
                   std::string body = std::string(64, ' '));
  // 422 (or `status`) with an OperationOutcome of one error issue.
  static Step operationOutcome(int status, std::string_view issueCode,
                               std::string_view diagnostics);
};

struct FaultReceiverOptions {
  std::string certificateFile;  // PEM; set: HTTPS
  std::string keyFile;
  std::string caFile;              // trusted issuers of client certificates
  bool requireClientCert = false;  // mutual TLS
};

class FaultReceiver {
 public:
  using Handler = std::function<std::optional<Step>(const ReceivedRequest&)>;

  // `port` 0: a free port; else that one (a receiver coming back up).
  explicit FaultReceiver(FaultReceiverOptions options = {}, std::uint16_t port = 0);
  ~FaultReceiver();
  FaultReceiver(const FaultReceiver&) = delete;
  FaultReceiver& operator=(const FaultReceiver&) = delete;

  // "http(s)://127.0.0.1:PORT" + path.
  std::string url(std::string_view path = "") const;
  std::uint16_t port() const { return port_; }

  // Appends steps to the script.
  void script(std::vector<Step> steps);
  // The step used when the script is empty (initially 200 with "{}").
  void setDefault(Step step);
  void setHandler(Handler handler);
  // Lets every stalled (and future stalled) response go.
  void releaseStalls();

  std::vector<ReceivedRequest> requests() const;
  std::size_t requestCount() const;
  // From now on notifies `changes` (may be null: nobody) after each request
  // was recorded and after the handler (setHandler) has run for it, so a test
  // can wait on what the receiver saw. It must outlive the receiver's use.
  void notifyOn(gateway::ChangeSignal* changes);

  // Internal: called by the request handler.
  Step next(const ReceivedRequest& request);
  void waitForRelease();
  // Waits at most `timeout` for releaseStalls(); true once released.
  bool waitForReleaseFor(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  bool tls_ = false;

  mutable std::mutex mutex_;
  std::condition_variable released_cv_;
  bool released_ = false;
  std::deque<Step> script_;
  Step default_;
  Handler handler_;
  gateway::ChangeSignal* changes_ = nullptr;
  std::vector<ReceivedRequest> requests_;
};

}  // namespace inloop::testing
