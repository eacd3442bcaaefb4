#pragma once

// Test support for `inloop serve` run as a real child process (INLOOP_BINARY):
// the child with its output drained by a thread (it also
// finds the port from the "listening" log line), SIGKILL/SIGTERM with reaping,
// a keep-alive record POST, and one-value queries on the store file opened
// read-only. Used by the durability, crash and stress suites.
//
// Every wait has a deadline; the child is SIGKILLed and reaped by the
// destructor on every exit path (a failed REQUIRE included).
// Thread safety: ServeChild's methods may be called from any thread.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace Poco::Net {
class HTTPClientSession;
}
struct sqlite3;

namespace inloop::testing {

// Copies the repository's shipped config/ folder to `into`/config and returns
// the copy's inloop.json. The shipped destinations write to ../var/outbox
// relative to the config folder, so a test using the copy delivers into
// `into`/var/outbox, never into the checkout.
std::filesystem::path copyShippedConfig(const std::filesystem::path& into);

struct ServeOptions {
  std::filesystem::path dataDir;
  std::string apiToken;  // INLOOP_API_TOKEN of the child (every role)
  // --config FILE; empty: a copy of the repository's config/ (copyShippedConfig)
  // in a temporary folder the child owns.
  std::filesystem::path configFile;
  std::vector<std::string> extraArgs;  // e.g. {"--route", "*=fhir-transaction:URL"}
};

class ServeChild {
 public:
  explicit ServeChild(const ServeOptions& options);
  ~ServeChild();
  ServeChild(const ServeChild&) = delete;
  ServeChild& operator=(const ServeChild&) = delete;

  pid_t pid() const { return pid_; }
  // The port from the "listening" line; 0 when the child exited or the
  // deadline passed first.
  int waitForPort(std::chrono::seconds deadline);
  // True once `needle` occurs `count` times in the output (deadline bounded);
  // false when the child's output ended or the deadline passed first.
  bool waitForOutput(const std::string& needle, int count, std::chrono::seconds deadline);
  // Checks `condition` now and again each time the child writes a log line
  // (the child logs every delivery attempt, publication, inbox file and
  // request at info level: the event the condition follows from), until it
  // holds, the child's output ends or `deadline` passes. Returns its last value.
  bool waitUntil(const std::function<bool()>& condition, std::chrono::seconds deadline);
  // The first 64 KiB of the child's output.
  std::string output();
  // SIGKILL / SIGTERM, then wait for it. Returns the wait status.
  int kill9();
  int terminate();

 private:
  int reap();
  void drain(int fd);

  std::filesystem::path ownConfigDir_;  // removed by the destructor; empty: none
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string output_;
  std::uint64_t lines_ = 0;  // lines read so far (also past the 64 KiB kept)
  int port_ = 0;
  bool eof_ = false;
};

// Acknowledgements counted by the client threads of one kill cycle.
class AckCounter {
 public:
  void ack();
  // Internal (killAfterAcks): a client thread ended.
  void clientDone();
  // True once `target` acks were counted; false when every one of `clients`
  // stopped first or `deadline` passed.
  bool waitFor(std::size_t target, int clients, std::chrono::seconds deadline);

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t acks_ = 0;
  int done_ = 0;
};

struct KillCycle {
  bool reached = false;  // killAfter acknowledgements were counted before the kill
  int waitStatus = 0;    // of the killed child
};

// One kill cycle: runs `clients` threads of `client(thread, acks)` (each posts
// until the child dies, calling acks.ack() per 2xx), waits (at most
// `deadline`) for `killAfter` acknowledgements or for every client to stop,
// SIGKILLs the child and joins the clients.
KillCycle killAfterAcks(ServeChild& child, int clients, std::size_t killAfter,
                        const std::function<void(int thread, AckCounter& acks)>& client,
                        std::chrono::seconds deadline = std::chrono::seconds(120));

// POSTs one record to /records on a keep-alive session with a bearer token;
// the HTTP status, or 0 when the connection failed (the child died). With
// `answer`, the response body (or the exception's text when the status is 0).
int postRecord(Poco::Net::HTTPClientSession& session, const std::string& body,
               const std::string& token, std::string* answer = nullptr);

// The first column of the first row of `sql` on an open connection; "?" when
// there is no row or an error.
std::string firstColumn(sqlite3* db, const char* sql);
// The first column of the first row of `sql` on the SQLite file `db`, opened
// read-only (busy timeout 10 s); "?" when there is no row or an error.
std::string storeQuery(const std::filesystem::path& db, const std::string& sql);
// Same, as an integer (-1 when it is not one).
std::int64_t storeCount(const std::filesystem::path& db, const std::string& sql);

}  // namespace inloop::testing
