#pragma once

// Helpers shared by the hostile-input and security suites: OperationOutcome
// checks, a raw-socket HTTP exchange (for requests Poco's client refuses to
// send), the process's resident set size.
//
// All helpers are test-only and single-threaded per call.

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <sys/socket.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "fhir/json.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::hostile_testing {

// True when the reply is an OperationOutcome with an issue whose expression is
// exactly `path`.
inline bool outcomeNames(const server_testing::HttpReply& r, const std::string& path) {
  const fhir::Json oo = r.json();
  const fhir::Json* type = oo.find("resourceType");
  if (type == nullptr || type->text() != "OperationOutcome") return false;
  const fhir::Json* issues = oo.find("issue");
  if (issues == nullptr) return false;
  for (const fhir::Json& i : issues->items()) {
    const fhir::Json* e = i.find("expression");
    if (e == nullptr) continue;
    for (const fhir::Json& x : e->items()) {
      if (x.text() == path) return true;
    }
  }
  return false;
}

inline bool isOperationOutcome(const server_testing::HttpReply& r) {
  const fhir::Json doc = r.json();
  const fhir::Json* type = doc.find("resourceType");
  return type != nullptr && type->text() == "OperationOutcome";
}

// What came back on a raw connection: the status of the first response line
// (0 when the server closed without answering) and everything read.
struct RawReply {
  int status = 0;
  std::string text;
};

// Reads one HTTP response (head plus Content-Length body) or until the server
// closes. `timeoutMs` bounds each receive so a silent server cannot hang the test.
inline RawReply readRawReply(Poco::Net::StreamSocket& s, int timeoutMs = 10000) {
  RawReply r;
  s.setReceiveTimeout(Poco::Timespan(std::int64_t{timeoutMs} * 1000));
  char buf[8192];
  std::size_t want = std::string::npos;
  try {
    while (r.text.size() < want) {
      const int n = s.receiveBytes(buf, sizeof buf);
      if (n <= 0) break;
      r.text.append(buf, static_cast<std::size_t>(n));
      const std::size_t headEnd = r.text.find("\r\n\r\n");
      if (want == std::string::npos && headEnd != std::string::npos) {
        std::size_t length = 0;
        const std::size_t cl = r.text.find("Content-Length: ");
        if (cl != std::string::npos && cl < headEnd) {
          length = std::stoul(r.text.substr(cl + 16, headEnd - cl - 16));
        }
        want = headEnd + 4 + length;
      }
    }
  } catch (const Poco::Exception&) {
    // Reset or timeout: whatever arrived is the answer.
  }
  if (r.text.starts_with("HTTP/1.") && r.text.size() >= 12) {
    r.status = std::stoi(r.text.substr(9, 3));
  }
  return r;
}

// Sends `bytes` with MSG_NOSIGNAL: a client writing to a connection the server
// closed gets an error, not SIGPIPE (so a SIGPIPE that kills the test process
// can only come from the server side).
inline void sendAll(Poco::Net::StreamSocket& s, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const int n =
        s.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent), MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

// Sends `bytes` on a fresh connection and reads one reply.
inline RawReply rawExchange(std::uint16_t port, const std::string& bytes, int timeoutMs = 10000) {
  Poco::Net::StreamSocket s(Poco::Net::SocketAddress("127.0.0.1", port));
  try {
    sendAll(s, bytes);
  } catch (const Poco::Exception&) {
    // The server may refuse mid-send (a reset); read what it answered.
  }
  return readRawReply(s, timeoutMs);
}

// This process's resident set size in KiB (VmRSS of /proc/self/status); 0 if unknown.
inline std::int64_t residentKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6));
  }
  return 0;
}

}  // namespace inloop::hostile_testing
