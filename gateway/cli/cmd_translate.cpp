// `inloop translate [--mappings DIR] [--to fhir|record] [--as statement|request]
//  [--practice ID] FILE|-`
//
// --to fhir (default): FILE is a plan record; prints the transaction Bundle as
//   pretty JSON. --as picks MedicationStatement (default) or MedicationRequest.
// --to record: FILE is FHIR (a resource or Bundle); prints the plan record, or a
//   JSON array when there are several. --practice names the practice it came
//   from (pcp.practiceId of the records).
// Mapping tables: --mappings DIR, else `config/mappings` under the current
// directory, else `../config/mappings` next to the binary's directory (a binary
// built in build-*/ of the source tree finds the tree's tables).
// Exit codes: 0 translated (warnings on stderr), 1 the input is invalid (issues
// on stderr as "$.path: message"), 2 usage error, unreadable input or tables.
#include <filesystem>
#include <ostream>
#include <string>
#include <system_error>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/commands.h"
#include "gateway/config/tables_dir.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/reverse/reverse.h"
#include "mappings/tables/tables.h"

namespace inloop::gateway {

namespace {

constexpr std::size_t kMaxInputBytes = 16u << 20;
constexpr const char* kUsage =
    "usage: inloop translate [--mappings DIR] [--to fhir|record] [--as statement|request]\n"
    "                        [--practice ID] FILE|-\n";

// The default mapping tables directory (see the file comment); empty if none.
std::string defaultMappingsDir() {
  std::error_code ec;
  std::filesystem::path here = std::filesystem::path("config") / "mappings";
  if (std::filesystem::exists(here / "manifest.json", ec)) return here.string();
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path near = exe.parent_path().parent_path() / "config" / "mappings";
    if (std::filesystem::exists(near / "manifest.json", ec)) return near.string();
  }
  return {};
}

void printIssues(std::ostream& err, const fhir::Issues& issues) {
  for (const fhir::Issue& i : issues) {
    err << fhir::severityName(i.severity) << " " << i.path << ": " << i.message << "\n";
  }
}

}  // namespace

int cmdTranslate(CommandContext& ctx) {
  std::string mappingsDir;
  std::string to = "fhir";
  std::string as = "statement";
  std::string practice;
  std::string path;
  bool havePath = false;
  for (std::size_t i = 0; i < ctx.args.size(); ++i) {
    const std::string& a = ctx.args[i];
    auto value = [&](std::string* target) {
      if (i + 1 >= ctx.args.size()) return false;
      *target = ctx.args[++i];
      return true;
    };
    bool ok = true;
    if (a == "--mappings") {
      ok = value(&mappingsDir);
    } else if (a == "--to") {
      ok = value(&to);
    } else if (a == "--as") {
      ok = value(&as);
    } else if (a == "--practice") {
      ok = value(&practice);
    } else if (a == "-h" || a == "--help") {
      ctx.out << kUsage;
      return kExitOk;
    } else if (a != "-" && a.starts_with("-")) {
      ctx.err << "inloop translate: unknown option '" << a << "'\n" << kUsage;
      return kExitUsage;
    } else if (havePath) {
      ctx.err << "inloop translate: only one FILE may be given\n" << kUsage;
      return kExitUsage;
    } else {
      path = a;
      havePath = true;
    }
    if (!ok) {
      ctx.err << "inloop translate: " << a << " needs a value\n" << kUsage;
      return kExitUsage;
    }
  }
  if (!havePath) {
    ctx.err << kUsage;
    return kExitUsage;
  }
  if (to != "fhir" && to != "record") {
    ctx.err << "inloop translate: --to must be fhir or record, not '" << to << "'\n";
    return kExitUsage;
  }
  if (as != "statement" && as != "request") {
    ctx.err << "inloop translate: --as must be statement or request, not '" << as << "'\n";
    return kExitUsage;
  }
  if (mappingsDir.empty()) mappingsDir = defaultMappingsDir();
  if (mappingsDir.empty()) {
    ctx.err << "inloop translate: no mapping tables found (config/mappings); use --mappings DIR\n";
    return kExitUsage;
  }
  MappingTablesRead tables = readMappingTablesDir(mappingsDir);
  if (!tables.tables) {
    ctx.err << "inloop translate: the mapping tables in " << mappingsDir << " are invalid:\n";
    printIssues(ctx.err, tables.issues);
    return kExitUsage;
  }
  fhir::Result<std::string> text = readInput(path, ctx.in, kMaxInputBytes);
  if (!text.isOk()) {
    ctx.err << "inloop translate: " << text.status().message() << "\n";
    return kExitUsage;
  }

  if (to == "fhir") {
    mappings::TranslateOptions options;
    options.medicationAs =
        as == "request" ? mappings::MedicationAs::kRequest : mappings::MedicationAs::kStatement;
    // The hot path does parse, read, translate and output validation; its
    // compact output is re-parsed only to print it pretty.
    mappings::TranslatedJson t = mappings::translateRecordJson(*text, *tables.tables, options);
    printIssues(ctx.err, t.issues);
    if (fhir::hasErrors(t.issues) || t.bundleJson.empty()) return kExitInvalid;
    fhir::Result<fhir::Json> bundle = fhir::parseJson(t.bundleJson);
    if (!bundle.isOk()) {
      ctx.err << "inloop translate: internal error: " << bundle.status().message() << "\n";
      return kExitFailure;
    }
    ctx.out << fhir::writeJson(*bundle, fhir::JsonStyle::kPretty);
    return kExitOk;
  }

  fhir::Result<fhir::Json> input = fhir::parseJson(*text);
  if (!input.isOk()) {
    ctx.err << "inloop translate: not valid JSON: " << input.status().message() << "\n";
    return kExitInvalid;
  }
  mappings::ReverseOptions options;
  options.practiceId = practice;
  mappings::ReverseResult r = mappings::translateToRecords(*input, *tables.tables, options);
  printIssues(ctx.err, r.issues);
  if (r.records.empty()) return kExitInvalid;
  if (r.records.size() == 1) {
    ctx.out << fhir::writeJson(mappings::writePlanRecord(r.records[0]), fhir::JsonStyle::kPretty);
  } else {
    fhir::Json all = fhir::Json::array();
    for (const mappings::PlanRecord& rec : r.records) all.push(mappings::writePlanRecord(rec));
    ctx.out << fhir::writeJson(all, fhir::JsonStyle::kPretty);
  }
  return fhir::hasErrors(r.issues) ? kExitInvalid : kExitOk;
}

}  // namespace inloop::gateway
