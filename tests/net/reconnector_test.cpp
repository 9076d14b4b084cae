// sluice/net/reconnector.hpp: back-off with jitter between attempts, a slow retry after a
// refusal, the sluice.reconnected event, internal errors replace the connection, stop is
// bounded and nothing runs after it.
#include <sluice/net/reconnector.hpp>

#include "test_host.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <future>
#include <set>

using namespace std::chrono_literals;
using namespace sluice::net;
using std::chrono::milliseconds;

namespace {

// A source whose attempts fail or succeed as the test says, recording the delays reported.
struct Rig {
  nettest::TestHost th;
  Strand strand{std::make_shared<IoPool>(2),
                [this](const std::string& what) { rc.internal_error(what, nullptr); }};
  sluice::EventIds ids{"test"};
  std::function<void(Reconnector&)> on_attempt;
  std::atomic<int> attempts{0};
  std::vector<milliseconds> delays;  // under th.mutex
  std::vector<Loss> losses;
  Reconnector rc;

  explicit Rig(sluice::BackoffPolicy p, std::function<void(Reconnector&)> attempt)
      : on_attempt(std::move(attempt)),
        rc(
            th.host(), strand, {p, "test://src", "t: ", "t."}, ids,
            [this] {
              {
                std::lock_guard lock(th.mutex);  // th.wait sees it without polling
                ++attempts;
              }
              th.changed.notify_all();
              on_attempt(rc);
            },
            [this](const Loss& l, milliseconds d) {
              std::lock_guard lock(th.mutex);
              delays.push_back(d);
              losses.push_back(l);
              th.changed.notify_all();
            }) {}
  ~Rig() { rc.stop(nullptr, 1s); }
  size_t reported() {
    std::lock_guard lock(th.mutex);
    return delays.size();
  }
};

}  // namespace

TEST_CASE("Reconnector: failed attempts are retried with a growing, jittered back-off") {
  sluice::BackoffPolicy p{10ms, 80ms, 2.0, sluice::BackoffPolicy::Jitter::half};
  Rig rig(p, [](Reconnector& rc) { rc.lost(Loss{"refused"}); });
  rig.rc.start();
  REQUIRE(rig.th.wait([&] { return rig.delays.size() >= 6; }));
  rig.rc.stop(nullptr, 1s);
  const std::vector<int64_t> ceilings{10, 20, 40, 80, 80, 80};
  for (size_t i = 0; i < ceilings.size(); ++i) {
    CAPTURE(i);
    CHECK(rig.delays[i].count() >= ceilings[i] / 2);
    CHECK(rig.delays[i].count() <= ceilings[i]);
  }
  CHECK(rig.attempts >= 6);
}

TEST_CASE("Reconnector: jitter spreads many sources' delays") {
  sluice::BackoffPolicy p{1000ms, 1000ms, 2.0, sluice::BackoffPolicy::Jitter::full};
  std::set<int64_t> seen;
  for (int i = 0; i < 20; ++i) {
    sluice::Backoff b(p);
    seen.insert(b.next().count());
  }
  CHECK(seen.size() > 10);
}

TEST_CASE("Reconnector: a refusal (authentication) is retried after the policy's max only") {
  sluice::BackoffPolicy p{10ms, 3600s, 2.0, sluice::BackoffPolicy::Jitter::half};
  Rig rig(p, [](Reconnector& rc) { rc.lost(Loss{"bad password", Loss::Retry::slow}); });
  rig.rc.start();
  REQUIRE(rig.th.wait([&] { return rig.delays.size() == 1; }));
  std::this_thread::sleep_for(200ms);
  CHECK(rig.attempts == 1);  // no hot loop
  CHECK(rig.delays.front() == 3600s);
}

TEST_CASE("Reconnector: the default report: slow retry state down, a lost connection degraded") {
  nettest::TestHost th;
  Strand strand(std::make_shared<IoPool>(1), nullptr);
  sluice::EventIds ids("t");
  int n = 0;
  Reconnector rc(th.host(), strand, {{10ms, 1h}, "s", "x: ", ""}, ids, [&] {
    if (++n == 1) rc.lost(Loss{"auth refused", Loss::Retry::slow});
  });
  rc.start();
  REQUIRE(th.wait([&] { return !th.states.empty(); }));
  rc.stop(nullptr, 1s);
  CHECK(th.states.back().first == SLUICE_STATE_DOWN);
  CHECK(th.states.back().second == "auth refused; retrying in 3600s");
  CHECK(th.logged("x: auth refused; retrying in 3600s"));
}

TEST_CASE("Reconnector: up after a loss gives sluice.reconnected with the loss's reason") {
  sluice::BackoffPolicy p{1ms, 5ms};
  std::atomic<int> n{0};
  std::promise<std::optional<sluice::Event>> second_up;
  Rig rig(p, [&](Reconnector& rc) {
    switch (++n) {
      case 1:
        CHECK_FALSE(rc.up({"a"}).has_value());  // the first connection is no reconnect
        rc.lost(Loss{"peer closed", Loss::Retry::backoff, true});
        break;
      case 2:
        rc.lost(Loss{"refused"});  // a failed retry does not change the reason
        break;
      case 3:
        second_up.set_value(rc.up({"a", "b"}));
        break;
    }
  });
  auto f = second_up.get_future();
  rig.rc.start();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  auto e = f.get();
  REQUIRE(e.has_value());
  CHECK(e->type == "sluice.reconnected");
  CHECK(e->source == "test://src");
  auto d = nlohmann::json::parse(*e->data);
  CHECK(d["reconnects"] == 1);
  CHECK(d["attempts"] == 2);
  CHECK(d["reason"] == "peer closed");
  CHECK(d["resubscribed"] == nlohmann::json{"a", "b"});
  CHECK(d.size() == 6);
  CHECK(d.contains("from"));
  CHECK(d.contains("to"));
  CHECK(rig.th.metrics["t.reconnects"] == 1);
}

TEST_CASE("Reconnector: an exception in an attempt is an internal error and a new attempt") {
  sluice::BackoffPolicy p{1ms, 5ms};
  std::atomic<int> n{0};
  Rig rig(p, [&](Reconnector& rc) {
    if (++n == 1) throw std::runtime_error("bug");
    (void)rc.up({});
  });
  rig.rc.start();
  REQUIRE(rig.th.wait([&] { return rig.attempts.load() >= 2; }));
  CHECK(rig.th.logged("t: internal error: bug"));
  CHECK(rig.th.metrics["t.internal_errors"] == 1);
}

TEST_CASE("Reconnector::stop: within its bound when the goodbye never ends; nothing runs after") {
  sluice::BackoffPolicy p{1ms, 2ms};
  std::atomic<int> after_stop{0};
  std::atomic<bool> stopped{false};
  Rig rig(p, [&](Reconnector& rc) {
    if (stopped) ++after_stop;
    rc.lost(Loss{"refused"});  // keeps attempting every few ms
  });
  rig.rc.start();
  REQUIRE(rig.th.wait([&] { return rig.attempts.load() >= 3; }));
  const auto t0 = std::chrono::steady_clock::now();
  bool shutdown_called = false;
  rig.rc.stop(
      [&](std::function<void()>) {
        shutdown_called = true; /* never done */
      },
      300ms);
  stopped = true;
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(shutdown_called);
  CHECK(took < 1s);
  const int attempts = rig.attempts;
  std::this_thread::sleep_for(50ms);
  CHECK(rig.attempts == attempts);
  CHECK(after_stop == 0);
}
