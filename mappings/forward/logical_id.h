#pragma once

// Stable FHIR logical ids derived from the pain center's record ids.
//
// A resource's logical id must be the same every time the same record (or goal
// or activity inside it) is translated, so that replays and new versions update
// rather than duplicate. Record ids allow `_` and may be 64 characters long,
// which FHIR ids ([A-Za-z0-9\-\.]{1,64}) do not, so ids that would not fit are
// replaced by a digest. Pure; thread-safe.

#include <string>
#include <string_view>

namespace inloop::mappings {

// `prefix` names the kind ("cp", "goal", "obs"...), `recordId` is the record's id
// and `partId` the goal/activity id within it (empty for the record itself).
// Returns prefix-recordId[-partId] when that is a valid FHIR id, otherwise
// prefix-h<32 hex digits of a 128-bit digest of the parts>.
std::string logicalId(std::string_view prefix, std::string_view recordId,
                      std::string_view partId = {});

}  // namespace inloop::mappings
