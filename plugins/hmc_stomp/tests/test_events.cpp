// Event mapping: each HMC notification type from the reference, frame in, event spelled out.
#include "events.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using sluice::Event;
using sluice::hmc::MapStats;
using sluice::hmc::SequenceTracker;
using sluice::hmc::stomp::Frame;

namespace {
const std::string kSource = "hmc://hmc1";

Frame message(std::vector<std::pair<std::string, std::string>> headers, std::string body) {
  Frame f;
  f.command = "MESSAGE";
  f.headers = std::move(headers);
  f.body = std::move(body);
  return f;
}

std::vector<Event> events_of(sluice::PackedEvents& packed) {
  std::vector<Event> out;
  for (size_t i = 0; i < packed.size(); ++i)
    out.push_back(packed.event(i));
  return out;
}

std::vector<Event> map(const Frame& f, bool split = false) {
  SequenceTracker seq;
  MapStats stats;
  sluice::PackedEvents out;
  sluice::hmc::map_message(f.view(), kSource, split, seq, out, stats);
  return events_of(out);
}
}  // namespace

TEST_CASE("os-message: type, id, subject, time, attributes and data") {
  const std::string body =
      R"({"os-messages":[{"sequence-number":12,"message-id":"IEE252I","message-text":"IEE252I MEMBER FOUND\n","timestamp":1700000123000,"is-held":false}]})";
  auto events = map(message({{"destination", "/topic/sysprog.163osm"},
                             {"subscription", "sub-1"},
                             {"message-id", "ID:hmc1-1:42"},
                             {"notification-type", "os-message"},
                             {"session-sequence-nr", "41"},
                             {"class", "logical-partition"},
                             {"name", "LPAR01"},
                             {"object-uri", "/api/logical-partitions/5f6d"},
                             {"object-id", "5f6d"},
                             {"timestamp", "1700000123456"},
                             {"content-length", "200"}},
                            body));
  REQUIRE(events.size() == 1);
  const Event& e = events[0];
  CHECK(e.type == "hmc.os-message");
  CHECK(e.id == "ID:hmc1-1:42");
  CHECK(e.source == "hmc://hmc1");
  CHECK(e.subject == "/api/logical-partitions/5f6d");
  CHECK(e.time_unix_ns == 1700000123456000000LL);
  CHECK(e.data == body);
  REQUIRE(e.attributes.size() == 11);
  CHECK(e.attributes[0] ==
        std::pair<std::string, std::string>{"destination", "/topic/sysprog.163osm"});
  CHECK(e.find_attribute("name") == "LPAR01");
  CHECK(e.find_attribute("session-sequence-nr") == "41");
}

TEST_CASE("property-change: property-names header kept raw, change-reports as data") {
  const std::string body =
      R"({"change-reports":[{"property-name":"name","old-value":"a","new-value":"b"}]})";
  auto events = map(message({{"notification-type", "property-change"},
                             {"message-id", "m1"},
                             {"object-uri", "/api/partitions/p1"},
                             {"property-names", " name description "}},
                            body));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "hmc.property-change");
  CHECK(events[0].subject == "/api/partitions/p1");
  CHECK(events[0].find_attribute("property-names") == " name description ");
  CHECK(events[0].data == body);
  CHECK(events[0].time_unix_ns == 0);  // no timestamp header: the host stamps it
}

TEST_CASE("status-change maps to hmc.status-change") {
  const std::string body =
      R"({"change-reports":[{"old-status":"active","new-status":"degraded","has-unacceptable-status":true}]})";
  auto events = map(message({{"notification-type", "status-change"},
                             {"message-id", "m2"},
                             {"object-uri", "/api/cpcs/c1"}},
                            body));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "hmc.status-change");
  CHECK(events[0].data == body);
}

TEST_CASE("inventory-change: empty body is null data, action header kept") {
  auto events = map(message({{"notification-type", "inventory-change"},
                             {"message-id", "m3"},
                             {"action", "add"},
                             {"object-uri", "/api/partitions/p9"}},
                            ""));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "hmc.inventory-change");
  CHECK(events[0].find_attribute("action") == "add");
  CHECK(!events[0].data.has_value());
}

TEST_CASE("job-completion: the empty JSON string body is null data") {
  auto events = map(message(
      {{"notification-type", "job-completion"}, {"message-id", "m4"}, {"job-uri", "/api/jobs/j1"}},
      "\"\""));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "hmc.job-completion");
  CHECK(events[0].find_attribute("job-uri") == "/api/jobs/j1");
  CHECK(!events[0].subject.has_value());
  CHECK(!events[0].data.has_value());
}

TEST_CASE("log-entry: log-entries as data") {
  const std::string body =
      R"({"log-entries":[{"event-time":1700000000000,"event-name":"User logged on","event-id":"1234","userid":"admin","event-data-items":[]}]})";
  auto events = map(message(
      {{"notification-type", "log-entry"}, {"message-id", "m5"}, {"object-uri", "/api/console"}},
      body));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "hmc.log-entry");
  CHECK(events[0].subject == "/api/console");
  CHECK(events[0].data == body);
}

TEST_CASE("element-uri wins over object-uri as subject") {
  auto events = map(message({{"notification-type", "property-change"},
                             {"message-id", "m6"},
                             {"object-uri", "/api/partitions/p1"},
                             {"element-uri", "/api/partitions/p1/nics/n1"}},
                            "{}"));
  REQUIRE(events.size() == 1);
  CHECK(events[0].subject == "/api/partitions/p1/nics/n1");
}

TEST_CASE("a missing notification-type gives hmc.unknown") {
  SequenceTracker seq;
  MapStats stats;
  sluice::PackedEvents packed;
  sluice::hmc::map_message(message({{"message-id", "m7"}}, "{}").view(), kSource, false, seq,
                           packed, stats);
  auto out = events_of(packed);
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == "hmc.unknown");
  CHECK(stats.unknown_type == 1);
}

TEST_CASE("repeated header: attribute keeps the first value") {
  auto events = map(message({{"message-id", "m8"}, {"x", "first"}, {"x", "second"}}, ""));
  REQUIRE(events.size() == 1);
  CHECK(events[0].find_attribute("x") == "first");
  CHECK(events[0].attributes.size() == 2);
}

TEST_CASE("many headers, repeated ones among them: one attribute per name, the first value") {
  // 200000 headers, each name twice: comparing each header with every earlier one (2 * 10^10
  // comparisons) would take minutes; a frame this size must cost time in proportion to it.
  const size_t n = 200000;
  std::vector<std::pair<std::string, std::string>> headers = {{"message-id", "many"}};
  for (size_t i = 0; i < n; ++i)
    headers.emplace_back(std::string(1, 'h').append(std::to_string(i % (n / 2))),
                         std::to_string(i));
  auto events = map(message(std::move(headers), "{}"));
  REQUIRE(events.size() == 1);
  CHECK(events[0].attributes.size() == 1 + n / 2);
  CHECK(events[0].find_attribute("h0") == "0");
  CHECK(events[0].find_attribute("h99999") == "99999");
}

TEST_CASE("a timestamp header too large for nanoseconds is ignored, not overflowed") {
  // Found by hmc_stomp_fuzz_events: 17000200000615 ms * 10^6 overflows int64_t.
  for (const char* ts : {"17000200000615", "9223372036854775807", "9223372036855"}) {
    CAPTURE(ts);
    auto events = map(message({{"message-id", "t"}, {"timestamp", ts}}, "{}"));
    REQUIRE(events.size() == 1);
    CHECK(events[0].time_unix_ns == 0);  // the host stamps the time of receipt
    CHECK(events[0].find_attribute("timestamp") == ts);
  }
  auto events = map(message({{"message-id", "t"}, {"timestamp", "9223372036854"}}, "{}"));
  CHECK(events[0].time_unix_ns == 9223372036854000000LL);  // the largest that fits
}

TEST_CASE("a UTF-8 byte order mark before the JSON body is skipped") {
  const std::string bom = "\xEF\xBB\xBF";
  for (bool split : {false, true}) {
    CAPTURE(split);
    auto events = map(message({{"notification-type", "status-change"}, {"message-id", "b1"}},
                              bom + R"({"status":"operating"})"),
                      split);
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == "hmc.status-change");
    CHECK(events[0].data == R"({"status":"operating"})");
    // A mark alone is an empty body: null data.
    events =
        map(message({{"notification-type", "inventory-change"}, {"message-id", "b2"}}, bom), split);
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == "hmc.inventory-change");
    CHECK(!events[0].data.has_value());
  }
  // Not JSON after the mark: the reason says where, counting after the mark; raw keeps it.
  auto events =
      map(message({{"notification-type", "os-message"}, {"message-id", "b3"}}, bom + "{not json"));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "sluice.parse-error");
  auto data = nlohmann::json::parse(*events[0].data);
  CHECK(data["error"] ==
        "Missing a name for object member. (at byte 1) (after the UTF-8 byte order mark, 3 bytes)");
  CHECK(data["raw"] == bom + "{not json");
}

TEST_CASE("a body that is not JSON becomes sluice.parse-error with the raw text") {
  SequenceTracker seq;
  MapStats stats;
  sluice::PackedEvents packed;
  sluice::hmc::map_message(message({{"notification-type", "os-message"},
                                    {"message-id", "m9"},
                                    {"object-uri", "/api/partitions/p1"}},
                                   "{not json")
                               .view(),
                           kSource, false, seq, packed, stats);
  auto out = events_of(packed);
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == "sluice.parse-error");
  CHECK(out[0].id == "m9");
  CHECK(out[0].subject == "/api/partitions/p1");
  CHECK(out[0].find_attribute("notification-type") == "os-message");
  auto data = nlohmann::json::parse(*out[0].data);
  CHECK(data["raw"] == "{not json");
  CHECK(data["error"] == "Missing a name for object member. (at byte 1)");
  CHECK(stats.parse_errors == 1);
}

TEST_CASE("split_lists: one event per os-messages entry with ids <message-id>#<n>") {
  auto events = map(message({{"notification-type", "os-message"}, {"message-id", "m10"}},
                            R"({"os-messages":[{"sequence-number":1},{"sequence-number":2}]})"),
                    true);
  REQUIRE(events.size() == 2);
  CHECK(events[0].id == "m10#0");
  CHECK(events[0].type == "hmc.os-message");
  CHECK(events[0].data == R"({"sequence-number":1})");
  CHECK(events[1].id == "m10#1");
  CHECK(events[1].data == R"({"sequence-number":2})");
  CHECK(events[1].find_attribute("message-id") == "m10");
}

TEST_CASE("split_lists: log-entries and change-reports are split too") {
  auto logs =
      map(message({{"notification-type", "log-entry"}, {"message-id", "a"}},
                  R"({"log-entries":[{"event-id":"1"},{"event-id":"2"},{"event-id":"3"}]})"),
          true);
  REQUIRE(logs.size() == 3);
  CHECK(logs[2].id == "a#2");
  CHECK(logs[2].data == R"({"event-id":"3"})");
  auto changes = map(message({{"notification-type", "property-change"}, {"message-id", "b"}},
                             R"({"change-reports":[{"property-name":"x"}]})"),
                     true);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].id == "b#0");
  CHECK(changes[0].data == R"({"property-name":"x"})");
}

TEST_CASE("split_lists: a list whose split would copy over 64 MiB of headers stays whole") {
  // 200 headers of about 500 bytes (100 KB) and 1000 entries: 100 MB of copied headers.
  std::vector<std::pair<std::string, std::string>> headers = {{"notification-type", "os-message"},
                                                              {"message-id", "big"}};
  for (int i = 0; i < 200; ++i)
    headers.emplace_back(std::string(1, 'h').append(std::to_string(i)), std::string(500, 'v'));
  std::string body = R"({"os-messages":[)";
  for (int i = 0; i < 1000; ++i)
    body += i ? ",{}" : "{}";
  body += "]}";
  SequenceTracker seq;
  MapStats stats;
  sluice::PackedEvents packed;
  sluice::hmc::map_message(message(headers, body).view(), kSource, true, seq, packed, stats);
  auto events = events_of(packed);
  REQUIRE(events.size() == 1);
  CHECK(events[0].id == "big");
  CHECK(events[0].data == body);
  CHECK(stats.lists_not_split == 1);
  // Fewer entries with the same headers: split as usual.
  packed.clear();
  sluice::hmc::map_message(message(headers, R"({"os-messages":[{"a":1},{"a":2}]})").view(), kSource,
                           true, seq, packed, stats);
  CHECK(packed.size() == 2);
  CHECK(stats.lists_not_split == 1);
}

TEST_CASE("split_lists: an empty list keeps the whole notification") {
  auto events = map(
      message({{"notification-type", "os-message"}, {"message-id", "c"}}, R"({"os-messages":[]})"),
      true);
  REQUIRE(events.size() == 1);
  CHECK(events[0].id == "c");
  CHECK(events[0].data == R"({"os-messages":[]})");
}

TEST_CASE("split_lists off: the list stays in one event") {
  auto events = map(message({{"notification-type", "os-message"}, {"message-id", "d"}},
                            R"({"os-messages":[{"a":1},{"a":2}]})"),
                    false);
  REQUIRE(events.size() == 1);
  CHECK(events[0].id == "d");
}

TEST_CASE("gap: a jump in session-sequence-nr emits sluice.gap before the notification") {
  SequenceTracker seq;
  MapStats stats;
  sluice::PackedEvents packed;
  auto frame = [](int nr) {
    return message({{"destination", "/topic/t"},
                    {"subscription", "sub-1"},
                    {"message-id", "id" + std::to_string(nr)},
                    {"notification-type", "status-change"},
                    {"session-sequence-nr", std::to_string(nr)}},
                   "{}");
  };
  sluice::hmc::map_message(frame(5).view(), kSource, false, seq, packed, stats);
  sluice::hmc::map_message(frame(6).view(), kSource, false, seq, packed, stats);
  sluice::hmc::map_message(frame(10).view(), kSource, false, seq, packed, stats);
  auto out = events_of(packed);
  REQUIRE(out.size() == 4);
  CHECK(out[2].type == "sluice.gap");
  CHECK(out[2].id == "id10#gap");
  CHECK(out[2].subject == "/topic/t");
  CHECK(out[2].find_attribute("subscription") == "sub-1");
  CHECK(nlohmann::json::parse(*out[2].data) ==
        nlohmann::json{{"missed", 3},
                       {"expected", 7},
                       {"received", 10},
                       {"stream", "/topic/t"},
                       {"from", nullptr},
                       {"to", nullptr},
                       {"reason", "session-sequence-nr jumped"}});
  CHECK(out[3].id == "id10");
  CHECK(stats.gaps == 1);
  CHECK(stats.missed == 3);
}

TEST_CASE("gap: tracked per stream; a restart or repeat is no gap") {
  SequenceTracker seq;
  CHECK(!seq.observe("/topic/a", 1));
  CHECK(!seq.observe("/topic/b", 100));
  CHECK(!seq.observe("/topic/a", 2));
  CHECK(!seq.observe("/topic/b", 101));
  CHECK(!seq.observe("/topic/a", 2));  // repeated
  CHECK(!seq.observe("/topic/a", 0));  // restarted
  auto gap = seq.observe("/topic/a", 3);
  REQUIRE(gap);
  CHECK(gap->expected == 1);
  CHECK(gap->received == 3);
  CHECK(gap->from_unix_ns == 0);
  seq.reset();
  CHECK(!seq.observe("/topic/a", 50));
}

TEST_CASE("gap across an outage: the numbering is kept, the jump counted with the window") {
  SequenceTracker seq;
  CHECK(!seq.observe("/topic/a", 50));
  CHECK(!seq.observe("/topic/b", 7));
  seq.outage(1000, 2000);
  seq.outage(3000, 4000);  // a second outage before any notification: one window
  auto gap = seq.observe("/topic/a", 901);
  REQUIRE(gap);
  CHECK(gap->expected == 51);
  CHECK(gap->received == 901);
  CHECK(!gap->restarted);
  CHECK(gap->from_unix_ns == 1000);
  CHECK(gap->to_unix_ns == 4000);
  CHECK(!seq.observe("/topic/a", 902));  // the window is used once
  // The numbering went back during the outage: lost, number unknown.
  auto restarted = seq.observe("/topic/b", 1);
  REQUIRE(restarted);
  CHECK(restarted->restarted);
  CHECK(restarted->expected == 8);
  CHECK(restarted->received == 1);
  // Nothing missed: no gap.
  seq.outage(5000, 6000);
  CHECK(!seq.observe("/topic/a", 903));
  seq.forget("/topic/a");
  CHECK(!seq.observe("/topic/a", 1));
}

TEST_CASE("map_message: a gap after an outage carries the window; a restart has missed null") {
  SequenceTracker seq;
  MapStats stats;
  sluice::PackedEvents packed;
  auto frame = [](int nr, const std::string& sub) {
    return message({{"destination", "/topic/t"},
                    {"subscription", sub},
                    {"message-id", "id" + std::to_string(nr)},
                    {"notification-type", "status-change"},
                    {"session-sequence-nr", std::to_string(nr)}},
                   "{}");
  };
  sluice::hmc::map_message(frame(50, "sub-1").view(), kSource, false, seq, packed, stats);
  seq.outage(1700000000000000000, 1700000060000000000);
  // The new connection numbers its subscriptions afresh: the topic is what counts.
  sluice::hmc::map_message(frame(901, "sub-3").view(), kSource, false, seq, packed, stats);
  seq.outage(1700000100000000000, 1700000160000000000);
  sluice::hmc::map_message(frame(2, "sub-1").view(), kSource, false, seq, packed, stats);
  auto out = events_of(packed);
  REQUIRE(out.size() == 5);
  CHECK(out[1].type == "sluice.gap");
  auto d = nlohmann::json::parse(*out[1].data);
  CHECK(d["missed"] == 850);
  CHECK(d["expected"] == 51);
  CHECK(d["received"] == 901);
  CHECK(d["from"] == "2023-11-14T22:13:20.000Z");
  CHECK(d["to"] == "2023-11-14T22:14:20.000Z");
  CHECK(out[3].type == "sluice.gap");
  auto r = nlohmann::json::parse(*out[3].data);
  CHECK(r["missed"].is_null());
  CHECK(r["expected"] == 902);
  CHECK(r["received"] == 2);
  CHECK(r["from"] == "2023-11-14T22:15:00.000Z");
  CHECK(stats.gaps == 2);
  CHECK(stats.missed == 850);
  CHECK(stats.unknown_gaps == 1);
}

TEST_CASE("Secrets: session id and credential are scrubbed from peer text, short values ignored") {
  sluice::hmc::Secrets secrets;
  secrets.add("3f1c9a6e-4a1b-11ee-8c1a-fa163e7d1a2b");
  secrets.add("credential-xyz");
  secrets.add("ab");  // too short to hide without garbling other text
  CHECK(secrets.scrub("User name [3f1c9a6e-4a1b-11ee-8c1a-fa163e7d1a2b] or password is invalid.") ==
        "User name [***] or password is invalid.");
  CHECK(secrets.scrub("credential-xyzcredential-xyz, about") == "******, about");
}

TEST_CASE("Secrets: many logons later, the session in use is still scrubbed") {
  // Each logon adds a session id and a (shorter) credential; the bound must drop the oldest
  // values, never the newest, whatever their lengths.
  sluice::hmc::Secrets secrets;
  for (int logon = 1; logon <= 12; ++logon) {
    const std::string session = "session-id-of-logon-number-" + std::to_string(100 + logon);
    const std::string credential = "cred-" + std::to_string(100 + logon);
    secrets.add(session);
    secrets.add(credential);
    CAPTURE(logon);
    CHECK(secrets.scrub("User name [" + session + "] is invalid") == "User name [***] is invalid");
    CHECK(secrets.scrub("credential " + credential) == "credential ***");
  }
}

TEST_CASE("error_event carries the message header, the destination and the body") {
  Frame f;
  f.command = "ERROR";
  f.add("content-type", "text/plain")
      .add("message",
           "remote addConsumer failed because the specified destination, 'topic://X', is not a "
           "known or approved topic.");
  f.body = "java.lang.Exception";
  Event e = sluice::hmc::error_event(f.view(), kSource, "error-t-3", std::string("/topic/X"), {});
  CHECK(e.type == "sluice.error");
  CHECK(e.id == "error-t-3");
  CHECK(e.subject == "/topic/X");
  CHECK(e.find_attribute("content-type") == "text/plain");
  auto data = nlohmann::json::parse(*e.data);
  CHECK(data["stream"] == "/topic/X");
  CHECK(data["detail"] == "java.lang.Exception");
  CHECK(data["message"].get<std::string>().find("not a known or approved topic") !=
        std::string::npos);
}

TEST_CASE("error_event: a session id the broker echoes appears nowhere in the event") {
  const std::string id = "5e8f1a7c-0b1d-11ef-9a2b-fa163e000001";
  sluice::hmc::Secrets secrets;
  secrets.add(id);
  Frame f;
  f.command = "ERROR";
  f.add("message", "User name [" + id + "] or password is invalid.").add("login", id);
  f.body = "javax.jms.JMSSecurityException: User name [" + id + "] or password is invalid.\n";
  Event e = sluice::hmc::error_event(f.view(), kSource, "error-t-1", std::nullopt, secrets);
  CHECK(e.data->find(id) == std::string::npos);
  for (const auto& [k, v] : e.attributes)
    CHECK(v.find(id) == std::string::npos);
  CHECK(nlohmann::json::parse(*e.data)["message"] == "User name [***] or password is invalid.");
}

TEST_CASE("source_uri") {
  CHECK(sluice::hmc::source_uri("hmc1.example.com") == "hmc://hmc1.example.com");
  CHECK(sluice::hmc::source_uri("::1") == "hmc://[::1]");
}

TEST_CASE("json_error: valid JSON passes; garbage, two values, bad UTF-8 and deep nesting do not") {
  CHECK(!sluice::hmc::json_error(R"( {"a":[1,2,{"b":null}]} )"));
  CHECK(!sluice::hmc::json_error("\"\xc3\xa9\""));
  CHECK(sluice::hmc::json_error("{} {}") == "more than one JSON value (at byte 3)");
  CHECK(sluice::hmc::json_error("{oops") == "Missing a name for object member. (at byte 1)");
  CHECK(sluice::hmc::json_error("\"\xff\"") == "Invalid encoding in string. (at byte 1)");
  // A million nested arrays: the iterative reader neither recurses nor fails on depth.
  CHECK(!sluice::hmc::json_error(std::string(1000000, '[') + std::string(1000000, ']')));
}

TEST_CASE("json_error: messages say why and where") {
  const std::string text = "IEE252I MEMBER CTIEZB00 FOUND IN SYS1.PARMLIB with a long tail";
  CHECK(
      !sluice::hmc::json_error(R"({"os-messages":[{"message-text":")" + text + R"(\n\u00e9"}]})"));
  CHECK(!sluice::hmc::json_error("  \"" + text + "\"\r\n\t "));
  CHECK(sluice::hmc::json_error("\"" + text) ==
        "Missing a closing quotation mark in string. (at byte 63)");
  CHECK(sluice::hmc::json_error("\"" + text + "\tx\"") ==
        "Invalid escape character in string. (at byte 63)");  // a raw control character
  CHECK(sluice::hmc::json_error("[1,2] 3") == "more than one JSON value (at byte 6)");
  CHECK(sluice::hmc::json_error("[1e400]") == "Number too big to be stored in double. (at byte 1)");
  CHECK(sluice::hmc::json_error(std::string("{}\0", 3)) == "more than one JSON value (at byte 2)");
  CHECK(sluice::hmc::json_error(std::string("[\"a\0\"]", 6)) ==
        "Missing a closing quotation mark in string. (at byte 3)");
  // RapidJSON takes a lone low surrogate escape; sluice::json_valid (and the host) do not.
  CHECK(sluice::hmc::json_error(R"("\uDC00")") ==
        "an unpaired UTF-16 surrogate escape or a number too large for a double");
}

TEST_CASE("map_message: the HMC that delivered the frame is the last attribute, hmc") {
  SequenceTracker seq;
  MapStats stats;
  sluice::PackedEvents out;
  sluice::hmc::map_message(
      message({{"message-id", "m1"}, {"notification-type", "status-change"}}, "{}").view(), kSource,
      false, seq, out, stats, "hmc2.example.com");
  sluice::hmc::map_message(message({{"message-id", "m2"}}, "{oops").view(), kSource, false, seq,
                           out, stats, "hmc2.example.com");
  const auto events = events_of(out);
  REQUIRE(events.size() == 2);
  CHECK(events[0].source == kSource);
  CHECK(events[0].find_attribute("hmc") == "hmc2.example.com");
  CHECK(events[0].attributes.back().first == "hmc");
  CHECK(events[1].type == "sluice.parse-error");
  CHECK(events[1].find_attribute("hmc") == "hmc2.example.com");
  // without it, no attribute
  CHECK(!map(message({{"message-id", "m3"}}, "{}"))[0].find_attribute("hmc"));
}
