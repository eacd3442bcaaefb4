#pragma once

// Capability discovery: GET [base]/metadata (Accept: application/fhir+json),
// read with mappings::parseCapabilityStatement. The engine calls it at start
// and on reload for FHIR destinations (mappings::isFhirServerKind) and feeds
// the result to chooseKind / destinationTakes / shapeForDestination.
//
// Failures: kUnavailable for network errors, 408/429/5xx (try again later;
// until then the destination is used without capabilities, i.e. as configured),
// kInvalid for any other status or a body that is not a CapabilityStatement
// (the message says which; never the body).
// Thread safety: as HttpClient and AuthProvider (thread-safe).

#include "fhir/status.h"
#include "gateway/transport/http_client.h"
#include "gateway/transport/outbound_auth.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

// `auth` may be null. Servers commonly allow /metadata without credentials, but
// some do not, so credentials are sent when configured.
fhir::Result<mappings::CapabilitySet> fetchCapabilities(HttpClient& client, AuthProvider* auth);

}  // namespace inloop::gateway
