#pragma once

// Medication-change records for the safety-loop tests, built from the shipped
// taper example (examples/records/medication-taper-oxycodone.json).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "fhir/json.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::safety_testing {

inline fhir::Json quantity(const char* value, const char* unit) {
  fhir::Json q = fhir::Json::object();
  q.set("value", fhir::Json::numberText(value));
  q.set("unit", fhir::Json::string(unit));
  return q;
}

inline fhir::Json perDay(std::int64_t count) {
  fhir::Json f = fhir::Json::object();
  f.set("count", fhir::Json::number(count));
  f.set("per", fhir::Json::string("day"));
  return f;
}

// The shipped taper example turned into another medication change of patient
// `mrn`: the members in `set` replaced, taper fields, previousDose and
// dailyMme removed unless set again.
inline std::string medicationChange(
    const std::string& mrn, const char* recordId, std::int64_t version, const char* action,
    const char* drug, const char* effective,
    std::initializer_list<std::pair<const char*, fhir::Json>> set = {}) {
  fhir::Json doc =
      *fhir::parseJson(server_testing::exampleRecord("medication-taper-oxycodone.json"));
  for (const char* key : {"taper", "previousDose", "dailyMme", "note"}) doc.erase(key);
  doc.find("patient")->set("mrn", fhir::Json::string(mrn));
  doc.set("recordId", fhir::Json::string(recordId));
  doc.set("version", fhir::Json::number(version));
  doc.set("action", fhir::Json::string(action));
  fhir::Json medication = fhir::Json::object();
  medication.set("code", fhir::Json::string(drug));
  doc.set("medication", std::move(medication));
  doc.set("effective", fhir::Json::string(effective));
  doc.set("recordedAt", fhir::Json::string(std::string(effective) + "T10:00:00-05:00"));
  for (const auto& [key, value] : set) doc.set(key, value);
  return fhir::writeJson(doc);
}

}  // namespace inloop::safety_testing
