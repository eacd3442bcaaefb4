#pragma once

// Status and Result<T>: expected failures as values (no exceptions on the data path).
//
// A Status carries a code, a human-readable message and, for data problems, the
// path of the offending element (`$.goals[1].target.value`,
// `Observation.component[0].valueQuantity`). Thread safety: plain values.

#include <string>
#include <utility>
#include <variant>

namespace inloop::fhir {

enum class ErrorCode {
  kOk,
  kMalformed,     // input is not well-formed (bad JSON, bad encoding): HTTP 400
  kInvalid,       // well-formed but breaks a rule of the format: HTTP 422
  kTooLarge,      // a configured limit was exceeded: HTTP 413
  kNotFound,      // HTTP 404
  kConflict,      // HTTP 409
  kUnauthorized,  // HTTP 401
  kForbidden,     // HTTP 403
  kUnsupported,   // e.g. wrong media type: HTTP 415
  kUnavailable,   // transient: retry later, HTTP 503
  kIoError,       // the local system failed (disk, socket): HTTP 500
  kInternal,      // a bug: HTTP 500
};

// Stable lower-case name of a code ("invalid", "not-found"), for logs and JSON.
const char* errorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message, std::string path = {})
      : code_(code), message_(std::move(message)), path_(std::move(path)) {}

  static Status ok() { return Status(); }

  bool isOk() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& path() const { return path_; }

  // "path: message", or just the message when there is no path.
  std::string toString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::string path_;
};

// Either a value or a non-ok Status. Accessing value() on an error is a
// programmer error: it throws std::bad_variant_access (std::get), which a
// request handler turns into a 500 and a test into a failure. Check isOk() first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {}  // NOLINT: implicit by design

  bool isOk() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return isOk(); }

  const T& value() const& { return std::get<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // The error; Status::ok() when a value is held.
  Status status() const { return isOk() ? Status::ok() : std::get<Status>(data_); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace inloop::fhir
