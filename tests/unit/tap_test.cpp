// The live tap's core (sluice/core/tap.hpp): filters, the per-client rate limit, the bounded
// queue of a client that does not read, the client cap, and the query of GET /tap. The stream
// itself runs in tests/integration/tap_test.py.
#include <doctest/doctest.h>

#include "../../core/src/admin/server.hpp"

#include <sluice/core/tap.hpp>
#include <sluice/event.hpp>

#include <string>
#include <vector>

using namespace sluice::core;
using Clock = std::chrono::steady_clock;
using NameViews = std::vector<std::string_view>;

namespace {

EventPtr event_of_type(const std::string& type) {
  EventParts p;
  p.id = sluice::to_str("1");
  p.source = sluice::to_str("test://x");
  p.type = sluice::to_str(type);
  return EventPtr::make(p);
}

size_t taken(TapClient& c, TapClient::Drops* drops = nullptr) {
  std::vector<EventPtr> out;
  const auto t = c.take(out);
  if (drops) *drops = t.drops;
  return out.size();
}

}  // namespace

TEST_CASE("tap: active only while a client is attached; at most `clients` of them") {
  TapLimits limits;
  limits.clients = 2;
  Tap tap(limits);
  CHECK_FALSE(tap.active());
  auto a = tap.attach({}, 0);
  REQUIRE(a);
  CHECK(tap.active());
  auto b = tap.attach({}, 0);
  REQUIRE(b);
  CHECK_FALSE(tap.attach({}, 0));  // the third is refused
  CHECK(tap.counters().clients == 2);
  tap.detach(a);
  tap.detach(a);  // twice is harmless
  CHECK(tap.counters().clients == 1);
  tap.detach(b);
  CHECK_FALSE(tap.active());
  CHECK(a->rate() == limits.default_rate);
}

TEST_CASE("tap: a client sees what its source, sink and type filters let through") {
  Tap tap;
  auto all = tap.attach({}, 1000);
  auto by_source = tap.attach({"gen", "", ""}, 1000);
  auto by_sink = tap.attach({"", "out", ""}, 1000);
  auto by_type = tap.attach({"", "", "hmc.*"}, 1000);
  const NameViews to_out{"out"}, to_other{"other"}, unrouted{};
  tap.offer("gen", event_of_type("hmc.os-message"), to_out);
  tap.offer("gen", event_of_type("ldm.domain.add-domain"), to_other);
  tap.offer("ldm1", event_of_type("hmc.status-change"), unrouted);
  CHECK(taken(*all) == 3);
  CHECK(taken(*by_source) == 2);
  CHECK(taken(*by_sink) == 1);
  CHECK(taken(*by_type) == 2);
  CHECK(taken(*all) == 0);  // taken once
}

TEST_CASE("tap: over the rate limit is dropped and counted; a second later more pass") {
  Tap tap;
  auto c = tap.attach({}, 5);
  const auto t0 = Clock::now() + std::chrono::hours(1);  // past the client's creation
  auto e = event_of_type("x");
  for (int i = 0; i < 20; ++i)
    c->offer(e, t0, tap);
  TapClient::Drops d;
  CHECK(taken(*c, &d) == 5);  // one second's worth saved up
  CHECK(d.rate == 15);
  CHECK(d.queue == 0);
  for (int i = 0; i < 20; ++i)
    c->offer(e, t0 + std::chrono::seconds(1), tap);
  CHECK(taken(*c, &d) == 5);
  CHECK(d.rate == 15);
  CHECK(tap.counters().dropped_rate == 30);
}

TEST_CASE("tap: a client that does not read loses only what does not fit its queue") {
  TapLimits limits;
  limits.queue_events = 3;
  Tap tap(limits);
  auto slow = tap.attach({}, 1000);
  auto reader = tap.attach({}, 1000);
  for (int i = 0; i < 10; ++i) {
    tap.offer("gen", event_of_type("x"), NameViews{});
    CHECK(taken(*reader) == 1);
  }
  TapClient::Drops d;
  CHECK(taken(*slow, &d) == 3);
  CHECK(d.queue == 7);
  CHECK(tap.counters().dropped_queue == 7);
  CHECK(tap.counters().dropped_rate == 0);
}

TEST_CASE("tap: a take with a byte limit takes the oldest events up to it, at least one") {
  Tap tap;
  auto c = tap.attach({}, 1000);
  std::vector<EventPtr> offered;
  for (const char* type : {"a", "b", "c", "d", "e"}) {
    offered.push_back(event_of_type(type));
    tap.offer("gen", offered.back(), NameViews{});
  }
  const size_t one = offered[0].bytes();
  REQUIRE(one > 0);
  std::vector<EventPtr> out;
  auto t = c->take(out, 2 * one);  // room for two
  REQUIRE(out.size() == 2);
  CHECK(sluice::to_view(out[0].view().type) == "a");
  CHECK(sluice::to_view(out[1].view().type) == "b");
  CHECK(t.more);
  t = c->take(out, 1);  // smaller than one event: one all the same
  REQUIRE(out.size() == 3);
  CHECK(sluice::to_view(out[2].view().type) == "c");
  CHECK(t.more);
  t = c->take(out);  // no limit: the rest
  REQUIRE(out.size() == 5);
  CHECK(sluice::to_view(out[3].view().type) == "d");
  CHECK(sluice::to_view(out[4].view().type) == "e");
  CHECK_FALSE(t.more);
  t = c->take(out, 1);
  CHECK(out.size() == 5);
  CHECK_FALSE(t.more);
  // What was taken no longer counts against the queue's byte limit.
  TapLimits limits;
  limits.queue_bytes = 2 * one;
  Tap small(limits);
  auto d = small.attach({}, 1000);
  for (int round = 0; round < 3; ++round) {
    small.offer("gen", event_of_type("a"), NameViews{});
    small.offer("gen", event_of_type("b"), NameViews{});
    std::vector<EventPtr> got;
    d->take(got, one);
    small.offer("gen", event_of_type("c"), NameViews{});  // fits again once "a" is taken
    d->take(got, one);
    d->take(got, one);
    CHECK(got.size() == 3);
  }
  CHECK(small.counters().dropped_queue == 0);
}

TEST_CASE("tap: a detached client takes nothing more, also from an emitter that saw it attached") {
  Tap tap;
  auto c = tap.attach({}, 1000);
  tap.offer("gen", event_of_type("a"), NameViews{});
  tap.detach(c);
  // What an emitter holding the client list from before detach() does:
  c->offer(event_of_type("b"), std::chrono::steady_clock::now(), tap);
  std::vector<EventPtr> out;
  const auto t = c->take(out);
  REQUIRE(out.size() == 1);
  CHECK(sluice::to_view(out[0].view().type) == "a");
  CHECK_FALSE(t.more);
  CHECK(t.drops.queue == 0);
  CHECK(t.drops.rate == 0);
}

TEST_CASE("tap: the query of GET /tap") {
  TapLimits limits;
  std::string error;
  auto r = admin::parse_tap_query("source=gen&sink=out&type=hmc.%2A&rate=7", limits, &error);
  REQUIRE(r);
  CHECK(r->filter.source == "gen");
  CHECK(r->filter.sink == "out");
  CHECK(r->filter.type == "hmc.*");
  CHECK(r->rate == 7);
  r = admin::parse_tap_query("", limits, &error);
  REQUIRE(r);
  CHECK(r->rate == 0);
  CHECK_FALSE(admin::parse_tap_query("rate=0", limits, &error));
  CHECK(error.find("from 1 to 10000") != std::string::npos);
  CHECK_FALSE(admin::parse_tap_query("rate=10001", limits, &error));
  CHECK_FALSE(admin::parse_tap_query("rate=5x", limits, &error));
  CHECK_FALSE(admin::parse_tap_query("colour=red", limits, &error));
  CHECK(error.find("unknown parameter 'colour'") != std::string::npos);
}
