// The emit path's JSON checks.
#include <doctest/doctest.h>

#include <sluice/core/json_check.hpp>

#include <string>

using sluice::core::json_valid;

TEST_CASE("json: one valid value with surrounding whitespace passes") {
  CHECK(json_valid("{\"a\":[1,2.5,true,null,\"x\"]}"));
  CHECK(json_valid("  \"text\"\n"));
  CHECK(json_valid("42"));
  CHECK(json_valid("null"));
}

TEST_CASE("json: broken, trailing, empty, non-UTF-8 and non-standard input fails") {
  CHECK_FALSE(json_valid(""));
  CHECK_FALSE(json_valid("{\"a\":1"));
  CHECK_FALSE(json_valid("{} {}"));
  CHECK_FALSE(json_valid("{'a':1}"));
  CHECK_FALSE(json_valid("[NaN]"));
  CHECK_FALSE(json_valid("\"\xff\""));
  CHECK_FALSE(json_valid("[1,]"));
}

TEST_CASE("json: deep nesting is checked without exhausting the stack") {
  std::string deep(200000, '[');
  CHECK_FALSE(json_valid(deep));
  deep += std::string(200000, ']');
  CHECK(json_valid(deep));
}

TEST_CASE("json: the two validators agree") {
  for (const char* t : {"{}", "[1,2]", "{\"a\":", "\"\\u00e9\"", "tru", "1e5", "-0"}) {
    CAPTURE(t);
    CHECK(sluice::core::json_valid_rapidjson(t) == sluice::core::json_valid_nlohmann(t));
  }
}

TEST_CASE("json: lossy string keeps UTF-8, replaces bad bytes, escapes control characters") {
  std::string out;
  sluice::core::append_json_string_lossy(out, "a\"b\n\xc3\xa9\xff\xed\xa0\x80");
  CHECK(out == "\"a\\\"b\\n\xc3\xa9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  CHECK(json_valid(out));
}
