#include "gateway/reports/audit_report.h"

#include "gateway/base/clock.h"

namespace inloop::gateway {

fhir::Json auditEntryToJson(const AuditEntry& entry) {
  fhir::Json o = fhir::Json::object();
  o.set("id", fhir::Json::number(entry.id));
  o.set("at", fhir::Json::string(formatInstant(entry.atMillis)));
  auto text = [&o](const char* name, const std::string& value) {
    if (!value.empty()) o.set(name, fhir::Json::string(value));
  };
  text("principal", entry.principal);
  text("action", entry.action);
  text("outcome", entry.outcome);
  text("patient", entry.patientKey);
  text("recordId", entry.recordId);
  if (entry.version > 0) o.set("version", fhir::Json::number(entry.version));
  text("recordType", entry.recordType);
  text("destination", entry.destinationId);
  text("source", entry.source);
  text("remoteAddress", entry.remoteAddress);
  text("detail", entry.detail);
  return o;
}

std::string disclosureLine(const AuditEntry& entry) {
  return formatInstant(entry.atMillis) + "\t" + entry.recordId + "\t" +
         std::to_string(entry.version) + "\t" + entry.recordType + "\t" + entry.destinationId +
         "\t" + (entry.source.empty() ? "-" : entry.source);
}

}  // namespace inloop::gateway
