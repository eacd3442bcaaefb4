#pragma once

// ConnectionGate: admission of new connections to the API server, decided in
// POCO's acceptor thread (a TCPServerConnectionFilter) before a connection
// waits for a handler thread. POCO serves each connection on one thread for its
// whole life, so idle sockets are what exhausts it. A connection is refused
// when its client address already has `maxPerClient` connections open, or when
// `maxOpen` are open (every handler thread busy and the wait queue full).
//
// A refused plain-HTTP connection is answered at once with 503, Retry-After
// and Connection: close, written without blocking (it fits in the new
// socket's empty send buffer) and without reading the request; a refused TLS
// connection is closed unanswered (an answer would need a handshake in the
// acceptor thread, which a slow client could stall). Set `maxOpen` to at most
// POCO's maxThreads + maxQueued: POCO's own queue then never overflows, where
// it would drop a connection without a word.
//
// Every admitted connection must be reported to connectionEnded() once
// (DeadlineConnectionFactory's connections do it). Connections are known by
// their socket object, which lives as long as the connection.
// Thread safety: all members may be called from any thread.

#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace inloop::gateway {

class ChangeSignal;

class ConnectionGate : public Poco::Net::TCPServerConnectionFilter {
 public:
  struct Limits {
    int maxOpen = 224;
    int maxPerClient = 32;
    int retryAfterSeconds = 1;
  };
  // `changes` may be null; when set (it must outlive the gate) it is notified
  // each time an admitted connection ended (a slot is free again).
  explicit ConnectionGate(Limits limits, ChangeSignal* changes = nullptr)
      : limits_(limits), changes_(changes) {}

  // POCO's acceptor: true admits (and counts) the connection; false refuses it
  // (answered as above; POCO then closes it).
  bool accept(const Poco::Net::StreamSocket& socket) override;

  // Forgets an admitted connection; unknown sockets are ignored.
  void connectionEnded(const Poco::Net::StreamSocket& socket);

  // inloop_http_connections_open and inloop_http_connections_refused_total{reason}
  // in the Prometheus text format.
  std::string renderMetrics() const;

 private:
  const Limits limits_;
  ChangeSignal* const changes_;
  mutable std::mutex mutex_;
  std::map<const void*, std::string> clientOf_;  // admitted: socket impl -> address
  std::map<std::string, int> openPerClient_;
  std::uint64_t refusedPerClient_ = 0;
  std::uint64_t refusedSaturated_ = 0;
};

}  // namespace inloop::gateway
