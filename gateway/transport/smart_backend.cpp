#include "gateway/transport/smart_backend.h"

#include <strings.h>

#include <algorithm>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/log/json_logger.h"
#include "gateway/base/url_origin.h"

namespace inloop::gateway {

namespace {

constexpr std::string_view kAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::int64_t kDefaultExpiresInSeconds = 300;
constexpr std::int64_t kMaxRefreshMarginMillis = 60000;

std::string formEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool isHttpUrl(std::string_view url) {
  return url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
}

bool isRetryableStatus(int status) { return status == 408 || status == 429 || status >= 500; }

std::string joinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

fhir::Result<fhir::Json> parseSmallJson(const std::string& body) {
  fhir::JsonLimits limits;
  limits.maxBytes = 1u << 20;
  return fhir::parseJson(body, limits);
}

}  // namespace

fhir::Result<std::unique_ptr<SmartBackendAuth>> SmartBackendAuth::create(
    const mappings::SmartBackendSettings& settings, std::string fhirBaseUrl,
    HttpClientOptions clientOptions, const Clock& clock, JsonLogger* logger,
    std::string destinationId) {
  if (settings.clientId.empty()) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "smart-backend needs a clientId");
  }
  if (settings.scopes.empty()) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "smart-backend needs at least one scope");
  }
  if (!settings.tokenUrl.empty() && !isHttpUrl(settings.tokenUrl)) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "smart-backend tokenUrl must be http(s)");
  }
  if (settings.tokenUrl.empty() && !isHttpUrl(fhirBaseUrl)) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "smart-backend discovery needs an http(s) endpoint");
  }
  // The access token goes to the endpoint, the assertion to the token URL:
  // neither over plain http, except loopback to loopback.
  for (const std::string& url : {fhirBaseUrl, settings.tokenUrl}) {
    if (url.empty()) continue;
    if (const char* problem = credentialUrlProblem(url, fhirBaseUrl)) {
      return fhir::Status(
          fhir::ErrorCode::kInvalid,
          "destination \"" + destinationId + "\": smart-backend refuses " + url + ": " + problem);
    }
  }
  if (settings.privateKeyFile.empty()) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "smart-backend needs a privateKeyFile");
  }
  return std::unique_ptr<SmartBackendAuth>(new SmartBackendAuth(settings, std::move(fhirBaseUrl),
                                                                std::move(clientOptions), clock,
                                                                logger, std::move(destinationId)));
}

SmartBackendAuth::SmartBackendAuth(mappings::SmartBackendSettings settings, std::string fhirBaseUrl,
                                   HttpClientOptions options, const Clock& clock,
                                   JsonLogger* logger, std::string destinationId)
    : settings_(std::move(settings)),
      fhirBaseUrl_(std::move(fhirBaseUrl)),
      options_(std::move(options)),
      clock_(clock),
      logger_(logger),
      destinationId_(std::move(destinationId)) {
  // The token endpoint gets neither the destination's static headers nor its
  // default Accept; it is a different service.
  options_.defaultHeaders.clear();
  if (!settings_.tokenUrl.empty()) tokenUrl_ = settings_.tokenUrl;
}

std::string SmartBackendAuth::tokenUrl() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return tokenUrl_;
}

int SmartBackendAuth::tokensFetched() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return tokensFetched_;
}

fhir::Result<HttpClient*> SmartBackendAuth::clientForLocked(const std::string& url,
                                                            std::unique_ptr<HttpClient>* slot) {
  if (!*slot) {
    auto created = HttpClient::create(url, options_, logger_);
    if (!created.isOk()) return created.status();
    *slot = std::move(created).value();
  }
  return slot->get();
}

void SmartBackendAuth::logWarning(const char* event, const std::string& tokenUrl,
                                  const std::string& error) const {
  if (logger_ == nullptr) return;
  fhir::Json fields = fhir::Json::object();
  fields.set("destination", fhir::Json::string(destinationId_));
  fields.set("tokenUrl", fhir::Json::string(tokenUrl));
  fields.set("error", fhir::Json::string(error));
  logger_->log(LogLevel::kWarning, event, fields);
}

fhir::Status SmartBackendAuth::discoverLocked() {
  std::string base = fhirBaseUrl_;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/.well-known/smart-configuration";
  auto client = clientForLocked(url, &discoveryClient_);
  if (!client.isOk()) return client.status();
  HttpRequest request;
  request.target = (*client)->pathFor(url);
  request.headers = {{"Accept", "application/json"}};
  HttpResult result = (*client)->send(request);
  if (!result.isOk()) {
    return fhir::Status(fhir::ErrorCode::kUnavailable,
                        "SMART discovery at " + url + ": " + describeResult(result));
  }
  const HttpResponse& response = result.response();
  if (response.status != 200) {
    return fhir::Status(isRetryableStatus(response.status) ? fhir::ErrorCode::kUnavailable
                                                           : fhir::ErrorCode::kInvalid,
                        "SMART discovery at " + url + ": HTTP " + std::to_string(response.status));
  }
  auto json = parseSmallJson(response.body);
  const fhir::Json* endpoint = json.isOk() ? json->find("token_endpoint") : nullptr;
  if (endpoint == nullptr || !endpoint->isString() || !isHttpUrl(endpoint->text())) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "SMART discovery at " + url + ": no http(s) token_endpoint");
  }
  // The FHIR server's word is trusted for its own origin only: a discovered
  // token_endpoint elsewhere (an internal admin URL, another host) would get
  // our signed assertion. Another token server needs a configured tokenUrl.
  const std::string& found = endpoint->text();
  const char* problem = credentialUrlProblem(found, fhirBaseUrl_);
  const std::optional<UrlOrigin> origin = originOf(fhirBaseUrl_);
  if (problem == nullptr && (!origin || originOf(found) != origin)) {
    problem = "not on the FHIR server's origin (set auth.tokenUrl to use another token server)";
  }
  if (problem != nullptr) {
    const std::string why = "refused token_endpoint " + found + " from " + url + ": " + problem;
    logWarning("smart-token-endpoint-refused", found, problem);
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "destination \"" + destinationId_ + "\": SMART discovery " + why);
  }
  tokenUrl_ = found;
  return fhir::Status::ok();
}

fhir::Status SmartBackendAuth::fetchTokenLocked() {
  if (!key_) {
    auto key = SigningKey::loadPem(settings_.privateKeyFile, settings_.alg);
    if (!key.isOk()) return key.status();
    key_ = std::move(key).value();
  }
  auto client = clientForLocked(tokenUrl_, &tokenClient_);
  if (!client.isOk()) return client.status();
  const std::int64_t now = clock_.nowMillis();
  const std::string jti = randomHex16();
  auto assertion = makeClientAssertion(settings_, tokenUrl_, *key_, now, jti);
  if (!assertion.isOk()) return assertion.status();

  HttpRequest request;
  request.method = "POST";
  request.target = (*client)->pathFor(tokenUrl_);
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = "grant_type=client_credentials&scope=" + formEncode(joinScopes(settings_.scopes)) +
                 "&client_assertion_type=" + formEncode(kAssertionType) +
                 "&client_assertion=" + formEncode(*assertion);
  HttpResult result = (*client)->send(request);

  auto fail = [&](fhir::ErrorCode code, std::string why) {
    logWarning("smart-token-failed", tokenUrl_, why);
    return fhir::Status(code, "token request to " + tokenUrl_ + ": " + why);
  };
  if (!result.isOk()) return fail(fhir::ErrorCode::kUnavailable, describeResult(result));
  const HttpResponse& response = result.response();
  auto json = parseSmallJson(response.body);
  if (response.status != 200) {
    std::string why = "HTTP " + std::to_string(response.status);
    // The OAuth error code ("invalid_client") is safe to show; the description
    // may echo request details, so it is left out.
    if (json.isOk()) {
      if (const fhir::Json* e = json->find("error"); e != nullptr && e->isString()) {
        why += " " + e->text().substr(0, 64);
      }
    }
    return fail(isRetryableStatus(response.status) ? fhir::ErrorCode::kUnavailable
                                                   : fhir::ErrorCode::kUnauthorized,
                why);
  }
  if (!json.isOk()) return fail(fhir::ErrorCode::kUnavailable, "token response is not JSON");
  const fhir::Json* token = json->find("access_token");
  if (token == nullptr || !token->isString() || token->text().empty() ||
      token->text().find_first_of("\r\n") != std::string::npos) {
    return fail(fhir::ErrorCode::kUnavailable, "token response has no access_token");
  }
  if (const fhir::Json* type = json->find("token_type");
      type != nullptr && (!type->isString() || strcasecmp(type->text().c_str(), "bearer") != 0)) {
    return fail(fhir::ErrorCode::kUnauthorized, "token_type is not bearer");
  }
  std::int64_t expiresIn = kDefaultExpiresInSeconds;
  if (const fhir::Json* e = json->find("expires_in"); e != nullptr) {
    auto v = e->toInt64();
    if (!v || *v <= 0) return fail(fhir::ErrorCode::kUnavailable, "bad expires_in");
    expiresIn = *v;
  }
  accessToken_ = token->text();
  const std::int64_t lifetime = expiresIn * 1000;
  refreshAtMillis_ = now + lifetime - std::min(kMaxRefreshMarginMillis, lifetime / 5);
  ++tokensFetched_;
  if (logger_ != nullptr) {
    fhir::Json fields = fhir::Json::object();
    fields.set("destination", fhir::Json::string(destinationId_));
    fields.set("tokenUrl", fhir::Json::string(tokenUrl_));
    fields.set("expiresIn", fhir::Json::number(expiresIn));
    if (const fhir::Json* scope = json->find("scope"); scope != nullptr && scope->isString()) {
      fields.set("scope", fhir::Json::string(scope->text()));
    }
    logger_->log(LogLevel::kInfo, "smart-token-fetched", fields);
  }
  return fhir::Status::ok();
}

fhir::Status SmartBackendAuth::applyAuth(HttpRequest& request) {
  std::string header;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (tokenUrl_.empty()) {
      fhir::Status s = discoverLocked();
      if (!s.isOk()) return s;
    }
    if (accessToken_.empty() || clock_.nowMillis() >= refreshAtMillis_) {
      accessToken_.clear();
      fhir::Status s = fetchTokenLocked();
      if (!s.isOk()) return s;
    }
    header = "Bearer " + accessToken_;
  }
  auto& headers = request.headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const mappings::HeaderField& h) {
                                 return strcasecmp(h.name.c_str(), "Authorization") == 0;
                               }),
                headers.end());
  headers.push_back({"Authorization", std::move(header)});
  return fhir::Status::ok();
}

bool SmartBackendAuth::onUnauthorized(const HttpRequest& rejected) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string_view used = findHeader(rejected.headers, "Authorization");
  if (!accessToken_.empty() && used != "Bearer " + accessToken_) {
    return true;  // another request already replaced the rejected token
  }
  accessToken_.clear();
  if (tokenUrl_.empty() && !discoverLocked().isOk()) return false;
  return fetchTokenLocked().isOk();
}

}  // namespace inloop::gateway
