// The YAML side of the loader: scalar typing, duplicate keys, syntax errors, aliases, tags.
#include <doctest/doctest.h>

#include "config_test_util.hpp"

using namespace sluice::core;
using config_test::load_text;
using config_test::Loaded;
using Strings = std::vector<std::string>;

namespace {
// A pipeline whose one source takes any options (plugin "any" has no schema), so the options
// come back exactly as the YAML typed them.
std::string with_options(const std::string& options_block) {
  return "sources:\n  a:\n    plugin: any\n    options:\n" + options_block +
         "sinks:\n  out: {plugin: stdout}\nroutes:\n  - {from: a, to: out}\n";
}
}  // namespace

TEST_CASE("config.yaml: plain scalars are typed by the YAML 1.2 core schema") {
  Loaded l;
  load_text(l, with_options(R"(      int: 42
      negative: -7
      octal: 0o17
      hex: 0x1F
      float: 1.5
      exponent: 1e3
      infinity: .inf
      yes_word: yes
      on_word: on
      true_word: true
      False_word: False
      tilde: ~
      null_word: null
      empty:
      version_like: 1.2.3
      big: 18446744073709551615
      string: hello world
)"));
  REQUIRE(l.diagnostics == Strings{});
  const nlohmann::json& o = l.result.pipeline->sources[0].options;
  CHECK(o["int"] == 42);
  CHECK(o["int"].is_number_integer());
  CHECK(o["negative"] == -7);
  CHECK(o["octal"] == 15);
  CHECK(o["hex"] == 31);
  CHECK(o["float"] == 1.5);
  CHECK(o["exponent"].is_number_float());
  CHECK(o["exponent"] == 1000.0);
  CHECK(o["infinity"].get<double>() == std::numeric_limits<double>::infinity());
  CHECK(o["yes_word"] == "yes");  // YAML 1.1 booleans are strings in 1.2
  CHECK(o["on_word"] == "on");
  CHECK(o["true_word"] == true);
  CHECK(o["False_word"] == false);
  CHECK(o["tilde"].is_null());
  CHECK(o["null_word"].is_null());
  CHECK(o["empty"].is_null());
  CHECK(o["version_like"] == "1.2.3");
  CHECK(o["big"] == 18446744073709551615ull);
  CHECK(o["string"] == "hello world");
}

TEST_CASE("config.yaml: quoted and block scalars stay strings") {
  Loaded l;
  load_text(l, with_options(R"(      single: '42'
      double: "true"
      null_quoted: "null"
      literal: |
        5
      folded: >
        1.5
      tagged: !!str 7
)"));
  REQUIRE(l.diagnostics == Strings{});
  const nlohmann::json& o = l.result.pipeline->sources[0].options;
  CHECK(o["single"] == "42");
  CHECK(o["double"] == "true");
  CHECK(o["null_quoted"] == "null");
  CHECK(o["literal"] == "5\n");
  CHECK(o["folded"] == "1.5\n");
  CHECK(o["tagged"] == "7");
}

TEST_CASE("config.yaml: lists, nested mappings and aliases") {
  Loaded l;
  load_text(l, with_options(R"(      list: [1, two, {three: 3}]
      base: &common {retries: 2}
      copy: *common
)"));
  REQUIRE(l.diagnostics == Strings{});
  const nlohmann::json& o = l.result.pipeline->sources[0].options;
  CHECK(o["list"] == nlohmann::json::parse(R"([1, "two", {"three": 3}])"));
  CHECK(o["copy"] == nlohmann::json{{"retries", 2}});
}

TEST_CASE("config.yaml: a duplicate key is an error at the second one; the first value stays") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen}
sinks:
  out: {plugin: stdout}
  out: {plugin: stdout, options: {format: json}}
routes:
  - {from: g, to: out, from: g}
)");
  CHECK(l.diagnostics ==
        Strings{"P:5:3: error: duplicate key 'out' (first at line 4, column 3)",
                "P:7:24: error: duplicate key 'from' (first at line 7, column 6)"});
  CHECK_FALSE(l.result.ok());
}

TEST_CASE("config.yaml: a syntax error is reported where the parser stopped") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen
sinks:
  out: {plugin: stdout}
)");
  CHECK(l.diagnostics ==
        Strings{"P:3:6: error: YAML syntax error: a '{' is not closed: the '}' is missing, or a "
                "value inside holds ',', ':', '{' or '}' and needs quotes (the parser says: end "
                "of map flow not found)"});

  Loaded tabs;
  load_text(tabs, "sources:\n  g:\n\tplugin: gen\n");
  CHECK(tabs.diagnostics ==
        Strings{"P:3:2: error: YAML syntax error: a tab in the indentation: YAML indents with "
                "spaces only (the parser says: end of map not found)"});
}

TEST_CASE("config.yaml: syntax errors say in plain words what is wrong") {
  auto first = [](const std::string& text) {
    Loaded l;
    load_text(l, text);
    return l.diagnostics.empty() ? std::string() : l.diagnostics.front();
  };
  CHECK(first("sources:\n  a: 1\n b: 2\n") ==
        "P:3:2: error: YAML syntax error: this line is not lined up with the keys above it: the "
        "keys of one mapping start in the same column (the parser says: end of map not found)");
  CHECK(first("log: [info, text\n") ==
        "P:2:1: error: YAML syntax error: a '[' is not closed: the ']' is missing, or a value "
        "inside holds ',' or ']' and needs quotes (the parser says: end of sequence flow not "
        "found)");
  CHECK(first("log: {level: @info}\n") ==
        "P:1:14: error: YAML syntax error: a value cannot start with this character ('@' and '`' "
        "are reserved): put the value in quotes (the parser says: unknown token)");
  CHECK(first("log: level: info\n") ==
        "P:1:11: error: YAML syntax error: a ':' where no value can start: a key indented deeper "
        "than the keys beside it, or a value holding ': ' that needs quotes (the parser says: "
        "illegal map value)");
  CHECK(first("log: \"a\\qb\"\n") ==
        "P:1:10: error: YAML syntax error: '\\q' is not an escape sequence in a double-quoted "
        "value: write '\\\\' for a backslash, or use single quotes (the parser says: unknown "
        "escape character: q)");
  CHECK(first("log: *nowhere\n") ==
        "P:1:6: error: YAML syntax error: '*NAME' refers to an anchor '&NAME' that is not "
        "defined above it; a value that starts with '*' needs quotes (the parser says: the "
        "referenced anchor is not defined)");
}

TEST_CASE("config.yaml: unsupported tags and a second document are errors") {
  Loaded l;
  load_text(l, with_options(R"(      custom: !secret abc
      not_int: !!int abc
)") + "---\nsecond: document\n");
  CHECK(l.diagnostics ==
        Strings{
            "P:5:15: error: unsupported tag '!secret' (only the standard !!str, !!int, !!float, "
            "!!bool and !!null are understood)",
            "P:6:16: error: 'abc' is not a valid !!int",
            "P:11:1: error: a pipeline file holds one YAML document; this is a second one (after "
            "'---')",
        });
}

TEST_CASE("config.yaml: aliases cannot blow the document up") {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 8; ++i) {
    // a<i>: &a<i> [*a<i-1>, ... ten times]
    const std::string name = std::to_string(i), previous = std::to_string(i - 1);
    yaml += 'a';
    yaml += name;
    yaml += ": &a";
    yaml += name;
    yaml += " [";
    for (int k = 0; k < 10; ++k) {
      if (k) yaml += ", ";
      yaml += "*a";
      yaml += previous;
    }
    yaml += "]\n";
  }
  Loaded l;
  load_text(l, yaml);
  REQUIRE(l.diagnostics.size() == 1);
  CHECK(l.diagnostics[0] ==
        "P:6:10: error: the document is too large (more than 200000 values once aliases are "
        "expanded)");
}

TEST_CASE("config.yaml: a file that is not UTF-8 is refused where the bad byte is") {
  Loaded l;
  load_text(l, "sources:\n  g: {plugin: \"ab\xff\"}\n");
  CHECK(l.diagnostics == Strings{"P:2:18: error: the file is not valid UTF-8 text"});
}
