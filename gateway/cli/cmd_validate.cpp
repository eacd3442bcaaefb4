// `inloop validate FILE|- [--format text|json]`: validates a FHIR R4 resource
// or Bundle (JSON) and prints the issues, or the OperationOutcome with
// `--format json`. Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage
// error, unreadable input or not JSON.
#include <ostream>
#include <string>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"
#include "fhir/validator.h"
#include "gateway/cli/cli.h"
#include "gateway/cli/commands.h"

namespace inloop::gateway {

namespace {

constexpr std::size_t kMaxInputBytes = 64u << 20;
constexpr const char* kUsage = "usage: inloop validate FILE|- [--format text|json]\n";

enum class OutputFormat { kText, kJson };

std::string plural(std::size_t n, const char* word) {
  std::string s = std::to_string(n) + " " + word;
  if (n != 1) s += 's';
  return s;
}

}  // namespace

int cmdValidate(CommandContext& ctx) {
  std::string path;
  bool havePath = false;
  OutputFormat format = OutputFormat::kText;
  for (std::size_t i = 0; i < ctx.args.size(); ++i) {
    const std::string& a = ctx.args[i];
    std::string value;
    if (a == "--format") {
      if (i + 1 >= ctx.args.size()) {
        ctx.err << "inloop validate: --format needs a value (text or json)\n" << kUsage;
        return kExitUsage;
      }
      value = ctx.args[++i];
    } else if (a.starts_with("--format=")) {
      value = a.substr(9);
    } else if (a == "-h" || a == "--help") {
      ctx.out << kUsage;
      return kExitOk;
    } else if (a != "-" && a.starts_with("-")) {
      ctx.err << "inloop validate: unknown option '" << a << "'\n" << kUsage;
      return kExitUsage;
    } else if (havePath) {
      ctx.err << "inloop validate: only one FILE may be given\n" << kUsage;
      return kExitUsage;
    } else {
      path = a;
      havePath = true;
      continue;
    }
    if (value == "text") {
      format = OutputFormat::kText;
    } else if (value == "json") {
      format = OutputFormat::kJson;
    } else {
      ctx.err << "inloop validate: unknown format '" << value << "' (text or json)\n";
      return kExitUsage;
    }
  }
  if (!havePath) {
    ctx.err << kUsage;
    return kExitUsage;
  }
  const std::string name = path == "-" ? std::string("<stdin>") : path;

  fhir::Result<std::string> text = readInput(path, ctx.in, kMaxInputBytes);
  if (!text.isOk()) {
    ctx.err << "inloop validate: " << text.status().message() << "\n";
    return kExitUsage;
  }
  fhir::JsonLimits limits;
  limits.maxBytes = kMaxInputBytes;
  // Attachments may carry large inline base64 data.
  limits.maxStringBytes = kMaxInputBytes;
  fhir::JsonParseError where;
  fhir::Result<fhir::Json> json = fhir::parseJson(*text, limits, &where);
  if (!json.isOk()) {
    ctx.err << "inloop validate: " << name << ":" << where.line << ":" << where.column
            << ": not valid JSON: " << where.reason << "\n";
    return kExitUsage;
  }

  const fhir::Issues issues = fhir::validateResource(*json);
  std::size_t errors = 0;
  std::size_t warnings = 0;
  for (const fhir::Issue& i : issues) {
    if (i.severity == fhir::Severity::kError || i.severity == fhir::Severity::kFatal) ++errors;
    if (i.severity == fhir::Severity::kWarning) ++warnings;
  }
  const bool valid = errors == 0;
  if (format == OutputFormat::kJson) {
    ctx.out << fhir::writeJson(fhir::operationOutcome(issues), fhir::JsonStyle::kPretty);
  } else {
    ctx.out << fhir::formatIssues(issues) << name << ": " << (valid ? "valid" : "invalid") << " ("
            << plural(errors, "error") << ", " << plural(warnings, "warning") << ")\n";
  }
  return valid ? kExitOk : kExitInvalid;
}

}  // namespace inloop::gateway
