// sluice/net/emit_pump.hpp: events reach the host off the io side, in order; the queue is
// bounded (full: the reader pauses, resumed when an emitter takes the queue); one instance
// blocked in emit does not stall the others; stop drains and waits.
#include <sluice/net/emit_pump.hpp>

#include "test_host.hpp"

#include <doctest/doctest.h>

#include <atomic>

using namespace std::chrono_literals;
using namespace sluice::net;

namespace {

sluice::PackedEvents events(const std::string& prefix, int n) {
  sluice::PackedEvents p;
  for (int i = 0; i < n; ++i) {
    sluice::Event e;
    e.id = prefix + std::to_string(i);
    e.source = "test";
    e.type = "t";
    p.add(e);
  }
  return p;
}

}  // namespace

TEST_CASE("EmitPump: events go to the host on an emitter thread, in order") {
  nettest::TestHost th;
  auto pool = std::make_shared<EmitPool>(std::make_shared<IoPool>(1));
  EmitPump pump(th.host(), pool, {});
  for (int i = 0; i < 10; ++i) {
    auto batch = events("e" + std::to_string(i) + "-", 3);
    CHECK_FALSE(pump.submit(batch));
    CHECK(batch.empty());
  }
  REQUIRE(th.wait([&] { return th.event_ids.size() == 30; }));
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 3; ++j)
      CHECK(th.event_ids[i * 3 + j] == "e" + std::to_string(i) + "-" + std::to_string(j));
  for (auto id : th.emit_threads)
    CHECK(id != std::this_thread::get_id());
}

TEST_CASE("EmitPump: bounded; full means pause, and resume comes once the queue is taken") {
  nettest::TestHost th;
  auto pool = std::make_shared<EmitPool>(std::make_shared<IoPool>(1), EmitPoolOptions{1, 1});
  EmitPump::Options o;
  o.max_events = 5;
  EmitPump pump(th.host(), pool, o);
  th.set_hold(true);  // the first emit blocks (policy: block, sink full)
  std::atomic<int> resumed{0};
  auto first = events("a", 1);
  CHECK_FALSE(pump.submit(first, [&] { ++resumed; }));
  REQUIRE(th.wait([&] { return th.emits_in_progress == 1; }));
  auto more = events("b", 4);
  CHECK_FALSE(pump.submit(more, [&] { ++resumed; }));  // 4 queued: room left
  auto last = events("c", 1);
  CHECK(pump.submit(last, [&] { ++resumed; }));  // 5 queued: full, the reader pauses
  CHECK(pump.queued() == 5);
  std::this_thread::sleep_for(50ms);
  CHECK(resumed == 0);  // nobody took the queue while the emit blocks
  th.set_hold(false);
  REQUIRE(th.wait([&] { return th.event_ids.size() == 6; }));
  CHECK(resumed == 1);
  CHECK(pump.queued() == 0);
}

TEST_CASE("EmitPool: an instance blocked in emit does not stall the others") {
  nettest::TestHost blocked, other;
  EmitPoolOptions po;
  po.base = 1;
  po.max = 3;
  po.stall_after = 50ms;
  auto pool = std::make_shared<EmitPool>(std::make_shared<IoPool>(1), po);
  CHECK(pool->threads() == 1);
  EmitPump a(blocked.host(), pool, {});
  EmitPump b(other.host(), pool, {});
  blocked.set_hold(true);
  auto ea = events("a", 1);
  a.submit(ea);
  REQUIRE(blocked.wait([&] { return blocked.emits_in_progress == 1; }));
  auto eb = events("b", 2);
  b.submit(eb);
  CHECK(other.wait([&] { return other.event_ids.size() == 2; }, 5s));
  CHECK(pool->threads() == 2);  // one spare, not one per instance
  blocked.set_hold(false);
  CHECK(blocked.wait([&] { return blocked.event_ids.size() == 1; }));
}

TEST_CASE("EmitPool: two instances blocked in emit do not stall a third one") {
  // Both b and c wait when the first spare starts; the spare takes b (which blocks too), and c
  // needs a second spare: the stall check must come round again.
  nettest::TestHost a, b, c;
  EmitPoolOptions po;
  po.base = 1;
  po.max = 4;
  po.stall_after = 50ms;
  auto pool = std::make_shared<EmitPool>(std::make_shared<IoPool>(1), po);
  EmitPump pa(a.host(), pool, {}), pb(b.host(), pool, {}), pc(c.host(), pool, {});
  a.set_hold(true);
  b.set_hold(true);
  auto ea = events("a", 1);
  pa.submit(ea);
  REQUIRE(a.wait([&] { return a.emits_in_progress == 1; }));
  auto eb = events("b", 1);
  pb.submit(eb);
  auto ec = events("c", 1);
  pc.submit(ec);
  CHECK(c.wait([&] { return c.event_ids.size() == 1; }, 5s));
  CHECK(pool->threads() == 3);  // a's, b's and c's: one spare per blocked instance
  a.set_hold(false);
  b.set_hold(false);
  CHECK(a.wait([&] { return a.event_ids.size() == 1; }));
  CHECK(b.wait([&] { return b.event_ids.size() == 1; }));
}

TEST_CASE("EmitPump::stop waits for the emit in flight and emits what is queued") {
  nettest::TestHost th;
  auto pool = std::make_shared<EmitPool>(std::make_shared<IoPool>(1), EmitPoolOptions{1, 1});
  EmitPump pump(th.host(), pool, {});
  th.set_hold(true);
  auto first = events("a", 1);
  pump.submit(first);
  REQUIRE(th.wait([&] { return th.emits_in_progress == 1; }));
  auto second = events("b", 2);
  pump.submit(second);
  std::thread release([&] {
    std::this_thread::sleep_for(100ms);
    th.set_hold(false);
  });
  pump.stop();
  {
    std::lock_guard lock(th.mutex);
    CHECK(th.event_ids == std::vector<std::string>{"a0", "b0", "b1"});
  }
  release.join();
  auto late = events("c", 1);
  pump.submit(late);  // after stop: at once, on this thread
  std::lock_guard lock(th.mutex);
  CHECK(th.event_ids.size() == 4);
  CHECK(th.emit_threads.back() == std::this_thread::get_id());
}
