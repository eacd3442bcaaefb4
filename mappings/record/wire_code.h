#pragma once

// WireCode<E>: the fhir/binding.h codec for a record-format enumeration, read
// and written by its wire strings (toWire/fromWire in plan_record.h).

#include <string>

#include "fhir/binding.h"
#include "mappings/record/plan_record.h"

namespace inloop::mappings {

template <typename E>
struct WireCode {
  bool read(fhir::bind::Reading& r, const fhir::Json& v, const fhir::bind::Path& p, E* out) const {
    if (!v.isString()) return r.wrongType(v, p, "a string"), false;
    if (std::optional<E> e = fromWire<E>(v.text())) return *out = *e, true;
    r.notOneOf(v, p, wireNames<E>());
    return false;
  }
  fhir::Json write(const E& e) const { return fhir::Json::string(std::string(toWire(e))); }
};

}  // namespace inloop::mappings
