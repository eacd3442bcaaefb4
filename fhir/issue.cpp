#include "fhir/issue.h"

namespace inloop::fhir {

const char* severityName(Severity severity) {
  switch (severity) {
    case Severity::kFatal: return "fatal";
    case Severity::kError: return "error";
    case Severity::kWarning: return "warning";
    case Severity::kInformation: return "information";
  }
  return "error";
}

bool hasErrors(const Issues& issues) {
  for (const Issue& i : issues) {
    if (i.severity == Severity::kError || i.severity == Severity::kFatal) return true;
  }
  return false;
}

bool addError(Issues* issues, std::string code, std::string path, std::string message) {
  issues->push_back(Issue{Severity::kError, std::move(code), std::move(path), std::move(message)});
  return false;
}

void addWarning(Issues* issues, std::string code, std::string path, std::string message) {
  issues->push_back(
      Issue{Severity::kWarning, std::move(code), std::move(path), std::move(message)});
}

std::string formatIssues(const Issues& issues) {
  std::string out;
  for (const Issue& i : issues) {
    out += severityName(i.severity);
    out += ' ';
    if (!i.path.empty()) {
      out += i.path;
      out += ": ";
    }
    out += i.message;
    out += '\n';
  }
  return out;
}

}  // namespace inloop::fhir
