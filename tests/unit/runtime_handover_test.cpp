// Handing a running sink channel from one runtime to the next (Runtime::release / adopt): the
// events it has queued, spooled and in flight at the hand-over are all delivered, exactly once,
// and its counters go on from where they were.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include "runtime_fixture.hpp"

#include <sluice/core/spool.hpp>

#include <map>
#include <memory>

using namespace fixture;
using sluice::core::QueuePolicy;
using sluice::core::Runtime;
using sluice::core::RuntimeOptions;
using sluice::core::SinkConfig;
using sluice::core::SinkQueue;
using sluice::core::StartError;
using sluice::testing::TempDir;
using sluice_test::ScriptedSink;

namespace {

// 30 events into runtime A (the sink holds the first batch of 10 at a closed gate, the other 20
// wait in its queue or spool), hand the sink to runtime B, stop and destroy A, 10 more events
// through B, open the gate: all 40 are delivered once and B's counters include A's.
void hand_over(const SinkConfig& out, const RuntimeOptions& options) {
  ScriptedSink::reset();
  ScriptedSink::set_gate(true);
  CapturedLog log;
  auto a = std::make_unique<Runtime>(simple(out), host(), log.logger, options);
  a->start();
  REQUIRE(emit(events(30, 1)));
  REQUIRE(eventually([&] {
    const auto m = sink_metrics(a->metrics(), "out");
    return m.in_flight == 10 && m.queued + m.spooled == 20;
  }));

  std::shared_ptr<sluice::core::SinkChannel> channel = a->release("out");
  REQUIRE(channel);
  CHECK(a->release("out") == nullptr);  // once
  CHECK(a->metrics().sinks.empty());    // A neither counts nor stops it any more

  // A pipeline whose sink differs, or has no sink of that name, refuses it (and leaves it be).
  SinkConfig other = out;
  other.options = {{"delay_ms", 1}};
  Runtime wrong(simple(other), host(), log.logger, options);
  CHECK_THROWS_AS(wrong.adopt(channel), StartError);
  SinkConfig renamed = out;
  renamed.name = "elsewhere";
  Runtime unnamed(simple(renamed), host(), log.logger, options);
  CHECK_THROWS_AS(unnamed.adopt(channel), StartError);

  Runtime b(simple(out), host(), log.logger, options);
  b.adopt(channel);
  channel.reset();
  a->stop();
  a.reset();  // the old pipeline is gone; the channel is not
  b.start();
  {
    const auto m = sink_metrics(b.metrics(), "out");
    CHECK(m.received == 30);  // counters go on, no restart at zero
    CHECK(m.in_flight == 10);
    CHECK(m.queued + m.spooled == 20);
  }
  REQUIRE(emit(events(10, 31)));  // through B's source
  ScriptedSink::set_gate(false);
  REQUIRE(eventually([&] { return sink_metrics(b.metrics(), "out").delivered == 40; }));
  b.stop();

  const auto m = sink_metrics(b.metrics(), "out");
  CHECK(m.received == 40);
  CHECK(m.delivered == 40);
  CHECK(m.queued == 0);
  CHECK(m.spooled == 0);
  CHECK(m.in_flight == 0);
  CHECK(m.dropped() == 0);
  CHECK(m.batches >= 4);
  CHECK(m.balanced());
  const auto ids = delivered_id_counts();
  CHECK(ids.size() == 40);
  for (int i = 1; i <= 40; ++i) {
    CAPTURE(i);
    CHECK(ids.count(std::to_string(i)) == 1);
    CHECK(ids.at(std::to_string(i)) == 1);
  }
}

}  // namespace

TEST_CASE("hand-over: queued and in-flight events of a memory queue, delivered exactly once") {
  SinkConfig out = sink("out");
  out.batch.max_events = 10;
  hand_over(out, {});
}

TEST_CASE("hand-over: spooled and in-flight events, delivered exactly once, nothing left on disk") {
  TempDir dir;
  SinkConfig out = sink("out");
  out.batch.max_events = 10;
  out.queue.policy = QueuePolicy::spool;
  out.spool.directory = (dir.path / "spool").string();
  out.spool.fsync = sluice::core::SpoolFsync::batch;
  hand_over(out, spool_options());
  // Everything was acknowledged: a later run finds nothing to send again.
  sluice::core::SpoolOptions o;
  o.directory = out.spool.directory;
  sluice::core::Spool reopened(o);
  CHECK(reopened.recovery().pending_events == 0);
}

TEST_CASE("hand-over: a channel adopted by a runtime that never starts is stopped by it") {
  ScriptedSink::reset();
  CapturedLog log;
  SinkConfig out = sink("out");
  out.batch.max_delay = std::chrono::milliseconds(60000);  // the events wait in the queue
  out.batch.max_events = 100;
  Runtime a(simple(out), host(), log.logger);
  a.start();
  REQUIRE(emit(events(5, 1)));
  REQUIRE(eventually([&] { return sink_metrics(a.metrics(), "out").queued == 5; }));
  auto channel = a.release("out");
  REQUIRE(channel);
  {
    Runtime b(simple(out), host(), log.logger);
    b.adopt(channel);
    b.stop();  // never started: drains and stops the adopted channel all the same
    const auto m = sink_metrics(b.metrics(), "out");
    CHECK(m.received == 5);
    CHECK(m.delivered == 5);
    CHECK(m.balanced());
  }
  CHECK(ScriptedSink::delivered_events() == 5);
}
