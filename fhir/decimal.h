#pragma once

// Decimal: a JSON number kept exactly as it was written.
//
// FHIR decimals carry their precision in their text (`4.50` is not `4.5`), so a
// value read from JSON keeps its text for writing and a double for arithmetic.
// One type for the whole project: plan records, configuration and the
// medication list use it through fhir/binding.h.

#include <optional>
#include <string>
#include <string_view>

namespace inloop::fhir {

// `text` is valid JSON number text; `value` is its double. Equality compares
// the text (4.50 != 4.5).
struct Decimal {
  std::string text;
  double value = 0;

  // From JSON number text; nullopt when `text` is not a finite JSON number.
  static std::optional<Decimal> fromText(std::string_view text);
  // Shortest text that reads back as `value` (for values built in code).
  static Decimal of(double value);

  bool operator==(const Decimal& other) const { return text == other.text; }
};

}  // namespace inloop::fhir
