#include "gateway/transport/sender.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include "fhir/json.h"
#include "gateway/clock.h"

namespace inloop::gateway {

namespace {

constexpr std::int64_t kMaxRetryAfterMillis = 24LL * 3600 * 1000;
constexpr std::size_t kMaxSummaryBytes = 500;

bool isRetryableIssueCode(std::string_view code) {
  return code == "transient" || code == "timeout" || code == "throttled";
}

bool isRetryableStatus(int status, bool conditionalMatch) {
  if (status == 408 || status == 429 || status == 409 || status == 401) return true;
  if (status == 412) return !conditionalMatch;
  return status >= 500;
}

// "201 Created" -> 201; 0 when it does not start with three digits.
int leadingStatus(std::string_view text) {
  if (text.size() < 3 || !std::isdigit(static_cast<unsigned char>(text[0])) ||
      !std::isdigit(static_cast<unsigned char>(text[1])) ||
      !std::isdigit(static_cast<unsigned char>(text[2]))) {
    return 0;
  }
  return (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
}

// The first error-level issue of a receiver's OperationOutcome.
struct FirstIssue {
  std::string code;    // its issue code, as the receiver wrote it
  std::string detail;  // its diagnostics or details.text: the receiver's own words
};

// Reads an OperationOutcome's issues: whether any is retryable, and the first
// error-level issue (kept when `first` already holds one).
void readOperationOutcome(const fhir::Json& oo, bool* retryable, FirstIssue* first) {
  const fhir::Json* issues = oo.find("issue");
  if (issues == nullptr) return;
  for (const auto& issue : issues->items()) {
    const fhir::Json* code = issue.find("code");
    const std::string codeText = code != nullptr && code->isString() ? code->text() : "";
    if (isRetryableIssueCode(codeText)) *retryable = true;
    const fhir::Json* severity = issue.find("severity");
    const bool error = severity != nullptr && severity->isString() &&
                       (severity->text() == "error" || severity->text() == "fatal");
    if (first->code.empty() && first->detail.empty() && error) {
      first->code = codeText;
      if (const fhir::Json* d = issue.find("diagnostics"); d != nullptr && d->isString()) {
        first->detail = d->text();
      } else if (const fhir::Json* details = issue.find("details"); details != nullptr) {
        if (const fhir::Json* t = details->find("text"); t != nullptr && t->isString()) {
          first->detail = t->text();
        }
      }
    }
  }
}

// Whether `code` looks like a FHIR issue code (lower-case letters and '-'), so
// a log may carry it; anything else is the receiver's free text.
bool isPlainCode(const std::string& code) {
  return !code.empty() && code.size() <= 40 &&
         std::all_of(code.begin(), code.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
}

std::string clip(std::string text) {
  if (text.size() > kMaxSummaryBytes) {
    text.resize(kMaxSummaryBytes);
    text += "...";
  }
  return text;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// IMF-fixdate, the HTTP-date senders must generate (RFC 9110 5.6.7):
// "Sun, 06 Nov 1994 08:49:37 GMT". Epoch milliseconds, or nullopt.
std::optional<std::int64_t> parseImfFixdate(std::string_view v) {
  if (v.size() != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
      v[19] != ':' || v[22] != ':' || v.substr(25) != " GMT") {
    return std::nullopt;
  }
  static constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  if (std::find(std::begin(kDays), std::end(kDays), v.substr(0, 3)) == std::end(kDays)) {
    return std::nullopt;
  }
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto month = std::find(std::begin(kMonths), std::end(kMonths), v.substr(8, 3));
  if (month == std::end(kMonths)) return std::nullopt;
  auto number = [&](std::size_t pos, std::size_t len) -> int {
    int n = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(v[i]))) return -1;
      n = n * 10 + (v[i] - '0');
    }
    return n;
  };
  const int day = number(5, 2), year = number(12, 4), hour = number(17, 2), minute = number(20, 2),
            second = number(23, 2);
  if (day < 1 || day > 31 || year < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
      second < 0 || second > 60) {
    return std::nullopt;
  }
  const auto m = static_cast<unsigned>(month - std::begin(kMonths) + 1);
  const std::int64_t days = daysFromCivil(year, m, static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute) * 60000LL + second * 1000LL;
}

}  // namespace

std::string_view outcomeClassName(OutcomeClass outcome) {
  switch (outcome) {
    case OutcomeClass::kDelivered:
      return "delivered";
    case OutcomeClass::kRetry:
      return "retry";
    case OutcomeClass::kPermanent:
      return "permanent";
  }
  return "retry";
}

std::optional<std::int64_t> parseRetryAfter(std::string_view value, std::int64_t nowMillis) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (value.size() > 9) return kMaxRetryAfterMillis;
    std::int64_t seconds = 0;
    for (char c : value) seconds = seconds * 10 + (c - '0');
    return std::min(seconds * 1000, kMaxRetryAfterMillis);
  }
  auto at = parseImfFixdate(value);
  if (!at) return std::nullopt;
  return std::clamp<std::int64_t>(*at - nowMillis, 0, kMaxRetryAfterMillis);
}

DeliveryOutcome classifyTransportError(const TransportError& error) {
  DeliveryOutcome out;
  out.transportError = error.kind;
  out.outcome = error.kind == TransportErrorKind::kInvalidRequest ? OutcomeClass::kPermanent
                                                                  : OutcomeClass::kRetry;
  out.summary = clip(std::string(transportErrorKindName(error.kind)) + ": " + error.message);
  return out;
}

DeliveryOutcome classifyResponse(const HttpResponse& response, std::int64_t nowMillis,
                                 bool conditionalMatch, bool parseFhir) {
  DeliveryOutcome out;
  out.httpStatus = response.status;
  if (auto ra = findHeader(response.headers, "Retry-After"); !ra.empty()) {
    out.retryAfterMillis = parseRetryAfter(ra, nowMillis);
  }
  if (auto loc = findHeader(response.headers, "Location"); !loc.empty()) {
    out.locations.emplace_back(loc);
  }
  int deciding = response.status;
  bool retryableIssue = false;
  FirstIssue firstIssue;
  if (parseFhir && !response.body.empty()) {
    fhir::JsonLimits limits;
    auto json = fhir::parseJson(response.body, limits);
    const fhir::Json* type = json.isOk() ? json->find("resourceType") : nullptr;
    if (type != nullptr && type->isString() && type->text() == "OperationOutcome") {
      out.operationOutcome = response.body;
      readOperationOutcome(*json, &retryableIssue, &firstIssue);
    } else if (type != nullptr && type->isString() && type->text() == "Bundle") {
      if (const fhir::Json* entries = json->find("entry")) {
        for (const auto& entry : entries->items()) {
          const fhir::Json* r = entry.find("response");
          if (r == nullptr) continue;
          const fhir::Json* status = r->find("status");
          const int s = status != nullptr && status->isString() ? leadingStatus(status->text()) : 0;
          if (const fhir::Json* loc = r->find("location"); loc != nullptr && loc->isString()) {
            out.locations.push_back(loc->text());
          }
          // A batch-response entry that failed decides (the first failure).
          if (s != 0 && (s < 200 || s > 299) && deciding >= 200 && deciding <= 299) {
            deciding = s;
            if (const fhir::Json* oo = r->find("outcome")) {
              out.operationOutcome = fhir::writeJson(*oo);
              readOperationOutcome(*oo, &retryableIssue, &firstIssue);
            }
          }
        }
      }
    }
  }
  out.httpStatus = deciding;
  if (deciding >= 200 && deciding <= 299) {
    out.outcome = OutcomeClass::kDelivered;
  } else if (retryableIssue || isRetryableStatus(deciding, conditionalMatch)) {
    out.outcome = OutcomeClass::kRetry;
  } else {
    out.outcome = OutcomeClass::kPermanent;
  }
  std::string head = "HTTP " + std::to_string(deciding);
  if (deciding != response.status) head += " in a " + std::to_string(response.status);
  const std::string tail = deciding == 401 ? ": credentials refused after one refresh" : "";
  std::string issue = firstIssue.code;
  if (!firstIssue.detail.empty()) issue += (issue.empty() ? "" : ": ") + firstIssue.detail;
  out.summary = clip(head + (issue.empty() ? "" : " (" + issue + ")") + tail);
  if (!issue.empty() && (!firstIssue.detail.empty() || !isPlainCode(firstIssue.code))) {
    const bool codeOnly = isPlainCode(firstIssue.code);
    out.logSummary = clip(head + (codeOnly ? " (" + firstIssue.code + ")" : "") + tail +
                          "; the receiver's text is in the delivery ledger");
  }
  return out;
}

namespace {

// Conditional URLs carry patient identifiers; the ledger and logs get the type.
std::string withoutQuery(const std::string& url) { return url.substr(0, url.find('?')); }

class HttpSender final : public Sender {
 public:
  HttpSender(mappings::DestinationKind kind, HttpClient& client, AuthProvider* auth,
             const Clock& clock)
      : kind_(kind), client_(client), auth_(auth), clock_(clock) {}

  DeliveryOutcome send(const mappings::ShapedDelivery& delivery) override {
    if (delivery.state != mappings::ShapeState::kSend) {
      DeliveryOutcome out;
      out.outcome = OutcomeClass::kPermanent;
      out.summary = "not sendable (" + std::string(mappings::shapeStateName(delivery.state)) +
                    "): " + delivery.reason;
      return out;
    }
    if (delivery.requests.empty()) {
      DeliveryOutcome out;
      out.outcome = OutcomeClass::kDelivered;
      out.summary = "nothing to send";
      return out;
    }
    const bool fhirServer = kind_ != mappings::DestinationKind::kHttpBundle;
    DeliveryOutcome last;
    std::vector<RequestAttempt> attempts;
    std::vector<std::string> locations;
    // Requests after the first only for fhir-put; the others shape exactly one.
    for (const auto& wire : delivery.requests) {
      HttpRequest request;
      request.method = wire.method;
      request.target = client_.pathFor(wire.url);
      request.headers = {{"Content-Type", "application/fhir+json"},
                         {"Accept", "application/fhir+json"}};
      if (fhirServer) request.headers.push_back({"Prefer", "return=OperationOutcome"});
      for (const auto& h : wire.headers) request.headers.push_back(h);
      request.body = fhir::writeJson(wire.body);
      const bool conditional = wire.url.find('?') != std::string::npos ||
                               !findHeader(wire.headers, "If-None-Exist").empty();

      HttpResult result = sendWithAuth(client_, auth_, std::move(request));
      RequestAttempt attempt{wire.method, withoutQuery(wire.url), 0, {}};
      if (result.isOk()) {
        attempt.status = result.response().status;
        last = classifyResponse(result.response(), clock_.nowMillis(), conditional, fhirServer);
      } else {
        attempt.transportError = std::string(transportErrorKindName(result.error().kind));
        last = classifyTransportError(result.error());
      }
      attempts.push_back(std::move(attempt));
      for (auto& l : last.locations) locations.push_back(std::move(l));
      if (last.outcome != OutcomeClass::kDelivered) {
        if (delivery.requests.size() > 1) {
          const std::string prefix = wire.method + " " + withoutQuery(wire.url) + ": ";
          last.summary = prefix + last.summary;
          if (!last.logSummary.empty()) last.logSummary = prefix + last.logSummary;
        }
        break;
      }
    }
    last.requests = std::move(attempts);
    last.locations = std::move(locations);
    return last;
  }

 private:
  mappings::DestinationKind kind_;
  HttpClient& client_;
  AuthProvider* auth_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<Sender> makeHttpSender(mappings::DestinationKind kind, HttpClient& client,
                                       AuthProvider* auth, const Clock& clock) {
  if (kind == mappings::DestinationKind::kNdjsonDir) return nullptr;
  return std::make_unique<HttpSender>(kind, client, auth, clock);
}

}  // namespace inloop::gateway
