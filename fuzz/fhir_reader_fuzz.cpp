// libFuzzer target: the FHIR side. parseJson -> fhir::parseResource -> toJson,
// and fhir::validateResource on the input and on the re-serialised resource.
// Properties:
//  - parseResource gives a value unless it reports an error;
//  - a resource parsed without errors survives a round trip:
//    parseResource(toJson(r)) == r, with no errors the second time;
//  - toJson's output writes and re-reads as JSON (parse(write(j)) == j);
//  - the validator's report is bounded (maxIssues + one "too-costly").

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/model.h"
#include "fhir/validator.h"
#include "fuzz/fuzz_support.h"

namespace {

namespace fhir = inloop::fhir;
using inloop::fuzz::fail;

fhir::JsonLimits limits() {
  fhir::JsonLimits l;
  l.maxBytes = 256u << 10;
  l.maxDepth = 32;
  l.maxElements = 16384;
  return l;
}

void checkValidator(const fhir::Json& json) {
  fhir::ValidationOptions options;
  options.maxIssues = 50;
  const fhir::Issues issues = fhir::validateResource(json, options);
  if (issues.size() > options.maxIssues + 1) fail("validator report exceeds maxIssues");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = fhir::parseJson(text, limits());
  if (!doc.isOk()) return 0;
  const fhir::Json& json = doc.value();

  checkValidator(json);

  fhir::Issues issues;
  const std::optional<fhir::AnyResource> resource = fhir::parseResource(json, &issues);
  if (!resource) {
    if (!fhir::hasErrors(issues)) fail("parseResource: nullopt without an error");
    return 0;
  }

  const fhir::Json out = fhir::toJson(*resource);
  const std::string written = fhir::writeJson(out);
  auto reread = fhir::parseJson(written);
  if (!reread.isOk() || !(reread.value() == out))
    fail("toJson output does not re-read:\n" + written);
  checkValidator(out);

  if (fhir::hasErrors(issues)) return 0;
  fhir::Issues again;
  const std::optional<fhir::AnyResource> second = fhir::parseResource(out, &again);
  if (!second || fhir::hasErrors(again)) fail("toJson output does not parse:\n" + written, again);
  if (!(*second == *resource)) fail("parseResource(toJson(r)) != r:\n" + written);
  return 0;
}
