// Who primary care calls: the pain center's Organization (practices.json
// "contact") and the contact sentence of notices and care-plan narratives
// (docs/mapping.md, "Organization").
#include <string>

#include "mappings/conventions.h"
#include "mappings/forward/narrative.h"
#include "mappings/forward/translate_internal.h"

namespace inloop::mappings::translate_detail {

namespace {

// "fax F, Direct D, secure e-mail E": the points besides the phone.
std::string otherPoints(const ContactPoints& p) {
  std::string out;
  auto item = [&out](std::string_view label, const std::string& value) {
    if (value.empty()) return;
    if (!out.empty()) out += ", ";
    out += label;
    out += value;
  };
  item("fax ", p.fax);
  item("Direct ", p.direct);
  item("secure e-mail ", p.email);
  return out;
}

Json telecom(std::string_view system, const std::string& value) {
  Json t = Json::object();
  add(t, "system", str(system));
  add(t, "value", str(value));
  add(t, "use", str("work"));
  return t;
}

std::string addressWords(const PostalAddress& a) {
  std::string out;
  auto part = [&out](const std::string& s) {
    if (s.empty()) return;
    if (!out.empty()) out += ", ";
    out += s;
  };
  for (const std::string& l : a.line) part(l);
  part(a.city);
  part(a.state.empty() || a.postalCode.empty() ? a.state + a.postalCode
                                               : a.state + " " + a.postalCode);
  part(a.country);
  return out;
}

Json addressJson(const PostalAddress& a) {
  Json o = Json::object();
  add(o, "use", str("work"));
  add(o, "type", str("both"));
  add(o, "text", Json::string(addressWords(a)));
  if (!a.line.empty()) {
    Json lines = Json::array();
    for (const std::string& l : a.line) lines.push(str(l));
    add(o, "line", std::move(lines));
  }
  for (auto [key, value] :
       {std::pair{"city", &a.city}, std::pair{"state", &a.state},
        std::pair{"postalCode", &a.postalCode}, std::pair{"country", &a.country}}) {
    if (!value->empty()) add(o, key, str(*value));
  }
  return o;
}

std::string organizationFullUrl(const OrganizationContact& org) {
  return fullUrlFor("Organization", kNpiSystem, org.npi);
}

}  // namespace

const Clinician& contactClinician(const PlanRecord& record) {
  if (const MedicationChangeBody* m = record.medicationChange()) return m->prescriber;
  if (const CarePlanBody* p = record.carePlan()) {
    for (const Clinician& c : p->careTeam) {
      if (c.lead && *c.lead) return c;
    }
  }
  return record.author;
}

std::string contactWords(const PlanRecord& record, const MappingTables& tables) {
  const Clinician& who = contactClinician(record);
  std::string name = who.name;
  if (who.role) name += " (" + std::string(roleWords(toWire(*who.role))) + ")";
  const ContactPoints* points = tables.contactPointsFor(record.pcp.practiceId);
  if (points == nullptr) return name + " at the pain center";
  const ClinicianContact* line = who.npi ? tables.findClinicianContact(*who.npi) : nullptr;
  std::string center = tables.contact->organization.name + " at " + points->phone;
  if (std::string more = otherPoints(*points); !more.empty()) center += " (" + more + ")";
  if (line == nullptr) return name + " through " + center;
  return "call " + name + " at " + line->phone + ", or " + center;
}

std::optional<Json> organizationEntry(const Context& ctx) {
  if (ctx.tables.organizationEntry) return *ctx.tables.organizationEntry;
  return buildOrganizationEntry(ctx.tables);
}

std::optional<Json> buildOrganizationEntry(const MappingTables& tables) {
  if (!tables.contact) return std::nullopt;
  const OrganizationContact& org = tables.contact->organization;
  Json o = objectWithRoom(10);
  add(o, "resourceType", str("Organization"));
  Json meta = Json::object();
  add(meta, "source", str(tables.namespaces.source));
  add(o, "meta", std::move(meta));
  NarrativeBuilder n("Organization: " + org.name);
  n.row("NPI", org.npi);
  n.row("Phone", org.points.phone);
  n.row("Fax", org.points.fax);
  n.row("Direct address", org.points.direct);
  n.row("Secure e-mail", org.points.email);
  if (org.address) n.row("Address", addressWords(*org.address));
  add(o, "text", narrativeText(n.finish()));
  add(o, "identifier", array1(identifier(kNpiSystem, org.npi)));
  add(o, "active", Json::boolean(true));
  add(o, "type",
      array1(codeableConcept(coding(kOrganizationTypeSystem, "prov", "Healthcare Provider"), {})));
  add(o, "name", str(org.name));
  Json telecoms = Json::array();
  telecoms.push(telecom("phone", org.points.phone));
  if (!org.points.fax.empty()) telecoms.push(telecom("fax", org.points.fax));
  if (!org.points.direct.empty()) {
    Json t = Json::object();
    Json direct = Json::object();
    add(direct, "url", Json::string(extensionUrl(tables.namespaces, kExtDirectAddress)));
    add(direct, "valueBoolean", Json::boolean(true));
    add(t, "extension", array1(std::move(direct)));
    Json plain = telecom("email", org.points.direct);
    for (auto& m : plain.members()) t.members().push_back(std::move(m));
    telecoms.push(std::move(t));
  }
  if (!org.points.email.empty()) telecoms.push(telecom("email", org.points.email));
  add(o, "telecom", std::move(telecoms));
  if (org.address) add(o, "address", array1(addressJson(*org.address)));

  Json entry = Json::object();
  add(entry, "fullUrl", Json::string(organizationFullUrl(org)));
  add(entry, "resource", std::move(o));
  Json request = Json::object();
  add(request, "method", str("PUT"));
  add(request, "url", Json::string("Organization?identifier=" + tokenQuery(kNpiSystem, org.npi)));
  add(entry, "request", std::move(request));
  return entry;
}

std::optional<Json> organizationReference(const Context& ctx) {
  if (!ctx.tables.contact) return std::nullopt;
  const OrganizationContact& org = ctx.tables.contact->organization;
  Json o = Json::object();
  // The loader's entry has that fullUrl already (no name-based UUID per record).
  const Json* fullUrl =
      ctx.tables.organizationEntry ? ctx.tables.organizationEntry->find("fullUrl") : nullptr;
  add(o, "reference",
      fullUrl != nullptr ? Json::string(fullUrl->text()) : Json::string(organizationFullUrl(org)));
  add(o, "type", str("Organization"));
  add(o, "identifier", identifier(kNpiSystem, org.npi));
  add(o, "display", str(org.name));
  return o;
}

}  // namespace inloop::mappings::translate_detail
