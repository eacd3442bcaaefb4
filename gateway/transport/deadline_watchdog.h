#pragma once

// DeadlineWatchdog: bounds the total time a blocking socket read may take.
//
// POCO's socket timeouts apply to each send/receive call, so a receiver that
// drips one byte per second never trips them. A caller arms the watchdog with
// the connected socket's descriptor and an absolute deadline before it blocks;
// if the deadline passes while armed, one background thread shuts the socket
// down (shutdown(2), SHUT_RDWR), which wakes the blocked read with an error.
// The caller must disarm before it closes the socket, so the watchdog never
// touches a descriptor number that was closed and reused.
//
// Thread safety: all members may be called from any thread.

#include <chrono>
#include <cstdint>

namespace inloop::gateway {

class DeadlineWatchdog {
 public:
  using Clock = std::chrono::steady_clock;

  // The process-wide watchdog (its thread starts on first use and lives until
  // exit).
  static DeadlineWatchdog& shared();

  // Watches `fd` until `deadline`; returns a ticket for disarm().
  std::uint64_t arm(int fd, Clock::time_point deadline);
  // Stops watching; true when the deadline had passed and the socket was shut
  // down. An unknown ticket returns false.
  bool disarm(std::uint64_t ticket);

 private:
  DeadlineWatchdog();
  void run();
  struct State;
  State* state_;  // owned; the shared instance is never destroyed
};

// Arms on construction, disarms on release() or destruction; then stores
// whether the deadline fired in `*fired` (when not null).
class DeadlineGuard {
 public:
  DeadlineGuard(int fd, DeadlineWatchdog::Clock::time_point deadline, bool* fired = nullptr)
      : ticket_(DeadlineWatchdog::shared().arm(fd, deadline)), firedOut_(fired) {}
  ~DeadlineGuard() { release(); }
  DeadlineGuard(const DeadlineGuard&) = delete;
  DeadlineGuard& operator=(const DeadlineGuard&) = delete;

  // Disarms (idempotent); afterwards fired() is final.
  void release() {
    if (armed_) fired_ = DeadlineWatchdog::shared().disarm(ticket_);
    armed_ = false;
    if (firedOut_ != nullptr) *firedOut_ = fired_;
  }
  bool fired() const { return fired_; }

 private:
  std::uint64_t ticket_;
  bool* firedOut_;
  bool armed_ = true;
  bool fired_ = false;
};

}  // namespace inloop::gateway
