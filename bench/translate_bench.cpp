// translate_bench: the in-process translation benchmark (one thread, one core).
//
//   translate_bench generate --examples DIR --mappings DIR --count N --out DIR
//       Writes measurement.ndjson, medication-change.ndjson and care-plan.ndjson
//       (N records each, one compact record per line) derived deterministically
//       from the example records: recordId, MRN, values and every date (shifted
//       together so their order is kept) vary per record. Every generated record
//       is translated once; any translation error aborts (exit 1), so the timed
//       runs below only ever measure successful translations.
//
//   translate_bench bundles --mappings DIR --input FILE --count N
//       Prints the Bundles of the file's first N records, one per line (to
//       check that a peer produces equivalent resources).
//
//   translate_bench run --mappings DIR --input FILE --seconds S [--type NAME]
//                       [--phase both|inloop|bound]
//       Times mappings::translateRecordJson over the file's lines, repeated
//       until S seconds have passed, then the RapidJSON bound over the same
//       bytes: parse each input line into a rapidjson::Document and write the
//       record's Bundle (parsed once up front) with a rapidjson::Writer, no
//       mapping in between. Prints one JSON object (records/s, input MB/s for
//       both, and inloop as a fraction of the bound) on stdout. --phase times
//       only one of the two (for a profiler); the other is then reported as 0.
//
// A benchmark, not a test: it reports, it asserts nothing about speed. Exit
// codes: 0 ok, 1 bad input or a translation error, 2 usage.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "mappings/forward/translate.h"
#include "mappings/tables/tables.h"

namespace {

namespace fs = std::filesystem;
using inloop::fhir::Json;
using Clock = std::chrono::steady_clock;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Bundles kept parsed for the RapidJSON bound (cycled over): enough to defeat
// caching effects without holding every care-plan Bundle in memory.
constexpr std::size_t kMaxBoundBundles = 1000;

// Keeps the optimiser from dropping work whose result is otherwise unused.
volatile std::size_t gSink = 0;

bool readFile(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

std::vector<std::string> readLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.emplace_back(text, start, end - start);
    start = end + 1;
  }
  return lines;
}

bool loadTables(const fs::path& dir, inloop::mappings::MappingTables* tables) {
  std::vector<inloop::mappings::TableFile> files;
  for (std::string_view name : inloop::mappings::kTableFileNames) {
    inloop::mappings::TableFile f{std::string(name), {}};
    if (!readFile(dir / f.name, &f.text)) {
      std::cerr << "translate_bench: cannot read " << (dir / f.name).string() << "\n";
      return false;
    }
    files.push_back(std::move(f));
  }
  inloop::mappings::TablesLoad load = inloop::mappings::loadMappingTables(files);
  if (!load.tables) {
    std::cerr << "translate_bench: mapping tables rejected:\n" << formatIssues(load.issues);
    return false;
  }
  *tables = std::move(*load.tables);
  return true;
}

// ---- Deterministic variation of the example records ----

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's
// civil-date algorithms).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civilFromDays(std::int64_t z, std::int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<std::int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// "YYYY-MM-DD..." shifted by `days`, the rest (time, offset) kept; other text
// unchanged.
std::string shiftDate(const std::string& text, std::int64_t days) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return text;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!isDigit(text[static_cast<std::size_t>(i)])) return text;
  }
  const std::int64_t y = std::stoll(text.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoul(text.substr(5, 2)));
  const unsigned d = static_cast<unsigned>(std::stoul(text.substr(8, 2)));
  std::int64_t ny = 0;
  unsigned nm = 0;
  unsigned nd = 0;
  civilFromDays(daysFromCivil(y, m, d) + days, &ny, &nm, &nd);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(ny), nm, nd);
  return std::string(buf) + text.substr(10);
}

void shiftAllDates(Json* value, std::int64_t days) {
  if (value->isString()) {
    const std::string shifted = shiftDate(value->text(), days);
    if (shifted != value->text()) *value = Json::string(shifted);
  } else if (value->isArray()) {
    for (Json& item : value->items()) shiftAllDates(&item, days);
  } else if (value->isObject()) {
    for (Json::Member& m : value->members()) shiftAllDates(&m.second, days);
  }
}

std::string decimalText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

void setNumber(Json* obj, const char* key, double v) {
  obj->set(key, Json::numberText(decimalText(v)));
}

// Varies record `i` of a template in place. Values stay inside every measure's
// valid range so each record translates.
void vary(Json* record, std::size_t i, const std::string& idSuffix) {
  const std::string n = std::to_string(i);
  if (Json* id = record->find("recordId")) {
    *id = Json::string(id->text() + idSuffix + "-" + n);
  }
  if (Json* patient = record->find("patient"); patient && patient->isObject()) {
    patient->set("mrn", Json::string("PC-" + std::to_string(400000 + i % 90000)));
  }
  shiftAllDates(record, -static_cast<std::int64_t>(i % 400));

  const Json* measure = record->find("measure");
  const std::string code = measure ? measure->text() : std::string();
  if (code == "pain-nrs") {
    setNumber(record, "value", static_cast<double>(i % 11));
  } else if (code == "standing-tolerance") {
    setNumber(record, "value", 0.25 + 0.25 * static_cast<double>(i % 12));
  } else if (code == "blood-pressure") {
    if (Json* comps = record->find("components"); comps && comps->isArray()) {
      for (Json& c : comps->items()) {
        const Json* m = c.find("measure");
        if (m && m->text() == "bp-systolic")
          setNumber(&c, "value", 100 + static_cast<double>(i % 80));
        if (m && m->text() == "bp-diastolic")
          setNumber(&c, "value", 60 + static_cast<double>(i % 35));
      }
    }
  }
  if (Json* goals = record->find("goals"); goals && goals->isArray()) {
    for (Json& g : goals->items()) {
      Json* baseline = g.find("baseline");
      const Json* v = baseline ? baseline->find("value") : nullptr;
      if (v == nullptr) continue;
      const double base = v->toDouble().value_or(0);
      // +0..+40% of the example's baseline, never past the target.
      setNumber(baseline, "value", base * (1.0 + 0.1 * static_cast<double>(i % 5)));
    }
  }
}

struct TypeSpec {
  const char* name;                    // output file stem
  std::vector<const char*> templates;  // example file names, cycled
};

int generate(const fs::path& examples, const fs::path& mappingsDir, std::size_t count,
             const fs::path& outDir) {
  inloop::mappings::MappingTables tables;
  if (!loadTables(mappingsDir, &tables)) return kExitFailure;
  const TypeSpec specs[] = {
      {"measurement",
       {"measurement-pain-nrs.json", "measurement-standing-tolerance.json",
        "measurement-blood-pressure.json"}},
      {"medication-change",
       {"medication-start-duloxetine.json", "medication-taper-oxycodone.json"}},
      {"care-plan", {"care-plan-functional-restoration.json"}},
  };
  std::error_code ec;
  fs::create_directories(outDir, ec);
  for (const TypeSpec& spec : specs) {
    std::vector<Json> templates;
    for (const char* file : spec.templates) {
      std::string text;
      if (!readFile(examples / file, &text)) {
        std::cerr << "translate_bench: cannot read " << (examples / file).string() << "\n";
        return kExitFailure;
      }
      inloop::fhir::Result<Json> parsed = inloop::fhir::parseJson(text);
      if (!parsed.isOk()) {
        std::cerr << "translate_bench: " << file << ": " << parsed.status().message() << "\n";
        return kExitFailure;
      }
      templates.push_back(std::move(parsed).value());
    }
    const fs::path outPath = outDir / (std::string(spec.name) + ".ndjson");
    std::ofstream out(outPath, std::ios::binary | std::ios::trunc);
    for (std::size_t i = 0; i < count; ++i) {
      Json record = templates[i % templates.size()];
      vary(&record, i, "-B");
      const std::string line = inloop::fhir::writeJson(record);
      inloop::mappings::TranslatedJson t = inloop::mappings::translateRecordJson(line, tables);
      if (t.bundleJson.empty()) {
        std::cerr << "translate_bench: generated " << spec.name << " record " << i
                  << " does not translate:\n"
                  << formatIssues(t.issues) << line << "\n";
        return kExitFailure;
      }
      out << line << '\n';
    }
    if (!out.flush()) {
      std::cerr << "translate_bench: cannot write " << outPath.string() << "\n";
      return kExitFailure;
    }
  }
  return kExitOk;
}

// ---- Timed runs ----

struct Measured {
  std::size_t records = 0;
  std::size_t inputBytes = 0;
  std::size_t outputBytes = 0;
  double seconds = 0;
};

// Calls `one(i)` over indices 0..n-1 cyclically until `seconds` have passed
// (always at least one full pass). `one` returns the bytes it produced.
template <typename F>
Measured timeLoop(const std::vector<std::string>& lines, double seconds, F&& one) {
  Measured m;
  const Clock::time_point start = Clock::now();
  const auto budget = std::chrono::duration<double>(seconds);
  std::size_t i = 0;
  for (;;) {
    m.outputBytes += one(i);
    m.inputBytes += lines[i].size();
    ++m.records;
    if (++i == lines.size()) i = 0;
    // Reading the clock costs ~20 ns; every 32 records keeps it well below 1%.
    if ((m.records & 31) == 0 || i == 0) {
      const auto elapsed = Clock::now() - start;
      if (m.records >= lines.size() && elapsed >= budget) {
        m.seconds = std::chrono::duration<double>(elapsed).count();
        break;
      }
    }
  }
  return m;
}

void appendRate(std::ostream& out, const char* name, const Measured& m) {
  out << "\"" << name << "\":{\"records\":" << m.records << ",\"seconds\":" << m.seconds
      << ",\"recordsPerSec\":" << static_cast<double>(m.records) / m.seconds
      << ",\"inputMBPerSec\":" << static_cast<double>(m.inputBytes) / 1e6 / m.seconds
      << ",\"outputMBPerSec\":" << static_cast<double>(m.outputBytes) / 1e6 / m.seconds
      << ",\"outputBytesPerRecord\":"
      << static_cast<double>(m.outputBytes) / static_cast<double>(m.records) << "}";
}

int run(const fs::path& mappingsDir, const fs::path& input, double seconds, const std::string& type,
        const std::string& phase) {
  inloop::mappings::MappingTables tables;
  if (!loadTables(mappingsDir, &tables)) return kExitFailure;
  std::string text;
  if (!readFile(input, &text)) {
    std::cerr << "translate_bench: cannot read " << input.string() << "\n";
    return kExitFailure;
  }
  const std::vector<std::string> lines = readLines(text);
  if (lines.empty()) {
    std::cerr << "translate_bench: " << input.string() << " has no records\n";
    return kExitFailure;
  }
  std::size_t inputBytes = 0;
  for (const std::string& l : lines) inputBytes += l.size();

  // Warm-up pass, which also checks every record translates and keeps the
  // Bundles the bound writes.
  const std::size_t boundCount = std::min(lines.size(), kMaxBoundBundles);
  std::vector<std::unique_ptr<rapidjson::Document>> bundles;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    inloop::mappings::TranslatedJson t = inloop::mappings::translateRecordJson(lines[i], tables);
    if (t.bundleJson.empty()) {
      std::cerr << "translate_bench: record " << i << " does not translate:\n"
                << formatIssues(t.issues);
      return kExitFailure;
    }
    if (i < boundCount) {
      auto doc = std::make_unique<rapidjson::Document>();
      doc->Parse<rapidjson::kParseFullPrecisionFlag>(t.bundleJson.data(), t.bundleJson.size());
      if (doc->HasParseError()) {
        std::cerr << "translate_bench: RapidJSON cannot parse Bundle " << i << "\n";
        return kExitFailure;
      }
      bundles.push_back(std::move(doc));
    }
  }

  Measured inloopRun{0, 0, 0, 1};
  if (phase != "bound") {
    inloopRun = timeLoop(lines, seconds, [&](std::size_t i) -> std::size_t {
      inloop::mappings::TranslatedJson t = inloop::mappings::translateRecordJson(lines[i], tables);
      return t.bundleJson.size();
    });
  }

  rapidjson::StringBuffer buffer;
  Measured boundRun{0, 0, 0, 1};
  if (phase != "inloop")
    boundRun = timeLoop(lines, seconds, [&](std::size_t i) -> std::size_t {
      // The input as the project's reader would take it: validated UTF-8,
      // numbers kept as text.
      rapidjson::Document in;
      in.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseNumbersAsStringsFlag>(
          lines[i].data(), lines[i].size());
      gSink = gSink + (in.HasParseError() ? 1 : in.MemberCount());
      buffer.Clear();
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      bundles[i % bundles.size()]->Accept(writer);
      return buffer.GetSize();
    });

  std::ostringstream out;
  out.precision(6);
  out << "{\"benchmark\":\"translate\",\"type\":\"" << type
      << "\",\"inputRecords\":" << lines.size() << ",\"inputBytesPerRecord\":"
      << static_cast<double>(inputBytes) / static_cast<double>(lines.size()) << ",";
  appendRate(out, "inloop", inloopRun);
  out << ",";
  appendRate(out, "rapidjsonBound", boundRun);
  const double inloopRate = static_cast<double>(inloopRun.records) / inloopRun.seconds;
  const double boundRate = static_cast<double>(boundRun.records) / boundRun.seconds;
  out << ",\"fractionOfBound\":" << (boundRate > 0 ? inloopRate / boundRate : 0) << "}\n";
  std::cout << out.str();
  return kExitOk;
}

int printBundles(const fs::path& mappingsDir, const fs::path& input, std::size_t count) {
  inloop::mappings::MappingTables tables;
  if (!loadTables(mappingsDir, &tables)) return kExitFailure;
  std::string text;
  if (!readFile(input, &text)) {
    std::cerr << "translate_bench: cannot read " << input.string() << "\n";
    return kExitFailure;
  }
  const std::vector<std::string> lines = readLines(text);
  for (std::size_t i = 0; i < lines.size() && i < count; ++i) {
    inloop::mappings::TranslatedJson t = inloop::mappings::translateRecordJson(lines[i], tables);
    if (t.bundleJson.empty()) {
      std::cerr << "translate_bench: record " << i << ":\n" << formatIssues(t.issues);
      return kExitFailure;
    }
    std::cout << t.bundleJson << '\n';
  }
  return kExitOk;
}

constexpr const char* kUsage =
    "usage: translate_bench generate --examples DIR --mappings DIR --count N --out DIR\n"
    "       translate_bench bundles --mappings DIR --input FILE --count N\n"
    "       translate_bench run --mappings DIR --input FILE --seconds S [--type NAME]\n"
    "                           [--phase both|inloop|bound]\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string mode = argv[1];
  std::string examples;
  std::string mappingsDir;
  std::string out;
  std::string input;
  std::string type = "records";
  std::string phase = "both";
  std::size_t count = 10000;
  double seconds = 5;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "translate_bench: " << a << " needs a value\n" << kUsage;
      return kExitUsage;
    }
    const std::string v = argv[++i];
    if (a == "--examples") {
      examples = v;
    } else if (a == "--mappings") {
      mappingsDir = v;
    } else if (a == "--out") {
      out = v;
    } else if (a == "--input") {
      input = v;
    } else if (a == "--phase") {
      phase = v;
    } else if (a == "--type") {
      type = v;
    } else if (a == "--count") {
      count = static_cast<std::size_t>(std::strtoull(v.c_str(), nullptr, 10));
    } else if (a == "--seconds") {
      seconds = std::strtod(v.c_str(), nullptr);
    } else {
      std::cerr << "translate_bench: unknown option " << a << "\n" << kUsage;
      return kExitUsage;
    }
  }
  if (mode == "generate" && !examples.empty() && !mappingsDir.empty() && !out.empty() &&
      count > 0) {
    return generate(examples, mappingsDir, count, out);
  }
  if (mode == "bundles" && !mappingsDir.empty() && !input.empty()) {
    return printBundles(mappingsDir, input, count);
  }
  if (mode == "run" && !mappingsDir.empty() && !input.empty() && seconds > 0) {
    return run(mappingsDir, input, seconds, type, phase);
  }
  std::cerr << kUsage;
  return kExitUsage;
}
