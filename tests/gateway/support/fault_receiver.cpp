#include "tests/gateway/support/fault_receiver.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/X509Certificate.h>
#include <Poco/StreamCopier.h>
#include <openssl/ssl.h>

#include <chrono>
#include <sstream>

#include "fhir/json.h"

namespace inloop::testing {

namespace {

class Handler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(FaultReceiver& owner) : owner_(owner) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    // POCO answers an escaped exception with no response at all; for a test
    // double that is one of the faults we script explicitly, never by accident.
    try {
      handle(request, response);
    } catch (...) {
    }
  }

 private:
  void handle(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    ReceivedRequest rec;
    rec.method = request.getMethod();
    rec.target = request.getURI();
    for (const auto& [name, value] : request) rec.headers.push_back({name, value});
    std::ostringstream body;
    Poco::StreamCopier::copyStream(request.stream(), body);
    rec.body = body.str();
    rec.clientPort = request.clientAddress().port();
    auto& impl = static_cast<Poco::Net::HTTPServerRequestImpl&>(request);
    if (request.secure()) {
      try {
        Poco::Net::SecureStreamSocket secure(impl.socket());
        if (secure.havePeerCertificate()) {
          rec.clientCertSubject = secure.peerCertificate().subjectName();
        }
      } catch (...) {
      }
    }

    Step step = owner_.next(rec);
    if (step.action == Step::Action::kStall) owner_.waitForRelease();
    if (step.action == Step::Action::kCloseWithoutResponse) {
      impl.socket().close();
      return;
    }
    response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(step.status));
    for (const auto& h : step.headers) response.set(h.name, h.value);
    if (!step.body.empty()) response.setContentType(step.contentType);
    response.setContentLength(static_cast<std::streamsize>(step.body.size()));
    std::ostream& out = response.send();
    if (step.action == Step::Action::kResetMidResponse) {
      out.write(step.body.data(), static_cast<std::streamsize>(step.body.size() / 2));
      out.flush();
      Poco::Net::StreamSocket& socket = impl.socket();
      socket.setLinger(true, 0);  // close() now sends a TCP RST
      socket.close();
      return;
    }
    if (step.action == Step::Action::kDrip) {
      for (std::size_t i = 0; i < step.body.size() && out.good(); ++i) {
        if (owner_.waitForReleaseFor(step.dripInterval)) {
          out.write(step.body.data() + i, static_cast<std::streamsize>(step.body.size() - i));
          return;
        }
        out.put(step.body[i]);
        out.flush();
      }
      return;
    }
    out.write(step.body.data(), static_cast<std::streamsize>(step.body.size()));
  }

  FaultReceiver& owner_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(FaultReceiver& owner) : owner_(owner) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler(owner_);
  }

 private:
  FaultReceiver& owner_;
};

}  // namespace

Step Step::respond(int status, std::string body, gateway::HeaderList headers) {
  Step s;
  s.status = status;
  s.body = std::move(body);
  s.headers = std::move(headers);
  return s;
}

Step Step::retryAfter(int status, std::string value) {
  return respond(status, {}, {{"Retry-After", std::move(value)}});
}

Step Step::resetMidResponse(std::string body) {
  Step s = respond(200, std::move(body));
  s.action = Action::kResetMidResponse;
  return s;
}

Step Step::stall(int status, std::string body) {
  Step s = respond(status, std::move(body));
  s.action = Action::kStall;
  return s;
}

Step Step::drip(std::chrono::milliseconds interval, int status, std::string body) {
  Step s = respond(status, std::move(body));
  s.action = Action::kDrip;
  s.dripInterval = interval;
  return s;
}

Step Step::closeWithoutResponse() {
  Step s;
  s.action = Action::kCloseWithoutResponse;
  return s;
}

Step Step::operationOutcome(int status, std::string_view issueCode, std::string_view diagnostics) {
  fhir::Json issue = fhir::Json::object();
  issue.set("severity", fhir::Json::string("error"));
  issue.set("code", fhir::Json::string(std::string(issueCode)));
  issue.set("diagnostics", fhir::Json::string(std::string(diagnostics)));
  fhir::Json issues = fhir::Json::array();
  issues.push(std::move(issue));
  fhir::Json oo = fhir::Json::object();
  oo.set("resourceType", fhir::Json::string("OperationOutcome"));
  oo.set("issue", std::move(issues));
  return respond(status, fhir::writeJson(oo));
}

struct FaultReceiver::Impl {
  std::unique_ptr<Poco::Net::HTTPServer> server;
};

FaultReceiver::FaultReceiver(FaultReceiverOptions options, std::uint16_t port)
    : impl_(std::make_unique<Impl>()) {
  default_ = Step::respond(200, "{}");
  Poco::Net::SocketAddress address("127.0.0.1", port);
  Poco::Net::ServerSocket socket;
  if (!options.certificateFile.empty()) {
    Poco::Net::initializeSSL();
    tls_ = true;
    Poco::Net::Context::Params params;
    params.certificateFile = options.certificateFile;
    params.privateKeyFile = options.keyFile;
    params.caLocation = options.caFile;
    params.loadDefaultCAs = false;
    params.verificationMode = options.requireClientCert ? Poco::Net::Context::VERIFY_STRICT
                                                        : Poco::Net::Context::VERIFY_NONE;
    Poco::Net::Context::Ptr ctx =
        new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
    ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    ctx->enableExtendedCertificateVerification(false);
    // OpenSSL decides alone (no process-wide POCO certificate handler).
    SSL_CTX_set_verify(ctx->sslContext(),
                       options.requireClientCert ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                 : SSL_VERIFY_NONE,
                       nullptr);
    socket = Poco::Net::SecureServerSocket(address, 64, ctx);
  } else {
    socket = Poco::Net::ServerSocket(address, 64);
  }
  port_ = socket.address().port();
  auto* params = new Poco::Net::HTTPServerParams();
  params->setMaxThreads(16);
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(5, 0));
  impl_->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket, params);
  impl_->server->start();
}

FaultReceiver::~FaultReceiver() {
  releaseStalls();
  impl_->server->stopAll(true);
}

std::string FaultReceiver::url(std::string_view path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
         std::string(path);
}

void FaultReceiver::script(std::vector<Step> steps) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& s : steps) script_.push_back(std::move(s));
}

void FaultReceiver::setDefault(Step step) {
  std::lock_guard<std::mutex> lock(mutex_);
  default_ = std::move(step);
}

void FaultReceiver::setHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  handler_ = std::move(handler);
}

void FaultReceiver::releaseStalls() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
  }
  released_cv_.notify_all();
}

bool FaultReceiver::waitForReleaseFor(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return released_cv_.wait_for(lock, timeout, [this] { return released_; });
}

void FaultReceiver::waitForRelease() {
  std::unique_lock<std::mutex> lock(mutex_);
  // Bounded so a broken test cannot hang the suite; normally released at once
  // by releaseStalls() or the destructor.
  released_cv_.wait_for(lock, std::chrono::seconds(30), [this] { return released_; });
}

void FaultReceiver::notifyOn(gateway::ChangeSignal* changes) {
  std::lock_guard<std::mutex> lock(mutex_);
  changes_ = changes;
}

Step FaultReceiver::next(const ReceivedRequest& request) {
  Handler handler;
  gateway::ChangeSignal* changes = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
    handler = handler_;
    changes = changes_;
  }
  if (changes != nullptr) changes->notifyAll();
  if (handler) {
    std::optional<Step> step = handler(request);
    if (changes != nullptr) changes->notifyAll();
    if (step) return *step;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (script_.empty()) return default_;
  Step s = std::move(script_.front());
  script_.pop_front();
  return s;
}

std::vector<ReceivedRequest> FaultReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::size_t FaultReceiver::requestCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_.size();
}

}  // namespace inloop::testing
