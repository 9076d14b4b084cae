// The runtime against plugins and peers that misbehave: a sink stuck in deliver() or stop() at
// shutdown, a peer that echoes a secret into a reject reason, a host call that throws.
#include <doctest/doctest.h>

#include "runtime_fixture.hpp"

#include "test_base64.hpp"

#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

using namespace fixture;
using sluice::core::Runtime;
using sluice_test::ScriptedSink;

namespace {

// Runs rt.stop() with a generous bound. A stop() that does not come back is reported (the
// test fails) after the gate is opened, which lets old code finish.
bool stop_returns(Runtime& rt) {
  auto done = std::async(std::launch::async, [&rt] { rt.stop(); });
  const bool returned = done.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  if (!returned) ScriptedSink::set_gate(false);
  done.wait();
  return returned;
}

}  // namespace

TEST_CASE("shutdown: a sink stuck in deliver() or stop() cannot hold it; what it held is counted") {
  for (const char* hang : {"deliver", "stop"}) {
    CAPTURE(hang);
    ScriptedSink::reset();
    const int destroyed_before = ScriptedSink::destroyed().load();
    // The logger outlives the test case: the stuck sink may log when it is let go.
    static CapturedLog* log = new CapturedLog;
    {
      std::lock_guard lock(log->m);
      log->lines.clear();
    }
    auto s = sink("out", {{"hang", hang}});
    s.batch.max_events = 2;
    auto p = simple(s);
    p.drain_timeout = std::chrono::milliseconds(50);
    ScriptedSink::set_gate(true);  // deliver() blocks, like a write() to a peer that reads nothing
    {
      Runtime rt(p, host(), log->logger);
      rt.start();
      REQUIRE(emit(events(6)));
      REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 2; }));
      CHECK(stop_returns(rt));
      CHECK(rt.stuck());
      auto m = sink_metrics(rt.metrics(), "out");
      CHECK(m.received == 6);
      CHECK(m.abandoned == 2);         // the batch the sink holds: fate unknown
      CHECK(m.dropped_shutdown == 4);  // still queued, never handed over
      CHECK(m.in_flight == 0);
      CHECK(m.queued == 0);
      CHECK(m.balanced());
      CHECK(log->contains("[out] sink is stuck: it did not return from"));
      CHECK(log->contains("abandoned with 2 events it held"));
    }
    // Let the stuck call return: the abandoned instance is destroyed then, not before.
    ScriptedSink::set_gate(false);
    CHECK(eventually([&] { return ScriptedSink::destroyed().load() == destroyed_before + 1; }));
  }
}

TEST_CASE("shutdown: a healthy pipeline is not reported stuck") {
  ScriptedSink::reset();
  CapturedLog log;
  Runtime rt(simple(sink("out")), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(3)));
  rt.stop();
  CHECK_FALSE(rt.stuck());
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered == 3);
  CHECK(m.abandoned == 0);
  CHECK_FALSE(log.contains("stuck"));
}

TEST_CASE("dead letters: a reject reason echoing a secret reaches the file redacted") {
  ScriptedSink::reset();
  CapturedLog log;
  const std::string token = "tok-4f9a8b7c6d5e";
  const std::string basic = "Basic " + sluice_test::base64("sysprog:pw");  // a short password
  log.logger.set_secrets({token, "pw"});
  auto s = sink("out", {{"answers", {"reject"}},
                        {"reason", "HTTP 401: you sent Authorization: Bearer " + token +
                                       " and then Authorization: " + basic}});
  RecordingDeadLetter dl;
  sluice::core::RuntimeOptions options;
  options.dead_letter_factory = [&](const sluice::core::SinkConfig&) {
    return std::make_unique<RecordingDeadLetter>(dl);
  };
  s.dead_letter.path = "/unused";
  Runtime rt(simple(s), host(), log.logger, options);
  rt.start();
  REQUIRE(emit(events(1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").dead_lettered == 1; }));
  rt.stop();
  const auto entries = dl.snapshot();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].reason ==
        "rejected: HTTP 401: you sent Authorization: Bearer *** and then "
        "Authorization: Basic ***");
  CHECK(log.all().find(token) == std::string::npos);
}

TEST_CASE("host calls: an exception inside the host never reaches the plugin") {
  ScriptedSink::reset();
  CapturedLog log;
  // A writer that fails on one line, like a full disk under the log.
  log.logger.set_writer([&log](std::string_view line) {
    if (line.find("BOOM") != std::string_view::npos) throw std::runtime_error("writer failed");
    std::lock_guard lock(log.m);
    log.lines.emplace_back(line);
  });
  auto p = simple(sink("out"));
  p.sources[0].options = {{"log", "BOOM"}};  // the source logs this from start()
  Runtime rt(p, host(), log.logger);
  CHECK_NOTHROW(rt.start());
  REQUIRE(emit(events(2)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 2; }));
  rt.stop();
  CHECK(log.contains("[in] log failed in the host: writer failed"));
}

TEST_CASE("shutdown: a source stuck in stop() cannot hold it; it is named and its emits refused") {
  ScriptedSink::reset();
  const int destroyed_before = sluice_test::CountingSource::destroyed().load();
  static CapturedLog* log = new CapturedLog;  // outlives the stuck source
  auto p = simple(sink("out"));
  p.sources[0].options = {{"hang_stop", true}};
  p.drain_timeout = std::chrono::milliseconds(50);
  sluice_test::CountingSource::set_stop_gate(true);
  {
    Runtime rt(p, host(), log->logger);
    rt.start();
    REQUIRE(emit(events(3)));
    auto done = std::async(std::launch::async, [&rt] { rt.stop(); });
    const bool returned = done.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    if (!returned) sluice_test::CountingSource::set_stop_gate(false);
    done.wait();
    CHECK(returned);
    CHECK(rt.stuck());
    CHECK(log->contains("[in] source did not return from stop()"));
    CHECK_FALSE(emit(events(1, 10)));  // refused, counted
    auto m = rt.metrics();
    CHECK(m.sources[0].refused == 1);
    CHECK(sink_metrics(m, "out").delivered == 3);
    CHECK(sink_metrics(m, "out").balanced());
  }
  sluice_test::CountingSource::set_stop_gate(false);
  CHECK(eventually(
      [&] { return sluice_test::CountingSource::destroyed().load() == destroyed_before + 1; }));
}
