#include "mappings/shaping/kept_shape.h"

#include <string>
#include <utility>

#include "fhir/binding.h"

namespace inloop::mappings {

namespace bind = fhir::bind;

namespace {

fhir::Json textList(const std::vector<std::string>& values) {
  fhir::Json list = fhir::Json::array();
  for (const std::string& v : values) list.push(fhir::Json::string(v));
  return list;
}

fhir::Json capabilityInputs(const CapabilitySet& caps) {
  fhir::Json c = fhir::Json::object();
  c.set("statementRead", fhir::Json::boolean(caps.statementRead));
  c.set("fhirVersion", fhir::Json::string(caps.fhirVersion));
  c.set("software", fhir::Json::string(caps.software));
  c.set("transaction", fhir::Json::boolean(caps.transaction));
  c.set("batch", fhir::Json::boolean(caps.batch));
  c.set("resourcesListed", fhir::Json::boolean(caps.resourcesListed));
  fhir::Json resources = fhir::Json::array();
  auto optionalFlag = [](const std::optional<bool>& b) {
    return b ? fhir::Json::boolean(*b) : fhir::Json::string("unstated");
  };
  for (const ResourceCapability& r : caps.resources) {
    fhir::Json one = fhir::Json::object();
    one.set("type", fhir::Json::string(r.type));
    one.set("read", fhir::Json::boolean(r.read));
    one.set("create", fhir::Json::boolean(r.create));
    one.set("update", fhir::Json::boolean(r.update));
    one.set("conditionalCreate", optionalFlag(r.conditionalCreate));
    one.set("conditionalUpdate", optionalFlag(r.conditionalUpdate));
    resources.push(std::move(one));
  }
  c.set("resources", std::move(resources));
  fhir::Json refused = fhir::Json::object();
  for (const auto& [type, why] : caps.refused) refused.set(type, fhir::Json::string(why));
  c.set("refused", std::move(refused));
  c.set("conditionalUpdateRefused", fhir::Json::string(caps.conditionalUpdateRefused));
  return c;
}

// ---- The kept form ----

struct Body {
  bool read(bind::Reading& r, const fhir::Json& v, const bind::Path& p, fhir::Json* out) const {
    if (!v.isObject()) return r.wrongType(v, p, "an object"), false;
    *out = v;
    return true;
  }
  fhir::Json write(const fhir::Json& body) const { return body; }
};

struct Kind {
  bool read(bind::Reading& r, const fhir::Json& v, const bind::Path& p,
            DestinationKind* out) const {
    if (!v.isString()) return r.wrongType(v, p, "a string"), false;
    std::optional<DestinationKind> kind = destinationKindFromName(v.text());
    if (!kind) return r.error("value", v, p, "not a destination kind"), false;
    *out = *kind;
    return true;
  }
  fhir::Json write(const DestinationKind& kind) const {
    return fhir::Json::string(std::string(destinationKindName(kind)));
  }
};

const bind::Fields<HeaderField>& headerFields() {
  static const bind::Fields<HeaderField> fields{
      bind::field("name", &HeaderField::name, bind::kRequired, bind::Text{}),
      bind::field("value", &HeaderField::value, bind::kRequired, bind::Text{.minChars = 0}),
  };
  return fields;
}

const bind::Fields<WireRequest>& requestFields() {
  static const bind::Fields<WireRequest> fields{
      bind::field("method", &WireRequest::method, bind::kRequired, bind::Text{}),
      bind::field("url", &WireRequest::url, bind::kOptional, bind::Text{.minChars = 0}),
      bind::field("headers", &WireRequest::headers, bind::kOptional,
                  bind::List<bind::Object<HeaderField>>{.item = headerFields}),
      bind::field("body", &WireRequest::body, bind::kRequired, Body{}),
      bind::field("searchFirst", &WireRequest::searchFirst, bind::kOptional, bind::Boolean{}),
  };
  return fields;
}

const bind::Fields<SkippedResource>& skippedFields() {
  static const bind::Fields<SkippedResource> fields{
      bind::field("resourceType", &SkippedResource::resourceType, bind::kRequired, bind::Text{}),
      bind::field("fullUrl", &SkippedResource::fullUrl, bind::kOptional, bind::Text{.minChars = 0}),
      bind::field("reason", &SkippedResource::reason, bind::kRequired, bind::Text{}),
  };
  return fields;
}

const bind::Fields<ShapedDelivery>& keptFields() {
  static const bind::Fields<ShapedDelivery> fields{
      bind::field("kind", &ShapedDelivery::kind, bind::kRequired, Kind{}),
      bind::field("requests", &ShapedDelivery::requests, bind::kOptional,
                  bind::List<bind::Object<WireRequest>>{.item = requestFields}),
      bind::field("ndjson", &ShapedDelivery::ndjson, bind::kOptional, bind::Text{.minChars = 0}),
      bind::field("skipped", &ShapedDelivery::skipped, bind::kOptional,
                  bind::List<bind::Object<SkippedResource>>{.item = skippedFields}),
      bind::field("substitutions", &ShapedDelivery::substitutions, bind::kOptional,
                  bind::List<bind::Text>{}),
  };
  return fields;
}

}  // namespace

fhir::Json shapingInputs(const DestinationProfile& destination, const CapabilitySet* caps) {
  fhir::Json in = fhir::Json::object();
  in.set("id", fhir::Json::string(destination.id));
  in.set("kind", fhir::Json::string(std::string(destinationKindName(destination.kind))));
  in.set("accepts", textList(destination.accepts));
  in.set("medicationStatement",
         fhir::Json::number(static_cast<std::int64_t>(destination.fallbacks.medicationStatement)));
  in.set("carePlan", fhir::Json::number(static_cast<std::int64_t>(destination.fallbacks.carePlan)));
  in.set("notice", fhir::Json::number(static_cast<std::int64_t>(destination.fallbacks.notice)));
  in.set("patientMatching",
         fhir::Json::number(static_cast<std::int64_t>(destination.patientMatching.mode)));
  in.set("patientIdentifierSystem",
         fhir::Json::string(destination.patientMatching.patientIdentifierSystem));
  in.set("conditionalReferences", fhir::Json::boolean(destination.conditionalReferences));
  in.set("capabilities", caps != nullptr ? capabilityInputs(*caps) : fhir::Json());
  return in;
}

fhir::Json writeKeptShape(const ShapedDelivery& shaped) {
  return bind::writeObject(shaped, keptFields());
}

std::optional<ShapedDelivery> readKeptShape(const fhir::Json& kept, fhir::Issues* issues) {
  bind::Reading reading(issues);
  ShapedDelivery shaped;
  if (!bind::readObject(reading, kept, bind::Path(), keptFields(), &shaped)) return std::nullopt;
  shaped.state = ShapeState::kSend;
  return shaped;
}

}  // namespace inloop::mappings
