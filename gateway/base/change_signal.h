#pragma once

// ChangeSignal: "something observable changed" as an event one can wait on.
// The components that change durable or visible state (the delivery engine
// after each attempt and publication, the ingest pipeline after an accepted
// batch, the inbox after each file, delivery operations, the alerter after a
// webhook post) call notifyAll() once the change can be read; a waiter
// re-checks its condition after each notification instead of polling.
//
// A generation counter under a mutex makes waiting race-free: waitFor() reads
// the generation BEFORE it evaluates the predicate, so a change between the
// evaluation and the wait still wakes it.
//
// Thread safety: every method may be called from any thread. The predicate
// runs on the waiting thread WITHOUT the signal's mutex held (it may read a
// store, send an HTTP request, or cause notifications itself).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace inloop::gateway {

class ChangeSignal {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  // Bumps the generation and wakes every waiter.
  void notifyAll();

  // The number of notifications so far.
  std::uint64_t generation() const;

  // Blocks until the generation differs from `seen` or `deadline` passes;
  // true when it changed.
  bool waitChanged(std::uint64_t seen, Deadline deadline) const;

  // Evaluates `predicate` now and again after each notification until it
  // holds or `deadline` passes. Returns the predicate's last value (evaluated
  // once more at the deadline).
  bool waitFor(const std::function<bool()>& predicate, Deadline deadline) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::uint64_t generation_ = 0;
};

}  // namespace inloop::gateway
