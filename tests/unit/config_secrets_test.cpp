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
  CHECK(redact("user=admin password=hunter2-x again hunter2-x", {"hunter2-x"}) ==
        "user=admin password=*** again ***");
  CHECK(redact("inside:hunter2-xhunter2-x.", {"hunter2-x"}) == "inside:***.");
  CHECK(redact("nothing to hide", {"hunter2-x"}) == "nothing to hide");
  CHECK(redact("empty secrets are ignored", {""}) == "empty secrets are ignored");
}

TEST_CASE("redact: overlapping secrets leave nothing behind") {
  CHECK(redact("token=abcdefgh12", {"abcdefgh", "abcdefgh12"}) == "token=***");
  CHECK(redact("x abcdefgh12345 y", {"abcdefgh12", "defgh12345"}) == "x *** y");
}

TEST_CASE("redact: a short secret is hidden only where it stands alone, never inside words") {
  // A one-letter password used to turn "expected" into "e***pected".
  CHECK(redact("expected 'x', got x", {"x"}) == "expected '***', got ***");
  CHECK(redact("logged on to hmc1 as sysprog", {"x", "pw"}) == "logged on to hmc1 as sysprog");
  CHECK(redact("password=pw;", {"pw"}) == "password=***;");
  CHECK(redact("pwpw", {"pw"}) == "pwpw");
}

TEST_CASE("redact: a base64 word holding a secret (Authorization: Basic) is hidden whole") {
  // base64("sysprog:hunter2-x") and base64("sysprog:pw"), as an HTTP client sends them.
  CHECK(redact("Authorization: Basic c3lzcHJvZzpodW50ZXIyLXg=", {"hunter2-x"}) ==
        "Authorization: Basic ***");
  CHECK(redact("echo: Basic c3lzcHJvZzpwdw==.", {"pw"}) == "echo: Basic ***.");
  // SASL PLAIN: base64("\0ldm\0hunter2-x").
  CHECK(redact("auth AGxkbQBodW50ZXIyLXg=", {"hunter2-x"}) == "auth ***");
  // Words that only look like base64 stay.
  CHECK(redact("Basic realm sysprog expected", {"pw", "x"}) == "Basic realm sysprog expected");
}

TEST_CASE("escape_controls: a newline, CR, tab or other control character becomes visible") {
  CHECK(escape_controls("one\ntwo\r\tx\x01\x7f") == "one\\ntwo\\r\\tx\\x01\\x7f");
  CHECK(escape_controls("nel \xc2\x85 here, caf\xc3\xa9") == "nel \\u0085 here, caf\xc3\xa9");
  CHECK(escape_controls("plain text") == "plain text");
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
  // The secret is the password option's value; the host is no secret, wherever it came from.
  CHECK(l.result.pipeline->secrets == Strings{"pre-from-a-file-post"});
}

TEST_CASE("config.secrets: $${ is a literal ${ and a lone $ stays") {
  Loaded l;
  load_text(l, hmc_pipeline(R"({host: "costs $5", password: "$${NOT_A_VARIABLE}"})"));
  REQUIRE(l.diagnostics == Strings{});
  CHECK(l.result.pipeline->sources[0].options["host"] == "costs $5");
  CHECK(l.result.pipeline->sources[0].options["password"] == "${NOT_A_VARIABLE}");
  CHECK(l.result.pipeline->secrets == Strings{"${NOT_A_VARIABLE}"});
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

TEST_CASE("config.secrets: a secret option's value never appears in a diagnostic") {
  Env pw("SLUICE_TEST_PW", "hunter2-long");
  Env level("SLUICE_TEST_LEVEL", "loud");
  Loaded l;
  load_text(l, R"(sources:
  h:
    plugin: hmc
    options: {host: x, password: "${SLUICE_TEST_PW}", level: "${SLUICE_TEST_PW}"}
sinks:
  out:
    plugin: stdout
    queue: {policy: "${SLUICE_TEST_LEVEL}"}
routes:
  - {from: h, to: out}
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:4:62: error: sources.h.options.level: '***' is not one of low, high",
            "P:8:21: error: sinks.out.queue.policy: 'loud' is not one of block, drop_newest, "
            "drop_oldest, spool",
        });
  for (const auto& d : l.result.diagnostics)
    CHECK(d.to_string().find("hunter2") == std::string::npos);
}

TEST_CASE("config.secrets: only secret options are secrets, not every value from ${ENV}") {
  // A host and a userid from the environment used to turn log lines into "logged on to *** as
  // ***".
  Env host("SLUICE_TEST_HOST", "hmc1.example.com");
  Env pw("SLUICE_TEST_PW", "hunter2-long");
  Loaded l;
  load_text(l, hmc_pipeline(R"({host: "${SLUICE_TEST_HOST}", password: "${SLUICE_TEST_PW}"})"));
  REQUIRE(l.diagnostics == Strings{});
  CHECK(l.result.pipeline->secrets == Strings{"hunter2-long"});
  CHECK(redact("logged on to hmc1.example.com with hunter2-long", l.result.pipeline->secrets) ==
        "logged on to hmc1.example.com with ***");
}

TEST_CASE("config.secrets: validate warns about a secret too short to be hidden safely") {
  Env pw("SLUICE_TEST_PW", "x");
  Loaded l;
  load_text(l, hmc_pipeline(R"({host: h, password: "${SLUICE_TEST_PW}"})"));
  REQUIRE(l.result.ok());  // a warning, not an error
  CHECK(l.diagnostics ==
        Strings{"P:4:34: warning: sources.h.options.password: this secret is shorter than 8 "
                "characters: logs hide it only where it stands alone as a word, not inside "
                "longer text (where hiding it would garble the text and give it away); use a "
                "longer one"});
}

TEST_CASE("config.warnings: clear-text credentials and unverified TLS are warned about") {
  auto web = [](const std::string& options) {
    return "sources:\n  g: {plugin: gen}\nsinks:\n  w:\n    plugin: web\n    options: " + options +
           "\nroutes:\n  - {from: g, to: w}\n";
  };
  SUBCASE("http:// with a bearer token") {
    Loaded l;
    load_text(l, web(R"({url: "http://hook.example/x", auth: {bearer: tok-4f9a8b7c6d5e}})"));
    REQUIRE(l.result.ok());
    CHECK(l.diagnostics ==
          Strings{"P:6:20: warning: sinks.w.options.url: no TLS: this connection is clear text "
                  "and carries credentials (auth.bearer): anyone on the network path can read or "
                  "replay them"});
  }
  SUBCASE("tls.verify: false") {
    Loaded l;
    load_text(l, web(R"({url: "https://hook.example/x", auth: {bearer: tok-4f9a8b7c6d5e},
              tls: {verify: false}})"));
    REQUIRE(l.result.ok());
    CHECK(l.diagnostics ==
          Strings{"P:7:29: warning: sinks.w.options.tls.verify: TLS certificate verification is "
                  "off: anyone on the network path can pose as the peer and receive auth.bearer"});
  }
  SUBCASE("http:// without credentials, https:// verified: nothing to say") {
    Loaded l;
    load_text(l, web(R"({url: "http://hook.example/x", auth: {user: u}})"));
    CHECK(l.diagnostics == Strings{});
    load_text(l, web(R"({url: "https://hook.example/x", auth: {bearer: tok-4f9a8b7c6d5e}})"));
    CHECK(l.diagnostics == Strings{});
  }
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
