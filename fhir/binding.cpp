#include "fhir/binding.h"

#include <algorithm>
#include <cstdio>

namespace inloop::fhir::bind {

namespace {

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Case-insensitive edit distance counting a swap of two neighbours as one
// edit ("cuont" is one away from "count"); inputs are short: keys and codes.
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> before(b.size() + 1);
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggestion(std::string_view word, std::span<const std::string_view> candidates) {
  auto c = closest(word, candidates);
  return c ? "; did you mean " + quoted(*c) + "?" : std::string();
}

// At most 40 characters of `s`, cut at a character boundary.
std::string preview(std::string_view s) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars > 40) {
      return std::string(s.substr(0, i)) + "...";
    }
  }
  return std::string(s);
}

std::size_t countChars(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

// ---- Path ----

void Path::appendTo(std::string* out) const {
  if (parent_ == nullptr) {
    out->push_back('$');
    return;
  }
  parent_->appendTo(out);
  if (index_ != kNoIndex) {
    *out += '[';
    *out += std::to_string(index_);
    *out += ']';
  } else {
    *out += '.';
    out->append(key_);
  }
}

std::string Path::text() const {
  std::string out;
  appendTo(&out);
  return out;
}

// ---- Helpers ----

std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  if (word.size() > 80) return std::nullopt;  // nothing we know is that long
  std::optional<std::string_view> best;
  std::size_t bestDistance = 0;
  for (std::string_view c : candidates) {
    const std::size_t d = editDistance(word, c);
    if (!best || d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (!best) return std::nullopt;
  // One edit for short words, two from six characters on (of the longer word).
  const std::size_t longer = std::max(word.size(), best->size());
  const std::size_t allowed = std::min<std::size_t>(2, std::max<std::size_t>(1, longer / 3));
  if (bestDistance <= allowed) return best;
  return std::nullopt;
}

std::string quotedList(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += quoted(n);
  }
  return out;
}

std::string rangeText(std::string_view what, std::optional<std::string> min,
                      std::optional<std::string> max) {
  std::string out(what);
  if (min && max) return out + " from " + *min + " to " + *max;
  if (min) return out + " of at least " + *min;
  if (max) return out + " of at most " + *max;
  return out;
}

// ---- Reading ----

bool Reading::hidden(const Path& p) const { return hidden_ != nullptr && hidden_(p.text()); }

std::string Reading::got(std::string_view value, const Path& p) const {
  return hidden(p) ? std::string() : ", got " + quoted(preview(value));
}

std::string Reading::describe(const Json& v, const Path& p) const {
  const bool hide = hidden(p);
  switch (v.type()) {
    case Json::Type::kNull:
      return "null";
    case Json::Type::kBool:
      return hide ? "a boolean" : (v.asBool() ? "true" : "false");
    case Json::Type::kNumber:
      return hide ? "a number" : "number " + preview(v.text());
    case Json::Type::kString:
      return hide ? "a string" : "string " + quoted(preview(v.text()));
    case Json::Type::kArray:
      return "a list";
    case Json::Type::kObject:
      return "an object";
  }
  return "a value";
}

std::size_t Reading::offsetOf(const Json& v) const {
  std::size_t offset = v.sourceOffset();
  if (v.isObject() || v.isArray()) {
    // Point at the bracket itself even if the recorded offset is just before it.
    const char open = v.isObject() ? '{' : '[';
    const std::size_t at = text_.find(open, offset);
    if (at != std::string_view::npos && at - offset <= 1) offset = at;
  }
  return offset;
}

std::string Reading::locate(std::size_t offset) const {
  auto [line, column] = lineColumnAt(text_, offset);
  return fileName_ + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Reading::where(const Json& v, const Path& p) const {
  return located_ ? locate(offsetOf(v)) : p.text();
}

void Reading::add(Severity severity, std::string code, std::string where, std::string message) {
  if (severity == Severity::kError || severity == Severity::kFatal) ++errors_;
  if (maxIssues_ != 0 && count_ == maxIssues_) {
    issues_->push_back(
        Issue{Severity::kError, "too-costly", located_ ? fileName_ : "$",
              "too many problems; stopped listing them after " + std::to_string(maxIssues_)});
  }
  if (maxIssues_ != 0 && count_++ >= maxIssues_) return;
  issues_->push_back(Issue{severity, std::move(code), std::move(where), std::move(message)});
}

void Reading::report(Severity severity, std::string code, std::size_t offset, const Path& p,
                     std::string message) {
  std::string path = p.text();
  if (!located_) {
    add(severity, std::move(code), std::move(path), std::move(message));
    return;
  }
  add(severity, std::move(code), locate(offset),
      path == "$" ? std::move(message) : path + ": " + message);
}

void Reading::error(std::string code, const Json& v, const Path& p, std::string message) {
  report(Severity::kError, std::move(code), offsetOf(v), p, std::move(message));
}

void Reading::warning(std::string code, const Json& v, const Path& p, std::string message) {
  report(Severity::kWarning, std::move(code), offsetOf(v), p, std::move(message));
}

void Reading::wrongType(const Json& v, const Path& p, std::string_view expected) {
  error("structure", v, p, "expected " + std::string(expected) + ", got " + describe(v, p));
}

void Reading::missing(const Json& object, const Path& field, std::string_view why) {
  // Located at the object that lacks the field.
  report(Severity::kError, "required", offsetOf(object), field,
         "missing required field " + quoted(field.key()) + std::string(why));
}

void Reading::unknownField(const Json& value, const Path& field,
                           std::span<const std::string_view> known) {
  const std::string_view key = field.key();
  std::string message = "unknown field " + quoted(key);
  if (auto near = closest(key, known)) {
    message += "; did you mean " + quoted(*near) + "?";
  } else if (!known.empty() && known.size() <= 12) {
    message += " (known: " + quotedList(known) + ")";
  }
  std::size_t offset = value.sourceOffset();
  if (located_) {
    // Where the key is written; the value's place if it cannot be found (escapes).
    const std::size_t at = text_.rfind(quoted(key), value.sourceOffset());
    if (at != std::string_view::npos) offset = at;
  }
  report(Severity::kError, "structure", offset, field, std::move(message));
}

void Reading::notOneOf(const Json& v, const Path& p, std::span<const std::string_view> names) {
  error("value", v, p,
        "expected one of " + quotedList(names) + got(v.text(), p) + suggestion(v.text(), names));
}

void Reading::empty(const Json& v, const Path& p) { error("value", v, p, "must not be empty"); }

void Reading::tooLong(const Json& v, const Path& p, std::size_t chars, std::size_t max) {
  error("too-long", v, p,
        "too long: " + std::to_string(chars) + " characters, at most " + std::to_string(max));
}

void Reading::tooMany(const Json& v, const Path& p, std::size_t n, std::size_t max) {
  error("too-long", v, p,
        "too many items: " + std::to_string(n) + ", at most " + std::to_string(max));
}

void Reading::tooFew(const Json& v, const Path& p, std::size_t min) {
  error("required", v, p,
        "needs at least " + std::to_string(min) + (min == 1 ? " item" : " items"));
}

void Reading::outOfRange(const Json& v, const Path& p, std::string_view range) {
  error("value", v, p, "expected " + std::string(range) + ", got " + describe(v, p));
}

void Reading::invalid(const Json& v, const Path& p, std::string_view expected) {
  error("value", v, p, std::string(expected) + (v.isString() ? got(v.text(), p) : ""));
}

void Reading::duplicate(const Json& v, const Path& p, std::string_view value) {
  error("duplicate", v, p, quoted(value) + " is listed twice");
}

// ---- Codecs ----

bool Text::read(Reading& r, const Json& v, const Path& p, std::string* out) const {
  if (!v.isString()) return r.wrongType(v, p, "a string"), false;
  const std::string& s = v.text();
  if (s.empty() && minChars > 0) return r.empty(v, p), false;
  if (minChars > 1 || maxChars != 0) {
    const std::size_t chars = countChars(s);
    if (chars < minChars) {
      r.outOfRange(v, p, rangeText("text", std::to_string(minChars) + " characters", std::nullopt));
      return false;
    }
    if (maxChars != 0 && chars > maxChars) return r.tooLong(v, p, chars, maxChars), false;
  }
  if (check != nullptr) {
    if (const char* expected = check(s); expected != nullptr) {
      r.error("value", v, p, expected + (quoteValue ? r.got(s, p) : std::string()));
      return false;
    }
  }
  *out = s;
  return true;
}

bool Boolean::read(Reading& r, const Json& v, const Path& p, bool* out) const {
  if (!v.isBool()) return r.wrongType(v, p, "true or false"), false;
  *out = v.asBool();
  return true;
}

bool DecimalCodec::read(Reading& r, const Json& v, const Path& p, Decimal* out) const {
  if (!v.isNumber()) return r.wrongType(v, p, "a number"), false;
  std::optional<Decimal> d = Decimal::fromText(v.text());
  if (!d) return r.outOfRange(v, p, "a finite number"), false;
  if (min && d->value < *min) {
    r.outOfRange(v, p, rangeText("a number", Decimal::of(*min).text, std::nullopt));
    return false;
  }
  *out = std::move(*d);
  return true;
}

}  // namespace inloop::fhir::bind
