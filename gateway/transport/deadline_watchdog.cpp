#include "gateway/transport/deadline_watchdog.h"

#include <sys/socket.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace inloop::gateway {

struct DeadlineWatchdog::State {
  struct Entry {
    int fd = -1;
    Clock::time_point deadline;
    bool fired = false;
  };
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::uint64_t, Entry> entries;
  std::uint64_t nextTicket = 1;
  // When the thread wakes next by itself (max: it waits for a change; min: it
  // is not waiting yet). A deadline after that needs no wake-up: every request
  // of a keep-alive connection arms one, seconds ahead.
  Clock::time_point wakeAt = Clock::time_point::min();
};

DeadlineWatchdog& DeadlineWatchdog::shared() {
  // Leaked on purpose: its thread may be waiting when static destructors run.
  static DeadlineWatchdog* instance = new DeadlineWatchdog();
  return *instance;
}

DeadlineWatchdog::DeadlineWatchdog() : state_(new State()) {
  std::thread([this] { run(); }).detach();
}

std::uint64_t DeadlineWatchdog::arm(int fd, Clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  const std::uint64_t ticket = state_->nextTicket++;
  state_->entries.emplace(ticket, State::Entry{fd, deadline, false});
  if (deadline < state_->wakeAt) state_->changed.notify_one();
  return ticket;
}

bool DeadlineWatchdog::disarm(std::uint64_t ticket) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->entries.find(ticket);
  if (it == state_->entries.end()) return false;
  const bool fired = it->second.fired;
  state_->entries.erase(it);
  return fired;
}

void DeadlineWatchdog::run() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  for (;;) {
    const auto now = Clock::now();
    auto next = Clock::time_point::max();
    for (auto& [ticket, entry] : state_->entries) {
      if (entry.fired) continue;
      if (entry.deadline <= now) {
        // Under the mutex: the owner cannot disarm and close the descriptor
        // concurrently, so `fd` is still the socket it armed with.
        ::shutdown(entry.fd, SHUT_RDWR);
        entry.fired = true;
      } else if (entry.deadline < next) {
        next = entry.deadline;
      }
    }
    state_->wakeAt = next;
    if (next == Clock::time_point::max()) {
      state_->changed.wait(lock);
    } else {
      state_->changed.wait_until(lock, next);
    }
  }
}

}  // namespace inloop::gateway
