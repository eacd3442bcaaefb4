#include "gateway/ingest/inbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"
#include "gateway/base/change_signal.h"
#include "gateway/base/durable_file.h"
#include "gateway/base/sha256.h"
#include "gateway/ingest/ingest_pipeline.h"
#include "gateway/log/json_logger.h"

namespace inloop::gateway {

namespace {

constexpr std::string_view kJson = ".json";
constexpr std::string_view kNdjson = ".ndjson";
constexpr std::string_view kErrorsSuffix = ".errors.json";

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string extensionOf(std::string_view name) {
  return std::string(endsWith(name, kNdjson) ? kNdjson : kJson);
}

std::string errnoText(int err) { return std::strerror(err); }

std::string joinPath(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Printable form of any name: bytes outside printable ASCII become \xNN.
std::string escapeName(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : name.substr(0, 2 * kMaxInboxNameBytes)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (name.size() > 2 * kMaxInboxNameBytes) out += "...";
  return out;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

fhir::Status makeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return fhir::Status::ok();
    return fhir::Status(fhir::ErrorCode::kIoError, path + " exists and is not a folder");
  }
  return fhir::Status(fhir::ErrorCode::kIoError,
                      "cannot create the folder " + path + ": " + errnoText(errno));
}

// Makes renames in `dir` durable.
fhir::Status syncDir(const std::string& dir) {
  if (fsyncPath(dir, true)) return fhir::Status::ok();
  return fhir::Status(fhir::ErrorCode::kIoError, "cannot sync " + dir + ": " + errnoText(errno));
}

// Writes `name` in `dir` atomically, through a hidden temporary name the
// scanner skips.
fhir::Status writeInboxFile(const std::string& dir, const std::string& name,
                            const std::string& text) {
  return writeFileAtomically(joinPath(dir, name), text, 0640, joinPath(dir, "." + name + ".tmp"));
}

// A name in `dir` that is free: `name`, else "stem-2.ext", "stem-3.ext", ...
std::string freeName(const std::string& dir, const std::string& name) {
  if (!exists(joinPath(dir, name))) return name;
  const std::string ext = extensionOf(name);
  const std::string stem = name.substr(0, name.size() - ext.size());
  for (int n = 2;; ++n) {
    std::string candidate = stem + "-" + std::to_string(n) + ext;
    if (!exists(joinPath(dir, candidate))) return candidate;
  }
}

// A generated name for a hostile one: stable (same name, same result), safe.
std::string safeNameFor(const std::string& name) {
  fhir::Result<std::string> hash = sha256Hex(name);
  std::string h = hash.isOk() ? hash->substr(0, 16) : std::string("0000000000000000");
  return "unsafe-name-" + h + extensionOf(name);
}

// Reads at most `maxBytes` + 1 bytes of an already opened regular file.
fhir::Result<std::string> readAll(int fd, const std::string& path, std::size_t maxBytes) {
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return fhir::Status(fhir::ErrorCode::kIoError,
                          "cannot read " + path + ": " + errnoText(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > maxBytes) break;
  }
  return text;
}

bool isTransient(IngestStatus s) {
  return s == IngestStatus::kUnavailable || s == IngestStatus::kError;
}

// The issues of a refused record; never empty (a refusal always says why).
void addRefusal(const RecordOutcome& o, fhir::Issues* issues) {
  if (!o.issues.empty()) {
    issues->insert(issues->end(), o.issues.begin(), o.issues.end());
    return;
  }
  std::string path = o.line > 0 ? "line " + std::to_string(o.line) + ": $" : "$";
  std::string what = std::string("the record was refused: ") + ingestStatusName(o.status);
  if (!o.recordId.empty()) {
    what += " (record " + o.recordId + " version " + std::to_string(o.version) + ")";
  }
  fhir::addError(issues,
                 o.status == IngestStatus::kConflict || o.status == IngestStatus::kStale
                     ? "conflict"
                     : "processing",
                 std::move(path), std::move(what));
}

// Shifts a chunk's line numbers ("line 3: ...") to the line numbers of the file.
void shiftLines(std::size_t offset, RecordOutcome* o) {
  if (offset == 0) return;
  const std::string oldPrefix = "line " + std::to_string(o->line) + ": ";
  o->line += offset;
  const std::string newPrefix = "line " + std::to_string(o->line) + ": ";
  for (fhir::Issue& i : o->issues) {
    if (i.path.compare(0, oldPrefix.size(), oldPrefix) == 0) {
      i.path = newPrefix + i.path.substr(oldPrefix.size());
    }
  }
}

}  // namespace

const char* inboxFileOutcomeName(InboxFileOutcome outcome) {
  switch (outcome) {
    case InboxFileOutcome::kProcessed:
      return "processed";
    case InboxFileOutcome::kRejected:
      return "rejected";
    case InboxFileOutcome::kRetryLater:
      return "retry-later";
  }
  return "unknown";
}

InboxName classifyInboxName(const std::string& name) {
  if (name.empty() || name.front() == '.') return InboxName::kIgnore;
  if (endsWith(name, kErrorsSuffix)) return InboxName::kIgnore;  // ours, never input
  if (!endsWith(name, kJson) && !endsWith(name, kNdjson)) return InboxName::kIgnore;
  if (name.size() > kMaxInboxNameBytes) return InboxName::kHostile;
  if (name.find("..") != std::string::npos) return InboxName::kHostile;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return InboxName::kHostile;
  }
  return InboxName::kTake;
}

Inbox::Inbox(IngestPipeline& pipeline, InboxOptions options, JsonLogger* logger,
             ChangeSignal* changes)
    : pipeline_(pipeline),
      options_(std::move(options)),
      logger_(logger),
      changes_(changes),
      processedDir_(joinPath(options_.dir, "processed")),
      rejectedDir_(joinPath(options_.dir, "rejected")) {
  if (options_.batchRecords == 0) options_.batchRecords = 1;
  if (options_.pollIntervalMs < 1) options_.pollIntervalMs = 1;
}

Inbox::~Inbox() { stop(); }

fhir::Status Inbox::prepare() {
  for (const std::string* d : {&options_.dir, &processedDir_, &rejectedDir_}) {
    fhir::Status st = makeDir(*d);
    if (!st.isOk()) return st;
  }
  return fhir::Status::ok();
}

fhir::Status Inbox::start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_) return fhir::Status::ok();
  }
  fhir::Status st = prepare();
  if (!st.isOk()) return st;
  std::lock_guard<std::mutex> lock(mutex_);
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return fhir::Status::ok();
}

void Inbox::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  running_ = false;
  // Waiters of requestScanAndWait() must not hang on a stopped inbox.
  completed_ = requested_;
  scanned_.notify_all();
}

void Inbox::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const std::uint64_t covers = requested_;
    lock.unlock();
    (void)scanOnce();  // logs its own problems
    lock.lock();
    completed_ = std::max(completed_, covers);
    scanned_.notify_all();
    wake_.wait_for(lock, std::chrono::milliseconds(options_.pollIntervalMs),
                   [this] { return stopping_ || requested_ > completed_; });
  }
}

void Inbox::requestScanAndWait() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!running_) {
    lock.unlock();
    (void)scanOnce();
    return;
  }
  const std::uint64_t ticket = ++requested_;
  wake_.notify_all();
  scanned_.wait(lock, [&] { return completed_ >= ticket || !running_; });
}

InboxStats Inbox::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

fhir::Result<std::vector<InboxFileResult>> Inbox::scanOnce() {
  std::lock_guard<std::mutex> scanLock(scanMutex_);
  std::vector<std::pair<std::string, InboxName>> names;
  DIR* d = ::opendir(options_.dir.c_str());
  if (d == nullptr) {
    fhir::Status st(fhir::ErrorCode::kIoError,
                    "cannot list the inbox " + options_.dir + ": " + errnoText(errno));
    if (logger_ != nullptr) {
      fhir::Json f = fhir::Json::object();
      f.set("dir", fhir::Json::string(options_.dir));
      f.set("message", fhir::Json::string(st.message()));
      logger_->log(LogLevel::kError, "inbox-scan-failed", f);
    }
    return st;
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    InboxName kind = classifyInboxName(name);
    if (kind != InboxName::kIgnore) names.emplace_back(std::move(name), kind);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());

  std::vector<InboxFileResult> results;
  for (const auto& [name, kind] : names) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
    }
    std::optional<InboxFileResult> r;
    {
      InboxFileResult one = processFile(name, kind);
      if (one.name.empty()) continue;  // not a file for us (folder, fifo, vanished)
      r = std::move(one);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      switch (r->outcome) {
        case InboxFileOutcome::kProcessed:
          ++stats_.filesProcessed;
          break;
        case InboxFileOutcome::kRejected:
          ++stats_.filesRejected;
          break;
        case InboxFileOutcome::kRetryLater:
          ++stats_.filesRetried;
          break;
      }
      stats_.recordsAccepted += r->accepted;
      stats_.recordsReplayed += r->replayed;
      stats_.recordsRefused += r->refused;
    }
    if (logger_ != nullptr) {
      fhir::Json f = fhir::Json::object();
      f.set("file", fhir::Json::string(r->name));
      f.set("outcome", fhir::Json::string(inboxFileOutcomeName(r->outcome)));
      f.set("accepted", fhir::Json::number(static_cast<std::int64_t>(r->accepted)));
      f.set("replayed", fhir::Json::number(static_cast<std::int64_t>(r->replayed)));
      f.set("refused", fhir::Json::number(static_cast<std::int64_t>(r->refused)));
      if (!r->movedTo.empty()) f.set("movedTo", fhir::Json::string(r->movedTo));
      if (!r->reason.empty()) f.set("reason", fhir::Json::string(r->reason));
      logger_->log(
          r->outcome == InboxFileOutcome::kProcessed ? LogLevel::kInfo : LogLevel::kWarning,
          "inbox-file", f);
    }
    if (changes_ != nullptr) changes_->notifyAll();
    results.push_back(std::move(*r));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.scans;
  return results;
}

InboxFileResult Inbox::processFile(const std::string& name, InboxName kind) {
  InboxFileResult r;
  const std::string path = joinPath(options_.dir, name);
  fhir::Issues fileIssues;  // file-level reasons (name, type, size)
  std::string targetName = name;

  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return r;               // vanished: the writer took it back
  if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) return r;  // folder, fifo, socket
  r.name = kind == InboxName::kHostile ? escapeName(name) : name;

  auto rejectFile = [&](std::string reason, std::string code) {
    r.reason = reason;
    fhir::addError(&fileIssues, std::move(code), "", std::move(reason));
  };
  if (kind == InboxName::kHostile) {
    targetName = safeNameFor(name);
    rejectFile("unsafe file name \"" + escapeName(name) + "\": names must be at most " +
                   std::to_string(kMaxInboxNameBytes) +
                   " bytes without \"..\", \"/\", \"\\\" or control characters",
               "security");
  } else if (S_ISLNK(st.st_mode)) {
    rejectFile("not a regular file (symbolic link): the inbox never follows links", "security");
  } else if (static_cast<std::uint64_t>(st.st_size) > options_.maxFileBytes) {
    rejectFile("the file is " + std::to_string(st.st_size) + " bytes; the limit is " +
                   std::to_string(options_.maxFileBytes),
               "too-costly");
  }

  fhir::Issues recordIssues;
  if (fileIssues.empty()) {
    // O_NOFOLLOW/O_NONBLOCK: the entry may have been swapped since lstat.
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return InboxFileResult{};
      if (errno == ELOOP) {
        rejectFile("not a regular file (symbolic link): the inbox never follows links", "security");
      } else {
        r.outcome = InboxFileOutcome::kRetryLater;
        r.reason = "cannot open: " + errnoText(errno);
        return r;
      }
    } else {
      struct stat opened;
      fhir::Result<std::string> text = fhir::Status(fhir::ErrorCode::kIoError, "not read");
      if (::fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode)) {
        text = readAll(fd, path, options_.maxFileBytes);
      }
      ::close(fd);
      if (!text.isOk()) {
        r.outcome = InboxFileOutcome::kRetryLater;
        r.reason = text.status().message();
        return r;
      }
      if (text->size() > options_.maxFileBytes) {
        rejectFile("the file is larger than the limit of " + std::to_string(options_.maxFileBytes) +
                       " bytes",
                   "too-costly");
      } else {
        const IngestSource source{options_.principal, "inbox:" + name};
        std::vector<RecordOutcome> outcomes;
        if (endsWith(name, kNdjson)) {
          // Chunks of at most batchRecords non-blank lines: one store call
          // (one fsync) each, small enough not to crowd out HTTP clients.
          const std::size_t perCall = std::max<std::size_t>(
              1, std::min(options_.batchRecords, pipeline_.limits().maxBatchRecords));
          std::string_view all = *text;
          std::size_t pos = 0;
          std::size_t linesBefore = 0;  // lines of the file before this chunk
          while (pos < all.size()) {
            std::size_t end = pos;
            std::size_t lines = 0;
            std::size_t records = 0;
            while (end < all.size() && records < perCall) {
              std::size_t nl = all.find('\n', end);
              std::size_t stop = nl == std::string_view::npos ? all.size() : nl;
              std::string_view line = all.substr(end, stop - end);
              if (line.find_first_not_of(" \t\r") != std::string_view::npos) ++records;
              ++lines;
              end = nl == std::string_view::npos ? all.size() : nl + 1;
            }
            fhir::Result<std::vector<RecordOutcome>> chunk =
                pipeline_.ingestBatch(all.substr(pos, end - pos), source);
            if (!chunk.isOk()) {
              if (chunk.status().code() == fhir::ErrorCode::kTooLarge) {
                rejectFile(chunk.status().message(), "too-costly");
                break;
              }
              r.outcome = InboxFileOutcome::kRetryLater;
              r.reason = chunk.status().message();
              return r;
            }
            for (RecordOutcome& o : *chunk) {
              shiftLines(linesBefore, &o);
              outcomes.push_back(std::move(o));
            }
            linesBefore += lines;
            pos = end;
          }
          if (fileIssues.empty() && outcomes.empty()) {
            rejectFile("the file holds no records", "required");
          }
        } else {
          outcomes.push_back(pipeline_.ingestOne(*text, source));
        }
        bool transient = false;
        for (const RecordOutcome& o : outcomes) {
          if (o.status == IngestStatus::kAccepted) {
            ++r.accepted;
          } else if (o.status == IngestStatus::kReplay) {
            ++r.replayed;
          } else if (isTransient(o.status)) {
            transient = true;
          } else {
            ++r.refused;
            addRefusal(o, &recordIssues);
          }
        }
        if (transient) {
          // Accepted records are durable; the rest is retried (they replay).
          r.outcome = InboxFileOutcome::kRetryLater;
          r.reason = "the store is unavailable; the file is tried again at the next scan";
          return r;
        }
        if (r.refused > 0 && r.reason.empty()) {
          r.reason = std::to_string(r.refused) + " of " + std::to_string(outcomes.size()) +
                     " record(s) refused";
        }
      }
    }
  }

  const bool rejected = !fileIssues.empty() || !recordIssues.empty();
  const std::string& folder = rejected ? rejectedDir_ : processedDir_;
  const std::string finalName = freeName(folder, targetName);
  if (rejected) {
    fhir::Issues all = std::move(fileIssues);
    all.insert(all.end(), recordIssues.begin(), recordIssues.end());
    const std::string errorsName = finalName + std::string(kErrorsSuffix);
    // Written BEFORE the move: after a crash in between, the file is simply
    // processed again and the errors file replaced.
    fhir::Status written = writeInboxFile(
        folder, errorsName, fhir::writeJson(fhir::operationOutcome(all), fhir::JsonStyle::kPretty));
    if (!written.isOk()) {
      r.outcome = InboxFileOutcome::kRetryLater;
      r.reason = written.message();
      return r;
    }
    r.errorsFile = joinPath(folder, errorsName);
  }
  const std::string target = joinPath(folder, finalName);
  if (::rename(path.c_str(), target.c_str()) != 0) {
    r.outcome = InboxFileOutcome::kRetryLater;
    r.reason = "cannot move the file to " + folder + ": " + errnoText(errno);
    return r;
  }
  fhir::Status synced = syncDir(folder);
  if (synced.isOk()) synced = syncDir(options_.dir);
  if (!synced.isOk() && logger_ != nullptr) {
    fhir::Json f = fhir::Json::object();
    f.set("message", fhir::Json::string(synced.message()));
    logger_->log(LogLevel::kWarning, "inbox-sync-failed", f);
  }
  r.outcome = rejected ? InboxFileOutcome::kRejected : InboxFileOutcome::kProcessed;
  r.movedTo = target;
  return r;
}

}  // namespace inloop::gateway
