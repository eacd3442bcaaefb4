#include "gateway/transport/outbound_auth.h"

#include <strings.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include "gateway/base/clock.h"
#include "gateway/config/destinations_config.h"
#include "gateway/transport/jwt.h"
#include "gateway/transport/smart_backend.h"

namespace inloop::gateway {

namespace {

void setAuthorization(HttpRequest& request, std::string value) {
  auto& headers = request.headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const mappings::HeaderField& h) {
                                 return strcasecmp(h.name.c_str(), "Authorization") == 0;
                               }),
                headers.end());
  headers.push_back({"Authorization", std::move(value)});
}

class NoAuth final : public AuthProvider {
 public:
  explicit NoAuth(std::string_view name) : name_(name) {}
  fhir::Status applyAuth(HttpRequest&) override { return fhir::Status::ok(); }
  bool onUnauthorized(const HttpRequest&) override { return false; }
  std::string_view name() const override { return name_; }

 private:
  std::string_view name_;
};

// Bearer and basic: a header built from a secret. The secret is read at first
// use (a missing one fails that delivery, retried, instead of the start-up) and
// again after a 401 in case the file or variable was rotated.
class SecretHeaderAuth final : public AuthProvider {
 public:
  using Build = std::string (*)(const std::string& user, const std::string& secret);

  SecretHeaderAuth(std::string_view name, mappings::SecretRef ref, std::string user, Build build)
      : name_(name), ref_(std::move(ref)), user_(std::move(user)), build_(build) {}

  fhir::Status applyAuth(HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (header_.empty()) {
      auto secret = readSecret(ref_);
      if (!secret.isOk()) {
        return fhir::Status(secret.status().code(),
                            std::string(name_) + " credentials: " + secret.status().message());
      }
      header_ = build_(user_, *secret);
    }
    setAuthorization(request, header_);
    return fhir::Status::ok();
  }

  bool onUnauthorized(const HttpRequest& rejected) override {
    auto secret = readSecret(ref_);
    if (!secret.isOk()) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    header_ = build_(user_, *secret);
    return findHeader(rejected.headers, "Authorization") != header_;
  }

  std::string_view name() const override { return name_; }

 private:
  std::string_view name_;
  mappings::SecretRef ref_;
  std::string user_;
  Build build_;
  std::mutex mutex_;
  std::string header_;
};

std::string bearerHeader(const std::string&, const std::string& token) { return "Bearer " + token; }

std::string basicHeader(const std::string& user, const std::string& password) {
  return "Basic " + base64Encode(user + ":" + password);
}

}  // namespace

HttpClientOptions httpClientOptionsFor(const mappings::DestinationProfile& destination) {
  HttpClientOptions options;
  options.tls = destination.tls;
  options.certificateFile = destination.auth.certificateFile;
  options.keyFile = destination.auth.keyFile;
  options.timeouts = destination.timeouts;
  options.defaultHeaders = destination.headers;
  options.maxIdleSessions =
      static_cast<std::size_t>(destination.maxInFlight > 0 ? destination.maxInFlight : 1);
  return options;
}

fhir::Result<std::unique_ptr<AuthProvider>> makeAuthProvider(
    const mappings::DestinationProfile& destination, const AuthDeps& deps) {
  const mappings::AuthSettings& auth = destination.auth;
  switch (auth.type) {
    case mappings::AuthType::kNone:
      return std::unique_ptr<AuthProvider>(std::make_unique<NoAuth>("none"));
    case mappings::AuthType::kMtls:
      if (auth.certificateFile.empty() || auth.keyFile.empty()) {
        return fhir::Status(fhir::ErrorCode::kInvalid,
                            "mtls needs a client certificate and key file");
      }
      return std::unique_ptr<AuthProvider>(std::make_unique<NoAuth>("mtls"));
    case mappings::AuthType::kBearer:
      if (!auth.token.isSet()) {
        return fhir::Status(fhir::ErrorCode::kInvalid, "bearer auth needs a token (file or env)");
      }
      return std::unique_ptr<AuthProvider>(
          std::make_unique<SecretHeaderAuth>("bearer", auth.token, std::string(), &bearerHeader));
    case mappings::AuthType::kBasic:
      if (auth.user.empty() || auth.user.find(':') != std::string::npos) {
        return fhir::Status(fhir::ErrorCode::kInvalid, "basic auth needs a user name without ':'");
      }
      if (!auth.password.isSet()) {
        return fhir::Status(fhir::ErrorCode::kInvalid, "basic auth needs a password (file or env)");
      }
      return std::unique_ptr<AuthProvider>(
          std::make_unique<SecretHeaderAuth>("basic", auth.password, auth.user, &basicHeader));
    case mappings::AuthType::kSmartBackend: {
      if (deps.clock == nullptr) {
        return fhir::Status(fhir::ErrorCode::kInternal, "smart-backend needs a clock");
      }
      auto smart = SmartBackendAuth::create(auth.smart, destination.endpoint,
                                            httpClientOptionsFor(destination), *deps.clock,
                                            deps.logger, destination.id);
      if (!smart.isOk()) return smart.status();
      return std::unique_ptr<AuthProvider>(std::move(smart).value());
    }
  }
  return fhir::Status(fhir::ErrorCode::kInternal, "unknown auth type");
}

HttpResult sendWithAuth(HttpClient& client, AuthProvider* auth, HttpRequest request) {
  auto authorize = [&](HttpRequest& r) -> std::optional<TransportError> {
    if (auth == nullptr) return std::nullopt;
    fhir::Status s = auth->applyAuth(r);
    if (s.isOk()) return std::nullopt;
    return TransportError{s.code() == fhir::ErrorCode::kUnavailable
                              ? TransportErrorKind::kAuthUnavailable
                              : TransportErrorKind::kAuthFailed,
                          "auth: " + s.message()};
  };
  if (auto e = authorize(request)) return *e;
  HttpResult result = client.send(request);
  if (auth == nullptr || !result.isOk() || result.response().status != 401) return result;
  if (!auth->onUnauthorized(request)) return result;
  if (auto e = authorize(request)) return *e;
  return client.send(request);
}

}  // namespace inloop::gateway
