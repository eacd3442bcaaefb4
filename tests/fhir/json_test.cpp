#include "fhir/json.h"

#include <catch2/catch.hpp>
#include <string>

using inloop::fhir::ErrorCode;
using inloop::fhir::Json;
using inloop::fhir::JsonLimits;
using inloop::fhir::JsonParseError;
using inloop::fhir::JsonStyle;
using inloop::fhir::parseJson;
using inloop::fhir::writeJson;

TEST_CASE("json round trip keeps decimals, order and escapes", "[fhir][json]") {
  const char* cases[] = {
      R"({"value":1.50,"b":[1,-0.0,1e-7,12345678901234567890123],"a":null})",
      R"({"s":"line\nbreak \"quoted\" \\ tab\t ctl\u0001","u":"Grüße ✓"})",
      R"([true,false,{},[],""])",
      R"("just a string")",
      R"(0)",
  };
  for (const char* text : cases) {
    auto parsed = parseJson(text);
    INFO(text);
    REQUIRE(parsed.isOk());
    CHECK(writeJson(*parsed) == text);
  }
}

TEST_CASE("json long strings with escapes early and late round trip", "[fhir][json]") {
  // A quote first, then long plain runs (written sixteen bytes a step again
  // after each escape), then escapes near the end and a short plain tail.
  std::string value = "<div a=\"b\">";
  value += std::string(70, 'x') + "\n" + std::string(33, 'y') + "\\\"\x01" + "z";
  const Json j = Json::string(value);
  const std::string written = writeJson(j);
  auto back = parseJson(written);
  REQUIRE(back.isOk());
  CHECK(back->text() == value);
  CHECK(written.find("\\n") != std::string::npos);
  CHECK(written.find("\\u0001z\"") != std::string::npos);
}

TEST_CASE("json spliced writing puts the given text in the node's place", "[fhir][json]") {
  auto doc = parseJson(R"({"a":[1,null,{"b":"c"}],"d":"e"})");
  REQUIRE(doc.isOk());
  const Json& placeholder = doc->find("a")->items()[1];
  std::string out = "prefix:";
  inloop::fhir::appendJsonSpliced(*doc, placeholder, R"({"x":[true]})", &out);
  CHECK(out == R"(prefix:{"a":[1,{"x":[true]},{"b":"c"}],"d":"e"})");
  // The node may be the value itself.
  std::string whole;
  inloop::fhir::appendJsonSpliced(*doc, *doc, "7", &whole);
  CHECK(whole == "7");
}

TEST_CASE("json numbers convert on demand", "[fhir][json]") {
  auto v = parseJson(R"({"a":1.50,"b":42,"c":2.0,"d":"7","e":1e300})");
  REQUIRE(v.isOk());
  CHECK(v->find("a")->text() == "1.50");
  CHECK(*v->find("a")->toDouble() == 1.5);
  CHECK(!v->find("a")->toInt64());
  CHECK(*v->find("b")->toInt64() == 42);
  CHECK(*v->find("c")->toInt64() == 2);
  CHECK(!v->find("d")->toDouble());
  CHECK(*v->find("e")->toDouble() == 1e300);
  CHECK(!v->find("e")->toInt64());
  // Beyond double range the reader refuses the number instead of storing infinity.
  auto huge = parseJson("[1e400]");
  REQUIRE_FALSE(huge.isOk());
  CHECK_THAT(huge.status().message(), Catch::Contains("Number too big"));
  CHECK(Json::number(0.1).text() == "0.1");
  CHECK(Json::number(std::int64_t{-3}).text() == "-3");
}

TEST_CASE("json pretty output", "[fhir][json]") {
  auto v = parseJson(R"({"a":[1,{"b":true}],"c":{}})");
  REQUIRE(v.isOk());
  CHECK(writeJson(*v, JsonStyle::kPretty) ==
        "{\n  \"a\": [\n    1,\n    {\n      \"b\": true\n    }\n  ],\n  \"c\": {}\n}\n");
}

TEST_CASE("json hostile and malformed input gives clean errors", "[fhir][json]") {
  struct Case {
    std::string text;
    ErrorCode code;
    std::string reasonPart;
  };
  const std::string deep(100000, '[');
  const Case cases[] = {
      {deep, ErrorCode::kTooLarge, "nesting deeper than 64"},
      {R"({"a":1,"a":2})", ErrorCode::kMalformed, "duplicate key \"a\""},
      {"\"\xC3\x28\"", ErrorCode::kMalformed, "encoding"},
      {R"("\uD800")", ErrorCode::kMalformed, "surrogate"},
      {R"("\uDC00x")", ErrorCode::kMalformed, "surrogate"},
      {"NaN", ErrorCode::kMalformed, "Invalid value"},
      {"[Infinity]", ErrorCode::kMalformed, "Invalid value"},
      {"{} x", ErrorCode::kMalformed, "not be followed by other values"},
      {std::string("{}\0x", 4), ErrorCode::kMalformed, "after the JSON value"},
      {std::string("\"a\0b\"", 5), ErrorCode::kMalformed, ""},
      {"\xEF\xBB\xBF{}", ErrorCode::kMalformed, "byte order mark"},
      {"{\"a\":1,}", ErrorCode::kMalformed, ""},
      {"// c\n{}", ErrorCode::kMalformed, ""},
      {"", ErrorCode::kMalformed, "empty"},
      {"[" + std::string(100, '9') + "]", ErrorCode::kTooLarge, "number has 100 characters"},
  };
  for (const Case& c : cases) {
    INFO(c.text.substr(0, 40));
    auto r = parseJson(c.text);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == c.code);
    CHECK_THAT(r.status().message(), Catch::Contains(c.reasonPart));
  }
}

TEST_CASE("json limits on size, strings and element count", "[fhir][json]") {
  JsonLimits limits;
  limits.maxBytes = 1000;
  auto big = parseJson("\"" + std::string(2000, 'x') + "\"", limits);
  REQUIRE_FALSE(big.isOk());
  CHECK(big.status().code() == ErrorCode::kTooLarge);

  // A 50 MB string against the default 1 MiB string limit (and a raised size limit).
  JsonLimits roomy;
  roomy.maxBytes = 64u << 20;
  auto huge = parseJson("\"" + std::string(50u << 20, 'x') + "\"", roomy);
  REQUIRE_FALSE(huge.isOk());
  CHECK_THAT(huge.status().message(), Catch::Contains("the limit is 1048576"));

  JsonLimits few;
  few.maxElements = 10;
  auto many = parseJson("[1,2,3,4,5,6,7,8,9,10,11]", few);
  REQUIRE_FALSE(many.isOk());
  CHECK(many.status().code() == ErrorCode::kTooLarge);
}

TEST_CASE("json errors name line and column", "[fhir][json]") {
  JsonParseError where;
  auto r = parseJson("{\n  \"a\": 1,\n  \"a\": 2\n}", {}, &where);
  REQUIRE_FALSE(r.isOk());
  CHECK(where.line == 3);
  CHECK_THAT(r.status().message(), Catch::StartsWith("line 3, column"));
}

TEST_CASE("json comments only when allowed, and source offsets", "[fhir][json]") {
  JsonLimits config;
  config.allowComments = true;
  const std::string text = "// header\n{\n  /* x */ \"unit\": \"mg\"\n}";
  auto r = parseJson(text, config);
  REQUIRE(r.isOk());
  const Json* unit = r->find("unit");
  REQUIRE(unit);
  auto [line, column] = inloop::fhir::lineColumnAt(text, unit->sourceOffset());
  CHECK(line == 3);
  CHECK(column == 19);
}

TEST_CASE("json source offsets point at each value's first byte", "[fhir][json]") {
  const std::string text = R"({"a": {"b": [1, "xy", null]}, "c": true, "d": false})";
  auto r = parseJson(text);
  REQUIRE(r.isOk());
  const Json& a = *r->find("a");
  const Json& b = *a.find("b");
  struct Case {
    const Json* value;
    const char* startsWith;
  };
  const Case cases[] = {{&a, "{\"b\""},         {&b, "[1,"},
                        {&b.items()[0], "1,"},   {&b.items()[1], "\"xy\""},
                        {&b.items()[2], "null"}, {r->find("c"), "true"},
                        {r->find("d"), "false"}};
  for (const Case& c : cases) {
    INFO(c.startsWith);
    CHECK(text.substr(c.value->sourceOffset(), std::string(c.startsWith).size()) == c.startsWith);
  }
  // A byte order mark (allowed in config files) does not shift offsets.
  JsonLimits config;
  config.allowComments = true;
  const std::string bom = "\xEF\xBB\xBF{\"k\": 12}";
  auto withBom = parseJson(bom, config);
  REQUIRE(withBom.isOk());
  CHECK(bom.substr(withBom->find("k")->sourceOffset(), 2) == "12");
}

TEST_CASE("json large objects still reject duplicate keys", "[fhir][json]") {
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  auto ok = parseJson(text + "\"last\":0}");
  REQUIRE(ok.isOk());
  CHECK(ok->size() == 101);
  auto dup = parseJson(text + "\"k7\":0}");
  REQUIRE_FALSE(dup.isOk());
  CHECK_THAT(dup.status().message(), Catch::Contains("duplicate key \"k7\""));
}
