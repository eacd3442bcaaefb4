#pragma once

// What a destination was sent, kept between attempts (docs/delivery.md "Shaped
// once"): a message whose first attempt is retried is not read, translated or
// shaped again while nothing that shaping depends on has changed.
//
// shapingInputs() lists everything shapeForDestination() and shapeRecord()
// read besides the record: the destination's shaping settings and what is known
// of the receiver. The caller keys the kept shape by it (with its own version);
// a different key means the kept shape is stale and the record is shaped again.

#include <optional>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "mappings/shaping/destination.h"

namespace inloop::mappings {

// The inputs of shaping other than the record and its Bundle, as one JSON
// value (members in a fixed order, so that its text is a stable key).
fhir::Json shapingInputs(const DestinationProfile& destination, const CapabilitySet* caps);

// A ShapedDelivery of state kSend as JSON, and back. Reading reports, by JSON
// path, anything that is not this form (a kept shape from an older inloop, or
// damage); the caller then shapes again.
fhir::Json writeKeptShape(const ShapedDelivery& shaped);
std::optional<ShapedDelivery> readKeptShape(const fhir::Json& kept, fhir::Issues* issues);

}  // namespace inloop::mappings
