#pragma once

// Typed FHIR R4 (4.0.1) resource model with JSON parse and serialise.
//
// Plain structs mirror the FHIR elements the product uses: `std::optional` for
// 0..1 (also for 1..1: absence is kept so a round trip never invents data),
// `std::vector` for 0..*, choice elements `x[x]` as one optional per allowed
// type (`valueQuantity`, `valueString`...). Every primitive that is a JSON
// string in FHIR (string, code, uri, dateTime, instant, markdown, xhtml...) is a
// `std::string`; integer/positiveInt/unsignedInt are `std::int32_t`; decimal is
// `Decimal`, which keeps the exact JSON number text (`1.50` stays `1.50`).
//
// Parsing (`parseAs<T>`, `parseResource`) checks JSON shape only: objects vs
// arrays vs strings vs numbers vs booleans, integers being integers, known
// element names, one type per choice element, matching `resourceType`. It does
// not check value sets, cardinality or invariants (the validator does, on Json)
// nor primitive lexical forms. It collects every problem as an Issue with a
// FHIRPath-style path (`Observation.component[0].valueQuantity.value`) and keeps
// going; an element with the wrong JSON type is dropped, the rest is kept.
// Unmodelled elements, including `_element` primitive extensions and
// `contained`, are reported as unknown.
//
// Serialising (`toJson`) writes `resourceType` first and then elements in the
// order of the FHIR R4 StructureDefinitions, omitting absent optionals and empty
// vectors, so parse -> serialise is byte-stable for spec-ordered input.
//
// Everything here is a value type; no I/O, no globals, no exceptions on the
// data path. Concurrent reads of one value are safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"

namespace inloop::fhir {

// FHIR decimal kept as its exact JSON number text.
class Decimal {
 public:
  Decimal() = default;  // "0"

  // nullopt unless `text` is a valid FHIR decimal (JSON number grammar).
  static std::optional<Decimal> fromText(std::string_view text);
  // Shortest text that reads back as `value`; nullopt for NaN and infinities.
  static std::optional<Decimal> fromDouble(double value);
  // Fixed notation with exactly `fractionDigits` (0..17) digits after the
  // point: fromDouble(1.5, 2) is "1.50". nullopt for NaN, infinities, values of
  // magnitude >= 1e21 and out-of-range digit counts.
  static std::optional<Decimal> fromDouble(double value, int fractionDigits);
  static Decimal fromInt(std::int64_t value);

  const std::string& text() const { return text_; }
  // Nearest double (the text is always a valid number).
  double toDouble() const;

  friend bool operator==(const Decimal&, const Decimal&) = default;

 private:
  explicit Decimal(std::string text) : text_(std::move(text)) {}
  std::string text_ = "0";
};

// Optional value held on the heap: breaks recursive types (Identifier.assigner,
// Bundle.entry.resource) while keeping value semantics (copies are deep).
template <typename T>
class Box {
 public:
  Box() = default;
  Box(T value) : ptr_(std::make_unique<T>(std::move(value))) {}  // NOLINT: implicit like optional
  Box(const Box& other) : ptr_(other.ptr_ ? std::make_unique<T>(*other.ptr_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& other) {
    if (this != &other) ptr_ = other.ptr_ ? std::make_unique<T>(*other.ptr_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  ~Box() = default;

  bool has_value() const { return ptr_ != nullptr; }  // NOLINT: optional-like name
  explicit operator bool() const { return has_value(); }
  // Preconditions: has_value().
  const T& operator*() const { return *ptr_; }
  T& operator*() { return *ptr_; }
  const T* operator->() const { return ptr_.get(); }
  T* operator->() { return ptr_.get(); }
  void reset() { ptr_.reset(); }

  friend bool operator==(const Box& a, const Box& b) {
    if (!a.ptr_ || !b.ptr_) return !a.ptr_ && !b.ptr_;
    return *a.ptr_ == *b.ptr_;
  }

 private:
  std::unique_ptr<T> ptr_{};
};

// ---------------------------------------------------------------- data types

struct Coding {
  std::optional<std::string> system{};
  std::optional<std::string> version{};
  std::optional<std::string> code{};
  std::optional<std::string> display{};
  std::optional<bool> userSelected{};
  friend bool operator==(const Coding&, const Coding&) = default;
};

struct CodeableConcept {
  std::vector<Coding> coding{};
  std::optional<std::string> text{};
  friend bool operator==(const CodeableConcept&, const CodeableConcept&) = default;
};

struct Period {
  std::optional<std::string> start{};  // dateTime
  std::optional<std::string> end{};    // dateTime
  friend bool operator==(const Period&, const Period&) = default;
};

// Also used for Duration, Age, Count, Distance, SimpleQuantity (same elements).
struct Quantity {
  std::optional<Decimal> value{};
  std::optional<std::string> comparator{};
  std::optional<std::string> unit{};
  std::optional<std::string> system{};
  std::optional<std::string> code{};
  friend bool operator==(const Quantity&, const Quantity&) = default;
};
using Duration = Quantity;

struct Range {
  std::optional<Quantity> low{};
  std::optional<Quantity> high{};
  friend bool operator==(const Range&, const Range&) = default;
};

struct Ratio {
  std::optional<Quantity> numerator{};
  std::optional<Quantity> denominator{};
  friend bool operator==(const Ratio&, const Ratio&) = default;
};

struct Reference;

struct Identifier {
  std::optional<std::string> use{};
  std::optional<CodeableConcept> type{};
  std::optional<std::string> system{};
  std::optional<std::string> value{};
  std::optional<Period> period{};
  Box<Reference> assigner{};
  friend bool operator==(const Identifier&, const Identifier&) = default;
};

struct Reference {
  std::optional<std::string> reference{};
  std::optional<std::string> type{};  // uri
  std::optional<Identifier> identifier{};
  std::optional<std::string> display{};
  friend bool operator==(const Reference&, const Reference&) = default;
};

struct Attachment {
  std::optional<std::string> contentType{};
  std::optional<std::string> language{};
  std::optional<std::string> data{};  // base64Binary
  std::optional<std::string> url{};
  std::optional<std::int32_t> size{};
  std::optional<std::string> hash{};
  std::optional<std::string> title{};
  std::optional<std::string> creation{};
  friend bool operator==(const Attachment&, const Attachment&) = default;
};

struct TimingRepeat {
  std::optional<Duration> boundsDuration{};
  std::optional<Range> boundsRange{};
  std::optional<Period> boundsPeriod{};
  std::optional<std::int32_t> count{};
  std::optional<std::int32_t> countMax{};
  std::optional<Decimal> duration{};
  std::optional<Decimal> durationMax{};
  std::optional<std::string> durationUnit{};
  std::optional<std::int32_t> frequency{};
  std::optional<std::int32_t> frequencyMax{};
  std::optional<Decimal> period{};
  std::optional<Decimal> periodMax{};
  std::optional<std::string> periodUnit{};
  std::vector<std::string> dayOfWeek{};
  std::vector<std::string> timeOfDay{};
  std::vector<std::string> when{};
  std::optional<std::int32_t> offset{};
  friend bool operator==(const TimingRepeat&, const TimingRepeat&) = default;
};

struct Timing {
  std::vector<std::string> event{};  // dateTime
  std::optional<TimingRepeat> repeat{};
  std::optional<CodeableConcept> code{};
  friend bool operator==(const Timing&, const Timing&) = default;
};

struct DosageDoseAndRate {
  std::optional<CodeableConcept> type{};
  std::optional<Range> doseRange{};
  std::optional<Quantity> doseQuantity{};
  std::optional<Ratio> rateRatio{};
  std::optional<Range> rateRange{};
  std::optional<Quantity> rateQuantity{};
  friend bool operator==(const DosageDoseAndRate&, const DosageDoseAndRate&) = default;
};

struct Dosage {
  std::optional<std::int32_t> sequence{};
  std::optional<std::string> text{};
  std::vector<CodeableConcept> additionalInstruction{};
  std::optional<std::string> patientInstruction{};
  std::optional<Timing> timing{};
  std::optional<bool> asNeededBoolean{};
  std::optional<CodeableConcept> asNeededCodeableConcept{};
  std::optional<CodeableConcept> site{};
  std::optional<CodeableConcept> route{};
  std::optional<CodeableConcept> method{};
  std::vector<DosageDoseAndRate> doseAndRate{};
  std::optional<Ratio> maxDosePerPeriod{};
  std::optional<Quantity> maxDosePerAdministration{};
  std::optional<Quantity> maxDosePerLifetime{};
  friend bool operator==(const Dosage&, const Dosage&) = default;
};

struct Annotation {
  std::optional<Reference> authorReference{};
  std::optional<std::string> authorString{};
  std::optional<std::string> time{};  // dateTime
  std::optional<std::string> text{};  // markdown
  friend bool operator==(const Annotation&, const Annotation&) = default;
};

struct Narrative {
  std::optional<std::string> status{};
  std::optional<std::string> div{};  // xhtml
  friend bool operator==(const Narrative&, const Narrative&) = default;
};

// Nested extensions come before `url` (StructureDefinition order).
struct Extension {
  std::vector<Extension> extension{};
  std::optional<std::string> url{};
  std::optional<bool> valueBoolean{};
  std::optional<std::string> valueCanonical{};
  std::optional<std::string> valueCode{};
  std::optional<std::string> valueDate{};
  std::optional<std::string> valueDateTime{};
  std::optional<Decimal> valueDecimal{};
  std::optional<std::string> valueId{};
  std::optional<std::string> valueInstant{};
  std::optional<std::int32_t> valueInteger{};
  std::optional<std::string> valueMarkdown{};
  std::optional<std::int32_t> valuePositiveInt{};
  std::optional<std::string> valueString{};
  std::optional<std::string> valueUri{};
  std::optional<std::string> valueUrl{};
  std::optional<CodeableConcept> valueCodeableConcept{};
  std::optional<Coding> valueCoding{};
  std::optional<Identifier> valueIdentifier{};
  std::optional<Period> valuePeriod{};
  std::optional<Quantity> valueQuantity{};
  std::optional<Reference> valueReference{};
  friend bool operator==(const Extension&, const Extension&) = default;
};

struct Meta {
  std::optional<std::string> versionId{};
  std::optional<std::string> lastUpdated{};  // instant
  std::optional<std::string> source{};
  std::vector<std::string> profile{};  // canonical
  std::vector<Coding> security{};
  std::vector<Coding> tag{};
  friend bool operator==(const Meta&, const Meta&) = default;
};

struct HumanName {
  std::optional<std::string> use{};
  std::optional<std::string> text{};
  std::optional<std::string> family{};
  std::vector<std::string> given{};
  std::vector<std::string> prefix{};
  std::vector<std::string> suffix{};
  std::optional<Period> period{};
  friend bool operator==(const HumanName&, const HumanName&) = default;
};

struct ContactPoint {
  std::optional<std::string> system{};
  std::optional<std::string> value{};
  std::optional<std::string> use{};
  std::optional<std::int32_t> rank{};
  std::optional<Period> period{};
  friend bool operator==(const ContactPoint&, const ContactPoint&) = default;
};

// ----------------------------------------------------------------- resources

// Elements of every Resource.
struct ResourceBase {
  std::optional<std::string> id{};
  std::optional<Meta> meta{};
  std::optional<std::string> implicitRules{};
  std::optional<std::string> language{};
  friend bool operator==(const ResourceBase&, const ResourceBase&) = default;
};

// Elements of every DomainResource (`contained` and `modifierExtension` are not
// modelled).
struct DomainResourceBase : ResourceBase {
  std::optional<Narrative> text{};
  std::vector<Extension> extension{};
  friend bool operator==(const DomainResourceBase&, const DomainResourceBase&) = default;
};

struct CarePlanActivityDetail {
  std::optional<std::string> kind{};
  std::vector<std::string> instantiatesCanonical{};
  std::vector<std::string> instantiatesUri{};
  std::optional<CodeableConcept> code{};
  std::vector<CodeableConcept> reasonCode{};
  std::vector<Reference> reasonReference{};
  std::vector<Reference> goal{};
  std::optional<std::string> status{};
  std::optional<CodeableConcept> statusReason{};
  std::optional<bool> doNotPerform{};
  std::optional<Timing> scheduledTiming{};
  std::optional<Period> scheduledPeriod{};
  std::optional<std::string> scheduledString{};
  std::optional<Reference> location{};
  std::vector<Reference> performer{};
  std::optional<CodeableConcept> productCodeableConcept{};
  std::optional<Reference> productReference{};
  std::optional<Quantity> dailyAmount{};
  std::optional<Quantity> quantity{};
  std::optional<std::string> description{};
  friend bool operator==(const CarePlanActivityDetail&, const CarePlanActivityDetail&) = default;
};

struct CarePlanActivity {
  std::vector<CodeableConcept> outcomeCodeableConcept{};
  std::vector<Reference> outcomeReference{};
  std::vector<Annotation> progress{};
  std::optional<Reference> reference{};
  std::optional<CarePlanActivityDetail> detail{};
  friend bool operator==(const CarePlanActivity&, const CarePlanActivity&) = default;
};

struct CarePlan : DomainResourceBase {
  static constexpr std::string_view kResourceType = "CarePlan";
  std::vector<Identifier> identifier{};
  std::vector<std::string> instantiatesCanonical{};
  std::vector<std::string> instantiatesUri{};
  std::vector<Reference> basedOn{};
  std::vector<Reference> replaces{};
  std::vector<Reference> partOf{};
  std::optional<std::string> status{};
  std::optional<std::string> intent{};
  std::vector<CodeableConcept> category{};
  std::optional<std::string> title{};
  std::optional<std::string> description{};
  std::optional<Reference> subject{};
  std::optional<Reference> encounter{};
  std::optional<Period> period{};
  std::optional<std::string> created{};
  std::optional<Reference> author{};
  std::vector<Reference> contributor{};
  std::vector<Reference> careTeam{};
  std::vector<Reference> addresses{};
  std::vector<Reference> supportingInfo{};
  std::vector<Reference> goal{};
  std::vector<CarePlanActivity> activity{};
  std::vector<Annotation> note{};
  friend bool operator==(const CarePlan&, const CarePlan&) = default;
};

struct GoalTarget {
  std::optional<CodeableConcept> measure{};
  std::optional<Quantity> detailQuantity{};
  std::optional<Range> detailRange{};
  std::optional<CodeableConcept> detailCodeableConcept{};
  std::optional<std::string> detailString{};
  std::optional<bool> detailBoolean{};
  std::optional<std::int32_t> detailInteger{};
  std::optional<Ratio> detailRatio{};
  std::optional<std::string> dueDate{};
  std::optional<Duration> dueDuration{};
  friend bool operator==(const GoalTarget&, const GoalTarget&) = default;
};

struct Goal : DomainResourceBase {
  static constexpr std::string_view kResourceType = "Goal";
  std::vector<Identifier> identifier{};
  std::optional<std::string> lifecycleStatus{};
  std::optional<CodeableConcept> achievementStatus{};
  std::vector<CodeableConcept> category{};
  std::optional<CodeableConcept> priority{};
  std::optional<CodeableConcept> description{};
  std::optional<Reference> subject{};
  std::optional<std::string> startDate{};
  std::optional<CodeableConcept> startCodeableConcept{};
  std::vector<GoalTarget> target{};
  std::optional<std::string> statusDate{};
  std::optional<std::string> statusReason{};
  std::optional<Reference> expressedBy{};
  std::vector<Reference> addresses{};
  std::vector<Annotation> note{};
  std::vector<CodeableConcept> outcomeCode{};
  std::vector<Reference> outcomeReference{};
  friend bool operator==(const Goal&, const Goal&) = default;
};

struct ObservationReferenceRange {
  std::optional<Quantity> low{};
  std::optional<Quantity> high{};
  std::optional<CodeableConcept> type{};
  std::vector<CodeableConcept> appliesTo{};
  std::optional<Range> age{};
  std::optional<std::string> text{};
  friend bool operator==(const ObservationReferenceRange&,
                         const ObservationReferenceRange&) = default;
};

// Observation.value[x] as modelled (SampledData is not).
struct ObservationValue {
  std::optional<Quantity> valueQuantity{};
  std::optional<CodeableConcept> valueCodeableConcept{};
  std::optional<std::string> valueString{};
  std::optional<bool> valueBoolean{};
  std::optional<std::int32_t> valueInteger{};
  std::optional<Range> valueRange{};
  std::optional<Ratio> valueRatio{};
  std::optional<std::string> valueTime{};
  std::optional<std::string> valueDateTime{};
  std::optional<Period> valuePeriod{};
  friend bool operator==(const ObservationValue&, const ObservationValue&) = default;
};

struct ObservationComponent : ObservationValue {
  std::optional<CodeableConcept> code{};
  // value[x] (inherited) comes here in element order.
  std::optional<CodeableConcept> dataAbsentReason{};
  std::vector<CodeableConcept> interpretation{};
  std::vector<ObservationReferenceRange> referenceRange{};
  friend bool operator==(const ObservationComponent&, const ObservationComponent&) = default;
};

struct Observation : DomainResourceBase, ObservationValue {
  static constexpr std::string_view kResourceType = "Observation";
  std::vector<Identifier> identifier{};
  std::vector<Reference> basedOn{};
  std::vector<Reference> partOf{};
  std::optional<std::string> status{};
  std::vector<CodeableConcept> category{};
  std::optional<CodeableConcept> code{};
  std::optional<Reference> subject{};
  std::vector<Reference> focus{};
  std::optional<Reference> encounter{};
  std::optional<std::string> effectiveDateTime{};
  std::optional<Period> effectivePeriod{};
  std::optional<Timing> effectiveTiming{};
  std::optional<std::string> effectiveInstant{};
  std::optional<std::string> issued{};  // instant
  std::vector<Reference> performer{};
  // value[x] (inherited) comes here in element order.
  std::optional<CodeableConcept> dataAbsentReason{};
  std::vector<CodeableConcept> interpretation{};
  std::vector<Annotation> note{};
  std::optional<CodeableConcept> bodySite{};
  std::optional<CodeableConcept> method{};
  std::optional<Reference> specimen{};
  std::optional<Reference> device{};
  std::vector<ObservationReferenceRange> referenceRange{};
  std::vector<Reference> hasMember{};
  std::vector<Reference> derivedFrom{};
  std::vector<ObservationComponent> component{};
  friend bool operator==(const Observation&, const Observation&) = default;
};

struct MedicationStatement : DomainResourceBase {
  static constexpr std::string_view kResourceType = "MedicationStatement";
  std::vector<Identifier> identifier{};
  std::vector<Reference> basedOn{};
  std::vector<Reference> partOf{};
  std::optional<std::string> status{};
  std::vector<CodeableConcept> statusReason{};
  std::optional<CodeableConcept> category{};
  std::optional<CodeableConcept> medicationCodeableConcept{};
  std::optional<Reference> medicationReference{};
  std::optional<Reference> subject{};
  std::optional<Reference> context{};
  std::optional<std::string> effectiveDateTime{};
  std::optional<Period> effectivePeriod{};
  std::optional<std::string> dateAsserted{};
  std::optional<Reference> informationSource{};
  std::vector<Reference> derivedFrom{};
  std::vector<CodeableConcept> reasonCode{};
  std::vector<Reference> reasonReference{};
  std::vector<Annotation> note{};
  std::vector<Dosage> dosage{};
  friend bool operator==(const MedicationStatement&, const MedicationStatement&) = default;
};

// dispenseRequest and substitution are not modelled.
struct MedicationRequest : DomainResourceBase {
  static constexpr std::string_view kResourceType = "MedicationRequest";
  std::vector<Identifier> identifier{};
  std::optional<std::string> status{};
  std::optional<CodeableConcept> statusReason{};
  std::optional<std::string> intent{};
  std::vector<CodeableConcept> category{};
  std::optional<std::string> priority{};
  std::optional<bool> doNotPerform{};
  std::optional<bool> reportedBoolean{};
  std::optional<Reference> reportedReference{};
  std::optional<CodeableConcept> medicationCodeableConcept{};
  std::optional<Reference> medicationReference{};
  std::optional<Reference> subject{};
  std::optional<Reference> encounter{};
  std::vector<Reference> supportingInformation{};
  std::optional<std::string> authoredOn{};
  std::optional<Reference> requester{};
  std::optional<Reference> performer{};
  std::optional<CodeableConcept> performerType{};
  std::optional<Reference> recorder{};
  std::vector<CodeableConcept> reasonCode{};
  std::vector<Reference> reasonReference{};
  std::vector<std::string> instantiatesCanonical{};
  std::vector<std::string> instantiatesUri{};
  std::vector<Reference> basedOn{};
  std::optional<Identifier> groupIdentifier{};
  std::optional<CodeableConcept> courseOfTherapyType{};
  std::vector<Reference> insurance{};
  std::vector<Annotation> note{};
  std::vector<Dosage> dosageInstruction{};
  std::optional<Reference> priorPrescription{};
  std::vector<Reference> detectedIssue{};
  std::vector<Reference> eventHistory{};
  friend bool operator==(const MedicationRequest&, const MedicationRequest&) = default;
};

struct CommunicationPayload {
  std::optional<std::string> contentString{};
  std::optional<Attachment> contentAttachment{};
  std::optional<Reference> contentReference{};
  friend bool operator==(const CommunicationPayload&, const CommunicationPayload&) = default;
};

struct Communication : DomainResourceBase {
  static constexpr std::string_view kResourceType = "Communication";
  std::vector<Identifier> identifier{};
  std::vector<std::string> instantiatesCanonical{};
  std::vector<std::string> instantiatesUri{};
  std::vector<Reference> basedOn{};
  std::vector<Reference> partOf{};
  std::vector<Reference> inResponseTo{};
  std::optional<std::string> status{};
  std::optional<CodeableConcept> statusReason{};
  std::vector<CodeableConcept> category{};
  std::optional<std::string> priority{};
  std::vector<CodeableConcept> medium{};
  std::optional<Reference> subject{};
  std::optional<CodeableConcept> topic{};
  std::vector<Reference> about{};
  std::optional<Reference> encounter{};
  std::optional<std::string> sent{};
  std::optional<std::string> received{};
  std::vector<Reference> recipient{};
  std::optional<Reference> sender{};
  std::vector<CodeableConcept> reasonCode{};
  std::vector<Reference> reasonReference{};
  std::vector<CommunicationPayload> payload{};
  std::vector<Annotation> note{};
  friend bool operator==(const Communication&, const Communication&) = default;
};

struct ProvenanceAgent {
  std::optional<CodeableConcept> type{};
  std::vector<CodeableConcept> role{};
  std::optional<Reference> who{};
  std::optional<Reference> onBehalfOf{};
  friend bool operator==(const ProvenanceAgent&, const ProvenanceAgent&) = default;
};

struct ProvenanceEntity {
  std::optional<std::string> role{};
  std::optional<Reference> what{};
  friend bool operator==(const ProvenanceEntity&, const ProvenanceEntity&) = default;
};

// signature and entity.agent are not modelled.
struct Provenance : DomainResourceBase {
  static constexpr std::string_view kResourceType = "Provenance";
  std::vector<Reference> target{};
  std::optional<Period> occurredPeriod{};
  std::optional<std::string> occurredDateTime{};
  std::optional<std::string> recorded{};  // instant
  std::vector<std::string> policy{};
  std::optional<Reference> location{};
  std::vector<CodeableConcept> reason{};
  std::optional<CodeableConcept> activity{};
  std::vector<ProvenanceAgent> agent{};
  std::vector<ProvenanceEntity> entity{};
  friend bool operator==(const Provenance&, const Provenance&) = default;
};

struct OperationOutcomeIssue {
  std::optional<std::string> severity{};
  std::optional<std::string> code{};
  std::optional<CodeableConcept> details{};
  std::optional<std::string> diagnostics{};
  std::vector<std::string> location{};
  std::vector<std::string> expression{};
  friend bool operator==(const OperationOutcomeIssue&, const OperationOutcomeIssue&) = default;
};

struct OperationOutcome : DomainResourceBase {
  static constexpr std::string_view kResourceType = "OperationOutcome";
  std::vector<OperationOutcomeIssue> issue{};
  friend bool operator==(const OperationOutcome&, const OperationOutcome&) = default;
};

// Demographics beyond these (address, contact, photo...) are not modelled.
struct Patient : DomainResourceBase {
  static constexpr std::string_view kResourceType = "Patient";
  std::vector<Identifier> identifier{};
  std::optional<bool> active{};
  std::vector<HumanName> name{};
  std::vector<ContactPoint> telecom{};
  std::optional<std::string> gender{};
  std::optional<std::string> birthDate{};
  std::optional<bool> deceasedBoolean{};
  std::optional<std::string> deceasedDateTime{};
  std::vector<Reference> generalPractitioner{};
  std::optional<Reference> managingOrganization{};
  friend bool operator==(const Patient&, const Patient&) = default;
};

// A resource of a type this model does not cover, kept verbatim.
struct RawResource {
  Json json{};
  friend bool operator==(const RawResource&, const RawResource&) = default;
};

struct AnyResource;

struct BundleLink {
  std::optional<std::string> relation{};
  std::optional<std::string> url{};
  friend bool operator==(const BundleLink&, const BundleLink&) = default;
};

struct BundleEntrySearch {
  std::optional<std::string> mode{};
  std::optional<Decimal> score{};
  friend bool operator==(const BundleEntrySearch&, const BundleEntrySearch&) = default;
};

struct BundleEntryRequest {
  std::optional<std::string> method{};
  std::optional<std::string> url{};
  std::optional<std::string> ifNoneMatch{};
  std::optional<std::string> ifModifiedSince{};  // instant
  std::optional<std::string> ifMatch{};
  std::optional<std::string> ifNoneExist{};
  friend bool operator==(const BundleEntryRequest&, const BundleEntryRequest&) = default;
};

struct BundleEntryResponse {
  std::optional<std::string> status{};
  std::optional<std::string> location{};
  std::optional<std::string> etag{};
  std::optional<std::string> lastModified{};  // instant
  std::optional<OperationOutcome> outcome{};
  friend bool operator==(const BundleEntryResponse&, const BundleEntryResponse&) = default;
};

struct BundleEntry {
  std::vector<BundleLink> link{};
  std::optional<std::string> fullUrl{};
  Box<AnyResource> resource{};
  std::optional<BundleEntrySearch> search{};
  std::optional<BundleEntryRequest> request{};
  std::optional<BundleEntryResponse> response{};
  friend bool operator==(const BundleEntry&, const BundleEntry&) = default;
};

// Bundle is a Resource, not a DomainResource (no text, no extension).
// signature is not modelled.
struct Bundle : ResourceBase {
  static constexpr std::string_view kResourceType = "Bundle";
  std::optional<Identifier> identifier{};
  std::optional<std::string> type{};
  std::optional<std::string> timestamp{};  // instant
  std::optional<std::int32_t> total{};
  std::vector<BundleLink> link{};
  std::vector<BundleEntry> entry{};
  friend bool operator==(const Bundle&, const Bundle&) = default;
};

// Any resource: one of the modelled types, or RawResource for the rest.
struct AnyResource {
  std::variant<Bundle, CarePlan, Communication, Goal, MedicationRequest, MedicationStatement,
               Observation, OperationOutcome, Patient, Provenance, RawResource>
      value{};

  // The alternative held, or nullptr.
  template <typename T>
  const T* get() const {
    return std::get_if<T>(&value);
  }
  template <typename T>
  T* get() {
    return std::get_if<T>(&value);
  }
  // "Observation"..., the raw JSON's resourceType for RawResource (empty if
  // it has none).
  std::string_view resourceType() const;

  friend bool operator==(const AnyResource&, const AnyResource&) = default;
};

// ------------------------------------------------------------ parse/serialise

// Parses `json` as a T (any struct above, e.g. parseAs<Observation>), appending
// every problem to `issues` (non-null) with paths rooted at `path` (default:
// T::kResourceType for resources, empty for data types). Returns nullopt only
// when `json` is not an object or, for a resource, its resourceType is missing
// or different; otherwise the value, from which ill-typed elements are dropped.
// Check hasErrors(*issues) to know whether the input was fully understood.
template <typename T>
std::optional<T> parseAs(const Json& json, Issues* issues, std::string_view path = {});

// Parses any resource, dispatching on resourceType. An unknown resourceType
// gives a RawResource holding `json` and a warning ("not-supported") at
// `<path>.resourceType`; a missing or non-string resourceType or a non-object
// gives an error and nullopt. `path` defaults to the resourceType.
std::optional<AnyResource> parseResource(const Json& json, Issues* issues,
                                         std::string_view path = {});

// Named shorthands for parseAs<T>.
inline std::optional<Bundle> parseBundle(const Json& j, Issues* issues,
                                         std::string_view path = {}) {
  return parseAs<Bundle>(j, issues, path);
}
inline std::optional<CarePlan> parseCarePlan(const Json& j, Issues* issues,
                                             std::string_view path = {}) {
  return parseAs<CarePlan>(j, issues, path);
}
inline std::optional<Communication> parseCommunication(const Json& j, Issues* issues,
                                                       std::string_view path = {}) {
  return parseAs<Communication>(j, issues, path);
}
inline std::optional<Goal> parseGoal(const Json& j, Issues* issues, std::string_view path = {}) {
  return parseAs<Goal>(j, issues, path);
}
inline std::optional<MedicationRequest> parseMedicationRequest(const Json& j, Issues* issues,
                                                               std::string_view path = {}) {
  return parseAs<MedicationRequest>(j, issues, path);
}
inline std::optional<MedicationStatement> parseMedicationStatement(const Json& j, Issues* issues,
                                                                   std::string_view path = {}) {
  return parseAs<MedicationStatement>(j, issues, path);
}
inline std::optional<Observation> parseObservation(const Json& j, Issues* issues,
                                                   std::string_view path = {}) {
  return parseAs<Observation>(j, issues, path);
}
inline std::optional<OperationOutcome> parseOperationOutcome(const Json& j, Issues* issues,
                                                             std::string_view path = {}) {
  return parseAs<OperationOutcome>(j, issues, path);
}
inline std::optional<Patient> parsePatient(const Json& j, Issues* issues,
                                           std::string_view path = {}) {
  return parseAs<Patient>(j, issues, path);
}
inline std::optional<Provenance> parseProvenance(const Json& j, Issues* issues,
                                                 std::string_view path = {}) {
  return parseAs<Provenance>(j, issues, path);
}

// Serialises any struct above (resources get resourceType first), elements in
// StructureDefinition order, absent/empty ones omitted. Never fails.
template <typename T>
Json toJson(const T& value);
Json toJson(const AnyResource& resource);

}  // namespace inloop::fhir
