#pragma once

// Internal to the translate_*.cpp files: the translation context and the small
// FHIR JSON builders they share. Not a public API (use mappings/forward/translate.h).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/primitives.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/tables/tables.h"

namespace inloop::mappings::translate_detail {

using fhir::Json;

// Everything one translation reads and writes.
struct Context {
  const PlanRecord& record;
  const MappingTables& tables;
  const TranslateOptions& options;
  fhir::Issues issues;
  // The subject's identifier (PCP id or MRN) and its conditional reference.
  std::string subjectSystem;
  std::string subjectValue;
  std::string subjectQuery;  // tokenQuery(subjectSystem, subjectValue)
  // Bundle entries of the record's clinical resources, in order.
  std::vector<Json> entries;
  // fullUrls of the clinical resources (Provenance.target).
  std::vector<std::string> targets;
};

inline Json str(std::string_view s) { return Json::string(std::string(s)); }

// Free text the record format lets be empty ("may be empty") is left out of
// the resources when it is absent, empty or only whitespace: FHIR strings
// need a non-whitespace character (ele-1 and the string regex).
inline bool hasText(const std::optional<std::string>& s) { return s && fhir::isValidString(*s); }

// Appends a member without the duplicate scan of Json::set (keys are ours).
inline Json& add(Json& object, std::string_view key, Json value) {
  // Most of our objects have a handful of members: one allocation, not three.
  if (object.members().capacity() == 0) object.members().reserve(6);
  object.members().emplace_back(std::string(key), std::move(value));
  return object.members().back().second;
}

// An object with room for `members` members (resources: no regrowth).
inline Json objectWithRoom(std::size_t members) {
  Json o = Json::object();
  o.members().reserve(members);
  return o;
}

inline Json array1(Json item) {
  Json a = Json::array();
  a.push(std::move(item));
  return a;
}

// {"system": s, "value": v}
Json identifier(std::string_view system, std::string_view value);
// {"system", "code", "display"?}
Json coding(std::string_view system, std::string_view code, std::string_view display = {});
// {"coding": [coding], "text"?}
Json codeableConcept(Json codingValue, std::string_view text);
// {"text": text}
Json textConcept(std::string_view text);
// {"url": extensionBase + name, valueKey: value}
Json extension(const Context& ctx, std::string_view name, std::string_view valueKey, Json value);
// {"url": name, valueKey: value} (a sub-extension of a complex extension)
Json subExtension(std::string_view name, std::string_view valueKey, Json value);
// {"value", "unit", "system": UCUM, "code"}; `comparator` when non-empty.
Json quantity(std::string_view valueText, const Unit& unit, std::string_view comparator = {});
// The record-version extension.
Json versionExtension(const Context& ctx);
// {"source": namespaces.source}
Json meta(const Context& ctx);
// {"status": "generated", "div": div}
Json narrativeText(std::string div);
// Practitioner reference: type, identifier (NPI) when known, display.
Json clinicianReference(const Clinician& c);
// Sets ctx.subjectSystem/Value/Query from the record: the PCP's own patient id
// when the record has pcpPatientId, else the pain center MRN.
void initSubject(Context& ctx);
// {"reference": "Patient?identifier=...", "identifier": {...}} for subject.
Json subjectReference(const Context& ctx);
// A logical reference to a resource of the pain center by business identifier.
Json logicalReference(const Context& ctx, std::string_view type, std::string_view value);
// "Type?identifier=" + system|value, unencoded: the name of a fullUrl UUID.
std::string fullUrlFor(std::string_view type, std::string_view system, std::string_view value);
// Appends a conditional-update entry (PUT Type?identifier=...) for a resource
// with business identifier {record namespace, value} and records its fullUrl.
void addEntry(Context& ctx, std::string_view type, std::string_view identifierValue, Json resource);
// The same with that fullUrl already made (fullUrlFor(type, record namespace,
// identifierValue)), for a resource others reference before its entry is added.
void addEntry(Context& ctx, std::string_view type, std::string_view identifierValue, Json resource,
              std::string fullUrl);

// A number converted to the measure's canonical unit: `canonical` is used for
// the range check, `sent` / `sentUnit` are what goes on the wire.
struct MeasuredValue {
  std::string canonical;
  double canonicalValue = 0;
  std::string sent;
  const Unit* sentUnit = nullptr;
};

// Converts `valueText` in `unitName` (empty: the measure's default unit) for
// `measure`, checking the unit is known, convertible to the measure's unit and
// the value in the measure's range. Errors name `unitPath` / `valuePath`.
std::optional<MeasuredValue> measureValue(Context& ctx, const Measure& measure,
                                          std::string_view valueText, std::string_view unitName,
                                          const std::string& valuePath,
                                          const std::string& unitPath);

// The measure for `code` (practice overrides applied), or an error at `path`
// listing the known codes.
std::optional<Measure> findMeasureOrError(Context& ctx, std::string_view code,
                                          const std::string& path);

// "a, b, c" of up to `limit` items, then ", ..." when there are more.
template <typename T, typename F>
std::string listOf(const std::vector<T>& items, F name, std::size_t limit = 40) {
  std::string out;
  std::size_t n = 0;
  for (const T& item : items) {
    if (n == limit) {
      out += ", ...";
      break;
    }
    if (n++ > 0) out += ", ";
    out += name(item);
  }
  return out;
}

// Human words for a few record codes used in narratives.
std::string_view roleWords(std::string_view role);
// "Dr. X (physician, NPI 123)"
std::string clinicianWords(const Clinician& c);
// "1.5 h" etc.
std::string quantityWords(std::string_view value, const Unit& unit);

// ---- Who to call (translate_contact.cpp) ----

// The clinician primary care asks about a record: a medication change's
// prescriber, a care plan's care-team lead (else its author), else the author.
const Clinician& contactClinician(const PlanRecord& record);
// Whom to call about `record`, for a sentence or a narrative row:
//   "call NAME (ROLE) at CLINICIAN-PHONE, or CENTER at PHONE (fax F, Direct D,
//   secure e-mail E)" when contact.clinicians has the clinician's NPI;
//   "NAME (ROLE) through CENTER at PHONE (...)" when it does not;
//   "NAME (ROLE) at the pain center" without a "contact" section.
// The numbers are the practice's (tables.contactPointsFor).
std::string contactWords(const PlanRecord& record, const MappingTables& tables);
// The pain center's Organization entry (PUT Organization?identifier=NPI), or
// nullopt without a "contact" section. It depends on the tables only: the
// loader builds it once (MappingTables::organizationEntry) and translation
// copies that; tables made in code without it get it built per call.
std::optional<Json> buildOrganizationEntry(const MappingTables& tables);
std::optional<Json> organizationEntry(const Context& ctx);
// A reference to that entry (fullUrl, type, NPI identifier, display), or
// nullopt without a "contact" section.
std::optional<Json> organizationReference(const Context& ctx);

// Per record type; each appends to ctx.entries / ctx.targets or adds errors.
void translateMeasurement(Context& ctx);
void translateCarePlan(Context& ctx);
void translateMedicationChange(Context& ctx);

}  // namespace inloop::mappings::translate_detail
