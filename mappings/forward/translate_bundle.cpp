// The transaction Bundle around one record's resources: Patient, the pain
// center's Organization, the clinical resources, Provenance (docs/mapping.md, "Bundle").
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "fhir/validator.h"
#include "mappings/conventions.h"
#include "mappings/forward/logical_id.h"
#include "mappings/forward/narrative.h"
#include "mappings/forward/translate.h"
#include "mappings/forward/translate_internal.h"

namespace inloop::mappings {

namespace {

using fhir::Json;
using translate_detail::add;
using translate_detail::array1;
using translate_detail::Context;
using translate_detail::str;

// Patient: conditional create, so a patient the receiver already has is kept.
Json patientEntry(const Context& ctx) {
  const PlanRecord& r = ctx.record;
  const Namespaces& ns = ctx.tables.namespaces;
  Json p = translate_detail::objectWithRoom(10);
  add(p, "resourceType", str("Patient"));
  add(p, "meta", translate_detail::meta(ctx));
  std::string given;
  for (const std::string& g : r.patient.name.given) {
    if (!given.empty()) given += ' ';
    given += g;
  }
  NarrativeBuilder n("Patient");
  n.row("Name", given.empty() ? r.patient.name.family : given + " " + r.patient.name.family);
  n.row("Birth date", r.patient.birthDate);
  if (r.patient.sex) n.row("Sex", toWire(*r.patient.sex));
  n.row("Pain center MRN", r.patient.mrn);
  if (r.patient.pcpPatientId) n.row("Practice patient id", *r.patient.pcpPatientId);
  add(p, "text", translate_detail::narrativeText(n.finish()));
  Json ids = Json::array();
  ids.push(translate_detail::identifier(ns.mrn, r.patient.mrn));
  if (r.patient.pcpPatientId) {
    ids.push(translate_detail::identifier(pcpPatientIdSystem(ns, r.pcp.practiceId),
                                          *r.patient.pcpPatientId));
  }
  add(p, "identifier", std::move(ids));
  Json name = Json::object();
  add(name, "family", str(r.patient.name.family));
  if (!r.patient.name.given.empty()) {
    Json g = Json::array();
    for (const std::string& s : r.patient.name.given) g.push(str(s));
    add(name, "given", std::move(g));
  }
  add(p, "name", array1(std::move(name)));
  if (r.patient.sex) add(p, "gender", str(toWire(*r.patient.sex)));
  add(p, "birthDate", str(r.patient.birthDate));

  Json entry = Json::object();
  add(entry, "fullUrl",
      str(translate_detail::fullUrlFor("Patient", ctx.subjectSystem, ctx.subjectValue)));
  add(entry, "resource", std::move(p));
  Json request = Json::object();
  add(request, "method", str("POST"));
  add(request, "url", str("Patient"));
  add(request, "ifNoneExist", Json::string("identifier=" + ctx.subjectQuery));
  add(entry, "request", std::move(request));
  return entry;
}

// Provenance: conditional update on a tag unique per record version, so a
// replay replaces rather than duplicates it.
Json provenanceEntry(const Context& ctx) {
  const PlanRecord& r = ctx.record;
  const Namespaces& ns = ctx.tables.namespaces;
  std::string tagSystem = localCodeSystem(ns, kCsRecordVersion);
  std::string tagCode = recordVersionTag(r.recordId, r.version);
  Json p = translate_detail::objectWithRoom(10);
  add(p, "resourceType", str("Provenance"));
  add(p, "id",
      Json::string(logicalId(kIdPrefixProvenance, r.recordId, "v" + std::to_string(r.version))));
  Json meta = translate_detail::meta(ctx);
  add(meta, "tag", array1(translate_detail::coding(tagSystem, tagCode)));
  add(p, "meta", std::move(meta));
  NarrativeBuilder n("Provenance of record " + r.recordId + " version " +
                     std::to_string(r.version));
  n.row("Recorded", r.recordedAt);
  n.row("Author", translate_detail::clinicianWords(r.author));
  n.row("Assembled by", kGatewayDisplay);
  n.row("Mapping tables", ctx.tables.version);
  add(p, "text", translate_detail::narrativeText(n.finish()));
  add(p, "extension", array1(translate_detail::versionExtension(ctx)));
  Json targets = Json::array();
  for (const std::string& url : ctx.targets) {
    Json ref = Json::object();
    add(ref, "reference", str(url));
    targets.push(std::move(ref));
  }
  add(p, "target", std::move(targets));
  add(p, "recorded", str(r.recordedAt));
  add(p, "policy", array1(Json::string(mappingTablesPolicy(ns, ctx.tables.version))));
  Json agents = Json::array();
  {
    Json a = Json::object();
    add(a, "type",
        translate_detail::codeableConcept(
            translate_detail::coding(kProvenanceParticipantTypeSystem, kProvenanceAuthor), {}));
    add(a, "who", translate_detail::clinicianReference(r.author));
    agents.push(std::move(a));
  }
  {
    Json a = Json::object();
    add(a, "type",
        translate_detail::codeableConcept(
            translate_detail::coding(kProvenanceParticipantTypeSystem, kProvenanceAssembler), {}));
    Json who = Json::object();
    add(who, "type", str("Device"));
    add(who, "display", str(kGatewayDisplay));
    add(a, "who", std::move(who));
    agents.push(std::move(a));
  }
  add(p, "agent", std::move(agents));

  Json entry = Json::object();
  add(entry, "fullUrl",
      Json::string("urn:uuid:" + nameBasedUuid("Provenance?_tag=" + tagSystem + "|" + tagCode)));
  add(entry, "resource", std::move(p));
  Json request = Json::object();
  add(request, "method", str("PUT"));
  add(request, "url", Json::string("Provenance?_tag=" + tokenQuery(tagSystem, tagCode)));
  add(entry, "request", std::move(request));
  return entry;
}

// translateRecord's work. With `organizationAt` non-null and the tables'
// Organization entry built (MappingTables::organizationEntry), that entry is
// left out of the Bundle and *organizationAt receives the index in "entry"
// it belongs at; otherwise it is in the Bundle.
TranslationResult assemble(const PlanRecord& record, const MappingTables& tables,
                           const TranslateOptions& options, std::size_t* organizationAt) {
  Context ctx{record, tables, options, {}, {}, {}, {}, {}, {}};
  if (record.version > 2147483647) {
    fhir::addError(&ctx.issues, "value", "$.version",
                   "version " + std::to_string(record.version) +
                       " is larger than FHIR's positiveInt allows (2147483647)");
  }
  translate_detail::initSubject(ctx);

  switch (record.recordType()) {
    case RecordType::kMeasurement:
      translate_detail::translateMeasurement(ctx);
      break;
    case RecordType::kCarePlan:
      translate_detail::translateCarePlan(ctx);
      break;
    case RecordType::kMedicationChange:
      translate_detail::translateMedicationChange(ctx);
      break;
  }
  TranslationResult out;
  if (fhir::hasErrors(ctx.issues) || ctx.entries.empty()) {
    if (!fhir::hasErrors(ctx.issues)) {
      fhir::addError(&ctx.issues, "exception", "$", "the record produced no resource");
    }
    out.issues = std::move(ctx.issues);
    return out;
  }
  Json bundle = Json::object();
  add(bundle, "resourceType", str("Bundle"));
  add(bundle, "type", str("transaction"));
  add(bundle, "timestamp", str(record.recordedAt));
  Json entries = Json::array();
  entries.items().reserve(ctx.entries.size() + 3);
  entries.push(patientEntry(ctx));
  if (organizationAt != nullptr && tables.organizationEntry) {
    *organizationAt = entries.size();
  } else if (std::optional<Json> org = translate_detail::organizationEntry(ctx)) {
    entries.push(std::move(*org));
  }
  for (Json& e : ctx.entries) entries.push(std::move(e));
  entries.push(provenanceEntry(ctx));
  add(bundle, "entry", std::move(entries));
  out.bundle = std::move(bundle);
  out.issues = std::move(ctx.issues);
  return out;
}

}  // namespace

TranslationResult translateRecord(const PlanRecord& record, const MappingTables& tables,
                                  const TranslateOptions& options) {
  return assemble(record, tables, options, nullptr);
}

BundleDraft draftBundle(const PlanRecord& record, const MappingTables& tables,
                        const TranslateOptions& options) {
  BundleDraft draft;
  std::size_t organizationAt = 0;
  TranslationResult t = assemble(record, tables, options, &organizationAt);
  draft.bundle = std::move(t.bundle);
  draft.issues = std::move(t.issues);
  draft.organizationLeftOut = draft.bundle.has_value() && tables.organizationEntry != nullptr;
  draft.organizationAt = organizationAt;
  return draft;
}

TranslatedJson finishBundle(BundleDraft draft, const MappingTables& tables) {
  TranslatedJson out;
  out.issues = std::move(draft.issues);
  if (!draft.bundle || fhir::hasErrors(out.issues)) return out;
  fhir::ValidationOptions vo;
  fhir::Issues check = fhir::validateResource(*draft.bundle, vo);
  bool bad = false;
  for (fhir::Issue& i : check) {
    if (i.severity == fhir::Severity::kError || i.severity == fhir::Severity::kFatal) {
      bad = true;
      fhir::addError(&out.issues, "exception", i.path,
                     "internal error: the translated Bundle is invalid FHIR (" + i.message + ")");
    }
  }
  if (bad) return out;
  if (!draft.organizationLeftOut) {
    fhir::appendJson(*draft.bundle, fhir::JsonStyle::kCompact, &out.bundleJson);
    return out;
  }
  // A null in the entry's place, written as the entry's text.
  std::vector<fhir::Json>& entries = draft.bundle->find("entry")->items();
  const auto at = entries.insert(
      entries.begin() + static_cast<std::ptrdiff_t>(draft.organizationAt), fhir::Json());
  std::string written;
  if (tables.organizationEntryJson.empty()) {
    written = fhir::writeJson(*tables.organizationEntry);
  }
  fhir::appendJsonSpliced(
      *draft.bundle, *at,
      written.empty() ? std::string_view(tables.organizationEntryJson) : std::string_view(written),
      &out.bundleJson);
  return out;
}

TranslatedJson translateRecordJson(std::string_view recordJson, const MappingTables& tables,
                                   const TranslateOptions& options) {
  TranslatedJson out;
  fhir::JsonParseError parseError;
  fhir::Result<fhir::Json> doc = fhir::parseJson(recordJson, kRecordJsonLimits, &parseError);
  if (!doc.isOk()) {
    fhir::addError(&out.issues,
                   doc.status().code() == fhir::ErrorCode::kTooLarge ? "too-costly" : "structure",
                   "$", doc.status().message());
    return out;
  }
  std::optional<PlanRecord> record = readPlanRecord(*doc, &out.issues);
  if (!record || fhir::hasErrors(out.issues)) {
    if (!fhir::hasErrors(out.issues)) fhir::addError(&out.issues, "structure", "$", "not a record");
    return out;
  }
  BundleDraft draft = draftBundle(*record, tables, options);
  // The record's own warnings first, then the translation's.
  for (fhir::Issue& i : draft.issues) out.issues.push_back(std::move(i));
  draft.issues = std::move(out.issues);
  return finishBundle(std::move(draft), tables);
}

}  // namespace inloop::mappings
