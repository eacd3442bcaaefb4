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
//    not delivered (its outcome is the delivery's outcome);
//  - http-bundle: POST the Bundle to the listener URL; status only;
//  - ndjson-dir: gateway/transport/ndjson_dir_sender.h.
//
// Classification (DOMAIN.md "Receivers"):
//  - 2xx: delivered (for a batch-response Bundle every entry must be 2xx,
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
//    OperationOutcome text.
//
// Thread safety: send() may be called concurrently when the HttpClient and
// AuthProvider are shared (they are thread-safe); a Sender has no other state.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/transport/auth.h"
#include "gateway/transport/http_client.h"
#include "mappings/destination.h"

namespace inloop::gateway {

class Clock;

enum class OutcomeClass {
  kDelivered,
  kRetry,      // transient: try again later (after retryAfterMillis when set)
  kPermanent,  // dead letter: the same request will fail again
};

// "delivered", "retry", "permanent".
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
                                       AuthProvider* auth, const Clock& clock);

}  // namespace inloop::gateway
