#include "fhir/structure_defs.h"

// Element lists transcribed from the FHIR R4 (4.0.1) resource and data type
// pages. Backbone elements get their own definition named by their path.

namespace inloop::fhir {

namespace {

constexpr int N = kUnbounded;

// Choice-type lists used more than once.
constexpr std::string_view kObservationValueTypes =
    "Quantity|CodeableConcept|string|boolean|integer|Range|Ratio|SampledData|time|dateTime|"
    "Period";
// Every R4 type an Extension.value[x] may take. The ones without a definition
// here (SampledData, ContactDetail, ...) are accepted with a "not checked" warning.
constexpr std::string_view kExtensionValueTypes =
    "base64Binary|boolean|canonical|code|date|dateTime|decimal|id|instant|integer|markdown|oid|"
    "positiveInt|string|time|unsignedInt|uri|url|uuid|Address|Age|Annotation|Attachment|"
    "CodeableConcept|Coding|ContactPoint|Count|Distance|Duration|HumanName|Identifier|Money|"
    "Period|Quantity|Range|Ratio|Reference|SampledData|Signature|Timing|ContactDetail|"
    "Contributor|DataRequirement|Expression|ParameterDefinition|RelatedArtifact|"
    "TriggerDefinition|UsageContext|Dosage|Meta";

// --- base elements ---------------------------------------------------------

constexpr ElementDef kElementBase[] = {
    {"id", "string", 0, 1},
    {"extension", "Extension", 0, N},
};
constexpr ElementDef kBackboneBase[] = {
    {"id", "string", 0, 1},
    {"extension", "Extension", 0, N},
    {"modifierExtension", "Extension", 0, N},
};
constexpr ElementDef kResourceBase[] = {
    {"id", "id", 0, 1},
    {"meta", "Meta", 0, 1},
    {"implicitRules", "uri", 0, 1},
    {"language", "code", 0, 1},
};
constexpr ElementDef kDomainResourceBase[] = {
    {"id", "id", 0, 1},
    {"meta", "Meta", 0, 1},
    {"implicitRules", "uri", 0, 1},
    {"language", "code", 0, 1},
    {"text", "Narrative", 0, 1},
    {"contained", "Resource", 0, N},
    {"extension", "Extension", 0, N},
    {"modifierExtension", "Extension", 0, N},
};

// --- data types ------------------------------------------------------------

constexpr ElementDef kCoding[] = {
    {"system", "uri"},     {"version", "string"},       {"code", "code"},
    {"display", "string"}, {"userSelected", "boolean"},
};
constexpr ElementDef kCodeableConcept[] = {
    {"coding", "Coding", 0, N},
    {"text", "string"},
};
constexpr ElementDef kIdentifier[] = {
    {"use", "code", 0, 1, "identifier-use"},
    {"type", "CodeableConcept"},
    {"system", "uri"},
    {"value", "string"},
    {"period", "Period"},
    {"assigner", "Reference"},
};
constexpr ElementDef kReference[] = {
    {"reference", "string"},
    {"type", "uri"},
    {"identifier", "Identifier"},
    {"display", "string"},
};
// Quantity and its profiles (SimpleQuantity, Age, Count, Distance, Duration)
// share the element list; their extra rules are invariants in the validator.
constexpr ElementDef kQuantity[] = {
    {"value", "decimal"}, {"comparator", "code", 0, 1, "quantity-comparator"},
    {"unit", "string"},   {"system", "uri"},
    {"code", "code"},
};
constexpr ElementDef kMoney[] = {
    {"value", "decimal"},
    {"currency", "code"},
};
constexpr ElementDef kPeriod[] = {
    {"start", "dateTime"},
    {"end", "dateTime"},
};
constexpr ElementDef kRange[] = {
    {"low", "SimpleQuantity"},
    {"high", "SimpleQuantity"},
};
constexpr ElementDef kRatio[] = {
    {"numerator", "Quantity"},
    {"denominator", "Quantity"},
};
constexpr ElementDef kAnnotation[] = {
    {"author[x]", "Reference|string"},
    {"time", "dateTime"},
    {"text", "markdown", 1, 1},
};
constexpr ElementDef kNarrative[] = {
    {"status", "code", 1, 1, "narrative-status"},
    {"div", "xhtml", 1, 1},
};
constexpr ElementDef kExtension[] = {
    {"url", "uri", 1, 1},
    {"value[x]", kExtensionValueTypes},
};
constexpr ElementDef kMeta[] = {
    {"versionId", "id"},
    {"lastUpdated", "instant"},
    {"source", "uri"},
    {"profile", "canonical", 0, N},
    {"security", "Coding", 0, N},
    {"tag", "Coding", 0, N},
};
constexpr ElementDef kHumanName[] = {
    {"use", "code", 0, 1, "name-use"},
    {"text", "string"},
    {"family", "string"},
    {"given", "string", 0, N},
    {"prefix", "string", 0, N},
    {"suffix", "string", 0, N},
    {"period", "Period"},
};
constexpr ElementDef kAttachment[] = {
    {"contentType", "code"}, {"language", "code"},     {"data", "base64Binary"},
    {"url", "url"},          {"size", "unsignedInt"},  {"hash", "base64Binary"},
    {"title", "string"},     {"creation", "dateTime"},
};
constexpr ElementDef kContactPoint[] = {
    {"system", "code", 0, 1, "contact-point-system"},
    {"value", "string"},
    {"use", "code", 0, 1, "contact-point-use"},
    {"rank", "positiveInt"},
    {"period", "Period"},
};
constexpr ElementDef kAddress[] = {
    {"use", "code", 0, 1, "address-use"},
    {"type", "code", 0, 1, "address-type"},
    {"text", "string"},
    {"line", "string", 0, N},
    {"city", "string"},
    {"district", "string"},
    {"state", "string"},
    {"postalCode", "string"},
    {"country", "string"},
    {"period", "Period"},
};
constexpr ElementDef kSignature[] = {
    {"type", "Coding", 1, N},    {"when", "instant", 1, 1}, {"who", "Reference", 1, 1},
    {"onBehalfOf", "Reference"}, {"targetFormat", "code"},  {"sigFormat", "code"},
    {"data", "base64Binary"},
};
constexpr ElementDef kTiming[] = {
    {"event", "dateTime", 0, N},
    {"repeat", "Timing.repeat"},
    {"code", "CodeableConcept"},
};
constexpr ElementDef kTimingRepeat[] = {
    {"bounds[x]", "Duration|Range|Period"},
    {"count", "positiveInt"},
    {"countMax", "positiveInt"},
    {"duration", "decimal"},
    {"durationMax", "decimal"},
    {"durationUnit", "code", 0, 1, "units-of-time"},
    {"frequency", "positiveInt"},
    {"frequencyMax", "positiveInt"},
    {"period", "decimal"},
    {"periodMax", "decimal"},
    {"periodUnit", "code", 0, 1, "units-of-time"},
    {"dayOfWeek", "code", 0, N, "days-of-week"},
    {"timeOfDay", "time", 0, N},
    {"when", "code", 0, N, "event-timing"},
    {"offset", "unsignedInt"},
};
constexpr ElementDef kDosage[] = {
    {"sequence", "integer"},
    {"text", "string"},
    {"additionalInstruction", "CodeableConcept", 0, N},
    {"patientInstruction", "string"},
    {"timing", "Timing"},
    {"asNeeded[x]", "boolean|CodeableConcept"},
    {"site", "CodeableConcept"},
    {"route", "CodeableConcept"},
    {"method", "CodeableConcept"},
    {"doseAndRate", "Dosage.doseAndRate", 0, N},
    {"maxDosePerPeriod", "Ratio"},
    {"maxDosePerAdministration", "SimpleQuantity"},
    {"maxDosePerLifetime", "SimpleQuantity"},
};
constexpr ElementDef kDosageDoseAndRate[] = {
    {"type", "CodeableConcept"},
    {"dose[x]", "Range|SimpleQuantity"},
    {"rate[x]", "Ratio|Range|SimpleQuantity"},
};
// The primitive extension companion `_name`: an Element with id and extension.
constexpr ElementDef kElementOnly[] = {{"id", "string"}};

// --- resources -------------------------------------------------------------

constexpr ElementDef kCarePlan[] = {
    {"identifier", "Identifier", 0, N},
    {"instantiatesCanonical", "canonical", 0, N},
    {"instantiatesUri", "uri", 0, N},
    {"basedOn", "Reference", 0, N},
    {"replaces", "Reference", 0, N},
    {"partOf", "Reference", 0, N},
    {"status", "code", 1, 1, "request-status"},
    {"intent", "code", 1, 1, "care-plan-intent"},
    {"category", "CodeableConcept", 0, N},
    {"title", "string"},
    {"description", "string"},
    {"subject", "Reference", 1, 1},
    {"encounter", "Reference"},
    {"period", "Period"},
    {"created", "dateTime"},
    {"author", "Reference"},
    {"contributor", "Reference", 0, N},
    {"careTeam", "Reference", 0, N},
    {"addresses", "Reference", 0, N},
    {"supportingInfo", "Reference", 0, N},
    {"goal", "Reference", 0, N},
    {"activity", "CarePlan.activity", 0, N},
    {"note", "Annotation", 0, N},
};
constexpr ElementDef kCarePlanActivity[] = {
    {"outcomeCodeableConcept", "CodeableConcept", 0, N},
    {"outcomeReference", "Reference", 0, N},
    {"progress", "Annotation", 0, N},
    {"reference", "Reference"},
    {"detail", "CarePlan.activity.detail"},
};
constexpr ElementDef kCarePlanActivityDetail[] = {
    {"kind", "code", 0, 1, "care-plan-activity-kind"},
    {"instantiatesCanonical", "canonical", 0, N},
    {"instantiatesUri", "uri", 0, N},
    {"code", "CodeableConcept"},
    {"reasonCode", "CodeableConcept", 0, N},
    {"reasonReference", "Reference", 0, N},
    {"goal", "Reference", 0, N},
    {"status", "code", 1, 1, "care-plan-activity-status"},
    {"statusReason", "CodeableConcept"},
    {"doNotPerform", "boolean"},
    {"scheduled[x]", "Timing|Period|string"},
    {"location", "Reference"},
    {"performer", "Reference", 0, N},
    {"product[x]", "CodeableConcept|Reference"},
    {"dailyAmount", "SimpleQuantity"},
    {"quantity", "SimpleQuantity"},
    {"description", "string"},
};

constexpr ElementDef kGoal[] = {
    {"identifier", "Identifier", 0, N},
    {"lifecycleStatus", "code", 1, 1, "goal-status"},
    {"achievementStatus", "CodeableConcept"},
    {"category", "CodeableConcept", 0, N},
    {"priority", "CodeableConcept"},
    {"description", "CodeableConcept", 1, 1},
    {"subject", "Reference", 1, 1},
    {"start[x]", "date|CodeableConcept"},
    {"target", "Goal.target", 0, N},
    {"statusDate", "date"},
    {"statusReason", "string"},
    {"expressedBy", "Reference"},
    {"addresses", "Reference", 0, N},
    {"note", "Annotation", 0, N},
    {"outcomeCode", "CodeableConcept", 0, N},
    {"outcomeReference", "Reference", 0, N},
};
constexpr ElementDef kGoalTarget[] = {
    {"measure", "CodeableConcept"},
    {"detail[x]", "Quantity|Range|CodeableConcept|string|boolean|integer|Ratio"},
    {"due[x]", "date|Duration"},
};

constexpr ElementDef kObservation[] = {
    {"identifier", "Identifier", 0, N},
    {"basedOn", "Reference", 0, N},
    {"partOf", "Reference", 0, N},
    {"status", "code", 1, 1, "observation-status"},
    {"category", "CodeableConcept", 0, N},
    {"code", "CodeableConcept", 1, 1},
    {"subject", "Reference"},
    {"focus", "Reference", 0, N},
    {"encounter", "Reference"},
    {"effective[x]", "dateTime|Period|Timing|instant"},
    {"issued", "instant"},
    {"performer", "Reference", 0, N},
    {"value[x]", kObservationValueTypes},
    {"dataAbsentReason", "CodeableConcept"},
    {"interpretation", "CodeableConcept", 0, N},
    {"note", "Annotation", 0, N},
    {"bodySite", "CodeableConcept"},
    {"method", "CodeableConcept"},
    {"specimen", "Reference"},
    {"device", "Reference"},
    {"referenceRange", "Observation.referenceRange", 0, N},
    {"hasMember", "Reference", 0, N},
    {"derivedFrom", "Reference", 0, N},
    {"component", "Observation.component", 0, N},
};
constexpr ElementDef kObservationReferenceRange[] = {
    {"low", "SimpleQuantity"},
    {"high", "SimpleQuantity"},
    {"type", "CodeableConcept"},
    {"appliesTo", "CodeableConcept", 0, N},
    {"age", "Range"},
    {"text", "string"},
};
constexpr ElementDef kObservationComponent[] = {
    {"code", "CodeableConcept", 1, 1},
    {"value[x]", kObservationValueTypes},
    {"dataAbsentReason", "CodeableConcept"},
    {"interpretation", "CodeableConcept", 0, N},
    {"referenceRange", "Observation.referenceRange", 0, N},
};

constexpr ElementDef kMedicationStatement[] = {
    {"identifier", "Identifier", 0, N},
    {"basedOn", "Reference", 0, N},
    {"partOf", "Reference", 0, N},
    {"status", "code", 1, 1, "medication-statement-status"},
    {"statusReason", "CodeableConcept", 0, N},
    {"category", "CodeableConcept"},
    {"medication[x]", "CodeableConcept|Reference", 1, 1},
    {"subject", "Reference", 1, 1},
    {"context", "Reference"},
    {"effective[x]", "dateTime|Period"},
    {"dateAsserted", "dateTime"},
    {"informationSource", "Reference"},
    {"derivedFrom", "Reference", 0, N},
    {"reasonCode", "CodeableConcept", 0, N},
    {"reasonReference", "Reference", 0, N},
    {"note", "Annotation", 0, N},
    {"dosage", "Dosage", 0, N},
};

constexpr ElementDef kMedicationRequest[] = {
    {"identifier", "Identifier", 0, N},
    {"status", "code", 1, 1, "medicationrequest-status"},
    {"statusReason", "CodeableConcept"},
    {"intent", "code", 1, 1, "medicationrequest-intent"},
    {"category", "CodeableConcept", 0, N},
    {"priority", "code", 0, 1, "request-priority"},
    {"doNotPerform", "boolean"},
    {"reported[x]", "boolean|Reference"},
    {"medication[x]", "CodeableConcept|Reference", 1, 1},
    {"subject", "Reference", 1, 1},
    {"encounter", "Reference"},
    {"supportingInformation", "Reference", 0, N},
    {"authoredOn", "dateTime"},
    {"requester", "Reference"},
    {"performer", "Reference"},
    {"performerType", "CodeableConcept"},
    {"recorder", "Reference"},
    {"reasonCode", "CodeableConcept", 0, N},
    {"reasonReference", "Reference", 0, N},
    {"instantiatesCanonical", "canonical", 0, N},
    {"instantiatesUri", "uri", 0, N},
    {"basedOn", "Reference", 0, N},
    {"groupIdentifier", "Identifier"},
    {"courseOfTherapyType", "CodeableConcept"},
    {"insurance", "Reference", 0, N},
    {"note", "Annotation", 0, N},
    {"dosageInstruction", "Dosage", 0, N},
    {"dispenseRequest", "MedicationRequest.dispenseRequest"},
    {"substitution", "MedicationRequest.substitution"},
    {"priorPrescription", "Reference"},
    {"detectedIssue", "Reference", 0, N},
    {"eventHistory", "Reference", 0, N},
};
constexpr ElementDef kMedicationRequestDispenseRequest[] = {
    {"initialFill", "MedicationRequest.dispenseRequest.initialFill"},
    {"dispenseInterval", "Duration"},
    {"validityPeriod", "Period"},
    {"numberOfRepeatsAllowed", "unsignedInt"},
    {"quantity", "SimpleQuantity"},
    {"expectedSupplyDuration", "Duration"},
    {"performer", "Reference"},
};
constexpr ElementDef kMedicationRequestInitialFill[] = {
    {"quantity", "SimpleQuantity"},
    {"duration", "Duration"},
};
constexpr ElementDef kMedicationRequestSubstitution[] = {
    {"allowed[x]", "boolean|CodeableConcept", 1, 1},
    {"reason", "CodeableConcept"},
};

constexpr ElementDef kCommunication[] = {
    {"identifier", "Identifier", 0, N},
    {"instantiatesCanonical", "canonical", 0, N},
    {"instantiatesUri", "uri", 0, N},
    {"basedOn", "Reference", 0, N},
    {"partOf", "Reference", 0, N},
    {"inResponseTo", "Reference", 0, N},
    {"status", "code", 1, 1, "event-status"},
    {"statusReason", "CodeableConcept"},
    {"category", "CodeableConcept", 0, N},
    {"priority", "code", 0, 1, "request-priority"},
    {"medium", "CodeableConcept", 0, N},
    {"subject", "Reference"},
    {"topic", "CodeableConcept"},
    {"about", "Reference", 0, N},
    {"encounter", "Reference"},
    {"sent", "dateTime"},
    {"received", "dateTime"},
    {"recipient", "Reference", 0, N},
    {"sender", "Reference"},
    {"reasonCode", "CodeableConcept", 0, N},
    {"reasonReference", "Reference", 0, N},
    {"payload", "Communication.payload", 0, N},
    {"note", "Annotation", 0, N},
};
constexpr ElementDef kCommunicationPayload[] = {
    {"content[x]", "string|Attachment|Reference", 1, 1},
};

constexpr ElementDef kProvenance[] = {
    {"target", "Reference", 1, N},
    {"occurred[x]", "Period|dateTime"},
    {"recorded", "instant", 1, 1},
    {"policy", "uri", 0, N},
    {"location", "Reference"},
    {"reason", "CodeableConcept", 0, N},
    {"activity", "CodeableConcept"},
    {"agent", "Provenance.agent", 1, N},
    {"entity", "Provenance.entity", 0, N},
    {"signature", "Signature", 0, N},
};
constexpr ElementDef kProvenanceAgent[] = {
    {"type", "CodeableConcept"},
    {"role", "CodeableConcept", 0, N},
    {"who", "Reference", 1, 1},
    {"onBehalfOf", "Reference"},
};
constexpr ElementDef kProvenanceEntity[] = {
    {"role", "code", 1, 1, "provenance-entity-role"},
    {"what", "Reference", 1, 1},
    {"agent", "Provenance.agent", 0, N},
};

constexpr ElementDef kOperationOutcome[] = {
    {"issue", "OperationOutcome.issue", 1, N},
};
constexpr ElementDef kOperationOutcomeIssue[] = {
    {"severity", "code", 1, 1, "issue-severity"},
    {"code", "code", 1, 1, "issue-type"},
    {"details", "CodeableConcept"},
    {"diagnostics", "string"},
    {"location", "string", 0, N},
    {"expression", "string", 0, N},
};

constexpr ElementDef kPatient[] = {
    {"identifier", "Identifier", 0, N},
    {"active", "boolean"},
    {"name", "HumanName", 0, N},
    {"telecom", "ContactPoint", 0, N},
    {"gender", "code", 0, 1, "administrative-gender"},
    {"birthDate", "date"},
    {"deceased[x]", "boolean|dateTime"},
    {"address", "Address", 0, N},
    {"maritalStatus", "CodeableConcept"},
    {"multipleBirth[x]", "boolean|integer"},
    {"photo", "Attachment", 0, N},
    {"contact", "Patient.contact", 0, N},
    {"communication", "Patient.communication", 0, N},
    {"generalPractitioner", "Reference", 0, N},
    {"managingOrganization", "Reference"},
    {"link", "Patient.link", 0, N},
};
constexpr ElementDef kPatientContact[] = {
    {"relationship", "CodeableConcept", 0, N},
    {"name", "HumanName"},
    {"telecom", "ContactPoint", 0, N},
    {"address", "Address"},
    {"gender", "code", 0, 1, "administrative-gender"},
    {"organization", "Reference"},
    {"period", "Period"},
};
constexpr ElementDef kPatientCommunication[] = {
    {"language", "CodeableConcept", 1, 1},
    {"preferred", "boolean"},
};
constexpr ElementDef kPatientLink[] = {
    {"other", "Reference", 1, 1},
    {"type", "code", 1, 1, "link-type"},
};

constexpr ElementDef kOrganization[] = {
    {"identifier", "Identifier", 0, N},
    {"active", "boolean"},
    {"type", "CodeableConcept", 0, N},
    {"name", "string"},
    {"alias", "string", 0, N},
    {"telecom", "ContactPoint", 0, N},
    {"address", "Address", 0, N},
    {"partOf", "Reference"},
    {"contact", "Organization.contact", 0, N},
    {"endpoint", "Reference", 0, N},
};
constexpr ElementDef kOrganizationContact[] = {
    {"purpose", "CodeableConcept"},
    {"name", "HumanName"},
    {"telecom", "ContactPoint", 0, N},
    {"address", "Address"},
};

constexpr ElementDef kBundle[] = {
    {"identifier", "Identifier"},  {"type", "code", 1, 1, "bundle-type"},
    {"timestamp", "instant"},      {"total", "unsignedInt"},
    {"link", "Bundle.link", 0, N}, {"entry", "Bundle.entry", 0, N},
    {"signature", "Signature"},
};
constexpr ElementDef kBundleLink[] = {
    {"relation", "string", 1, 1},
    {"url", "uri", 1, 1},
};
constexpr ElementDef kBundleEntry[] = {
    {"link", "Bundle.link", 0, N},
    {"fullUrl", "uri"},
    {"resource", "Resource"},
    {"search", "Bundle.entry.search"},
    {"request", "Bundle.entry.request"},
    {"response", "Bundle.entry.response"},
};
constexpr ElementDef kBundleEntrySearch[] = {
    {"mode", "code", 0, 1, "search-entry-mode"},
    {"score", "decimal"},
};
constexpr ElementDef kBundleEntryRequest[] = {
    {"method", "code", 1, 1, "http-verb"}, {"url", "uri", 1, 1},  {"ifNoneMatch", "string"},
    {"ifModifiedSince", "instant"},        {"ifMatch", "string"}, {"ifNoneExist", "string"},
};
constexpr ElementDef kBundleEntryResponse[] = {
    {"status", "string", 1, 1},  {"location", "uri"},     {"etag", "string"},
    {"lastModified", "instant"}, {"outcome", "Resource"},
};

using K = TypeKind;

constexpr TypeDef kTypes[] = {
    // data types
    {"Element", K::kElement, kElementOnly},
    {"Coding", K::kElement, kCoding},
    {"CodeableConcept", K::kElement, kCodeableConcept},
    {"Identifier", K::kElement, kIdentifier},
    {"Reference", K::kElement, kReference},
    {"Quantity", K::kElement, kQuantity},
    {"SimpleQuantity", K::kElement, kQuantity},
    {"Age", K::kElement, kQuantity},
    {"Count", K::kElement, kQuantity},
    {"Distance", K::kElement, kQuantity},
    {"Duration", K::kElement, kQuantity},
    {"Money", K::kElement, kMoney},
    {"Period", K::kElement, kPeriod},
    {"Range", K::kElement, kRange},
    {"Ratio", K::kElement, kRatio},
    {"Annotation", K::kElement, kAnnotation},
    {"Narrative", K::kElement, kNarrative},
    {"Extension", K::kElement, kExtension},
    {"Meta", K::kElement, kMeta},
    {"HumanName", K::kElement, kHumanName},
    {"Attachment", K::kElement, kAttachment},
    {"ContactPoint", K::kElement, kContactPoint},
    {"Address", K::kElement, kAddress},
    {"Signature", K::kElement, kSignature},
    {"Timing", K::kBackbone, kTiming},
    {"Timing.repeat", K::kElement, kTimingRepeat},
    {"Dosage", K::kBackbone, kDosage},
    {"Dosage.doseAndRate", K::kElement, kDosageDoseAndRate},
    // resources and their backbone elements
    {"CarePlan", K::kDomainResource, kCarePlan},
    {"CarePlan.activity", K::kBackbone, kCarePlanActivity},
    {"CarePlan.activity.detail", K::kBackbone, kCarePlanActivityDetail},
    {"Goal", K::kDomainResource, kGoal},
    {"Goal.target", K::kBackbone, kGoalTarget},
    {"Observation", K::kDomainResource, kObservation},
    {"Observation.referenceRange", K::kBackbone, kObservationReferenceRange},
    {"Observation.component", K::kBackbone, kObservationComponent},
    {"MedicationStatement", K::kDomainResource, kMedicationStatement},
    {"MedicationRequest", K::kDomainResource, kMedicationRequest},
    {"MedicationRequest.dispenseRequest", K::kBackbone, kMedicationRequestDispenseRequest},
    {"MedicationRequest.dispenseRequest.initialFill", K::kBackbone, kMedicationRequestInitialFill},
    {"MedicationRequest.substitution", K::kBackbone, kMedicationRequestSubstitution},
    {"Communication", K::kDomainResource, kCommunication},
    {"Communication.payload", K::kBackbone, kCommunicationPayload},
    {"Provenance", K::kDomainResource, kProvenance},
    {"Provenance.agent", K::kBackbone, kProvenanceAgent},
    {"Provenance.entity", K::kBackbone, kProvenanceEntity},
    {"OperationOutcome", K::kDomainResource, kOperationOutcome},
    {"OperationOutcome.issue", K::kBackbone, kOperationOutcomeIssue},
    {"Patient", K::kDomainResource, kPatient},
    {"Patient.contact", K::kBackbone, kPatientContact},
    {"Patient.communication", K::kBackbone, kPatientCommunication},
    {"Patient.link", K::kBackbone, kPatientLink},
    {"Organization", K::kDomainResource, kOrganization},
    {"Organization.contact", K::kBackbone, kOrganizationContact},
    {"Bundle", K::kResource, kBundle},
    {"Bundle.link", K::kBackbone, kBundleLink},
    {"Bundle.entry", K::kBackbone, kBundleEntry},
    {"Bundle.entry.search", K::kBackbone, kBundleEntrySearch},
    {"Bundle.entry.request", K::kBackbone, kBundleEntryRequest},
    {"Bundle.entry.response", K::kBackbone, kBundleEntryResponse},
};

constexpr std::string_view kPrimitiveTypes[] = {
    "base64Binary", "boolean",     "canonical", "code",     "date", "dateTime",    "decimal",
    "id",           "instant",     "integer",   "markdown", "oid",  "positiveInt", "string",
    "time",         "unsignedInt", "uri",       "url",      "uuid", "xhtml",
};

struct ValueSetDef {
  std::string_view name;
  std::string_view codes;  // '|' separated
};

// Required bindings from the R4 (4.0.1) value set pages.
constexpr ValueSetDef kValueSets[] = {
    {"request-status", "draft|active|on-hold|revoked|completed|entered-in-error|unknown"},
    {"care-plan-intent", "proposal|plan|order|option"},
    {"care-plan-activity-status",
     "not-started|scheduled|in-progress|on-hold|completed|cancelled|stopped|unknown|"
     "entered-in-error"},
    {"care-plan-activity-kind",
     "Appointment|CommunicationRequest|DeviceRequest|MedicationRequest|NutritionOrder|Task|"
     "ServiceRequest|VisionPrescription"},
    {"goal-status",
     "proposed|planned|accepted|active|on-hold|completed|cancelled|entered-in-error|rejected"},
    {"observation-status",
     "registered|preliminary|final|amended|corrected|cancelled|entered-in-error|unknown"},
    {"medication-statement-status",
     "active|completed|entered-in-error|intended|stopped|on-hold|unknown|not-taken"},
    {"medicationrequest-status",
     "active|on-hold|cancelled|completed|entered-in-error|stopped|draft|unknown"},
    {"medicationrequest-intent",
     "proposal|plan|order|original-order|reflex-order|filler-order|instance-order|option"},
    {"request-priority", "routine|urgent|asap|stat"},
    {"event-status",
     "preparation|in-progress|not-done|on-hold|stopped|completed|entered-in-error|unknown"},
    {"provenance-entity-role", "derivation|revision|quotation|source|removal"},
    {"bundle-type",
     "document|message|transaction|transaction-response|batch|batch-response|history|"
     "searchset|collection"},
    {"http-verb", "GET|HEAD|POST|PUT|DELETE|PATCH"},
    {"search-entry-mode", "match|include|outcome"},
    {"quantity-comparator", "<|<=|>=|>"},
    {"narrative-status", "generated|extensions|additional|empty"},
    {"issue-severity", "fatal|error|warning|information"},
    {"issue-type",
     "invalid|structure|required|value|invariant|security|login|unknown|expired|forbidden|"
     "suppressed|processing|not-supported|duplicate|multiple-matches|not-found|deleted|"
     "too-long|code-invalid|extension|too-costly|business-rule|conflict|transient|lock-error|"
     "no-store|exception|timeout|incomplete|throttled|informational"},
    {"identifier-use", "usual|official|temp|secondary|old"},
    {"name-use", "usual|official|temp|nickname|anonymous|old|maiden"},
    {"administrative-gender", "male|female|other|unknown"},
    {"link-type", "replaced-by|replaces|refer|seealso"},
    {"contact-point-system", "phone|fax|email|pager|url|sms|other"},
    {"contact-point-use", "home|work|temp|old|mobile"},
    {"address-use", "home|work|temp|old|billing"},
    {"address-type", "postal|physical|both"},
    {"units-of-time", "s|min|h|d|wk|mo|a"},
    {"days-of-week", "mon|tue|wed|thu|fri|sat|sun"},
    {"event-timing",
     "MORN|MORN.early|MORN.late|NOON|AFT|AFT.early|AFT.late|EVE|EVE.early|EVE.late|NIGHT|PHS|"
     "HS|WAKE|C|CM|CD|CV|AC|ACM|ACD|ACV|PC|PCM|PCD|PCV"},
};

}  // namespace

const TypeDef* findType(std::string_view name) {
  for (const TypeDef& t : kTypes) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::span<const ElementDef> baseElements(TypeKind kind) {
  switch (kind) {
    case TypeKind::kPrimitive:
      return {};
    case TypeKind::kElement:
      return kElementBase;
    case TypeKind::kBackbone:
      return kBackboneBase;
    case TypeKind::kResource:
      return kResourceBase;
    case TypeKind::kDomainResource:
      return kDomainResourceBase;
  }
  return {};
}

bool isPrimitiveType(std::string_view name) {
  for (std::string_view p : kPrimitiveTypes) {
    if (p == name) return true;
  }
  return false;
}

std::string_view findValueSet(std::string_view name) {
  for (const ValueSetDef& v : kValueSets) {
    if (v.name == name) return v.codes;
  }
  return {};
}

bool valueSetContains(std::string_view name, std::string_view code) {
  std::string_view codes = findValueSet(name);
  while (!codes.empty()) {
    std::size_t bar = codes.find('|');
    std::string_view c = codes.substr(0, bar);
    if (c == code) return true;
    if (bar == std::string_view::npos) break;
    codes.remove_prefix(bar + 1);
  }
  return false;
}

}  // namespace inloop::fhir
