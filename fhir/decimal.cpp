#include "fhir/decimal.h"

#include <charconv>
#include <cmath>

#include "fhir/json.h"
#include "fhir/primitives.h"

namespace inloop::fhir {

std::optional<Decimal> Decimal::fromText(std::string_view text) {
  if (!isValidDecimal(text)) return std::nullopt;
  double value = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), value);
  if (res.ec != std::errc() || res.ptr != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return Decimal{std::string(text), value};
}

Decimal Decimal::of(double value) {
  Json j = Json::number(value);
  return Decimal{j.isNumber() ? j.text() : "0", j.isNumber() ? value : 0};
}

}  // namespace inloop::fhir
