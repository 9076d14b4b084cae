// The hmc_stomp plugin end to end against the fake HMC (sdk/fakes/hmc): every fault the fake can
// inject, checked by exact sets of message-ids — nothing lost where the protocol can keep it,
// nothing duplicated — plus topic resolution through the WS API.
#include <doctest/doctest.h>

#include <sluice/fakes/hmc.hpp>
#include <sluice/testing.hpp>

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using nlohmann::json;
using sluice::testing::Harness;
namespace hmc = sluice::fakes::hmc;

namespace {

constexpr auto kWait = 60s;  // generous: sanitizer builds on a shared 2-core machine

struct Setup {
  explicit Setup(json scenario = json::object()) : fake(options(std::move(scenario))) {
    fake.start();
    ca = "/tmp/hmc_fake_test_ca_" + std::to_string(getpid()) + ".pem";
    fake.write_ca(ca);
    if (std::getenv("FAKE_HMC_LOG")) h.echo_logs(true);
  }
  ~Setup() { std::remove(ca.c_str()); }

  static hmc::Options options(json scenario) {
    hmc::Options o;
    o.record_ids = true;
    if (!scenario.contains("topics")) scenario["topics"] = {"static.topic"};
    o.scenario = std::move(scenario);
    if (!std::getenv("FAKE_HMC_LOG")) o.log = [](const std::string&) {};
    return o;
  }

  json plugin_options(json extra = json::object()) const {
    json o = {{"host", "127.0.0.1"},
              {"stomp_port", fake.stomp_port()},
              {"api_port", fake.api_port()},
              {"tls", {{"ca_file", ca}}},
              {"userid", "hmcuser"},
              {"password", "hmcpassword"},
              {"heartbeat", {{"send", 200}, {"receive", 200}}},
              {"reconnect", {{"initial", 20}, {"max", 300}, {"multiplier", 2}}},
              {"connect_timeout", "5s"}};
    if (!extra.contains("topics") && !extra.contains("topic_types") &&
        !extra.contains("os_message_channels"))
      o["topics"] = {"static.topic"};
    o.update(extra);
    return o;
  }

  sluice::testing::Instance& start(json extra = json::object()) {
    auto& inst = h.create(plugin_options(std::move(extra)).dump());
    inst.start();
    return inst;
  }

  // message-ids of the notification events (not sluice.*), and whether one came twice.
  std::multiset<std::string> received_ids() const {
    std::multiset<std::string> ids;
    for (const auto& e : h.events())
      if (e.type.rfind("sluice.", 0) != 0) ids.insert(e.id);
    return ids;
  }
  size_t count(const std::string& type) const {
    size_t n = 0;
    for (const auto& e : h.events())
      n += e.type == type;
    return n;
  }
  bool wait_notifications(size_t n) {
    return h.wait_until(
        [n](const std::vector<sluice::Event>& ev) {
          size_t k = 0;
          for (const auto& e : ev)
            k += e.type.rfind("sluice.", 0) != 0;
          return k >= n;
        },
        kWait);
  }
  bool wait_type(const std::string& type, size_t n = 1) {
    return h.wait_until(
        [&](const std::vector<sluice::Event>& ev) {
          size_t k = 0;
          for (const auto& e : ev)
            k += e.type == type;
          return k >= n;
        },
        kWait);
  }
  std::set<std::string> sent(size_t skip_index = SIZE_MAX) const {
    std::set<std::string> s;
    auto ids = fake.sent_message_ids();
    for (size_t i = 0; i < ids.size(); ++i)
      if (i != skip_index) s.insert(ids[i]);
    return s;
  }
  // Received ids equal the expected set, each exactly once.
  void check_exact(const std::set<std::string>& expected) const {
    auto got = received_ids();
    CHECK(got.size() == expected.size());  // no duplicate, none missing
    CHECK(std::set<std::string>(got.begin(), got.end()) == expected);
  }

  hmc::FakeHmc fake;
  Harness h{HMC_STOMP_SO};
  std::string ca;
};

hmc::Notification burst(uint64_t n, const std::string& topic = "static.topic",
                        const std::string& type = "status-change") {
  return hmc::Notification(topic, type, n);
}

}  // namespace

TEST_CASE("topics resolved by type through the WS API; each notification once") {
  Setup s;
  s.start({{"topic_types", {"object-notification", "job-notification"}}});
  REQUIRE(s.fake.await_subscribers(2, kWait));
  REQUIRE(s.h.wait_for_state(SLUICE_STATE_UP, kWait));
  s.fake.publish(burst(3, "object-notification", "property-change"));
  s.fake.publish(burst(2, "job-notification", "job-completion"));
  REQUIRE(s.wait_notifications(5));
  CHECK(s.count("hmc.property-change") == 3);
  CHECK(s.count("hmc.job-completion") == 2);
  s.check_exact(s.sent());
}

TEST_CASE("OS message channels by partition and LPAR name; 409 332 degrades, 409 331 is found") {
  json scenario = {
      {"cpcs",
       {{{"name", "CPC1"},
         {"dpm-enabled", true},
         {"partitions",
          {{{"name", "LINUX01"}},
           {{"name", "NOOSM01"}, {"os-messages", false}},
           {{"name", "OPEN01"}, {"open-on-logon", true}}}}},
        {{"name", "CPC2"}, {"dpm-enabled", false}, {"logical-partitions", {{{"name", "ZOS1"}}}}}}}};
  Setup s(scenario);
  s.start({{"os_message_channels",
            {{{"cpc", "CPC1"}, {"partition", "LINUX01"}},
             {{"cpc", "CPC1"}, {"partition", "NOOSM01"}},
             {{"cpc", "CPC1"}, {"partition", "OPEN01"}},
             {{"cpc", "CPC2"}, {"lpar", "ZOS1"}}}}});
  REQUIRE(s.fake.await_subscribers(3, kWait, "os-message-notification"));
  REQUIRE(s.h.wait_for_state(SLUICE_STATE_DEGRADED, kWait));
  CHECK(s.h.states().back().detail.find("NOOSM01") != std::string::npos);
  s.fake.publish(burst(2, "os-message-notification:LINUX01", "os-message"));
  s.fake.publish(burst(2, "os-message-notification:OPEN01", "os-message"));  // found after 331
  s.fake.publish(burst(2, "os-message-notification:ZOS1", "os-message"));
  REQUIRE(s.wait_notifications(6));
  CHECK(s.count("hmc.os-message") == 6);
  s.check_exact(s.sent());
  std::set<std::string> names;
  for (const auto& e : s.h.events())
    if (auto n = e.find_attribute("name")) names.insert(std::string(*n));
  CHECK(names == std::set<std::string>{"LINUX01", "OPEN01", "ZOS1"});
}

TEST_CASE("drop mid-frame: reconnect, re-subscribe; every whole frame delivered once") {
  Setup s;
  s.start();
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(100));
  REQUIRE(s.wait_notifications(100));
  s.fake.fault({{"fault", "drop-mid-frame"}});
  REQUIRE(s.wait_type("sluice.reconnected"));
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(100));
  REQUIRE(s.wait_notifications(200));
  CHECK(s.fake.stats().truncated == 1);
  s.check_exact(s.sent());  // the truncated frame is not among the sent ids
}

TEST_CASE("stop heart-beats: the silent connection is detected and replaced") {
  Setup s(json{{"stomp", {{"heart_beat", {100, 0}}}}});
  s.start({{"heartbeat", {{"send", 0}, {"receive", 200}}}});
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(10));
  REQUIRE(s.wait_notifications(10));
  s.fake.fault({{"fault", "stop-heartbeats"}});
  REQUIRE(s.wait_type("sluice.reconnected"));
  CHECK(s.h.metric("heartbeat_timeouts") >= 1);
  // The old silent connection may linger until the plugin closes it: wait for the new one.
  REQUIRE(s.h.wait_for_state(SLUICE_STATE_UP, kWait));
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(10));
  REQUIRE(s.wait_notifications(20));
  s.check_exact(s.sent());
}

TEST_CASE("ERROR frame: reported as sluice.error, the stream goes on after reconnect") {
  Setup s;
  s.start();
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(5));
  s.fake.fault({{"fault", "error-frame"}, {"message", "broker says no"}});
  REQUIRE(s.wait_type("sluice.error"));
  REQUIRE(s.wait_type("sluice.reconnected"));
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(5));
  REQUIRE(s.wait_notifications(10));
  s.check_exact(s.sent());
  bool named = false;
  for (const auto& e : s.h.events())
    if (e.type == "sluice.error" && e.data)
      named = json::parse(*e.data)["message"] == "broker says no";
  CHECK(named);
}

TEST_CASE("malformed JSON body: a sluice.parse-error with the raw text, the stream goes on") {
  Setup s;
  s.start();
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(3));
  s.fake.fault({{"fault", "malformed-json"}, {"text", "{not json"}});
  s.fake.publish(burst(3));
  REQUIRE(s.wait_type("sluice.parse-error"));
  REQUIRE(s.wait_notifications(6));
  const auto sent = s.fake.sent_message_ids();
  REQUIRE(sent.size() == 7);
  s.check_exact(s.sent(3));  // the fourth frame was the malformed one
  for (const auto& e : s.h.events())
    if (e.type == "sluice.parse-error") {
      CHECK(e.id == sent[3]);
      CHECK(json::parse(*e.data)["raw"] == "{not json");
    }
  CHECK(s.count("sluice.reconnected") == 0);
}

TEST_CASE("frame over max_frame_bytes: counted, connection replaced, nothing else lost") {
  Setup s;
  s.start({{"max_frame_bytes", "64KiB"}});
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(10));
  REQUIRE(s.wait_notifications(10));
  s.fake.fault({{"fault", "oversized-frame"}, {"size", "1MiB"}});
  REQUIRE(s.wait_type("sluice.reconnected"));
  CHECK(s.h.metric("frame_errors") == 1);
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(10));
  REQUIRE(s.wait_notifications(20));
  s.check_exact(s.sent(10));  // the eleventh frame was the oversized one
}

TEST_CASE("refused logon: state down with the broker's message, then up after retries") {
  Setup s;
  s.fake.fault({{"fault", "refuse-logon"}, {"where", "stomp"}, {"count", 2}});
  REQUIRE(s.fake.wait_idle(kWait));
  s.start();
  REQUIRE(s.h.wait_for_state(SLUICE_STATE_UP, kWait));
  CHECK(s.fake.stats().stomp_refused == 2);
  bool saw_down = false;
  for (const auto& st : s.h.states())
    saw_down = saw_down || (st.state == SLUICE_STATE_DOWN &&
                            st.detail.find("refuse-logon") != std::string::npos);
  CHECK(saw_down);
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(5));
  REQUIRE(s.wait_notifications(5));
  s.check_exact(s.sent());
}

TEST_CASE("expired API session: log on again, resolve the new topic, subscribe it") {
  Setup s;
  s.start({{"topic_types", {"object-notification"}}});
  REQUIRE(s.fake.await_subscribers(1, kWait, "object-notification"));
  s.fake.publish(burst(5, "object-notification"));
  REQUIRE(s.wait_notifications(5));
  s.fake.fault({{"fault", "expire-session"}});
  REQUIRE(s.wait_type("sluice.reconnected"));
  REQUIRE(s.fake.await_subscribers(1, kWait, "object-notification"));
  CHECK(s.fake.stats().api_logons == 2);
  s.fake.publish(burst(5, "object-notification"));
  REQUIRE(s.wait_notifications(10));
  s.check_exact(s.sent());
  std::set<std::string> destinations;
  for (const auto& e : s.h.events())
    if (auto d = e.find_attribute("destination")) destinations.insert(std::string(*d));
  CHECK(destinations == std::set<std::string>{"/topic/hmcuser.100", "/topic/hmcuser.101"});
}

TEST_CASE("skipped sequence numbers: one sluice.gap with the count missed") {
  Setup s;
  s.start();
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(5));
  s.fake.fault({{"fault", "skip-sequence"}, {"count", 3}});
  s.fake.publish(burst(5));
  REQUIRE(s.wait_notifications(10));
  REQUIRE(s.wait_type("sluice.gap"));
  CHECK(s.count("sluice.gap") == 1);
  for (const auto& e : s.h.events())
    if (e.type == "sluice.gap") {
      json d = json::parse(*e.data);
      CHECK(d["expected"] == 6);
      CHECK(d["received"] == 9);
      CHECK(d["missed"] == 3);
      CHECK(d["stream"] == "/topic/static.topic");
      CHECK(d["from"].is_null());  // inside a working connection: no outage window
    }
  CHECK(s.h.metric("missed_notifications") == 3);
  s.check_exact(s.sent());
}

TEST_CASE("slow reader / back-pressure: a blocked host stalls the fake, nothing is lost") {
  Setup s;
  s.start({{"heartbeat", {{"send", 0}, {"receive", 0}}}});
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.h.block_emit(true);
  s.fake.fault({{"fault", "slow-reader"}, {"duration", "500ms"}});
  s.fake.publish(burst(20000));
  // 20000 frames (~12 MB) do not fit in socket buffers: with the plugin not reading, the fake
  // still has frames queued a second later instead of having handed them all over.
  CHECK(!s.fake.wait_idle(1s));
  s.h.block_emit(false);
  REQUIRE(s.wait_notifications(20000));
  REQUIRE(s.fake.wait_idle(kWait));
  s.check_exact(s.sent());
  CHECK(s.count("sluice.reconnected") == 0);
}

TEST_CASE("broker restart: stop and start the fake on the same ports, nothing lost around it") {
  Setup s;
  s.start();
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(50));
  REQUIRE(s.wait_notifications(50));
  REQUIRE(s.fake.wait_idle(kWait));
  s.fake.stop();
  s.fake.start();
  REQUIRE(s.wait_type("sluice.reconnected"));
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(50));
  REQUIRE(s.wait_notifications(100));
  s.check_exact(s.sent());
}

TEST_CASE("broker restart: what was published during the outage is one sluice.gap, exact count") {
  Setup s;
  s.start();
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(50));
  REQUIRE(s.wait_notifications(50));
  REQUIRE(s.fake.wait_idle(kWait));
  s.fake.stop();
  // Queued while the broker is down: at start() the fake runs its queue before it accepts a
  // connection, so nobody is subscribed and the 850 are lost (numbered, never delivered).
  s.fake.publish(burst(850));
  s.fake.start();
  REQUIRE(s.wait_type("sluice.reconnected"));
  REQUIRE(s.fake.await_subscribers(1, kWait));
  s.fake.publish(burst(5));
  REQUIRE(s.wait_notifications(55));
  REQUIRE(s.wait_type("sluice.gap"));
  CHECK(s.fake.stats().no_subscriber == 850);
  CHECK(s.count("sluice.gap") == 1);
  for (const auto& e : s.h.events())
    if (e.type == "sluice.gap") {
      json d = json::parse(*e.data);
      CHECK(d["missed"] == 850);
      CHECK(d["expected"] == 51);
      CHECK(d["received"] == 901);
      CHECK(d["stream"] == "/topic/static.topic");
      CHECK(d["from"].is_string());  // the outage window
      CHECK(d["to"].is_string());
      CHECK(d["from"].get<std::string>() <= d["to"].get<std::string>());
    }
  CHECK(s.h.metric("missed_notifications") == 850);
  s.check_exact(s.sent());
}

TEST_CASE("new WS API session after an outage: a sluice.gap of unknown size with the window") {
  Setup s;
  s.start({{"topic_types", {"object-notification"}}});
  REQUIRE(s.fake.await_subscribers(1, kWait, "object-notification"));
  s.fake.publish(burst(5, "object-notification"));
  REQUIRE(s.wait_notifications(5));
  s.fake.fault({{"fault", "expire-session"}});
  REQUIRE(s.wait_type("sluice.reconnected"));
  REQUIRE(s.wait_type("sluice.gap"));
  REQUIRE(s.fake.await_subscribers(1, kWait, "object-notification"));
  s.fake.publish(burst(5, "object-notification"));
  REQUIRE(s.wait_notifications(10));
  // The new session's topic numbers from 1: no second (bogus) gap from the old numbering.
  CHECK(s.count("sluice.gap") == 1);
  for (const auto& e : s.h.events())
    if (e.type == "sluice.gap") {
      json d = json::parse(*e.data);
      CHECK(d["missed"].is_null());
      CHECK(d["stream"].is_null());
      CHECK(d["from"].is_string());
      CHECK(d["to"].is_string());
      CHECK(d["reason"].get<std::string>().find("new WS API session") != std::string::npos);
    }
  s.check_exact(s.sent());
}

TEST_CASE("reconnected and error events: one shape, ids that differ from one run to the next") {
  std::vector<std::string> ids;
  for (int run = 0; run < 2; ++run) {
    Setup s;
    s.start();
    REQUIRE(s.fake.await_subscribers(1, kWait));
    s.fake.fault({{"fault", "error-frame"}, {"message", "broker says no"}});
    REQUIRE(s.wait_type("sluice.reconnected"));
    for (const auto& e : s.h.events()) {
      if (e.type == "sluice.error") {
        ids.push_back(e.id);
        json d = json::parse(*e.data);
        CHECK(d["message"] == "broker says no");
        CHECK(d.contains("stream"));
        CHECK(d.contains("detail"));
      }
      if (e.type == "sluice.reconnected") {
        ids.push_back(e.id);
        json d = json::parse(*e.data);
        CHECK(d["reconnects"] == 1);
        CHECK(d["attempts"] >= 1);
        CHECK(d["reason"].get<std::string>().find("broker says no") != std::string::npos);
        CHECK(d["from"].is_string());
        CHECK(d["to"].is_string());
        CHECK(d["resubscribed"] == json{"static.topic"});
      }
    }
  }
  // Two runs (a restart): the first error and reconnected events must not share their ids.
  REQUIRE(ids.size() == 4);
  CHECK(ids[0] != ids[2]);
  CHECK(ids[1] != ids[3]);
}
