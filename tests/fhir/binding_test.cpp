#include "fhir/binding.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhir/json.h"

namespace bind = inloop::fhir::bind;
using inloop::fhir::Decimal;
using inloop::fhir::Issues;
using inloop::fhir::Json;
using inloop::fhir::parseJson;
using inloop::fhir::writeJson;

namespace {

enum class Colour { kRed, kGreen };

struct Dose {
  Decimal value;
  std::string unit;
};

struct Thing {
  std::string id;
  int count = 0;
  std::optional<bool> active;
  std::optional<Colour> colour;
  std::vector<std::string> tags;
  std::optional<Dose> dose;
  std::map<std::string, std::int64_t> limits;
};

const char* noSpaces(std::string_view s) {
  return s.find(' ') == std::string_view::npos ? nullptr : "expected no spaces";
}

const bind::Fields<Dose>& doseFields() {
  static const bind::Fields<Dose> fields{
      bind::field("value", &Dose::value, bind::kRequired, bind::DecimalCodec{.min = 0.0}),
      bind::field("unit", &Dose::unit, bind::kRequired, bind::Text{}),
  };
  return fields;
}

const bind::Fields<Thing>& thingFields() {
  static const bind::Fields<Thing> fields{
      {
          bind::field("id", &Thing::id, bind::kRequired, bind::Text{.check = noSpaces}),
          bind::field("count", &Thing::count, bind::kRequired,
                      bind::Integer<int>{.min = 1, .max = 9}),
          bind::field("active", &Thing::active, bind::kOptional, bind::Boolean{}),
          bind::field("colour", &Thing::colour, bind::kOptional,
                      bind::Enum<Colour>{{"red", Colour::kRed}, {"green", Colour::kGreen}}),
          bind::field("tags", &Thing::tags, bind::kOptional,
                      bind::List<bind::Text>{.item = {}, .maxItems = 3, .unique = true}),
          bind::field("dose", &Thing::dose, bind::kOptional, bind::Object<Dose>{doseFields}),
          bind::field("limits", &Thing::limits, bind::kOptional,
                      bind::Map<bind::Integer<>>{.value = {.min = 0}}),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, Thing* t) {
        if (t->colour == Colour::kRed && t->count > 5) {
          r.error("business-rule", object, p, "a red thing counts at most 5");
        }
      }};
  return fields;
}

// Reads `text`; the issues as "path: message" lines.
std::vector<std::string> problems(const std::string& text, Thing* out = nullptr,
                                  bool located = false) {
  Json json = *parseJson(text);
  Issues issues;
  Thing scratch;
  bind::Reading reading =
      located ? bind::Reading(&issues, "thing.json", text) : bind::Reading(&issues);
  bind::readObject(reading, json, bind::Path(), thingFields(), out ? out : &scratch);
  std::vector<std::string> lines;
  for (const auto& i : issues) lines.push_back(i.path + ": " + i.message);
  return lines;
}

}  // namespace

TEST_CASE("binding reads every field and writes the same JSON back", "[fhir][binding]") {
  const std::string text =
      R"({"id":"a-1","count":3,"active":true,"colour":"green","tags":["x","y"],)"
      R"("dose":{"value":2.50,"unit":"mg"},"limits":{"daily":4}})";
  Thing t;
  CHECK(problems(text, &t).empty());
  CHECK(t.id == "a-1");
  CHECK(t.count == 3);
  CHECK(t.active == true);
  CHECK(t.colour == Colour::kGreen);
  CHECK(t.tags == std::vector<std::string>{"x", "y"});
  REQUIRE(t.dose);
  CHECK(t.dose->value.text == "2.50");  // kept as written
  CHECK(t.limits.at("daily") == 4);
  CHECK(writeJson(bind::writeObject(t, thingFields())) == text);
}

TEST_CASE("binding leaves absent and default optional fields out when writing", "[fhir][binding]") {
  Thing t;
  CHECK(problems(R"({"id":"b","count":1})", &t).empty());
  CHECK_FALSE(t.active);
  CHECK_FALSE(t.dose);
  CHECK(writeJson(bind::writeObject(t, thingFields())) == R"({"id":"b","count":1})");
}

TEST_CASE("binding words each kind of mistake once, with its JSON path", "[fhir][binding]") {
  CHECK(problems(R"({"count":1})") ==
        std::vector<std::string>{R"($.id: missing required field "id")"});
  CHECK(problems(R"({"id":"","count":1})") == std::vector<std::string>{"$.id: must not be empty"});
  CHECK(problems(R"({"id":5,"count":1})") ==
        std::vector<std::string>{"$.id: expected a string, got number 5"});
  CHECK(problems(R"({"id":"a b","count":1})") ==
        std::vector<std::string>{R"($.id: expected no spaces, got "a b")"});
  CHECK(problems(R"({"id":"a","count":10})") ==
        std::vector<std::string>{R"($.count: expected an integer from 1 to 9, got number 10)"});
  CHECK(problems(R"({"id":"a","count":1.5})") ==
        std::vector<std::string>{R"($.count: expected an integer from 1 to 9, got number 1.5)"});
  CHECK(problems(R"({"id":"a","count":1,"colour":"gren"})") ==
        std::vector<std::string>{
            R"($.colour: expected one of "red", "green", got "gren"; did you mean "green"?)"});
  CHECK(problems(R"({"id":"a","count":1,"cuont":1})") ==
        std::vector<std::string>{R"($.cuont: unknown field "cuont"; did you mean "count"?)"});
  CHECK(problems(R"({"id":"a","count":1,"zzz":1})")[0].find(R"((known: "id", "count")") !=
        std::string::npos);
  CHECK(problems(R"({"id":"a","count":1,"tags":["x","x"]})") ==
        std::vector<std::string>{R"($.tags[1]: "x" is listed twice)"});
  CHECK(problems(R"({"id":"a","count":1,"tags":["a","b","c","d"]})") ==
        std::vector<std::string>{"$.tags: too many items: 4, at most 3"});
  CHECK(
      problems(R"({"id":"a","count":1,"dose":{"value":-1,"unit":"mg"}})") ==
      std::vector<std::string>{R"($.dose.value: expected a number of at least 0, got number -1)"});
  CHECK(problems(R"({"id":"a","count":1,"limits":{"daily":-1}})") ==
        std::vector<std::string>{
            R"($.limits.daily: expected an integer of at least 0, got number -1)"});
  CHECK(problems(R"({"id":"a","count":1,"active":"yes"})") ==
        std::vector<std::string>{R"($.active: expected true or false, got string "yes")"});
}

TEST_CASE("binding runs the whole-object rule only when the fields are sound", "[fhir][binding]") {
  CHECK(problems(R"({"id":"a","count":6,"colour":"red"})") ==
        std::vector<std::string>{"$: a red thing counts at most 5"});
  // A broken field: the rule does not run on half-read values.
  CHECK(problems(R"({"id":"","count":6,"colour":"red"})") ==
        std::vector<std::string>{"$.id: must not be empty"});
}

TEST_CASE("binding locates issues by file line and column for files", "[fhir][binding]") {
  const std::string text = "{\n  \"id\": \"a\",\n  \"count\": 1,\n  \"colr\": \"red\"\n}\n";
  CHECK(problems(text, nullptr, true) ==
        std::vector<std::string>{
            R"(thing.json:4:3: $.colr: unknown field "colr"; did you mean "colour"?)"});
  const std::string missing = "{\n  \"count\": 1\n}\n";
  CHECK(problems(missing, nullptr, true) ==
        std::vector<std::string>{R"(thing.json:1:1: $.id: missing required field "id")"});
}

TEST_CASE("binding hides values at sensitive paths", "[fhir][binding]") {
  Json json = *parseJson(R"({"id":"a b","count":1})");
  Issues issues;
  bind::Reading reading(&issues);
  reading.hideValues([](std::string_view path) { return path == "$.id"; });
  Thing t;
  bind::readObject(reading, json, bind::Path(), thingFields(), &t);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].message == "expected no spaces");
}

TEST_CASE("binding stops listing after the issue limit", "[fhir][binding]") {
  Json json = *parseJson(R"({"a":1,"b":2,"c":3,"id":"x","count":1})");
  Issues issues;
  bind::Reading reading(&issues);
  reading.limitIssues(2);
  Thing t;
  CHECK_FALSE(bind::readObject(reading, json, bind::Path(), thingFields(), &t));
  REQUIRE(issues.size() == 3);
  CHECK(issues[2].code == "too-costly");
}

TEST_CASE("did-you-mean only suggests close words", "[fhir][binding]") {
  const std::string_view names[] = {"physician", "pharmacist", "nurse"};
  CHECK(bind::closest("physican", names) == "physician");
  CHECK(bind::closest("NURSE", names) == "nurse");
  CHECK_FALSE(bind::closest("surgeon", names));
}

TEST_CASE("binding assembles lists in code and flattens a member struct's fields",
          "[fhir][binding]") {
  // Variants sharing fields (a list assembled from parts), and a member
  // struct whose fields sit in the outer object.
  struct Outer {
    std::string name;
    Dose dose;
  };
  std::vector<std::shared_ptr<const bind::Field<Outer>>> parts = {
      bind::field("name", &Outer::name, bind::kRequired, bind::Text{}),
  };
  parts.push_back(bind::within(&Outer::dose, bind::field("value", &Dose::value, bind::kRequired,
                                                         bind::DecimalCodec{.min = 0.0})));
  parts.push_back(
      bind::within(&Outer::dose, bind::field("unit", &Dose::unit, bind::kOptional, bind::Text{})));
  const bind::Fields<Outer> fields(std::move(parts));
  CHECK(fields.names().size() == 3);

  const std::string text = R"({"name":"n","value":1.50,"unit":"mg"})";
  Issues issues;
  bind::Reading reading(&issues);
  Outer o;
  REQUIRE(bind::readObject(reading, *parseJson(text), bind::Path(), fields, &o));
  CHECK(o.dose.value.text == "1.50");
  CHECK(o.dose.unit == "mg");
  CHECK(writeJson(bind::writeObject(o, fields)) == text);

  Issues bad;
  bind::Reading badReading(&bad);
  CHECK_FALSE(bind::readObject(badReading, *parseJson(R"({"name":"n","valeu":1})"), bind::Path(),
                               fields, &o));
  REQUIRE(bad.size() == 2);
  CHECK(bad[0].message == R"(unknown field "valeu"; did you mean "value"?)");
  CHECK(bad[1].message == R"(missing required field "value")");
}

namespace {

struct Entry {
  std::string code;
  std::vector<std::string> tags;
};

// Built at run time from a table of names, as a list of fields can be.
bind::Fields<Entry> entryFields() {
  std::vector<std::shared_ptr<const bind::Field<Entry>>> fields;
  fields.push_back(bind::field("code", &Entry::code, bind::kRequired, bind::Text{}));
  fields.push_back(bind::field("tags", &Entry::tags, bind::kOptional, bind::List<bind::Text>{}));
  return bind::Fields<Entry>(std::move(fields));
}

struct Catalogue {
  std::vector<Entry> entries;
};

std::vector<std::string> catalogueProblems(const std::string& text, Catalogue* out) {
  static const bind::Fields<Catalogue> fields{
      bind::field("entries", &Catalogue::entries, bind::kRequired,
                  bind::List<bind::Object<Entry>>{.item = {entryFields()}, .uniqueBy = "code"}),
  };
  Issues issues;
  bind::Reading reading(&issues);
  bind::readObject(reading, *parseJson(text), bind::Path(), fields, out);
  std::vector<std::string> lines;
  for (const auto& i : issues) lines.push_back(i.path + ": " + i.message);
  return lines;
}

}  // namespace

TEST_CASE("binding refuses list items that repeat a key member, at that member",
          "[fhir][binding]") {
  Catalogue c;
  CHECK(catalogueProblems(
            R"({"entries":[{"code":"a"},{"code":"b","tags":["x"]},{"code":"a","tagz":1}]})", &c) ==
        std::vector<std::string>{R"($.entries[2].code: "a" is listed twice)"});
  // The repeat is not read (its unknown field is not reported); an empty
  // placeholder keeps item i at JSON index i.
  REQUIRE(c.entries.size() == 3);
  CHECK(c.entries[1].code == "b");
  CHECK(c.entries[2].code.empty());
  // An item without the key is read as usual.
  CHECK(catalogueProblems(R"({"entries":[{"code":"a"},{"tags":[]}]})", &c) ==
        std::vector<std::string>{R"($.entries[1].code: missing required field "code")"});
}

TEST_CASE("binding writes an absent optional list as nothing, a list built at run time too",
          "[fhir][binding]") {
  Catalogue c;
  REQUIRE(catalogueProblems(R"({"entries":[{"code":"a"},{"code":"b","tags":["x"]}]})", &c).empty());
  const bind::Fields<Catalogue> fields{
      bind::field("entries", &Catalogue::entries, bind::kOptional,
                  bind::List<bind::Object<Entry>>{.item = {entryFields()}}),
  };
  CHECK(writeJson(bind::writeObject(c, fields)) ==
        R"({"entries":[{"code":"a"},{"code":"b","tags":["x"]}]})");
  CHECK(writeJson(bind::writeObject(Catalogue{}, fields)) == "{}");
}
