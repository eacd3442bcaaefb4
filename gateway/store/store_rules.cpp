#include "gateway/store/store_rules.h"

#include <algorithm>

#include "gateway/base/clock.h"

namespace inloop::gateway {

using fhir::ErrorCode;
using fhir::Status;

const char* outboxStateName(OutboxState state) {
  switch (state) {
    case OutboxState::kPending:
      return "pending";
    case OutboxState::kUnroutable:
      return "unroutable";
    case OutboxState::kPatientUnmatched:
      return "patient-unmatched";
    case OutboxState::kDelivered:
      return "delivered";
    case OutboxState::kDeadLetter:
      return "dead-letter";
    case OutboxState::kSuperseded:
      return "superseded";
    case OutboxState::kDiscarded:
      return "discarded";
    case OutboxState::kNotSent:
      return "not-sent";
    case OutboxState::kWritten:
      return "written";
  }
  return "pending";
}

bool parseOutboxState(const std::string& name, OutboxState* state) {
  static constexpr OutboxState kAll[] = {
      OutboxState::kPending,   OutboxState::kUnroutable, OutboxState::kPatientUnmatched,
      OutboxState::kDelivered, OutboxState::kDeadLetter, OutboxState::kSuperseded,
      OutboxState::kDiscarded, OutboxState::kNotSent,    OutboxState::kWritten};
  for (OutboxState candidate : kAll) {
    if (name == outboxStateName(candidate)) {
      *state = candidate;
      return true;
    }
  }
  return false;
}

const char* attemptOutcomeName(AttemptOutcome outcome) {
  switch (outcome) {
    case AttemptOutcome::kDelivered:
      return "delivered";
    case AttemptOutcome::kRetry:
      return "retry";
    case AttemptOutcome::kDeadLetter:
      return "dead-letter";
    case AttemptOutcome::kParked:
      return "parked";
    case AttemptOutcome::kNotSent:
      return "not-sent";
    case AttemptOutcome::kWritten:
      return "written";
  }
  return "retry";
}

bool parseAttemptOutcome(const std::string& name, AttemptOutcome* outcome) {
  static constexpr AttemptOutcome kAll[] = {AttemptOutcome::kDelivered,  AttemptOutcome::kRetry,
                                            AttemptOutcome::kDeadLetter, AttemptOutcome::kParked,
                                            AttemptOutcome::kNotSent,    AttemptOutcome::kWritten};
  for (AttemptOutcome candidate : kAll) {
    if (name == attemptOutcomeName(candidate)) {
      *outcome = candidate;
      return true;
    }
  }
  return false;
}

const char* ingestOutcomeName(IngestOutcome outcome) {
  switch (outcome) {
    case IngestOutcome::kAccepted:
      return "accepted";
    case IngestOutcome::kReplay:
      return "replay";
    case IngestOutcome::kConflict:
      return "conflict";
    case IngestOutcome::kStale:
      return "stale";
  }
  return "accepted";
}

std::uint64_t ReceiptIds::parse(std::string_view text) {
  constexpr std::string_view kPrefix = "rcpt-";
  if (text.size() != kPrefix.size() + 16 || !text.starts_with(kPrefix)) return 0;
  std::uint64_t value = 0;
  for (char c : text.substr(kPrefix.size())) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return 0;
    value = value << 4 | static_cast<std::uint64_t>(digit);
  }
  return value;
}

fhir::Result<std::string> ReceiptIds::next(std::int64_t nowMillis) {
  if (last_ == UINT64_MAX) return Status(ErrorCode::kInternal, "receipt ids are exhausted");
  const std::uint64_t fromClock = static_cast<std::uint64_t>(std::max<std::int64_t>(nowMillis, 0))
                                  << 20;
  last_ = std::max(fromClock, last_ + 1);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id = "rcpt-";
  for (int shift = 60; shift >= 0; shift -= 4) id.push_back(kDigits[(last_ >> shift) & 0x0f]);
  return id;
}

Status validateIngestItem(const IngestItem& item, std::size_t index) {
  const std::string where = "ingest item " + std::to_string(index) + ": ";
  if (item.recordId.empty()) return Status(ErrorCode::kInvalid, where + "empty recordId");
  if (item.version < 1) return Status(ErrorCode::kInvalid, where + "version must be >= 1");
  if (item.recordType.empty()) return Status(ErrorCode::kInvalid, where + "empty recordType");
  if (item.contentHash.empty()) return Status(ErrorCode::kInvalid, where + "empty contentHash");
  for (const auto& target : item.destinations) {
    if (target.destinationId.empty()) {
      return Status(ErrorCode::kInvalid, where + "empty destinationId");
    }
  }
  for (const StoredNotice& notice : item.notices) {
    if (notice.key.empty()) return Status(ErrorCode::kInvalid, where + "a notice without key");
  }
  return Status::ok();
}

Status validateRouteTargets(const std::vector<DestinationTarget>& targets) {
  if (targets.empty()) return Status(ErrorCode::kInvalid, "routeUnroutable: no targets");
  for (const DestinationTarget& target : targets) {
    if (target.destinationId.empty()) {
      return Status(ErrorCode::kInvalid, "routeUnroutable: a target without a destination");
    }
  }
  return Status::ok();
}

AuditEntry ingestAuditOf(const IngestItem& item, std::int64_t now) {
  AuditEntry audit;
  audit.atMillis = now;
  audit.principal = item.principal;
  audit.action = "ingest";
  audit.recordId = item.recordId;
  audit.version = item.version;
  audit.recordType = item.recordType;
  audit.source = item.source;
  audit.patientKey = item.patientKey;
  return audit;
}

void decideStoredVersion(const IngestItem& item, const std::string& storedHash,
                         const std::string& receiptId, std::int64_t receivedAtMillis,
                         IngestResult* result) {
  result->receipt.recordId = item.recordId;
  result->receipt.version = item.version;
  if (storedHash == item.contentHash) {
    result->outcome = IngestOutcome::kReplay;
    result->receipt.receiptId = receiptId;
    result->receipt.receivedAtMillis = receivedAtMillis;
    result->receipt.receivedAt = formatInstant(receivedAtMillis);
    result->message = "already stored with identical content";
  } else {
    result->outcome = IngestOutcome::kConflict;
    result->message = "version " + std::to_string(item.version) + " of record " + item.recordId +
                      " is already stored with different content";
  }
  result->receipt.status = result->outcome;
}

bool decideStale(const IngestItem& item, std::int64_t latestVersion, IngestResult* result) {
  if (latestVersion <= item.version) return false;
  result->receipt.recordId = item.recordId;
  result->receipt.version = item.version;
  result->outcome = IngestOutcome::kStale;
  result->message = "version " + std::to_string(item.version) + " of record " + item.recordId +
                    " is older than the stored version " + std::to_string(latestVersion);
  result->receipt.status = result->outcome;
  return true;
}

void decideAccepted(const IngestItem& item, const std::string& receiptId, std::int64_t now,
                    IngestResult* result) {
  result->outcome = IngestOutcome::kAccepted;
  result->receipt.recordId = item.recordId;
  result->receipt.version = item.version;
  result->receipt.receiptId = receiptId;
  result->receipt.status = IngestOutcome::kAccepted;
  result->receipt.receivedAtMillis = now;
  result->receipt.receivedAt = formatInstant(now);
}

DeliveryAttempt publicationAttempt(std::int64_t messageId, const std::string& location,
                                   std::int64_t now) {
  DeliveryAttempt attempt;
  attempt.messageId = messageId;
  attempt.atMillis = now;
  attempt.outcome = AttemptOutcome::kDelivered;
  attempt.location = location;
  attempt.error =
      location.empty() ? "published (its file was published before a restart)" : "published";
  return attempt;
}

}  // namespace inloop::gateway
