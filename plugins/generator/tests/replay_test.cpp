// Unit tests of the pure parts: RFC 3339 timestamps and replay lines.
#include <doctest/doctest.h>

#include "replay.hpp"

using sluice::generator::parse_replay_line;
using sluice::generator::parse_rfc3339;

TEST_SUITE("rfc3339") {
  TEST_CASE("rfc3339: UTC with milliseconds") {
    CHECK(parse_rfc3339("2023-11-14T22:15:23.456Z") == 1700000123456000000);
  }
  TEST_CASE("rfc3339: the epoch and a time before it") {
    CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_rfc3339("1969-12-31T23:59:59.5Z") == -500000000);
  }
  TEST_CASE("rfc3339: nanoseconds, and digits past them dropped") {
    CHECK(parse_rfc3339("2023-11-14T22:15:23.123456789Z") == 1700000123123456789);
    CHECK(parse_rfc3339("2023-11-14T22:15:23.1234567899Z") == 1700000123123456789);
  }
  TEST_CASE("rfc3339: offsets east and west of UTC") {
    CHECK(parse_rfc3339("2023-11-14T23:15:23+01:00") == 1700000123000000000);
    CHECK(parse_rfc3339("2023-11-14T17:45:23-04:30") == 1700000123000000000);
  }
  TEST_CASE("rfc3339: lower-case t and z, and a space as separator") {
    CHECK(parse_rfc3339("2023-11-14t22:15:23z") == 1700000123000000000);
    CHECK(parse_rfc3339("2023-11-14 22:15:23Z") == 1700000123000000000);
  }
  TEST_CASE("rfc3339: 29 February only in leap years") {
    CHECK(parse_rfc3339("2024-02-29T00:00:00Z") == 1709164800000000000);
    CHECK_FALSE(parse_rfc3339("2023-02-29T00:00:00Z"));
    CHECK_FALSE(parse_rfc3339("1900-02-29T00:00:00Z"));
    CHECK(parse_rfc3339("2000-02-29T00:00:00Z") == 951782400000000000);
  }
  TEST_CASE("rfc3339: malformed texts are refused") {
    for (const char* bad :
         {"", "2023-11-14", "2023-11-14T22:15:23", "2023-13-01T00:00:00Z", "2023-11-31T00:00:00Z",
          "2023-11-14T24:00:00Z", "2023-11-14T22:15:23.Z", "2023-11-14T22:15:23Zjunk",
          "2023-11-14T22:15:23+0100", "23-11-14T22:15:23Z", "2023-11-14T22:15:23 Z"}) {
      INFO(bad);
      CHECK_FALSE(parse_rfc3339(bad));
    }
  }
}

TEST_SUITE("replay") {
  TEST_CASE("replay line: every field of sluice's JSON form is read back") {
    sluice::Event e;
    std::string error;
    REQUIRE(parse_replay_line(
        R"({"id":"42","source":"hmc://hmc1","type":"hmc.os-message","subject":"/api/x","time":"2023-11-14T22:15:23.456Z","attributes":{"b":"2","a":"1"},"data":{"z":1,"a":[true,null,"s"]}})",
        e, error));
    CHECK(e.id == "42");
    CHECK(e.source == "hmc://hmc1");
    CHECK(e.type == "hmc.os-message");
    CHECK(e.subject == "/api/x");
    CHECK(e.time_unix_ns == 1700000123456000000);
    REQUIRE(e.attributes.size() == 2);
    CHECK(e.attributes[0] == std::make_pair(std::string("b"), std::string("2")));
    CHECK(e.attributes[1] == std::make_pair(std::string("a"), std::string("1")));
    CHECK(e.data == R"({"z":1,"a":[true,null,"s"]})");  // key order kept
  }

  TEST_CASE("replay line: optional fields may be absent; null data is no data") {
    sluice::Event e;
    e.subject = "left over";
    e.data = "{}";
    e.attribute("left", "over");
    std::string error;
    REQUIRE(parse_replay_line(R"({"id":"1","source":"s","type":"t","data":null})", e, error));
    CHECK_FALSE(e.subject);
    CHECK_FALSE(e.data);
    CHECK(e.attributes.empty());
    CHECK(e.time_unix_ns == 0);
  }

  TEST_CASE("replay line: time may be integer nanoseconds") {
    sluice::Event e;
    std::string error;
    REQUIRE(parse_replay_line(R"({"id":"1","source":"s","type":"t","time":12345})", e, error));
    CHECK(e.time_unix_ns == 12345);
  }

  TEST_CASE("replay line: each malformed line says what is wrong") {
    struct Case {
      const char* line;
      const char* error;
    };
    const Case cases[] = {
        {R"([1,2])", "not a JSON object"},
        {R"({"source":"s","type":"t"})", "\"id\" is missing or not a non-empty string"},
        {R"({"id":"1","source":"","type":"t"})", "\"source\" is missing or not a non-empty string"},
        {R"({"id":"1","source":"s","type":7})", "\"type\" is missing or not a non-empty string"},
        {R"({"id":"1","source":"s","type":"t","subject":1})", "\"subject\" is not a string"},
        {R"({"id":"1","source":"s","type":"t","time":"yesterday"})",
         "\"time\" is not an RFC 3339 date-time: yesterday"},
        {R"({"id":"1","source":"s","type":"t","time":1.5})",
         "\"time\" is neither an RFC 3339 string nor integer nanoseconds"},
        {R"({"id":"1","source":"s","type":"t","attributes":[]})",
         "\"attributes\" is not an object"},
        {R"({"id":"1","source":"s","type":"t","attributes":{"n":1}})",
         "attribute \"n\" is not a string"},
    };
    for (const auto& c : cases) {
      INFO(c.line);
      sluice::Event e;
      std::string error;
      CHECK_FALSE(parse_replay_line(c.line, e, error));
      CHECK(error == c.error);
    }
  }

  TEST_CASE("replay line: text that is not JSON gives the parser's message") {
    sluice::Event e;
    std::string error;
    CHECK_FALSE(parse_replay_line("{\"id\": oops", e, error));
    CHECK(error.rfind("[json.exception.parse_error.101] parse error at line 1, column 8", 0) == 0);
  }
}
