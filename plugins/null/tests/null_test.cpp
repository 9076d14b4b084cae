#include <doctest/doctest.h>

#include <sluice/testing.hpp>

#include <chrono>
#include <future>
#include <thread>

using sluice::Event;
using sluice::testing::Harness;

namespace {

std::vector<Event> two_events() {
  Event a;
  a.id = "1";
  a.source = "test://null";
  a.type = "test.event";
  Event b = a;
  b.id = "2";
  return {a, b};
}

}  // namespace

TEST_SUITE("descriptor") {
  TEST_CASE("null: descriptor is a sink with a strict schema that documents every key") {
    Harness h(NULL_SO);
    CHECK(std::string(h.descriptor().name) == "null");
    CHECK(h.descriptor().kind == SLUICE_KIND_SINK);
    auto schema = nlohmann::json::parse(h.descriptor().options_schema);
    CHECK(schema["additionalProperties"] == false);
    for (const auto& [key, prop] : schema["properties"].items()) {
      INFO(key);
      CHECK(prop.contains("description"));
      CHECK(prop.contains("default"));
    }
    CHECK(schema["properties"]["answer"]["enum"] == nlohmann::json({"ok", "retry", "reject"}));
  }

  TEST_CASE("null: an unknown answer is refused at create") {
    Harness h(NULL_SO);
    CHECK_THROWS_WITH(h.create(R"({"answer":"maybe"})"),
                      "answer: 'maybe' is not one of ok, retry, reject");
  }

  TEST_CASE("null: check_options refuses what create refuses, every problem at its option") {
    Harness h(NULL_SO);
    CHECK(h.check(R"({"delay": "250ms", "answer": "retry", "retry_after": 100})").empty());
    const std::string bad = R"({"delay": "..", "answer": "maybe", "retry_after": 2000000000000})";
    auto problems = h.check(bad);
    REQUIRE(problems.size() == 3);
    CHECK(problems[0] == sluice::OptionProblem{"/delay", "delay: not a duration: '..'"});
    CHECK(problems[1].pointer == "/retry_after");
    CHECK(problems[1].message.rfind("retry_after: too large: 2000000000000", 0) == 0);
    CHECK(problems[2] ==
          sluice::OptionProblem{"/answer", "answer: 'maybe' is not one of ok, retry, reject"});
    CHECK_THROWS_WITH(h.create(bad), "delay: not a duration: '..'");
  }
}

TEST_SUITE("answers") {
  TEST_CASE("null: default answer is ok and events and batches are counted") {
    Harness h(NULL_SO);
    auto& sink = h.create("{}");
    sink.start();
    CHECK(h.deliver(sink, two_events()).code == SLUICE_DELIVERY_OK);
    CHECK(h.deliver(sink, two_events()).code == SLUICE_DELIVERY_OK);
    CHECK(h.metric("batches") == 2);
    CHECK(h.metric("events") == 4);
    CHECK(h.metric("answered.ok") == 2);
  }

  TEST_CASE("null: answer retry gives retry with retry_after in milliseconds") {
    Harness h(NULL_SO);
    auto& sink = h.create(R"({"answer":"retry","retry_after":"2s"})");
    sink.start();
    auto d = h.deliver(sink, two_events());
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.retry_after_ms == 2000);
    CHECK(d.reason == "null sink configured with answer: retry");
    CHECK(h.metric("answered.retry") == 1);
  }

  TEST_CASE("null: answer reject gives reject with a reason") {
    Harness h(NULL_SO);
    auto& sink = h.create(R"({"answer":"reject"})");
    sink.start();
    auto d = h.deliver(sink, two_events());
    CHECK(d.code == SLUICE_DELIVERY_REJECT);
    CHECK(d.reason == "null sink configured with answer: reject");
    CHECK(h.metric("events") == 2);
  }
}

TEST_SUITE("delay") {
  TEST_CASE("null: a short delay still answers ok") {
    Harness h(NULL_SO);
    auto& sink = h.create(R"({"delay":"20ms"})");
    sink.start();
    CHECK(h.deliver(sink, two_events()).code == SLUICE_DELIVERY_OK);
  }

  TEST_CASE("null: stop interrupts a batch waiting out a long delay") {
    Harness h(NULL_SO);
    auto& sink = h.create(R"({"delay":"1h"})");
    sink.start();
    auto answer = std::async(std::launch::async, [&] { return h.deliver(sink, two_events()); });
    // Wait (bounded) until the batch is inside deliver, then stop the sink.
    for (int i = 0; i < 1000 && h.metric("batches") == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(h.metric("batches") == 1);
    sink.stop();
    REQUIRE(answer.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    CHECK(answer.get().code == SLUICE_DELIVERY_OK);
  }
}
