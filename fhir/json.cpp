#include "fhir/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <unordered_set>

#include "fhir/swar.h"

namespace inloop::fhir {

// ---------------------------------------------------------------- value

// Constant-initialised (the default constructors are constexpr), so usable from
// any other static initialiser.
const std::string Json::kNoText;
const std::vector<Json> Json::kNoItems;
const std::vector<Json::Member> Json::kNoMembers;

void Json::destroy() noexcept {
  switch (type_) {
    case Type::kNumber:
    case Type::kString:
      scalar_.~basic_string();
      break;
    case Type::kArray:
      items_.~vector();
      break;
    case Type::kObject:
      members_.~vector();
      break;
    case Type::kNull:
    case Type::kBool:
      break;
  }
}

void Json::constructFrom(Json&& other) noexcept {
  type_ = other.type_;
  bool_ = other.bool_;
  offset_ = other.offset_;
  switch (type_) {
    case Type::kNumber:
    case Type::kString:
      new (&scalar_) std::string(std::move(other.scalar_));
      break;
    case Type::kArray:
      new (&items_) std::vector<Json>(std::move(other.items_));
      break;
    case Type::kObject:
      new (&members_) std::vector<Member>(std::move(other.members_));
      break;
    case Type::kNull:
    case Type::kBool:
      break;
  }
}

void Json::constructFrom(const Json& other) {
  switch (other.type_) {
    case Type::kNumber:
    case Type::kString:
      new (&scalar_) std::string(other.scalar_);
      break;
    case Type::kArray:
      new (&items_) std::vector<Json>(other.items_);
      break;
    case Type::kObject:
      new (&members_) std::vector<Member>(other.members_);
      break;
    case Type::kNull:
    case Type::kBool:
      break;
  }
  // Set last: if a copy above throws, *this is still a valid null.
  type_ = other.type_;
  bool_ = other.bool_;
  offset_ = other.offset_;
}

Json::Json(const Json& other) { constructFrom(other); }

Json::Json(Json&& other) noexcept { constructFrom(std::move(other)); }

Json& Json::operator=(const Json& other) {
  if (this == &other) return *this;
  Json copy(other);  // `other` may live inside *this
  return *this = std::move(copy);
}

Json& Json::operator=(Json&& other) noexcept {
  if (this == &other) return *this;
  if (type_ == Type::kArray || type_ == Type::kObject) {
    // `other` may be a part of *this (`v = std::move(v.items()[0])`): take it
    // out before this payload is destroyed.
    Json taken(std::move(other));
    destroy();
    type_ = Type::kNull;
    constructFrom(std::move(taken));
    return *this;
  }
  if (type_ >= Type::kNumber) destroy();
  constructFrom(std::move(other));
  return *this;
}

std::vector<Json>& Json::itemsSlow() {
  if (type_ == Type::kNull) {
    // A null becomes an empty array, and what is written to it stays.
    new (&items_) std::vector<Json>();
    type_ = Type::kArray;
    return items_;
  }
  // Any other non-array: a programming error (see the header). Debug builds
  // stop here; release builds hand out a scratch vector whose writes are lost.
  assert(false && "Json::items() on a value that is neither an array nor null");
  thread_local std::vector<Json> scratch;
  scratch.clear();
  return scratch;
}

std::vector<Json::Member>& Json::membersSlow() {
  if (type_ == Type::kNull) {
    new (&members_) std::vector<Member>();
    type_ = Type::kObject;
    return members_;
  }
  assert(false && "Json::members() on a value that is neither an object nor null");
  thread_local std::vector<Member> scratch;
  scratch.clear();
  return scratch;
}

Json Json::boolean(bool value) {
  Json j;
  j.type_ = Type::kBool;
  j.bool_ = value;
  return j;
}

Json Json::numberText(std::string text) {
  Json j;
  new (&j.scalar_) std::string(std::move(text));
  j.type_ = Type::kNumber;
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
  new (&j.scalar_) std::string(std::move(value));
  j.type_ = Type::kString;
  return j;
}

Json Json::array() {
  Json j;
  new (&j.items_) std::vector<Json>();
  j.type_ = Type::kArray;
  return j;
}

Json Json::object() {
  Json j;
  new (&j.members_) std::vector<Member>();
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
  std::vector<Json>& items = this->items();
  items.push_back(std::move(value));
  return items.back();
}

const Json* Json::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Json* Json::find(std::string_view key) {
  if (type_ != Type::kObject) return nullptr;
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
  std::vector<Member>& members = this->members();
  members.emplace_back(std::move(key), std::move(value));
  return members.back().second;
}

bool Json::erase(std::string_view key) {
  if (type_ != Type::kObject) return false;
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
      : limits_(limits), stream_(stream), base_(base) {
    // Room for a typical record, so the stacks rarely grow; each reservation
    // stays below 1 KB, which malloc serves from its per-thread cache.
    frames_.reserve(16);
    items_.reserve(24);
    members_.reserve(14);
  }

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
      for (std::size_t i = top.start; i < members_.size(); ++i) {
        if (members_[i].first == key) {
          duplicate = true;
          break;
        }
      }
    }
    if (duplicate) return fail("duplicate key \"" + std::string(key) + "\"");
    // The member waits at the end of the stack for its value (see attach).
    members_.emplace_back(std::string(key), Json());
    return true;
  }

  bool StartObject() { return start(Json::Type::kObject); }
  bool StartArray() { return start(Json::Type::kArray); }
  bool EndObject(rapidjson::SizeType) { return end(); }
  bool EndArray(rapidjson::SizeType) { return end(); }

  const std::string& failure() const { return failure_; }
  bool limitHit() const { return limitHit_; }
  Json takeRoot() { return std::move(root_); }

 private:
  // An open array or object. Its items or members are collected on the shared
  // stacks items_ / members_ from `start` on and moved into a vector of exactly
  // the right size when it closes: one allocation per container, no regrowth.
  struct Frame {
    bool isArray = false;
    std::size_t start = 0;
    std::size_t offset = 0;
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

  bool start(Json::Type type) {
    if (!countElement()) return false;
    if (frames_.size() >= limits_.maxDepth) {
      return limit("nesting deeper than " + std::to_string(limits_.maxDepth) + " levels");
    }
    // RapidJSON reports StartObject/StartArray before consuming the bracket.
    const bool isArray = type == Json::Type::kArray;
    frames_.push_back(
        Frame{isArray, isArray ? items_.size() : members_.size(), base_ + stream_.Tell(), nullptr});
    return true;
  }

  bool end() {
    Frame& frame = frames_.back();
    Json container;
    if (frame.isArray) {
      container = Json::array();
      auto first = items_.begin() + static_cast<std::ptrdiff_t>(frame.start);
      container.items().reserve(static_cast<std::size_t>(items_.end() - first));
      std::move(first, items_.end(), std::back_inserter(container.items()));
      items_.erase(first, items_.end());
    } else {
      container = Json::object();
      auto first = members_.begin() + static_cast<std::ptrdiff_t>(frame.start);
      container.members().reserve(static_cast<std::size_t>(members_.end() - first));
      std::move(first, members_.end(), std::back_inserter(container.members()));
      members_.erase(first, members_.end());
    }
    container.setSourceOffset(frame.offset);
    frames_.pop_back();
    return attach(std::move(container));
  }

  bool addValue(Json&& value, std::size_t approxTokenLength) {
    if (!countElement()) return false;
    // Scalars are reported after their token: step back over it (approximately
    // for strings with escapes, which are longer in the source).
    std::size_t pos = stream_.Tell();
    value.setSourceOffset(base_ + (pos >= approxTokenLength ? pos - approxTokenLength : 0));
    return attach(std::move(value));
  }

  bool attach(Json&& value) {
    if (frames_.empty()) {
      root_ = std::move(value);
      return true;
    }
    Frame& top = frames_.back();
    if (top.isArray) {
      items_.push_back(std::move(value));
      return true;
    }
    Json::Member& pending = members_.back();
    pending.second = std::move(value);
    if (top.keys) {
      top.keys->insert(pending.first);
    } else if (members_.size() - top.start > kIndexKeysAbove) {
      top.keys = std::make_unique<std::unordered_set<std::string>>();
      for (std::size_t i = top.start; i < members_.size(); ++i) {
        top.keys->insert(members_[i].first);
      }
    }
    return true;
  }

  const JsonLimits& limits_;
  const rapidjson::MemoryStream& stream_;
  std::size_t base_;
  std::vector<Frame> frames_;
  std::vector<Json> items_;
  std::vector<Json::Member> members_;
  Json root_;
  std::size_t elements_ = 0;
  std::string failure_;
  bool limitHit_ = false;
};

constexpr unsigned kStrictFlags = rapidjson::kParseValidateEncodingFlag |
                                  rapidjson::kParseIterativeFlag |
                                  rapidjson::kParseNumbersAsStringsFlag;
constexpr unsigned kCommentFlags = kStrictFlags | rapidjson::kParseCommentsFlag;
// For input that is entirely ASCII, where UTF-8 validation cannot fail: the
// same parse without RapidJSON's per-character decoding.
constexpr unsigned kAsciiFlags = kStrictFlags & ~rapidjson::kParseValidateEncodingFlag;

// True if no byte has its high bit set (eight bytes at a time).
bool isAscii(std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  std::uint64_t any = 0;
  for (; end - p >= 8; p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    any |= w;
  }
  for (; p < end; ++p) any |= static_cast<unsigned char>(*p);
  return (any & 0x8080808080808080ULL) == 0;
}

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
                              : isAscii(text)      ? reader.Parse<kAsciiFlags>(stream, builder)
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

namespace {

// True if any of the 8 bytes of `w` is a control character, '"' or '\\' (the
// bytes a JSON string must escape). Exact as a yes/no answer; bytes >= 0x80
// (UTF-8 sequences) never match.
bool anyNeedsEscape(std::uint64_t w) {
  return (swar::bytesBelow<0x20>(w) | swar::bytesEqual<'"'>(w) | swar::bytesEqual<'\\'>(w)) != 0;
}

// The same for the sixteen bytes at `p`.
bool anyNeedsEscape16(const char* p) {
  const swar::Vec16 v = swar::loadVec16(p);
  return swar::anyLane((v < 0x20) | (v == '"') | (v == '\\'));
}

}  // namespace

namespace {

// Collects output in its own buffer (uninitialised, grown by doubling), so
// writing is plain stores with one capacity check per token or member;
// finish() appends the result to the caller's string.
class Writer {
 public:
  explicit Writer(std::size_t capacity) : buffer_(new char[capacity]), capacity_(capacity) {}

  // A pointer to at least `n` writable bytes at the cursor; advanceTo() then
  // commits what was written.
  char* room(std::size_t n) {
    if (capacity_ - size_ < n) [[unlikely]] grow(n);
    return buffer_.get() + size_;
  }
  void advanceTo(const char* end) { size_ = static_cast<std::size_t>(end - buffer_.get()); }

  void put(std::string_view s) {
    std::memcpy(room(s.size()), s.data(), s.size());
    size_ += s.size();
  }
  void newline(int depth) {
    const std::size_t n = static_cast<std::size_t>(depth) * 2;
    char* d = room(n + 1);
    *d = '\n';
    std::memset(d + 1, ' ', n);
    size_ += n + 1;
  }

  void finish(std::string* out) const { out->append(buffer_.get(), size_); }

  // appendJsonSpliced: the node written as `spliceText` (none: null).
  const Json* spliceAt = nullptr;
  std::string_view spliceText;

 private:
  [[gnu::noinline]] void grow(std::size_t n) {
    const std::size_t capacity = std::max(capacity_ * 2, size_ + n);
    std::unique_ptr<char[]> bigger(new char[capacity]);
    std::memcpy(bigger.get(), buffer_.get(), size_);
    buffer_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_;
  std::size_t size_ = 0;
};

// Initial output buffer: enough for the Bundle of any record type (care-plan
// Bundles are ~18 KB), so writing a record's Bundle never regrows the buffer.
constexpr std::size_t kWriterCapacity = 32768;

// Room a quoted string may need: every byte a six-byte \u00XX escape.
constexpr std::size_t quotedRoom(std::size_t n) { return n * 6 + 2; }

// The bytes of `s` escaped as JSON requires, written at `d` (which has room
// for quotedRoom(s.size()) bytes with the quotes); returns the end.
char* escapeInto(std::string_view s, char* d) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* p = s.data();
  const char* const end = p + s.size();
  const std::size_t n = s.size();
  if (n >= 4 && n < 8) {
    // Short strings (most keys and codes): two overlapping four-byte words test
    // and copy every byte.
    std::uint32_t head;
    std::uint32_t tail;
    std::memcpy(&head, p, sizeof head);
    std::memcpy(&tail, end - 4, sizeof tail);
    if (!anyNeedsEscape(static_cast<std::uint64_t>(head) | std::uint64_t{tail} << 32)) {
      std::memcpy(d, &head, sizeof head);
      std::memcpy(d + n - 4, &tail, sizeof tail);
      return d + n;
    }
  }
  while (p < end) {
    // Long strings (narratives, URLs): sixteen bytes a step while none needs
    // escaping, again after each escape (a narrative's quotes come first).
    while (end - p >= 16 && !anyNeedsEscape16(p)) {
      std::memcpy(d, p, 16);
      d += 16;
      p += 16;
    }
    if (p == end) break;
    // Most strings need no escape at all: copy them eight bytes at a time, the
    // last (partial) word as the final eight bytes of the string.
    const char* stop = end;
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      if (!anyNeedsEscape(w)) {
        std::memcpy(d, &w, sizeof w);
        d += 8;
        p += 8;
        continue;
      }
      stop = p + 8;
    } else if (n >= 8) {
      std::uint64_t w;
      std::memcpy(&w, end - 8, sizeof w);
      if (!anyNeedsEscape(w)) {
        const std::size_t rest = static_cast<std::size_t>(end - p);
        std::memcpy(d + rest - 8, &w, sizeof w);  // rewrites bytes already copied
        return d + rest;
      }
    }
    for (; p < stop; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c >= 0x20 && c != '"' && c != '\\') {
        *d++ = static_cast<char>(c);
        continue;
      }
      *d++ = '\\';
      switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        default:
          *d++ = 'u';
          *d++ = '0';
          *d++ = '0';
          *d++ = kHex[c >> 4];
          *d++ = kHex[c & 0xF];
      }
    }
  }
  return d;
}

char* quotedInto(std::string_view s, char* d) {
  *d++ = '"';
  d = escapeInto(s, d);
  *d++ = '"';
  return d;
}

// A scalar as written: null, true, false, a number's text or a quoted string,
// at `d` with room for scalarRoom(v) bytes; returns the end.
char* scalarInto(const Json& v, char* d) {
  switch (v.type()) {
    case Json::Type::kNull:
      std::memcpy(d, "null", 4);
      return d + 4;
    case Json::Type::kBool:
      if (v.asBool()) {
        std::memcpy(d, "true", 4);
        return d + 4;
      }
      std::memcpy(d, "false", 5);
      return d + 5;
    case Json::Type::kNumber:
      std::memcpy(d, v.text().data(), v.text().size());
      return d + v.text().size();
    case Json::Type::kString:
      return quotedInto(v.text(), d);
    case Json::Type::kArray:
    case Json::Type::kObject:
      break;
  }
  return d;
}

bool isContainer(const Json& v) { return v.isArray() || v.isObject(); }

// Room for scalarInto(v): the literals need at most 5 bytes.
std::size_t scalarRoom(const Json& v) { return quotedRoom(v.text().size()) + 5; }

// Compact: each array item and each object member with a scalar value (most
// of them) is written with one capacity check; containers recurse. Recursion
// depth is bounded by the reader's depth limit for parsed values; values built
// in code are shallow.
void writeCompact(const Json& v, Writer& w);

// Writes `value` at `d`, where room for scalarRoom(value) bytes is reserved:
// a scalar at once, a container recursively.
void valueAt(char* d, const Json& value, Writer& w) {
  if (&value == w.spliceAt) [[unlikely]] {
    w.advanceTo(d);
    w.put(w.spliceText);
    return;
  }
  if (isContainer(value)) {
    w.advanceTo(d);
    writeCompact(value, w);
    return;
  }
  w.advanceTo(scalarInto(value, d));
}

void writeCompact(const Json& v, Writer& w) {
  if (v.isArray()) {
    w.put("[");
    bool first = true;
    for (const Json& item : v.items()) {
      char* d = w.room(scalarRoom(item) + 1);
      if (!first) *d++ = ',';
      first = false;
      valueAt(d, item, w);
    }
    w.put("]");
    return;
  }
  if (v.isObject()) {
    w.put("{");
    bool first = true;
    for (const auto& [key, value] : v.members()) {
      char* d = w.room(quotedRoom(key.size()) + 2 + scalarRoom(value));
      if (!first) *d++ = ',';
      first = false;
      d = quotedInto(key, d);
      *d++ = ':';
      valueAt(d, value, w);
    }
    w.put("}");
    return;
  }
  valueAt(w.room(scalarRoom(v)), v, w);
}

void writePretty(const Json& v, int depth, Writer& w) {
  switch (v.type()) {
    case Json::Type::kArray: {
      if (v.items().empty()) {
        w.put("[]");
        return;
      }
      w.put("[");
      bool first = true;
      for (const Json& item : v.items()) {
        if (!first) w.put(",");
        first = false;
        w.newline(depth + 1);
        writePretty(item, depth + 1, w);
      }
      w.newline(depth);
      w.put("]");
      return;
    }
    case Json::Type::kObject: {
      if (v.members().empty()) {
        w.put("{}");
        return;
      }
      w.put("{");
      bool first = true;
      for (const auto& [key, value] : v.members()) {
        if (!first) w.put(",");
        first = false;
        w.newline(depth + 1);
        w.advanceTo(quotedInto(key, w.room(quotedRoom(key.size()))));
        w.put(": ");
        writePretty(value, depth + 1, w);
      }
      w.newline(depth);
      w.put("}");
      return;
    }
    default:
      w.advanceTo(scalarInto(v, w.room(scalarRoom(v))));
      return;
  }
}

}  // namespace

void appendJsonString(std::string_view s, std::string* out) {
  Writer w(quotedRoom(s.size()));
  w.advanceTo(quotedInto(s, w.room(quotedRoom(s.size()))));
  w.finish(out);
}

void appendJson(const Json& value, JsonStyle style, std::string* out) {
  Writer w(kWriterCapacity);
  if (style == JsonStyle::kPretty) {
    writePretty(value, 0, w);
    w.put("\n");
  } else {
    writeCompact(value, w);
  }
  w.finish(out);
}

void appendJsonSpliced(const Json& value, const Json& at, std::string_view text,
                       std::string* out) {
  Writer w(kWriterCapacity);
  w.spliceAt = &at;
  w.spliceText = text;
  valueAt(w.room(scalarRoom(value)), value, w);
  w.finish(out);
}

std::string writeJson(const Json& value, JsonStyle style) {
  std::string out;
  appendJson(value, style, &out);
  return out;
}

}  // namespace inloop::fhir
