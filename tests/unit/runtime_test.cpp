// The runtime with built-in test plugins: event conversion on emit, routing, batching, retries,
// dead letters, queue policies with the accounting identity, back-pressure, shutdown drain.
#include <doctest/doctest.h>

#include "runtime_fixture.hpp"

#include <sluice/event.hpp>

#include <atomic>
#include <thread>

using namespace fixture;
using sluice::core::QueuePolicy;
using sluice::core::Runtime;
using sluice_test::ScriptedSink;

namespace {

// The events the scripted sink got in batches it answered OK, in order.
std::vector<std::string> delivered_ids() {
  std::lock_guard lock(ScriptedSink::mutex());
  std::vector<std::string> ids;
  for (const auto& c : ScriptedSink::calls())
    if (c.answer == "ok") ids.insert(ids.end(), c.ids.begin(), c.ids.end());
  return ids;
}

// A sink that keeps copies of what it was given, to look at the events themselves.
struct Capture {
  static std::mutex& m() {
    static std::mutex x;
    return x;
  }
  static std::vector<sluice::Event>& events() {
    static std::vector<sluice::Event> e;
    return e;
  }
};
class CaptureSink : public sluice::Sink {
 public:
  CaptureSink(sluice::Host host, const nlohmann::json&) : sluice::Sink(host) {}
  sluice::Delivery deliver(const sluice::Batch& b) override {
    std::lock_guard lock(Capture::m());
    for (size_t i = 0; i < b.size(); ++i)
      Capture::events().push_back(sluice::Event::copy_of(b.events()[i]));
    return sluice::Delivery::ok();
  }
};
const sluice_plugin_descriptor* capture_descriptor() {
  static const sluice_plugin_descriptor d = sluice::detail::Adapter<CaptureSink>::make(
      "capture", "1.0.0", "keeps what it is given", R"({"type":"object"})");
  return &d;
}
std::vector<sluice::Event> captured() {
  std::lock_guard lock(Capture::m());
  return Capture::events();
}

sluice::core::SinkConfig capture_sink(const std::string& name) {
  auto s = sink(name);
  s.plugin = "capture";
  return s;
}

struct Setup {
  Setup() {
    ScriptedSink::reset();
    {
      std::lock_guard lock(Capture::m());
      Capture::events().clear();
    }
    static bool once = [] {
      host().add_builtin(capture_descriptor());
      return true;
    }();
    (void)once;
  }
};

}  // namespace

TEST_CASE("emit: time stamped when 0, sluice-source set (replacing one the plugin gave)") {
  Setup setup;
  CapturedLog log;
  Runtime rt(simple(capture_sink("out")), host(), log.logger);
  rt.start();
  auto evs = events(2);
  evs[0].attribute("sluice-source", "forged").attribute("k", "v");
  evs[1].time_unix_ns = 1234;
  REQUIRE(emit(evs));
  REQUIRE(eventually([] { return captured().size() == 2; }));
  rt.stop();
  auto got = captured();
  CHECK(got[0].time_unix_ns > 1600000000000000000LL);  // receipt time
  CHECK(got[1].time_unix_ns == 1234);                  // the origin's time is kept
  REQUIRE(got[0].attributes.size() == 2);
  CHECK(got[0].attributes[0] == std::make_pair(std::string("k"), std::string("v")));
  CHECK(got[0].attributes[1] == std::make_pair(std::string("sluice-source"), std::string("in")));
  CHECK(*got[0].data == "{\"n\":1}");
}

TEST_CASE("emit: data that is not JSON becomes sluice.parse-error carrying the raw text") {
  Setup setup;
  CapturedLog log;
  Runtime rt(simple(capture_sink("out")), host(), log.logger);
  rt.start();
  auto evs = events(1);
  evs[0].type = "hmc.os-message";
  evs[0].data = "not {json\n\xff";
  REQUIRE(emit(evs));
  REQUIRE(eventually([] { return captured().size() == 1; }));
  rt.stop();
  auto e = captured()[0];
  CHECK(e.type == "sluice.parse-error");
  CHECK(e.id == "1");
  // The shape every sluice.parse-error has (framework_events.hpp): {"error", "raw"}; bad UTF-8
  // in the raw text became U+FFFD.
  CHECK(*e.data == "{\"error\":\"data is not valid JSON\",\"raw\":\"not {json\\n\xEF\xBF\xBD\"}");
  CHECK(e.find_attribute("sluice-original-type") == "hmc.os-message");
  CHECK(e.find_attribute("sluice-error") == "data is not valid JSON");
  CHECK(e.find_attribute("sluice-source") == "in");
  CHECK(rt.metrics().sources[0].parse_errors == 1);
}

TEST_CASE("emit: null data stays null; empty-object data passes") {
  Setup setup;
  CapturedLog log;
  Runtime rt(simple(capture_sink("out")), host(), log.logger);
  rt.start();
  auto evs = events(2);
  evs[0].data.reset();
  evs[1].data = " {} ";
  REQUIRE(emit(evs));
  REQUIRE(eventually([] { return captured().size() == 2; }));
  rt.stop();
  CHECK_FALSE(captured()[0].data.has_value());
  CHECK(captured()[1].type == "test.event");
}

TEST_CASE("emit: an event without id is a contract violation, counted, logged once, converted") {
  Setup setup;
  CapturedLog log;
  Runtime rt(simple(capture_sink("out")), host(), log.logger);
  rt.start();
  std::vector<sluice_event> raw(3);
  for (auto& r : raw) {
    r.struct_size = sizeof r;
    r.source = sluice::to_str("test://x");
    r.type = sluice::to_str("test.event");
  }
  CHECK(sluice_test::CountingSource::last_host().emit(raw.data(), raw.size()));
  REQUIRE(eventually([] { return captured().size() == 3; }));
  rt.stop();
  auto m = rt.metrics().sources[0];
  CHECK(m.contract_violations == 3);
  CHECK(m.parse_errors == 3);
  CHECK(captured()[0].type == "sluice.parse-error");
  const std::string id0 = captured()[0].id;
  CHECK(id0.rfind("sluice-in-", 0) == 0);
  CHECK(id0.size() > std::string("sluice-in-1").size());  // a random token in the middle
  CHECK(captured()[1].id != id0);
  REQUIRE(captured()[0].data);
  CHECK(*captured()[0].data ==
        R"x({"error":"event without id (plugin contract violation)","raw":""})x");
  CHECK(captured()[0].find_attribute("sluice-error") ==
        "event without id (plugin contract violation)");
  int lines = 0;
  for (const auto& l : log.lines)
    if (l.find("event without id") != std::string::npos) ++lines;
  CHECK(lines == 1);  // rate-limited: three violations within a second, one line
}

TEST_CASE("emit: ids the core makes up differ from one run (runtime) to the next") {
  // A receiver that de-duplicates by id (the webhook's Idempotency-Key) must not take the first
  // made-up id of a restarted daemon for one it has seen.
  std::vector<std::string> ids;
  for (int run = 0; run < 2; ++run) {
    Setup setup;
    CapturedLog log;
    Runtime rt(simple(capture_sink("out")), host(), log.logger);
    rt.start();
    sluice_event raw{};
    raw.struct_size = sizeof raw;
    raw.source = sluice::to_str("test://x");
    raw.type = sluice::to_str("test.event");
    CHECK(sluice_test::CountingSource::last_host().emit(&raw, 1));
    REQUIRE(eventually([] { return captured().size() == 1; }));
    rt.stop();
    ids.push_back(captured()[0].id);
  }
  CHECK(ids[0] != ids[1]);
}

TEST_CASE("routes: type, subject and attribute globs pick the sink; unmatched are counted") {
  Setup setup;
  CapturedLog log;
  auto p = simple(capture_sink("out"));
  p.routes[0].filter.types = {"hmc.*"};
  p.routes[0].filter.subjects = {"/api/lpar/[0-9]*"};
  p.routes[0].filter.attributes["class"] = {"logical-partition", "partition"};
  Runtime rt(p, host(), log.logger);
  rt.start();
  auto evs = events(5);
  for (auto& e : evs) {
    e.type = "hmc.os-message";
    e.subject = "/api/lpar/42";
    e.attribute("class", "partition");
  }
  evs[1].type = "ldm.domain.start-domain";  // type does not match
  evs[2].subject = "/api/cpc/1";            // subject does not match
  evs[3].attributes.clear();                // attribute missing
  evs[4].subject.reset();                   // no subject at all
  evs.push_back(events(1, 6)[0]);
  evs.back().type = "hmc.status-change";
  evs.back().subject = "/api/lpar/7";
  evs.back().attribute("class", "logical-partition");
  REQUIRE(emit(evs));
  REQUIRE(eventually([] { return captured().size() == 2; }));
  rt.stop();
  CHECK(captured()[0].id == "1");
  CHECK(captured()[1].id == "6");
  CHECK(rt.metrics().sources[0].unrouted == 4);
}

TEST_CASE("routes: data pointers, regex, numbers, all/any/not decide which sinks get what") {
  Setup setup;
  CapturedLog log;
  auto p = simple(capture_sink("out"));
  p.sinks.push_back(sink("second"));
  p.routes[0].filter.spec = nlohmann::json::parse(R"({
    "data": {"/os-messages/0/message-id": {"regex": "^IEA"}},
    "not": {"attributes": {"name": "TEST*"}}})");
  p.routes.push_back(route({"in"}, {"second"}));
  p.routes[1].filter.spec = nlohmann::json::parse(R"({
    "any": [{"type": "ldm.*"}, {"data": {"/severity": {"ge": 5}}}]})");
  Runtime rt(p, host(), log.logger);
  rt.start();
  auto evs = events(5);
  const char* data[] = {
      R"({"os-messages": [{"message-id": "IEA611I"}], "severity": 1})",  // 1: out
      R"({"os-messages": [{"message-id": "IEE043I"}], "severity": 5})",  // 2: second
      R"({})",                                                           // 3: second (ldm.*)
      R"({"os-messages": [{"message-id": "IEA611I"}], "severity": 1})",  // 4: TEST1: none
      R"({"os-messages": [{"message-id": "IEA000I"}], "severity": 7})",  // 5: both
  };
  for (size_t i = 0; i < evs.size(); ++i) {
    evs[i].type = "hmc.os-message";
    evs[i].data = data[i];
    evs[i].attribute("name", "PROD1");
  }
  evs[2].type = "ldm.domain.start-domain";
  evs[3].attributes[0].second = "TEST1";
  REQUIRE(emit(evs));
  REQUIRE(eventually([] { return captured().size() == 2 && delivered_ids().size() == 3; }));
  rt.stop();
  CHECK(captured()[0].id == "1");
  CHECK(captured()[1].id == "5");
  CHECK(delivered_ids() == std::vector<std::string>{"2", "3", "5"});
  CHECK(rt.metrics().sources[0].unrouted == 1);
}

TEST_CASE("routes: a sink named by two matching routes gets the event once; fan-out to two") {
  Setup setup;
  CapturedLog log;
  auto p = simple(capture_sink("out"));
  p.sinks.push_back(sink("second"));
  p.routes.push_back(route({"in"}, {"out", "second"}));
  Runtime rt(p, host(), log.logger);
  rt.start();
  REQUIRE(emit(events(3)));
  REQUIRE(eventually([] { return captured().size() == 3 && delivered_ids().size() == 3; }));
  rt.stop();
  auto m = rt.metrics();
  CHECK(sink_metrics(m, "out").received == 3);
  CHECK(sink_metrics(m, "second").received == 3);
  CHECK(captured().size() == 3);
}

TEST_CASE("batching: max_events splits a burst; the remainder goes after max_delay") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.batch.max_events = 10;
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(25)));
  REQUIRE(eventually([] { return delivered_ids().size() == 25; }));
  rt.stop();
  std::vector<size_t> sizes;
  for (const auto& c : calls())
    sizes.push_back(c.ids.size());
  CHECK(sizes == std::vector<size_t>{10, 10, 5});
  CHECK(delivered_ids().front() == "1");
  CHECK(delivered_ids().back() == "25");
}

TEST_CASE("batching: max_bytes closes a batch early") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.batch.max_events = 100;
  s.batch.max_bytes = 1;  // every event is bigger: one event per batch
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(3)));
  REQUIRE(eventually([] { return delivered_ids().size() == 3; }));
  rt.stop();
  CHECK(calls().size() == 3);
}

TEST_CASE("retry: RETRY answers are retried with the same batch and a growing attempt") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out", {{"answers", {"retry", "retry:1", "ok"}}});
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(2)));
  REQUIRE(eventually([] { return delivered_ids().size() == 2; }));
  rt.stop();
  auto c = calls();
  REQUIRE(c.size() == 3);
  CHECK(c[0].attempt == 1);
  CHECK(c[1].attempt == 2);
  CHECK(c[2].attempt == 3);
  CHECK(c[0].batch_id == c[2].batch_id);
  CHECK(c[2].ids == std::vector<std::string>{"1", "2"});
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.retries == 2);
  CHECK(m.delivered == 2);
  CHECK(m.balanced());
}

TEST_CASE("retry: out of attempts goes to the dead-letter hook with the reason") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out", {{"then", "retry"}});
  s.retry.max_attempts = 3;
  s.dead_letter.path = "dlq.jsonl";
  RecordingDeadLetter dlq;
  auto entries = dlq.entries;
  sluice::core::RuntimeOptions o;
  o.dead_letter_factory = [&](const sluice::core::SinkConfig&) {
    return std::make_unique<RecordingDeadLetter>(dlq);
  };
  Runtime rt(simple(s), host(), log.logger, o);
  rt.start();
  REQUIRE(emit(events(4)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").dead_lettered == 4; }));
  rt.stop();
  REQUIRE(entries->size() == 1);
  CHECK((*entries)[0].ids.size() == 4);
  CHECK((*entries)[0].attempts == 3);
  CHECK((*entries)[0].status == 503);
  CHECK((*entries)[0].reason == "gave up after 3 attempt(s): scripted retry");
  CHECK((*entries)[0].sink == "out");
  CHECK(calls().size() == 3);
  CHECK(sink_metrics(rt.metrics(), "out").balanced());
}

TEST_CASE("reject: without a dead-letter file the events are logged and dropped_rejected") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out", {{"answers", {"reject"}}});
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(3)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").dropped_rejected == 3; }));
  REQUIRE(emit(events(1, 4)));
  REQUIRE(eventually([] { return delivered_ids().size() == 1; }));
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered == 1);
  CHECK(m.balanced());
  CHECK(
      log.contains("dropped 3 events after 1 attempt(s): rejected: scripted reject (status 400)"));
}

// A stuck sink (gate closed) holds one batch; the queue of 5 fills; the policy decides.
TEST_CASE("queue drop_newest: a full queue drops the new events, counted; identity holds") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.queue.max_events = 5;
  s.queue.policy = QueuePolicy::drop_newest;
  s.batch.max_events = 1;
  ScriptedSink::set_gate(true);
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 1; }));
  REQUIRE(emit(events(19, 2)));
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 20);
  CHECK(m.queued == 5);
  CHECK(m.dropped_newest == 14);
  CHECK(m.balanced());
  ScriptedSink::set_gate(false);
  REQUIRE(eventually([] { return delivered_ids().size() == 6; }));
  rt.stop();
  CHECK(delivered_ids() == std::vector<std::string>{"1", "2", "3", "4", "5", "6"});
  m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered == 6);
  CHECK(m.balanced());
  CHECK(log.contains("policy drop_newest: dropped"));
}

TEST_CASE("queue drop_oldest: a full queue evicts the oldest, counted; identity holds") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.queue.max_events = 5;
  s.queue.policy = QueuePolicy::drop_oldest;
  s.batch.max_events = 1;
  ScriptedSink::set_gate(true);
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 1; }));
  REQUIRE(emit(events(19, 2)));
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.dropped_oldest == 14);
  CHECK(m.balanced());
  ScriptedSink::set_gate(false);
  REQUIRE(eventually([] { return delivered_ids().size() == 6; }));
  rt.stop();
  CHECK(delivered_ids() == std::vector<std::string>{"1", "16", "17", "18", "19", "20"});
  CHECK(sink_metrics(rt.metrics(), "out").balanced());
}

TEST_CASE("queue block: a full queue makes emit wait (back-pressure) and loses nothing") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.queue.max_events = 5;
  s.queue.policy = QueuePolicy::block;
  s.batch.max_events = 1;
  ScriptedSink::set_gate(true);
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(1)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 1; }));
  std::atomic<bool> returned{false};
  std::thread emitter([&] {
    emit(events(19, 2));
    returned = true;
  });
  // The queue fills to its bound; the emitter cannot finish while the sink is stuck.
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").queued == 5; }));
  CHECK_FALSE(returned.load());
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.dropped() == 0);
  ScriptedSink::set_gate(false);
  emitter.join();
  CHECK(returned.load());
  REQUIRE(eventually([] { return delivered_ids().size() == 20; }));
  rt.stop();
  m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered == 20);
  CHECK(m.dropped() == 0);
  CHECK(m.balanced());
}

TEST_CASE("accounting: the identity holds under every policy with a slow async sink") {
  for (auto policy : {QueuePolicy::block, QueuePolicy::drop_newest, QueuePolicy::drop_oldest}) {
    CAPTURE(static_cast<int>(policy));
    Setup setup;
    CapturedLog log;
    auto s = sink("out", {{"delay_ms", 1},
                          {"async", true},
                          {"max_in_flight", 2},
                          {"answers", {"retry", "ok", "reject"}}});
    s.queue.max_events = 20;
    s.queue.policy = policy;
    s.batch.max_events = 7;
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
    CHECK(m.delivered + m.dropped() == 300);
    if (policy == QueuePolicy::block) CHECK(m.dropped() == m.dropped_rejected);
  }
}

TEST_CASE("shutdown: stop drains the queue within drain_timeout") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out", {{"delay_ms", 1}});
  s.batch.max_events = 10;
  s.batch.max_delay = std::chrono::seconds(60);  // only the drain flushes the partial batch
  Runtime rt(simple(s), host(), log.logger);
  rt.start();
  REQUIRE(emit(events(105)));
  rt.stop();
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.delivered == 105);
  CHECK(m.dropped_shutdown == 0);
  CHECK(m.balanced());
  CHECK(log.contains("stopped; accounting:"));
}

TEST_CASE("shutdown: what a stuck sink still holds at the deadline is counted and logged") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.batch.max_events = 2;
  auto p = simple(s);
  p.drain_timeout = std::chrono::milliseconds(50);
  ScriptedSink::set_gate(true);
  Runtime rt(p, host(), log.logger);
  rt.start();
  REQUIRE(emit(events(6)));
  REQUIRE(eventually([&] { return sink_metrics(rt.metrics(), "out").in_flight == 2; }));
  rt.stop();  // the sink stays stuck until its stop() releases it
  auto m = sink_metrics(rt.metrics(), "out");
  CHECK(m.received == 6);
  CHECK(m.balanced());
  CHECK(m.queued == 0);
  CHECK(m.in_flight == 0);
  CHECK(m.dropped_shutdown + m.delivered == 6);
  CHECK(m.dropped_shutdown >= 4);
  CHECK(log.contains("events undelivered"));
}

TEST_CASE("logging: a plugin's log lines carry its instance name and are redacted") {
  Setup setup;
  CapturedLog log;
  log.logger.set_secrets({"hunter2"});
  auto p = simple(sink("out"));
  p.sources[0].options = {{"log", "connecting with password hunter2"}};
  Runtime rt(p, host(), log.logger);
  rt.start();
  rt.stop();
  CHECK(log.contains("[in] connecting with password ***"));
  CHECK(log.all().find("hunter2") == std::string::npos);
}

TEST_CASE("metrics: plugin counters are namespaced by instance; states are kept") {
  Setup setup;
  CapturedLog log;
  auto p = simple(sink("out"));
  p.sources[0].options = {{"count", 3}};
  Runtime rt(p, host(), log.logger);
  rt.start();
  REQUIRE(eventually([] { return delivered_ids().size() == 3; }));
  rt.stop();
  auto m = rt.metrics();
  CHECK(m.plugin["out.events"] == 3);
  CHECK(m.sources[0].state == "up");
  CHECK(m.sources[0].emitted == 3);
  CHECK(m.flat()["sink.out.delivered"] == 3);
  CHECK(log.contains("[in] state: up (counting)"));
}

TEST_CASE("start: a spool policy is refused until a spool queue is plugged in") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.queue.policy = QueuePolicy::spool;
  Runtime rt(simple(s), host(), log.logger);
  CHECK_THROWS_WITH(rt.start(),
                    "sink 'out': queue policy 'spool' is not available in this build yet; use "
                    "block, drop_newest or drop_oldest");
}

TEST_CASE("start: a failing create names the instance and the plugin's reason") {
  Setup setup;
  CapturedLog log;
  Runtime rt(simple(sink("out", {{"fail_create", true}})), host(), log.logger);
  CHECK_THROWS_WITH(rt.start(),
                    "sink 'out' (plugin scripted): create failed: told to fail in create");
}

TEST_CASE("start: a source plugin used as a sink is refused") {
  Setup setup;
  CapturedLog log;
  auto s = sink("out");
  s.plugin = "counting";
  Runtime rt(simple(s), host(), log.logger);
  CHECK_THROWS_WITH(rt.start(), "sink 'out': plugin 'counting' is a source, not a sink");
}

TEST_CASE("emit after stop is refused and counted") {
  Setup setup;
  CapturedLog log;
  Runtime rt(simple(sink("out")), host(), log.logger);
  rt.start();
  sluice::Host h = sluice_test::CountingSource::last_host();
  rt.stop();
  CHECK_FALSE(h.emit(events(2)));
  CHECK(rt.metrics().sources[0].refused == 2);
}
