#include "mappings/tables/tables.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <system_error>

#include "fhir/json.h"
#include "fhir/primitives.h"

namespace inloop::mappings {

std::string Measure::rangeText() const {
  auto num = [](double d) { return fhir::Json::number(d).text(); };
  return (min ? num(*min) : std::string("-")) + " to " + (max ? num(*max) : std::string("-")) +
         " " + unit;
}

namespace {

template <typename T>
const T* findByCode(const std::vector<T>& items, std::string_view code) {
  for (const T& item : items) {
    if (item.code == code) return &item;
  }
  return nullptr;
}

// Significant digits in a JSON/FHIR decimal text ("0.050" -> 2, "120" -> 3).
int significantDigits(std::string_view text) {
  std::size_t end = text.find_first_of("eE");
  if (end != std::string_view::npos) text = text.substr(0, end);
  int digits = 0;
  bool leading = true;
  for (char c : text) {
    if (c < '0' || c > '9') continue;
    if (leading && c == '0') continue;
    leading = false;
    ++digits;
  }
  return std::max(digits, 1);
}

// `value` rounded to `digits` significant digits, in plain notation.
std::string formatSignificant(double value, int digits) {
  if (value == 0) return "0";
  int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  int decimals = digits - 1 - magnitude;
  char buf[64];
  if (decimals <= 0) {
    double scale = std::pow(10.0, -decimals);
    double rounded = std::round(value / scale) * scale;
    auto r = std::to_chars(buf, buf + sizeof buf, rounded, std::chars_format::fixed, 0);
    return std::string(buf, r.ptr);
  }
  auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, decimals);
  std::string out(buf, r.ptr);
  // Rounding can carry into a new digit (9.995 -> 10.00); drop the extra decimal.
  int produced = significantDigits(out);
  if (produced > digits && out.find('.') != std::string::npos) out.pop_back();
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

}  // namespace

bool isTableFileName(std::string_view fileName) {
  return std::find(std::begin(kTableFileNames), std::end(kTableFileNames), fileName) !=
         std::end(kTableFileNames);
}

const char* measureCategoryCode(MeasureCategory category) {
  switch (category) {
    case MeasureCategory::kSurvey:
      return "survey";
    case MeasureCategory::kActivity:
      return "activity";
    case MeasureCategory::kExam:
      return "exam";
    case MeasureCategory::kVitalSigns:
      return "vital-signs";
    case MeasureCategory::kLaboratory:
      return "laboratory";
    case MeasureCategory::kTherapy:
      return "therapy";
  }
  return "survey";
}

const char* activityKindCode(ActivityKind kind) {
  switch (kind) {
    case ActivityKind::kAppointment:
      return "Appointment";
    case ActivityKind::kCommunicationRequest:
      return "CommunicationRequest";
    case ActivityKind::kDeviceRequest:
      return "DeviceRequest";
    case ActivityKind::kMedicationRequest:
      return "MedicationRequest";
    case ActivityKind::kNutritionOrder:
      return "NutritionOrder";
    case ActivityKind::kTask:
      return "Task";
    case ActivityKind::kServiceRequest:
      return "ServiceRequest";
    case ActivityKind::kVisionPrescription:
      return "VisionPrescription";
  }
  return "ServiceRequest";
}

const char* effectCode(Effect effect) {
  switch (effect) {
    case Effect::kBloodPressure:
      return "blood-pressure";
    case Effect::kGlucose:
      return "glucose";
    case Effect::kMood:
      return "mood";
    case Effect::kSedation:
      return "sedation";
  }
  return "mood";
}

const Unit* MappingTables::findUnit(std::string_view name) const {
  for (const Unit& u : units) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

const Unit* MappingTables::findUnitByUcum(std::string_view ucum) const {
  for (const Unit& u : units) {
    if (u.ucum == ucum) return &u;
  }
  return nullptr;
}

std::optional<Measure> MappingTables::findMeasure(std::string_view code,
                                                  std::string_view practiceId) const {
  const Measure* found = findByCode(measures, code);
  if (!found) return std::nullopt;
  Measure measure = *found;
  if (practiceId.empty()) return measure;
  const Practice* practice = findPractice(practiceId);
  if (!practice) return measure;
  for (const MeasureOverride& o : practice->measures) {
    if (o.measure != code) continue;
    if (!o.enabled) return std::nullopt;
    if (o.unit) measure.sendUnit = *o.unit;
    if (o.display) measure.display = *o.display;
  }
  return measure;
}

const ActivityType* MappingTables::findActivity(std::string_view code) const {
  return findByCode(activities, code);
}

const Drug* MappingTables::findDrug(std::string_view code) const { return findByCode(drugs, code); }

const DrugClass* MappingTables::findDrugClass(std::string_view code) const {
  return findByCode(drugClasses, code);
}

const Practice* MappingTables::findPractice(std::string_view practiceId) const {
  for (const Practice& p : practices) {
    if (p.practiceId == practiceId) return &p;
  }
  return nullptr;
}

const ContactPoints* MappingTables::contactPointsFor(std::string_view practiceId) const {
  if (!contact) return nullptr;
  if (const Practice* p = findPractice(practiceId); p && p->contact) return &*p->contact;
  return &contact->organization.points;
}

const ClinicianContact* MappingTables::findClinicianContact(std::string_view npi) const {
  if (!contact || npi.empty()) return nullptr;
  for (const ClinicianContact& c : contact->clinicians) {
    if (c.npi == npi) return &c;
  }
  return nullptr;
}

namespace {

// A unit name, or the UCUM code of a defined unit, as UCUM.
std::optional<std::string> toUcum(const MappingTables& tables, std::string_view unit) {
  if (const Unit* u = tables.findUnit(unit)) return u->ucum;
  if (const Unit* u = tables.findUnitByUcum(unit)) return u->ucum;
  return std::nullopt;
}

// The factor from UCUM `from` to UCUM `to`, or nullopt.
std::optional<double> factorBetween(const MappingTables& tables, std::string_view from,
                                    std::string_view to, std::string_view measure) {
  auto applies = [&](const Conversion& c) {
    return c.measures.empty() ||
           std::find(c.measures.begin(), c.measures.end(), measure) != c.measures.end();
  };
  for (const Conversion& c : tables.conversions) {
    if (!applies(c)) continue;
    if (c.from == from && c.to == to) return c.factorValue;
    if (c.from == to && c.to == from) return 1.0 / c.factorValue;
  }
  return std::nullopt;
}

}  // namespace

bool MappingTables::canConvert(std::string_view from, std::string_view to,
                               std::string_view measure) const {
  auto fromUcum = toUcum(*this, from);
  auto toUcumCode = toUcum(*this, to);
  if (!fromUcum || !toUcumCode) return false;
  if (*fromUcum == *toUcumCode) return true;
  return factorBetween(*this, *fromUcum, *toUcumCode, measure).has_value();
}

fhir::Result<std::string> MappingTables::convert(std::string_view value, std::string_view from,
                                                 std::string_view to,
                                                 std::string_view measure) const {
  if (!fhir::isValidDecimal(value)) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "\"" + std::string(value) + "\" is not a decimal number");
  }
  auto fromUcum = toUcum(*this, from);
  if (!fromUcum) {
    return fhir::Status(fhir::ErrorCode::kNotFound, "unknown unit \"" + std::string(from) + "\"");
  }
  auto toUcumCode = toUcum(*this, to);
  if (!toUcumCode) {
    return fhir::Status(fhir::ErrorCode::kNotFound, "unknown unit \"" + std::string(to) + "\"");
  }
  if (*fromUcum == *toUcumCode) return std::string(value);
  auto factor = factorBetween(*this, *fromUcum, *toUcumCode, measure);
  if (!factor) {
    std::string message =
        "no conversion from \"" + std::string(from) + "\" to \"" + std::string(to) + "\"";
    if (!measure.empty()) message += " for measure \"" + std::string(measure) + "\"";
    return fhir::Status(fhir::ErrorCode::kNotFound, message);
  }
  double number = 0;
  auto parsed = std::from_chars(value.data(), value.data() + value.size(), number);
  if (parsed.ec != std::errc() || parsed.ptr != value.data() + value.size()) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "\"" + std::string(value) + "\" is out of range");
  }
  double result = number * *factor;
  if (!std::isfinite(result)) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "\"" + std::string(value) + "\" is out of range after conversion");
  }
  return formatSignificant(result, std::max(3, significantDigits(value)));
}

}  // namespace inloop::mappings
