#pragma once

// Compact FHIR R4 (4.0.1) structure definitions for the validator: for each
// supported resource, data type and backbone element, the list of its elements
// with FHIR type, cardinality and required value-set binding; plus the code
// lists of those required value sets.
//
// The tables are constant data (no initialisation order issues, no mutable
// state); lookups are pure and thread-safe. Only what fhir/validator.cpp needs
// is modelled; an element missing here is reported as unknown by the validator.

#include <span>
#include <string_view>

namespace inloop::fhir {

// Upper bound for "*" cardinality.
inline constexpr int kUnbounded = 1 << 30;

// Which implicit base elements a type has besides its own.
enum class TypeKind {
  kPrimitive,       // a FHIR primitive: JSON scalar
  kElement,         // data type / Element-based backbone: id, extension
  kBackbone,        // BackboneElement: id, extension, modifierExtension
  kResource,        // Resource (Bundle): id, meta, implicitRules, language
  kDomainResource,  // Resource + text, contained, extension, modifierExtension
};

struct ElementDef {
  // JSON name; a choice element ends in "[x]" ("value[x]").
  std::string_view name;
  // FHIR type name ("code", "CodeableConcept", "Resource"), the name of a
  // backbone definition ("CarePlan.activity"), or for a choice element the
  // allowed types separated by '|' ("Quantity|CodeableConcept|string").
  std::string_view types;
  int min = 0;
  int max = 1;
  // Name of a required value set (see findValueSet), or empty.
  std::string_view binding = {};
};

struct TypeDef {
  std::string_view name;
  TypeKind kind;
  std::span<const ElementDef> elements;  // own elements, base elements excluded
};

// The type or backbone definition called `name`; nullptr if not modelled.
const TypeDef* findType(std::string_view name);

// Base elements implied by `kind` (empty for kPrimitive).
std::span<const ElementDef> baseElements(TypeKind kind);

// True for the FHIR primitive type names the validator knows ("string", "date"...).
bool isPrimitiveType(std::string_view name);

// Codes of the required value set `name` separated by '|', or empty if unknown.
std::string_view findValueSet(std::string_view name);

// True if `code` is one of the codes of value set `name`.
bool valueSetContains(std::string_view name, std::string_view code);

}  // namespace inloop::fhir
