#include "gateway/server/connection_gate.h"

#include <Poco/Net/SecureStreamSocketImpl.h>
#include <Poco/Net/SocketAddress.h>
#include <sys/socket.h>

#include <utility>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"
#include "gateway/base/change_signal.h"

namespace inloop::gateway {

namespace {

// Writes a 503 without blocking and without reading what the client sent.
void answerUnavailable(const Poco::Net::StreamSocket& socket, const std::string& why,
                       int retryAfterSeconds) {
  if (dynamic_cast<Poco::Net::SecureStreamSocketImpl*>(socket.impl()) != nullptr) return;
  fhir::Issues issues;
  fhir::addError(&issues, "transient", "", why + "; retry later");
  const std::string body = fhir::writeJson(fhir::operationOutcome(issues));
  const std::string reply =
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: application/fhir+json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) +
      "\r\n"
      "Retry-After: " +
      std::to_string(retryAfterSeconds) +
      "\r\n"
      "Cache-Control: no-store\r\n"
      "Connection: close\r\n\r\n" +
      body;
  const int fd = static_cast<int>(socket.impl()->sockfd());
  // Best effort: a client that cannot take 1 KiB at once gets only the close.
  if (::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
    ::shutdown(fd, SHUT_WR);
  }
}

}  // namespace

bool ConnectionGate::accept(const Poco::Net::StreamSocket& socket) {
  std::string client;
  try {
    client = socket.peerAddress().host().toString();
  } catch (...) {
    return false;  // already gone
  }
  std::string why;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    int& mine = openPerClient_[client];
    if (mine >= limits_.maxPerClient) {
      ++refusedPerClient_;
      why = "too many connections from this address (limits.maxConnectionsPerClient)";
    } else if (static_cast<int>(clientOf_.size()) >= limits_.maxOpen) {
      ++refusedSaturated_;
      why = "the server is busy (every connection slot is taken)";
    } else {
      ++mine;
      clientOf_.emplace(socket.impl(), std::move(client));
      return true;
    }
    if (mine == 0) openPerClient_.erase(client);
  }
  answerUnavailable(socket, why, limits_.retryAfterSeconds);
  return false;
}

void ConnectionGate::connectionEnded(const Poco::Net::StreamSocket& socket) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = clientOf_.find(socket.impl());
    if (it == clientOf_.end()) return;
    auto count = openPerClient_.find(it->second);
    if (count != openPerClient_.end() && --count->second <= 0) openPerClient_.erase(count);
    clientOf_.erase(it);
  }
  if (changes_ != nullptr) changes_->notifyAll();
}

std::string ConnectionGate::renderMetrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return "# HELP inloop_http_connections_open Connections admitted and not yet ended.\n"
         "# TYPE inloop_http_connections_open gauge\n"
         "inloop_http_connections_open " +
         std::to_string(clientOf_.size()) +
         "\n"
         "# HELP inloop_http_connections_refused_total Connections refused at accept (503).\n"
         "# TYPE inloop_http_connections_refused_total counter\n"
         "inloop_http_connections_refused_total{reason=\"per-client\"} " +
         std::to_string(refusedPerClient_) +
         "\n"
         "inloop_http_connections_refused_total{reason=\"saturated\"} " +
         std::to_string(refusedSaturated_) + "\n";
}

}  // namespace inloop::gateway
