#include "gateway/base/change_signal.h"

namespace inloop::gateway {

void ChangeSignal::notifyAll() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
  }
  cv_.notify_all();
}

std::uint64_t ChangeSignal::generation() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return generation_;
}

bool ChangeSignal::waitChanged(std::uint64_t seen, Deadline deadline) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_until(lock, deadline, [&] { return generation_ != seen; });
}

bool ChangeSignal::waitFor(const std::function<bool()>& predicate, Deadline deadline) const {
  for (;;) {
    const std::uint64_t seen = generation();
    if (predicate()) return true;
    if (!waitChanged(seen, deadline)) return predicate();
  }
}

}  // namespace inloop::gateway
