// Topics from the Web Services API with STOMP, both served by the fake HMC (sdk/fakes/hmc):
// topic types, OS message channels by partition name (409 reasons 331 and 332), MFA login,
// re-logon and re-resolution when the session is gone, logoff on stop, refused logon.
#include "fake_peer.hpp"

#include <sluice/testing.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <string>

using nlohmann::json;
using sluice::testing::Harness;
namespace hmc = sluice::fakes::hmc;

namespace {

using test::wait_until;

// The fake's world for these tests: user sysprog (with an MFA code when `mfa`), CPC1 with
// partitions LINUX1 (p1), LINUX2 (p2, its OS message channel open in every new session, so
// opening it answers 409 reason 331) and OLDOS (p3, no OS messages: 409 reason 332), and two
// static topics. Sessions are numbered from 100: topics sysprog.100, sysprog.100aud,
// sysprog.100osm.p1, ...
nlohmann::json scenario(bool mfa) {
  json user = {{"userid", "sysprog"}, {"password", "secret"}};
  if (mfa) user["mfa_code"] = "123456";
  return {{"users", {user}},
          {"cpcs",
           {{{"name", "CPC1"},
             {"object-id", "c1"},
             {"partitions",
              {{{"name", "LINUX1"}, {"object-id", "p1"}},
               {{"name", "LINUX2"}, {"object-id", "p2"}, {"open-on-logon", true}},
               {{"name", "OLDOS"}, {"object-id", "p3"}, {"os-messages", false}}}}}}},
          {"topics", {"fixed", "explicit.topic"}},
          {"stomp", {{"heart_beat", {0, 0}}}}};
}

struct Peers : test::FakeHmcPeer {
  explicit Peers(bool mfa = false) : FakeHmcPeer(scenario(mfa), "wsapi") {}
  bool wait_live_subscriptions(uint64_t n) const {
    return wait_until([&] { return fake.stats().subscriptions == n; });
  }
  bool wait_connections(uint64_t n) const {
    return wait_until([&] { return fake.stats().stomp_accepted >= n; });
  }
};

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("topic_types are resolved through get-notification-topics") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  json o = p.options();
  o["topic_types"] = {"object-notification", "audit-notification"};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.wait_live_subscriptions(2));
  CHECK(sorted(p.fake.subscribed(1)) ==
        std::vector<std::string>{"/topic/sysprog.100", "/topic/sysprog.100aud"});
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  auto calls = p.fake.api_calls();
  auto sessions = p.fake.api_sessions();
  REQUIRE(sessions.size() == 1);
  REQUIRE(calls.size() >= 2);
  CHECK(calls[0].method == "POST");
  CHECK(calls[0].target == "/api/sessions");
  CHECK(calls[0].body == json{{"userid", "sysprog"}, {"password", "secret"}});
  CHECK(calls[1].target == "/api/sessions/operations/get-notification-topics");
  CHECK(calls[1].session == sessions[0].id);
  // STOMP login without mfa: userid and password.
  auto frames = p.fake.received_frames();
  CHECK(*frames[0].header("login") == "sysprog");
  CHECK(*frames[0].header("passcode") == "secret");
  inst.stop();
  CHECK(p.count("DELETE", "/api/sessions/this-session") == 1);
}

TEST_CASE("OS message channels by partition name: opened, 331 found by object-uri, 332 reported") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  json o = p.options();
  o["os_message_channels"] = {{{"cpc", "CPC1"}, {"partition", "LINUX1"}},
                              {{"cpc", "CPC1"}, {"partition", "LINUX2"}},
                              {{"cpc", "CPC1"}, {"partition", "OLDOS"}},
                              {{"cpc", "CPC1"}, {"partition", "NOSUCH"}}};
  o["include_refresh_messages"] = true;
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.wait_live_subscriptions(2));
  CHECK(sorted(p.fake.subscribed(1)) ==
        std::vector<std::string>{"/topic/sysprog.100osm.p1", "/topic/sysprog.100osm.p2"});
  REQUIRE(h.wait_for_state(SLUICE_STATE_DEGRADED));
  const std::string detail = h.states().back().detail;
  CHECK(detail.find("channel CPC1/partition OLDOS: the operating system does not support OS "
                    "message channels (HTTP 409 reason 332)") != std::string::npos);
  CHECK(detail.find("channel CPC1/partition NOSUCH: partition 'NOSUCH' not found on CPC 'CPC1'") !=
        std::string::npos);
  bool open_body_ok = false;
  for (const auto& c : p.fake.api_calls())
    if (c.target == "/api/partitions/p1/operations/open-os-message-channel")
      open_body_ok = c.body == json{{"include-refresh-messages", true}};
  CHECK(open_body_ok);
  REQUIRE(h.wait_until([](const auto& ev) {
    return std::count_if(ev.begin(), ev.end(),
                         [](const auto& e) { return e.type == "sluice.error"; }) == 2;
  }));
  p.fake.publish(test::notification("sysprog.100osm.p1", 1, "os1",
                                    R"({"os-messages":[{"message-text":"hello"}]})", "os-message"));
  REQUIRE(h.wait_until([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(), [](const auto& e) { return e.id == "os1"; });
  }));
}

TEST_CASE("mfa: STOMP login is the session id and credential; mfa_code_file read at logon") {
  Peers p(true);
  Harness h(HMC_STOMP_SO);
  const std::string code_file = p.ca_file + ".mfa";
  std::ofstream(code_file) << "123456\n";
  json o = p.options();
  o["mfa"] = true;
  o["mfa_code_file"] = code_file;
  o["topics"] = {"explicit.topic"};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.wait_live_subscriptions(1));
  auto frames = p.fake.received_frames();
  auto sessions = p.fake.api_sessions();
  REQUIRE(sessions.size() == 1);
  CHECK(*frames[0].header("login") == sessions[0].id);
  CHECK(*frames[0].header("passcode") == sessions[0].credential);
  CHECK(p.fake.api_calls()[0].body ==
        json{{"userid", "sysprog"}, {"password", "secret"}, {"mfa-code", "123456"}});
  CHECK(p.fake.subscribed(1) == std::vector<std::string>{"/topic/explicit.topic"});
}

TEST_CASE("mfa: the session id and credential never appear in a log line, a state or an event") {
  // The broker refuses the STOMP logon and echoes the login, as ActiveMQ does: "User name
  // [<login>] or password is invalid." With mfa the login is the WS API session id, which works
  // as X-API-Session for anyone who reads it.
  Peers p(true);
  p.fake.fault({{"fault", "refuse-logon"},
                {"where", "stomp"},
                {"count", 1000},
                {"message", "User name [{login}] or password is invalid."}});
  REQUIRE(p.fake.wait_idle(std::chrono::seconds(10)));  // the fault is in force
  Harness h(HMC_STOMP_SO);
  const std::string code_file = p.ca_file + ".mfa";
  std::ofstream(code_file) << "123456\n";
  json o = p.options();
  o["mfa"] = true;
  o["mfa_code_file"] = code_file;
  o["topics"] = {"explicit.topic"};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_until([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(),
                       [](const auto& e) { return e.type == "sluice.error"; });
  }));
  REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
  inst.stop();
  std::remove(code_file.c_str());
  // The broker did get the session id as login: the plugin had it to leak.
  const auto sessions = p.fake.api_sessions();  // every session the plugin had, logged off too
  REQUIRE(!sessions.empty());
  REQUIRE(!p.fake.received_frames().empty());
  CHECK(*p.fake.received_frames()[0].header("login") == sessions[0].id);
  std::vector<std::string> secrets;
  for (const auto& s : sessions) {
    secrets.push_back(s.id);
    secrets.push_back(s.credential);
  }
  for (const std::string& secret : secrets) {
    CAPTURE(secret);
    for (const auto& l : h.logs())
      CHECK(l.message.find(secret) == std::string::npos);
    for (const auto& st : h.states())
      CHECK(st.detail.find(secret) == std::string::npos);
    for (const auto& e : h.events()) {
      CHECK((!e.data || e.data->find(secret) == std::string::npos));
      for (const auto& [k, v] : e.attributes)
        CHECK(v.find(secret) == std::string::npos);
    }
  }
  CHECK(h.logged("User name [***] or password is invalid."));
}

TEST_CASE("session gone after an outage: log on again, resolve again, subscribe the new topics") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  json o = p.options();
  o["topic_types"] = {"object-notification"};
  o["os_message_channels"] = {{{"cpc", "CPC1"}, {"partition", "LINUX1"}}};
  o["topics"] = {"fixed"};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.wait_live_subscriptions(3));
  CHECK(sorted(p.fake.subscribed(1)) ==
        std::vector<std::string>{"/topic/fixed", "/topic/sysprog.100", "/topic/sysprog.100osm.p1"});
  p.fake.fault({{"fault", "expire-session"}, {"close_stomp", false}});
  p.fake.fault({{"fault", "close"}});
  REQUIRE(p.wait_connections(2));
  REQUIRE(wait_until([&] { return p.fake.subscribed(2).size() == 3; }));
  REQUIRE(p.wait_live_subscriptions(3));
  CHECK(sorted(p.fake.subscribed(2)) ==
        std::vector<std::string>{"/topic/fixed", "/topic/sysprog.101", "/topic/sysprog.101osm.p1"});
  CHECK(p.count("POST", "/api/sessions") == 2);
  CHECK(h.logged("WS API session is gone"));
  REQUIRE(h.wait_until([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(),
                       [](const auto& e) { return e.type == "sluice.reconnected"; });
  }));
}

TEST_CASE("a refused logon: state down with the reason, retried slowly") {
  Peers p;
  p.fake.fault(
      {{"fault", "refuse-logon"}, {"where", "api"}, {"count", 1000}, {"message", "Logon failed"}});
  REQUIRE(p.fake.wait_idle(std::chrono::seconds(10)));  // the fault is in force
  Harness h(HMC_STOMP_SO);
  json o = p.options();
  o["topic_types"] = {"object-notification"};
  o["reconnect"] = {{"initial", 10}, {"max", "60s"}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
  CHECK(h.states().back().detail ==
        "WS API logon failed: WS API POST /api/sessions: HTTP 403: Logon failed");
  CHECK(p.fake.stats().stomp_accepted == 0);
  CHECK(p.count("POST", "/api/sessions") == 1);
}
