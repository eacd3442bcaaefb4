#include "fhir/operation_outcome.h"

#include <cstddef>
#include <string>

namespace inloop::fhir {

namespace {

std::string plural(std::size_t n, const char* word) {
  std::string s = std::to_string(n) + " " + word;
  if (n != 1) s += 's';
  return s;
}

Json renderIssue(Severity severity, const std::string& code, const std::string& path,
                 const std::string& message) {
  Json issue = Json::object();
  issue.set("severity", Json::string(severityName(severity)));
  issue.set("code", Json::string(code.empty() ? "processing" : code));
  // FHIR forbids empty strings: leave out what is empty.
  if (!message.empty()) issue.set("diagnostics", Json::string(message));
  if (!path.empty()) {
    Json expression = Json::array();
    expression.push(Json::string(path));
    issue.set("expression", expression);
    issue.set("location", std::move(expression));
  }
  return issue;
}

}  // namespace

Json operationOutcome(const Issues& issues) {
  std::size_t errors = 0;
  std::size_t warnings = 0;
  Json list = Json::array();
  for (const Issue& i : issues) {
    if (i.severity == Severity::kError || i.severity == Severity::kFatal) ++errors;
    if (i.severity == Severity::kWarning) ++warnings;
    list.push(renderIssue(i.severity, i.code, i.path, i.message));
  }
  if (issues.empty()) {
    list.push(
        renderIssue(Severity::kInformation, "informational", std::string(), "No issues found"));
  }
  const std::string summary = issues.empty()
                                  ? std::string("No issues found.")
                                  : plural(errors, "error") + ", " + plural(warnings, "warning") +
                                        ", " + plural(issues.size(), "issue") + " in total.";
  Json text = Json::object();
  text.set("status", Json::string("generated"));
  text.set("div", Json::string("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>" + summary +
                               "</p></div>"));
  Json outcome = Json::object();
  outcome.set("resourceType", Json::string("OperationOutcome"));
  outcome.set("text", std::move(text));
  outcome.set("issue", std::move(list));
  return outcome;
}

}  // namespace inloop::fhir
