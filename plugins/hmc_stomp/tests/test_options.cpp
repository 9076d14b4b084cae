// Options: defaults, units, the checks the schema cannot express, and the schema itself.
#include "options.hpp"

#include <doctest/doctest.h>

#include <fstream>

using nlohmann::json;
using sluice::OptionProblem;
using sluice::OptionProblems;
using sluice::hmc::Options;

namespace {

// Options::from_json's message (what create() says), or "" when it accepts the options.
std::string create_message(const json& options) {
  try {
    Options::from_json(options);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

// One refusal: check_options finds exactly this problem, and from_json throws its message.
void refused(const json& options, const std::string& pointer, const std::string& message) {
  CAPTURE(options.dump());
  CHECK(sluice::hmc::check_options(options) == OptionProblems{{pointer, message}});
  CHECK(create_message(options) == message);
}

json minimal(json extra = json::object()) {
  json o = {{"host", "hmc1"}, {"topics", {"t1"}}};
  o.update(extra);
  return o;
}

const std::string kMissing = "/nonexistent/sluice-test";

}  // namespace

TEST_CASE("defaults for a minimal config") {
  Options o = Options::from_json(json{{"host", "hmc1"}, {"topics", {"t1"}}});
  CHECK(o.host == "hmc1");
  CHECK(o.stomp_port == 61612);
  CHECK(o.api_port == 6794);
  CHECK(o.use_tls);
  CHECK(o.tls.verify);
  CHECK(o.heartbeat_send == std::chrono::seconds(10));
  CHECK(o.heartbeat_receive == std::chrono::seconds(10));
  CHECK(o.max_frame_bytes == 16u << 20);
  CHECK(o.max_headers == 1000);
  CHECK(o.stomp_version == "auto");
  CHECK(!o.needs_ws_api());
}

TEST_CASE("durations and sizes with units") {
  Options o = Options::from_json(json{{"host", "h"},
                                      {"topics", {"t"}},
                                      {"heartbeat", {{"send", "2s"}, {"receive", 0}}},
                                      {"reconnect", {{"initial", "100ms"}, {"max", "5s"}}},
                                      {"max_frame_bytes", "1MiB"},
                                      {"transport", "tcp"}});
  CHECK(o.heartbeat_send == std::chrono::seconds(2));
  CHECK(o.heartbeat_receive.count() == 0);
  CHECK(o.reconnect.initial == std::chrono::milliseconds(100));
  CHECK(o.reconnect.max == std::chrono::seconds(5));
  CHECK(o.max_frame_bytes == 1u << 20);
  CHECK(!o.use_tls);
}

TEST_CASE("nothing to subscribe to is an error") {
  CHECK_THROWS_WITH(Options::from_json(json{{"host", "h"}}),
                    "nothing to subscribe to: give topics, topic_types or os_message_channels");
  // at the empty list when the options have it (the host fills in the default [])
  refused(json{{"host", "h"}, {"topics", json::array()}}, "/topics",
          "nothing to subscribe to: give topics, topic_types or os_message_channels");
  CHECK(sluice::hmc::check_options(json{{"host", "h"}}) ==
        OptionProblems{
            {"", "nothing to subscribe to: give topics, topic_types or os_message_channels"}});
}

TEST_CASE("topic_types need userid and password") {
  const std::string needs =
      "userid and password are required with topic_types, os_message_channels or mfa";
  refused(json{{"host", "h"}, {"topic_types", {"object-notification"}}}, "/topic_types", needs);
  refused(json{{"host", "h"}, {"userid", "u"}, {"topic_types", {"job-notification"}}},
          "/topic_types", needs);
  refused(json{{"host", "h"}, {"password", "p"}, {"topic_types", {"job-notification"}}},
          "/topic_types", needs);
  refused(json{{"host", "h"}, {"os_message_channels", {{{"cpc", "C"}, {"partition", "P"}}}}},
          "/os_message_channels", needs);
  CHECK_THROWS_WITH(
      Options::from_json(json{{"host", "h"}, {"topic_types", {"object-notification"}}}),
      "userid and password are required with topic_types, os_message_channels or mfa");
  Options o = Options::from_json(json{
      {"host", "h"}, {"userid", "u"}, {"password", "p"}, {"topic_types", {"object-notification"}}});
  CHECK(o.needs_ws_api());
}

TEST_CASE("an OS message channel needs exactly one of partition and lpar") {
  CHECK_THROWS_WITH(Options::from_json(json{{"host", "h"},
                                            {"userid", "u"},
                                            {"password", "p"},
                                            {"os_message_channels", {{{"cpc", "C"}}}}}),
                    "os_message_channels: each entry needs cpc and exactly one of partition, lpar");
  Options o = Options::from_json(json{{"host", "h"},
                                      {"userid", "u"},
                                      {"password", "p"},
                                      {"os_message_channels", {{{"cpc", "C"}, {"lpar", "L"}}}}});
  REQUIRE(o.os_message_channels.size() == 1);
  CHECK(o.os_message_channels[0].label() == "C/lpar L");
}

TEST_CASE("the schema is strict JSON with defaults") {
  json schema = json::parse(sluice::hmc::options_schema());
  CHECK(schema["additionalProperties"] == false);
  CHECK(schema["required"] == json{"host"});
  CHECK(schema["properties"]["stomp_port"]["default"] == 61612);
  CHECK(schema["properties"]["tls"]["properties"]["verify"]["default"] == true);
  CHECK(schema["properties"]["topic_types"]["items"]["enum"].size() == 5);
  CHECK(schema["properties"]["heartbeat"]["properties"]["send"]["default"] == "10s");
  CHECK(schema["properties"]["max_frame_bytes"]["default"] == "16MiB");
}

TEST_CASE("topics: a name with the /topic/ prefix is the same topic as without it") {
  Options o = Options::from_json(
      json{{"host", "h"}, {"topics", {"/topic/x", "y", "/topic/ensadmin.145job", "topic/z"}}});
  CHECK(o.topics == std::vector<std::string>{"x", "y", "ensadmin.145job", "topic/z"});
  CHECK_THROWS_WITH(Options::from_json(json{{"host", "h"}, {"topics", {"/topic/"}}}),
                    "topics: '/topic/' names no topic");
}

TEST_CASE("max_headers: a whole number of at least 1") {
  Options o = Options::from_json(json{{"host", "h"}, {"topics", {"t"}}, {"max_headers", 50}});
  CHECK(o.max_headers == 50);
  CHECK_THROWS_WITH(Options::from_json(json{{"host", "h"}, {"topics", {"t"}}, {"max_headers", 0}}),
                    "max_headers: at least 1");
  CHECK_THROWS(Options::from_json(json{{"host", "h"}, {"topics", {"t"}}, {"max_headers", -5}}));
  json schema = json::parse(sluice::hmc::options_schema());
  CHECK(schema["properties"]["max_headers"]["default"] == 1000);
  CHECK(schema["properties"]["max_headers"]["minimum"] == 1);
}

// ---- check_options (plugin ABI 1.1): every refusal at its JSON pointer, create's message ----

TEST_CASE("check_options: valid options have no problem") {
  CHECK(sluice::hmc::check_options(minimal()).empty());
  CHECK(sluice::hmc::check_options(minimal({{"heartbeat", {{"send", 0}, {"receive", "1h"}}},
                                            {"max_frame_bytes", 64},
                                            {"connect_timeout", 1},
                                            {"transport", "tcp"}}))
            .empty());
}

TEST_CASE("check_options: heartbeat durations in the integer form must not be negative") {
  refused(minimal({{"heartbeat", {{"receive", -5}}}}), "/heartbeat/receive",
          "heartbeat.receive: must not be negative: -5");
  refused(minimal({{"heartbeat", {{"send", -1}, {"receive", "10s"}}}}), "/heartbeat/send",
          "heartbeat.send: must not be negative: -1");
  refused(minimal({{"heartbeat", {{"receive", "99999999h"}}}}), "/heartbeat/receive",
          "heartbeat.receive: duration too large: '99999999h' (at most 1000000000000 ms, about "
          "31 years)");
}

TEST_CASE("check_options: timeouts are durations above 0") {
  refused(minimal({{"connect_timeout", -1}}), "/connect_timeout",
          "connect_timeout: must not be negative: -1");
  refused(minimal({{"connect_timeout", 0}}), "/connect_timeout", "connect_timeout: must be > 0");
  refused(minimal({{"connect_timeout", "."}}), "/connect_timeout",
          "connect_timeout: not a duration: '.'");
  refused(minimal({{"request_timeout", "0s"}}), "/request_timeout", "request_timeout: must be > 0");
  refused(minimal({{"reconnect", {{"initial", -1}}}}), "/reconnect/initial",
          "reconnect.initial: must not be negative: -1");
  refused(minimal({{"reconnect", {{"multiplier", 0.5}}}}), "/reconnect/multiplier",
          "reconnect.multiplier: must be >= 1");
}

TEST_CASE("check_options: sizes and counts") {
  refused(minimal({{"max_frame_bytes", 0}}), "/max_frame_bytes", "max_frame_bytes: at least 64");
  refused(minimal({{"max_frame_bytes", "63B"}}), "/max_frame_bytes",
          "max_frame_bytes: at least 64");
  refused(minimal({{"max_frame_bytes", -1}}), "/max_frame_bytes",
          "max_frame_bytes: must not be negative: -1");
  refused(minimal({{"max_response_bytes", -1}}), "/max_response_bytes",
          "max_response_bytes: must not be negative: -1");
  refused(minimal({{"max_headers", 0}}), "/max_headers", "max_headers: at least 1");
  refused(minimal({{"max_headers", -5}}), "/max_headers", "max_headers: must not be negative: -5");
}

TEST_CASE("check_options: topics, channels, ports and version at their place in the list") {
  refused(minimal({{"topics", {"t1", "/topic/"}}}), "/topics/1",
          "topics: '/topic/' names no topic");
  refused(
      json{{"host", "h"},
           {"userid", "u"},
           {"password", "p"},
           {"os_message_channels",
            {{{"cpc", "C"}, {"lpar", "L"}}, {{"cpc", "C"}, {"lpar", "L"}, {"partition", "P"}}}}},
      "/os_message_channels/1",
      "os_message_channels: each entry needs cpc and exactly one of partition, lpar");
  refused(minimal({{"stomp_port", 0}}), "/stomp_port", "stomp_port: from 1 to 65535, not 0");
  refused(minimal({{"api_port", 70000}}), "/api_port", "api_port: from 1 to 65535, not 70000");
  refused(minimal({{"stomp_version", "2.0"}}), "/stomp_version",
          "stomp_version: auto, 1.2, 1.1 or 1.0");
  refused(json{{"topics", {"t"}}}, "/host", "host: required");
  refused(minimal({{"heartbeat", {{"send", true}}}}), "/heartbeat/send",
          "heartbeat.send: must be a number or a string with a unit");
}

TEST_CASE("check_options: mfa needs userid and password; one MFA code source") {
  refused(minimal({{"mfa", true}}), "/mfa",
          "userid and password are required with topic_types, os_message_channels or mfa");
  refused(minimal({{"mfa_code", "123456"}, {"mfa_code_file", kMissing + "/code"}}),
          "/mfa_code_file", "mfa_code and mfa_code_file: give one, not both");
}

TEST_CASE("check_options: mfa_code_file must be readable where the WS API reads it") {
  const json ws = minimal({{"userid", "u"}, {"password", "p"}, {"mfa", true}});
  json o = ws;
  o["mfa_code_file"] = kMissing + "/code";
  refused(o, "/mfa_code_file",
          "mfa_code_file: cannot read " + kMissing + "/code: No such file or directory");
  o["mfa_code_file"] = "/";
  refused(o, "/mfa_code_file", "mfa_code_file: cannot read /: Is a directory");
  // without the WS API the file is never read, so nothing is refused
  CHECK(sluice::hmc::check_options(minimal({{"mfa_code_file", kMissing + "/code"}})).empty());
}

TEST_CASE("check_options: TLS files name the option, the file and the reason") {
  refused(minimal({{"tls", {{"ca_file", kMissing + "/ca.pem"}}}}), "/tls/ca_file",
          "tls.ca_file: cannot read " + kMissing + "/ca.pem: No such file or directory");
  refused(minimal({{"tls", {{"ca_dir", "/etc/passwd"}}}}), "/tls/ca_dir",
          "tls.ca_dir: cannot read /etc/passwd: Not a directory");
  refused(minimal({{"tls", {{"cert_file", "/etc/passwd"}}}}), "/tls/cert_file",
          "tls.cert_file needs tls.key_file");
  refused(minimal({{"tls", {{"key_file", "/etc/passwd"}}}}), "/tls/key_file",
          "tls.key_file needs tls.cert_file");
  // a file that exists but is no PEM: what building the TLS context says, at that option
  const OptionProblems p =
      sluice::hmc::check_options(minimal({{"tls", {{"ca_file", "/etc/passwd"}}}}));
  REQUIRE(p.size() == 1);
  CHECK(p[0].pointer == "/tls/ca_file");
  CHECK(p[0].message.rfind("tls.ca_file: cannot use /etc/passwd: ", 0) == 0);
  CHECK(create_message(minimal({{"tls", {{"ca_file", "/etc/passwd"}}}})) == p[0].message);
  // verify: false reads no CA
  CHECK(sluice::hmc::check_options(
            minimal({{"tls", {{"verify", false}, {"ca_file", kMissing + "/ca.pem"}}}}))
            .empty());
}

TEST_CASE("check_options: TLS files are checked only where create() builds a TLS context") {
  const json tls = {{"ca_file", kMissing + "/ca.pem"}};
  // plain TCP and no WS API: the files are never read
  CHECK(sluice::hmc::check_options(minimal({{"transport", "tcp"}, {"tls", tls}})).empty());
  // the WS API is always HTTPS
  refused(json{{"host", "h"},
               {"transport", "tcp"},
               {"userid", "u"},
               {"password", "p"},
               {"topic_types", {"object-notification"}},
               {"tls", tls}},
          "/tls/ca_file",
          "tls.ca_file: cannot read " + kMissing + "/ca.pem: No such file or directory");
}

TEST_CASE("check_options: every problem at once, create() says the first") {
  const json o = minimal({{"heartbeat", {{"receive", -5}}},
                          {"connect_timeout", -1},
                          {"max_frame_bytes", 0},
                          {"tls", {{"ca_file", kMissing + "/ca.pem"}}}});
  const OptionProblems p = sluice::hmc::check_options(o);
  CHECK(p == OptionProblems{{"/heartbeat/receive", "heartbeat.receive: must not be negative: -5"},
                            {"/max_frame_bytes", "max_frame_bytes: at least 64"},
                            {"/connect_timeout", "connect_timeout: must not be negative: -1"},
                            {"/tls/ca_file", "tls.ca_file: cannot read " + kMissing +
                                                 "/ca.pem: No such file or directory"}});
  CHECK(create_message(o) == "heartbeat.receive: must not be negative: -5");
}

TEST_CASE("refusals.json: each row is refused with one problem at its pointer") {
  std::ifstream in(HMC_STOMP_REFUSALS);
  REQUIRE(in);
  const json rows = json::parse(in);
  REQUIRE(rows.is_array());
  CHECK(rows.size() >= 30);
  for (const auto& row : rows) {
    CAPTURE(row.dump());
    const OptionProblems p = sluice::hmc::check_options(row.at("options"));
    REQUIRE(p.size() == 1);
    CHECK(p[0].pointer == row.at("pointer").get<std::string>());
    CHECK(p[0].message.find(row.at("message").get<std::string>()) != std::string::npos);
    CHECK(create_message(row.at("options")) == p[0].message);
  }
}

TEST_CASE("host: one name or a list of redundant HMCs, each with its own ports or the options'") {
  Options one = Options::from_json(minimal({{"stomp_port", 61000}}));
  REQUIRE(one.hosts.size() == 1);
  CHECK(one.hosts[0].host == "hmc1");
  CHECK(one.hosts[0].stomp_port == 61000);
  CHECK(one.hosts[0].api_port == 6794);
  CHECK(one.failover_attempts == 3);
  CHECK(one.source_uri.empty());

  Options list = Options::from_json(
      minimal({{"host",
                {"hmc1.example.com",
                 {{"host", "hmc2.example.com"}, {"api_port", 7794}, {"stomp_port", 61613}},
                 {{"host", "::1"}}}},
               {"api_port", 6795},
               {"source_uri", "hmc://pair-a"},
               {"failover_attempts", 5}}));
  REQUIRE(list.hosts.size() == 3);
  CHECK(list.hosts[0].host == "hmc1.example.com");
  CHECK(list.hosts[0].api_port == 6795);
  CHECK(list.hosts[0].stomp_port == 61612);
  CHECK(list.hosts[1].host == "hmc2.example.com");
  CHECK(list.hosts[1].api_port == 7794);
  CHECK(list.hosts[1].stomp_port == 61613);
  CHECK(list.hosts[2].label() == "[::1]:61612");
  // The HMC in use at first: the first entry.
  CHECK(list.host == "hmc1.example.com");
  CHECK(list.api_port == 6795);
  CHECK(list.source_uri == "hmc://pair-a");
  CHECK(list.failover_attempts == 5);
}

TEST_CASE("check_options: every entry of a host list, at its place in the list") {
  refused(minimal({{"host", json::array()}}), "/host",
          "host: a name or a list of names and {host, stomp_port, api_port}");
  refused(minimal({{"host", 5}}), "/host",
          "host: a name or a list of names and {host, stomp_port, api_port}");
  refused(minimal({{"host", {"hmc1", ""}}}), "/host/1", "host: an entry without a host name");
  refused(minimal({{"host", {"hmc1", {{"stomp_port", 61613}}}}}), "/host/1",
          "host: an entry without a host name");
  refused(minimal({{"host", {"hmc1", 7}}}), "/host/1",
          "host: each entry is a name or {host, stomp_port, api_port}");
  refused(minimal({{"host", {"hmc1", {{"host", "hmc2"}, {"stomp_port", 0}}}}}),
          "/host/1/stomp_port", "stomp_port: from 1 to 65535, not 0");
  refused(minimal({{"host", {{{"host", "hmc1"}, {"api_port", 70000}}, "hmc2"}}}),
          "/host/0/api_port", "api_port: from 1 to 65535, not 70000");
  refused(minimal({{"host", {"hmc1", {{"host", "hmc2"}, {"port", 1}}}}}), "/host/1/port",
          "host: 'port' is not host, stomp_port or api_port");
  refused(minimal({{"host", {"hmc1", {{"host", "hmc1"}, {"stomp_port", 61612}}}}}), "/host/1",
          "host: hmc1:61612 is listed twice");
  // the same name with other ports is another HMC (two brokers on one address)
  CHECK(sluice::hmc::check_options(
            minimal({{"host", {"hmc1", {{"host", "hmc1"}, {"stomp_port", 61613}}}}}))
            .empty());
  refused(minimal({{"source_uri", ""}}), "/source_uri", "source_uri: must not be empty");
  refused(minimal({{"failover_attempts", 0}}), "/failover_attempts",
          "failover_attempts: at least 1");
}

TEST_CASE("the schema takes host as a name or a list") {
  const json schema = json::parse(sluice::hmc::options_schema());
  const json& host = schema["properties"]["host"];
  // Only the shapes: what is wrong inside an entry is check_options' to say, at its pointer.
  CHECK(host["type"] == json({"string", "array"}));
  CHECK(host["items"]["type"] == json({"string", "object"}));
  CHECK_FALSE(host.contains("oneOf"));
  CHECK(schema["properties"]["failover_attempts"]["default"] == 3);
  CHECK(schema["properties"].contains("source_uri"));
}
