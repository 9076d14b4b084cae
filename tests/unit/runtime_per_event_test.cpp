// Per-event delivery results (plugin API 1.1) in the runtime: a sink answers each event of a
// batch; OK events are delivered at once, REJECT ones dead-lettered with their own reason and
// status, RETRY ones retried alone (and given up on like a whole batch); answers that break the
// contract dead-letter the batch, saying why; the accounting identity holds throughout, also
// over a spool.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include "runtime_fixture.hpp"

#include <sluice/core/spool.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace fixture;
using sluice::core::QueuePolicy;
using sluice::core::Runtime;
using sluice::core::RuntimeOptions;
using sluice::core::SinkConfig;
using sluice_test::ScriptedSink;

namespace {

// A pipeline whose sink "out" dead-letters into `dlq` (shared, so the test keeps looking).
struct WithDeadLetter {
  RecordingDeadLetter dlq;
  RuntimeOptions options() {
    RuntimeOptions o;
    o.dead_letter_factory = [this](const SinkConfig&) {
      return std::make_unique<RecordingDeadLetter>(dlq);
    };
    return o;
  }
};

SinkConfig dead_lettering_sink(nlohmann::json options) {
  auto s = sink("out", std::move(options));
  s.dead_letter.path = "dlq.jsonl";  // any: the factory above writes nowhere
  return s;
}

using Ids = std::vector<std::string>;

}  // namespace

TEST_CASE("per event: ok, retry and reject in one batch; each event goes its own way once") {
  ScriptedSink::reset();
  CapturedLog log;
  WithDeadLetter dl;
  // Events 1..6: 1 ok, 2 retry, 3 reject (400), 4 reject (422), 5 ok, 6 retry; then all ok.
  auto s = dead_lettering_sink({{"answers", {"events:ok,retry,reject,reject:422"}}});
  s.batch.max_events = 6;
  Runtime rt(simple(s), host(), log.logger, dl.options());
  rt.start();
  REQUIRE(emit(events(6)));
  REQUIRE(eventually([&] {
    auto m = sink_metrics(rt.metrics(), "out");
    return m.delivered == 4 && m.dead_lettered == 2;
  }));
  rt.stop();
  auto c = calls();
  REQUIRE(c.size() == 2);
  CHECK(c[0].ids == Ids{"1", "2", "3", "4", "5", "6"});
  CHECK(c[1].ids == Ids{"2", "6"});  // only the RETRY events, in the same batch
  CHECK(c[1].batch_id == c[0].batch_id);
  CHECK(c[1].attempt == 2);
  auto entries = dl.dlq.snapshot();
  REQUIRE(entries.size() == 2);  // one write per reason + status
  CHECK(entries[0].ids == Ids{"3"});
  CHECK(entries[0].reason == "rejected: scripted reject 400");
  CHECK(entries[0].status == 400);
  CHECK(entries[0].attempts == 1);
  CHECK(entries[1].ids == Ids{"4"});
  CHECK(entries[1].reason == "rejected: scripted reject 422");
  CHECK(entries[1].status == 422);
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 6);
  CHECK(m.delivered == 4);
  CHECK(m.dead_lettered == 2);
  CHECK(m.retries == 1);
  CHECK(m.in_flight == 0);
  CHECK(m.balanced());
}

TEST_CASE("per event: events with the same reason and status share one dead-letter write") {
  ScriptedSink::reset();
  CapturedLog log;
  WithDeadLetter dl;
  auto s = dead_lettering_sink({{"answers", {"events:reject,ok,reject"}}});
  s.batch.max_events = 3;
  Runtime rt(simple(s), host(), log.logger, dl.options());
  rt.start();
  REQUIRE(emit(events(3)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").dead_lettered == 2; }));
  rt.stop();
  auto entries = dl.dlq.snapshot();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].ids == Ids{"1", "3"});
  CHECK(sink_metrics(rt.metrics(), "out").delivered == 1);
  CHECK(sink_metrics(rt.metrics(), "out").balanced());
}

TEST_CASE("per event: a retried subset shrinks again until it succeeds; attempts count on") {
  ScriptedSink::reset();
  CapturedLog log;
  auto s = sink("out", {{"answers", {"events:retry:30,ok,retry", "events:ok,retry", "ok"}}});
  s.batch.max_events = 3;
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(3)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 3; }));
  rt.stop();
  auto c = calls();
  REQUIRE(c.size() == 3);
  CHECK(c[0].ids == Ids{"1", "2", "3"});
  CHECK(c[1].ids == Ids{"1", "3"});
  CHECK(c[2].ids == Ids{"3"});
  CHECK(c[0].attempt == 1);
  CHECK(c[1].attempt == 2);
  CHECK(c[2].attempt == 3);
  CHECK(ScriptedSink::delivered_events() == 3);
  // The longest retry_after_ms among the RETRY events decides when (30 over the back-off).
  CHECK(
      log.contains("2 of 3 events of a batch failed (scripted retry); attempt 2 for those in "
                   "30 ms"));
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.retries == 2);
  CHECK(m.dropped() == 0);
  CHECK(m.balanced());
}

TEST_CASE("per event: a retried subset out of attempts is dead-lettered, the rest delivered") {
  ScriptedSink::reset();
  CapturedLog log;
  WithDeadLetter dl;
  auto s = dead_lettering_sink({{"answers", {"events:ok,retry"}}, {"then", "events:retry"}});
  s.batch.max_events = 4;
  s.retry.max_attempts = 2;
  Runtime rt(simple(s), host(), log.logger, dl.options());
  rt.start();
  REQUIRE(emit(events(4)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").dead_lettered == 2; }));
  rt.stop();
  auto c = calls();
  REQUIRE(c.size() == 2);
  CHECK(c[1].ids == Ids{"2", "4"});
  auto entries = dl.dlq.snapshot();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].ids == Ids{"2", "4"});
  CHECK(entries[0].reason == "gave up after 2 attempt(s): scripted retry");
  CHECK(entries[0].status == 503);
  CHECK(entries[0].attempts == 2);
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered == 2);
  CHECK(m.dead_lettered == 2);
  CHECK(m.balanced());
}

TEST_CASE("per event: answers that are not one per event of the frozen size dead-letter all") {
  struct Case {
    const char* answer;
    std::string why;
  };
  const Case cases[] = {
      {"events-bad-count", "2 per-event answers (event_result_count) for a batch of 3 events"},
      {"events-bad-size", "per-event answer 0 of 3 has struct_size " +
                              std::to_string(SLUICE_EVENT_RESULT_SIZE + 8) +
                              "; sluice_event_result is frozen at " +
                              std::to_string(SLUICE_EVENT_RESULT_SIZE) + " bytes"}};
  for (const auto& k : cases) {
    const std::string answer = k.answer;
    CAPTURE(answer);
    ScriptedSink::reset();
    CapturedLog log;
    WithDeadLetter dl;
    auto s = dead_lettering_sink({{"answers", {k.answer}}});
    s.batch.max_events = 3;
    Runtime rt(simple(s), host(), log.logger, dl.options());
    rt.start();
    REQUIRE(emit(events(3)));
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").dead_lettered == 3; }));
    rt.stop();
    auto entries = dl.dlq.snapshot();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].ids == Ids{"1", "2", "3"});
    CHECK(entries[0].reason == "rejected: invalid delivery result: " + k.why);
    CHECK(log.contains("answered batch 1 with " + k.why +
                       " (plugin contract violation); dead-lettered"));
    auto m = sink_metrics(rt.metrics(), "out");
    CHECK(m.delivered == 0);
    CHECK(m.balanced());
  }
}

TEST_CASE("per event: the accounting identity holds with many mixed batches in flight") {
  ScriptedSink::reset();
  CapturedLog log;
  auto s = sink("out", {{"delay_ms", 1},
                        {"async", true},
                        {"max_in_flight", 3},
                        {"then", "events:ok,retry:1,reject,ok,retry"}});
  s.batch.max_events = 7;
  s.retry.max_attempts = 3;
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  for (int i = 0; i < 10; ++i) {
    REQUIRE(emit(events(30, i * 30 + 1)));
    CHECK(sink_metrics(rt.metrics(), "out").balanced());
  }
  REQUIRE(eventually([&] {
    auto m = sink_metrics(rt.metrics(), "out");
    return m.queued == 0 && m.in_flight == 0;
  }));
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 300);
  CHECK(m.balanced());
  CHECK(m.delivered + m.dropped_rejected == 300);
  CHECK(m.delivered == ScriptedSink::delivered_events());
  CHECK(m.delivered > 0);
  CHECK(m.dropped_rejected > 0);
}

// A spool acknowledges a record only when every event read with it was released: delivering
// part of a batch releases those events at once, and the records stay on disk until the rest
// is done. So after a stop (or kill -9) with RETRY events pending, the next run sends the whole
// spool batch again, delivered events included (at least once, never lost).
TEST_CASE("per event over a spool: pending retries stay on disk with their spool batch") {
  ScriptedSink::reset();
  sluice::testing::TempDir dir;
  SinkConfig s = sink("out", {{"answers", {"events:ok,retry"}}, {"then", "retry"}});
  s.queue.policy = QueuePolicy::spool;
  s.spool.directory = dir.path.string();
  s.spool.max_bytes = 1 << 20;
  s.batch.max_events = 4;
  auto p = simple(s);
  p.drain_timeout = std::chrono::milliseconds(50);
  {
    CapturedLog log;
    Runtime rt(p, host(), log.logger, spool_options());
    rt.start();
    REQUIRE(emit(events(8)));
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 2; }));
    rt.stop();
    auto m = sink_metrics(rt.metrics(), "out");
    CHECK(m.received == 8);
    CHECK(m.delivered == 2);  // 1 and 3
    CHECK(m.spooled == 6);    // 2 and 4 (in flight at stop), 5..8 (queued)
    CHECK(m.dropped() == 0);
    CHECK(m.balanced());
  }
  auto first = calls();
  REQUIRE(!first.empty());
  CHECK(first[0].ids == Ids{"1", "2", "3", "4"});
  ScriptedSink::reset();
  {
    auto p2 = p;
    p2.sinks[0].options = {{"then", "ok"}};
    CapturedLog log;
    Runtime rt(p2, host(), log.logger, spool_options());
    rt.start();
    // The spool batch of 1..4 was never acknowledged: all of it comes back.
    CHECK(sink_metrics(rt.metrics(), "out").recovered == 8);
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 8; }));
    rt.stop();
    CHECK(sink_metrics(rt.metrics(), "out").balanced());
  }
  Ids again;
  for (const auto& c : calls())
    again.insert(again.end(), c.ids.begin(), c.ids.end());
  CHECK(again == Ids{"1", "2", "3", "4", "5", "6", "7", "8"});
}

TEST_CASE("per event over a spool: a fully answered spool batch is acknowledged") {
  ScriptedSink::reset();
  sluice::testing::TempDir dir;
  // 1..4: 2 and 4 retried once, then ok: every event is released, out of order.
  SinkConfig s = sink("out", {{"answers", {"events:ok,retry"}}, {"then", "ok"}});
  s.queue.policy = QueuePolicy::spool;
  s.spool.directory = dir.path.string();
  s.spool.max_bytes = 1 << 20;
  s.batch.max_events = 4;
  auto p = simple(s);
  {
    CapturedLog log;
    Runtime rt(p, host(), log.logger, spool_options());
    rt.start();
    REQUIRE(emit(events(4)));
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 4; }));
    // The queue acknowledges what was released when it is next used: here by one more event.
    REQUIRE(emit(events(1, 5)));
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 5; }));
    rt.stop();
    CHECK(sink_metrics(rt.metrics(), "out").spooled == 0);
    CHECK(sink_metrics(rt.metrics(), "out").balanced());
  }
  ScriptedSink::reset();
  CapturedLog log;
  Runtime rt(p, host(), log.logger, spool_options());
  rt.start();
  // 1..4 were acknowledged (at most the last event, 5, is sent again).
  CHECK(sink_metrics(rt.metrics(), "out").recovered <= 1);
  rt.stop();
  for (const auto& c : calls())
    for (const auto& id : c.ids)
      CHECK(id == "5");
}
