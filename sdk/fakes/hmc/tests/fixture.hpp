#pragma once

#include <sluice/fakes/hmc.hpp>

#include "client.hpp"

#include <cstdlib>
#include <iostream>

using namespace std::chrono_literals;
using boost::beast::http::verb;
using nlohmann::json;
namespace hmc = sluice::fakes::hmc;

// Quiet unless FAKE_HMC_LOG is set (handy when a test fails).
inline hmc::Options quiet(hmc::Options o = {}) {
  if (!std::getenv("FAKE_HMC_LOG")) o.log = [](const std::string&) {};
  return o;
}

struct Fake {
  explicit Fake(hmc::Options o = {}) : fake(quiet(std::move(o))) { fake.start(); }
  testclient::HttpResult api(verb v, const std::string& target, const std::string& body = "",
                             const std::string& session = "") {
    return testclient::https(fake.api_port(), fake.ca_pem(), v, target, body, session);
  }
  // Logs on as the default user; returns the logon answer.
  json logon() {
    auto r = api(verb::post, "/api/sessions", R"({"userid":"hmcuser","password":"hmcpassword"})");
    REQUIRE(r.status == 200);
    return r.body;
  }
  testclient::Stomp stomp() { return testclient::Stomp(fake.stomp_port(), fake.ca_pem()); }
  // A connected client subscribed to topic (receipt awaited).
  testclient::Stomp subscriber(const std::string& topic, const std::string& hb = "0,0") {
    auto c = stomp();
    auto connected = c.connect("hmcuser", "hmcpassword", "1.0,1.1,1.2", hb);
    REQUIRE(connected.command == "CONNECTED");
    c.send(
        "SUBSCRIBE",
        {{"id", "sub-1"}, {"destination", "/topic/" + topic}, {"ack", "auto"}, {"receipt", "r1"}});
    auto receipt = c.read_frame();
    REQUIRE(receipt);
    REQUIRE(receipt->command == "RECEIPT");
    return c;
  }
  hmc::FakeHmc fake;
};
