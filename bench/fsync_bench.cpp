// fsync_bench DIR SECONDS: the machine's raw durable-commit rate in DIR's file
// system, the physical limit for commits that are not batched. Appends one
// 4 KiB page and calls fsync, like an unbatched WAL commit, until SECONDS have
// passed (bounded: it stops by itself), then removes its file and prints one
// JSON object: fsyncs, seconds, fsyncsPerSec, meanMicros.
//
// A benchmark, not a test. Exit codes: 0 ok, 1 I/O error, 2 usage.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fsync_bench DIR SECONDS\n");
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/fsync_bench.tmp";
  const double seconds = std::strtod(argv[2], nullptr);
  if (!(seconds > 0)) {
    std::fprintf(stderr, "fsync_bench: SECONDS must be positive\n");
    return 2;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "fsync_bench: open %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  std::vector<char> page(4096, 'x');
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const auto budget = std::chrono::duration<double>(seconds);
  long fsyncs = 0;
  int rc = 0;
  Clock::duration elapsed{};
  // Keeps the file small: after 1024 pages start again at offset 0 (the
  // overwrite still has to reach the disk).
  while ((elapsed = Clock::now() - start) < budget || fsyncs == 0) {
    const off_t offset = static_cast<off_t>((fsyncs % 1024) * 4096);
    if (::pwrite(fd, page.data(), page.size(), offset) != static_cast<ssize_t>(page.size()) ||
        ::fsync(fd) != 0) {
      std::fprintf(stderr, "fsync_bench: write/fsync: %s\n", std::strerror(errno));
      rc = 1;
      break;
    }
    ++fsyncs;
  }
  ::close(fd);
  ::unlink(path.c_str());
  if (rc != 0) return rc;
  const double s = std::chrono::duration<double>(elapsed).count();
  std::printf(
      "{\"benchmark\":\"fsync\",\"fsyncs\":%ld,\"seconds\":%.6f,\"fsyncsPerSec\":%.1f,"
      "\"meanMicros\":%.1f}\n",
      fsyncs, s, static_cast<double>(fsyncs) / s, s * 1e6 / static_cast<double>(fsyncs));
  return 0;
}
