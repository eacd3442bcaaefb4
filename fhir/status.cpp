#include "fhir/status.h"

namespace inloop::fhir {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kInvalid: return "invalid";
    case ErrorCode::kTooLarge: return "too-large";
    case ErrorCode::kNotFound: return "not-found";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kIoError: return "io-error";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

std::string Status::toString() const {
  if (path_.empty()) return message_;
  return path_ + ": " + message_;
}

}  // namespace inloop::fhir
