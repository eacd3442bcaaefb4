#pragma once

// Json: the project's own JSON value, reader and writer.
//
// Why our own value: FHIR decimals must keep their exact text (`1.50` stays
// `1.50`, never `1.5`), object member order must survive a round trip, and every
// node remembers where it came from in the source text so that configuration
// errors can name file:line:column. Numbers are therefore stored as their JSON
// text; toDouble()/toInt64() convert on demand.
//
// The reader is built on RapidJSON's SAX Reader (iterative, UTF-8 validating,
// numbers as strings); RapidJSON never appears in this header. It enforces
// limits on input size, nesting depth, string length and element count, rejects
// duplicate object keys, NaN/Infinity, lone surrogates and trailing garbage.
//
// Thread safety: a Json is a plain value; concurrent reads are safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/status.h"

namespace inloop::fhir {

class Json {
 public:
  enum class Type : std::uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, Json>;

  Json() noexcept {}  // null
  Json(const Json& other);
  Json(Json&& other) noexcept;
  Json& operator=(const Json& other);
  Json& operator=(Json&& other) noexcept;
  ~Json() {
    if (type_ >= Type::kNumber) destroy();
  }

  static Json boolean(bool value);
  // `text` must be a valid JSON number (the caller's contract; the reader checks).
  static Json numberText(std::string text);
  static Json number(std::int64_t value);
  // Shortest text that reads back as `value`; NaN and infinities become null.
  static Json number(double value);
  static Json string(std::string value);
  static Json array();
  static Json object();

  Type type() const { return type_; }
  bool isNull() const { return type_ == Type::kNull; }
  bool isBool() const { return type_ == Type::kBool; }
  bool isNumber() const { return type_ == Type::kNumber; }
  bool isString() const { return type_ == Type::kString; }
  bool isArray() const { return type_ == Type::kArray; }
  bool isObject() const { return type_ == Type::kObject; }

  // Precondition isBool().
  bool asBool() const { return bool_; }
  // The string's value, or the number's JSON text; empty for other types.
  const std::string& text() const {
    return (type_ == Type::kString || type_ == Type::kNumber) ? scalar_ : kNoText;
  }
  // Numeric value of a number; nullopt for non-numbers, for fractions
  // (toInt64) and for values out of range.
  std::optional<double> toDouble() const;
  std::optional<std::int64_t> toInt64() const;

  // Arrays (empty for other types). The mutable overload turns a null into an
  // empty array (what is then written to it stays); calling it on any other
  // non-array is a programming error: asserted in debug builds, and in
  // release builds it returns an empty scratch vector whose writes are lost.
  const std::vector<Json>& items() const { return type_ == Type::kArray ? items_ : kNoItems; }
  std::vector<Json>& items() { return type_ == Type::kArray ? items_ : itemsSlow(); }
  Json& push(Json value);

  // Objects, in source/insertion order (empty for other types). The mutable
  // overload behaves as items() does: a null becomes an empty object.
  const std::vector<Member>& members() const {
    return type_ == Type::kObject ? members_ : kNoMembers;
  }
  std::vector<Member>& members() { return type_ == Type::kObject ? members_ : membersSlow(); }
  const Json* find(std::string_view key) const;
  Json* find(std::string_view key);
  // Replaces the member's value if present, otherwise appends. Returns the
  // stored value. Precondition: isObject() or isNull() (a null becomes an object).
  Json& set(std::string key, Json value);
  bool erase(std::string_view key);

  // Number of array items or object members; 0 for scalars.
  std::size_t size() const;

  // Byte offset of this value in the text it was parsed from (0 when built in code).
  std::size_t sourceOffset() const { return offset_; }
  void setSourceOffset(std::size_t offset) { offset_ = static_cast<std::uint32_t>(offset); }

  // Structural equality; numbers compare by text, objects by ordered members.
  bool operator==(const Json& other) const;

 private:
  // Only the payload of the current type is alive (40 bytes a node instead of
  // 88 with three separate members): cheaper moves, destruction and scans.
  void destroy() noexcept;
  void constructFrom(Json&& other) noexcept;  // precondition: no live payload
  void constructFrom(const Json& other);      // precondition: no live payload
  std::vector<Json>& itemsSlow();
  std::vector<Member>& membersSlow();

  static const std::string kNoText;
  static const std::vector<Json> kNoItems;
  static const std::vector<Member> kNoMembers;

  Type type_ = Type::kNull;
  bool bool_ = false;
  std::uint32_t offset_ = 0;
  union {
    std::string scalar_;  // kNumber, kString
    std::vector<Json> items_;  // kArray
    std::vector<Member> members_;  // kObject
  };
};

struct JsonLimits {
  std::size_t maxBytes = 16u << 20;       // whole input
  std::size_t maxDepth = 64;              // nested arrays/objects
  std::size_t maxStringBytes = 1u << 20;  // one string or key, after unescaping
  std::size_t maxElements = 1u << 20;     // values of any kind in the document
  std::size_t maxNumberChars = 64;        // digits, sign, point and exponent
  bool allowComments = false;             // `//` and `/* */`, for config files
};

// Where a parse failed, 1-based.
struct JsonParseError {
  std::size_t offset = 0;
  std::size_t line = 0;
  std::size_t column = 0;
  std::string reason;
};

// Parses exactly one JSON value (surrounding whitespace allowed). On failure the
// Status code is kTooLarge for a limit and kMalformed otherwise, its message is
// "line L, column C: reason", and `error` (if non-null) receives the pieces.
Result<Json> parseJson(std::string_view text, const JsonLimits& limits = {},
                       JsonParseError* error = nullptr);

// 1-based line and column of a byte offset in `text` (columns count bytes).
std::pair<std::size_t, std::size_t> lineColumnAt(std::string_view text, std::size_t offset);

enum class JsonStyle { kCompact, kPretty };

// Serialises `value` (pretty: two-space indent, newline at the end). Strings are
// written as UTF-8 with only the escapes JSON requires.
std::string writeJson(const Json& value, JsonStyle style = JsonStyle::kCompact);
// Appends to `out`, for callers that reuse a buffer.
void appendJson(const Json& value, JsonStyle style, std::string* out);
// Appends `value` compactly, except that the node `at` (one inside `value`,
// found by address) is written as `text`: a value already written compactly,
// e.g. a sub-tree many documents share, written once instead of per document.
void appendJsonSpliced(const Json& value, const Json& at, std::string_view text,
                       std::string* out);
// Appends `s` as a quoted JSON string.
void appendJsonString(std::string_view s, std::string* out);

// True if `s` is well-formed UTF-8 without surrogate code points or overlongs.
bool isValidUtf8(std::string_view s);

}  // namespace inloop::fhir
