// Topics from the Web Services API (an in-test HTTPS server) with the in-test STOMP broker:
// topic types, OS message channels by partition name (409 reasons 331 and 332), MFA login,
// re-logon and re-resolution when the session is gone, logoff on stop, refused logon.
#include "stomp_server.hpp"
#include "ws_api_server.hpp"

#include <sluice/testing.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <string>

using nlohmann::json;
using sluice::testing::Harness;

namespace {

struct Peers {
  sluice::tls::CertificatePem pem = sluice::tls::generate_self_signed({"127.0.0.1"});
  test::WsApiServer api{pem};
  test::Broker broker;
  std::string ca_file;
  explicit Peers(test::BrokerConfig broker_config = {}) : broker(std::move(broker_config)) {
    ca_file = "/tmp/hmc_stomp_wsapi_" + std::to_string(getpid()) + ".pem";
    std::ofstream(ca_file) << pem.certificate;
  }
  json options() const {
    return json{{"host", "127.0.0.1"},
                {"stomp_port", broker.port()},
                {"api_port", api.port()},
                {"transport", "tcp"},
                {"tls", {{"ca_file", ca_file}}},
                {"userid", "sysprog"},
                {"password", "secret"},
                {"heartbeat", {{"send", 0}, {"receive", 0}}},
                {"reconnect", {{"initial", 20}, {"max", 200}}}};
  }
};

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("topic_types are resolved through get-notification-topics") {
  Peers p;
  Harness h(HMC_STOMP_PLUGIN_PATH);
  json o = p.options();
  o["topic_types"] = {"object-notification", "audit-notification"};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.broker.wait_live_subscriptions(2));
  CHECK(sorted(p.broker.subscriptions(1)) ==
        std::vector<std::string>{"/topic/ensadmin.1", "/topic/ensadmin.1audit"});
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  auto calls = p.api.calls();
  REQUIRE(calls.size() >= 2);
  CHECK(calls[0].method == "POST");
  CHECK(calls[0].target == "/api/sessions");
  CHECK(calls[0].body == json{{"userid", "sysprog"}, {"password", "secret"}});
  CHECK(calls[1].target == "/api/sessions/operations/get-notification-topics");
  CHECK(calls[1].session == "session-1");
  // STOMP login without mfa: userid and password.
  auto frames = p.broker.received();
  CHECK(*frames[0].header("login") == "sysprog");
  CHECK(*frames[0].header("passcode") == "secret");
  inst.stop();
  CHECK(p.api.count("DELETE", "/api/sessions/this-session") == 1);
}

TEST_CASE("OS message channels by partition name: opened, 331 found by object-uri, 332 reported") {
  Peers p;
  Harness h(HMC_STOMP_PLUGIN_PATH);
  json o = p.options();
  o["os_message_channels"] = {{{"cpc", "CPC1"}, {"partition", "LINUX1"}},
                              {{"cpc", "CPC1"}, {"partition", "LINUX2"}},
                              {{"cpc", "CPC1"}, {"partition", "OLDOS"}},
                              {{"cpc", "CPC1"}, {"partition", "NOSUCH"}}};
  o["include_refresh_messages"] = true;
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.broker.wait_live_subscriptions(2));
  CHECK(sorted(p.broker.subscriptions(1)) ==
        std::vector<std::string>{"/topic/osm.p1.1", "/topic/osm.p2.1"});
  REQUIRE(h.wait_for_state(SLUICE_STATE_DEGRADED));
  const std::string detail = h.states().back().detail;
  CHECK(detail.find("channel CPC1/partition OLDOS: the operating system does not support OS "
                    "message channels (HTTP 409 reason 332)") != std::string::npos);
  CHECK(detail.find("channel CPC1/partition NOSUCH: partition 'NOSUCH' not found on CPC 'CPC1'") !=
        std::string::npos);
  bool open_body_ok = false;
  for (const auto& c : p.api.calls())
    if (c.target == "/api/partitions/p1/operations/open-os-message-channel")
      open_body_ok = c.body == json{{"include-refresh-messages", true}};
  CHECK(open_body_ok);
  REQUIRE(h.wait_until([](const auto& ev) {
    return std::count_if(ev.begin(), ev.end(),
                         [](const auto& e) { return e.type == "sluice.error"; }) == 2;
  }));
  p.broker.publish("/topic/osm.p1.1", {{"message-id", "os1"}, {"notification-type", "os-message"}},
                   R"({"os-messages":[{"message-text":"hello"}]})");
  REQUIRE(h.wait_until([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(), [](const auto& e) { return e.id == "os1"; });
  }));
}

TEST_CASE("mfa: STOMP login is the session id and credential; mfa_code_file read at logon") {
  Peers p;
  Harness h(HMC_STOMP_PLUGIN_PATH);
  const std::string code_file = p.ca_file + ".mfa";
  std::ofstream(code_file) << "123456\n";
  json o = p.options();
  o["mfa"] = true;
  o["mfa_code_file"] = code_file;
  o["topics"] = {"explicit.topic"};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.broker.wait_live_subscriptions(1));
  auto frames = p.broker.received();
  CHECK(*frames[0].header("login") == "session-1");
  CHECK(*frames[0].header("passcode") == "cred-1");
  CHECK(p.api.calls()[0].body ==
        json{{"userid", "sysprog"}, {"password", "secret"}, {"mfa-code", "123456"}});
  CHECK(p.broker.subscriptions(1) == std::vector<std::string>{"/topic/explicit.topic"});
}

TEST_CASE("mfa: the session id and credential never appear in a log line, a state or an event") {
  // The broker refuses the STOMP logon and echoes the login, as ActiveMQ does: "User name
  // [<login>] or password is invalid." With mfa the login is the WS API session id, which works
  // as X-API-Session for anyone who reads it.
  test::BrokerConfig refusing;
  refusing.password = "not-the-session-credential";
  Peers p(refusing);
  Harness h(HMC_STOMP_PLUGIN_PATH);
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
  REQUIRE(!p.broker.received().empty());
  CHECK(*p.broker.received()[0].header("login") == "session-1");
  for (const std::string secret : {"session-1", "cred-1"}) {
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
  Harness h(HMC_STOMP_PLUGIN_PATH);
  json o = p.options();
  o["topic_types"] = {"object-notification"};
  o["os_message_channels"] = {{{"cpc", "CPC1"}, {"partition", "LINUX1"}}};
  o["topics"] = {"fixed"};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.broker.wait_live_subscriptions(3));
  CHECK(sorted(p.broker.subscriptions(1)) ==
        std::vector<std::string>{"/topic/ensadmin.1", "/topic/fixed", "/topic/osm.p1.1"});
  p.api.expire_sessions();
  p.broker.drop_connections();
  REQUIRE(p.broker.wait_connections(2));
  REQUIRE(p.broker.wait_live_subscriptions(3));
  CHECK(sorted(p.broker.subscriptions(2)) ==
        std::vector<std::string>{"/topic/ensadmin.2", "/topic/fixed", "/topic/osm.p1.2"});
  CHECK(p.api.count("POST", "/api/sessions") == 2);
  CHECK(h.logged("WS API session is gone"));
  REQUIRE(h.wait_until([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(),
                       [](const auto& e) { return e.type == "sluice.reconnected"; });
  }));
}

TEST_CASE("a refused logon: state down with the reason, retried slowly") {
  Peers p;
  p.api.refuse_logon(true);
  Harness h(HMC_STOMP_PLUGIN_PATH);
  json o = p.options();
  o["topic_types"] = {"object-notification"};
  o["reconnect"] = {{"initial", 10}, {"max", "60s"}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
  CHECK(h.states().back().detail ==
        "WS API logon failed: WS API POST /api/sessions: HTTP 403: Logon failed");
  CHECK(p.broker.connections() == 0);
  CHECK(p.api.count("POST", "/api/sessions") == 1);
}
