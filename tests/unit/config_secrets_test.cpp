// ${NAME}, ${file:PATH} and $${ in pipeline files, and redact().
#include <doctest/doctest.h>

#include <cstdlib>

#include <sluice/core/redact.hpp>

#include "config_test_util.hpp"

using namespace sluice::core;
using config_test::load_text;
using config_test::Loaded;
using Strings = std::vector<std::string>;

namespace {
// Sets an environment variable for the length of one test.
struct Env {
  Env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~Env() { ::unsetenv(name_); }
  const char* name_;
};

std::string hmc_pipeline(const std::string& options) {
  return "sources:\n  h:\n    plugin: hmc\n    options: " + options +
         "\nsinks:\n  out: {plugin: stdout}\nroutes:\n  - {from: h, to: out}\n";
}
}  // namespace

TEST_CASE("redact: every occurrence of every secret becomes ***") {
  CHECK(redact("user=admin password=hunter2 again hunter2", {"hunter2"}) ==
        "user=admin password=*** again ***");
  CHECK(redact("nothing to hide", {"hunter2"}) == "nothing to hide");
  CHECK(redact("empty secrets are ignored", {""}) == "empty secrets are ignored");
  CHECK(redact("pwpw", {"pw"}) == "******");
}

TEST_CASE("redact: longest secret first, overlaps leave nothing behind") {
  CHECK(redact("token=abcdef", {"abc", "abcdef"}) == "token=***");
  CHECK(redact("x abcd y", {"abc", "bcd"}) == "x *** y");
}

TEST_CASE("config.secrets: ${NAME} takes an environment variable and records it") {
  Env env("SLUICE_TEST_PASSWORD", "s3cr3t-value");
  Loaded l;
  load_text(l, hmc_pipeline(R"({host: hmc1, password: "${SLUICE_TEST_PASSWORD}"})"));
  REQUIRE(l.diagnostics == Strings{});
  CHECK(l.result.pipeline->sources[0].options["password"] == "s3cr3t-value");
  CHECK(l.result.pipeline->secrets == Strings{"s3cr3t-value"});
}

TEST_CASE("config.secrets: ${file:PATH} reads a file relative to the pipeline, minus one newline") {
  Loaded l;
  l.dir.write("hmc.pass", "from-a-file\n");
  load_text(l,
            hmc_pipeline(R"({host: "${file:hmc.pass}", password: "pre-${file:hmc.pass}-post"})"));
  REQUIRE(l.diagnostics == Strings{});
  CHECK(l.result.pipeline->sources[0].options["host"] == "from-a-file");
  CHECK(l.result.pipeline->sources[0].options["password"] == "pre-from-a-file-post");
  CHECK(l.result.pipeline->secrets == Strings{"from-a-file"});
}

TEST_CASE("config.secrets: $${ is a literal ${ and a lone $ stays") {
  Loaded l;
  load_text(l, hmc_pipeline(R"({host: "costs $5", password: "$${NOT_A_VARIABLE}"})"));
  REQUIRE(l.diagnostics == Strings{});
  CHECK(l.result.pipeline->sources[0].options["host"] == "costs $5");
  CHECK(l.result.pipeline->sources[0].options["password"] == "${NOT_A_VARIABLE}");
  CHECK(l.result.pipeline->secrets.empty());
}

TEST_CASE("config.secrets: a missing variable or file names it, never a value") {
  ::unsetenv("SLUICE_TEST_UNSET");
  Loaded l;
  load_text(
      l,
      hmc_pipeline(
          R"({host: "${SLUICE_TEST_UNSET}", password: "${file:/nonexistent/pw}", level: "${bad-name}"})"));
  CHECK(l.diagnostics ==
        Strings{
            "P:4:21: error: sources.h.options.host: environment variable SLUICE_TEST_UNSET is "
            "not set",
            "P:4:55: error: sources.h.options.password: cannot read secret file "
            "'/nonexistent/pw': No such file or directory",
            "P:4:89: error: sources.h.options.level: '${bad-name}' is not a valid reference: use "
            "${NAME} for an environment variable or ${file:PATH} for a file",
        });
  CHECK_FALSE(l.result.ok());
}

TEST_CASE("config.secrets: an unterminated ${ is an error that suggests $${") {
  Loaded l;
  load_text(l, hmc_pipeline(R"({host: "${HMC_HOST"})"));
  CHECK(l.diagnostics == Strings{"P:4:21: error: sources.h.options.host: unterminated '${' "
                                 "(write '$${' for a literal '${')"});
}

TEST_CASE("config.secrets: a secret file that is not UTF-8 text is an error") {
  Loaded l;
  l.dir.write("binary.key", std::string("\x80\x81\xfe", 3));
  load_text(l, hmc_pipeline(R"({host: x, password: "${file:binary.key}"})"));
  CHECK(l.diagnostics == Strings{"P:4:34: error: sources.h.options.password: a value put in by "
                                 "${...} is not valid UTF-8 text"});
}

TEST_CASE("config.secrets: a secret never appears in a diagnostic, even as an invalid value") {
  Env env("SLUICE_TEST_LEVEL", "hunter2");
  Loaded l;
  l.dir.write("level.txt", "hunter2\n");
  load_text(l, R"(sources:
  h:
    plugin: hmc
    options: {host: x, level: "${SLUICE_TEST_LEVEL}"}
  k:
    plugin: "${file:level.txt}"
sinks:
  out:
    plugin: stdout
    queue: {policy: "${SLUICE_TEST_LEVEL}"}
    spool: {max_bytes: "${SLUICE_TEST_LEVEL}"}
  hunter2x: {plugin: stdout}
routes:
  - {from: [h, k], to: out}
  - {from: h, to: "${SLUICE_TEST_LEVEL}"}
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:4:31: error: sources.h.options.level: '***' is not one of low, high",
            "P:6:13: error: sources.k.plugin: plugin '***' not found (searched /fake/plugins)",
            "P:10:21: error: sinks.out.queue.policy: '***' is not one of block, drop_newest, "
            "drop_oldest, spool",
            "P:11:24: error: sinks.out.spool.max_bytes: '***' is not a size: write a number of "
            "bytes or one with B, KiB, MiB, GiB, KB, MB or GB, like 64MiB",
            "P:12:3: warning: sink '***x' is not fed by any route",
            "P:15:19: error: routes[1].to: unknown sink '***' (sinks: ***x, out)",
        });
  for (const auto& d : l.result.diagnostics)
    CHECK(d.to_string().find("hunter2") == std::string::npos);
}

TEST_CASE("config.secrets: !!int, !!float and !!bool turn a resolved reference into that type") {
  Env count("SLUICE_TEST_COUNT", "25");
  Env flag("SLUICE_TEST_FLAG", "true");
  Loaded l;
  load_text(l, R"(sources:
  g:
    plugin: gen
    options:
      count: !!int ${SLUICE_TEST_COUNT}
      nested: {depth: !!int "${SLUICE_TEST_COUNT}"}
  a:
    plugin: any
    options: {ratio: !!float "${SLUICE_TEST_COUNT}", on: !!bool "${SLUICE_TEST_FLAG}",
              text: "${SLUICE_TEST_COUNT}"}
sinks:
  out: {plugin: stdout}
routes:
  - {from: [g, a], to: out}
)");
  REQUIRE(l.diagnostics == Strings{});
  const auto& gen = l.result.pipeline->sources[0].options;
  CHECK(gen["count"] == 25);
  CHECK(gen["count"].is_number_integer());
  CHECK(gen["nested"]["depth"] == 25);
  const auto& any = l.result.pipeline->sources[1].options;
  CHECK(any["ratio"].is_number_float());
  CHECK(any["ratio"] == 25.0);
  CHECK(any["on"] == true);
  CHECK(any["text"] == "25");  // untagged: a string, as always
}

TEST_CASE("config.secrets: a tagged reference that does not give its type names the reference") {
  Env word("SLUICE_TEST_WORD", "many");
  Loaded l;
  load_text(l, R"(sources:
  g:
    plugin: gen
    options: {count: !!int "${SLUICE_TEST_WORD}", label: !!bool "${SLUICE_TEST_WORD}"}
sinks:
  out: {plugin: stdout}
routes:
  - {from: g, to: out}
)");
  CHECK(l.diagnostics ==
        Strings{"P:4:22: error: sources.g.options.count: '${SLUICE_TEST_WORD}' does not give a "
                "valid !!int",
                "P:4:58: error: sources.g.options.label: '${SLUICE_TEST_WORD}' does not give a "
                "valid !!bool"});
  for (const auto& d : l.result.diagnostics)
    CHECK(d.to_string().find("many") == std::string::npos);
}
