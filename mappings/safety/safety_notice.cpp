// Notices as FHIR R4 Communications, and their place in the record's
// transaction Bundle (mappings/safety/safety.h).
#include <algorithm>
#include <utility>

#include "mappings/conventions.h"
#include "mappings/forward/logical_id.h"
#include "mappings/forward/narrative.h"
#include "mappings/forward/translate_internal.h"
#include "mappings/safety/safety.h"

namespace inloop::mappings {

namespace {

using fhir::Json;
using translate_detail::add;
using translate_detail::array1;
using translate_detail::Context;
using translate_detail::str;

std::string_view ruleDisplay(std::string_view rule) {
  if (rule == kRuleManagedEffect) return "Medication change affecting what primary care manages";
  if (rule == kRuleOpioidSedative) return "Opioid with a benzodiazepine, z-drug or gabapentinoid";
  if (rule == kRuleOpioidSedativeEnded) return "Opioid and sedative co-prescription ended";
  if (rule == kRuleMmeThreshold) return "Total daily MME crossed a threshold";
  if (rule == kRuleTaperStep) return "Opioid taper step";
  if (rule == kRuleSteroidGlucose) return "Steroid injection in a patient with diabetes";
  if (rule == kRuleCorrection) return "Correction of a medication change entered in error";
  return rule;
}

std::string_view aboutType(const Notice& notice, MedicationAs medicationAs) {
  if (notice.aboutType == RecordType::kCarePlan) return "CarePlan";
  if (notice.aboutType == RecordType::kMeasurement) return "Observation";
  return medicationAs == MedicationAs::kRequest ? "MedicationRequest" : "MedicationStatement";
}

// The logical id's part: the key without the record id, '/' -> '-'.
std::string idPart(const Notice& notice) {
  std::string part = notice.key;
  if (part.compare(0, notice.aboutRecordId.size() + 1, notice.aboutRecordId + "/") == 0) {
    part.erase(0, notice.aboutRecordId.size() + 1);
  }
  for (char& c : part) {
    if (c == '/') c = '-';
  }
  return part;
}

std::string patientSentence(const PlanRecord& r) {
  std::string name;
  for (const std::string& g : r.patient.name.given) name += g + " ";
  name += r.patient.name.family;
  std::string out = "Patient: " + name + ", born " + r.patient.birthDate;
  if (r.patient.pcpPatientId && !r.patient.pcpPatientId->empty()) {
    out += ", practice patient id " + *r.patient.pcpPatientId;
  }
  return out + ".";
}

Json buildJson(Context& ctx, const Notice& notice, MedicationAs medicationAs) {
  const PlanRecord& r = ctx.record;
  const Namespaces& ns = ctx.tables.namespaces;
  const SafetySettings& settings = ctx.tables.safetySettingsFor(r.pcp.practiceId);
  std::string priority = noticePriorityCode(notice.priority);
  std::string_view about = aboutType(notice, medicationAs);

  Json c = translate_detail::objectWithRoom(18);
  add(c, "resourceType", str("Communication"));
  add(c, "id",
      Json::string(logicalId(kIdPrefixCommunication, notice.aboutRecordId, idPart(notice))));
  add(c, "meta", translate_detail::meta(ctx));

  NarrativeBuilder n(priority == "urgent" ? "URGENT notice from the pain center"
                                          : "Notice from the pain center");
  n.row("Priority", priority);
  n.row("Rule", ruleDisplay(notice.ruleId));
  n.row("About", std::string(about) + " " + notice.aboutRecordId);
  n.row("Date", notice.date);
  n.row("Sent", r.recordedAt);
  n.row("To", r.pcp.name.value_or(""));
  const std::string message = noticeMessage(notice, r, ctx.tables);
  n.paragraph({}, message);
  add(c, "text", translate_detail::narrativeText(n.finish()));
  add(c, "extension", array1(translate_detail::versionExtension(ctx)));
  add(c, "identifier",
      array1(translate_detail::identifier(ns.record, noticeIdentifierValue(notice))));
  add(c, "status", str("completed"));
  add(c, "category",
      array1(translate_detail::codeableConcept(
          translate_detail::coding(kCommunicationCategorySystem, "notification", "Notification"),
          {})));
  add(c, "priority", Json::string(priority));
  add(c, "subject", translate_detail::subjectReference(ctx));
  add(c, "about", array1(translate_detail::logicalReference(ctx, about, notice.aboutRecordId)));
  add(c, "sent", str(r.recordedAt));
  bool npi = r.pcp.clinicianNpi && !r.pcp.clinicianNpi->empty();
  bool name = translate_detail::hasText(r.pcp.name);
  if (npi || name) {
    Json to = Json::object();
    add(to, "type", str("Practitioner"));
    if (npi) add(to, "identifier", translate_detail::identifier(kNpiSystem, *r.pcp.clinicianNpi));
    if (name) add(to, "display", str(*r.pcp.name));
    add(c, "recipient", array1(std::move(to)));
  }
  if (std::optional<Json> org = translate_detail::organizationReference(ctx)) {
    add(c, "sender", std::move(*org));
  } else {
    Json from = Json::object();
    add(from, "type", str("Organization"));
    add(from, "display", str(settings.senderDisplay));
    add(c, "sender", std::move(from));
  }
  add(c, "reasonCode",
      array1(translate_detail::codeableConcept(
          translate_detail::coding(localCodeSystem(ns, kCsSafetyRule), notice.ruleId,
                                   ruleDisplay(notice.ruleId)),
          ruleDisplay(notice.ruleId))));
  Json payload = Json::object();
  add(payload, "contentString", str(message));
  add(c, "payload", array1(std::move(payload)));
  return c;
}

}  // namespace

std::string noticeMessage(const Notice& notice, const PlanRecord& record,
                          const MappingTables& tables) {
  return patientSentence(record) + " " + notice.text +
         " Questions: " + translate_detail::contactWords(record, tables) + ".";
}

std::string noticeIdentifierValue(const Notice& notice) { return "notice/" + notice.key; }

Json noticeCommunicationJson(const Notice& notice, const PlanRecord& record,
                             const MappingTables& tables, MedicationAs medicationAs) {
  TranslateOptions options;
  options.medicationAs = medicationAs;
  Context ctx{record, tables, options, {}, {}, {}, {}, {}, {}};
  translate_detail::initSubject(ctx);
  return buildJson(ctx, notice, medicationAs);
}

namespace {

// The entries of a transaction Bundle, or nullptr.
Json* transactionEntries(Json* bundle) {
  const Json* type = bundle ? bundle->find("type") : nullptr;
  Json* entries = bundle ? bundle->find("entry") : nullptr;
  if (bundle == nullptr || !bundle->isObject() || type == nullptr || !type->isString() ||
      type->text() != "transaction" || entries == nullptr || !entries->isArray()) {
    return nullptr;
  }
  return entries;
}

// Inserts `added` before the final Provenance entry (when there is one) and
// adds `urls` to that Provenance's targets.
void insertBeforeProvenance(std::vector<Json> added, const std::vector<std::string>& urls,
                            Json* entries) {
  std::vector<Json>& items = entries->items();
  // Keep the Provenance last, and make it name the notices too.
  std::size_t at = items.size();
  Json* provenance = nullptr;
  if (!items.empty()) {
    Json* res = items.back().find("resource");
    const Json* rt = res ? res->find("resourceType") : nullptr;
    if (rt && rt->isString() && rt->text() == "Provenance") {
      at = items.size() - 1;
      provenance = res;
    }
  }
  items.insert(items.begin() + static_cast<std::ptrdiff_t>(at),
               std::make_move_iterator(added.begin()), std::make_move_iterator(added.end()));
  if (provenance != nullptr) {
    // The insertion moved the Provenance entry; find it again.
    Json* target = items.back().find("resource")->find("target");
    if (target && target->isArray()) {
      for (const std::string& url : urls) {
        Json ref = Json::object();
        add(ref, "reference", str(url));
        target->push(std::move(ref));
      }
    }
  }
}

}  // namespace

fhir::Status appendNoticeEntries(const std::vector<Notice>& notices, const PlanRecord& record,
                                 const MappingTables& tables, Json* bundle,
                                 MedicationAs medicationAs) {
  Json* entries = transactionEntries(bundle);
  if (entries == nullptr) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "not a transaction Bundle with entries");
  }
  if (notices.empty()) return fhir::Status::ok();
  TranslateOptions options;
  options.medicationAs = medicationAs;
  Context ctx{record, tables, options, {}, {}, {}, {}, {}, {}};
  translate_detail::initSubject(ctx);
  for (const Notice& n : notices) {
    translate_detail::addEntry(ctx, "Communication", noticeIdentifierValue(n),
                               buildJson(ctx, n, medicationAs));
  }
  insertBeforeProvenance(std::move(ctx.entries), ctx.targets, entries);
  return fhir::Status::ok();
}

fhir::Result<std::size_t> carryNoticeEntries(const Json& from, MedicationAs medicationAs,
                                             Json* to) {
  Json* entries = transactionEntries(to);
  if (entries == nullptr) {
    return fhir::Status(fhir::ErrorCode::kInvalid, "not a transaction Bundle with entries");
  }
  const Json* source = from.isObject() ? from.find("entry") : nullptr;
  if (source == nullptr || !source->isArray()) return std::size_t{0};
  // fullUrls of `to`: a carried sender pointing elsewhere (the contact
  // changed since ingest) keeps only its type, identifier and display.
  std::vector<std::string> present;
  for (const Json& e : entries->items()) {
    const Json* url = e.isObject() ? e.find("fullUrl") : nullptr;
    if (url != nullptr && url->isString()) present.push_back(url->text());
  }
  std::vector<Json> carried;
  std::vector<std::string> urls;
  for (const Json& entry : source->items()) {
    const Json* resource = entry.isObject() ? entry.find("resource") : nullptr;
    const Json* type = resource ? resource->find("resourceType") : nullptr;
    const Json* ids = resource ? resource->find("identifier") : nullptr;
    const Json* url = entry.isObject() ? entry.find("fullUrl") : nullptr;
    if (type == nullptr || !type->isString() || type->text() != "Communication" || ids == nullptr ||
        !ids->isArray() || ids->size() == 0 || url == nullptr || !url->isString()) {
      continue;
    }
    const Json* value = ids->items()[0].find("value");
    if (value == nullptr || !value->isString() || !value->text().starts_with("notice/")) continue;
    Json copy = entry;
    if (Json* about = copy.find("resource")->find("about"); about && about->isArray()) {
      for (Json& ref : about->items()) {
        const Json* t = ref.find("type");
        if (t != nullptr && t->isString() && t->text() == "MedicationStatement" &&
            medicationAs == MedicationAs::kRequest) {
          ref.set("type", str("MedicationRequest"));
        }
      }
    }
    if (Json* sender = copy.find("resource")->find("sender"); sender && sender->isObject()) {
      const Json* ref = sender->find("reference");
      if (ref != nullptr && ref->isString() &&
          std::find(present.begin(), present.end(), ref->text()) == present.end()) {
        sender->erase("reference");
      }
    }
    urls.push_back(url->text());
    carried.push_back(std::move(copy));
  }
  const std::size_t count = carried.size();
  insertBeforeProvenance(std::move(carried), urls, entries);
  return count;
}

}  // namespace inloop::mappings
