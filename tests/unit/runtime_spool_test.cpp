// The runtime over a spool queue (`queue: {policy: spool}`): an I/O error while appending is
// counted (dropped_spool_error) and the sink keeps running; the accounting identity holds across
// a restart with a backlog on disk (the `recovered` term).
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include "runtime_fixture.hpp"

#include <sluice/core/spool.hpp>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

using namespace fixture;
using sluice::core::QueuePolicy;
using sluice::core::Runtime;
using sluice::core::RuntimeOptions;
using sluice::core::SinkConfig;
using sluice::core::SinkQueue;
using sluice_test::ScriptedSink;

namespace {

using sluice::testing::TempDir;

std::atomic<int> g_write_errno{0};  // the errno the spool's next writes fail with (0: none)
std::atomic<int> g_writes{0};       // writes of appended records so far

RuntimeOptions spool_options_with_write_faults() {
  return fixture::spool_options([] {
    ++g_writes;
    return g_write_errno.load();
  });
}

SinkConfig spooled_sink(const TempDir& d, nlohmann::json options = {}) {
  SinkConfig s = sink("out", std::move(options));
  s.queue.policy = QueuePolicy::spool;
  s.spool.directory = d.path.string();
  s.spool.max_bytes = 1 << 20;
  return s;
}

}  // namespace

TEST_CASE("spool error: events of a failed append are dropped_spool_error, logged, sink goes on") {
  ScriptedSink::reset();
  g_write_errno = 0;
  TempDir dir;
  CapturedLog log;
  Runtime rt(simple(spooled_sink(dir)), host(), log.logger, spool_options_with_write_faults());
  rt.start();
  REQUIRE(emit(events(3, 1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 3; }));

  g_write_errno = ENOSPC;
  CHECK(emit(events(4, 4)));  // no exception across the C boundary; emit reports OK
  g_write_errno = 0;
  {
    auto m = sink_metrics(rt.metrics(), "out");
    CHECK(m.received == 7);
    CHECK(m.dropped_spool_error == 4);
    CHECK(m.balanced());
    CHECK(rt.metrics().flat().at("sink.out.dropped.spool_error") == 4);
  }
  CHECK(log.contains("spool write failed"));
  CHECK(log.contains("No space left on device"));

  REQUIRE(emit(events(2, 8)));  // the sink keeps running
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 5; }));
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 9);
  CHECK(m.delivered == 5);
  CHECK(m.dropped_spool_error == 4);
  CHECK(m.dropped() == 4);
  CHECK(m.balanced());
}

TEST_CASE("spool restart: in-flight batches stay spooled; the backlog is `recovered` next run") {
  ScriptedSink::reset();
  g_write_errno = 0;
  TempDir dir;
  SinkConfig s = spooled_sink(dir);
  s.batch.max_events = 2;
  auto p = simple(s);
  p.drain_timeout = std::chrono::milliseconds(50);
  {
    CapturedLog log;
    ScriptedSink::set_gate(true);  // the first batch hangs until the sink's stop()
    Runtime rt(p, host(), log.logger, spool_options_with_write_faults());
    rt.start();
    REQUIRE(emit(events(6, 1)));
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 2; }));
    rt.stop();
    auto m = sink_metrics(rt.metrics(), "out");
    CHECK(m.received == 6);
    CHECK(m.recovered == 0);
    CHECK(m.delivered == 0);
    CHECK(m.in_flight == 0);
    CHECK(m.dropped_shutdown == 0);  // on disk, not lost
    CHECK(m.spooled == 6);
    CHECK(m.balanced());
    CHECK(log.contains("6 events stay in the spool"));
  }
  ScriptedSink::reset();
  {
    CapturedLog log;
    Runtime rt(p, host(), log.logger, spool_options_with_write_faults());
    rt.start();
    {
      auto m = sink_metrics(rt.metrics(), "out");
      CHECK(m.received == 0);
      CHECK(m.recovered == 6);
      CHECK(m.balanced());  // 0 + 6 == spooled/queued/in flight/delivered
    }
    REQUIRE(emit(events(2, 7)));
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 8; }));
    rt.stop();
    auto m = sink_metrics(rt.metrics(), "out");
    CHECK(m.received == 2);
    CHECK(m.recovered == 6);
    CHECK(m.delivered == 8);
    CHECK(m.spooled == 0);
    CHECK(m.dropped() == 0);
    CHECK(m.balanced());
    CHECK(rt.metrics().flat().at("sink.out.recovered") == 6);
    CHECK(log.contains("recovered"));
  }
}

TEST_CASE("spool overflow drop_oldest: the spool evicts unread events, counted; identity holds") {
  ScriptedSink::reset();
  g_write_errno = 0;
  TempDir dir;
  SinkConfig s = spooled_sink(dir);
  s.spool.max_bytes = 16384;  // segments of 4 KiB; each event is about 100 bytes on disk
  s.spool.overflow = sluice::core::SpoolOverflow::drop_oldest;
  s.batch.max_events = 5;
  CapturedLog log;
  ScriptedSink::set_gate(true);
  Runtime rt(simple(s), host(), log.logger, spool_options_with_write_faults());
  rt.start();
  REQUIRE(emit(events(5, 1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 5; }));
  REQUIRE(emit(events(600, 6)));  // far more than 16 KiB while the sink hangs
  {
    auto m = sink_metrics(rt.metrics(), "out");
    CHECK(m.received == 605);
    CHECK(m.dropped_oldest > 0);
    CHECK(m.dropped_newest == 0);
    CHECK(m.balanced());
  }
  ScriptedSink::set_gate(false);
  REQUIRE(eventually([&] {
    auto m = sink_metrics(rt.metrics(), "out");
    return m.queued + m.spooled + m.in_flight == 0;
  }));
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered + m.dropped_oldest == 605);
  CHECK(m.balanced());
  CHECK(log.contains("spool full (16384 bytes), overflow drop_oldest: dropped "));
}

TEST_CASE("spool overflow block: a full spool makes emit wait until batches are delivered") {
  ScriptedSink::reset();
  g_write_errno = 0;
  TempDir dir;
  SinkConfig s = spooled_sink(dir);
  s.spool.max_bytes = 16384;
  s.spool.overflow = sluice::core::SpoolOverflow::block;
  s.batch.max_events = 5;
  CapturedLog log;
  ScriptedSink::set_gate(true);
  Runtime rt(simple(s), host(), log.logger, spool_options_with_write_faults());
  rt.start();
  std::atomic<bool> emitted{false};
  std::thread emitter([&] {
    emit(events(600, 1));
    emitted = true;
  });
  // The spool fills up while the sink hangs; the emitter waits instead of dropping.
  REQUIRE(eventually([&] {
    auto m = sink_metrics(rt.metrics(), "out");
    return m.received == 600 && m.spooled > 0;
  }));
  CHECK_FALSE(emitted.load());
  ScriptedSink::set_gate(false);
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 600; }));
  emitter.join();
  CHECK(emitted.load());
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.dropped() == 0);
  CHECK(m.balanced());
}

TEST_CASE("spool damage: a record lost on disk is spool_lost, the rest delivered, identity holds") {
  ScriptedSink::reset();
  g_write_errno = 0;
  TempDir dir;
  SinkConfig s = spooled_sink(dir);
  s.batch.max_events = 10;
  auto p = simple(s);
  p.drain_timeout = std::chrono::milliseconds(50);
  {
    CapturedLog log;
    ScriptedSink::set_gate(true);  // nothing is delivered: all 6 stay in the spool
    Runtime rt(p, host(), log.logger, spool_options_with_write_faults());
    rt.start();
    REQUIRE(emit(events(6, 1)));
    REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 6; }));
    rt.stop();
  }
  // One byte of the third record's payload flips on disk.
  std::filesystem::path seg;
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    if (e.path().extension() == ".seg") seg = e.path();
  REQUIRE_FALSE(seg.empty());
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t off = 0;
    for (int i = 0; i < 2; ++i) {
      unsigned char len[4];
      f.seekg(static_cast<std::streamoff>(off + 4));
      f.read(reinterpret_cast<char*>(len), 4);
      off += 12 + (uint32_t(len[0]) | uint32_t(len[1]) << 8 | uint32_t(len[2]) << 16 |
                   uint32_t(len[3]) << 24);
    }
    f.seekp(static_cast<std::streamoff>(off + 20));
    f.put('\x7f');
  }
  ScriptedSink::reset();
  CapturedLog log;
  Runtime rt(p, host(), log.logger, spool_options_with_write_faults());
  rt.start();
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 5; }));
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.recovered == 6);
  CHECK(m.delivered == 5);
  CHECK(m.spool_lost == 1);
  CHECK(m.dropped() == 0);
  CHECK(m.balanced());
  CHECK(rt.metrics().flat().at("sink.out.spool_lost") == 1);
}

TEST_CASE("spool policy: the events of one emit call reach the disk in one write") {
  ScriptedSink::reset();
  g_write_errno = 0;
  TempDir dir;
  CapturedLog log;
  Runtime rt(simple(spooled_sink(dir)), host(), log.logger, spool_options_with_write_faults());
  rt.start();
  g_writes = 0;
  REQUIRE(emit(events(50, 1)));
  CHECK(g_writes == 1);  // not one per event
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 50; }));
  rt.stop();
  const auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 50);
  CHECK(m.balanced());
}

// ---- group commit (issue 11): the channel side of D2 and D6 ----------------------------------

namespace {

std::atomic<int> g_sync_errno{0};     // what an armed sync fails with (0: succeeds)
std::atomic<int> g_sync_delay_ms{0};  // how long every sync takes (a slow disk)
std::atomic<bool> g_in_sync{false};

RuntimeOptions spool_options_with_slow_syncs() {
  return fixture::spool_options(nullptr, [] {
    const int delay = g_sync_delay_ms.load();
    if (delay) {
      g_in_sync = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
    return g_sync_errno.load();
  });
}

SinkConfig batch_synced_sink(const TempDir& d) {
  SinkConfig s = spooled_sink(d);
  s.spool.fsync = sluice::core::SpoolFsync::batch;
  return s;
}

void reset_syncs() {
  g_sync_errno = 0;
  g_sync_delay_ms = 0;
  g_in_sync = false;
}

}  // namespace

TEST_CASE(
    "spool group commit D2: pushes waiting for a sync that fails keep the counters balanced") {
  ScriptedSink::reset();
  reset_syncs();
  TempDir dir;
  CapturedLog log;
  Runtime rt(simple(batch_synced_sink(dir)), host(), log.logger, spool_options_with_slow_syncs());
  rt.start();
  REQUIRE(emit(events(3, 1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 3; }));

  g_sync_delay_ms = 30;
  g_sync_errno = EIO;
  std::atomic<bool> done{false};
  std::atomic<int> unbalanced{0}, samples{0};
  std::thread poll([&] {
    while (!done) {
      if (!sink_metrics(rt.metrics(), "out").balanced()) ++unbalanced;
      ++samples;
    }
  });
  std::vector<std::thread> emitters;
  for (int t = 0; t < 3; ++t)
    emitters.emplace_back([t] {
      for (int i = 0; i < 4; ++i)
        emit(events(5, 100 * (t + 1) + 5 * i));
    });
  for (auto& e : emitters)
    e.join();
  done = true;
  poll.join();
  reset_syncs();
  CHECK(samples > 0);
  CHECK(unbalanced == 0);
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 63);
  CHECK(m.dropped_spool_error == 60);  // not one of them acknowledged as stored
  CHECK(m.balanced());
  CHECK(log.contains("spool write failed"));

  REQUIRE(emit(events(2, 900)));  // later pushes go to a fresh segment file
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").delivered == 5; }));
  rt.stop();
  m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered == 5);
  CHECK(m.balanced());
}

TEST_CASE(
    "spool group commit D6: stop waits for a push in its sync, then lets go of the directory") {
  ScriptedSink::reset();
  reset_syncs();
  TempDir dir;
  CapturedLog log;
  SinkConfig s = batch_synced_sink(dir);
  ScriptedSink::set_gate(true);  // nothing is delivered: what is pushed stays in the spool
  auto p = simple(s);
  p.drain_timeout = std::chrono::milliseconds(50);
  Runtime rt(p, host(), log.logger, spool_options_with_slow_syncs());
  rt.start();
  g_sync_delay_ms = 300;
  std::thread emitter([] { emit(events(5, 1)); });
  while (!g_in_sync)
    std::this_thread::yield();
  rt.stop();  // the push is in its fdatasync, without the channel's lock
  emitter.join();
  reset_syncs();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 5);
  CHECK(m.spooled == 5);
  CHECK(m.dropped() == 0);
  CHECK(m.balanced());
  // The runtime still exists, but its sink let go of the directory at the stop.
  sluice::core::SpoolOptions o;
  o.directory = s.spool.directory;
  sluice::core::Spool reopened(o);
  CHECK(reopened.recovery().pending_events == 5);
}

TEST_CASE(
    "spool group commit D6: a reload that changes the spool settings opens the directory again") {
  ScriptedSink::reset();
  reset_syncs();
  TempDir dir;
  CapturedLog log;
  SinkConfig s = batch_synced_sink(dir);
  Runtime a(simple(s), host(), log.logger, spool_options_with_slow_syncs());
  a.start();
  REQUIRE(emit(events(3, 1)));
  REQUIRE(eventually([&] { return sink_metrics(a.metrics(), "out").delivered == 3; }));
  SinkConfig changed = s;
  changed.spool.max_bytes = 2 << 20;  // not the same channel: a new spool on the same directory
  Runtime b(simple(changed), host(), log.logger, spool_options_with_slow_syncs());
  auto r = a.hand_over(b);
  CHECK(r.started_sinks == std::vector<std::string>{"out"});
  REQUIRE(emit(events(2, 10)));
  REQUIRE(eventually([&] { return sink_metrics(b.metrics(), "out").delivered == 2; }));
  b.stop();
  CHECK(sink_metrics(b.metrics(), "out").balanced());
}

TEST_CASE(
    "spool overflow drop_oldest: events evicted for an append whose write fails are counted") {
  // The append makes room first (evicting the oldest segment: dropped_oldest), then its write
  // fails. The evicted events were spooled; they must be counted dropped_oldest, not vanish
  // because the append as a whole failed (nothing of it accepted).
  ScriptedSink::reset();
  g_write_errno = 0;
  TempDir dir;
  SinkConfig s = spooled_sink(dir);
  s.spool.max_bytes = 16384;  // segments of 4 KiB; each small event is about 100 bytes on disk
  s.spool.overflow = sluice::core::SpoolOverflow::drop_oldest;
  s.batch.max_events = 5;
  CapturedLog log;
  ScriptedSink::set_gate(true);
  Runtime rt(simple(s), host(), log.logger, spool_options_with_write_faults());
  rt.start();
  REQUIRE(emit(events(5, 1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 5; }));
  REQUIRE(emit(events(300, 6)));  // full: at least 12 KiB on disk from now on
  const uint64_t evicted_before = sink_metrics(rt.metrics(), "out").dropped_oldest;
  auto big = events(1, 1000);
  big[0].data = "\"" + std::string(6000, 'x') + "\"";  // needs room: evicts unread events
  g_write_errno = EIO;
  CHECK(emit(big));
  g_write_errno = 0;
  {
    auto m = sink_metrics(rt.metrics(), "out");
    CHECK(m.received == 306);
    CHECK(m.dropped_spool_error == 1);
    CHECK(m.dropped_oldest > evicted_before);
    CHECK(m.balanced());
  }
  ScriptedSink::set_gate(false);
  REQUIRE(eventually([&] {
    auto m = sink_metrics(rt.metrics(), "out");
    return m.queued + m.spooled + m.in_flight == 0;
  }));
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered + m.dropped_oldest + m.dropped_spool_error == 306);
  CHECK(m.balanced());
}

TEST_CASE("spool: a sink stuck at stop lets go of the directory; what it held is sent next run") {
  for (const char* hang : {"deliver", "stop"}) {
    CAPTURE(hang);
    ScriptedSink::reset();
    g_write_errno = 0;
    const int destroyed_before = ScriptedSink::destroyed().load();
    TempDir dir;
    SinkConfig s = spooled_sink(dir, {{"hang", hang}});
    s.batch.max_events = 2;
    auto p = simple(s);
    p.drain_timeout = std::chrono::milliseconds(50);
    // The logger outlives the test case: the stuck sink may log when it is let go.
    static CapturedLog* log = new CapturedLog;
    ScriptedSink::set_gate(true);  // deliver() blocks, like a write() to a peer that reads nothing
    {
      Runtime rt(p, host(), log->logger, spool_options_with_write_faults());
      rt.start();
      REQUIRE(emit(events(6, 1)));
      REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 2; }));
      rt.stop();
      CHECK(rt.stuck());
      auto m = sink_metrics(rt.metrics(), "out");
      CHECK(m.spooled == 6);  // the 2 the sink holds stay on disk with the 4 queued
      CHECK(m.balanced());
    }
    sluice::core::SpoolOptions o;
    o.directory = dir.path.string();
    o.fsync = sluice::core::SpoolFsync::never;
    {
      // The stuck call still runs, and the next pipeline (a reload, a restart) can open the
      // directory: the 6 events are there for it.
      std::optional<sluice::core::Spool> next;
      CHECK_NOTHROW(next.emplace(o));
      if (next) CHECK(next->recovery().pending_events == 6);
    }
    // The stuck call returns at last: its late answer acknowledges nothing on disk any more.
    ScriptedSink::set_gate(false);
    CHECK(eventually([&] { return ScriptedSink::destroyed().load() == destroyed_before + 1; }));
    sluice::core::Spool after(o);
    CHECK(after.recovery().pending_events == 6);
  }
}
