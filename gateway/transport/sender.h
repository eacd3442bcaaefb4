#pragma once

// Senders: one per destination kind, each taking what the shaping produced
// (mappings::ShapedDelivery) and returning a DeliveryOutcome classified for
// the delivery engine's retry logic.
//
//  - fhir-transaction: POST the Bundle to the base with
//    `Content-Type: application/fhir+json`, `Accept: application/fhir+json` and
//    `Prefer: return=OperationOutcome`; the transaction-response Bundle (or an
//    OperationOutcome) is read for entry statuses and locations;
//  - fhir-put: the conditional requests in order, stopping at the first one
//    not delivered (its outcome is the delivery's outcome). A request marked
//    searchFirst (the server does not do conditional updates) searches first
//    and PUTs Type/{id} of the single match (If-Match its version) or POSTs
//    when there is none. References between the requests are sent as the
//    literal "Type/{id}" each earlier request got (its Location, else a search);
//  - references the receiver must resolve (FHIR servers, unless the
//    destination says it resolves conditional references): a conditional
//    reference to a resource not sent in the same delivery (the patient in
//    `reference` matching) is resolved by GET Type?identifier=... to the single
//    match's "Type/{id}", cached per destination (ServerIdCache); no match or
//    several give kUnmatched (the engine parks the message, visible);
//  - http-bundle: POST the Bundle to the listener URL; status only;
//  - ndjson-dir: gateway/transport/ndjson_dir_sender.h.
//
// Classification (DOMAIN.md "Receivers"):
//  - 2xx: delivered, unless the body is an OperationOutcome with an error or
//    fatal issue (some servers answer a refusal with 200: permanent, or retry
//    for a transient issue code) (for a batch-response Bundle every entry must be 2xx,
//    otherwise the worst entry decides as below);
//  - network errors (TransportError, except kInvalidRequest), 408, 429, 5xx,
//    409 (a concurrent write), 412 when the request was not a conditional
//    match, and any OperationOutcome issue code transient / timeout /
//    throttled: retry, with the receiver's Retry-After (delta-seconds or
//    HTTP-date) when given;
//  - 401: the auth provider refreshes once and the request is repeated once
//    (sendWithAuth); a 401 after that is retried later (an operator must fix
//    the credentials; the engine's age alert makes it visible);
//  - 400, 403, 404, 405, 410, 422, 412 on a conditional match (several
//    matches), any other 4xx: permanent (dead letter), keeping the receiver's
//    OperationOutcome text. A permanent answer that refuses a resource type
//    (405/501 for a request of that type, or an issue code "not-supported" or
//    words like "not supported" / "does not accept" naming exactly one type
//    that was sent), the transaction itself, or a conditional update is
//    reported in `refusedType` / `conditionalUpdateRefused`, so the engine can
//    learn it for the destination and send the fallback.
//
// Thread safety: send() may be called concurrently when the HttpClient and
// AuthProvider are shared (they are thread-safe); a Sender has no other state.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/transport/http_client.h"
#include "gateway/transport/outbound_auth.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

class Clock;

enum class OutcomeClass {
  kDelivered,
  kRetry,      // transient: try again later (after retryAfterMillis when set)
  kPermanent,  // dead letter: the same request will fail again
  kUnmatched,  // the receiver has no single resource a reference names (the patient)
  kWritten,    // durable where the receiver will read it, once published (ndjson-dir)
};

// "delivered", "retry", "permanent", "unmatched", "written".
std::string_view outcomeClassName(OutcomeClass outcome);

// One HTTP request made for a delivery, for the ledger.
struct RequestAttempt {
  std::string method;
  // Relative to the endpoint as shaped, WITHOUT the query (conditional URLs
  // carry patient identifiers): "", "Patient", "Observation".
  std::string url;
  int status = 0;              // 0: no response (see transportError)
  std::string transportError;  // transportErrorKindName, empty with a response
};

struct DeliveryOutcome {
  OutcomeClass outcome = OutcomeClass::kRetry;
  int httpStatus = 0;  // status of the deciding response; 0 for transport errors
  std::optional<TransportErrorKind> transportError;
  // The receiver asked to wait this long (Retry-After), in milliseconds.
  std::optional<std::int64_t> retryAfterMillis;
  // One line for the ledger: "HTTP 422 (invalid: ...)", "timeout: ...".
  std::string summary;
  // The same line for logs when `summary` quotes the receiver's own words (its
  // diagnostics may echo the patient back): "HTTP 422 (invalid); the receiver's
  // text is in the delivery ledger". Empty: `summary` has none and may be logged.
  std::string logSummary;
  // The receiver's OperationOutcome (JSON text) when it sent one.
  std::string operationOutcome;
  std::vector<RequestAttempt> requests;
  // Location of each created/updated resource, when the receiver said.
  std::vector<std::string> locations;
  // kPermanent that refused a resource type ("Bundle": the transaction itself).
  std::string refusedType;
  // kPermanent that refused a conditional update (PUT Type?identifier=...).
  bool conditionalUpdateRefused = false;
  // For the ledger when not delivered (never for logs: may quote the patient):
  // the receiver's body when it was not an OperationOutcome (first 8 KiB), the
  // headers of its answer that matter (Content-Type, Retry-After, Location,
  // ETag, WWW-Authenticate, request-id headers), and the deciding request
  // ("PUT Observation", no query) with its body (first 64 KiB).
  std::string responseBody;
  HeaderList responseHeaders;
  std::string sentRequest;
  std::string sentBody;
};

// Literal ids learnt at one FHIR server: conditional URL
// ("Patient?identifier=sys%7Cval") -> "Patient/123". Bounded (the oldest half
// is dropped when full). Thread-safe.
class ServerIdCache {
 public:
  explicit ServerIdCache(std::size_t capacity = 20000) : capacity_(capacity) {}
  std::optional<std::string> find(const std::string& conditionalUrl) const;
  void remember(const std::string& conditionalUrl, const std::string& literal);
  std::size_t size() const;
  // Held around a search-then-write of the resource `conditionalUrl` finds
  // (a server without conditional update): two deliveries writing the same
  // shared resource (the pain center's Organization, for different patients)
  // at once would both find none and both create it. Keys share a lock only
  // when they hash alike (then they merely wait for each other).
  std::mutex& writeLockFor(const std::string& conditionalUrl);

 private:
  std::size_t capacity_;
  std::array<std::mutex, 64> writeLocks_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> ids_;
};

struct SenderOptions {
  // The destination's "conditionalReferences": the receiver resolves them.
  bool receiverResolvesConditionalReferences = false;
  // Shared by the senders of one destination; null: nothing kept across sends.
  ServerIdCache* ids = nullptr;
};

// Delay asked by a Retry-After value: delta-seconds ("120") or an IMF-fixdate
// ("Wed, 21 Oct 2015 07:28:00 GMT", relative to nowMillis; a past date is 0).
// nullopt when the value is neither. Capped at 24 hours.
std::optional<std::int64_t> parseRetryAfter(std::string_view value, std::int64_t nowMillis);

// Classifies one response (rules above). `conditionalMatch`: the request was a
// conditional update/create (a 412 then means several matches: permanent).
DeliveryOutcome classifyResponse(const HttpResponse& response, std::int64_t nowMillis,
                                 bool conditionalMatch, bool parseFhir = true);
DeliveryOutcome classifyTransportError(const TransportError& error);

class Sender {
 public:
  virtual ~Sender() = default;
  // Sends `delivery` (state kSend). Anything else gives kPermanent with the
  // shaping's reason (the engine should not call send for it). Never throws.
  virtual DeliveryOutcome send(const mappings::ShapedDelivery& delivery) = 0;
};

// fhir-transaction, fhir-put and http-bundle. `client` is the destination's
// HttpClient (endpoint as its base), `auth` may be null (none); both and
// `clock` must outlive the sender. `kind` must not be kNdjsonDir (nullptr).
std::unique_ptr<Sender> makeHttpSender(mappings::DestinationKind kind, HttpClient& client,
                                       AuthProvider* auth, const Clock& clock,
                                       SenderOptions options = {});

}  // namespace inloop::gateway
