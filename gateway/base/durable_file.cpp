#include "gateway/base/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace inloop::gateway {

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool fsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  errno = err;
  return ok;
}

fhir::Status writeFileAtomically(const std::string& path, std::string_view text, mode_t mode,
                                 std::string tmpPath) {
  const std::string tmp = tmpPath.empty() ? path + ".tmp" : std::move(tmpPath);
  auto failed = [&](const std::string& step, int err) {
    ::unlink(tmp.c_str());
    return fhir::Status(fhir::ErrorCode::kIoError, step + ": " + std::strerror(err));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return failed("cannot create " + tmp, errno);
  if (::fchmod(fd, mode) != 0 || !writeAll(fd, text) || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return failed("cannot write " + tmp, err);
  }
  if (::close(fd) != 0) return failed("cannot write " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("cannot rename " + tmp, errno);
  std::error_code ec;
  const std::string dir = std::filesystem::absolute(path, ec).parent_path().string();
  if (!fsyncPath(dir, true)) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "cannot sync " + dir + ": " + std::strerror(errno));
  }
  return fhir::Status::ok();
}

}  // namespace inloop::gateway
