// The kafka sink driven through the test harness against an in-process mock cluster
// (rdkafka_mock.h): the answer of each event, and what stop() promises.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using sluice::Delivery;
using sluice::Event;
using sluice::testing::Harness;

namespace {

// A mock cluster of `brokers` brokers on loopback, hosted by a handle of its own.
struct MockCluster {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
  explicit MockCluster(int brokers = 1) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    REQUIRE(rk);
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    REQUIRE(mc);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
  }
  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(mc); }
};

std::vector<Event> events(size_t n, const std::string& prefix, size_t data_bytes = 0) {
  std::vector<Event> v;
  for (size_t i = 1; i <= n; ++i) {
    Event e;
    e.id = prefix + std::to_string(i);
    e.source = "test://sink";
    e.type = "test.event";
    e.subject = "/api/partitions/" + std::to_string(i % 3);
    e.data = data_bytes ? "\"" + std::string(data_bytes, 'x') + "\"" : "{\"n\":1}";
    v.push_back(std::move(e));
  }
  return v;
}

// Delivers until the whole batch is answered OK, as the core's retries would (bounded).
bool deliver_until_ok(Harness& h, sluice::testing::Instance& sink,
                      const std::vector<Event>& batch) {
  for (uint32_t attempt = 1; attempt < 100; ++attempt) {
    if (h.deliver(sink, batch, attempt).code == SLUICE_DELIVERY_OK) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::string options(const MockCluster& c, const std::string& extra = "") {
  return R"({"brokers":")" + c.bootstrap() + R"(","topic":"events")" + extra + "}";
}

}  // namespace

TEST_CASE("every event acknowledged: one OK answer per event") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c));
  sink.start();
  Delivery d = h.deliver(sink, events(20, "ok-"));
  REQUIRE(d.events.size() == 20);
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_OK);
  CHECK(h.metric("kafka.records_acknowledged") == 20);
  CHECK(h.last_state() == SLUICE_STATE_UP);
}

TEST_CASE("before start, a batch is answered retry") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c));
  Delivery d = h.deliver(sink, events(2, "early-"));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason == "kafka: sink not started or stopping");
}

TEST_CASE("per event: too large and a bad topic are rejected, the others delivered") {
  MockCluster c;
  Harness h(KAFKA_SO);
  // librdkafka refuses a record over message.max.bytes at once; a topic template that expands
  // to a bad name (a subject with '/') is refused by the sink itself, never sent.
  auto& sink = h.create(options(c, R"(,"properties":{"message.max.bytes":"2000"})"));
  sink.start();
  std::vector<Event> batch = events(3, "mix-");
  batch[1].data = "\"" + std::string(5000, 'y') + "\"";  // over message.max.bytes
  Delivery d = h.deliver(sink, batch);
  REQUIRE(d.events.size() == 3);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[1].reason == "kafka: events: Broker: Message size too large");
  CHECK(d.events[1].status == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  CHECK(d.events[2].code == SLUICE_DELIVERY_OK);

  Harness h2(KAFKA_SO);
  auto& templated = h2.create(R"({"brokers":")" + c.bootstrap() + R"(","topic":"t.{subject}"})");
  templated.start();
  Delivery t = h2.deliver(templated, events(1, "tpl-"));
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0].code == SLUICE_DELIVERY_REJECT);
  CHECK(t.events[0].reason ==
        "kafka: topic template 't.{subject}': 't./api/partitions/1' holds a character a topic "
        "name cannot (only a-z A-Z 0-9 . _ -)");
}

TEST_CASE("topic authorization failed: rejected with the broker's reason") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(R"({"brokers":")" + c.bootstrap() + R"(","topic":"secret"})");
  sink.start();
  REQUIRE(h.deliver(sink, events(1, "warm-")).code == SLUICE_DELIVERY_OK);
  // The next Produce request (both records: one broker, one request) is refused.
  rd_kafka_mock_push_request_errors(c.mc, 0 /* Produce */, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  std::vector<Event> two = events(2, "auth-");
  two[1].subject = two[0].subject;  // one partition
  Delivery d = h.deliver(sink, two);
  REQUIRE(d.events.size() == 2);
  for (const auto& e : d.events) {
    CHECK(e.code == SLUICE_DELIVERY_REJECT);
    CHECK(e.reason == "kafka: secret: Broker: Topic authorization failed");
  }
}

TEST_CASE("a broker down past delivery_timeout: retry, as librdkafka timed the records out") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c, R"(,"delivery_timeout":"300ms")"));
  sink.start();
  REQUIRE(deliver_until_ok(h, sink, events(1, "warm-")));
  rd_kafka_mock_broker_set_down(c.mc, 1);
  Delivery d = h.deliver(sink, events(4, "late-"));
  REQUIRE(d.events.size() == 4);
  for (const auto& e : d.events) {
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
    CHECK(e.reason == "kafka: events: Local: Message timed out");
  }
  CHECK(h.last_state() == SLUICE_STATE_DEGRADED);
  // Back up: the same events go through once librdkafka has reconnected (bounded attempts,
  // as the core's retries would be).
  rd_kafka_mock_broker_set_up(c.mc, 1);
  CHECK(deliver_until_ok(h, sink, events(4, "late-")));
  CHECK(h.last_state() == SLUICE_STATE_UP);
}

TEST_CASE("stop answers what the brokers never acknowledged, then calls the host no more") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c, R"(,"flush_timeout":"200ms","delivery_timeout":"10min")"));
  sink.start();
  REQUIRE(h.deliver(sink, events(1, "warm-")).code == SLUICE_DELIVERY_OK);
  rd_kafka_mock_broker_set_down(c.mc, 1);
  Delivery d;
  std::thread waiting([&] { d = h.deliver(sink, events(5, "stuck-")); });
  // The records are in librdkafka's queue when all five are counted produced.
  for (int i = 0; i < 500 && h.metric("kafka.records_produced") < 6; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(h.metric("kafka.records_produced") == 6);
  sink.stop();
  waiting.join();
  REQUIRE(d.events.size() == 5);
  for (const auto& e : d.events) {
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
    CHECK(e.reason.find("kafka: events: Local: Purged") == 0);
  }
  CHECK(h.logged("records not acknowledged after flush_timeout"));
  // Nothing of the sink calls the host after stop() returned.
  const size_t logs = h.logs().size(), states = h.states().size();
  const int64_t acked = h.metric("kafka.records_acknowledged");
  rd_kafka_mock_broker_set_up(c.mc, 1);
  std::this_thread::sleep_for(500ms);
  CHECK(h.logs().size() == logs);
  CHECK(h.states().size() == states);
  CHECK(h.metric("kafka.records_acknowledged") == acked);
  // And a batch after stop is answered at once.
  CHECK(h.deliver(sink, events(1, "after-")).code == SLUICE_DELIVERY_RETRY);
}

TEST_CASE("a fatal error: its records answered retry, a new producer delivers them") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c, R"(,"flush_timeout":"300ms")"));
  sink.start();
  REQUIRE(h.deliver(sink, events(1, "warm-")).code == SLUICE_DELIVERY_OK);
  // The idempotent producer cannot recover from a sequence desynchronization: fatal.
  rd_kafka_mock_push_request_errors(c.mc, 0 /* Produce */, 1,
                                    RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  std::vector<Event> three = events(3, "fatal-");
  for (auto& e : three)
    e.subject = three[0].subject;  // one partition, one request
  Delivery d = h.deliver(sink, three);
  REQUIRE(d.events.size() == 3);
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
  // The cause, logged and reported (the error comes through the poll thread: bounded wait).
  auto reported_down = [&] {
    for (const auto& s : h.states())
      if (s.state == SLUICE_STATE_DOWN &&
          s.detail.find("sequence desynchronization") != std::string::npos)
        return true;
    return false;
  };
  for (int i = 0; i < 200 && !reported_down(); ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(reported_down());
  CHECK(h.logged("sequence desynchronization"));
  // The core's retries (as deliver_until_ok makes them) reach the new producer.
  CHECK(deliver_until_ok(h, sink, three));
  CHECK(h.logged("producer recreated after a fatal error"));
  CHECK(h.metric("kafka.producers_recreated") == 1);
  CHECK(h.last_state() == SLUICE_STATE_UP);

  // Again, and stop() at once, while the producer is being replaced: bounded, and nothing of
  // the sink calls the host after it returned.
  rd_kafka_mock_push_request_errors(c.mc, 0, 1, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  CHECK(h.deliver(sink, three).code == SLUICE_DELIVERY_RETRY);
  const auto before = std::chrono::steady_clock::now();
  sink.stop();
  CHECK(std::chrono::steady_clock::now() - before < 2s);
  const size_t logs = h.logs().size(), states = h.states().size();
  std::this_thread::sleep_for(300ms);
  CHECK(h.logs().size() == logs);
  CHECK(h.states().size() == states);
  CHECK(h.deliver(sink, three).code == SLUICE_DELIVERY_RETRY);
  // Started again, it delivers (a new producer if the old one was not replaced yet).
  sink.start();
  CHECK(deliver_until_ok(h, sink, three));
}
