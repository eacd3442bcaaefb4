#pragma once

// Helpers for delivery tests against the FaultReceiver acting as a FHIR
// server: quick delivery settings, a transaction-response body, the peer's CapabilityStatement on
// GET .../metadata (so scripts are consumed by deliveries only), a destination
// profile pointing at the receiver, and views of what it received.

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/delivery/engine.h"
#include "mappings/shaping/destination.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::delivery_testing {

inline constexpr const char* kTransactionResponse =
    R"({"resourceType":"Bundle","type":"transaction-response","entry":[]})";

// The CapabilityStatement of tests/data/destinations/metadata-peer.json.
inline const std::string& peerCapabilities() {
  static const std::string caps = server_testing::readFile(
      std::filesystem::path(INLOOP_SOURCE_DIR) / "tests/data/destinations/metadata-peer.json");
  return caps;
}

// The id under which the receiver of serveMetadata knows every patient.
inline constexpr const char* kKnownPatientId = "known-patient-1";

// Default step: 200 transaction-response; GET .../metadata: the capabilities;
// GET .../Patient?identifier=...: one Patient, kKnownPatientId (a receiver
// that knows the patient a `reference`-matching destination names).
inline void serveMetadata(testing::FaultReceiver& receiver) {
  receiver.setDefault(testing::Step::respond(200, kTransactionResponse));
  receiver.setHandler([](const testing::ReceivedRequest& r) -> std::optional<testing::Step> {
    if (r.method == "GET" && r.target.ends_with("/metadata")) {
      return testing::Step::respond(200, peerCapabilities());
    }
    if (r.method == "GET" && r.target.find("/Patient?identifier=") != std::string::npos) {
      return testing::Step::respond(
          200, std::string(R"({"resourceType":"Bundle","type":"searchset","total":1,"entry":[)") +
                   R"({"search":{"mode":"match"},"resource":{"resourceType":"Patient","id":")" +
                   kKnownPatientId + R"("}}]})");
    }
    return std::nullopt;
  });
}

// Destination "ehr" (fhir-transaction, 2 workers) at `endpoint`.
inline mappings::DestinationProfile ehrAt(const std::string& endpoint) {
  mappings::DestinationProfile p;
  p.id = "ehr";
  p.kind = mappings::DestinationKind::kFhirTransaction;
  p.endpoint = endpoint;
  p.maxInFlight = 2;
  return p;
}
inline mappings::DestinationProfile ehr(const testing::FaultReceiver& receiver) {
  return ehrAt(receiver.url("/fhir"));
}

// Backoff 1 s doubling to 8 s (with the harness's zero jitter: retries are
// due at once unless a Retry-After says otherwise), breaker after 100 failures.
inline gateway::DeliverySettings quickSettings() {
  gateway::DeliverySettings s;
  s.backoff.baseMillis = 1000;
  s.backoff.capMillis = 8000;
  s.breaker.failureThreshold = 100;
  return s;
}

// Deliveries the receiver saw (metadata reads left out), in arrival order.
inline std::vector<testing::ReceivedRequest> posts(const testing::FaultReceiver& receiver) {
  std::vector<testing::ReceivedRequest> out;
  for (testing::ReceivedRequest& r : receiver.requests()) {
    if (r.method != "GET") out.push_back(std::move(r));
  }
  return out;
}

// Which of `ids` each delivery carried, in order.
inline std::vector<std::string> carried(const testing::FaultReceiver& receiver,
                                        const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const testing::ReceivedRequest& r : posts(receiver)) {
    for (const std::string& id : ids) {
      if (r.body.find("\"" + id + "\"") != std::string::npos) out.push_back(id);
    }
  }
  return out;
}

}  // namespace inloop::delivery_testing
