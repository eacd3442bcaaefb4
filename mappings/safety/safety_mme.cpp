// Daily morphine milligram equivalents of the medication list (mappings/safety/safety.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "mappings/safety/safety.h"

namespace inloop::mappings {

namespace {

bool isOpioid(const Drug& d) {
  return std::find(d.classes.begin(), d.classes.end(), "opioid") != d.classes.end();
}

// A factor per hour of a continuous dose (patches in mcg/h): the frequency of
// patch changes does not change the daily amount.
bool isRateUnit(const MappingTables& tables, std::string_view unitName) {
  const Unit* u = tables.findUnit(unitName);
  std::string_view ucum = u ? std::string_view(u->ucum) : unitName;
  return ucum.size() > 2 && ucum.substr(ucum.size() - 2) == "/h";
}

}  // namespace

DrugMme entryMme(const MedicationEntry& entry, const MappingTables& tables) {
  DrugMme out;
  out.drug = entry.drug;
  const Drug* drug = tables.findDrug(entry.drug);
  if (drug == nullptr || !isOpioid(*drug)) return out;
  if (!drug->mme) {
    out.unknownReason = "no MME factor in the mapping tables";
    return out;
  }
  const MmeFactor& factor = *drug->mme;
  if (!entry.dose) {
    out.unknownReason = "no dose";
    return out;
  }
  double amount = entry.dose->value.value;
  if (entry.dose->unit != factor.unit) {
    fhir::Result<std::string> converted =
        tables.convert(entry.dose->value.text, entry.dose->unit, factor.unit);
    if (!converted.isOk()) {
      out.unknownReason = "dose in " + entry.dose->unit + " cannot be converted to " + factor.unit;
      return out;
    }
    amount = std::strtod(converted.value().c_str(), nullptr);
  }
  if (isRateUnit(tables, factor.unit)) {
    out.mme = amount * factor.factorValue;
    return out;
  }
  if (!entry.frequency) {
    out.unknownReason = "no frequency";
    return out;
  }
  if (entry.frequency->isText()) {
    out.unknownReason = "frequency is text (\"" + entry.frequency->text + "\")";
    return out;
  }
  double perDay = static_cast<double>(entry.frequency->count);
  if (entry.frequency->per == FrequencyPer::kWeek) perDay /= 7;
  out.mme = amount * perDay * factor.factorValue;
  return out;
}

MmeTotal dailyMme(const MedicationList& list, const MappingTables& tables) {
  MmeTotal total;
  for (const MedicationEntry& e : list.entries()) {
    const Drug* drug = tables.findDrug(e.drug);
    if (drug == nullptr || !isOpioid(*drug)) continue;
    DrugMme d = entryMme(e, tables);
    if (d.mme) total.computed += *d.mme;
    total.drugs.push_back(std::move(d));
  }
  if (list.reportedDailyMme()) total.reported = list.reportedDailyMme()->value;
  return total;
}

bool MmeTotal::complete() const {
  return std::all_of(drugs.begin(), drugs.end(),
                     [](const DrugMme& d) { return d.mme.has_value(); });
}

std::optional<double> MmeTotal::value() const {
  if (reported) return reported;
  if (complete()) return computed;
  return std::nullopt;
}

std::string formatMme(double mme) {
  double rounded = std::round(mme * 10) / 10;
  if (rounded == 0) rounded = 0;  // no "-0"
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", rounded);
  std::string s(buf);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

}  // namespace inloop::mappings
