#pragma once

// Binding: a type's JSON form written once, as a list of fields; the same list
// reads (every problem reported with where it is) and writes.
//
//   struct Token { std::string id; std::optional<std::int64_t> limit; };
//   const bind::Fields<Token>& tokenFields() {
//     static const bind::Fields<Token> fields{
//         bind::field("id", &Token::id, bind::kRequired, bind::Text{}),
//         bind::field("limit", &Token::limit, bind::kOptional, bind::Integer{.min = 1}),
//     };
//     return fields;
//   }
//   bind::Reading reading(&issues, "daemon.json", text);  // or bind::Reading reading(&issues)
//   Token token;
//   bind::readObject(reading, json, bind::Path(), tokenFields(), &token);
//   fhir::Json back = bind::writeObject(token, tokenFields());
//
// Reading an object reports a non-object, every member the list does not name
// (with a did-you-mean when one is close), every missing required field, and
// each field's own problems; then the list's whole-object rule runs when the
// fields were sound. Decimals keep their text (fhir/decimal.h).
//
// One wording per kind of mistake: the Reading's member functions below are
// the only places messages for wrong types, missing and unknown fields, empty
// text, values out of range or outside a code list are worded. An issue is
// located by JSON path (`$.tokens[0].id`), or, for a file read with its text, by
// file:line:column with the JSON path leading the message.
//
// Thread safety: a Fields list is immutable after construction and can be
// shared; a Reading belongs to one reading.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "fhir/decimal.h"
#include "fhir/issue.h"
#include "fhir/json.h"

namespace inloop::fhir::bind {

enum class Need : bool { kOptional, kRequired };
inline constexpr Need kOptional = Need::kOptional;
inline constexpr Need kRequired = Need::kRequired;

// Where a value sits: a chain of steps kept on the reader's stack and turned
// into text only when an issue names it. A Path refers to its parent, which
// must outlive it; steps are taken from named Paths only (a temporary's step
// does not compile).
class Path {
 public:
  Path() = default;  // the document root, "$"
  Path member(std::string_view key) const& { return Path(this, key, kNoIndex); }
  Path item(std::size_t index) const& { return Path(this, {}, index); }
  // A step from a temporary would point at it after it is gone: name each
  // step (`const Path list = p.member("a"); list.item(i)`).
  Path member(std::string_view key) const&& = delete;
  Path item(std::size_t index) const&& = delete;
  // "$", "$.a", "$.a[2].b"
  std::string text() const;
  // The member name of the last step ("" for the root and list items).
  std::string_view key() const { return key_; }

 private:
  static constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);
  Path(const Path* parent, std::string_view key, std::size_t index)
      : parent_(parent), key_(key), index_(index) {}
  void appendTo(std::string* out) const;

  const Path* parent_ = nullptr;
  std::string_view key_;
  std::size_t index_ = kNoIndex;
};

// The candidate closest to `word` (case-insensitive edit distance) when it is
// close enough to be a likely typo.
std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates);

// `"a", "b", "c"`.
std::string quotedList(std::span<const std::string_view> names);

// Collects the issues of one reading.
class Reading {
 public:
  // Issues located by JSON path.
  explicit Reading(Issues* issues) : issues_(issues) {}
  // Issues located by file:line:column in `text` (which must outlive this),
  // the JSON path leading the message.
  Reading(Issues* issues, std::string fileName, std::string_view text)
      : issues_(issues), fileName_(std::move(fileName)), text_(text), located_(true) {}

  // Values at paths for which `hidden(pathText)` is true are never quoted back
  // (patient data).
  void hideValues(bool (*isHidden)(std::string_view path)) { hidden_ = isHidden; }
  // Stops listing after `n` issues with one "too many problems" issue (0: no limit).
  void limitIssues(std::size_t n) { maxIssues_ = n; }

  std::size_t errorCount() const { return errors_; }
  bool failed() const { return errors_ > 0; }

  // ---- The wording, one per kind of mistake ----
  // "expected {expected}, got {what v is}" (structure).
  void wrongType(const Json& v, const Path& p, std::string_view expected);
  // "missing required field "name"" and `why` (required), at the object that lacks it.
  void missing(const Json& object, const Path& field, std::string_view why = {});
  // "unknown field "key"; did you mean "x"?" or "... (known: a, b)" (structure).
  void unknownField(const Json& value, const Path& field, std::span<const std::string_view> known);
  // "expected one of "a", "b", got "v"; did you mean "a"?" (value).
  void notOneOf(const Json& v, const Path& p, std::span<const std::string_view> names);
  // "must not be empty" (value).
  void empty(const Json& v, const Path& p);
  // "too long: N characters, at most M" (too-long).
  void tooLong(const Json& v, const Path& p, std::size_t chars, std::size_t max);
  // "too many items: N, at most M" (too-long) / "needs at least N item(s)" (required).
  void tooMany(const Json& v, const Path& p, std::size_t n, std::size_t max);
  void tooFew(const Json& v, const Path& p, std::size_t min);
  // "expected {range}, got V" (value); range as rangeText() words it.
  void outOfRange(const Json& v, const Path& p, std::string_view range);
  // "{expected}, got "v"" (value), for a format a rule checks.
  void invalid(const Json& v, const Path& p, std::string_view expected);
  // ""v" is listed twice" (duplicate).
  void duplicate(const Json& v, const Path& p, std::string_view value);
  // Any other rule, in its own words.
  void error(std::string code, const Json& v, const Path& p, std::string message);
  void warning(std::string code, const Json& v, const Path& p, std::string message);

  // file:line:column of `v` (or the path text when read without a file).
  std::string where(const Json& v, const Path& p) const;
  // ", got "v"" or "" where values are hidden.
  std::string got(std::string_view value, const Path& p) const;
  // "string "120"", "number 1.5", "an object"... ("a string" where hidden).
  std::string describe(const Json& v, const Path& p) const;

 private:
  void add(Severity severity, std::string code, std::string where, std::string message);
  // Where `v` is written in the text (an object or list: its bracket), and
  // that offset as file:line:column.
  std::size_t offsetOf(const Json& v) const;
  std::string locate(std::size_t offset) const;
  // Adds an issue at `offset` (file:line:column with the path leading the
  // message) or, without a file, at the path.
  void report(Severity severity, std::string code, std::size_t offset, const Path& p,
              std::string message);
  bool hidden(const Path& p) const;

  Issues* issues_;
  std::string fileName_;
  std::string_view text_;
  bool located_ = false;
  bool (*hidden_)(std::string_view) = nullptr;
  std::size_t maxIssues_ = 0;
  std::size_t count_ = 0;
  std::size_t errors_ = 0;
};

// "an integer from 1 to 10", "an integer of at least 1", "a number of at least 0".
std::string rangeText(std::string_view what, std::optional<std::string> min,
                      std::optional<std::string> max);

// ---- Codecs: how one value of a type reads and writes ----
// A codec has `bool read(Reading&, const Json&, const Path&, V*) const` (false:
// reported) and `Json write(const V&) const`.

// Text. `check` returns what was expected (nullptr when fine).
struct Text {
  std::size_t minChars = 1;  // 1: must not be empty
  std::size_t maxChars = 0;  // 0: no limit beyond the JSON reader's
  const char* (*check)(std::string_view) = nullptr;
  bool quoteValue = true;  // false: a refusal does not echo the value

  bool read(Reading& r, const Json& v, const Path& p, std::string* out) const;
  Json write(const std::string& s) const { return Json::string(s); }
};

// A whole number within [min, max], stored as any integral type.
template <typename I = std::int64_t>
struct Integer {
  std::int64_t min = std::numeric_limits<std::int64_t>::min();
  std::int64_t max = std::numeric_limits<std::int64_t>::max();

  bool read(Reading& r, const Json& v, const Path& p, I* out) const;
  Json write(const I& n) const { return Json::number(static_cast<std::int64_t>(n)); }
};

struct Boolean {
  bool read(Reading& r, const Json& v, const Path& p, bool* out) const;
  Json write(const bool& b) const { return Json::boolean(b); }
};

// A number kept as written; optionally bounded.
struct DecimalCodec {
  std::optional<double> min;  // e.g. 0: must not be negative
  bool read(Reading& r, const Json& v, const Path& p, Decimal* out) const;
  Json write(const Decimal& d) const { return Json::numberText(d.text); }
};

// A code from a fixed list, for an enumeration.
template <typename E>
struct Enum {
  std::vector<std::pair<std::string_view, E>> codes;

  Enum(std::initializer_list<std::pair<std::string_view, E>> list) : codes(list) {
    for (const auto& c : codes) names.push_back(c.first);
  }
  bool read(Reading& r, const Json& v, const Path& p, E* out) const {
    if (!v.isString()) return r.wrongType(v, p, "a string"), false;
    for (const auto& [name, value] : codes) {
      if (name == v.text()) return *out = value, true;
    }
    r.notOneOf(v, p, names);
    return false;
  }
  Json write(const E& e) const {
    for (const auto& [name, value] : codes) {
      if (value == e) return Json::string(std::string(name));
    }
    return Json();
  }
  std::vector<std::string_view> names;
};

// A list of values read by `item`; `unique` refuses repeats (by JSON equality).
// `uniqueBy` names a member of object items that must differ between items
// (by JSON equality, "code"); a repeat is reported at that member and not read.
// Items that fail to read (or are not read) stay in the list, as far as they
// were read, so that item i is JSON item i (the reading has failed).
template <typename C>
struct List {
  C item{};
  std::size_t minItems = 0;
  std::size_t maxItems = 0;  // 0: no limit
  bool unique = false;
  std::string_view uniqueBy{};

  template <typename V>
  bool read(Reading& r, const Json& v, const Path& p, std::vector<V>* out) const {
    if (!v.isArray()) return r.wrongType(v, p, "a list"), false;
    const auto& items = v.items();
    if (maxItems != 0 && items.size() > maxItems)
      return r.tooMany(v, p, items.size(), maxItems), false;
    if (items.size() < minItems) return r.tooFew(v, p, minItems), false;
    const std::size_t before = r.errorCount();
    out->clear();
    out->reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      const Path at = p.item(i);
      if (unique) {
        bool seen = false;
        for (std::size_t k = 0; k < i && !seen; ++k) seen = items[k] == items[i];
        if (seen) r.duplicate(items[i], at, items[i].isString() ? items[i].text() : "this value");
      }
      if (const Json* key = uniqueBy.empty() ? nullptr : items[i].find(uniqueBy)) {
        bool seen = false;
        for (std::size_t k = 0; k < i && !seen; ++k) {
          const Json* earlier = items[k].find(uniqueBy);
          seen = earlier != nullptr && *earlier == *key;
        }
        if (seen) {
          const Path keyAt = at.member(uniqueBy);
          r.duplicate(*key, keyAt, key->isString() ? key->text() : "this value");
          out->push_back(V{});
          continue;
        }
      }
      // A broken item is kept (as far as it was read) so that indices match
      // the JSON for whole-object rules; the reading has failed anyway.
      V value{};
      item.read(r, items[i], at, &value);
      out->push_back(std::move(value));
    }
    return r.errorCount() == before;
  }
  template <typename V>
  Json write(const std::vector<V>& values) const {
    Json a = Json::array();
    for (const V& value : values) a.push(item.write(value));
    return a;
  }
};

// An object whose member names are keys chosen by the user (`{"a": ..., "b": ...}`),
// read into a std::map; `key` (optional) checks each name.
template <typename C>
struct Map {
  C value{};
  const char* (*key)(std::string_view) = nullptr;

  template <typename V>
  bool read(Reading& r, const Json& v, const Path& p, std::map<std::string, V>* out) const {
    if (!v.isObject()) return r.wrongType(v, p, "an object"), false;
    const std::size_t before = r.errorCount();
    for (const auto& [name, item] : v.members()) {
      const Path at = p.member(name);
      if (key != nullptr) {
        if (const char* expected = key(name); expected != nullptr) {
          r.error("value", item, at, std::string(expected));
          continue;
        }
      }
      V one{};
      if (value.read(r, item, at, &one)) out->emplace(name, std::move(one));
    }
    return r.errorCount() == before;
  }
  template <typename V>
  Json write(const std::map<std::string, V>& values) const {
    Json o = Json::object();
    for (const auto& [name, one] : values) o.set(name, value.write(one));
    return o;
  }
};

// A value with its own reading and writing (a form the codecs above do not cover).
template <typename V>
struct Custom {
  std::function<bool(Reading&, const Json&, const Path&, V*)> reader;
  std::function<Json(const V&)> writer;

  bool read(Reading& r, const Json& v, const Path& p, V* out) const { return reader(r, v, p, out); }
  Json write(const V& value) const { return writer ? writer(value) : Json(); }
};

// ---- Fields ----

template <typename T>
class Field {
 public:
  Field(std::string_view name, Need need) : name_(name), need_(need) {}
  virtual ~Field() = default;
  std::string_view name() const { return name_; }
  Need need() const { return need_; }
  // Reads `v` (present in the JSON) into `out`'s member; false when reported.
  virtual bool read(Reading& r, const Json& v, const Path& p, T* out) const = 0;
  // Appends the member to `object` unless it is absent: an empty optional, or
  // an optional field holding the value a default-constructed T has (what
  // reading the field's absence leaves), so that writing and reading again
  // give the same value: a setting that defaults to true is written when false.
  virtual void write(const T& in, Json* object) const = 0;

 private:
  std::string_view name_;
  Need need_;
};

template <typename V>
struct IsOptional : std::false_type {};
template <typename V>
struct IsOptional<std::optional<V>> : std::true_type {};

// std::equality_comparable that looks into containers (a vector's == exists
// even when its items have none).
template <typename V>
struct Comparable : std::bool_constant<std::equality_comparable<V>> {};
template <typename V>
struct Comparable<std::vector<V>> : Comparable<V> {};
template <typename K, typename V>
struct Comparable<std::map<K, V>> : Comparable<V> {};
template <typename V>
struct Comparable<std::optional<V>> : Comparable<V> {};

template <typename T, typename M, typename C>
class MemberField final : public Field<T> {
 public:
  MemberField(std::string_view name, M T::*member, Need need, C codec)
      : Field<T>(name, need), member_(member), codec_(std::move(codec)) {}

  bool read(Reading& r, const Json& v, const Path& p, T* out) const override {
    if constexpr (IsOptional<M>::value) {
      typename M::value_type value{};
      if (!codec_.read(r, v, p, &value)) return false;
      out->*member_ = std::move(value);
      return true;
    } else {
      return codec_.read(r, v, p, &(out->*member_));
    }
  }
  void write(const T& in, Json* object) const override {
    const M& value = in.*member_;
    if constexpr (IsOptional<M>::value) {
      if (value) object->set(std::string(this->name()), codec_.write(*value));
    } else {
      if constexpr (Comparable<M>::value && std::is_default_constructible_v<T>) {
        // What reading an absent optional field leaves: the value a fresh T holds.
        static const T kFresh{};
        if (this->need() == kOptional && value == kFresh.*member_) return;
      } else if constexpr (requires { value.empty(); }) {
        // A container without ==: left out when empty.
        if (this->need() == kOptional && value.empty()) return;
      }
      object->set(std::string(this->name()), codec_.write(value));
    }
  }

 private:
  M T::*member_;
  C codec_;
};

// One field: member `member` of T under JSON name `name`, read and written by `codec`.
template <typename T, typename M, typename C>
std::shared_ptr<const Field<T>> field(std::string_view name, M T::*member, Need need, C codec) {
  return std::make_shared<MemberField<T, M, C>>(name, member, need, std::move(codec));
}

// A field that is not one member (one JSON value filling several members, or
// several forms): read and written by functions of the whole object. `write`
// may be empty for a field that is only read.
template <typename T>
class FunctionField final : public Field<T> {
 public:
  using Reader = std::function<bool(Reading&, const Json&, const Path&, T*)>;
  using Writer = std::function<void(const T&, Json* object)>;
  FunctionField(std::string_view name, Need need, Reader reader, Writer writer)
      : Field<T>(name, need), reader_(std::move(reader)), writer_(std::move(writer)) {}
  bool read(Reading& r, const Json& v, const Path& p, T* out) const override {
    return reader_(r, v, p, out);
  }
  void write(const T& in, Json* object) const override {
    if (writer_) writer_(in, object);
  }

 private:
  Reader reader_;
  Writer writer_;
};

template <typename T>
std::shared_ptr<const Field<T>> computedField(std::string_view name, Need need,
                                              typename FunctionField<T>::Reader reader,
                                              typename FunctionField<T>::Writer writer = {}) {
  return std::make_shared<FunctionField<T>>(name, need, std::move(reader), std::move(writer));
}

// A field of T's member struct `member`, written in T's own object (no nesting
// in the JSON): `bind::within(&Auth::smart, bind::field("clientId", &Smart::clientId, ...))`.
template <typename T, typename M>
class WithinField final : public Field<T> {
 public:
  WithinField(M T::*member, std::shared_ptr<const Field<M>> inner)
      : Field<T>(inner->name(), inner->need()), member_(member), inner_(std::move(inner)) {}
  bool read(Reading& r, const Json& v, const Path& p, T* out) const override {
    return inner_->read(r, v, p, &(out->*member_));
  }
  void write(const T& in, Json* object) const override { inner_->write(in.*member_, object); }

 private:
  M T::*member_;
  std::shared_ptr<const Field<M>> inner_;
};

template <typename T, typename M>
std::shared_ptr<const Field<T>> within(M T::*member, std::shared_ptr<const Field<M>> inner) {
  return std::make_shared<WithinField<T, M>>(member, std::move(inner));
}

// A type's fields in writing order, and an optional whole-object rule that runs
// after the fields were read without error (cross-field checks).
enum class RuleRuns {
  kWhenSound,  // only when the fields were read without error (the default)
  kAlways,     // also after errors, to report every problem; members may be partly read
};

template <typename T>
class Fields {
 public:
  using Rule = std::function<void(Reading&, const Json& object, const Path&, T*)>;

  Fields(std::initializer_list<std::shared_ptr<const Field<T>>> fields, Rule rule = {},
         RuleRuns when = RuleRuns::kWhenSound)
      : fields_(fields), rule_(std::move(rule)), when_(when) {
    for (const auto& f : fields_) names_.push_back(f->name());
  }
  // The same from a list assembled in code (variants sharing fields, fields
  // derived from a table of names).
  explicit Fields(std::vector<std::shared_ptr<const Field<T>>> fields, Rule rule = {},
                  RuleRuns when = RuleRuns::kWhenSound)
      : fields_(std::move(fields)), rule_(std::move(rule)), when_(when) {
    for (const auto& f : fields_) names_.push_back(f->name());
  }

  const std::vector<std::shared_ptr<const Field<T>>>& list() const { return fields_; }
  std::span<const std::string_view> names() const { return names_; }
  const Rule& rule() const { return rule_; }
  RuleRuns ruleRuns() const { return when_; }
  const Field<T>* find(std::string_view name) const {
    for (const auto& f : fields_) {
      if (f->name() == name) return f.get();
    }
    return nullptr;
  }

 private:
  std::vector<std::shared_ptr<const Field<T>>> fields_;
  std::vector<std::string_view> names_;
  Rule rule_;
  RuleRuns when_ = RuleRuns::kWhenSound;
};

// Reads the members `fields` lists from object `v` into `out` and runs the
// list's rule, without looking for other members (for one JSON object that
// several lists share); false when anything was reported.
template <typename T>
bool readMembers(Reading& r, const Json& v, const Path& p, const Fields<T>& fields, T* out) {
  const std::size_t before = r.errorCount();
  for (const auto& f : fields.list()) {
    const Json* value = v.find(f->name());
    if (value == nullptr) {
      if (f->need() == kRequired) r.missing(v, p.member(f->name()));
      continue;
    }
    f->read(r, *value, p.member(f->name()), out);
  }
  if (fields.rule() && (fields.ruleRuns() == RuleRuns::kAlways || r.errorCount() == before)) {
    fields.rule()(r, v, p, out);
  }
  return r.errorCount() == before;
}

// Reads object `v` into `out` by `fields`, refusing members it does not list;
// false when anything was reported.
template <typename T>
bool readObject(Reading& r, const Json& v, const Path& p, const Fields<T>& fields, T* out) {
  if (!v.isObject()) return r.wrongType(v, p, "an object"), false;
  const std::size_t before = r.errorCount();
  for (const auto& [key, value] : v.members()) {
    if (fields.find(key) == nullptr) r.unknownField(value, p.member(key), fields.names());
  }
  readMembers(r, v, p, fields, out);
  return r.errorCount() == before;
}

// Appends `in`'s members to `object` in the list's order.
template <typename T>
void writeMembers(const T& in, const Fields<T>& fields, Json* object) {
  for (const auto& f : fields.list()) f->write(in, object);
}

template <typename T>
Json writeObject(const T& in, const Fields<T>& fields) {
  Json o = Json::object();
  writeMembers(in, fields, &o);
  return o;
}

// For a whole-object rule: reports every item of list member `list` whose
// `key` member (JSON name `keyName`) repeats an earlier item's. `items` are the
// values read from `object`'s list, in order.
template <typename V, typename K>
void refuseRepeats(Reading& r, const Json& object, const Path& p, std::string_view list,
                   const std::vector<V>& items, K V::*key, std::string_view keyName) {
  const Json* json = object.find(list);
  if (json == nullptr || json->items().size() != items.size()) return;
  const Path at = p.member(list);
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      if (items[k].*key != items[i].*key) continue;
      const Json* value = json->items()[i].find(keyName);
      const Path item = at.item(i);
      r.duplicate(value != nullptr ? *value : json->items()[i], item.member(keyName),
                  items[i].*key);
      break;
    }
  }
}

// A nested object read and written by its own fields: a list built once
// (`Object<Dose>{doseFields}`, a function returning a static list) or one built
// for this reading (`Object<Tls>{tlsFields(baseDir)}`, kept by the codec).
template <typename T>
class Object {
 public:
  Object(const Fields<T>& (*fields)())  // NOLINT(google-explicit-constructor)
      : fields_(std::shared_ptr<const Fields<T>>(), &fields()) {}
  Object(Fields<T> fields)  // NOLINT(google-explicit-constructor)
      : fields_(std::make_shared<const Fields<T>>(std::move(fields))) {}

  bool read(Reading& r, const Json& v, const Path& p, T* out) const {
    return readObject(r, v, p, *fields_, out);
  }
  Json write(const T& value) const { return writeObject(value, *fields_); }

 private:
  std::shared_ptr<const Fields<T>> fields_;  // non-owning for a static list
};

// ---- Integer ----

template <typename I>
bool Integer<I>::read(Reading& r, const Json& v, const Path& p, I* out) const {
  static_assert(std::is_integral_v<I>);
  const std::int64_t lo = std::max<std::int64_t>(min, std::numeric_limits<I>::min());
  const std::int64_t hi =
      static_cast<std::uint64_t>(std::numeric_limits<I>::max()) >
              static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
          ? max
          : std::min<std::int64_t>(max, static_cast<std::int64_t>(std::numeric_limits<I>::max()));
  // The range is worded only for a refusal: reading a valid value allocates nothing.
  auto range = [&] {
    const bool lowBound = lo != std::numeric_limits<std::int64_t>::min();
    const bool highBound = hi != std::numeric_limits<std::int64_t>::max();
    return rangeText("an integer", lowBound ? std::optional(std::to_string(lo)) : std::nullopt,
                     highBound ? std::optional(std::to_string(hi)) : std::nullopt);
  };
  if (!v.isNumber()) return r.wrongType(v, p, range()), false;
  const std::optional<std::int64_t> n = v.toInt64();
  if (!n || *n < lo || *n > hi) return r.outOfRange(v, p, range()), false;
  *out = static_cast<I>(*n);
  return true;
}

}  // namespace inloop::fhir::bind
