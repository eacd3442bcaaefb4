#include "gateway/transport/ndjson_dir_sender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "gateway/base/clock.h"
#include "gateway/base/durable_file.h"

namespace inloop::gateway {

namespace {

std::string safePrefix(const std::string& prefix) {
  std::string out;
  for (char c : prefix) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  while (!out.empty() && out.front() == '.') out.front() = '_';
  if (out.empty()) out = "inloop";
  if (out.size() > 64) out.resize(64);
  return out;
}

std::string errnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// "20240501T100000123Z" from a FHIR instant "2024-05-01T10:00:00.123Z".
std::string compactTimestamp(std::int64_t millis) {
  std::string out;
  for (char c : formatInstant(millis)) {
    if (c != '-' && c != ':' && c != '.') out += c;
  }
  return out;
}

}  // namespace

NdjsonDirSender::NdjsonDirSender(NdjsonDirOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  options_.filePrefix = safePrefix(options_.filePrefix);
  while (options_.directory.size() > 1 && options_.directory.back() == '/') {
    options_.directory.pop_back();
  }
  activePath_ = options_.directory + "/." + options_.filePrefix + ".ndjson.tmp";
}

NdjsonDirSender::~NdjsonDirSender() {
  if (fd_ >= 0) ::close(fd_);
}

fhir::Result<std::unique_ptr<NdjsonDirSender>> NdjsonDirSender::create(NdjsonDirOptions options,
                                                                       const Clock& clock) {
  // A missing folder is created (a first run of the shipped configuration
  // writes to var/outbox/); one that cannot be is reported below.
  std::error_code ec;
  if (!options.directory.empty()) std::filesystem::create_directories(options.directory, ec);
  struct stat st {};
  if (options.directory.empty() || ::stat(options.directory.c_str(), &st) != 0 ||
      !S_ISDIR(st.st_mode)) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "ndjson-dir: " + options.directory + " is not a directory");
  }
  if (::access(options.directory.c_str(), W_OK | X_OK) != 0) {
    return fhir::Status(fhir::ErrorCode::kIoError,
                        "ndjson-dir: " + options.directory + " is not writable");
  }
  std::unique_ptr<NdjsonDirSender> sender(new NdjsonDirSender(std::move(options), clock));
  std::lock_guard<std::mutex> lock(sender->mutex_);
  fhir::Status s = sender->recoverLocked();
  if (!s.isOk()) return s;
  if (sender->publications_.empty()) sender->publications_.emplace_back();
  sender->publications_.back().everyWritten = true;
  return sender;
}

fhir::Status NdjsonDirSender::recoverLocked() {
  struct stat st {};
  if (::stat(activePath_.c_str(), &st) != 0) return fhir::Status::ok();
  // Cut a torn last line (a crash during write) before publishing.
  int fd = ::open(activePath_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return fhir::Status(fhir::ErrorCode::kIoError, errnoText("open", activePath_));
  off_t keep = st.st_size;
  char c = 0;
  while (keep > 0 && ::pread(fd, &c, 1, keep - 1) == 1 && c != '\n') --keep;
  if (keep != st.st_size && ::ftruncate(fd, keep) != 0) {
    ::close(fd);
    return fhir::Status(fhir::ErrorCode::kIoError, errnoText("truncate", activePath_));
  }
  ::fsync(fd);
  fd_ = fd;
  activeBytes_ = static_cast<std::uint64_t>(keep);
  auto published = publishLocked();
  return published.isOk() ? fhir::Status::ok() : published.status();
}

fhir::Status NdjsonDirSender::openActiveLocked() {
  if (fd_ >= 0) return fhir::Status::ok();
  const auto mode = static_cast<mode_t>(options_.fileMode);
  fd_ = ::open(activePath_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
  if (fd_ < 0) return fhir::Status(fhir::ErrorCode::kIoError, errnoText("open", activePath_));
  // Patient data: the configured mode (default owner only), whatever the umask
  // or a leftover file's mode (the published file keeps it: rename(2)).
  if (::fchmod(fd_, mode) != 0) {
    const fhir::Status failed(fhir::ErrorCode::kIoError, errnoText("chmod", activePath_));
    ::close(fd_);
    fd_ = -1;
    return failed;
  }
  struct stat st {};
  activeBytes_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  activeOpenedAtMillis_ = clock_.nowMillis();
  return fhir::Status::ok();
}

fhir::Result<std::string> NdjsonDirSender::publishLocked() {
  if (fd_ < 0 || activeBytes_ == 0) {
    // An empty active file is left in place; nothing to publish.
    return std::string();
  }
  const std::string stamp = compactTimestamp(clock_.nowMillis());
  std::string target;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    char seq[16];
    std::snprintf(seq, sizeof seq, "%06llu",
                  static_cast<unsigned long long>(++sequence_ % 1000000));
    target = options_.directory + "/" + options_.filePrefix + "-" + stamp + "-" + seq + ".ndjson";
    struct stat st {};
    if (::stat(target.c_str(), &st) != 0) break;  // free name
  }
  if (::fsync(fd_) != 0) {
    return fhir::Status(fhir::ErrorCode::kIoError, errnoText("fsync", activePath_));
  }
  if (::rename(activePath_.c_str(), target.c_str()) != 0) {
    return fhir::Status(fhir::ErrorCode::kIoError, errnoText("rename", activePath_));
  }
  ::close(fd_);
  fd_ = -1;
  activeBytes_ = 0;
  NdjsonPublication publication;
  publication.path = target;
  publication.messageIds.swap(activeIds_);
  publications_.push_back(std::move(publication));
  // The rename is the publication; a failed directory fsync only weakens its
  // durability across a power loss, so it is reported but the file counts.
  if (!fsyncPath(options_.directory, true)) {
    return fhir::Status(fhir::ErrorCode::kIoError, errnoText("fsync", options_.directory));
  }
  return target;
}

fhir::Result<std::string> NdjsonDirSender::rotateIfDue() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0 || activeBytes_ == 0) return std::string();
  const bool bySize = activeBytes_ >= options_.maxBytes;
  const bool byAge = clock_.nowMillis() - activeOpenedAtMillis_ >= options_.maxAgeMillis;
  if (!bySize && !byAge) return std::string();
  return publishLocked();
}

fhir::Result<std::string> NdjsonDirSender::rotateNow() {
  std::lock_guard<std::mutex> lock(mutex_);
  return publishLocked();
}

std::vector<NdjsonPublication> NdjsonDirSender::takePublications() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<NdjsonPublication> out;
  out.swap(publications_);
  return out;
}

std::int64_t NdjsonDirSender::nextRotationAtMillis() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0 || activeBytes_ == 0) return 0;
  return activeOpenedAtMillis_ + options_.maxAgeMillis;
}

DeliveryOutcome NdjsonDirSender::send(const mappings::ShapedDelivery& delivery) {
  return write(delivery, 0);
}

DeliveryOutcome NdjsonDirSender::write(const mappings::ShapedDelivery& delivery,
                                       std::int64_t messageId) {
  DeliveryOutcome out;
  if (delivery.state != mappings::ShapeState::kSend) {
    out.outcome = OutcomeClass::kPermanent;
    out.summary = "not sendable (" + std::string(mappings::shapeStateName(delivery.state)) +
                  "): " + delivery.reason;
    return out;
  }
  if (delivery.ndjson.empty()) {
    out.outcome = OutcomeClass::kDelivered;
    out.summary = "nothing to write";
    return out;
  }
  std::string lines = delivery.ndjson;
  if (lines.back() != '\n') lines += '\n';

  std::lock_guard<std::mutex> lock(mutex_);
  auto fail = [&](const std::string& why) {
    out.outcome = OutcomeClass::kRetry;
    out.summary = "io-error: " + why;
    return out;
  };
  fhir::Status opened = openActiveLocked();
  if (!opened.isOk()) return fail(opened.message());
  const off_t before = static_cast<off_t>(activeBytes_);
  if (!writeAll(fd_, lines) || ::fsync(fd_) != 0) {
    const std::string why = errnoText("write", activePath_);
    // Leave no partial record behind: the retry appends it again.
    if (::ftruncate(fd_, before) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    return fail(why);
  }
  activeBytes_ += lines.size();
  if (messageId != 0) activeIds_.push_back(messageId);
  out.outcome = OutcomeClass::kWritten;
  out.summary = "appended " + std::to_string(lines.size()) +
                " bytes to the working file; delivered once the file is published";
  out.locations.push_back(activePath_);
  const bool bySize = activeBytes_ >= options_.maxBytes;
  const bool byAge = clock_.nowMillis() - activeOpenedAtMillis_ >= options_.maxAgeMillis;
  if (bySize || byAge) {
    auto published = publishLocked();
    // The lines are durable in the active file either way; a failed rename is
    // tried again on the next send or timer tick.
    if (published.isOk() && !published->empty()) out.locations.back() = *published;
  }
  return out;
}

}  // namespace inloop::gateway
