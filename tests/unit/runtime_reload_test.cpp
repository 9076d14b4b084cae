// Reload without loss (Runtime::hand_over): a source that emits continuously from its own thread
// keeps its plugin instance across the switch to the next runtime, and every event it emits
// before, during and after the switch is delivered exactly once; what did not change keeps its
// counters, what changed is drained (old) and started (new).
#include <doctest/doctest.h>

#include "runtime_fixture.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <thread>

using namespace fixture;
using sluice::core::HandOverResult;
using sluice::core::PipelineConfig;
using sluice::core::QueuePolicy;
using sluice::core::Runtime;
using sluice::core::SinkConfig;
using sluice::core::StartError;
using sluice_test::CountingSource;
using sluice_test::ScriptedSink;
using Names = std::vector<std::string>;

namespace {

// A plugin thread of the running source: emits two events per call (ids 1, 2, 3, ...) through
// the source's host API, as fast as the bus takes them, until told to stop. Remembers how many
// it emitted and whether every emit was answered OK.
class Emitter {
 public:
  explicit Emitter(sluice::Host host) : host_(host) {
    thread_ = std::thread([this] {
      for (int i = 1; !stop_; i += 2) {
        if (!host_.emit(events(2, i))) {
          all_ok_ = false;
          emitted_ = i + 1;  // the host was stopping; the events may still have been taken
          return;
        }
        emitted_ = i + 1;
        if (i % 64 == 1) std::this_thread::yield();
      }
    });
  }
  ~Emitter() { finish(); }
  int emitted() const { return emitted_; }
  bool all_ok() const { return all_ok_; }
  // Waits until `n` more events than now were emitted.
  bool more(int n) {
    const int want = emitted_ + n;
    return eventually([&] { return emitted_ >= want || !all_ok_; }) && all_ok_;
  }
  int finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return emitted_;
  }

 private:
  sluice::Host host_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> all_ok_{true};
  std::atomic<int> emitted_{0};
  std::thread thread_;
};

// Every id 1..n exactly once; the log line names the first that is not.
void check_exactly_once(int n) {
  const auto ids = delivered_id_counts();
  CHECK(ids.size() == static_cast<size_t>(n));
  int missing = 0, twice = 0;
  for (int i = 1; i <= n; ++i) {
    auto it = ids.find(std::to_string(i));
    if (it == ids.end()) {
      if (!missing++) MESSAGE("first missing: ", i);
    } else if (it->second != 1) {
      if (!twice++) MESSAGE("first delivered ", it->second, " times: ", i);
    }
  }
  CHECK(missing == 0);
  CHECK(twice == 0);
}

PipelineConfig with_filter(PipelineConfig p, std::vector<std::string> types) {
  p.routes[0].filter.types = std::move(types);
  return p;
}

}  // namespace

TEST_CASE("reload: a running source and sink go over; emits across the switch arrive once") {
  ScriptedSink::reset();
  CapturedLog log;
  SinkConfig out = sink("out");
  out.batch.max_events = 50;
  auto a = std::make_unique<Runtime>(simple(out), host(), log.logger);
  a->start();
  const int destroyed = CountingSource::destroyed();
  Emitter emitter(CountingSource::last_host());
  REQUIRE(emitter.more(1000));

  // Only a route filter changes: the source and the sink go over running.
  Runtime b(with_filter(simple(out), {"test.*"}), host(), log.logger);
  const HandOverResult r = a->hand_over(b);
  CHECK(r.kept_sources == Names{"in"});
  CHECK(r.kept_sinks == Names{"out"});
  CHECK(r.started_sources.empty());
  CHECK(r.stopped_sources.empty());
  CHECK(r.started_sinks.empty());
  CHECK(r.stopped_sinks.empty());
  CHECK(CountingSource::destroyed() == destroyed);  // the same plugin instance, not a new one
  a.reset();                                        // the old runtime is gone; its source is not
  CHECK(CountingSource::destroyed() == destroyed);

  REQUIRE(emitter.more(1000));  // still emitting, now through b's routes
  const int n = emitter.finish();
  CHECK(emitter.all_ok());
  REQUIRE(eventually([&] { return sink_metrics(b.metrics(), "out").delivered == uint64_t(n); }));
  b.stop();
  CHECK(CountingSource::destroyed() == destroyed + 1);  // b stopped it as its own

  const auto m = b.metrics();
  REQUIRE(m.sources.size() == 1);
  CHECK(m.sources[0].emitted == uint64_t(n));  // counted from the first event on, no restart
  const auto& s = sink_metrics(m, "out");
  CHECK(s.received == uint64_t(n));
  CHECK(s.delivered == uint64_t(n));
  CHECK(s.dropped() == 0);
  CHECK(s.balanced());
  check_exactly_once(n);
}

TEST_CASE("reload: a changed sink is drained (old) and started (new); the kept source loses none") {
  ScriptedSink::reset();
  CapturedLog log;
  SinkConfig out = sink("out");
  out.batch.max_events = 20;
  PipelineConfig pa = simple(out);
  pa.sinks.push_back(sink("gone"));  // removed by the reload
  pa.routes[0].to.push_back("gone");
  auto a = std::make_unique<Runtime>(pa, host(), log.logger);
  a->start();
  const int destroyed_sinks = ScriptedSink::destroyed();
  Emitter emitter(CountingSource::last_host());
  REQUIRE(emitter.more(1000));

  SinkConfig changed = out;
  changed.options = {{"reason", "new options"}};
  Runtime b(simple(changed), host(), log.logger);
  const HandOverResult r = a->hand_over(b);
  CHECK(r.kept_sources == Names{"in"});
  CHECK(r.kept_sinks.empty());
  CHECK(r.started_sinks == Names{"out"});
  CHECK(r.stopped_sinks == Names{"out", "gone"});
  CHECK(ScriptedSink::destroyed() == destroyed_sinks + 2);  // the old "out" and "gone"
  // The old sinks were drained: everything routed to them before the switch was delivered.
  const auto old_out = sink_metrics(a->metrics(), "out");
  const auto old_gone = sink_metrics(a->metrics(), "gone");
  CHECK(old_out.received > 0);
  CHECK(old_out.delivered == old_out.received);
  CHECK(old_out.balanced());
  CHECK(old_gone.delivered == old_out.received);
  CHECK(old_gone.balanced());
  CHECK(a->metrics().sources.empty());  // the source is b's now
  a.reset();

  REQUIRE(emitter.more(1000));
  const int n = emitter.finish();
  CHECK(emitter.all_ok());
  b.stop();
  const auto s = sink_metrics(b.metrics(), "out");
  CHECK(s.received > 0);
  CHECK(s.received + old_out.received == uint64_t(n));  // each event to the old or the new
  CHECK(s.delivered == s.received);
  CHECK(s.balanced());
  // Every event went to "out" (old or new) once, and before the switch to "gone" as well.
  const auto ids = delivered_id_counts();
  int gone_copies = 0, out_missing = 0;
  for (int i = 1; i <= n; ++i) {
    const int c = ids.count(std::to_string(i)) ? ids.at(std::to_string(i)) : 0;
    out_missing += c == 0;
    gone_copies += c == 2;
    CHECK_MESSAGE(c <= 2, "id ", i, " delivered ", c, " times");
  }
  CHECK(out_missing == 0);
  CHECK(uint64_t(gone_copies) == old_out.received);  // "gone" had each of the old ones
}

TEST_CASE("reload: an emit waiting on a full block queue finishes before the switch, once") {
  ScriptedSink::reset();
  ScriptedSink::set_gate(true);  // "out" holds its first batch: the queue fills, emits block
  CapturedLog log;
  SinkConfig out = sink("out");
  out.batch.max_events = 10;
  out.queue.max_events = 20;
  out.queue.policy = QueuePolicy::block;
  auto a = std::make_unique<Runtime>(simple(out), host(), log.logger);
  a->start();
  Emitter emitter(CountingSource::last_host());
  REQUIRE(eventually([&] {
    const auto m = sink_metrics(a->metrics(), "out");
    return m.in_flight > 0 && m.queued >= 19;  // full: the next 2 do not fit
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int blocked_at = emitter.emitted();  // the emitter waits inside emit()

  Runtime b(with_filter(simple(out), {"test.*"}), host(), log.logger);
  std::thread opener([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ScriptedSink::set_gate(false);
  });
  const auto t0 = std::chrono::steady_clock::now();
  const HandOverResult r = a->hand_over(b);  // waits for the blocked emit, not for drain_timeout
  const auto took = std::chrono::steady_clock::now() - t0;
  opener.join();
  CHECK(r.kept_sources == Names{"in"});
  CHECK(r.kept_sinks == Names{"out"});
  CHECK(took < std::chrono::seconds(4));
  CHECK_FALSE(log.contains("did not return within drain_timeout"));
  a.reset();

  REQUIRE(emitter.more(1000));
  const int n = emitter.finish();
  CHECK(n > blocked_at);
  CHECK(emitter.all_ok());
  REQUIRE(eventually([&] { return sink_metrics(b.metrics(), "out").delivered == uint64_t(n); }));
  b.stop();
  const auto s = sink_metrics(b.metrics(), "out");
  CHECK(s.received == uint64_t(n));
  CHECK(s.dropped() == 0);
  CHECK(s.balanced());
  check_exactly_once(n);
}

TEST_CASE("reload: the next pipeline fails to start: it throws, both are stopped, nothing twice") {
  ScriptedSink::reset();
  CapturedLog log;
  SinkConfig out = sink("out");
  auto a = std::make_unique<Runtime>(simple(out), host(), log.logger);
  a->start();
  const int destroyed = CountingSource::destroyed();
  Emitter emitter(CountingSource::last_host());
  REQUIRE(emitter.more(500));

  PipelineConfig pb = simple(out);
  pb.sinks.push_back(sink("bad", {{"fail_create", true}}));
  pb.routes[0].to.push_back("bad");
  Runtime b(pb, host(), log.logger);
  CHECK_THROWS_AS(a->hand_over(b), StartError);
  // The kept source was b's to stop; its emits are refused from then on.
  CHECK(CountingSource::destroyed() == destroyed + 1);
  CHECK(eventually([&] { return !emitter.all_ok(); }));  // refused: answered SLUICE_STOPPED
  const int n = emitter.finish();
  a->stop();
  b.stop();
  const auto ids = delivered_id_counts();
  for (const auto& [id, count] : ids)
    CHECK_MESSAGE(count == 1, "id ", id, " delivered ", count, " times");
  CHECK(ids.size() <= static_cast<size_t>(n));
  // Every emit answered OK before the failure was routed to "out" and delivered (a drained
  // it, or b drained it as the adopted sink); only the last call, refused, is not.
  int missing = 0;
  for (int i = 1; i <= n - 2; ++i)
    if (!ids.count(std::to_string(i)) && !missing++) MESSAGE("first missing: ", i);
  CHECK(missing == 0);
}

TEST_CASE("reload: a released source stays running until adopted; one nobody adopts is stopped") {
  ScriptedSink::reset();
  CapturedLog log;
  auto a = std::make_unique<Runtime>(simple(sink("out")), host(), log.logger);
  a->start();
  const int destroyed = CountingSource::destroyed();
  std::shared_ptr<sluice::core::Source> in = a->release_source("in");
  REQUIRE(in);
  CHECK(a->release_source("in") == nullptr);  // once
  CHECK(a->metrics().sources.empty());        // a neither counts nor stops it any more
  // Still bound to a's routes: what it emits is delivered by a's sink.
  REQUIRE(emit(events(5, 1)));
  REQUIRE(eventually([&] { return sink_metrics(a->metrics(), "out").delivered == 5; }));
  // A pipeline whose source differs refuses it (and leaves it be).
  PipelineConfig other = simple(sink("out"));
  other.sources[0].options = {{"per_emit", 2}};
  Runtime wrong(other, host(), log.logger);
  CHECK_THROWS_AS(wrong.adopt_source(in), StartError);
  a.reset();
  CHECK(CountingSource::destroyed() == destroyed);  // not a's to stop
  in.reset();                                       // nobody adopted it: stopped and destroyed
  CHECK(CountingSource::destroyed() == destroyed + 1);
}

TEST_CASE("reload: an emit still blocked past drain_timeout does not feed a sink already stopped") {
  // The kept source's emit waits on the kept sink's full `block` queue longer than
  // drain_timeout: hand_over goes on without it, stops "gone" (removed by the reload), and
  // only then the emit resumes on the old routes, whose next target is "gone". What it routes
  // there must be counted (as dropped_shutdown), not left in a stopped sink's queue that
  // nobody drains, delivers or counts.
  ScriptedSink::reset();
  ScriptedSink::set_gate(true);  // every scripted sink holds its first batch
  CapturedLog log;
  SinkConfig out = sink("out");  // first in pipeline order: the emit blocks here first
  out.batch.max_events = 10;
  out.queue.max_events = 20;
  out.queue.policy = QueuePolicy::block;
  PipelineConfig pa = simple(out);
  pa.drain_timeout = std::chrono::milliseconds(300);
  pa.sinks.push_back(sink("gone"));  // removed by the reload
  pa.routes[0].to.push_back("gone");
  auto a = std::make_unique<Runtime>(pa, host(), log.logger);
  a->start();
  Emitter emitter(CountingSource::last_host());
  struct OpenGate {  // also when a REQUIRE fails: the emitter must be able to finish
    ~OpenGate() { ScriptedSink::set_gate(false); }
  } open_gate;
  REQUIRE(eventually([&] {
    const auto m = sink_metrics(a->metrics(), "out");
    return m.in_flight > 0 && m.queued >= 19;  // full: the next 2 do not fit
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the emitter waits in emit()

  PipelineConfig pb = simple(out);
  pb.drain_timeout = pa.drain_timeout;
  Runtime b(pb, host(), log.logger);
  const HandOverResult r = a->hand_over(b);
  CHECK(r.kept_sinks == Names{"out"});
  CHECK(r.stopped_sinks == Names{"gone"});
  CHECK(log.contains("did not return within drain_timeout"));

  ScriptedSink::set_gate(false);  // "out" takes events again: the blocked emit resumes
  REQUIRE(emitter.more(200));
  const int n = emitter.finish();
  CHECK(n > 0);
  const auto gone = sink_metrics(a->metrics(), "gone");
  CHECK(gone.queued == 0);  // a stopped sink holds nothing
  CHECK(gone.received == gone.delivered + gone.dropped() + gone.dead_lettered + gone.abandoned);
  CHECK(gone.balanced());
  a.reset();
  b.stop();
}
