// The plugin ABI's compatibility rules at run time: plugins built from the frozen 1.0 header
// (tests/plugins/abi_v1_0) run through a real pipeline, and the host reads struct_size where
// it receives structs from a plugin (events, delivery results) before trusting anything else.
#include <doctest/doctest.h>

#include "runtime_fixture.hpp"
#include "test_plugin_dir.hpp"

#include <sluice/core/runtime.hpp>
#include <sluice/event.hpp>

#include <string>

using namespace fixture;
using sluice::core::Runtime;

namespace {

int64_t plugin_metric(const sluice::core::Metrics& m, const std::string& key) {
  auto it = m.plugin.find(key);
  return it == m.plugin.end() ? 0 : it->second;
}

sluice::core::SourceConfig file_source(const std::string& name, const std::string& plugin) {
  auto s = source(name);
  s.plugin = plugin;
  return s;
}

}  // namespace

TEST_CASE("abi 1.0: a source and a sink built from the frozen 1.0 header run on this host") {
  CapturedLog log;
  sluice::core::PipelineConfig p;
  p.path = "<test>";
  p.drain_timeout = std::chrono::seconds(5);
  p.plugin_paths = {kTestPluginDir};
  p.sources.push_back(file_source("old_source", "abi10_source"));
  auto old_sink = sink("old_sink");
  old_sink.plugin = "abi10_sink";
  p.sinks.push_back(old_sink);
  p.sinks.push_back(sink("new_sink"));  // the SDK's scripted sink reads the same events
  p.routes.push_back(route({"old_source"}, {"old_sink", "new_sink"}));
  Runtime rt(p, host(), log.logger);
  rt.start();
  CHECK(eventually([&] {
    auto m = rt.metrics();
    return sink_metrics(m, "old_sink").delivered == 100 &&
           sink_metrics(m, "new_sink").delivered == 100;
  }));
  rt.stop();
  auto m = rt.metrics();
  CHECK(plugin_metric(m, "old_source.emitted") == 100);
  CHECK(plugin_metric(m, "old_sink.delivered") == 100);  // each event checked by the 1.0 sink
  CHECK(plugin_metric(m, "old_sink.malformed") == 0);
  REQUIRE(m.sources.size() == 1);
  CHECK(m.sources[0].contract_violations == 0);
  CHECK(m.sources[0].parse_errors == 0);
  CHECK(sink_metrics(m, "old_sink").balanced());
  CHECK(sink_metrics(m, "old_sink").dropped() == 0);
  CHECK(log.all().find("contract violation") == std::string::npos);
}

TEST_CASE("abi: an emit whose events do not have the frozen struct_size is refused") {
  CapturedLog log;
  Runtime rt(simple(sink("out")), host(), log.logger);
  rt.start();
  const sluice::Host& src = sluice_test::CountingSource::last_host();
  sluice_event raw[2]{};
  for (auto& e : raw) {
    e.struct_size = sizeof e;
    e.id = sluice::to_str("x");
    e.source = sluice::to_str("test://x");
    e.type = sluice::to_str("test.event");
  }
  raw[1].struct_size = sizeof(sluice_event) + 8;  // a plugin that thinks events grew
  CHECK(src.api()->emit(src.context(), raw, 2) == SLUICE_INVALID);
  raw[1].struct_size = 0;  // or that never set it
  CHECK(src.api()->emit(src.context(), raw, 2) == SLUICE_INVALID);
  raw[1].struct_size = sizeof(sluice_event);
  CHECK(src.api()->emit(src.context(), raw, 2) == SLUICE_OK);
  CHECK(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 2; }));
  rt.stop();
  auto m = rt.metrics();
  CHECK(sink_metrics(m, "out").received == 2);  // only the well-formed call
  CHECK(m.sources[0].contract_violations == 4);
  CHECK(log.contains("emit refused (plugin contract violation): event 1 of 2 has struct_size " +
                     std::to_string(sizeof(sluice_event) + 8) + "; sluice_event is frozen at " +
                     std::to_string(sizeof(sluice_event)) + " bytes"));
}

TEST_CASE("abi: a delivery result shorter than 1.0's is not taken for OK") {
  CapturedLog log;
  auto out = sink("out");
  out.plugin = "short_result";
  auto p = simple(out);
  p.plugin_paths = {kTestPluginDir};
  Runtime rt(p, host(), log.logger);
  rt.start();
  REQUIRE(emit(events(3)));
  CHECK(eventually([&] { return sink_metrics(rt.metrics(), "out").dropped_rejected == 3; }));
  rt.stop();
  auto m = rt.metrics();
  CHECK(sink_metrics(m, "out").delivered == 0);
  CHECK(sink_metrics(m, "out").balanced());
  CHECK(
      log.contains("with a delivery result of 8 bytes (struct_size); plugin API 1.0 needs at "
                   "least " +
                   std::to_string(SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0) +
                   " (plugin contract violation); dead-lettered"));
}
