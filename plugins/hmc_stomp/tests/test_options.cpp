// Options: defaults, units, the checks the schema cannot express, and the schema itself.
#include "options.hpp"

#include <doctest/doctest.h>

using hmc::Options;
using nlohmann::json;

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
}

TEST_CASE("topic_types need userid and password") {
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
  json schema = json::parse(hmc::options_schema());
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
  json schema = json::parse(hmc::options_schema());
  CHECK(schema["properties"]["max_headers"]["default"] == 1000);
  CHECK(schema["properties"]["max_headers"]["minimum"] == 1);
}
