#include "gateway/transport/sender.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <map>

#include "fhir/json.h"
#include "gateway/base/clock.h"

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
  return !code.empty() && code.size() <= 40 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || c == '-';
  });
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
    case OutcomeClass::kUnmatched:
      return "unmatched";
    case OutcomeClass::kWritten:
      return "written";
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
  // A 2xx whose body is an OperationOutcome with an error issue did not take
  // the resources (some servers answer errors with 200): never "delivered".
  const bool errorOutcome =
      !out.operationOutcome.empty() && (!firstIssue.code.empty() || !firstIssue.detail.empty());
  if (deciding >= 200 && deciding <= 299 && errorOutcome) {
    out.outcome = retryableIssue ? OutcomeClass::kRetry : OutcomeClass::kPermanent;
  } else if (deciding >= 200 && deciding <= 299) {
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

std::optional<std::string> ServerIdCache::find(const std::string& conditionalUrl) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = ids_.find(conditionalUrl);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void ServerIdCache::remember(const std::string& conditionalUrl, const std::string& literal) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ids_.size() >= capacity_ && ids_.find(conditionalUrl) == ids_.end()) {
    // Crude but bounded: drop about half (a miss only costs one search).
    for (auto it = ids_.begin(); it != ids_.end() && ids_.size() > capacity_ / 2;) {
      it = ids_.erase(it);
    }
  }
  ids_[conditionalUrl] = literal;
}

std::mutex& ServerIdCache::writeLockFor(const std::string& conditionalUrl) {
  return writeLocks_[std::hash<std::string>{}(conditionalUrl) % writeLocks_.size()];
}

std::size_t ServerIdCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ids_.size();
}

namespace {

constexpr std::size_t kMaxResponseExcerpt = 8u << 10;
constexpr std::size_t kMaxSentExcerpt = 64u << 10;

// Response headers an operator needs to understand a refusal.
bool headerMatters(std::string_view name) {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n == "content-type" || n == "retry-after" || n == "location" || n == "etag" ||
         n == "www-authenticate" || n == "x-request-id" || n == "x-correlation-id" ||
         n == "x-amzn-requestid";
}

// Conditional URLs carry patient identifiers; the ledger and logs get the type.
std::string withoutQuery(const std::string& url) { return url.substr(0, url.find('?')); }

// The type of a relative URL or reference: "Patient?identifier=..." -> "Patient".
std::string typeOf(std::string_view url) {
  return std::string(url.substr(0, std::min(url.find('?'), url.find('/'))));
}

// "Type/id" from a Location ("http://h/fhir/Type/id/_history/2", "Type/id"),
// "" when it names no resource of `type`.
std::string literalFromLocation(std::string_view location, const std::string& type) {
  if (const std::size_t h = location.find("/_history"); h != std::string_view::npos) {
    location = location.substr(0, h);
  }
  const std::size_t slash = location.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  std::string_view id = location.substr(slash + 1);
  std::string_view before = location.substr(0, slash);
  const std::size_t typeStart = before.rfind('/');
  std::string_view t = typeStart == std::string_view::npos ? before : before.substr(typeStart + 1);
  if (t != type || id.empty()) return {};
  return type + "/" + std::string(id);
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// True when `word` occurs in `text` as a whole word that is not an element
// path ("Goal" in "writes of Goal", not in "Goal.target" or "Goals").
bool namesType(std::string_view text, std::string_view word) {
  for (std::size_t at = text.find(word); at != std::string_view::npos;
       at = text.find(word, at + 1)) {
    const bool startOk = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
    const std::size_t end = at + word.size();
    const bool endOk =
        end == text.size() || (!std::isalnum(static_cast<unsigned char>(text[end])) &&
                               text[end] != '.' && text[end] != '/' && text[end] != '?');
    if (startOk && endOk) return true;
  }
  return false;
}

// The receiver's words in `out` (OperationOutcome text, else the summary).
std::string answerText(const DeliveryOutcome& out) {
  return out.operationOutcome.empty() ? out.summary : out.operationOutcome;
}

bool refusalWords(const std::string& text) {
  const std::string t = lower(text);
  for (const char* phrase :
       {"not supported", "not-supported", "unsupported", "does not accept", "not accepted",
        "not writable", "unknown resource type", "read-only", "read only", "not allowed"}) {
    if (t.find(phrase) != std::string::npos) return true;
  }
  return false;
}

// Fills out.refusedType / out.conditionalUpdateRefused for a permanent 4xx/5xx
// answer to a request of `types` (rules in the header).
void noteRefusal(DeliveryOutcome* out, const std::vector<std::string>& types, bool transaction,
                 bool conditionalPut) {
  // (A 2xx carrying an error OperationOutcome is permanent too: its words count.)
  if (out->outcome != OutcomeClass::kPermanent) return;
  const int status = out->httpStatus;
  const std::string text = answerText(*out);
  const bool methodRefused = status == 405 || status == 501;
  const bool refusal = methodRefused || refusalWords(text);
  if (!refusal) return;
  const std::string t = lower(text);
  if (conditionalPut &&
      (t.find("conditional") != std::string::npos || (!transaction && methodRefused))) {
    out->conditionalUpdateRefused = true;
    return;
  }
  if (!transaction && types.size() == 1 && methodRefused) {
    out->refusedType = types.front();
    return;
  }
  // A type the words name comes first: "transaction failed: Goal not
  // supported" refuses Goal, not transactions.
  std::string named;
  for (const std::string& type : types) {
    if (!namesType(text, type)) continue;
    if (!named.empty() && named != type) return;  // two types named: not sure which
    named = type;
  }
  if (!named.empty()) {
    out->refusedType = named;
  } else if (transaction && (t.find("transaction") != std::string::npos || methodRefused)) {
    out->refusedType = "Bundle";
  }
}

class HttpSender final : public Sender {
 public:
  HttpSender(mappings::DestinationKind kind, HttpClient& client, AuthProvider* auth,
             const Clock& clock, SenderOptions options)
      : kind_(kind), client_(client), auth_(auth), clock_(clock), options_(options) {}

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
      out.outcome = OutcomeClass::kPermanent;
      out.summary = "nothing to send";
      return out;
    }
    Exchange x(*this, delivery);
    return x.run();
  }

 private:
  // One delivery: the requests it makes and what they taught.
  class Exchange {
   public:
    Exchange(HttpSender& sender, const mappings::ShapedDelivery& delivery)
        : s_(sender), delivery_(delivery) {
      // The conditional URL of each request: what later requests reference.
      for (const auto& wire : delivery.requests) keys_.push_back(keyOf(wire));
    }

    DeliveryOutcome run() {
      const bool fhirServer = s_.kind_ != mappings::DestinationKind::kHttpBundle;
      DeliveryOutcome last;
      for (std::size_t i = 0; i < delivery_.requests.size(); ++i) {
        const mappings::WireRequest& wire = delivery_.requests[i];
        // The shaped body as it is, unless something in it must change (a
        // conditional reference to resolve, an id to set): no copy of a large
        // Bundle per send for the common case.
        std::optional<fhir::Json> changed;
        if (wire.searchFirst || (fhirServer && hasConditionalReference(wire.body))) {
          changed = wire.body;
        }
        if (changed && fhirServer) {
          if (std::optional<DeliveryOutcome> stop = resolveReferences(&*changed, i)) {
            return finish(std::move(*stop), wire);
          }
        }
        std::string method = wire.method;
        std::string url = wire.url;
        HeaderList headers = wire.headers;
        bool conditional = url.find('?') != std::string::npos ||
                           !findHeader(wire.headers, "If-None-Exist").empty();
        // Until this request's answer is in: no other delivery searches for
        // (and so creates) the same resource meanwhile.
        std::unique_lock<std::mutex> writing;
        if (wire.searchFirst && s_.options_.ids != nullptr) {
          writing = std::unique_lock<std::mutex>(s_.options_.ids->writeLockFor(wire.url));
        }
        if (wire.searchFirst) {
          // The server does no conditional update: find the resource, then
          // write it by id (or create it).
          Found found;
          if (std::optional<DeliveryOutcome> stop = search(wire.url, &found)) {
            return finish(std::move(*stop), wire);
          }
          if (found.count > 1) {
            DeliveryOutcome out;
            out.outcome = OutcomeClass::kPermanent;
            out.summary = std::to_string(found.count) + " " + typeOf(wire.url) +
                          " resources at the receiver have this identifier; cannot update one";
            return finish(std::move(out), wire);
          }
          changed->erase("id");
          if (found.count == 0) {
            method = "POST";
            url = typeOf(wire.url);
          } else {
            method = "PUT";
            url = found.literal;
            changed->set("id",
                         fhir::Json::string(found.literal.substr(found.literal.find('/') + 1)));
            if (!found.versionId.empty())
              headers.push_back({"If-Match", "W/\"" + found.versionId + "\""});
          }
          conditional = false;
        }
        const fhir::Json& body = changed ? *changed : wire.body;
        last = exchange(method, url, headers, body, conditional, fhirServer);
        if (last.outcome != OutcomeClass::kDelivered) {
          std::vector<std::string> types;
          bool conditionalPuts = false;
          collectTypes(wire, body, &types, &conditionalPuts);
          if (fhirServer) {
            noteRefusal(&last, types, s_.kind_ == mappings::DestinationKind::kFhirTransaction,
                        conditionalPuts);
          }
          return finish(std::move(last), wire);
        }
        if (fhirServer) {
          if (std::optional<DeliveryOutcome> stop = learnId(i, url)) {
            return finish(std::move(*stop), wire);
          }
        }
      }
      last.requests = std::move(attempts_);
      last.locations = std::move(locations_);
      return last;
    }

   private:
    struct Found {
      std::size_t count = 0;
      std::string literal;    // "Type/id" of the single match
      std::string versionId;  // its meta.versionId, when given
    };

    // The conditional URL that finds the resource `wire` writes ("" if none).
    static std::string keyOf(const mappings::WireRequest& wire) {
      if (wire.url.find('?') != std::string::npos) return wire.url;
      std::string_view ifNoneExist = findHeader(wire.headers, "If-None-Exist");
      if (!ifNoneExist.empty()) return wire.url + "?" + std::string(ifNoneExist);
      return {};
    }

    // The resource types `wire` carries (a Bundle's entries, or its body's).
    static void collectTypes(const mappings::WireRequest& wire, const fhir::Json& body,
                             std::vector<std::string>* types, bool* conditionalPuts) {
      const fhir::Json* type = body.find("resourceType");
      if (type != nullptr && type->isString() && type->text() == "Bundle") {
        if (const fhir::Json* entries = body.find("entry")) {
          for (const fhir::Json& e : entries->items()) {
            const fhir::Json* r = e.find("resource");
            const fhir::Json* t = r != nullptr ? r->find("resourceType") : nullptr;
            if (t != nullptr && t->isString() &&
                std::find(types->begin(), types->end(), t->text()) == types->end()) {
              types->push_back(t->text());
            }
            const fhir::Json* req = e.find("request");
            const fhir::Json* m = req != nullptr ? req->find("method") : nullptr;
            const fhir::Json* u = req != nullptr ? req->find("url") : nullptr;
            if (m != nullptr && m->isString() && m->text() == "PUT" && u != nullptr &&
                u->isString() && u->text().find('?') != std::string::npos) {
              *conditionalPuts = true;
            }
          }
        }
        return;
      }
      if (type != nullptr && type->isString()) types->push_back(type->text());
      *conditionalPuts =
          wire.method == "PUT" && wire.url.find('?') != std::string::npos && !wire.searchFirst;
    }

    // True when a request after `index` references `key`.
    bool referencedLater(std::size_t index, const std::string& key) const {
      if (key.empty()) return false;
      for (std::size_t j = index + 1; j < delivery_.requests.size(); ++j) {
        bool found = false;
        mappings::forEachReference(delivery_.requests[j].body, [&](const fhir::Json& ref) {
          if (ref.find("reference")->text() == key) found = true;
        });
        if (found) return true;
      }
      return false;
    }

    static bool hasConditionalReference(const fhir::Json& body) {
      bool found = false;
      mappings::forEachReference(body, [&](const fhir::Json& ref) {
        if (mappings::isConditionalReference(ref.find("reference")->text())) found = true;
      });
      return found;
    }

    // Rewrites the conditional references of `body` (request `index`) to
    // literal ids: those to earlier requests from what they taught, the others
    // (unless the receiver resolves them) by a search at the receiver.
    std::optional<DeliveryOutcome> resolveReferences(fhir::Json* body, std::size_t index) {
      std::vector<fhir::Json*> refs;
      mappings::forEachReference(*body, [&](fhir::Json& ref) {
        if (mappings::isConditionalReference(ref.find("reference")->text())) refs.push_back(&ref);
      });
      for (fhir::Json* ref : refs) {
        const std::string target = ref->find("reference")->text();
        if (auto it = learned_.find(target); it != learned_.end()) {
          ref->set("reference", fhir::Json::string(it->second));
          continue;
        }
        // A request of this delivery still to come writes it (never, in
        // dependency order): leave it to the receiver.
        bool later = false;
        for (std::size_t j = index; j < keys_.size(); ++j) later = later || keys_[j] == target;
        if (later || s_.options_.receiverResolvesConditionalReferences) continue;
        std::string literal;
        if (s_.options_.ids != nullptr) literal = s_.options_.ids->find(target).value_or("");
        if (literal.empty()) {
          Found found;
          if (std::optional<DeliveryOutcome> stop = search(target, &found)) return stop;
          if (found.count != 1) {
            DeliveryOutcome out;
            out.outcome = OutcomeClass::kUnmatched;
            out.summary = found.count == 0
                              ? "no " + typeOf(target) +
                                    " at the receiver has the identifier the record names "
                                    "(the receiver does not know this patient yet)"
                              : std::to_string(found.count) + " " + typeOf(target) +
                                    " resources at the receiver have the identifier the record "
                                    "names; cannot tell which";
            return out;
          }
          literal = found.literal;
          if (s_.options_.ids != nullptr) s_.options_.ids->remember(target, literal);
        }
        learned_[target] = literal;
        ref->set("reference", fhir::Json::string(literal));
      }
      return std::nullopt;
    }

    // After request `index` succeeded: the literal id of what it wrote, when a
    // later request references it (Location, else a search).
    std::optional<DeliveryOutcome> learnId(std::size_t index, const std::string& sentUrl) {
      const std::string& key = keys_[index];
      if (!referencedLater(index, key)) return std::nullopt;
      const std::string type = typeOf(key);
      std::string literal;
      if (!lastLocation_.empty()) literal = literalFromLocation(lastLocation_, type);
      if (literal.empty() && sentUrl.find('?') == std::string::npos &&
          sentUrl.find('/') != std::string::npos) {
        literal = sentUrl;  // PUT Type/{id}
      }
      if (literal.empty()) {
        Found found;
        if (std::optional<DeliveryOutcome> stop = search(key, &found)) return stop;
        if (found.count != 1) {
          DeliveryOutcome out;
          out.outcome = OutcomeClass::kRetry;
          out.summary = "the " + type + " just written is not found by its identifier (" +
                        std::to_string(found.count) + " matches); will try again";
          return out;
        }
        literal = found.literal;
      }
      learned_[key] = literal;
      if (s_.options_.ids != nullptr && type == "Patient") s_.options_.ids->remember(key, literal);
      return std::nullopt;
    }

    // GET `conditionalUrl` (a search); nullopt with `found` filled, or the
    // outcome that stops the delivery (transport error, non-200).
    std::optional<DeliveryOutcome> search(const std::string& conditionalUrl, Found* found) {
      HttpRequest request;
      request.method = "GET";
      request.target = s_.client_.pathFor(conditionalUrl);
      request.headers = {{"Accept", "application/fhir+json"}};
      HttpResult result = sendWithAuth(s_.client_, s_.auth_, std::move(request));
      RequestAttempt attempt{"GET", withoutQuery(conditionalUrl), 0, {}};
      if (!result.isOk()) {
        attempt.transportError = std::string(transportErrorKindName(result.error().kind));
        attempts_.push_back(std::move(attempt));
        DeliveryOutcome out = classifyTransportError(result.error());
        out.summary = "search " + withoutQuery(conditionalUrl) + ": " + out.summary;
        return out;
      }
      attempt.status = result.response().status;
      attempts_.push_back(std::move(attempt));
      if (result.response().status != 200) {
        DeliveryOutcome out =
            classifyResponse(result.response(), s_.clock_.nowMillis(), false, true);
        if (out.outcome == OutcomeClass::kDelivered) out.outcome = OutcomeClass::kPermanent;
        out.summary = "search " + withoutQuery(conditionalUrl) + ": " + out.summary;
        if (!out.logSummary.empty()) {
          out.logSummary = "search " + withoutQuery(conditionalUrl) + ": " + out.logSummary;
        }
        return out;
      }
      const std::string type = typeOf(conditionalUrl);
      auto json = fhir::parseJson(result.response().body);
      const fhir::Json* entries = json.isOk() ? json->find("entry") : nullptr;
      if (entries != nullptr && entries->isArray()) {
        for (const fhir::Json& e : entries->items()) {
          const fhir::Json* mode = e.find("search") ? e.find("search")->find("mode") : nullptr;
          if (mode != nullptr && mode->isString() && mode->text() != "match") continue;
          const fhir::Json* r = e.find("resource");
          const fhir::Json* t = r != nullptr ? r->find("resourceType") : nullptr;
          const fhir::Json* id = r != nullptr ? r->find("id") : nullptr;
          if (t == nullptr || !t->isString() || t->text() != type || id == nullptr ||
              !id->isString()) {
            continue;
          }
          if (++found->count == 1) {
            found->literal = type + "/" + id->text();
            const fhir::Json* meta = r->find("meta");
            const fhir::Json* vid = meta != nullptr ? meta->find("versionId") : nullptr;
            if (vid != nullptr && vid->isString()) found->versionId = vid->text();
          }
        }
      } else if (!json.isOk() || json->find("resourceType") == nullptr) {
        DeliveryOutcome out;
        out.outcome = OutcomeClass::kRetry;
        out.summary = "search " + withoutQuery(conditionalUrl) + ": the answer is not a Bundle";
        return out;
      }
      return std::nullopt;
    }

    DeliveryOutcome exchange(const std::string& method, const std::string& url,
                             const HeaderList& extra, const fhir::Json& body, bool conditional,
                             bool fhirServer) {
      HttpRequest request;
      request.method = method;
      request.target = s_.client_.pathFor(url);
      request.headers = {{"Content-Type", "application/fhir+json"},
                         {"Accept", "application/fhir+json"}};
      if (fhirServer) request.headers.push_back({"Prefer", "return=OperationOutcome"});
      for (const auto& h : extra) request.headers.push_back(h);
      request.body = fhir::writeJson(body);
      HttpResult result = sendWithAuth(s_.client_, s_.auth_, std::move(request));
      RequestAttempt attempt{method, withoutQuery(url), 0, {}};
      DeliveryOutcome out;
      lastLocation_.clear();
      if (result.isOk()) {
        attempt.status = result.response().status;
        out = classifyResponse(result.response(), s_.clock_.nowMillis(), conditional, fhirServer);
        lastLocation_ = std::string(findHeader(result.response().headers, "Location"));
        if (out.outcome != OutcomeClass::kDelivered) {
          if (out.operationOutcome.empty()) {
            out.responseBody = result.response().body.substr(0, kMaxResponseExcerpt);
          }
          for (const auto& h : result.response().headers) {
            if (headerMatters(h.name)) out.responseHeaders.push_back(h);
          }
        }
      } else {
        attempt.transportError = std::string(transportErrorKindName(result.error().kind));
        out = classifyTransportError(result.error());
      }
      attempts_.push_back(std::move(attempt));
      for (auto& l : out.locations) locations_.push_back(std::move(l));
      out.locations.clear();
      if (out.outcome != OutcomeClass::kDelivered) {
        out.sentRequest = method + " " + withoutQuery(url);
        out.sentBody = fhir::writeJson(body).substr(0, kMaxSentExcerpt);
      }
      return out;
    }

    DeliveryOutcome finish(DeliveryOutcome out, const mappings::WireRequest& wire) {
      if (delivery_.requests.size() > 1 && out.summary.rfind("search ", 0) != 0) {
        const std::string prefix = wire.method + " " + withoutQuery(wire.url) + ": ";
        out.summary = prefix + out.summary;
        if (!out.logSummary.empty()) out.logSummary = prefix + out.logSummary;
      }
      out.requests = std::move(attempts_);
      out.locations = std::move(locations_);
      return out;
    }

    HttpSender& s_;
    const mappings::ShapedDelivery& delivery_;
    std::vector<std::string> keys_;
    std::map<std::string, std::string> learned_;  // conditional URL -> "Type/id"
    std::vector<RequestAttempt> attempts_;
    std::vector<std::string> locations_;
    std::string lastLocation_;
  };

  mappings::DestinationKind kind_;
  HttpClient& client_;
  AuthProvider* auth_;
  const Clock& clock_;
  SenderOptions options_;
};

}  // namespace

std::unique_ptr<Sender> makeHttpSender(mappings::DestinationKind kind, HttpClient& client,
                                       AuthProvider* auth, const Clock& clock,
                                       SenderOptions options) {
  if (kind == mappings::DestinationKind::kNdjsonDir) return nullptr;
  return std::make_unique<HttpSender>(kind, client, auth, clock, options);
}

}  // namespace inloop::gateway
