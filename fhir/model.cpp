#include "fhir/model.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>
#include <system_error>
#include <type_traits>

#include "fhir/primitives.h"

namespace inloop::fhir {

// ------------------------------------------------------------------- Decimal

std::optional<Decimal> Decimal::fromText(std::string_view text) {
  if (!isValidDecimal(text)) return std::nullopt;
  return Decimal(std::string(text));
}

std::optional<Decimal> Decimal::fromDouble(double value) {
  if (!std::isfinite(value)) return std::nullopt;
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return Decimal(std::string(buf.data(), end));
}

std::optional<Decimal> Decimal::fromDouble(double value, int fractionDigits) {
  if (!std::isfinite(value) || std::fabs(value) >= 1e21 || fractionDigits < 0 ||
      fractionDigits > 17) {
    return std::nullopt;
  }
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value,
                                 std::chars_format::fixed, fractionDigits);
  if (ec != std::errc()) return std::nullopt;
  return Decimal(std::string(buf.data(), end));
}

Decimal Decimal::fromInt(std::int64_t value) { return Decimal(std::to_string(value)); }

double Decimal::toDouble() const {
  double out = 0;
  std::from_chars(text_.data(), text_.data() + text_.size(), out);
  return out;
}

namespace {

// ------------------------------------------------------------ field visitors
//
// Each struct's elements are listed once, in StructureDefinition order, by a
// `fields(visitor, value)` overload. The same list drives parsing (Reader) and
// serialising (Writer). `V::Ref<T>` is `T&` for the Reader and `const T&` for
// the Writer, so one overload per struct serves both.

template <typename V, typename T>
using Ref = typename V::template Ref<T>;

std::string joinPath(std::string_view base, std::string_view name) {
  std::string out(base);
  if (!out.empty()) out += '.';
  out += name;
  return out;
}

std::string itemPath(const std::string& base, std::size_t index) {
  return base + "[" + std::to_string(index) + "]";
}

const char* jsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::Type::kNull:
      return "null";
    case Json::Type::kBool:
      return "boolean";
    case Json::Type::kNumber:
      return "number";
    case Json::Type::kString:
      return "string";
    case Json::Type::kArray:
      return "array";
    case Json::Type::kObject:
      return "object";
  }
  return "value";
}

bool typeError(const Json& j, const std::string& path, Issues* issues, const char* expected) {
  return addError(issues, "structure", path,
                  std::string("expected ") + expected + ", found " + jsonTypeName(j));
}

template <typename T>
constexpr bool kIsResource = requires {
  T::kResourceType;
};

// decode: one JSON value into one C++ value; false (with an issue) when the
// JSON type is wrong.
bool decode(const Json& j, const std::string& path, Issues* issues, std::string& out) {
  if (!j.isString()) return typeError(j, path, issues, "a string");
  out = j.text();
  return true;
}

bool decode(const Json& j, const std::string& path, Issues* issues, bool& out) {
  if (!j.isBool()) return typeError(j, path, issues, "a boolean");
  out = j.asBool();
  return true;
}

bool decode(const Json& j, const std::string& path, Issues* issues, std::int32_t& out) {
  if (!j.isNumber()) return typeError(j, path, issues, "an integer");
  if (!isValidInteger(j.text())) {
    return addError(issues, "structure", path, "expected a 32-bit integer, found " + j.text());
  }
  out = static_cast<std::int32_t>(*j.toInt64());
  return true;
}

bool decode(const Json& j, const std::string& path, Issues* issues, Decimal& out) {
  if (!j.isNumber()) return typeError(j, path, issues, "a number");
  auto d = Decimal::fromText(j.text());
  if (!d) return addError(issues, "structure", path, "not a FHIR decimal: " + j.text());
  out = std::move(*d);
  return true;
}

bool decode(const Json& j, const std::string& path, Issues* issues, AnyResource& out);

template <typename T>
bool decode(const Json& j, const std::string& path, Issues* issues, T& out);

class Reader {
 public:
  template <typename T>
  using Ref = T&;

  Reader(const Json& object, std::string path, Issues* issues)
      : object_(object),
        path_(std::move(path)),
        issues_(issues),
        seen_(object.members().size(), false) {}

  template <typename T>
  void field(std::string_view name, std::optional<T>& out) {
    const Json* j = take(name);
    if (j == nullptr) return;
    T value{};
    if (decode(*j, joinPath(path_, name), issues_, value)) out = std::move(value);
  }

  template <typename T>
  void field(std::string_view name, Box<T>& out) {
    const Json* j = take(name);
    if (j == nullptr) return;
    T value{};
    if (decode(*j, joinPath(path_, name), issues_, value)) out = std::move(value);
  }

  template <typename T>
  void field(std::string_view name, std::vector<T>& out) {
    const Json* j = take(name);
    if (j == nullptr) return;
    std::string path = joinPath(path_, name);
    if (!j->isArray()) {
      typeError(*j, path, issues_, "an array");
      return;
    }
    if (j->items().empty()) addError(issues_, "structure", path, "arrays must not be empty");
    for (std::size_t i = 0; i < j->items().size(); ++i) {
      T value{};
      if (decode(j->items()[i], itemPath(path, i), issues_, value)) out.push_back(std::move(value));
    }
  }

  // One type of a choice element `base[x]`; at most one per base may appear.
  template <typename T>
  void choice(std::string_view base, std::string_view type, std::optional<T>& out) {
    std::string name = std::string(base) + std::string(type);
    if (object_.find(name) != nullptr) {
      for (const auto& [prevBase, prevName] : choices_) {
        if (prevBase == base) {
          addError(issues_, "structure", joinPath(path_, name),
                   "only one of " + prevName + " and " + name + " may appear");
        }
      }
      choices_.emplace_back(std::string(base), name);
    }
    field(name, out);
  }

  // Reports every member that no field() call asked for.
  void finish() {
    const auto& members = object_.members();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (seen_[i]) continue;
      const std::string& key = members[i].first;
      addError(issues_, "structure", joinPath(path_, key),
               key.starts_with('_') ? "primitive extensions and ids are not supported"
                                    : "unknown element '" + key + "'");
    }
  }

  const Json* take(std::string_view name) {
    const auto& members = object_.members();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (members[i].first == name) {
        seen_[i] = true;
        return &members[i].second;
      }
    }
    return nullptr;
  }

  const std::string& path() const { return path_; }
  Issues* issues() const { return issues_; }

 private:
  const Json& object_;
  std::string path_;
  Issues* issues_;
  std::vector<bool> seen_;
  std::vector<std::pair<std::string, std::string>> choices_;
};

Json encode(const std::string& v) { return Json::string(v); }
Json encode(bool v) { return Json::boolean(v); }
Json encode(std::int32_t v) { return Json::number(std::int64_t{v}); }
Json encode(const Decimal& v) { return Json::numberText(v.text()); }
Json encode(const AnyResource& v);
template <typename T>
Json encode(const T& v);

class Writer {
 public:
  template <typename T>
  using Ref = const T&;

  template <typename T>
  void field(std::string_view name, const std::optional<T>& v) {
    if (v) add(name, encode(*v));
  }

  template <typename T>
  void field(std::string_view name, const Box<T>& v) {
    if (v) add(name, encode(*v));
  }

  template <typename T>
  void field(std::string_view name, const std::vector<T>& v) {
    if (v.empty()) return;
    Json array = Json::array();
    for (const T& item : v) array.push(encode(item));
    add(name, std::move(array));
  }

  template <typename T>
  void choice(std::string_view base, std::string_view type, const std::optional<T>& v) {
    if (v) add(std::string(base) + std::string(type), encode(*v));
  }

  void add(std::string_view name, Json value) {
    object_.members().emplace_back(std::string(name), std::move(value));
  }

  Json take() { return std::move(object_); }

 private:
  Json object_ = Json::object();
};

// ------------------------------------------------------------ element lists

template <typename V>
void fields(V& v, Ref<V, Coding> x) {
  v.field("system", x.system);
  v.field("version", x.version);
  v.field("code", x.code);
  v.field("display", x.display);
  v.field("userSelected", x.userSelected);
}

template <typename V>
void fields(V& v, Ref<V, CodeableConcept> x) {
  v.field("coding", x.coding);
  v.field("text", x.text);
}

template <typename V>
void fields(V& v, Ref<V, Period> x) {
  v.field("start", x.start);
  v.field("end", x.end);
}

template <typename V>
void fields(V& v, Ref<V, Quantity> x) {
  v.field("value", x.value);
  v.field("comparator", x.comparator);
  v.field("unit", x.unit);
  v.field("system", x.system);
  v.field("code", x.code);
}

template <typename V>
void fields(V& v, Ref<V, Range> x) {
  v.field("low", x.low);
  v.field("high", x.high);
}

template <typename V>
void fields(V& v, Ref<V, Ratio> x) {
  v.field("numerator", x.numerator);
  v.field("denominator", x.denominator);
}

template <typename V>
void fields(V& v, Ref<V, Identifier> x) {
  v.field("use", x.use);
  v.field("type", x.type);
  v.field("system", x.system);
  v.field("value", x.value);
  v.field("period", x.period);
  v.field("assigner", x.assigner);
}

template <typename V>
void fields(V& v, Ref<V, Reference> x) {
  v.field("reference", x.reference);
  v.field("type", x.type);
  v.field("identifier", x.identifier);
  v.field("display", x.display);
}

template <typename V>
void fields(V& v, Ref<V, Attachment> x) {
  v.field("contentType", x.contentType);
  v.field("language", x.language);
  v.field("data", x.data);
  v.field("url", x.url);
  v.field("size", x.size);
  v.field("hash", x.hash);
  v.field("title", x.title);
  v.field("creation", x.creation);
}

template <typename V>
void fields(V& v, Ref<V, TimingRepeat> x) {
  v.choice("bounds", "Duration", x.boundsDuration);
  v.choice("bounds", "Range", x.boundsRange);
  v.choice("bounds", "Period", x.boundsPeriod);
  v.field("count", x.count);
  v.field("countMax", x.countMax);
  v.field("duration", x.duration);
  v.field("durationMax", x.durationMax);
  v.field("durationUnit", x.durationUnit);
  v.field("frequency", x.frequency);
  v.field("frequencyMax", x.frequencyMax);
  v.field("period", x.period);
  v.field("periodMax", x.periodMax);
  v.field("periodUnit", x.periodUnit);
  v.field("dayOfWeek", x.dayOfWeek);
  v.field("timeOfDay", x.timeOfDay);
  v.field("when", x.when);
  v.field("offset", x.offset);
}

template <typename V>
void fields(V& v, Ref<V, Timing> x) {
  v.field("event", x.event);
  v.field("repeat", x.repeat);
  v.field("code", x.code);
}

template <typename V>
void fields(V& v, Ref<V, DosageDoseAndRate> x) {
  v.field("type", x.type);
  v.choice("dose", "Range", x.doseRange);
  v.choice("dose", "Quantity", x.doseQuantity);
  v.choice("rate", "Ratio", x.rateRatio);
  v.choice("rate", "Range", x.rateRange);
  v.choice("rate", "Quantity", x.rateQuantity);
}

template <typename V>
void fields(V& v, Ref<V, Dosage> x) {
  v.field("sequence", x.sequence);
  v.field("text", x.text);
  v.field("additionalInstruction", x.additionalInstruction);
  v.field("patientInstruction", x.patientInstruction);
  v.field("timing", x.timing);
  v.choice("asNeeded", "Boolean", x.asNeededBoolean);
  v.choice("asNeeded", "CodeableConcept", x.asNeededCodeableConcept);
  v.field("site", x.site);
  v.field("route", x.route);
  v.field("method", x.method);
  v.field("doseAndRate", x.doseAndRate);
  v.field("maxDosePerPeriod", x.maxDosePerPeriod);
  v.field("maxDosePerAdministration", x.maxDosePerAdministration);
  v.field("maxDosePerLifetime", x.maxDosePerLifetime);
}

template <typename V>
void fields(V& v, Ref<V, Annotation> x) {
  v.choice("author", "Reference", x.authorReference);
  v.choice("author", "String", x.authorString);
  v.field("time", x.time);
  v.field("text", x.text);
}

template <typename V>
void fields(V& v, Ref<V, Narrative> x) {
  v.field("status", x.status);
  v.field("div", x.div);
}

template <typename V>
void fields(V& v, Ref<V, Extension> x) {
  v.field("extension", x.extension);
  v.field("url", x.url);
  v.choice("value", "Boolean", x.valueBoolean);
  v.choice("value", "Canonical", x.valueCanonical);
  v.choice("value", "Code", x.valueCode);
  v.choice("value", "Date", x.valueDate);
  v.choice("value", "DateTime", x.valueDateTime);
  v.choice("value", "Decimal", x.valueDecimal);
  v.choice("value", "Id", x.valueId);
  v.choice("value", "Instant", x.valueInstant);
  v.choice("value", "Integer", x.valueInteger);
  v.choice("value", "Markdown", x.valueMarkdown);
  v.choice("value", "PositiveInt", x.valuePositiveInt);
  v.choice("value", "String", x.valueString);
  v.choice("value", "Uri", x.valueUri);
  v.choice("value", "Url", x.valueUrl);
  v.choice("value", "CodeableConcept", x.valueCodeableConcept);
  v.choice("value", "Coding", x.valueCoding);
  v.choice("value", "Identifier", x.valueIdentifier);
  v.choice("value", "Period", x.valuePeriod);
  v.choice("value", "Quantity", x.valueQuantity);
  v.choice("value", "Reference", x.valueReference);
}

template <typename V>
void fields(V& v, Ref<V, Meta> x) {
  v.field("versionId", x.versionId);
  v.field("lastUpdated", x.lastUpdated);
  v.field("source", x.source);
  v.field("profile", x.profile);
  v.field("security", x.security);
  v.field("tag", x.tag);
}

template <typename V>
void fields(V& v, Ref<V, HumanName> x) {
  v.field("use", x.use);
  v.field("text", x.text);
  v.field("family", x.family);
  v.field("given", x.given);
  v.field("prefix", x.prefix);
  v.field("suffix", x.suffix);
  v.field("period", x.period);
}

template <typename V>
void fields(V& v, Ref<V, ContactPoint> x) {
  v.field("system", x.system);
  v.field("value", x.value);
  v.field("use", x.use);
  v.field("rank", x.rank);
  v.field("period", x.period);
}

// Shared element runs, called from the resources' lists.

template <typename V>
void resourceFields(V& v, Ref<V, ResourceBase> x) {
  v.field("id", x.id);
  v.field("meta", x.meta);
  v.field("implicitRules", x.implicitRules);
  v.field("language", x.language);
}

template <typename V>
void domainResourceFields(V& v, Ref<V, DomainResourceBase> x) {
  resourceFields(v, x);
  v.field("text", x.text);
  v.field("extension", x.extension);
}

template <typename V>
void observationValueFields(V& v, Ref<V, ObservationValue> x) {
  v.choice("value", "Quantity", x.valueQuantity);
  v.choice("value", "CodeableConcept", x.valueCodeableConcept);
  v.choice("value", "String", x.valueString);
  v.choice("value", "Boolean", x.valueBoolean);
  v.choice("value", "Integer", x.valueInteger);
  v.choice("value", "Range", x.valueRange);
  v.choice("value", "Ratio", x.valueRatio);
  v.choice("value", "Time", x.valueTime);
  v.choice("value", "DateTime", x.valueDateTime);
  v.choice("value", "Period", x.valuePeriod);
}

template <typename V>
void fields(V& v, Ref<V, CarePlanActivityDetail> x) {
  v.field("kind", x.kind);
  v.field("instantiatesCanonical", x.instantiatesCanonical);
  v.field("instantiatesUri", x.instantiatesUri);
  v.field("code", x.code);
  v.field("reasonCode", x.reasonCode);
  v.field("reasonReference", x.reasonReference);
  v.field("goal", x.goal);
  v.field("status", x.status);
  v.field("statusReason", x.statusReason);
  v.field("doNotPerform", x.doNotPerform);
  v.choice("scheduled", "Timing", x.scheduledTiming);
  v.choice("scheduled", "Period", x.scheduledPeriod);
  v.choice("scheduled", "String", x.scheduledString);
  v.field("location", x.location);
  v.field("performer", x.performer);
  v.choice("product", "CodeableConcept", x.productCodeableConcept);
  v.choice("product", "Reference", x.productReference);
  v.field("dailyAmount", x.dailyAmount);
  v.field("quantity", x.quantity);
  v.field("description", x.description);
}

template <typename V>
void fields(V& v, Ref<V, CarePlanActivity> x) {
  v.field("outcomeCodeableConcept", x.outcomeCodeableConcept);
  v.field("outcomeReference", x.outcomeReference);
  v.field("progress", x.progress);
  v.field("reference", x.reference);
  v.field("detail", x.detail);
}

template <typename V>
void fields(V& v, Ref<V, CarePlan> x) {
  domainResourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("instantiatesCanonical", x.instantiatesCanonical);
  v.field("instantiatesUri", x.instantiatesUri);
  v.field("basedOn", x.basedOn);
  v.field("replaces", x.replaces);
  v.field("partOf", x.partOf);
  v.field("status", x.status);
  v.field("intent", x.intent);
  v.field("category", x.category);
  v.field("title", x.title);
  v.field("description", x.description);
  v.field("subject", x.subject);
  v.field("encounter", x.encounter);
  v.field("period", x.period);
  v.field("created", x.created);
  v.field("author", x.author);
  v.field("contributor", x.contributor);
  v.field("careTeam", x.careTeam);
  v.field("addresses", x.addresses);
  v.field("supportingInfo", x.supportingInfo);
  v.field("goal", x.goal);
  v.field("activity", x.activity);
  v.field("note", x.note);
}

template <typename V>
void fields(V& v, Ref<V, GoalTarget> x) {
  v.field("measure", x.measure);
  v.choice("detail", "Quantity", x.detailQuantity);
  v.choice("detail", "Range", x.detailRange);
  v.choice("detail", "CodeableConcept", x.detailCodeableConcept);
  v.choice("detail", "String", x.detailString);
  v.choice("detail", "Boolean", x.detailBoolean);
  v.choice("detail", "Integer", x.detailInteger);
  v.choice("detail", "Ratio", x.detailRatio);
  v.choice("due", "Date", x.dueDate);
  v.choice("due", "Duration", x.dueDuration);
}

template <typename V>
void fields(V& v, Ref<V, Goal> x) {
  domainResourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("lifecycleStatus", x.lifecycleStatus);
  v.field("achievementStatus", x.achievementStatus);
  v.field("category", x.category);
  v.field("priority", x.priority);
  v.field("description", x.description);
  v.field("subject", x.subject);
  v.choice("start", "Date", x.startDate);
  v.choice("start", "CodeableConcept", x.startCodeableConcept);
  v.field("target", x.target);
  v.field("statusDate", x.statusDate);
  v.field("statusReason", x.statusReason);
  v.field("expressedBy", x.expressedBy);
  v.field("addresses", x.addresses);
  v.field("note", x.note);
  v.field("outcomeCode", x.outcomeCode);
  v.field("outcomeReference", x.outcomeReference);
}

template <typename V>
void fields(V& v, Ref<V, ObservationReferenceRange> x) {
  v.field("low", x.low);
  v.field("high", x.high);
  v.field("type", x.type);
  v.field("appliesTo", x.appliesTo);
  v.field("age", x.age);
  v.field("text", x.text);
}

template <typename V>
void fields(V& v, Ref<V, ObservationComponent> x) {
  v.field("code", x.code);
  observationValueFields(v, x);
  v.field("dataAbsentReason", x.dataAbsentReason);
  v.field("interpretation", x.interpretation);
  v.field("referenceRange", x.referenceRange);
}

template <typename V>
void fields(V& v, Ref<V, Observation> x) {
  domainResourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("basedOn", x.basedOn);
  v.field("partOf", x.partOf);
  v.field("status", x.status);
  v.field("category", x.category);
  v.field("code", x.code);
  v.field("subject", x.subject);
  v.field("focus", x.focus);
  v.field("encounter", x.encounter);
  v.choice("effective", "DateTime", x.effectiveDateTime);
  v.choice("effective", "Period", x.effectivePeriod);
  v.choice("effective", "Timing", x.effectiveTiming);
  v.choice("effective", "Instant", x.effectiveInstant);
  v.field("issued", x.issued);
  v.field("performer", x.performer);
  observationValueFields(v, x);
  v.field("dataAbsentReason", x.dataAbsentReason);
  v.field("interpretation", x.interpretation);
  v.field("note", x.note);
  v.field("bodySite", x.bodySite);
  v.field("method", x.method);
  v.field("specimen", x.specimen);
  v.field("device", x.device);
  v.field("referenceRange", x.referenceRange);
  v.field("hasMember", x.hasMember);
  v.field("derivedFrom", x.derivedFrom);
  v.field("component", x.component);
}

template <typename V>
void fields(V& v, Ref<V, MedicationStatement> x) {
  domainResourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("basedOn", x.basedOn);
  v.field("partOf", x.partOf);
  v.field("status", x.status);
  v.field("statusReason", x.statusReason);
  v.field("category", x.category);
  v.choice("medication", "CodeableConcept", x.medicationCodeableConcept);
  v.choice("medication", "Reference", x.medicationReference);
  v.field("subject", x.subject);
  v.field("context", x.context);
  v.choice("effective", "DateTime", x.effectiveDateTime);
  v.choice("effective", "Period", x.effectivePeriod);
  v.field("dateAsserted", x.dateAsserted);
  v.field("informationSource", x.informationSource);
  v.field("derivedFrom", x.derivedFrom);
  v.field("reasonCode", x.reasonCode);
  v.field("reasonReference", x.reasonReference);
  v.field("note", x.note);
  v.field("dosage", x.dosage);
}

template <typename V>
void fields(V& v, Ref<V, MedicationRequest> x) {
  domainResourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("status", x.status);
  v.field("statusReason", x.statusReason);
  v.field("intent", x.intent);
  v.field("category", x.category);
  v.field("priority", x.priority);
  v.field("doNotPerform", x.doNotPerform);
  v.choice("reported", "Boolean", x.reportedBoolean);
  v.choice("reported", "Reference", x.reportedReference);
  v.choice("medication", "CodeableConcept", x.medicationCodeableConcept);
  v.choice("medication", "Reference", x.medicationReference);
  v.field("subject", x.subject);
  v.field("encounter", x.encounter);
  v.field("supportingInformation", x.supportingInformation);
  v.field("authoredOn", x.authoredOn);
  v.field("requester", x.requester);
  v.field("performer", x.performer);
  v.field("performerType", x.performerType);
  v.field("recorder", x.recorder);
  v.field("reasonCode", x.reasonCode);
  v.field("reasonReference", x.reasonReference);
  v.field("instantiatesCanonical", x.instantiatesCanonical);
  v.field("instantiatesUri", x.instantiatesUri);
  v.field("basedOn", x.basedOn);
  v.field("groupIdentifier", x.groupIdentifier);
  v.field("courseOfTherapyType", x.courseOfTherapyType);
  v.field("insurance", x.insurance);
  v.field("note", x.note);
  v.field("dosageInstruction", x.dosageInstruction);
  v.field("priorPrescription", x.priorPrescription);
  v.field("detectedIssue", x.detectedIssue);
  v.field("eventHistory", x.eventHistory);
}

template <typename V>
void fields(V& v, Ref<V, CommunicationPayload> x) {
  v.choice("content", "String", x.contentString);
  v.choice("content", "Attachment", x.contentAttachment);
  v.choice("content", "Reference", x.contentReference);
}

template <typename V>
void fields(V& v, Ref<V, Communication> x) {
  domainResourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("instantiatesCanonical", x.instantiatesCanonical);
  v.field("instantiatesUri", x.instantiatesUri);
  v.field("basedOn", x.basedOn);
  v.field("partOf", x.partOf);
  v.field("inResponseTo", x.inResponseTo);
  v.field("status", x.status);
  v.field("statusReason", x.statusReason);
  v.field("category", x.category);
  v.field("priority", x.priority);
  v.field("medium", x.medium);
  v.field("subject", x.subject);
  v.field("topic", x.topic);
  v.field("about", x.about);
  v.field("encounter", x.encounter);
  v.field("sent", x.sent);
  v.field("received", x.received);
  v.field("recipient", x.recipient);
  v.field("sender", x.sender);
  v.field("reasonCode", x.reasonCode);
  v.field("reasonReference", x.reasonReference);
  v.field("payload", x.payload);
  v.field("note", x.note);
}

template <typename V>
void fields(V& v, Ref<V, ProvenanceAgent> x) {
  v.field("type", x.type);
  v.field("role", x.role);
  v.field("who", x.who);
  v.field("onBehalfOf", x.onBehalfOf);
}

template <typename V>
void fields(V& v, Ref<V, ProvenanceEntity> x) {
  v.field("role", x.role);
  v.field("what", x.what);
}

template <typename V>
void fields(V& v, Ref<V, Provenance> x) {
  domainResourceFields(v, x);
  v.field("target", x.target);
  v.choice("occurred", "Period", x.occurredPeriod);
  v.choice("occurred", "DateTime", x.occurredDateTime);
  v.field("recorded", x.recorded);
  v.field("policy", x.policy);
  v.field("location", x.location);
  v.field("reason", x.reason);
  v.field("activity", x.activity);
  v.field("agent", x.agent);
  v.field("entity", x.entity);
}

template <typename V>
void fields(V& v, Ref<V, OperationOutcomeIssue> x) {
  v.field("severity", x.severity);
  v.field("code", x.code);
  v.field("details", x.details);
  v.field("diagnostics", x.diagnostics);
  v.field("location", x.location);
  v.field("expression", x.expression);
}

template <typename V>
void fields(V& v, Ref<V, OperationOutcome> x) {
  domainResourceFields(v, x);
  v.field("issue", x.issue);
}

template <typename V>
void fields(V& v, Ref<V, Patient> x) {
  domainResourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("active", x.active);
  v.field("name", x.name);
  v.field("telecom", x.telecom);
  v.field("gender", x.gender);
  v.field("birthDate", x.birthDate);
  v.choice("deceased", "Boolean", x.deceasedBoolean);
  v.choice("deceased", "DateTime", x.deceasedDateTime);
  v.field("generalPractitioner", x.generalPractitioner);
  v.field("managingOrganization", x.managingOrganization);
}

template <typename V>
void fields(V& v, Ref<V, BundleLink> x) {
  v.field("relation", x.relation);
  v.field("url", x.url);
}

template <typename V>
void fields(V& v, Ref<V, BundleEntrySearch> x) {
  v.field("mode", x.mode);
  v.field("score", x.score);
}

template <typename V>
void fields(V& v, Ref<V, BundleEntryRequest> x) {
  v.field("method", x.method);
  v.field("url", x.url);
  v.field("ifNoneMatch", x.ifNoneMatch);
  v.field("ifModifiedSince", x.ifModifiedSince);
  v.field("ifMatch", x.ifMatch);
  v.field("ifNoneExist", x.ifNoneExist);
}

template <typename V>
void fields(V& v, Ref<V, BundleEntryResponse> x) {
  v.field("status", x.status);
  v.field("location", x.location);
  v.field("etag", x.etag);
  v.field("lastModified", x.lastModified);
  v.field("outcome", x.outcome);
}

template <typename V>
void fields(V& v, Ref<V, BundleEntry> x) {
  v.field("link", x.link);
  v.field("fullUrl", x.fullUrl);
  v.field("resource", x.resource);
  v.field("search", x.search);
  v.field("request", x.request);
  v.field("response", x.response);
}

template <typename V>
void fields(V& v, Ref<V, Bundle> x) {
  resourceFields(v, x);
  v.field("identifier", x.identifier);
  v.field("type", x.type);
  v.field("timestamp", x.timestamp);
  v.field("total", x.total);
  v.field("link", x.link);
  v.field("entry", x.entry);
}

// ------------------------------------------------------ generic struct codec

// A resource's resourceType must be present and name T; other structs have
// no resourceType (the Reader reports one as unknown).
template <typename T>
bool checkResourceType(Reader& reader) {
  if constexpr (kIsResource<T>) {
    std::string path = joinPath(reader.path(), "resourceType");
    const Json* type = reader.take("resourceType");
    if (type == nullptr) return addError(reader.issues(), "required", path, "missing resourceType");
    if (!type->isString() || type->text() != T::kResourceType) {
      return addError(reader.issues(), "structure", path,
                      "expected resourceType " + std::string(T::kResourceType));
    }
  }
  return true;
}

template <typename T>
bool decode(const Json& j, const std::string& path, Issues* issues, T& out) {
  if (!j.isObject()) return typeError(j, path, issues, "an object");
  Reader reader(j, path, issues);
  if (!checkResourceType<T>(reader)) return false;
  fields(reader, out);
  reader.finish();
  return true;
}

template <typename T>
Json encode(const T& v) {
  Writer writer;
  if constexpr (kIsResource<T>)
    writer.add("resourceType", Json::string(std::string(T::kResourceType)));
  fields(writer, v);
  return writer.take();
}

using ResourceVariant = decltype(AnyResource::value);

// Tries the modelled alternatives from index I on; false if none is `type`.
template <std::size_t I = 0>
bool decodeKnown(std::string_view type, const Json& j, const std::string& path, Issues* issues,
                 AnyResource& out) {
  if constexpr (I < std::variant_size_v<ResourceVariant>) {
    using T = std::variant_alternative_t<I, ResourceVariant>;
    if constexpr (kIsResource<T>) {
      if (type == T::kResourceType) {
        T resource;
        if (!decode(j, path.empty() ? std::string(type) : path, issues, resource)) return false;
        out.value = std::move(resource);
        return true;
      }
    }
    return decodeKnown<I + 1>(type, j, path, issues, out);
  } else {
    out.value = RawResource{j};
    return true;
  }
}

bool decode(const Json& j, const std::string& path, Issues* issues, AnyResource& out) {
  if (!j.isObject()) return typeError(j, path, issues, "an object");
  const Json* type = j.find("resourceType");
  std::string typePath = joinPath(path, "resourceType");
  if (type == nullptr) return addError(issues, "required", typePath, "missing resourceType");
  if (!type->isString()) return typeError(*type, typePath, issues, "a string");
  if (!decodeKnown(type->text(), j, path, issues, out)) return false;
  if (out.get<RawResource>() != nullptr) {
    addWarning(issues, "not-supported", typePath,
               "resource type '" + type->text() + "' is not modelled; kept as raw JSON");
  }
  return true;
}

Json encode(const RawResource& v) { return v.json; }

Json encode(const AnyResource& v) {
  return std::visit([](const auto& r) { return encode(r); }, v.value);
}

}  // namespace

std::string_view AnyResource::resourceType() const {
  return std::visit(
      [](const auto& r) -> std::string_view {
        using T = std::decay_t<decltype(r)>;
        if constexpr (kIsResource<T>) {
          return T::kResourceType;
        } else {
          const Json* type = r.json.find("resourceType");
          return type != nullptr && type->isString() ? std::string_view(type->text())
                                                     : std::string_view();
        }
      },
      value);
}

template <typename T>
std::optional<T> parseAs(const Json& json, Issues* issues, std::string_view path) {
  std::string root(path);
  if constexpr (kIsResource<T>) {
    if (root.empty()) root = std::string(T::kResourceType);
  }
  T out{};
  if (!decode(json, root, issues, out)) return std::nullopt;
  return out;
}

std::optional<AnyResource> parseResource(const Json& json, Issues* issues, std::string_view path) {
  AnyResource out;
  if (!decode(json, std::string(path), issues, out)) return std::nullopt;
  return out;
}

template <typename T>
Json toJson(const T& value) {
  return encode(value);
}

Json toJson(const AnyResource& resource) { return encode(resource); }

// Every struct of the model can be parsed and serialised on its own.
#define INLOOP_MODEL_INSTANTIATE(T)                                             \
  template std::optional<T> parseAs<T>(const Json&, Issues*, std::string_view); \
  template Json toJson<T>(const T&);
INLOOP_MODEL_INSTANTIATE(Coding)
INLOOP_MODEL_INSTANTIATE(CodeableConcept)
INLOOP_MODEL_INSTANTIATE(Period)
INLOOP_MODEL_INSTANTIATE(Quantity)
INLOOP_MODEL_INSTANTIATE(Range)
INLOOP_MODEL_INSTANTIATE(Ratio)
INLOOP_MODEL_INSTANTIATE(Identifier)
INLOOP_MODEL_INSTANTIATE(Reference)
INLOOP_MODEL_INSTANTIATE(Attachment)
INLOOP_MODEL_INSTANTIATE(TimingRepeat)
INLOOP_MODEL_INSTANTIATE(Timing)
INLOOP_MODEL_INSTANTIATE(DosageDoseAndRate)
INLOOP_MODEL_INSTANTIATE(Dosage)
INLOOP_MODEL_INSTANTIATE(Annotation)
INLOOP_MODEL_INSTANTIATE(Narrative)
INLOOP_MODEL_INSTANTIATE(Extension)
INLOOP_MODEL_INSTANTIATE(Meta)
INLOOP_MODEL_INSTANTIATE(HumanName)
INLOOP_MODEL_INSTANTIATE(ContactPoint)
INLOOP_MODEL_INSTANTIATE(CarePlanActivityDetail)
INLOOP_MODEL_INSTANTIATE(CarePlanActivity)
INLOOP_MODEL_INSTANTIATE(CarePlan)
INLOOP_MODEL_INSTANTIATE(GoalTarget)
INLOOP_MODEL_INSTANTIATE(Goal)
INLOOP_MODEL_INSTANTIATE(ObservationReferenceRange)
INLOOP_MODEL_INSTANTIATE(ObservationComponent)
INLOOP_MODEL_INSTANTIATE(Observation)
INLOOP_MODEL_INSTANTIATE(MedicationStatement)
INLOOP_MODEL_INSTANTIATE(MedicationRequest)
INLOOP_MODEL_INSTANTIATE(CommunicationPayload)
INLOOP_MODEL_INSTANTIATE(Communication)
INLOOP_MODEL_INSTANTIATE(ProvenanceAgent)
INLOOP_MODEL_INSTANTIATE(ProvenanceEntity)
INLOOP_MODEL_INSTANTIATE(Provenance)
INLOOP_MODEL_INSTANTIATE(OperationOutcomeIssue)
INLOOP_MODEL_INSTANTIATE(OperationOutcome)
INLOOP_MODEL_INSTANTIATE(Patient)
INLOOP_MODEL_INSTANTIATE(BundleLink)
INLOOP_MODEL_INSTANTIATE(BundleEntrySearch)
INLOOP_MODEL_INSTANTIATE(BundleEntryRequest)
INLOOP_MODEL_INSTANTIATE(BundleEntryResponse)
INLOOP_MODEL_INSTANTIATE(BundleEntry)
INLOOP_MODEL_INSTANTIATE(Bundle)
#undef INLOOP_MODEL_INSTANTIATE

}  // namespace inloop::fhir
