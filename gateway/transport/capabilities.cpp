#include "gateway/transport/capabilities.h"

#include "fhir/json.h"

namespace inloop::gateway {

fhir::Result<mappings::CapabilitySet> fetchCapabilities(HttpClient& client, AuthProvider* auth) {
  HttpRequest request;
  request.target = client.pathFor("metadata");
  request.headers = {{"Accept", "application/fhir+json"}};
  const std::string where = client.origin() + request.target;
  HttpResult result = sendWithAuth(client, auth, request);
  if (!result.isOk()) {
    return fhir::Status(fhir::ErrorCode::kUnavailable,
                        "GET " + where + ": " + describeResult(result));
  }
  const int status = result.response().status;
  if (status != 200) {
    const bool transient = status == 408 || status == 429 || status >= 500;
    return fhir::Status(transient ? fhir::ErrorCode::kUnavailable : fhir::ErrorCode::kInvalid,
                        "GET " + where + ": HTTP " + std::to_string(status));
  }
  auto json = fhir::parseJson(result.response().body);
  if (!json.isOk()) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "GET " + where + ": not JSON (" + json.status().message() + ")");
  }
  auto caps = mappings::parseCapabilityStatement(*json);
  if (!caps.isOk()) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "GET " + where + ": " + caps.status().message());
  }
  return caps;
}

}  // namespace inloop::gateway
