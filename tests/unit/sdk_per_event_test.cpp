// Per-event answers (plugin API 1.1) in the SDK: Delivery::per_event and its summary for 1.0
// hosts, what Completion writes, and a test harness that reads per-event answers as the host
// does (struct_size, count, frozen element size).
#include <doctest/doctest.h>

#include <sluice/sdk.hpp>
#include <sluice/testing.hpp>

#include "runtime_fixture.hpp"
#include "test_plugin_dir.hpp"
#include "test_plugins.hpp"

#include <string>
#include <vector>

using sluice::Delivery;

namespace {

// Events with an id, a source and a type only (no data).
std::vector<sluice::Event> bare_events(int n) {
  std::vector<sluice::Event> out(n);
  for (int i = 0; i < n; ++i) {
    out[i].id = std::to_string(i + 1);
    out[i].source = "test://x";
    out[i].type = "test.event";
  }
  return out;
}

// Answers event i with answers[i % n] (ok / retry / reject), as a real per-event sink would.
struct PerEventSink : sluice::Sink {
  PerEventSink(sluice::Host h, const nlohmann::json&) : Sink(h) {}
  Delivery deliver(const sluice::Batch& b) override {
    std::vector<Delivery> answers;
    for (size_t i = 0; i < b.size(); ++i) {
      switch (i % 3) {
        case 0:
          answers.push_back(Delivery::ok());
          break;
        case 1:
          answers.push_back(Delivery::retry("busy " + std::to_string(i), 100 * (i + 1), 503));
          break;
        default:
          answers.push_back(Delivery::reject("bad " + std::to_string(i), 400));
      }
    }
    return Delivery::per_event(std::move(answers));
  }
};

const sluice_plugin_descriptor* per_event_descriptor() {
  static const sluice_plugin_descriptor d =
      sluice::detail::Adapter<PerEventSink>::make("per_event", "1.0.0", "test", "{}");
  return &d;
}

// What a Completion hands the host, copied during complete_batch.
struct Raw {
  sluice_delivery_result r{};
  std::string reason;
  std::vector<sluice_event_result> events;
  std::vector<std::string> reasons;
};
Raw complete_raw(const Delivery& d) {
  static Raw raw;
  raw = Raw();
  sluice_host_api api{};
  api.struct_size = sizeof api;
  api.complete_batch = [](sluice_host_context*, uint64_t, const sluice_delivery_result* r) {
    raw.r = *r;
    raw.reason = std::string(sluice::to_view(r->reason));
    for (size_t i = 0; r->event_results && i < r->event_result_count; ++i) {
      raw.events.push_back(r->event_results[i]);
      raw.reasons.emplace_back(sluice::to_view(r->event_results[i].reason));
    }
  };
  sluice::Completion done(sluice::Host(&api, nullptr), 7);
  done(d);
  return raw;
}

}  // namespace

TEST_CASE("sdk: Delivery::per_event sums up for a 1.0 host: retry, else reject, else ok") {
  auto d = Delivery::per_event({Delivery::ok(), Delivery::reject("no", 400),
                                Delivery::retry("later", 50, 503), Delivery::retry("x", 200)});
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason == "later");
  CHECK(d.status == 503);
  CHECK(d.retry_after_ms == 200);  // the longest
  CHECK(d.events.size() == 4);
  d = Delivery::per_event({Delivery::ok(), Delivery::reject("no", 400), Delivery::reject("b")});
  CHECK(d.code == SLUICE_DELIVERY_REJECT);
  CHECK(d.reason == "no");
  CHECK(d.status == 400);
  d = Delivery::per_event({Delivery::ok(), Delivery::ok()});
  CHECK(d.code == SLUICE_DELIVERY_OK);
  CHECK(d.events.size() == 2);
}

TEST_CASE("sdk: Completion writes one frozen-size answer per event and the summary code") {
  Delivery d = Delivery::per_event({Delivery::ok(), Delivery::reject("bad", 422)});
  d.code = SLUICE_DELIVERY_OK;  // a summary set by hand does not hide the rejection
  Raw raw = complete_raw(d);
  CHECK(raw.r.struct_size == sizeof(sluice_delivery_result));
  CHECK(raw.r.code == SLUICE_DELIVERY_REJECT);
  CHECK(raw.reason == "bad");
  CHECK(raw.r.status == 422);
  REQUIRE(raw.r.event_result_count == 2);
  REQUIRE(raw.events.size() == 2);
  for (const auto& e : raw.events)
    CHECK(e.struct_size == SLUICE_EVENT_RESULT_SIZE);
  CHECK(raw.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(raw.events[0].reason.data == nullptr);  // absent, not empty
  CHECK(raw.events[1].code == SLUICE_DELIVERY_REJECT);
  CHECK(raw.events[1].status == 422);
  CHECK(raw.reasons[1] == "bad");

  raw = complete_raw(Delivery::retry("whole", 10, 503));  // a whole-batch answer: no array
  CHECK(raw.r.code == SLUICE_DELIVERY_RETRY);
  CHECK(raw.r.event_results == nullptr);
  CHECK(raw.r.event_result_count == 0);
}

TEST_CASE("harness: per-event answers come back one per event") {
  sluice::testing::Harness h(per_event_descriptor());
  auto& sink = h.create();
  Delivery d = h.deliver(sink, bare_events(4));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  REQUIRE(d.events.size() == 4);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_RETRY);
  CHECK(d.events[1].reason == "busy 1");
  CHECK(d.events[1].retry_after_ms == 200);
  CHECK(d.events[1].status == 503);
  CHECK(d.events[2].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[2].reason == "bad 2");
  CHECK(d.events[2].status == 400);
  CHECK(d.events[3].code == SLUICE_DELIVERY_OK);
}

TEST_CASE("harness: per-event answers of the wrong count or element size are a rejection") {
  sluice::testing::Harness h(fixture::scripted_descriptor());
  auto& sink = h.create(R"({"answers": ["events-bad-count", "events-bad-size", "events:ok"]})");
  Delivery d = h.deliver(sink, bare_events(3));
  CHECK(d.code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events.empty());
  CHECK(d.reason ==
        "invalid delivery result: 2 per-event answers (event_result_count) for a batch of 3 "
        "events");
  d = h.deliver(sink, bare_events(3));
  CHECK(d.code == SLUICE_DELIVERY_REJECT);
  CHECK(d.reason == "invalid delivery result: per-event answer 0 of 3 has struct_size " +
                        std::to_string(SLUICE_EVENT_RESULT_SIZE + 8) +
                        "; sluice_event_result is frozen at " +
                        std::to_string(SLUICE_EVENT_RESULT_SIZE) + " bytes");
  d = h.deliver(sink, bare_events(3));
  CHECK(d.code == SLUICE_DELIVERY_OK);
  CHECK(d.events.size() == 3);
}

TEST_CASE("harness: a 1.0 result is read as a whole-batch answer, whatever follows it") {
  // The frozen-1.0 sink puts what looks like per-event answers right after its 1.0 result.
  sluice::testing::Harness h(kTestPluginDir + "/sluice_abi10_sink.so");
  auto& sink = h.create();
  Delivery d = h.deliver(sink, bare_events(2));
  CHECK(d.code == SLUICE_DELIVERY_OK);
  CHECK(d.events.empty());
}
