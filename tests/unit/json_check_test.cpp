// The emit path's JSON checks: sluice::json_valid (sdk/include/sluice/json_check.hpp), which the
// host and the sources use, and the lossy string of a parse-error event.
#include <doctest/doctest.h>

#include <sluice/core/json_check.hpp>
#include <sluice/format.hpp>
#include <sluice/json_check.hpp>

#include <string>
#include <string_view>
#include <utility>

using sluice::json_valid;

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

TEST_CASE("json: numbers follow the grammar and must fit a double") {
  for (const char* ok :
       {"0", "-0", "1.5", "-12.25e-3", "1E+2", "1e-400", "0e999999999999", "0.000001e310",
        "1.7976931348623157e308", "100e306", "123456789012345678901234567890"}) {
    CAPTURE(ok);
    CHECK(json_valid(ok));
  }
  for (const char* bad : {"01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "1e400", "-1e400",
                          "1.7976931348623159e308", "1000e306", "0.01e311", "Infinity"}) {
    CAPTURE(bad);
    CHECK_FALSE(json_valid(bad));
  }
}

TEST_CASE("json: strings: escapes, surrogate pairs, control characters, UTF-8") {
  CHECK(json_valid(R"("\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00")"));
  CHECK_FALSE(json_valid(R"("\x")"));
  CHECK_FALSE(json_valid(R"("\u12")"));
  CHECK_FALSE(json_valid(R"("\uD800")"));        // a high surrogate alone
  CHECK_FALSE(json_valid(R"("\uD800\u0041")"));  // followed by no low one
  CHECK_FALSE(json_valid(R"("\uDC00")"));        // a low surrogate alone
  CHECK_FALSE(json_valid("\"a\tb\""));           // raw control character
  CHECK_FALSE(json_valid(std::string("\"a\0b\"", 5)));
  CHECK(json_valid("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\""));
  CHECK_FALSE(json_valid("\"\xc0\xaf\""));          // overlong
  CHECK_FALSE(json_valid("\"\xed\xa0\x80\""));      // encoded surrogate
  CHECK_FALSE(json_valid("\"\xf4\x90\x80\x80\""));  // above U+10FFFF
  CHECK_FALSE(json_valid("\"\xe2\x82\""));          // cut short
  CHECK_FALSE(json_valid("\xEF\xBB\xBF{}"));        // a byte order mark is not JSON
}

TEST_CASE("json: a special byte is found at every position of a long string") {
  // Strings are scanned sixteen bytes at a time: put each special byte at each offset.
  for (size_t at = 0; at + 1 < 40; ++at) {
    CAPTURE(at);
    // A 40-byte string of 'x' with `piece` written over it at `at`.
    auto with = [at](std::string_view piece) {
      std::string quoted(1, '"');
      quoted.append(at, 'x');
      quoted.append(piece);
      quoted.append(40 - at - piece.size(), 'x');
      quoted += '"';
      return quoted;
    };
    CHECK(json_valid(with("")));
    CHECK_FALSE(json_valid(with("\"")));
    CHECK(json_valid(with("\\n")));
    CHECK_FALSE(json_valid(with("\x1f")));
    CHECK(json_valid(with("\xc3\xa9")));
    CHECK_FALSE(json_valid(with("\xff")));
    CHECK_FALSE(json_valid(with("").substr(0, 1 + at)));  // never closed
  }
}

TEST_CASE("json: structure") {
  CHECK(json_valid(R"( { "a" : [ ] , "b" : { } , "c" : [ { } , [ ] , 1 ] } )"));
  CHECK(json_valid("[]"));
  CHECK(json_valid("{}"));
  for (const char* bad : {R"({"a":1,})", R"({"a"})", "{1:2}", "[1 2]", "[}", "{]", "]", "[1]]",
                          "tru", "nulll", " "}) {
    CAPTURE(bad);
    CHECK_FALSE(json_valid(bad));
  }
  // Containers deeper than the validator's inline stack (64) close in the right order.
  std::string opening, closing;
  for (int i = 0; i < 100; ++i)
    opening += i % 2 ? R"({"k":)" : "[";
  for (int i = 99; i >= 0; --i)
    closing += i % 2 ? "}" : "]";
  CHECK(json_valid(opening + "1" + closing));
  std::swap(closing[10], closing[11]);
  CHECK_FALSE(json_valid(opening + "1" + closing));
}

TEST_CASE("json: sluice::json_valid agrees with nlohmann::json::accept") {
  for (const char* t : {"{}", "[1,2]", R"({"a":)", R"("\u00e9")", "tru", "1e5", "-0", "1e400",
                        R"("\uDC00")", "[1,]", "\"\xff\"", " 7 "}) {
    CAPTURE(t);
    CHECK(json_valid(t) == sluice::core::json_valid_nlohmann(t));
  }
}

TEST_CASE("json: every one-byte change of an HMC body is judged as nlohmann::json::accept does") {
  // The object members ("key": scalar, ...) are checked in a loop of their own: break the
  // body at every byte, in every way that matters to that loop, and compare with the library.
  const std::string body =
      R"({"os-messages":[{"sequence-number":12,"message-id":"IEE252I","message-text":)"
      R"("IEE252I MEMBER\n","timestamp":1700000123000,"sound-alarm":false,"x":[1,{"y":null}],)"
      R"("is-held":-0.5e-3,"o":{},"a":[],"prompt-text":""}]})";
  REQUIRE(json_valid(body));
  REQUIRE(sluice::core::json_valid_nlohmann(body));
  size_t changes = 0;
  for (size_t at = 0; at < body.size(); ++at) {
    for (const char* piece : {"", "\"", ",", ":", "{", "}", "[", "]", " ", "1", "x", "\\", "e", "-",
                              "t", ",,", "\" "}) {
      for (const bool replace : {true, false}) {
        std::string t = body;
        if (replace)
          t.replace(at, 1, piece);
        else
          t.insert(at, piece);
        CAPTURE(t);
        CHECK(json_valid(t) == sluice::core::json_valid_nlohmann(t));
        ++changes;
      }
    }
  }
  CHECK(changes > 5000);
}

TEST_CASE("json: the two validators agree") {
  for (const char* t : {"{}", "[1,2]", "{\"a\":", "\"\\u00e9\"", "tru", "1e5", "-0"}) {
    CAPTURE(t);
    CHECK(sluice::core::json_valid_rapidjson(t) == sluice::core::json_valid_nlohmann(t));
  }
}

TEST_CASE("json: lossy string keeps UTF-8, replaces bad bytes, escapes control characters") {
  std::string out;
  sluice::append_json_string(out, "a\"b\n\xc3\xa9\xff\xed\xa0\x80");
  CHECK(out == "\"a\\\"b\\n\xc3\xa9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  CHECK(json_valid(out));
}
