#pragma once

// Record-format pieces other stored forms reuse (fhir/binding.h): the medication
// list keeps doses and frequencies exactly as records carry them.

#include "fhir/binding.h"
#include "mappings/record/plan_record.h"

namespace inloop::mappings {

// {"value": n, "unit": "mg"}
const fhir::bind::Fields<Quantity>& quantityFields();
// {"count": n, "per": "day"|"week"} or {"text": "nightly"}, never both.
const fhir::bind::Custom<MedicationFrequency>& medicationFrequencyCodec();

}  // namespace inloop::mappings
