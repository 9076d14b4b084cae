// The SDK's builders of the framework's own events (sluice/framework_events.hpp): one shape per
// reserved type, valid JSON whatever the peer sent, ids that do not repeat across runs.
#include <doctest/doctest.h>

#include <sluice/framework_events.hpp>
#include <sluice/json_check.hpp>

#include <nlohmann/json.hpp>

#include <set>
#include <string>

using nlohmann::json;
namespace fe = sluice::framework_events;

TEST_CASE("EventIds: <kind>-<16 hex digits>-<n>, the token differs between instances") {
  sluice::EventIds a, b;
  CHECK(a.token().size() == 16);
  CHECK(a.token().find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a.next("reconnected") == "reconnected-" + a.token() + "-1");
  CHECK(a.next("error") == "error-" + a.token() + "-2");
  // Two instances stand for two runs of the daemon: their first ids must differ.
  CHECK(a.token() != b.token());
  CHECK(sluice::EventIds().next("error") != sluice::EventIds().next("error"));
  std::set<std::string> tokens;
  for (int i = 0; i < 200; ++i)
    tokens.insert(sluice::random_token());
  CHECK(tokens.size() == 200);
}

TEST_CASE("parse_error: {error, raw}; raw text that is not UTF-8 still gives valid JSON") {
  auto e = fe::parse_error("m1", "hmc://h", "Missing a name (at byte 1)", "{oops\n\xff\"");
  CHECK(e.type == "sluice.parse-error");
  CHECK(e.id == "m1");
  CHECK(e.source == "hmc://h");
  REQUIRE(e.data);
  CHECK(sluice::json_valid(*e.data));
  CHECK(json::parse(*e.data) ==
        json{{"error", "Missing a name (at byte 1)"}, {"raw", "{oops\n\xEF\xBF\xBD\""}});
}

TEST_CASE("gap: exact count inside a connection; unknown count with an outage window") {
  fe::Gap exact;
  exact.missed = 3;
  exact.expected = 7;
  exact.received = 10;
  exact.stream = "/topic/t";
  exact.reason = "session-sequence-nr jumped";
  auto e = fe::gap("g1", "hmc://h", exact);
  CHECK(e.type == "sluice.gap");
  CHECK(e.subject == "/topic/t");
  CHECK(json::parse(*e.data) == json{{"missed", 3},
                                     {"expected", 7},
                                     {"received", 10},
                                     {"stream", "/topic/t"},
                                     {"from", nullptr},
                                     {"to", nullptr},
                                     {"reason", "session-sequence-nr jumped"}});

  fe::Gap unknown;
  unknown.from_unix_ns = 1700000000123000000;
  unknown.to_unix_ns = 1700000060000000000;
  unknown.reason = "new session";
  auto u = fe::gap("g2", "hmc://h", unknown);
  CHECK(!u.subject);
  CHECK(json::parse(*u.data) == json{{"missed", nullptr},
                                     {"expected", nullptr},
                                     {"received", nullptr},
                                     {"stream", nullptr},
                                     {"from", "2023-11-14T22:13:20.123Z"},
                                     {"to", "2023-11-14T22:14:20.000Z"},
                                     {"reason", "new session"}});
}

TEST_CASE("reconnected and error: every field present, in one shape") {
  fe::Reconnected r;
  r.reconnects = 2;
  r.attempts = 3;
  r.reason = "heart-beat timeout";
  r.from_unix_ns = 1700000000000000000;
  r.to_unix_ns = 1700000001000000000;
  r.resubscribed = {"a", "b"};
  auto e = fe::reconnected("reconnected-x-2", "ldm://h", r);
  CHECK(e.type == "sluice.reconnected");
  CHECK(json::parse(*e.data) == json{{"reconnects", 2},
                                     {"attempts", 3},
                                     {"reason", "heart-beat timeout"},
                                     {"from", "2023-11-14T22:13:20.000Z"},
                                     {"to", "2023-11-14T22:13:21.000Z"},
                                     {"resubscribed", {"a", "b"}}});

  auto err = fe::error("error-x-1", "hmc://h", {"broker says \"no\"", std::nullopt, "trace\n"});
  CHECK(err.type == "sluice.error");
  CHECK(!err.subject);
  CHECK(json::parse(*err.data) ==
        json{{"message", "broker says \"no\""}, {"stream", nullptr}, {"detail", "trace\n"}});
  auto on_topic = fe::error("error-x-2", "hmc://h", {"unknown topic", "/topic/x", std::nullopt});
  CHECK(on_topic.subject == "/topic/x");
  CHECK(json::parse(*on_topic.data)["stream"] == "/topic/x");
}
