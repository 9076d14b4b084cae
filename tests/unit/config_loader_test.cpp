// load_pipeline(): a valid file into PipelineConfig, and the pipeline file's own checks.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config_test_util.hpp"

using namespace sluice::core;
using config_test::load_text;
using config_test::Loaded;
using Strings = std::vector<std::string>;

namespace {
std::string pipeline_file(const std::string& name) {
  // Fixtures sit beside this file, in pipelines/.
  std::ifstream in(std::filesystem::path(SLUICE_UNIT_PIPELINES_DIR) / name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("config.full: every key of a valid file lands in PipelineConfig") {
  Loaded l;
  load_text(l, pipeline_file("full.yaml"));
  CHECK(l.diagnostics == Strings{});
  REQUIRE(l.result.ok());
  const PipelineConfig& p = *l.result.pipeline;
  const std::string dir = l.dir.path();

  CHECK(p.path == l.file);
  CHECK(p.log.level == "debug");
  CHECK(p.log.format == "json");
  CHECK(p.plugin_paths == Strings{dir + "/plugins", "/opt/sluice/plugins"});
  CHECK(p.drain_timeout == std::chrono::milliseconds(7000));
  CHECK(p.metrics.interval == std::chrono::milliseconds(30000));
  CHECK(p.state_dir == dir + "/state");
  CHECK(p.secrets.empty());

  REQUIRE(p.sources.size() == 2);
  CHECK(p.sources[0].name == "hmc1");
  CHECK(p.sources[0].plugin == "hmc");
  CHECK(p.sources[0].options == nlohmann::json{{"host", "hmc1.example.com"}, {"level", "high"}});
  CHECK(p.sources[0].mark.line == 9);
  CHECK(p.sources[0].mark.column == 3);
  CHECK(p.sources[1].name == "synth");
  CHECK(p.sources[1].options ==
        nlohmann::json::parse(R"({"count": 3, "interval": "1s", "nested": {"depth": 2}})"));

  REQUIRE(p.sinks.size() == 2);
  const SinkConfig& c = p.sinks[0];
  CHECK(c.name == "console");
  CHECK(c.plugin == "stdout");
  CHECK(c.options == nlohmann::json{{"format", "json"}});
  CHECK(c.queue.max_events == 2000);
  CHECK(c.queue.max_bytes == 64ull << 20);
  CHECK(c.queue.policy == QueuePolicy::drop_oldest);
  CHECK(c.batch.max_events == 100);
  CHECK(c.batch.max_bytes == 1ull << 20);
  CHECK(c.batch.max_delay == std::chrono::milliseconds(250));
  CHECK(c.retry.backoff.initial == std::chrono::milliseconds(200));
  CHECK(c.retry.backoff.max == std::chrono::milliseconds(60000));
  CHECK(c.retry.backoff.multiplier == 3.0);
  CHECK(c.retry.backoff.jitter == sluice::BackoffPolicy::Jitter::half);
  CHECK(c.retry.max_attempts == 5);
  CHECK(c.retry.max_elapsed == std::chrono::milliseconds(600000));
  CHECK(c.spool.directory == dir + "/spool/console");
  CHECK(c.spool.max_bytes == 1ull << 30);
  CHECK(c.dead_letter.path == dir + "/dlq.jsonl");

  const SinkConfig& a = p.sinks[1];  // nothing but the plugin: every default
  CHECK(a.name == "archive");
  CHECK(a.options == nlohmann::json{{"format", "text"}});
  CHECK(a.queue.max_events == 10000);
  CHECK(a.queue.max_bytes == 64ull << 20);
  CHECK(a.queue.policy == QueuePolicy::block);
  CHECK(a.batch.max_events == 500);
  CHECK(a.batch.max_delay == std::chrono::milliseconds(50));
  CHECK(a.retry.backoff.initial == std::chrono::milliseconds(100));
  CHECK(a.retry.backoff.max == std::chrono::milliseconds(30000));
  CHECK(a.retry.backoff.jitter == sluice::BackoffPolicy::Jitter::full);
  CHECK(a.retry.max_attempts == 0);
  CHECK(a.spool.directory == dir + "/state/spool/archive");
  CHECK(a.dead_letter.path == "");

  REQUIRE(p.routes.size() == 2);
  CHECK(p.routes[0].name == "partitions");
  CHECK(p.routes[0].from == Strings{"hmc1"});
  CHECK(p.routes[0].to == Strings{"console", "archive"});
  CHECK(p.routes[0].filter.types == Strings{"hmc.*"});
  CHECK(p.routes[0].filter.subjects == Strings{"/api/partitions/*", "/api/logical-partitions/*"});
  CHECK(p.routes[0].filter.attributes ==
        std::map<std::string, Strings>{{"class", {"partition", "logical-partition"}},
                                       {"name", {"LPAR*"}}});
  CHECK(p.routes[0].mark.line == 27);
  CHECK(p.routes[1].name == "route-2");
  CHECK(p.routes[1].from == Strings{"synth"});
  CHECK(p.routes[1].to == Strings{"console"});
  CHECK(p.routes[1].filter.empty());
}

TEST_CASE("config.defaults: an absent state_dir is .sluice-state next to the file") {
  Loaded l;
  load_text(l, config_test::kMinimal);
  REQUIRE(l.result.ok());
  CHECK(l.result.pipeline->state_dir == l.dir.path() + "/.sluice-state");
  CHECK(l.result.pipeline->sinks[0].spool.directory == l.dir.path() + "/.sluice-state/spool/out");
  CHECK(l.result.pipeline->drain_timeout == std::chrono::milliseconds(5000));
  CHECK(l.result.pipeline->log.level == "info");
}

TEST_CASE("config.structure: unknown keys, wrong types, bad enum values, missing keys") {
  Loaded l;
  load_text(l, R"(log: {levle: info, format: xml}
shutdown: {drain_timeout: [1]}
sources:
  g: {plugin: gen, option: {}}
sinks:
  console:
    plugin: stdout
    queue: {max_events: lots, policy: dropp}
  nameless: {options: {}}
routes:
  - {from: g, to: console}
  - {from: g, to: nameless}
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:1:7: error: log: unknown key 'levle' (did you mean 'level'?)",
            "P:1:28: error: log.format: 'xml' is not one of text, json",
            "P:2:27: error: shutdown.drain_timeout: expected a duration (like 250ms, 5s, 2m), "
            "got a list",
            "P:4:20: error: sources.g: unknown key 'option' (did you mean 'options'?)",
            "P:8:25: error: sinks.console.queue.max_events: expected an integer, got the string "
            "'lots'",
            "P:8:39: error: sinks.console.queue.policy: 'dropp' is not one of block, drop_newest, "
            "drop_oldest, spool",
            "P:9:13: error: sinks.nameless: missing required key 'plugin'",
        });
  CHECK_FALSE(l.result.ok());
}

TEST_CASE("config.structure: a missing top-level key is reported at the document") {
  Loaded l;
  load_text(l, "sources: {}\nsinks: {}\n");
  CHECK(l.diagnostics == Strings{"P:1:1: error: missing required key 'routes'"});
}

TEST_CASE("config.structure: source and sink names are checked") {
  Loaded l;
  load_text(l, R"(sources:
  "bad name": {plugin: gen}
sinks:
  out: {plugin: stdout}
routes:
  - {from: "bad name", to: out}
)");
  CHECK(l.diagnostics ==
        Strings{"P:2:3: error: sources: 'bad name' is not a valid name: use letters, digits, "
                "'_', '-' and '.', and do not start with '-' or '.'"});
}

TEST_CASE("config.errors: every error is reported at once, in file order") {
  Loaded l;
  load_text(l, R"(sinks:
  out:
    plugin: stdout
    options: {format: yaml}
    batch: {max_delay: soon}
sources:
  g: {plugin: gen, options: {count: 0}}
  h: {plugin: nope}
routes:
  - {from: [g, ghost], to: out}
  - {from: h, to: [out, g]}
log: {level: loud}
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:4:23: error: sinks.out.options.format: 'yaml' is not one of text, json",
            "P:5:24: error: sinks.out.batch.max_delay: 'soon' is not a duration: write a number "
            "with ms, s, m, min or h, like 250ms, 5s or 2m",
            "P:7:37: error: sources.g.options.count: must be at least 1, got 0",
            "P:8:15: error: sources.h.plugin: plugin 'nope' not found (searched /fake/plugins)",
            "P:10:16: error: routes[0].from[1]: unknown source 'ghost' (sources: g, h)",
            "P:11:25: error: routes[1].to[1]: 'g' is a source, not a sink",
            "P:12:14: error: log.level: 'loud' is not one of trace, debug, info, warn, error",
        });
}

TEST_CASE("config.plugins: options checked against the plugin's schema") {
  Loaded l;
  load_text(l, R"(sources:
  g:
    plugin: gen
    options:
      count: "3"
      interval: 5 seconds
      mode: c
      colour: red
      nested: {depth: deep}
  h:
    plugin: hmc
    options: {level: low}
sinks:
  out: {plugin: stdout}
routes:
  - {from: [g, h], to: out}
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:5:14: error: sources.g.options.count: expected an integer, got the string '3'",
            "P:6:17: error: sources.g.options.interval: '5 seconds' is not a duration: write a "
            "number with ms, s, m, min or h, like 250ms, 5s or 2m",
            "P:7:13: error: sources.g.options.mode: 'c' is not one of a, b",
            "P:8:7: error: sources.g.options: unknown key 'colour' (known keys: count, interval, "
            "label, mode, nested)",
            "P:9:23: error: sources.g.options.nested.depth: expected an integer, got the string "
            "'deep'",
            "P:12:14: error: sources.h.options: missing required key 'host'",
        });
}

TEST_CASE("config.plugins: kind mismatch, unusable schema, plugin without schema") {
  Loaded l;
  load_text(l, R"(sources:
  s: {plugin: stdout}
  free: {plugin: any, options: {whatever: [1, 2]}}
sinks:
  k: {plugin: gen}
  b: {plugin: broken}
routes:
  - {from: [s, free], to: [k, b]}
)");
  REQUIRE(l.diagnostics.size() == 3);
  CHECK(l.diagnostics[0] ==
        "P:2:15: error: sources.s.plugin: 'stdout' is a sink plugin; a source needs a source "
        "plugin");
  CHECK(l.diagnostics[1] ==
        "P:5:15: error: sinks.k.plugin: 'gen' is a source plugin; a sink needs a sink plugin");
  // The rest is nlohmann::json's own parse error text.
  CHECK(l.diagnostics[2].rfind(
            "P:6:15: error: sinks.b.plugin: plugin 'broken' (/fake/sluice_broken.so) declares an "
            "options schema that cannot be used: [json.exception.parse_error.101] parse error",
            0) == 0);
}

TEST_CASE("config.defaults: schema defaults fill absent options, recursively") {
  Loaded l;
  load_text(l, R"(sources:
  g1: {plugin: gen}
  g2: {plugin: gen, options: {count: 2, nested: {}}}
  g3: {plugin: gen, options: {interval: 250ms, nested: {depth: 7}}}
sinks:
  out: {plugin: stdout}
routes:
  - {from: [g1, g2, g3], to: out}
)");
  REQUIRE(l.result.ok());
  const auto& s = l.result.pipeline->sources;
  CHECK(s[0].options ==
        nlohmann::json::parse(R"({"count": 10, "interval": "1s", "nested": {"depth": 2}})"));
  CHECK(s[1].options ==
        nlohmann::json::parse(R"({"count": 2, "interval": "1s", "nested": {"depth": 2}})"));
  CHECK(s[2].options ==
        nlohmann::json::parse(R"({"count": 10, "interval": "250ms", "nested": {"depth": 7}})"));
}

TEST_CASE("config.routes: names shared, routes empty, unused sources and sinks") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen}
  idle: {plugin: gen}
sinks:
  out: {plugin: stdout}
  g: {plugin: stdout}
routes: []
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:6:3: error: sinks: the name 'g' is already used by a source (line 2); sources "
            "and sinks share one set of names",
            "P:7:9: error: routes: there are no routes; at least one must take events from a "
            "source to a sink",
        });
}

TEST_CASE("config.routes: a source no route reads and a sink no route feeds are warnings") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen}
  idle: {plugin: gen}
sinks:
  out: {plugin: stdout}
  spare: {plugin: stdout}
routes:
  - name: main
    from: g
    to: out
  - name: main
    from: g
    to: ghost
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:3:3: warning: source 'idle' is not read by any route",
            "P:6:3: warning: sink 'spare' is not fed by any route",
            "P:11:11: error: routes[1].name: the route name 'main' is already used by routes[0]",
            "P:13:9: error: routes[1].to: unknown sink 'ghost' (sinks: out, spare)",
        });
}

TEST_CASE("config.routes: warnings alone leave the pipeline usable") {
  Loaded l;
  load_text(l, std::string(config_test::kMinimal) + "  - {from: g, to: out}\n" +
                   "# second route to the same place is fine\n");
  CHECK(l.diagnostics == Strings{});
  CHECK(l.result.ok());

  Loaded w;
  load_text(w, R"(sources:
  g: {plugin: gen}
  idle: {plugin: gen}
sinks:
  out: {plugin: stdout}
routes:
  - {from: g, to: out}
)");
  CHECK(w.diagnostics == Strings{"P:3:3: warning: source 'idle' is not read by any route"});
  CHECK(w.result.ok());
}

TEST_CASE("config.units: durations and sizes, good and bad") {
  Loaded good;
  load_text(good, R"(shutdown: {drain_timeout: 2m}
metrics: {interval: 0}
sources:
  g: {plugin: gen}
sinks:
  out:
    plugin: stdout
    queue: {max_bytes: 512}
    batch: {max_bytes: 16KiB, max_delay: 1500}
    retry: {initial: 0.5s, max: 1h}
    spool: {max_bytes: 2GB}
routes:
  - {from: g, to: out}
)");
  REQUIRE(good.diagnostics == Strings{});
  const PipelineConfig& p = *good.result.pipeline;
  CHECK(p.drain_timeout == std::chrono::milliseconds(120000));
  CHECK(p.metrics.interval == std::chrono::milliseconds(0));
  CHECK(p.sinks[0].queue.max_bytes == 512);
  CHECK(p.sinks[0].batch.max_bytes == 16384);
  CHECK(p.sinks[0].batch.max_delay == std::chrono::milliseconds(1500));
  CHECK(p.sinks[0].retry.backoff.initial == std::chrono::milliseconds(500));
  CHECK(p.sinks[0].retry.backoff.max == std::chrono::milliseconds(3600000));
  CHECK(p.sinks[0].spool.max_bytes == 2000000000ull);

  Loaded bad;
  load_text(bad, R"(shutdown: {drain_timeout: 5 sec}
metrics: {interval: -1}
sources:
  g: {plugin: gen}
sinks:
  out:
    plugin: stdout
    queue: {max_bytes: 64Mb}
    batch: {max_bytes: 0, max_delay: ..}
    retry: {initial: 10s, max: 1s}
routes:
  - {from: g, to: out}
)");
  CHECK(bad.diagnostics ==
        Strings{
            "P:1:27: error: shutdown.drain_timeout: '5 sec' is not a duration: write a number "
            "with ms, s, m, min or h, like 250ms, 5s or 2m",
            "P:2:21: error: metrics.interval: must be at least 0, got -1",
            "P:8:24: error: sinks.out.queue.max_bytes: '64Mb' is not a size: write a number of "
            "bytes or one with B, KiB, MiB, GiB, KB, MB or GB, like 64MiB",
            "P:9:24: error: sinks.out.batch.max_bytes: must be more than 0 bytes",
            "P:9:38: error: sinks.out.batch.max_delay: not a duration: '..'",
            "P:10:32: error: sinks.out.retry.max: the longest retry delay (1000ms) is shorter "
            "than the first one (10000ms)",
        });
}

TEST_CASE("config.file: an unreadable or empty file is one error without a line") {
  config_test::TempDir dir;
  std::string missing = dir.path() + "/absent.yaml";
  LoadResult r = load_pipeline(missing, config_test::fake_lookup);
  CHECK(config_test::printed(r, missing) ==
        Strings{"P: error: cannot read the pipeline file: No such file or directory"});

  Loaded empty;
  load_text(empty, "# nothing but a comment\n");
  CHECK(empty.diagnostics ==
        Strings{"P: error: the pipeline file is empty; it needs at least sources, sinks and "
                "routes"});

  Loaded list;
  load_text(list, "- a\n- b\n");
  CHECK(list.diagnostics == Strings{"P:1:1: error: expected a mapping, got a list"});
}

TEST_CASE("config.spool: fsync, fsync_interval, segment_bytes and overflow reach SpoolConfig") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen}
sinks:
  out:
    plugin: stdout
    queue: {policy: spool}
    spool: {max_bytes: 64MiB, fsync: batch, fsync_interval: 250ms, segment_bytes: 2MiB,
            overflow: drop_oldest}
  plain: {plugin: stdout}
routes:
  - {from: g, to: [out, plain]}
)");
  REQUIRE(l.result.ok());
  const auto& a = l.result.pipeline->sinks[0].spool;
  CHECK(a.max_bytes == 64ull << 20);
  CHECK(a.fsync == sluice::core::SpoolFsync::batch);
  CHECK(a.fsync_interval == std::chrono::milliseconds(250));
  CHECK(a.segment_bytes == 2ull << 20);
  CHECK(a.overflow == sluice::core::SpoolOverflow::drop_oldest);
  const auto& b = l.result.pipeline->sinks[1].spool;  // defaults
  CHECK(b.fsync == sluice::core::SpoolFsync::interval);
  CHECK(b.fsync_interval == std::chrono::milliseconds(1000));
  CHECK(b.segment_bytes == 0);  // min(16 MiB, max_bytes / 8)
  CHECK(b.overflow == sluice::core::SpoolOverflow::drop_newest);
}

TEST_CASE("config.spool: bad fsync and overflow values are reported") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen}
sinks:
  out:
    plugin: stdout
    spool: {fsync: always, overflow: wait, segment_bytes: 0}
routes:
  - {from: g, to: out}
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:6:20: error: sinks.out.spool.fsync: 'always' is not one of never, batch, interval",
            "P:6:38: error: sinks.out.spool.overflow: 'wait' is not one of drop_newest, "
            "drop_oldest, block",
            "P:6:59: error: sinks.out.spool.segment_bytes: must be more than 0 bytes",
        });
  CHECK_FALSE(l.result.ok());
}

// ---- the plugin's own options check (ABI 1.1 check_options) ---------------------------------

namespace {

// The fake plugins, and a check_options for `gen` and `hmc` that records the options it was
// given and finds problems by value.
std::vector<nlohmann::json>& checked() {
  static std::vector<nlohmann::json> options;
  return options;
}

std::optional<PluginSchemaInfo> checking_lookup(const std::string& name,
                                                const std::vector<std::string>& paths,
                                                std::string* error) {
  auto info = config_test::fake_lookup(name, paths, error);
  if (info && (name == "gen" || name == "hmc"))
    info->check_options = [](const std::string& text) {
      auto o = nlohmann::json::parse(text);
      checked().push_back(o);
      sluice::OptionProblems problems;
      if (o.value("label", "") == "throw") throw std::runtime_error("the check broke");
      if (o.value("label", "") == "bad") problems.push_back({"/label", "label: not good"});
      if (o.contains("nested") && o["nested"].value("depth", 0) == 7)
        problems.push_back({"/nested/depth", "nested.depth: 7 is unlucky"});
      if (o.value("count", 0) == 10) problems.push_back({"/count", "count: 10 is the default"});
      if (o.value("mode", "") == "b") problems.push_back({"", "mode b needs a label"});
      if (o.value("password", "") == "s3cret-value") problems.push_back({"/password", "no"});
      if (o.value("password", "") == "leaky-s3cret")
        problems.push_back({"/password", "password: 'leaky-s3cret' is wrong"});
      return problems;
    };
  return info;
}

Strings load_checked(Loaded& l, const std::string& yaml) {
  checked().clear();
  l.file = l.dir.write("pipeline.yaml", yaml);
  l.result = load_pipeline(l.file, checking_lookup);
  l.diagnostics = config_test::printed(l.result, l.file);
  return l.diagnostics;
}

}  // namespace

TEST_CASE("config.check: each problem of the plugin's check is an error at its option") {
  Loaded l;
  CHECK(load_checked(l, R"(sources:
  g:
    plugin: gen
    options:
      count: 3
      label: bad
      nested:
        depth: 7
sinks:
  out: {plugin: stdout}
routes:
  - {from: g, to: out}
)") == Strings{
           "P:6:7: error: sources.g: label: not good",
           "P:8:9: error: sources.g: nested.depth: 7 is unlucky",
       });
  CHECK_FALSE(l.result.ok());
  // It got the options as create() gets them: validated, defaults filled in.
  REQUIRE(checked().size() == 1);
  CHECK(checked()[0] == nlohmann::json::parse(
                            R"({"count": 3, "interval": "1s", "label": "bad",
                                "nested": {"depth": 7}})"));
}

TEST_CASE("config.check: a default or no single option: at options:, else at the instance") {
  Loaded l;
  CHECK(load_checked(l, R"(sources:
  g1:
    plugin: gen
    options:
      mode: b
  g2:
    plugin: gen
sinks:
  out: {plugin: stdout}
routes:
  - {from: [g1, g2], to: out}
)") == Strings{
           "P:4:5: error: sources.g1: count: 10 is the default",
           "P:4:5: error: sources.g1: mode b needs a label",
           "P:6:3: error: sources.g2: count: 10 is the default",
       });
}

TEST_CASE("config.check: not run after a schema error; a failed check names plugin, instance") {
  Loaded l;
  CHECK(load_checked(l, R"(sources:
  g1:
    plugin: gen
    options: {count: 0, label: bad}
  g2:
    plugin: gen
    options: {count: 2, label: throw}
sinks:
  out: {plugin: stdout}
routes:
  - {from: [g1, g2], to: out}
)") == Strings{
           "P:4:22: error: sources.g1.options.count: must be at least 1, got 0",
           "P:6:13: error: sources.g2.plugin: plugin 'gen' (/fake/sluice_gen.so) could not "
           "check the options of sources.g2: the check broke",
       });
  CHECK(checked().size() == 1);  // g2 only
}

TEST_CASE("config.check: secrets are substituted for the check and hidden in its messages") {
  Loaded l;
  setenv("SLUICE_TEST_CHECK_SECRET", "leaky-s3cret", 1);
  CHECK(load_checked(l, R"(sources:
  h:
    plugin: hmc
    options:
      host: h1
      password: ${SLUICE_TEST_CHECK_SECRET}
sinks:
  out: {plugin: stdout}
routes:
  - {from: h, to: out}
)") == Strings{"P:6:7: error: sources.h: password: '***' is wrong"});
  REQUIRE(checked().size() == 1);
  CHECK(checked()[0]["password"] == "leaky-s3cret");
  unsetenv("SLUICE_TEST_CHECK_SECRET");
}

TEST_CASE("config.check: a plugin without check_options is checked against its schema only") {
  Loaded l;
  l.file = l.dir.write("pipeline.yaml", R"(sources:
  g:
    plugin: gen
    options: {label: bad}
sinks:
  out: {plugin: stdout}
routes:
  - {from: g, to: out}
)");
  CHECK(load_pipeline(l.file, config_test::fake_lookup).ok());
}

TEST_CASE("config.paths: options marked x-sluice-path are relative to the pipeline file") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen, options: {label: out/not-a-path}}
sinks:
  rel:
    plugin: files
    options:
      path: out/events.jsonl
      label: out/not-a-path
      tls: {ca_file: ../ca/ca.pem}
      copies: [a.jsonl, /abs/b.jsonl]
  abs:
    plugin: files
    options: {path: /var/log/sluice/events.jsonl}
routes:
  - {from: g, to: [rel, abs]}
)");
  REQUIRE(l.diagnostics.empty());
  REQUIRE(l.result.ok());
  const auto dir = std::filesystem::path(l.dir.path());
  const auto& sinks = l.result.pipeline->sinks;
  REQUIRE(sinks.size() == 2);
  const auto& rel = sinks[0].options;
  CHECK(rel["path"] == (dir / "out/events.jsonl").string());
  CHECK(rel["tls"]["ca_file"] == (dir.parent_path() / "ca/ca.pem").string());
  CHECK(rel["copies"][0] == (dir / "a.jsonl").string());
  CHECK(rel["copies"][1] == "/abs/b.jsonl");  // absolute: unchanged
  CHECK(rel["label"] == "out/not-a-path");    // not marked: unchanged
  CHECK(sinks[1].options["path"] == "/var/log/sluice/events.jsonl");
  CHECK(l.result.pipeline->sources[0].options["label"] == "out/not-a-path");
}

TEST_CASE("config.log: log.components sets levels per core, instance and plugin") {
  Loaded l;
  load_text(l, R"(log:
  level: info
  components: {core: warn, g: trace, stdout: debug, out2: error}
sources:
  g: {plugin: gen}
  h: {plugin: gen}
sinks:
  out: {plugin: stdout}
  out2: {plugin: stdout}
routes:
  - {from: [g, h], to: [out, out2]}
)");
  REQUIRE(l.diagnostics.empty());
  REQUIRE(l.result.ok());
  const auto& pc = *l.result.pipeline;
  CHECK(pc.log.components.size() == 4);
  auto levels = sluice::core::component_log_levels(pc);
  // An instance's own entry wins over its plugin's; h has none and keeps the global level.
  CHECK(levels == std::map<std::string, std::string, std::less<>>{
                      {"core", "warn"}, {"g", "trace"}, {"out", "debug"}, {"out2", "error"}});
}

TEST_CASE("config.log: an unknown component or level in log.components is an error") {
  Loaded l;
  load_text(l, std::string(R"(log:
  components:
    gg: debug
    cor: info
    zzzzzz: warn
    g: loud
)") + config_test::kMinimal);
  CHECK(l.diagnostics ==
        Strings{
            "P:3:5: error: log.components: unknown component 'gg' (did you mean 'g'?)",
            "P:4:5: error: log.components: unknown component 'cor' (did you mean 'core'?)",
            "P:5:5: error: log.components: unknown component 'zzzzzz' (components: core, g, out, "
            "gen, stdout)",
            "P:6:8: error: log.components.g: 'loud' is not one of trace, debug, info, warn, error",
        });
  CHECK_FALSE(l.result.ok());
}

TEST_CASE("config.filters: bad filters are reported at their key or value, all of them") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen}
sinks:
  out: {plugin: stdout}
routes:
  - from: g
    to: out
    filter:
      tpye: "hmc.*"
      data:
        "/os-messages/0/message-id": {regex: "(IEA"}
        "os-messages": {exists: true}
        "/severity": {gt: three, rgex: x}
      any:
        - {source: {eq: [1]}}
        - not: {subject: []}
)");
  CHECK(l.diagnostics ==
        Strings{
            "P:9:7: error: routes[0].filter: unknown key 'tpye' (did you mean 'type'?)",
            "P:11:46: error: routes[0].filter.data.\"/os-messages/0/message-id\".regex: invalid "
            "regular expression: missing ): (IEA",
            "P:12:9: error: routes[0].filter.data: invalid JSON Pointer 'os-messages': it must "
            "be empty or begin with '/'",
            "P:13:27: error: routes[0].filter.data.\"/severity\".gt: expected a number",
            "P:13:34: error: routes[0].filter.data.\"/severity\": unknown operator 'rgex' (did "
            "you mean 'regex'?)",
            "P:15:25: error: routes[0].filter.any[0].source.eq: expected a string, a number, "
            "true, false or null",
            "P:16:26: error: routes[0].filter.any[1].not.subject: expected a glob, a list or a "
            "mapping of operators; the list is empty",
        });
  CHECK_FALSE(l.result.ok());
}

TEST_CASE("config.filters: a valid filter is kept as written; the plain form's globs as lists") {
  Loaded l;
  load_text(l, R"(sources:
  g: {plugin: gen}
sinks:
  out: {plugin: stdout}
routes:
  - from: g
    to: out
    filter:
      type: "hmc.*"
      attributes: {name: ["PROD*", "CRIT*"], class: {exists: true}}
      any:
        - data: {"/severity": {gt: 3}}
        - source: "hmc://*"
)");
  REQUIRE(l.diagnostics.empty());
  const auto& f = l.result.pipeline->routes[0].filter;
  CHECK(f.types == Strings{"hmc.*"});
  CHECK(f.attributes.size() == 1);  // class has an operator: not a glob list
  CHECK(f.attributes.at("name") == Strings{"PROD*", "CRIT*"});
  CHECK(f.spec["any"][0]["data"]["/severity"]["gt"] == 3);
  CHECK(f.effective() == f.spec);
}
