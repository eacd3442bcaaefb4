#pragma once

// Audit rows as operators and auditors read them: JSON for GET /audit and
// `inloop disclosures --json`, and one text line per disclosure for the
// accounting of disclosures (docs/security.md "Audit and accounting of
// disclosures"). Pure formatting: no I/O; nothing thrown.

#include <string>

#include "fhir/json.h"
#include "gateway/store/store.h"

namespace inloop::gateway {

// Every field of `entry` (empty ones left out), "at" as a FHIR instant.
fhir::Json auditEntryToJson(const AuditEntry& entry);

// One disclosure ("disclose" row) as a text line: time, record id, version,
// record type, destination id and endpoint kind, tab-separated.
std::string disclosureLine(const AuditEntry& entry);

}  // namespace inloop::gateway
