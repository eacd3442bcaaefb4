// The Json value's own semantics (copies, moves, assignment between types, the
// accessors on the wrong type): the value keeps one payload at a time, so these
// are the cases where a slip would lose or corrupt data.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "fhir/json.h"

namespace {

using inloop::fhir::Json;
using inloop::fhir::parseJson;
using inloop::fhir::writeJson;

Json parsed(const std::string& text) {
  auto r = parseJson(text);
  REQUIRE(r.isOk());
  return std::move(r).value();
}

// One value of every type, with strings long enough to live on the heap.
std::vector<std::string> samples() {
  return {
      "null",
      "true",
      "false",
      "1.50",
      "\"short\"",
      "\"a string well beyond the small-string buffer of std::string\"",
      "[]",
      "[1,\"two\",[3],{\"four\":4}]",
      "{}",
      "{\"a\":{\"b\":[null,true,\"a long string value that needs its own allocation\"]}}",
  };
}

}  // namespace

TEST_CASE("Json copies and moves keep every type's value", "[fhir][json]") {
  for (const std::string& text : samples()) {
    CAPTURE(text);
    const Json original = parsed(text);
    Json copy(original);
    CHECK(copy == original);
    CHECK(writeJson(copy) == text);
    Json moved(std::move(copy));
    CHECK(moved == original);
    Json assigned;
    assigned = moved;
    CHECK(assigned == original);
    Json moveAssigned = Json::string("to be replaced by a value of another type");
    moveAssigned = std::move(assigned);
    CHECK(moveAssigned == original);
    CHECK(writeJson(moveAssigned) == text);
  }
}

TEST_CASE("Json assignment between every pair of types", "[fhir][json]") {
  for (const std::string& from : samples()) {
    for (const std::string& to : samples()) {
      CAPTURE(from, to);
      Json target = parsed(to);
      target = parsed(from);
      CHECK(writeJson(target) == from);
      Json copyTarget = parsed(to);
      const Json source = parsed(from);
      copyTarget = source;
      CHECK(writeJson(copyTarget) == from);
    }
  }
}

TEST_CASE("Json self-assignment and assignment from a part of itself", "[fhir][json]") {
  Json v = parsed("[[\"inner value long enough to be allocated on the heap\"],2]");
  Json& self = v;
  v = self;
  CHECK(writeJson(v) == "[[\"inner value long enough to be allocated on the heap\"],2]");
  v = std::move(self);
  CHECK(writeJson(v) == "[[\"inner value long enough to be allocated on the heap\"],2]");
  v = std::move(v.items()[0]);
  CHECK(writeJson(v) == "[\"inner value long enough to be allocated on the heap\"]");
  v = v.items()[0];
  CHECK(writeJson(v) == "\"inner value long enough to be allocated on the heap\"");

  Json o = parsed("{\"k\":{\"inner\":[1,2,3]}}");
  o = std::move(*o.find("k"));
  CHECK(writeJson(o) == "{\"inner\":[1,2,3]}");
}

TEST_CASE("Json accessors on the wrong type read empty and change nothing", "[fhir][json]") {
  for (const std::string& text :
       {std::string("\"text\""), std::string("7"), std::string("true"), std::string("[1]"),
        std::string("{\"a\":1}")}) {
    CAPTURE(text);
    Json v = parsed(text);
    const Json& read = v;
    if (!v.isArray()) CHECK(read.items().empty());
    if (!v.isObject()) {
      CHECK(read.members().empty());
      CHECK(v.find("a") == nullptr);
      CHECK_FALSE(v.erase("a"));
    }
#ifdef NDEBUG
    // Writing through the wrong type is a programming error, asserted in debug
    // builds; release builds lose the write and keep the value.
    if (!v.isArray()) {
      v.items().push_back(Json::boolean(true));
      v.push(Json::boolean(true));
      CHECK(read.items().empty());
    }
    if (!v.isObject()) {
      v.members().emplace_back("x", Json());
      CHECK(read.members().empty());
    }
#endif
    if (!v.isString() && !v.isNumber()) CHECK(v.text().empty());
    CHECK(writeJson(v) == text);
  }
}

TEST_CASE("Json null becomes the array or object first written to, and keeps the writes",
          "[fhir][json]") {
  Json list;
  list.push(Json::boolean(true));
  list.items().push_back(Json::string("x"));
  CHECK(list.isArray());
  CHECK(writeJson(list) == "[true,\"x\"]");

  Json object;
  object.set("a", Json::boolean(false));
  object.members().emplace_back("b", Json());
  CHECK(object.isObject());
  CHECK(writeJson(object) == "{\"a\":false,\"b\":null}");

  // A null member filled in place.
  Json doc = parsed("{\"entry\":null}");
  doc.find("entry")->push(parsed("{}"));
  CHECK(writeJson(doc) == "{\"entry\":[{}]}");
}

TEST_CASE("Json source offsets survive copies and moves", "[fhir][json]") {
  const Json doc = parsed("{\"a\": [10, \"x\"]}");
  const Json& a = *doc.find("a");
  REQUIRE(a.sourceOffset() == 6);
  Json copy(a);
  CHECK(copy.sourceOffset() == 6);
  CHECK(copy.items()[1].sourceOffset() == 11);
  Json moved(std::move(copy));
  CHECK(moved.sourceOffset() == 6);
}

namespace {

// The writer's escaping, one byte at a time (the specification it must match).
std::string referenceQuoted(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace

TEST_CASE("Json strings are escaped at every length and position", "[fhir][json]") {
  // The writer copies 16, 8 and 4 bytes at a time: a byte to escape must be
  // found wherever it falls relative to those steps, and plain UTF-8 kept.
  const std::string specials[] = {"\"", "\\", "\n", std::string(1, '\x01'), "\x1f", "\xC3\xA9"};
  for (std::size_t length = 0; length <= 40; ++length) {
    const std::string plain(length, 'a');
    CHECK(writeJson(Json::string(plain)) == referenceQuoted(plain));
    for (std::size_t at = 0; at < length; ++at) {
      for (const std::string& special : specials) {
        std::string s = plain;
        s.replace(at, 1, special);
        CAPTURE(length, at, s);
        CHECK(writeJson(Json::string(s)) == referenceQuoted(s));
        std::string keyed;
        inloop::fhir::appendJsonString(s, &keyed);
        CHECK(keyed == referenceQuoted(s));
        Json o = Json::object();
        o.set(s, Json::string(s));
        CHECK(writeJson(o) == "{" + referenceQuoted(s) + ":" + referenceQuoted(s) + "}");
      }
    }
  }
}
