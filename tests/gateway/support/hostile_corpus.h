#pragma once

// The hostile-input corpus, GENERATED from the record-format rules
// (docs/record-format.md) by mutating the shipped example
// records so that each case breaks one rule: wrong JSON type of every value,
// each required field missing, each enum and code out of range, impossible
// dates and offsets, over-long lists and strings, unknown fields, fields of
// another record type, duplicate ids and references to missing goals. Plus JSON
// attacks on the parser. Each case names the status class and, for rule
// breaks, the JSON path an issue must name.
//
// Pure test data; no I/O except reading the examples.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fhir/json.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::hostile_testing {

inline const std::vector<std::string>& exampleNames() {
  return server_testing::exampleRecordNames();
}

struct HostileCase {
  std::string name;  // what is broken, for the failure message
  std::string body;  // the request body
  int status = 422;  // the expected status; 0: any 4xx
  std::string path;  // an issue must name this path (empty: not checked)
};

// One step into a JSON value: a member key or an array index.
using Step = std::variant<std::string, std::size_t>;
using Steps = std::vector<Step>;

inline std::string pathText(const Steps& steps) {
  std::string out = "$";
  for (const Step& s : steps) {
    if (const auto* key = std::get_if<std::string>(&s)) {
      out += "." + *key;
    } else {
      out += "[" + std::to_string(std::get<std::size_t>(s)) + "]";
    }
  }
  return out;
}

// The value at `steps` in `doc` (a Json or a const Json); nullptr if absent.
template <class JsonT>
JsonT* locate(JsonT& doc, const Steps& steps) {
  JsonT* v = &doc;
  for (const Step& s : steps) {
    if (const auto* key = std::get_if<std::string>(&s)) {
      v = v->find(*key);
    } else {
      const std::size_t i = std::get<std::size_t>(s);
      v = i < v->items().size() ? &v->items()[i] : nullptr;
    }
    if (v == nullptr) return nullptr;
  }
  return v;
}

// Every value below the root, depth first, with its steps.
inline void collectPaths(const fhir::Json& v, Steps& at, std::vector<Steps>* out) {
  if (!at.empty()) out->push_back(at);
  if (v.isObject()) {
    for (const auto& [key, child] : v.members()) {
      at.emplace_back(key);
      collectPaths(child, at, out);
      at.pop_back();
    }
  } else if (v.isArray()) {
    for (std::size_t i = 0; i < v.items().size(); ++i) {
      at.emplace_back(i);
      collectPaths(v.items()[i], at, out);
      at.pop_back();
    }
  }
}

// "$.goals[1].goalId" -> "$.goals[].goalId".
inline std::string patternOf(const std::string& path) {
  return std::regex_replace(path, std::regex(R"(\[\d+\])"), "[]");
}

// How many JSON values `v` holds, itself included (what JsonLimits::maxElements counts).
inline std::size_t countValues(const fhir::Json& v) {
  std::size_t n = 1;
  for (const fhir::Json& i : v.items()) n += countValues(i);
  for (const auto& m : v.members()) n += countValues(m.second);
  return n;
}

inline std::string lastKey(const Steps& steps) {
  if (steps.empty()) return {};
  const auto* key = std::get_if<std::string>(&steps.back());
  return key != nullptr ? *key : std::string();
}

// A value of another JSON type than `v`.
inline fhir::Json wrongTypeFor(const fhir::Json& v) {
  switch (v.type()) {
    case fhir::Json::Type::kString:
      return fhir::Json::number(std::int64_t{7});
    case fhir::Json::Type::kNumber:
      return fhir::Json::string(v.text());
    case fhir::Json::Type::kBool:
      return fhir::Json::string("true");
    case fhir::Json::Type::kObject:
      return fhir::Json::array();
    case fhir::Json::Type::kArray:
      return fhir::Json::object();
    case fhir::Json::Type::kNull:
      break;
  }
  return fhir::Json::boolean(false);
}

// Required fields (README), as path patterns, per record type.
inline const std::set<std::string>& requiredPatterns(const std::string& recordType) {
  static const std::set<std::string> carePlan = {"$.recordType",
                                                 "$.recordId",
                                                 "$.version",
                                                 "$.recordedAt",
                                                 "$.patient",
                                                 "$.pcp",
                                                 "$.author",
                                                 "$.patient.mrn",
                                                 "$.patient.name",
                                                 "$.patient.birthDate",
                                                 "$.pcp.practiceId",
                                                 "$.author.name",
                                                 "$.program",
                                                 "$.program.name",
                                                 "$.program.kind",
                                                 "$.program.status",
                                                 "$.program.start",
                                                 "$.goals[].goalId",
                                                 "$.goals[].description",
                                                 "$.activities[].activityId",
                                                 "$.activities[].type",
                                                 "$.careTeam[].name",
                                                 "$.activities[].performer.name",
                                                 "$.conditions[].text"};
  static const std::set<std::string> measurement = {"$.recordType",
                                                    "$.recordId",
                                                    "$.version",
                                                    "$.recordedAt",
                                                    "$.patient",
                                                    "$.pcp",
                                                    "$.author",
                                                    "$.patient.mrn",
                                                    "$.patient.name",
                                                    "$.patient.birthDate",
                                                    "$.pcp.practiceId",
                                                    "$.author.name",
                                                    "$.measure",
                                                    "$.effective",
                                                    "$.status",
                                                    "$.components[].measure",
                                                    "$.components[].value",
                                                    "$.performer.name"};
  static const std::set<std::string> medication = {"$.recordType",
                                                   "$.recordId",
                                                   "$.version",
                                                   "$.recordedAt",
                                                   "$.patient",
                                                   "$.pcp",
                                                   "$.author",
                                                   "$.patient.mrn",
                                                   "$.patient.name",
                                                   "$.patient.birthDate",
                                                   "$.pcp.practiceId",
                                                   "$.author.name",
                                                   "$.action",
                                                   "$.medication",
                                                   "$.medication.code",
                                                   "$.dose",
                                                   "$.frequency",
                                                   "$.effective",
                                                   "$.prescriber",
                                                   "$.prescriber.name",
                                                   "$.dose.value",
                                                   "$.dose.unit",
                                                   "$.previousDose.value",
                                                   "$.previousDose.unit",
                                                   "$.taper.step",
                                                   "$.taper.of"};
  if (recordType == "care-plan") return carePlan;
  if (recordType == "measurement") return measurement;
  return medication;
}

// Top-level fields of each record type's body (README).
inline const std::set<std::string>& bodyFields(const std::string& recordType) {
  static const std::set<std::string> carePlan = {"program", "conditions", "careTeam", "goals",
                                                 "activities"};
  static const std::set<std::string> measurement = {
      "measure",   "value",  "unit",   "components", "absent",
      "effective", "status", "method", "performer",  "goalId"};
  static const std::set<std::string> medication = {
      "action",    "medication",   "dose",   "frequency",  "route",    "asNeeded",
      "effective", "previousDose", "reason", "prescriber", "dailyMme", "taper"};
  if (recordType == "care-plan") return carePlan;
  if (recordType == "measurement") return measurement;
  return medication;
}

inline bool isEnumKey(const std::string& key) {
  static const std::set<std::string> keys = {"recordType", "sex",        "role",        "kind",
                                             "status",     "comparator", "achievement", "per",
                                             "method",     "absent",     "action",      "route"};
  return keys.count(key) == 1;
}

// Keys whose values are looked up in the mapping tables.
inline bool isCodeKey(const std::string& key) {
  static const std::set<std::string> keys = {"measure", "type", "code", "unit"};
  return keys.count(key) == 1;
}

inline bool isIdKey(const std::string& key) {
  static const std::set<std::string> keys = {"recordId", "mrn",        "pcpPatientId", "practiceId",
                                             "goalId",   "activityId", "planId"};
  return keys.count(key) == 1;
}

// Breaks every rule once, starting from the example records.
inline std::vector<HostileCase> recordRuleCorpus(std::size_t maxBodyBytes = 1u << 20) {
  std::vector<HostileCase> out;
  std::vector<fhir::Json> docs;
  for (const std::string& name : exampleNames()) {
    docs.push_back(*fhir::parseJson(server_testing::exampleRecord(name)));
  }
  for (std::size_t d = 0; d < docs.size(); ++d) {
    const fhir::Json& doc = docs[d];
    const std::string example = exampleNames()[d];
    const std::string type = doc.find("recordType")->text();
    auto add = [&](const std::string& what, const Steps& at,
                   const std::function<void(fhir::Json & doc, fhir::Json & v)>& mutate,
                   std::string path = {}, int status = 422) {
      fhir::Json copy = doc;
      fhir::Json* v = locate(copy, at);
      if (v == nullptr) return;
      mutate(copy, *v);
      if (path.empty()) path = pathText(at);
      out.push_back({example + ": " + what + " at " + pathText(at), fhir::writeJson(copy), status,
                     status == 422 ? path : std::string()});
    };
    std::vector<Steps> paths;
    Steps at;
    collectPaths(doc, at, &paths);
    for (const Steps& p : paths) {
      const fhir::Json* value = locate(doc, p);
      const std::string key = lastKey(p);
      const std::string pattern = patternOf(pathText(p));
      add("wrong type", p, [](fhir::Json&, fhir::Json& v) { v = wrongTypeFor(v); });
      if (requiredPatterns(type).count(pattern) == 1) {
        Steps parent(p.begin(), p.end() - 1);
        add(
            "missing required field", parent, [&key](fhir::Json&, fhir::Json& v) { v.erase(key); },
            pathText(p));
      }
      if (value->isString() && isEnumKey(key)) {
        add("enum out of range", p,
            [](fhir::Json&, fhir::Json& v) { v = fhir::Json::string("not-a-valid-value"); });
      }
      if (value->isString() && isCodeKey(key)) {
        add("code not in the mapping tables", p,
            [](fhir::Json&, fhir::Json& v) { v = fhir::Json::string("no-such-code"); });
      }
      if (value->isString() && isIdKey(key)) {
        add("id longer than 64", p,
            [](fhir::Json&, fhir::Json& v) { v = fhir::Json::string(std::string(65, 'a')); });
        if (key == "recordId" || key == "planId") {
          add("id with a slash", p,
              [](fhir::Json&, fhir::Json& v) { v = fhir::Json::string("../../etc/passwd"); });
        }
      }
      if (value->isString() && key == "npi") {
        add("npi of 9 digits", p,
            [](fhir::Json&, fhir::Json& v) { v = fhir::Json::string("123456789"); });
      }
      if (value->isString() && key == "note") {
        add("note over 4000 characters", p,
            [](fhir::Json&, fhir::Json& v) { v = fhir::Json::string(std::string(4001, 'n')); });
      }
      if (value->isString()) {
        // One string over the reader's string limit: refused before the record is read.
        add(
            "64 KiB string", p,
            [](fhir::Json&, fhir::Json& v) { v = fhir::Json::string(std::string(65537, 's')); }, "",
            413);
      }
      static const std::regex date(R"(\d{4}-\d{2}-\d{2})");
      static const std::regex dateTime(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?[+-]\d{2}:\d{2})");
      if (value->isString() && std::regex_match(value->text(), date)) {
        for (const char* bad : {"2026-02-30", "2026-13-01", "2026-9-1"}) {
          add(std::string("impossible date ") + bad, p,
              [bad](fhir::Json&, fhir::Json& v) { v = fhir::Json::string(bad); });
        }
      }
      if (value->isString() && std::regex_match(value->text(), dateTime)) {
        add("offset +25:00", p, [](fhir::Json&, fhir::Json& v) {
          v = fhir::Json::string(v.text().substr(0, v.text().size() - 6) + "+25:00");
        });
        add("impossible date-time", p, [](fhir::Json&, fhir::Json& v) {
          v = fhir::Json::string("2026-02-30" + v.text().substr(10));
        });
        add("date-time without offset", p, [](fhir::Json&, fhir::Json& v) {
          v = fhir::Json::string(v.text().substr(0, v.text().size() - 6));
        });
      }
      if (value->isObject()) {
        add(
            "unknown field", p,
            [](fhir::Json&, fhir::Json& v) { v.set("unexpectedField", fhir::Json::boolean(true)); },
            pathText(p) + ".unexpectedField");
      }
      if (value->isArray() && !value->items().empty()) {
        // Copies of the first item: just over the list limit (a 422 naming the
        // list), and 10,000 (the same, unless the document then breaks the JSON
        // value-count limit first: a 413). Lists too big for one request body
        // are left out (the body limit is refused from Content-Length alone).
        for (const std::size_t n : {mappings::kMaxListItems + 1, std::size_t{10000}}) {
          fhir::Json many = fhir::Json::array();
          for (std::size_t i = 0; i < n; ++i) many.push(value->items()[0]);
          const std::size_t values =
              countValues(doc) + (n - value->size()) * countValues(value->items()[0]);
          const std::size_t bytes =
              fhir::writeJson(doc).size() + n * (fhir::writeJson(value->items()[0]).size() + 1);
          if (bytes >= std::min(maxBodyBytes, mappings::kRecordJsonLimits.maxBytes)) continue;
          const bool fits = values <= mappings::kRecordJsonLimits.maxElements;
          add(
              std::to_string(n) + "-item list", p,
              [&many](fhir::Json&, fhir::Json& v) { v = many; }, "", fits ? 422 : 413);
        }
      }
    }
    add(
        "unknown top-level field", {},
        [](fhir::Json&, fhir::Json& v) { v.set("unexpectedField", fhir::Json::string("x")); },
        "$.unexpectedField");
    // Fields of the other record types.
    for (const fhir::Json& other : docs) {
      const std::string otherType = other.find("recordType")->text();
      if (otherType == type) continue;
      for (const auto& [key, v] : other.members()) {
        if (bodyFields(otherType).count(key) == 0 || bodyFields(type).count(key) == 1) continue;
        fhir::Json foreign = v;
        add(
            "field of a " + otherType, {},
            [&key, &foreign](fhir::Json&, fhir::Json& root) { root.set(key, foreign); },
            "$." + key);
      }
    }
    add("version 0", {std::string("version")},
        [](fhir::Json&, fhir::Json& v) { v = fhir::Json::number(std::int64_t{0}); });
    add("fractional version", {std::string("version")},
        [](fhir::Json&, fhir::Json& v) { v = fhir::Json::numberText("1.5"); });
  }

  // Cross-field rules of the care plan (the first example).
  const fhir::Json& plan = docs[0];
  auto planCase = [&](const std::string& what, const std::string& path,
                      const std::function<void(fhir::Json&)>& mutate) {
    fhir::Json copy = plan;
    mutate(copy);
    out.push_back({exampleNames()[0] + ": " + what, fhir::writeJson(copy), 422, path});
  };
  auto item = [](fhir::Json& doc, const char* list, std::size_t i) -> fhir::Json& {
    return doc.find(list)->items()[i];
  };
  planCase("duplicate goalId", "$.goals[1].goalId", [&](fhir::Json& d) {
    item(d, "goals", 1).set("goalId", *item(d, "goals", 0).find("goalId"));
  });
  planCase("duplicate activityId", "$.activities[1].activityId", [&](fhir::Json& d) {
    item(d, "activities", 1).set("activityId", *item(d, "activities", 0).find("activityId"));
  });
  planCase("activity serves a missing goal", "$.activities[0].goals[0]", [&](fhir::Json& d) {
    item(d, "activities", 0).find("goals")->items()[0] = fhir::Json::string("G99");
  });
  planCase("program ends before it starts", "$.program.end",
           [&](fhir::Json& d) { d.find("program")->set("end", fhir::Json::string("2026-08-01")); });
  planCase("period ends before it starts", "$.activities[0].period.end", [&](fhir::Json& d) {
    item(d, "activities", 0).find("period")->set("end", fhir::Json::string("2026-09-01"));
  });
  planCase("two care-team leads", "$.careTeam[1].lead",
           [&](fhir::Json& d) { item(d, "careTeam", 1).set("lead", fhir::Json::boolean(true)); });
  planCase("lead outside the care team", "$.author.lead",
           [&](fhir::Json& d) { d.find("author")->set("lead", fhir::Json::boolean(true)); });
  planCase("frequency per year", "$.activities[0].frequency.per", [&](fhir::Json& d) {
    item(d, "activities", 0).find("frequency")->set("per", fhir::Json::string("year"));
  });

  // Measurement: value, components and absent are exclusive.
  const fhir::Json& nrs = docs[2];
  {
    fhir::Json both = nrs;
    both.set("absent", fhir::Json::string("unable"));
    out.push_back({exampleNames()[2] + ": value and absent", fhir::writeJson(both), 422, ""});
    fhir::Json none = nrs;
    none.erase("value");
    out.push_back(
        {exampleNames()[2] + ": no value, components or absent", fhir::writeJson(none), 422, ""});
  }
  // Medication: a taper step beyond the taper, frequency per month.
  const fhir::Json& taper = docs[5];
  {
    fhir::Json beyond = taper;
    beyond.find("taper")->set("step", fhir::Json::number(std::int64_t{7}));
    out.push_back({exampleNames()[5] + ": taper step 7 of 6", fhir::writeJson(beyond), 422, ""});
    fhir::Json monthly = taper;
    monthly.find("frequency")->set("per", fhir::Json::string("month"));
    out.push_back({exampleNames()[5] + ": medication frequency per month", fhir::writeJson(monthly),
                   422, "$.frequency.per"});
  }
  return out;
}

// Attacks on the JSON parser: each is refused with 400, 413 for a JSON limit
// (nesting, values, number length), 422 for well-formed JSON that is not a
// record; status 0 where more than one 4xx is right (huge numbers: a limit or
// a value out of range).
inline std::vector<HostileCase> jsonAttackCorpus() {
  const std::string good = server_testing::exampleRecord("measurement-pain-nrs.json");
  const std::string compact = fhir::writeJson(*fhir::parseJson(good));
  std::vector<HostileCase> out;
  auto add = [&](std::string name, std::string body, int status = 400) {
    out.push_back({std::move(name), std::move(body), status, ""});
  };
  add("100k-deep arrays", std::string(100000, '[') + std::string(100000, ']'), 413);
  add(
      "100k-deep objects",
      [] {
        std::string s;
        for (int i = 0; i < 100000; ++i) s += "{\"a\":";
        s += "1";
        s += std::string(100000, '}');
        return s;
      }(),
      413);
  add("deep nesting inside a record",
      compact.substr(0, compact.size() - 1) + ",\"extensions\":" + std::string(40, '[') +
          std::string(40, ']') + "}",
      413);
  add("invalid UTF-8 in a string",
      compact.substr(0, compact.size() - 1) + ",\"note\":\"caf\xc3\x28\"}");
  add("overlong UTF-8 encoding", compact.substr(0, compact.size() - 1) + ",\"note\":\"\xc0\xaf\"}");
  add("invalid UTF-8 outside strings", "\xff" + compact);
  add("lone high surrogate", compact.substr(0, compact.size() - 1) + ",\"note\":\"\\ud800\"}");
  add("lone low surrogate", compact.substr(0, compact.size() - 1) + ",\"note\":\"\\udc00x\"}");
  add("duplicate key", compact.substr(0, compact.size() - 1) + ",\"version\":2}");
  add("duplicate nested key", [&] {
    std::string s = compact;
    const std::size_t at = s.find("\"mrn\":");
    return s.insert(at, "\"mrn\":\"PC-1\",");
  }());
  auto withValue = [&](const std::string& number) {
    std::string s = compact;
    return s.replace(s.find("\"value\":6"), 9, "\"value\":" + number);
  };
  add("value 1e400", withValue("1e400"), 0);
  add("value -1e400", withValue("-1e400"), 0);
  add("value 1e-400", withValue("1e-400"), 0);
  add("a 100-digit number", withValue(std::string(100, '9')), 0);
  add("NaN", withValue("NaN"));
  add("Infinity", withValue("Infinity"));
  add("hex number", withValue("0x10"));
  add("leading zero", withValue("06"));
  add("UTF-8 BOM", "\xef\xbb\xbf" + compact);
  add("NUL byte inside the document",
      compact.substr(0, 10) + std::string(1, '\0') + compact.substr(10));
  add("NUL byte after the document", compact + std::string(1, '\0'));
  add("trailing garbage", compact + "x");
  add("two documents", compact + compact);
  add("empty body", "");
  add("whitespace only", "  \n\t ");
  add("a bare string", "\"plan\"", 422);
  add("null", "null", 422);
  add("an array of records", "[" + compact + "]", 422);
  add("unterminated string", "{\"recordType\":\"care");
  add("single quotes", "{'recordType':'care-plan'}");
  add("comments", "/* hi */" + compact);
  add("trailing comma", compact.substr(0, compact.size() - 1) + ",}");
  add("control character in a string",
      compact.substr(0, compact.size() - 1) + ",\"note\":\"a\x01z\"}");
  add("bad escape", compact.substr(0, compact.size() - 1) + ",\"note\":\"\\x41\"}");
  add(
      "200k elements",
      "{\"a\":[" +
          [] {
            std::string s = "0";
            for (int i = 1; i < 200000; ++i) s += ",0";
            return s;
          }() +
          "]}",
      413);
  return out;
}

}  // namespace inloop::hostile_testing
