// Route filters (core/filter.hpp): the compiler (every operator, combinators, invalid input ->
// errors with the path to the culprit), the evaluator on events (missing fields, non-string
// values), and the one-pass JSON Pointer resolver on hostile documents.
#include <doctest/doctest.h>

#include <sluice/core/filter.hpp>
#include <sluice/event.hpp>

#include <string>
#include <vector>

using nlohmann::json;
using sluice::Event;
using sluice::EventViews;
using sluice::core::DataPointers;
using sluice::core::Filter;
using sluice::core::FilterError;
using sluice::core::FilterEvent;
using sluice::core::FilterValue;

namespace {

// An HMC-shaped event: type hmc.os-message, source hmc://hmc1, subject /api/partitions/p1,
// attribute name=PROD1, data with an os-message.
Event hmc_event() {
  Event e;
  e.id = "1";
  e.source = "hmc://hmc1";
  e.type = "hmc.os-message";
  e.subject = "/api/partitions/p1";
  e.attribute("name", "PROD1").attribute("class", "partition");
  e.data = R"({"os-messages": [{"message-id": "IEA611I", "message-text": "DUMP", "severity": 4,
                "held": true, "code": "12", "none": null, "a/b": {"m~n": "escaped"}}],
              "count": 1})";
  return e;
}

// Compiles `filter` (JSON text) and tells whether `e` passes it. The filter must be valid.
bool passes(const std::string& filter, const Event& e) {
  DataPointers pointers;
  std::vector<FilterError> errors;
  Filter f = Filter::compile(json::parse(filter), pointers, &errors);
  REQUIRE_MESSAGE(errors.empty(), filter, ": ", errors.empty() ? "" : errors[0].message);
  const std::vector<Event> events{e};
  EventViews views(events);
  FilterEvent fe(views.data()[0], &pointers);
  return f.matches(fe);
}

bool passes(const std::string& filter) {
  return passes(filter, hmc_event());
}

// The errors compiling `filter` gives, each as "path: message" (path /-separated, "^" when the
// culprit is the key at the end of it).
std::vector<std::string> errors_of(const std::string& filter) {
  DataPointers pointers;
  std::vector<FilterError> errors;
  Filter::compile(json::parse(filter), pointers, &errors);
  std::vector<std::string> out;
  for (const auto& e : errors) {
    std::string path;
    for (const auto& t : e.path)
      path += "/" + t;
    out.push_back(path + (e.at_key ? "^" : "") + ": " + e.message);
  }
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("filter: no filter and an empty mapping pass every event") {
  DataPointers pointers;
  std::vector<FilterError> errors;
  CHECK(Filter::compile(json(), pointers, &errors).passes_all());
  CHECK(Filter::compile(json::object(), pointers, &errors).passes_all());
  CHECK(errors.empty());
  CHECK(passes("{}"));
}

TEST_CASE("filter: today's form: type, subject, attributes with globs or lists of globs") {
  CHECK(passes(R"({"type": "hmc.*"})"));
  CHECK_FALSE(passes(R"({"type": "ldm.*"})"));
  CHECK(passes(R"({"type": ["ldm.*", "hmc.os-*"]})"));
  CHECK(passes(R"({"subject": "/api/partitions/*"})"));
  CHECK(passes(R"({"attributes": {"name": "PROD*", "class": ["lpar", "partition"]}})"));
  CHECK_FALSE(passes(R"({"attributes": {"name": "TEST*"}})"));
  CHECK_FALSE(passes(R"({"attributes": {"owner": "*"}})"));  // absent attribute
  // Every key given must hold.
  CHECK_FALSE(passes(R"({"type": "hmc.*", "subject": "/api/cpcs/*"})"));
}

TEST_CASE("filter: source is matched like the other strings") {
  CHECK(passes(R"({"source": "hmc://*"})"));
  CHECK_FALSE(passes(R"({"source": "ldm://*"})"));
}

TEST_CASE("filter: an event without a subject fails a subject condition, passes exists: false") {
  Event e = hmc_event();
  e.subject.reset();
  CHECK_FALSE(passes(R"({"subject": "*"})", e));
  CHECK(passes(R"({"subject": {"exists": false}})", e));
  CHECK_FALSE(passes(R"({"subject": {"exists": true}})", e));
  CHECK(passes(R"({"subject": {"exists": true}})"));
}

TEST_CASE("filter: data through JSON Pointer: glob, regex, eq") {
  CHECK(passes(R"({"data": {"/os-messages/0/message-id": "IEA*"}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/message-id": {"regex": "^IEA[0-9]+I$"}}})"));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/message-id": {"regex": "^IEE"}}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/message-id": {"regex": "611"}}})"));  // unanchored
  CHECK(passes(R"({"data": {"/os-messages/0/message-id": {"eq": "IEA611I"}}})"));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/message-id": {"eq": "IEA*"}}})"));  // no glob
  CHECK(passes(R"({"data": {"/os-messages/0/a~1b/m~0n": "escaped"}})"));              // ~1 ~0
  CHECK_FALSE(passes(R"({"data": {"/os-messages/1/message-id": "*"}})"));             // no item 1
  CHECK_FALSE(passes(R"({"data": {"/os-messages/00/message-id": "*"}})"));  // not an index
}

TEST_CASE("filter: numeric comparisons: numbers, and strings that hold a number") {
  CHECK(passes(R"({"data": {"/os-messages/0/severity": {"gt": 3}}})"));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/severity": {"gt": 4}}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/severity": {"ge": 4, "le": 4}}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/severity": {"lt": 4.5}}})"));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/severity": {"lt": 4}}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/severity": 4}})"));  // a number: short for eq
  CHECK(passes(R"({"data": {"/os-messages/0/severity": {"eq": 4.0}}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/code": {"ge": 12}}})"));             // the string "12"
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/message-id": {"gt": 0}}})"));  // not a number
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0": {"gt": 0}}})"));             // an object
  CHECK_FALSE(passes(R"({"data": {"/missing": {"lt": 100}}})"));
}

namespace {

// An event whose data is `data` (JSON text).
Event data_event(const std::string& data) {
  Event e = hmc_event();
  e.data = data;
  return e;
}

}  // namespace

TEST_CASE("filter: integers beyond 2^53 compare exactly, as integers") {
  // 2^53 + 1 is no double: as doubles both sides would be 9007199254740992.
  const Event e = data_event(R"({"n": 9007199254740993, "s": "9007199254740993",
                                 "u": 18446744073709551615, "m": -9223372036854775808})");
  CHECK(passes(R"({"data": {"/n": 9007199254740993}})", e));
  CHECK_FALSE(passes(R"({"data": {"/n": 9007199254740992}})", e));
  CHECK_FALSE(passes(R"({"data": {"/n": {"eq": 9007199254740994}}})", e));
  CHECK_FALSE(passes(R"({"data": {"/s": {"eq": 9007199254740992}}})", e));  // a string too
  CHECK(passes(R"({"data": {"/n": {"gt": 9007199254740992, "lt": 9007199254740994}}})", e));
  CHECK_FALSE(passes(R"({"data": {"/n": {"le": 9007199254740992}}})", e));
  CHECK(passes(R"({"data": {"/n": {"ge": 9007199254740993, "le": 9007199254740993}}})", e));
  // uint64 and int64 at their ends, and their signs.
  CHECK(passes(R"({"data": {"/u": 18446744073709551615}})", e));
  CHECK_FALSE(passes(R"({"data": {"/u": {"lt": 18446744073709551615}}})", e));
  CHECK(passes(R"({"data": {"/u": {"gt": 18446744073709551614}}})", e));
  CHECK(passes(R"({"data": {"/m": -9223372036854775808}})", e));
  CHECK(passes(R"({"data": {"/m": {"lt": -9223372036854775807}}})", e));
  CHECK(passes(R"({"data": {"/m": {"lt": 0}}})", e));
  CHECK_FALSE(passes(R"({"data": {"/u": {"lt": -1}}})", e));
  // A double on either side: doubles, as before (1.0 is 1; -0 is 0).
  CHECK(passes(R"({"data": {"/n": {"eq": 9007199254740992.0}}})", e));
  CHECK(passes(R"({"data": {"/a": 1}})", data_event(R"({"a": 1.0})")));
  CHECK(passes(R"({"data": {"/a": 0}})", data_event(R"({"a": -0})")));
  CHECK(passes(R"({"data": {"/a": {"lt": 2}}})", data_event(R"({"a": 1.5})")));
}

TEST_CASE("filter: a number below the smallest double is zero, not infinity") {
  // 1e-400 written out (no exponent), negative too; and as an exponent.
  const std::string tiny = "0." + std::string(399, '0') + "1";
  const Event e = data_event(R"({"t": )" + tiny + R"(, "n": -)" + tiny + R"(, "s": ")" + tiny +
                             R"(", "x": 1e-400})");
  for (const char* p : {"/t", "/n", "/s", "/x"}) {
    CAPTURE(p);
    const std::string at = std::string(R"({"data": {")") + p + R"(": )";
    CHECK(passes(at + R"({"lt": 1e-300, "gt": -1e-300}}})", e));
    CHECK(passes(at + "0}}", e));
  }
  // A huge one in a string stays huge (as a number: the next case).
  const Event h = data_event(R"({"e": "1e400", "w": "1)" + std::string(400, '0') + R"("})");
  CHECK(passes(R"({"data": {"/e": {"gt": 1e300}}})", h));
  CHECK(passes(R"({"data": {"/w": {"gt": 1e300}}})", h));
  // Denormals are read as themselves: above zero, below the smallest normal double.
  const std::string denormal = "0." + std::string(309, '0') + "1";  // 1e-310
  const Event d = data_event(R"({"d": )" + denormal + R"(, "e": 5e-324})");
  CHECK(passes(R"({"data": {"/d": {"gt": 0, "lt": 2.2250738585072014e-308}}})", d));
  CHECK(passes(R"({"data": {"/e": {"gt": 0, "lt": 1e-323}}})", d));
  // The resolver's own value of a tiny number is zero as well.
  DataPointers p;
  std::vector<sluice::core::DataPointers::Token> t;
  std::string err;
  REQUIRE(sluice::core::parse_json_pointer("/t", &t, &err));
  const uint32_t i = p.add(t);
  const auto& v = sluice::core::resolve_pointers(R"({"t": )" + tiny + "}", p);
  CHECK(v[i].kind == FilterValue::Kind::number);
  CHECK(v[i].number == 0.0);
}

TEST_CASE("filter: a number beyond a double's range is huge, and the values after it are read") {
  // Valid JSON (the host's check accepts it) that the resolver's JSON reader refuses alone.
  const Event h = data_event(R"({"e": 1e400, "w": 1)" + std::string(400, '0') +
                             R"(, "neg": -2E+999, "s": "1e400 as text", "after": "x", )" +
                             R"("list": [1e500, 7]})");
  CHECK(passes(R"({"data": {"/e": {"gt": 1e300}}})", h));
  CHECK(passes(R"({"data": {"/w": {"gt": 1e300}}})", h));
  CHECK(passes(R"({"data": {"/neg": {"lt": -1e300}}})", h));
  CHECK(passes(R"({"data": {"/e": "1e4*"}})", h));  // the number's text as written
  CHECK(passes(R"({"data": {"/neg": "-2E+999"}})", h));
  CHECK(passes(R"({"data": {"/s": "1e400 as text"}})", h));  // strings untouched
  CHECK(passes(R"({"data": {"/after": "x"}})", h));          // read past the huge numbers
  CHECK(passes(R"({"data": {"/list/1": 7}})", h));
  CHECK(passes(R"({"data": {"/list/0": {"gt": 1e300}}})", h));
  CHECK_FALSE(passes(R"({"data": {"/after": {"exists": false}}})", h));
}

TEST_CASE("filter: non-string values: numbers and booleans by their JSON text, null by eq") {
  CHECK(passes(R"({"data": {"/os-messages/0/severity": "4"}})"));  // glob on the number's text
  CHECK(passes(R"({"data": {"/os-messages/0/severity": {"regex": "^[3-5]$"}}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/held": true}})"));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/held": false}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/held": "tr*"}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/none": null}})"));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/none": "*"}})"));  // null has no text
  CHECK_FALSE(passes(R"({"data": {"/os-messages": "*"}})"));         // nor has an array
  CHECK_FALSE(passes(R"({"data": {"/count": "one"}})"));
}

TEST_CASE("filter: exists on data, attributes; the whole document is the pointer \"\"") {
  CHECK(passes(R"({"data": {"/os-messages/0/none": {"exists": true}}})"));  // null exists
  CHECK(passes(R"({"data": {"/os-messages": {"exists": true}}})"));
  CHECK(passes(R"({"data": {"/nothing": {"exists": false}}})"));
  CHECK(passes(R"({"data": {"": {"exists": true}}})"));
  CHECK(passes(R"({"attributes": {"owner": {"exists": false}}})"));
  CHECK_FALSE(passes(R"({"attributes": {"name": {"exists": false}}})"));
  Event no_data = hmc_event();
  no_data.data.reset();
  CHECK(passes(R"({"data": {"": {"exists": false}}})", no_data));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/message-id": "*"}})", no_data));
}

TEST_CASE("filter: a list of conditions holds when one item does; items mix globs and operators") {
  CHECK(passes(R"({"data": {"/os-messages/0/message-id": ["IEE*", {"regex": "^IEA"}]}})"));
  CHECK(passes(R"({"data": {"/os-messages/0/severity": [{"gt": 10}, {"lt": 5}]}})"));
  CHECK_FALSE(passes(R"({"data": {"/os-messages/0/severity": [{"gt": 10}, 3]}})"));
  CHECK(passes(R"({"type": {"glob": ["ldm.*", "hmc.*"]}})"));
}

TEST_CASE("filter: all, any, not and their nesting") {
  CHECK(passes(R"({"all": [{"type": "hmc.*"}, {"source": "hmc://*"}]})"));
  CHECK_FALSE(passes(R"({"all": [{"type": "hmc.*"}, {"source": "ldm://*"}]})"));
  CHECK(passes(R"({"any": [{"type": "ldm.*"}, {"source": "hmc://*"}]})"));
  CHECK_FALSE(passes(R"({"any": [{"type": "ldm.*"}, {"source": "ldm://*"}]})"));
  CHECK(passes(R"({"not": {"type": "ldm.*"}})"));
  CHECK_FALSE(passes(R"({"not": {"type": "hmc.*"}})"));
  CHECK(passes(R"({"not": {"data": {"/missing": "*"}}})"));  // a missing value fails, not passes
  CHECK(passes(R"({"type": "hmc.*", "any": [{"data": {"/os-messages/0/severity": {"ge": 4}}},
                                          {"attributes": {"name": "CRIT*"}}],
                   "not": {"subject": "/api/partitions/test*"}})"));
  CHECK_FALSE(passes(R"({"any": [{"all": [{"type": "hmc.*"}, {"not": {"source": "hmc://*"}}]},
                                 {"data": {"/count": {"gt": 1}}}]})"));
}

TEST_CASE("filter: an attribute given twice passes when either value holds") {
  Event e = hmc_event();
  e.attribute("name", "CRIT2");
  CHECK(passes(R"({"attributes": {"name": "CRIT*"}})", e));
  CHECK(passes(R"({"attributes": {"name": "PROD*"}})", e));
}

TEST_CASE("filter: invalid filters: every problem, at its key or value") {
  CHECK(errors_of(R"({"tpye": "hmc.*"})") ==
        Strings{"/tpye^: unknown key 'tpye' (did you mean 'type'?)"});
  CHECK(errors_of(R"({"data": {"/a": {"rgex": "x"}}})") ==
        Strings{"/data//a/rgex^: unknown operator 'rgex' (did you mean 'regex'?)"});
  CHECK(errors_of(R"({"data": {"/a": {"regex": "(IEA"}}})") ==
        Strings{"/data//a/regex: invalid regular expression: missing ): (IEA"});
  CHECK(errors_of(R"({"data": {"a/b": "x", "/a~2": "y"}})") ==
        Strings{"/data//a~2^: invalid JSON Pointer '/a~2': '~' must be followed by 0 or 1 "
                "(~0 is '~', ~1 is '/')",
                "/data/a/b^: invalid JSON Pointer 'a/b': it must be empty or begin with '/'"});
  CHECK(errors_of(R"({"data": {"/a": {"gt": "3"}, "/b": {"exists": "yes"}}})") ==
        Strings{"/data//a/gt: expected a number", "/data//b/exists: expected true or false"});
  CHECK(errors_of(R"({"type": {"eq": [1]}, "subject": {"glob": 3}, "source": {"regex": 1}})") ==
        Strings{"/source/regex: expected a regular expression (a string)",
                "/subject/glob: expected a glob or a non-empty list of globs",
                "/type/eq: expected a string, a number, true, false or null"});
  CHECK(errors_of(R"({"any": [], "all": {"type": "x"}, "not": "x"})") ==
        Strings{"/all: expected a non-empty list of filters",
                "/any: expected a non-empty list of filters",
                "/not: expected a mapping (keys: type, source, subject, attributes, data, all, "
                "any, not)"});
  CHECK(errors_of(R"({"type": [], "subject": {}, "attributes": ["x"], "data": {"/x": [["a"]]}})") ==
        Strings{"/attributes: expected a mapping of attribute name -> condition",
                "/data//x/0: expected a glob, a scalar or a mapping of operators, not a list",
                "/subject: expected at least one operator (glob, regex, eq, gt, ge, lt, le, "
                "exists)",
                "/type: expected a glob, a list or a mapping of operators; the list is empty"});
  CHECK(errors_of(R"({"any": [{"all": [{"not": {"type": {"regex": "[z-a]"}}}]}]})") ==
        Strings{"/any/0/all/0/not/type/regex: invalid regular expression: invalid character "
                "class range: z-a"});
}

TEST_CASE("filter: nesting deeper than 32 levels is refused, not recursed into") {
  json f = {{"type", "x"}};
  for (int i = 0; i < 40; ++i)
    f = {{"not", f}};
  DataPointers pointers;
  std::vector<FilterError> errors;
  Filter::compile(f, pointers, &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message == "filters nested more than 32 deep");
  CHECK(errors[0].path.size() == 33);
}

TEST_CASE("filter: pointers of several filters are numbered once and resolved in one pass") {
  DataPointers pointers;
  std::vector<FilterError> errors;
  Filter a = Filter::compile(json::parse(R"({"data": {"/os-messages/0/severity": {"gt": 3}}})"),
                             pointers, &errors);
  Filter b = Filter::compile(
      json::parse(R"({"data": {"/os-messages/0/severity": 4, "/count": 1}})"), pointers, &errors);
  Filter c = Filter::compile(json::parse(R"({"type": "hmc.*"})"), pointers, &errors);
  REQUIRE(errors.empty());
  CHECK(pointers.size() == 2);
  const std::vector<Event> events{hmc_event()};
  EventViews views(events);
  FilterEvent fe(views.data()[0], &pointers);
  CHECK(c.matches(fe));
  CHECK(fe.data_passes() == 0);  // no data condition yet: the data is not read
  CHECK(a.matches(fe));
  CHECK(b.matches(fe));
  CHECK(fe.data_passes() == 1);
}

TEST_CASE("resolver: values at pointers, first of repeated keys, escapes unescaped") {
  DataPointers p;
  std::vector<sluice::core::DataPointers::Token> t;
  std::string err;
  auto add = [&](const std::string& ptr) {
    REQUIRE(sluice::core::parse_json_pointer(ptr, &t, &err));
    return p.add(t);
  };
  uint32_t a = add("/a"), b1 = add("/b/1"), s = add("/s"), n = add("/n"), deep = add("/x/y/z");
  const auto& v = sluice::core::resolve_pointers(
      R"({"a": 1, "a": 2, "b": [true, "two\nlines", 3], "s": "\u00e9\"", "n": -2.5e1,
          "x": {"y": [], "q": {"z": 1}}})",
      p);
  using K = FilterValue::Kind;
  CHECK(v[a].kind == K::number);
  CHECK(v[a].text == "1");
  CHECK(v[b1].kind == K::string);
  CHECK(v[b1].text == "two\nlines");
  CHECK(v[s].text == "\xc3\xa9\"");
  CHECK(v[n].kind == K::number);
  CHECK(v[n].number == -25.0);
  CHECK(v[n].text == "-2.5e1");
  CHECK(v[deep].kind == K::missing);  // /x/q/z is not /x/y/z
}

TEST_CASE("resolver: a document nested a million deep and a 16 MiB string do not hurt") {
  DataPointers p;
  std::vector<sluice::core::DataPointers::Token> t;
  std::string err;
  REQUIRE(sluice::core::parse_json_pointer("/a/0/0", &t, &err));
  uint32_t deep = p.add(t);
  REQUIRE(sluice::core::parse_json_pointer("/b", &t, &err));
  uint32_t big = p.add(t);
  std::string doc = R"({"a": )" + std::string(1000000, '[') + std::string(1000000, ']') +
                    R"(, "b": ")" + std::string(16u << 20, 'x') + "\"}";
  const auto& v = sluice::core::resolve_pointers(doc, p);
  CHECK(v[deep].kind == FilterValue::Kind::array);
  CHECK(v[big].text.size() == (16u << 20));
  // The bytes themselves, read: the views point into memory that is still the reader's.
  CHECK(v[big].text == std::string(16u << 20, 'x'));
  const auto& again = sluice::core::resolve_pointers(R"({"b": "small"})", p);
  CHECK(again[big].text == "small");
}

TEST_CASE("filter: a regular expression on a long string takes linear time (RE2), no stack") {
  // The classic catastrophic pattern for backtracking engines, on 100 000 characters that
  // almost match: a backtracking matcher would not finish; RE2 answers.
  Event e = hmc_event();
  e.data = R"({"text": ")" + std::string(100000, 'a') + "!\"}";
  CHECK_FALSE(passes(R"({"data": {"/text": {"regex": "^(\\w+\\s?)*$"}}})", e));
  CHECK(passes(R"({"data": {"/text": {"regex": "a!$"}}})", e));
}
