// libFuzzer target: fhir::parseJson (strict and with comments) and the
// writer round trip. Properties checked for every input that parses:
//  - writeJson's compact and pretty output parse back (strictly) to an equal
//    value: parse(write(v)) == v;
//  - the output is valid UTF-8 and writing is deterministic;
//  - a document that parses strictly also parses with comments allowed, to
//    the same value.
// A failure returns a Status (never a crash, never an exception).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fhir/json.h"
#include "fuzz/fuzz_support.h"

namespace {

using inloop::fhir::Json;
using inloop::fhir::JsonLimits;
using inloop::fhir::JsonParseError;
using inloop::fhir::JsonStyle;
using inloop::fhir::parseJson;
using inloop::fhir::writeJson;
using inloop::fuzz::fail;

// Small limits so the fuzzer also reaches the limit checks.
JsonLimits smallLimits(bool allowComments) {
  JsonLimits limits;
  limits.maxBytes = 64u << 10;
  limits.maxDepth = 24;
  limits.maxStringBytes = 4096;
  limits.maxElements = 4096;
  limits.maxNumberChars = 40;
  limits.allowComments = allowComments;
  return limits;
}

// Limits that never stop re-reading what the writer produced from a value
// that fit smallLimits (the writer can lengthen strings by escaping).
JsonLimits roomyLimits() {
  JsonLimits limits;
  limits.maxDepth = 64;
  return limits;
}

void checkRoundTrip(const Json& value) {
  for (JsonStyle style : {JsonStyle::kCompact, JsonStyle::kPretty}) {
    const std::string written = writeJson(value, style);
    if (!inloop::fhir::isValidUtf8(written)) fail("writeJson produced invalid UTF-8");
    if (written != writeJson(value, style)) fail("writeJson is not deterministic");
    JsonParseError error;
    auto reread = parseJson(written, roomyLimits(), &error);
    if (!reread.isOk()) fail("writeJson output does not parse: " + error.reason + "\n" + written);
    if (!(reread.value() == value)) fail("parse(write(v)) != v\n" + written);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  JsonParseError strictError;
  auto strict = parseJson(text, smallLimits(false), &strictError);
  JsonParseError commentError;
  auto commented = parseJson(text, smallLimits(true), &commentError);

  if (strict.isOk()) {
    if (!commented.isOk())
      fail("strict JSON rejected with comments allowed: " + commentError.reason);
    if (!(strict.value() == commented.value())) fail("comments mode reads strict JSON differently");
    checkRoundTrip(strict.value());
  } else {
    if (strictError.line == 0 || strictError.column == 0) fail("parse error without a position");
    if (strictError.reason.empty()) fail("parse error without a reason");
  }
  if (commented.isOk()) checkRoundTrip(commented.value());
  return 0;
}
