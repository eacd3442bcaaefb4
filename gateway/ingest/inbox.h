#pragma once

// Inbox: a watched folder for clinic systems that export plan records as files
// (docs/inbox.md is the integration team's guide).
//
// Files taken: regular files named `*.json` (one record) or `*.ndjson` (one
// record per line) directly in `dir`. Ignored (left alone): dotfiles, every
// other name (`export.json.tmp` while it is being written), folders and other
// special files. Writers create the file under an ignored name and RENAME it to
// its final name when complete (rename is atomic within one file system).
//
// Each taken file goes through the IngestPipeline (principal options.principal,
// source "inbox:<file name>"), then:
//   - every record accepted or a replay          -> moved to `dir/processed/`;
//   - any record refused (invalid, conflict, ...) -> `dir/rejected/<name>.errors.json`
//     (an OperationOutcome; for NDJSON one issue per refused line, paths
//     "line N: $.path") is written atomically (temp + fsync + rename) FIRST,
//     then the file is moved to `dir/rejected/`. Accepted lines stay accepted.
//   - the store is unavailable or failed          -> the file stays in `dir` and
//     is tried again at the next scan (accepted lines then replay).
// Files are moved only after the store has acknowledged (fsync'ed) their
// records, so a crash at any point loses nothing; reprocessing a file after a
// crash is a harmless replay (the store dedups recordId+version+content).
// Hostile names (over kMaxInboxNameBytes bytes, containing "..", "/" or control
// characters) and symbolic links are never opened: they are moved to
// `rejected/` under a generated safe name, with an errors file. Files larger
// than options.maxFileBytes are rejected unread.
// When a name is already taken in processed/ or rejected/, "-2", "-3", ... is
// added before the extension.
//
// Thread safety: scanOnce(), requestScanAndWait() and stats() may be called
// from any thread; scans never overlap (one runs at a time). start()/stop()
// from the owning thread. Nothing throws.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fhir/status.h"

namespace inloop::gateway {

class ChangeSignal;    // gateway/base/change_signal.h
class IngestPipeline;  // gateway/ingest/ingest_pipeline.h
class JsonLogger;      // gateway/log/json_logger.h

// Longest file name (bytes) the inbox takes.
inline constexpr std::size_t kMaxInboxNameBytes = 200;

struct InboxOptions {
  std::string dir;                       // watched folder (created if missing)
  std::int64_t pollIntervalMs = 2000;    // between background scans
  std::size_t maxFileBytes = 64u << 20;  // larger files are rejected unread
  std::size_t batchRecords = 1000;       // NDJSON lines per store call (one fsync)
  std::string principal = "inbox";       // audit-log principal
};

enum class InboxFileOutcome {
  kProcessed,   // moved to processed/
  kRejected,    // moved to rejected/ with an errors file
  kRetryLater,  // left in place: the store was unavailable or failed
};

// "processed", "rejected", "retry-later".
const char* inboxFileOutcomeName(InboxFileOutcome outcome);

// What one scan did with one file.
struct InboxFileResult {
  std::string name;  // the file's name; for hostile names a printable escape
  InboxFileOutcome outcome = InboxFileOutcome::kRetryLater;
  std::string movedTo;       // full path of the moved file; empty for kRetryLater
  std::string errorsFile;    // full path of the errors file (kRejected)
  std::size_t accepted = 0;  // records newly stored
  std::size_t replayed = 0;  // records already stored (replays)
  std::size_t refused = 0;   // records (lines) refused
  std::string reason;        // why the file was rejected or left (no clinical data)
};

struct InboxStats {
  std::uint64_t scans = 0;
  std::uint64_t filesProcessed = 0;
  std::uint64_t filesRejected = 0;
  std::uint64_t filesRetried = 0;  // scans that left a file for later
  std::uint64_t recordsAccepted = 0;
  std::uint64_t recordsReplayed = 0;
  std::uint64_t recordsRefused = 0;
};

// Classification of a directory entry name (exposed for tests).
enum class InboxName {
  kIgnore,   // not for the inbox (yet): dotfile, other extension
  kTake,     // *.json or *.ndjson with a safe name
  kHostile,  // *.json/*.ndjson name that must not be used as a path
};
InboxName classifyInboxName(const std::string& name);

class Inbox {
 public:
  // `pipeline` (and `logger` and `changes`, which may be null) must outlive
  // the inbox. `changes` is notified after each file was moved (processed or
  // rejected) or left for a later scan.
  Inbox(IngestPipeline& pipeline, InboxOptions options, JsonLogger* logger = nullptr,
        ChangeSignal* changes = nullptr);
  ~Inbox();  // stop()
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  // Creates dir, dir/processed and dir/rejected. kIoError names the folder.
  fhir::Status prepare();

  // prepare(), then a background thread scans every pollIntervalMs (and at
  // once when requested). Idempotent.
  fhir::Status start();
  // Stops the background thread after its current file. Idempotent.
  void stop();

  // Scans the folder once (files in name order) and processes every file that
  // is ready. Fails (kIoError) only when the folder cannot be listed; problems
  // with single files are in their results.
  fhir::Result<std::vector<InboxFileResult>> scanOnce();

  // Asks the background thread for a scan and waits until a scan that started
  // after this call has finished. Without start(), runs scanOnce() itself.
  void requestScanAndWait();

  InboxStats stats() const;
  const InboxOptions& options() const { return options_; }

 private:
  InboxFileResult processFile(const std::string& name, InboxName kind);
  void run();

  IngestPipeline& pipeline_;
  InboxOptions options_;
  JsonLogger* logger_;
  ChangeSignal* changes_;
  std::string processedDir_;
  std::string rejectedDir_;

  std::mutex scanMutex_;  // one scan at a time

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::condition_variable scanned_;
  InboxStats stats_;
  std::uint64_t requested_ = 0;  // scan requests issued
  std::uint64_t completed_ = 0;  // highest request number a finished scan covered
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace inloop::gateway
