// The options of the ldm_xml source and their check (plugin ABI 1.1 check_options): every
// refusal at its JSON pointer, create() with the same message, refusals.json row by row.
#include "ldm_client.hpp"

#include <sluice/testing.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <stdexcept>
#include <string>

using nlohmann::json;
using sluice::OptionProblems;
using sluice::ldm::ClientOptions;
using sluice::testing::Harness;

namespace {

// ClientOptions::from_json's message (what create() says), or "" when it accepts the options.
std::string create_message(const json& options) {
  try {
    ClientOptions::from_json(options);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

// One refusal: check_options finds exactly this problem, and from_json throws its message.
void refused(const json& options, const std::string& pointer, const std::string& message) {
  CAPTURE(options.dump());
  CHECK(sluice::ldm::check_options(options) == OptionProblems{{pointer, message}});
  CHECK(create_message(options) == message);
}

json remote(json extra = json::object()) {
  json o = {{"host", "ldm.example.com"}, {"user", "monitor"}, {"password", "secret"}};
  o.update(extra);
  return o;
}

const std::string kMissing = "/nonexistent/sluice-test";
const std::string kRemoteNeeds =
    "remote mode needs 'user' and 'password' (SASL PLAIN); use mode: local on the control "
    "domain itself";

json refusals() {
  std::ifstream in(LDM_XML_REFUSALS);
  REQUIRE(in);
  return json::parse(in);
}

}  // namespace

TEST_CASE("valid options have no problem, and read as given") {
  CHECK(sluice::ldm::check_options(remote()).empty());
  CHECK(sluice::ldm::check_options(json{{"host", "localhost"}, {"mode", "local"}}).empty());
  ClientOptions o = ClientOptions::from_json(remote({{"port", 7000},
                                                     {"events", {"domain", "resource"}},
                                                     {"max_depth", 8},
                                                     {"max_element_bytes", "1KiB"},
                                                     {"connect_timeout", "2s"},
                                                     {"stop_timeout", 0}}));
  CHECK(o.port == 7000);
  CHECK(o.registration_actions() ==
        std::vector<std::string>{"reg-domain-events", "reg-resource-events"});
  CHECK(o.limits.max_depth == 8);
  CHECK(o.limits.max_element_bytes == 1024);
  CHECK(o.connect_timeout == std::chrono::seconds(2));
  CHECK(o.stop_timeout.count() == 0);
}

TEST_CASE("host is required; mode is remote or local") {
  refused(json{{"mode", "local"}}, "/host",
          "option 'host' is required (the control domain running ldmd)");
  refused(remote({{"mode", "server"}}), "/mode", "option 'mode' must be remote or local");
  refused(remote({{"port", 0}}), "/port", "port: from 1 to 65535, not 0");
}

TEST_CASE("remote mode needs user and password, at the empty one") {
  refused(remote({{"user", ""}}), "/user", kRemoteNeeds);
  refused(remote({{"password", ""}}), "/password", kRemoteNeeds);
  refused(json{{"host", "x"}}, "", kRemoteNeeds);
  refused(json{{"host", "x"}, {"mode", "remote"}}, "/mode", kRemoteNeeds);
  CHECK(sluice::ldm::check_options(json{{"host", "x"}, {"mode", "local"}, {"user", ""}}).empty());
}

TEST_CASE("events: classes at their place in the list") {
  refused(remote({{"events", {"domain", "cpu"}}}), "/events/1",
          "events: 'cpu' is not one of domain, hardware, resource, all");
  refused(remote({{"events", json::array()}}), "/events", "events: name at least one class");
}

TEST_CASE("durations: not negative, timeouts above 0") {
  refused(remote({{"reconnect", {{"initial", -1}}}}), "/reconnect/initial",
          "reconnect.initial: must not be negative: -1");
  refused(remote({{"reconnect", {{"max", "99999999h"}}}}), "/reconnect/max",
          "reconnect.max: duration too large: '99999999h' (at most 1000000000000 ms, about 31 "
          "years)");
  refused(remote({{"reconnect", {{"multiplier", 0.5}}}}), "/reconnect/multiplier",
          "reconnect.multiplier: must be >= 1");
  refused(remote({{"connect_timeout", 0}}), "/connect_timeout", "connect_timeout: must be > 0");
  refused(remote({{"connect_timeout", -1}}), "/connect_timeout",
          "connect_timeout: must not be negative: -1");
  refused(remote({{"response_timeout", "0ms"}}), "/response_timeout",
          "response_timeout: must be > 0");
  refused(remote({{"response_timeout", "."}}), "/response_timeout",
          "response_timeout: not a duration: '.'");
  refused(remote({{"stop_timeout", -1}}), "/stop_timeout",
          "stop_timeout: must not be negative: -1");
}

TEST_CASE("limits: max_element_bytes at least 1, max_depth from 1 to 1024") {
  refused(remote({{"max_element_bytes", 0}}), "/max_element_bytes",
          "max_element_bytes: at least 1");
  refused(remote({{"max_element_bytes", -1}}), "/max_element_bytes",
          "max_element_bytes: must not be negative: -1");
  refused(remote({{"max_depth", 0}}), "/max_depth", "max_depth: from 1 to 1024, not 0");
  refused(remote({{"max_depth", 1025}}), "/max_depth", "max_depth: from 1 to 1024, not 1025");
}

TEST_CASE("TLS files name the option, the file and the reason (start() used to refuse them)") {
  refused(remote({{"tls", {{"ca_file", kMissing + "/ca.pem"}}}}), "/tls/ca_file",
          "tls.ca_file: cannot read " + kMissing + "/ca.pem: No such file or directory");
  refused(json{{"host", "x"}, {"mode", "local"}, {"tls", {{"ca_dir", kMissing}}}}, "/tls/ca_dir",
          "tls.ca_dir: cannot read " + kMissing + ": No such file or directory");
  refused(remote({{"tls", {{"cert_file", "/etc/passwd"}}}}), "/tls/cert_file",
          "tls.cert_file needs tls.key_file");
  const OptionProblems p =
      sluice::ldm::check_options(remote({{"tls", {{"ca_file", "/etc/passwd"}}}}));
  REQUIRE(p.size() == 1);
  CHECK(p[0].pointer == "/tls/ca_file");
  CHECK(p[0].message.rfind("tls.ca_file: cannot use /etc/passwd: ", 0) == 0);
  CHECK(sluice::ldm::check_options(
            remote({{"tls", {{"verify", false}, {"ca_file", kMissing + "/ca.pem"}}}}))
            .empty());
}

TEST_CASE("every problem at once, create() says the first") {
  const json o =
      remote({{"user", ""}, {"connect_timeout", -1}, {"tls", {{"ca_file", kMissing + "/ca.pem"}}}});
  CHECK(sluice::ldm::check_options(o) ==
        OptionProblems{{"/user", kRemoteNeeds},
                       {"/connect_timeout", "connect_timeout: must not be negative: -1"},
                       {"/tls/ca_file", "tls.ca_file: cannot read " + kMissing +
                                            "/ca.pem: No such file or directory"}});
  CHECK(create_message(o) == kRemoteNeeds);
}

TEST_CASE("refusals.json: each row is refused with one problem at its pointer") {
  const json rows = refusals();
  REQUIRE(rows.is_array());
  CHECK(rows.size() >= 15);
  for (const auto& row : rows) {
    CAPTURE(row.dump());
    const OptionProblems p = sluice::ldm::check_options(row.at("options"));
    REQUIRE(p.size() == 1);
    CHECK(p[0].pointer == row.at("pointer").get<std::string>());
    CHECK(p[0].message.find(row.at("message").get<std::string>()) != std::string::npos);
    CHECK(create_message(row.at("options")) == p[0].message);
  }
}

TEST_CASE("the built plugin's create() refuses every row with check_options' first message") {
  Harness h(LDM_XML_SO);
  for (const auto& row : refusals()) {
    CAPTURE(row.dump());
    const OptionProblems p = sluice::ldm::check_options(row.at("options"));
    REQUIRE(!p.empty());
    std::string message;
    try {
      h.create(row.at("options").dump());
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    CHECK(message == p.front().message);
  }
  CHECK_NOTHROW(h.create(remote().dump()));
}

TEST_CASE("the built plugin's check_options entry answers every row as check_options does") {
  Harness h(LDM_XML_SO);
  for (const auto& row : refusals()) {
    CAPTURE(row.dump());
    const OptionProblems p = h.check(row.at("options").dump());
    CHECK(p == sluice::ldm::check_options(row.at("options")));
    REQUIRE(p.size() == 1);
    CHECK(p[0].pointer == row.at("pointer").get<std::string>());
    CHECK(p[0].message.find(row.at("message").get<std::string>()) != std::string::npos);
  }
  CHECK(h.check(remote().dump()).empty());
  CHECK(h.check(R"({"host":"x","user":"","password":"p","max_element_bytes":0})") ==
        OptionProblems{{"/user", kRemoteNeeds},
                       {"/max_element_bytes", "max_element_bytes: at least 1"}});
}
