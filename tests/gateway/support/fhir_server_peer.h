#pragma once

// The real FHIR server peer (tests/peers/fhir-server.mjs: @medplum/fhir-router
// over a validating in-memory repository) as a child process on 127.0.0.1,
// port 0. SIGTERM and reaping on destruction (every exit path).
// Used by the end-to-end delivery, crash and stress suites.

#include <sys/types.h>

#include <string>
#include <vector>

#include "fhir/json.h"

namespace inloop::testing {

// True when `node` is on PATH.
bool nodeInstalled();

// True when the npm test peers can run: `node` on PATH and tests/peers/node_modules
// installed. Without them a test that needs them FAILS when INLOOP_REQUIRE_PEERS
// is set (scripts/test sets it: CI never passes with a peer missing) and
// otherwise WARNs that `what` was skipped and returns false.
bool peersAvailable(const char* what);

class FhirServerPeer {
 public:
  // `extraArgs`: fhir-server.mjs options (--fail-first N:S, --reject-types T,...).
  explicit FhirServerPeer(std::vector<std::string> extraArgs = {});
  ~FhirServerPeer();
  FhirServerPeer(const FhirServerPeer&) = delete;
  FhirServerPeer& operator=(const FhirServerPeer&) = delete;

  // "http://127.0.0.1:PORT/fhir/R4", empty when it did not start.
  const std::string& base() const { return base_; }
  pid_t pid() const { return pid_; }

  // GET base + "/" + relative (already URL-encoded), as JSON (null JSON when
  // the body is not JSON or the request failed: then *status is 0).
  fhir::Json get(const std::string& relative, int* status = nullptr) const;
  // POST base + "/" + relative with a JSON body; the answer as JSON (null
  // JSON when not JSON or the request failed: then *status is 0).
  fhir::Json post(const std::string& relative, const fhir::Json& body, int* status = nullptr) const;

 private:
  pid_t pid_ = 0;
  std::string base_;
};

// The resources of a searchset Bundle's entries.
std::vector<fhir::Json> bundleResources(const fhir::Json& bundle);

}  // namespace inloop::testing
