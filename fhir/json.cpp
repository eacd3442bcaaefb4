#include "fhir/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <unordered_set>

namespace inloop::fhir {

// ---------------------------------------------------------------- value

Json Json::boolean(bool value) {
  Json j;
  j.type_ = Type::kBool;
  j.bool_ = value;
  return j;
}

Json Json::numberText(std::string text) {
  Json j;
  j.type_ = Type::kNumber;
  j.scalar_ = std::move(text);
  return j;
}

Json Json::number(std::int64_t value) { return numberText(std::to_string(value)); }

Json Json::number(double value) {
  if (!std::isfinite(value)) return Json();
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  return numberText(std::string(buf, res.ptr));
}

Json Json::string(std::string value) {
  Json j;
  j.type_ = Type::kString;
  j.scalar_ = std::move(value);
  return j;
}

Json Json::array() {
  Json j;
  j.type_ = Type::kArray;
  return j;
}

Json Json::object() {
  Json j;
  j.type_ = Type::kObject;
  return j;
}

std::optional<double> Json::toDouble() const {
  if (type_ != Type::kNumber) return std::nullopt;
  double d = 0;
  const char* b = scalar_.data();
  const char* e = b + scalar_.size();
  auto res = std::from_chars(b, e, d);
  if (res.ec != std::errc() || res.ptr != e || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<std::int64_t> Json::toInt64() const {
  if (type_ != Type::kNumber) return std::nullopt;
  std::int64_t v = 0;
  const char* b = scalar_.data();
  const char* e = b + scalar_.size();
  auto res = std::from_chars(b, e, v);
  if (res.ec == std::errc() && res.ptr == e) return v;
  // Accept integral values written with a fraction or exponent (`2.0`, `1e3`).
  auto d = toDouble();
  if (!d || std::floor(*d) != *d || std::fabs(*d) > 9.007199254740992e15) return std::nullopt;
  return static_cast<std::int64_t>(*d);
}

Json& Json::push(Json value) {
  items_.push_back(std::move(value));
  return items_.back();
}

const Json* Json::find(std::string_view key) const {
  for (const auto& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Json* Json::find(std::string_view key) {
  for (auto& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Json& Json::set(std::string key, Json value) {
  if (Json* existing = find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  members_.emplace_back(std::move(key), std::move(value));
  return members_.back().second;
}

bool Json::erase(std::string_view key) {
  auto it = std::find_if(members_.begin(), members_.end(),
                         [&](const Member& m) { return m.first == key; });
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}

std::size_t Json::size() const {
  if (type_ == Type::kArray) return items_.size();
  if (type_ == Type::kObject) return members_.size();
  return 0;
}

bool Json::operator==(const Json& other) const {
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::kNull: return true;
    case Type::kBool: return bool_ == other.bool_;
    case Type::kNumber:
    case Type::kString: return scalar_ == other.scalar_;
    case Type::kArray: return items_ == other.items_;
    case Type::kObject: return members_ == other.members_;
  }
  return false;
}

// ---------------------------------------------------------------- UTF-8

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

// ---------------------------------------------------------------- reader

namespace {

// Builds a Json tree from SAX events, enforcing limits. Returning false from a
// callback stops RapidJSON with kParseErrorTermination; `failure_` says why.
class TreeBuilder {
 public:
  // `base` is the offset of the stream's first byte in the caller's text.
  TreeBuilder(const JsonLimits& limits, const rapidjson::MemoryStream& stream, std::size_t base)
      : limits_(limits), stream_(stream), base_(base) {}

  bool Null() { return addValue(Json(), 4); }
  bool Bool(bool b) { return addValue(Json::boolean(b), b ? 4 : 5); }
  // With kParseNumbersAsStringsFlag only RawNumber is called; the others exist
  // to satisfy the handler concept.
  bool Int(int) { return fail("unexpected integer event"); }
  bool Uint(unsigned) { return fail("unexpected integer event"); }
  bool Int64(std::int64_t) { return fail("unexpected integer event"); }
  bool Uint64(std::uint64_t) { return fail("unexpected integer event"); }
  bool Double(double) { return fail("unexpected number event"); }

  bool RawNumber(const char* str, rapidjson::SizeType length, bool) {
    if (length > limits_.maxNumberChars) {
      return limit("number has " + std::to_string(length) + " characters; the limit is " +
                   std::to_string(limits_.maxNumberChars));
    }
    return addValue(Json::numberText(std::string(str, length)), length);
  }

  bool String(const char* str, rapidjson::SizeType length, bool) {
    if (!checkString(str, length)) return false;
    return addValue(Json::string(std::string(str, length)), length + 2);
  }

  bool Key(const char* str, rapidjson::SizeType length, bool) {
    if (!checkString(str, length)) return false;
    Frame& top = frames_.back();
    std::string_view key(str, length);
    bool duplicate = false;
    if (top.keys) {
      duplicate = top.keys->count(std::string(key)) > 0;
    } else {
      for (const auto& m : top.value.members()) {
        if (m.first == key) {
          duplicate = true;
          break;
        }
      }
    }
    if (duplicate) return fail("duplicate key \"" + std::string(key) + "\"");
    top.key.assign(str, length);
    return true;
  }

  bool StartObject() { return start(Json::object()); }
  bool StartArray() { return start(Json::array()); }
  bool EndObject(rapidjson::SizeType) { return end(); }
  bool EndArray(rapidjson::SizeType) { return end(); }

  const std::string& failure() const { return failure_; }
  bool limitHit() const { return limitHit_; }
  Json takeRoot() { return std::move(root_); }

 private:
  struct Frame {
    Json value;
    std::string key;  // pending key in an object
    std::unique_ptr<std::unordered_set<std::string>> keys;  // for large objects
  };
  static constexpr std::size_t kIndexKeysAbove = 32;

  bool fail(std::string why) {
    failure_ = std::move(why);
    return false;
  }
  bool limit(std::string why) {
    limitHit_ = true;
    return fail(std::move(why));
  }

  bool checkString(const char* str, rapidjson::SizeType length) {
    if (length > limits_.maxStringBytes) {
      return limit("string of " + std::to_string(length) + " bytes; the limit is " +
                   std::to_string(limits_.maxStringBytes));
    }
    // RapidJSON validates raw bytes; escapes can still produce a lone surrogate.
    if (std::memchr(str, 0xED, length) != nullptr && !isValidUtf8({str, length})) {
      return fail("string contains a lone surrogate (\\uD800-\\uDFFF)");
    }
    return true;
  }

  bool countElement() {
    if (++elements_ > limits_.maxElements) {
      return limit("more than " + std::to_string(limits_.maxElements) + " JSON values");
    }
    return true;
  }

  bool start(Json container) {
    if (!countElement()) return false;
    if (frames_.size() >= limits_.maxDepth) {
      return limit("nesting deeper than " + std::to_string(limits_.maxDepth) + " levels");
    }
    // RapidJSON reports StartObject/StartArray before consuming the bracket.
    container.setSourceOffset(base_ + stream_.Tell());
    frames_.push_back(Frame{std::move(container), {}, nullptr});
    return true;
  }

  bool end() {
    Frame frame = std::move(frames_.back());
    frames_.pop_back();
    return attach(std::move(frame.value));
  }

  bool addValue(Json value, std::size_t approxTokenLength) {
    if (!countElement()) return false;
    // Scalars are reported after their token: step back over it (approximately
    // for strings with escapes, which are longer in the source).
    std::size_t pos = stream_.Tell();
    value.setSourceOffset(base_ + (pos >= approxTokenLength ? pos - approxTokenLength : 0));
    return attach(std::move(value));
  }

  bool attach(Json value) {
    if (frames_.empty()) {
      root_ = std::move(value);
      return true;
    }
    Frame& top = frames_.back();
    if (top.value.isArray()) {
      top.value.push(std::move(value));
    } else {
      if (top.keys) top.keys->insert(top.key);
      top.value.members().emplace_back(std::move(top.key), std::move(value));
      top.key.clear();
      if (!top.keys && top.value.members().size() > kIndexKeysAbove) {
        top.keys = std::make_unique<std::unordered_set<std::string>>();
        for (const auto& m : top.value.members()) top.keys->insert(m.first);
      }
    }
    return true;
  }

  const JsonLimits& limits_;
  const rapidjson::MemoryStream& stream_;
  std::size_t base_;
  std::vector<Frame> frames_;
  Json root_;
  std::size_t elements_ = 0;
  std::string failure_;
  bool limitHit_ = false;
};

constexpr unsigned kStrictFlags = rapidjson::kParseValidateEncodingFlag |
                                  rapidjson::kParseIterativeFlag |
                                  rapidjson::kParseNumbersAsStringsFlag;
constexpr unsigned kCommentFlags = kStrictFlags | rapidjson::kParseCommentsFlag;

Status makeError(ErrorCode code, std::string_view text, std::size_t offset, std::string reason,
                 JsonParseError* error) {
  auto [line, column] = lineColumnAt(text, offset);
  std::string message =
      "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + reason;
  if (error) *error = JsonParseError{offset, line, column, std::move(reason)};
  return Status(code, std::move(message));
}

}  // namespace

std::pair<std::size_t, std::size_t> lineColumnAt(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1;
  std::size_t lineStart = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
  }
  return {line, offset - lineStart + 1};
}

Result<Json> parseJson(std::string_view text, const JsonLimits& limits, JsonParseError* error) {
  if (text.size() > limits.maxBytes) {
    return makeError(ErrorCode::kTooLarge, text, 0,
                     "document of " + std::to_string(text.size()) + " bytes; the limit is " +
                         std::to_string(limits.maxBytes),
                     error);
  }
  std::size_t skip = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    if (!limits.allowComments) {
      return makeError(ErrorCode::kMalformed, text, 0,
                       "byte order mark (BOM) before the JSON text is not allowed", error);
    }
    skip = 3;  // editors on some systems add one to config files
  }
  rapidjson::MemoryStream stream(text.data() + skip, text.size() - skip);
  TreeBuilder builder(limits, stream, skip);
  rapidjson::Reader reader;
  rapidjson::ParseResult ok = limits.allowComments ? reader.Parse<kCommentFlags>(stream, builder)
                                                   : reader.Parse<kStrictFlags>(stream, builder);
  if (!ok) {
    std::size_t offset = ok.Offset() + skip;
    if (ok.Code() == rapidjson::kParseErrorTermination) {
      return makeError(builder.limitHit() ? ErrorCode::kTooLarge : ErrorCode::kMalformed, text,
                       offset, builder.failure(), error);
    }
    std::string reason = rapidjson::GetParseError_En(ok.Code());
    if (!reason.empty() && reason.back() == '.') reason.pop_back();
    return makeError(ErrorCode::kMalformed, text, offset, reason, error);
  }
  // MemoryStream reports NUL at its end, so an embedded NUL can end parsing early.
  if (stream.Tell() + skip != text.size()) {
    return makeError(ErrorCode::kMalformed, text, stream.Tell() + skip,
                     "unexpected content after the JSON value", error);
  }
  Json root = builder.takeRoot();
  return root;
}

// ---------------------------------------------------------------- writer

void appendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  std::size_t runStart = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + runStart, i - runStart);
    runStart = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
    }
  }
  out->append(s.data() + runStart, s.size() - runStart);
  out->push_back('"');
}

namespace {

void newline(std::string* out, int depth) {
  out->push_back('\n');
  out->append(static_cast<std::size_t>(depth) * 2, ' ');
}

// Recursion depth is bounded by the reader's depth limit for parsed values;
// values built in code are shallow.
void write(const Json& v, bool pretty, int depth, std::string* out) {
  switch (v.type()) {
    case Json::Type::kNull: out->append("null"); return;
    case Json::Type::kBool: out->append(v.asBool() ? "true" : "false"); return;
    case Json::Type::kNumber: out->append(v.text()); return;
    case Json::Type::kString: appendJsonString(v.text(), out); return;
    case Json::Type::kArray: {
      if (v.items().empty()) {
        out->append("[]");
        return;
      }
      out->push_back('[');
      bool first = true;
      for (const Json& item : v.items()) {
        if (!first) out->push_back(',');
        first = false;
        if (pretty) newline(out, depth + 1);
        write(item, pretty, depth + 1, out);
      }
      if (pretty) newline(out, depth);
      out->push_back(']');
      return;
    }
    case Json::Type::kObject: {
      if (v.members().empty()) {
        out->append("{}");
        return;
      }
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : v.members()) {
        if (!first) out->push_back(',');
        first = false;
        if (pretty) newline(out, depth + 1);
        appendJsonString(key, out);
        out->append(pretty ? ": " : ":");
        write(value, pretty, depth + 1, out);
      }
      if (pretty) newline(out, depth);
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

void appendJson(const Json& value, JsonStyle style, std::string* out) {
  write(value, style == JsonStyle::kPretty, 0, out);
  if (style == JsonStyle::kPretty) out->push_back('\n');
}

std::string writeJson(const Json& value, JsonStyle style) {
  std::string out;
  appendJson(value, style, &out);
  return out;
}

}  // namespace inloop::fhir
