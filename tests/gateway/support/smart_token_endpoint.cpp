#include "tests/gateway/support/smart_token_endpoint.h"

#include <Poco/Crypto/ECKey.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/URI.h>

#include <map>

#include "fhir/json.h"
#include "gateway/transport/jwt.h"

namespace inloop::testing {

namespace {

std::map<std::string, std::string> parseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    std::string pair = body.substr(pos, amp - pos);
    std::size_t eq = pair.find('=');
    std::string key = pair.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : pair.substr(eq + 1);
    for (auto& c : value) {
      if (c == '+') c = ' ';
    }
    std::string k, v;
    Poco::URI::decode(key, k);
    Poco::URI::decode(value, v);
    if (!k.empty()) out[k] = v;
    pos = amp + 1;
  }
  return out;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

SmartTokenEndpoint::SmartTokenEndpoint(FaultReceiver& receiver, const gateway::Clock& clock,
                                       SmartTokenEndpointOptions options)
    : receiver_(receiver), clock_(clock), options_(std::move(options)) {
  receiver_.setHandler([this](const ReceivedRequest& r) { return handle(r); });
}

std::string SmartTokenEndpoint::tokenUrl() const { return receiver_.url(options_.tokenPath); }

int SmartTokenEndpoint::tokensIssued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(issued_.size());
}

std::vector<std::string> SmartTokenEndpoint::rejections() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rejections_;
}

std::vector<SeenAssertion> SmartTokenEndpoint::accepted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return accepted_;
}

void SmartTokenEndpoint::revokeAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& i : issued_) i.revoked = true;
}

Step SmartTokenEndpoint::refuse(std::string why, int status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rejections_.push_back(std::move(why));
  }
  Step s = Step::respond(status, R"({"error":"invalid_client"})");
  s.contentType = "application/json";
  return s;
}

std::optional<Step> SmartTokenEndpoint::handle(const ReceivedRequest& request) {
  std::string path = request.target.substr(0, request.target.find('?'));
  if (request.method == "GET" && endsWith(path, "/.well-known/smart-configuration")) {
    fhir::Json config = fhir::Json::object();
    config.set("token_endpoint", fhir::Json::string(tokenUrl()));
    fhir::Json grants = fhir::Json::array();
    grants.push(fhir::Json::string("client_credentials"));
    config.set("grant_types_supported", std::move(grants));
    fhir::Json algs = fhir::Json::array();
    algs.push(fhir::Json::string("RS384"));
    algs.push(fhir::Json::string("ES384"));
    config.set("token_endpoint_auth_signing_alg_values_supported", std::move(algs));
    Step s = Step::respond(200, fhir::writeJson(config));
    s.contentType = "application/json";
    return s;
  }
  if (path == options_.tokenPath) {
    if (request.method != "POST") return refuse("token endpoint needs POST", 405);
    return token(request);
  }
  if (!options_.requireBearer) return std::nullopt;
  const std::string auth = request.header("Authorization");
  const std::string prefix = "Bearer ";
  const std::int64_t now = clock_.nowMillis();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auth.rfind(prefix, 0) == 0) {
      const std::string presented = auth.substr(prefix.size());
      for (const auto& i : issued_) {
        if (i.token == presented && !i.revoked && now < i.expiresAtMillis) return std::nullopt;
      }
    }
  }
  Step s = refuse("resource request without a valid bearer token");
  s.headers = {{"WWW-Authenticate", "Bearer error=\"invalid_token\""}};
  return s;
}

Step SmartTokenEndpoint::token(const ReceivedRequest& request) {
  if (request.header("Content-Type").rfind("application/x-www-form-urlencoded", 0) != 0) {
    return refuse("token request is not form-encoded", 400);
  }
  auto form = parseForm(request.body);
  if (form["grant_type"] != "client_credentials") return refuse("grant_type", 400);
  if (form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
    return refuse("client_assertion_type", 400);
  }
  if (form["scope"].empty()) return refuse("no scope", 400);

  const std::string algName(mappings::signingAlgName(options_.alg));
  Poco::JWT::Token jwt;
  bool verified = false;
  try {
    Poco::JWT::Signer signer;
    if (options_.alg == mappings::SigningAlg::kRs384) {
      signer.setRSAKey(new Poco::Crypto::RSAKey(options_.publicKeyFile));
    } else {
      signer.setECKey(new Poco::Crypto::ECKey(options_.publicKeyFile, ""));
    }
    signer.setAlgorithms({algName});
    verified = signer.tryVerify(form["client_assertion"], jwt);
  } catch (const std::exception& e) {
    return refuse(std::string("assertion unreadable: ") + e.what());
  }
  if (!verified) return refuse("signature or alg");
  if (jwt.getAlgorithm() != algName) return refuse("alg " + jwt.getAlgorithm());
  if (jwt.getIssuer() != options_.clientId) return refuse("iss");
  if (jwt.getSubject() != options_.clientId) return refuse("sub");
  const auto audience = jwt.getAudience();
  if (audience.size() != 1 || audience[0] != tokenUrl()) return refuse("aud");
  const std::int64_t now = clock_.nowMillis() / 1000;
  if (!jwt.payload().has("exp")) return refuse("no exp");
  const std::int64_t exp = jwt.getExpiration().epochTime();
  if (exp <= now) return refuse("exp in the past");
  if (exp > now + 300) return refuse("exp more than 5 minutes ahead");
  const std::string jti = jwt.getId();
  if (jti.empty()) return refuse("no jti");
  SeenAssertion seen;
  seen.kid = jwt.header().optValue<std::string>("kid", "");
  seen.jti = jti;
  seen.exp = exp;
  seen.iat = jwt.payload().has("iat") ? jwt.getIssuedAt().epochTime() : 0;
  seen.scope = form["scope"];
  std::string token;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!jtis_.insert(jti).second) {
      rejections_.push_back("jti replayed");
      Step s = Step::respond(401, R"({"error":"invalid_client"})");
      s.contentType = "application/json";
      return s;
    }
    token = "tok-" + std::to_string(issued_.size() + 1) + "-" + gateway::randomHex16();
    issued_.push_back({token, clock_.nowMillis() + options_.tokenLifetimeSeconds * 1000, false});
    accepted_.push_back(seen);
  }
  fhir::Json body = fhir::Json::object();
  body.set("access_token", fhir::Json::string(token));
  body.set("token_type", fhir::Json::string("bearer"));
  body.set("expires_in", fhir::Json::number(options_.tokenLifetimeSeconds));
  body.set("scope", fhir::Json::string(form["scope"]));
  Step s = Step::respond(200, fhir::writeJson(body));
  s.contentType = "application/json";
  return s;
}

}  // namespace inloop::testing
