#pragma once

// NdjsonDirSender: the ndjson-dir kind, for interface engines that poll a folder.
//
// Lines are appended to an active file whose name starts with a dot and ends in
// ".tmp" (`.inloop-<prefix>.ndjson.tmp`), which pollers are expected to ignore;
// every send() writes the delivery's lines with one write and fsyncs before it
// reports kWritten: durable, but not yet seen by the reader, so NOT delivered.
// The active file is published by rename(2) (atomic within
// the folder) to `<prefix>-<UTC yyyymmddThhmmssmmmZ>-<seq>.ndjson` when it
// reaches maxBytes or is older than maxAgeMillis (checked on send() and on
// rotateIfDue(), which every delivery worker calls when it wakes), then the folder is
// fsynced. A poller therefore only ever sees complete files of complete lines.
// Published names are unique (sequence number, never overwriting). Each
// publication, with the message ids written into the file, is queued for
// takePublications(): the delivery engine marks those messages delivered then.
//
// After a crash, create() publishes a leftover active file, cut back to its
// last complete line, and queues a publication for "every written message"
// (the ids of a previous run are not known here; every message the store has
// as written is in that file or in one published before the crash).
//
// create() makes the folder (and its parents) when it does not exist yet.
// Failures (folder cannot be made or is not writable, disk full) are kRetry outcomes
// with a kIoError-style summary; they never throw.
// Thread safety: all methods may be called concurrently (one mutex).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fhir/status.h"
#include "gateway/transport/sender.h"

namespace inloop::gateway {

struct NdjsonDirOptions {
  std::string directory;
  // Characters outside [A-Za-z0-9._-] are replaced by '_'; empty: "inloop".
  std::string filePrefix = "inloop";
  std::uint64_t maxBytes = 64u << 20;
  std::int64_t maxAgeMillis = 60000;
  // Mode of the files written, whatever the umask (patient data: 0600; 0640 for
  // a poller in the group).
  unsigned fileMode = 0600;
};

// A file made visible to the reader.
struct NdjsonPublication {
  std::string path;  // empty: start-up found no working file left to publish
  // The messages whose lines it holds (write()'s ids, 0s left out).
  std::vector<std::int64_t> messageIds;
  // Start-up: every message the store has as written for this destination
  // (`messageIds` is empty then).
  bool everyWritten = false;
};

class NdjsonDirSender final : public Sender {
 public:
  // Fails with kIoError when `directory` is not an existing, writable folder.
  // `clock` must outlive the sender.
  static fhir::Result<std::unique_ptr<NdjsonDirSender>> create(NdjsonDirOptions options,
                                                               const Clock& clock);
  ~NdjsonDirSender() override;

  // write(delivery, 0).
  DeliveryOutcome send(const mappings::ShapedDelivery& delivery) override;
  // Appends the delivery's lines for the outbox message `messageId`: kWritten
  // (durable in the active file), kRetry on an I/O error (nothing is left of
  // it), kPermanent when it is not a sendable delivery. An empty delivery
  // writes nothing and is kDelivered.
  DeliveryOutcome write(const mappings::ShapedDelivery& delivery, std::int64_t messageId);

  // Publishes the active file when it is due (size or age). Returns the
  // published path, empty when nothing was due; kIoError on failure.
  fhir::Result<std::string> rotateIfDue();
  // Publishes the active file now if it has any line (shutdown, tests).
  fhir::Result<std::string> rotateNow();

  // The publications since the last call, oldest first.
  std::vector<NdjsonPublication> takePublications();
  // When the active file is due by age (clock millis); 0 when it holds nothing.
  std::int64_t nextRotationAtMillis();

  const std::string& activePath() const { return activePath_; }

 private:
  NdjsonDirSender(NdjsonDirOptions options, const Clock& clock);
  fhir::Status openActiveLocked();
  fhir::Result<std::string> publishLocked();
  fhir::Status recoverLocked();

  NdjsonDirOptions options_;
  const Clock& clock_;
  std::string activePath_;

  std::mutex mutex_;
  int fd_ = -1;
  std::uint64_t activeBytes_ = 0;
  std::int64_t activeOpenedAtMillis_ = 0;
  std::uint64_t sequence_ = 0;
  std::vector<std::int64_t> activeIds_;  // messages written into the active file
  std::vector<NdjsonPublication> publications_;
};

}  // namespace inloop::gateway
