#include <doctest/doctest.h>

#include "fixture.hpp"

#include <set>
#include <sstream>

namespace {
hmc::Options with_stomp(const json& stomp) {
  hmc::Options o;
  o.scenario = {{"stomp", stomp}, {"topics", {"static.topic"}}};
  return o;
}
}  // namespace

TEST_SUITE("stomp") {
  TEST_CASE("handshake: the highest common version, server and heart-beat headers") {
    Fake f;
    auto c = f.stomp();
    auto r = c.connect("hmcuser", "hmcpassword", "1.0,1.1,1.2", "0,0");
    CHECK(r.command == "CONNECTED");
    CHECK(r.header("version") == "1.2");
    CHECK(r.header("server") == "ActiveMQ/5.17.2");
    CHECK(r.header("heart-beat") == "1000,1000");
  }

  TEST_CASE("a broker configured for 1.1 answers 1.1 like a real HMC") {
    Fake f(with_stomp({{"max_version", "1.1"}}));
    auto c = f.stomp();
    CHECK(c.connect("hmcuser", "hmcpassword", "1.0,1.1,1.2").header("version") == "1.1");
  }

  TEST_CASE("CONNECT without accept-version is STOMP 1.0 without heart-beat header") {
    Fake f;
    auto c = f.stomp();
    auto r = c.connect("hmcuser", "hmcpassword", "", "0,0", "CONNECT");
    CHECK(r.command == "CONNECTED");
    CHECK(r.header("version") == "1.0");
    CHECK(r.header("heart-beat") == "<absent>");
  }

  TEST_CASE("no common version is an ERROR listing the supported ones, then close") {
    Fake f;
    auto c = f.stomp();
    auto r = c.connect("hmcuser", "hmcpassword", "2.0");
    CHECK(r.command == "ERROR");
    CHECK(r.header("version") == "1.0,1.1,1.2");
    CHECK(c.wait_closed());
  }

  TEST_CASE("a bad password is an ERROR and the connection closes") {
    Fake f;
    auto c = f.stomp();
    auto r = c.connect("hmcuser", "wrong");
    CHECK(r.command == "ERROR");
    CHECK(r.header("message") == "User name [hmcuser] or password is invalid.");
    CHECK(c.wait_closed());
    CHECK(f.fake.stats().stomp_refused == 1);
  }

  TEST_CASE("the API session id and credential are a valid STOMP login") {
    Fake f;
    json s = f.logon();
    auto c = f.stomp();
    CHECK(c.connect(s["api-session"], s["session-credential"]).command == "CONNECTED");
  }

  TEST_CASE("an unknown topic is an ERROR with ActiveMQ's exact message and a stack trace") {
    Fake f;
    auto c = f.stomp();
    c.connect();
    c.send("SUBSCRIBE", {{"id", "s1"}, {"destination", "/topic/nope"}, {"receipt", "r9"}});
    auto e = c.read_frame();
    REQUIRE(e);
    CHECK(e->command == "ERROR");
    // 1.2 escapes the colons of the value: \c
    CHECK(e->header("message") ==
          "remote addConsumer failed because the specified destination, 'topic\\c//nope', is not "
          "a known or approved topic.");
    CHECK(e->header("receipt-id") == "r9");
    CHECK(e->body.find("\tat org.apache.activemq") != std::string::npos);
    CHECK(c.wait_closed());
  }

  TEST_CASE("MESSAGE carries the HMC headers; message-ids unique, sequence numbers count up") {
    Fake f;
    json s = f.logon();
    const std::string topic = s["notification-topic"];
    auto c = f.subscriber(topic);
    f.fake.publish(hmc::Notification(topic, "property-change", 3));
    std::set<std::string> ids;
    for (int i = 1; i <= 3; ++i) {
      auto m = c.read_frame();
      REQUIRE(m);
      CHECK(m->command == "MESSAGE");
      CHECK(m->header("destination") == "/topic/" + topic);
      CHECK(m->header("subscription") == "sub-1");
      CHECK(m->header("notification-type") == "property-change");
      CHECK(m->header("session-sequence-nr") == std::to_string(i));
      CHECK(m->header("class") == "cpc");
      CHECK(m->header("name") == "CPC1");
      CHECK(m->header("object-uri").rfind("/api/cpcs/", 0) == 0);
      CHECK(m->header("property-names") == " status ");
      CHECK(m->header("expires") == "0");
      CHECK(m->header("priority") == "4");
      CHECK(m->header("timestamp") != "<absent>");
      CHECK(m->header("global-sequence-nr") != "<absent>");
      CHECK(m->header("content-length") == std::to_string(m->body.size()));
      CHECK(json::parse(m->body)["change-reports"][0]["property-name"] == "status");
      ids.insert(m->header("message-id"));
    }
    CHECK(ids.size() == 3);
  }

  TEST_CASE("header values are escaped per negotiated version") {
    Fake f(with_stomp({{"max_version", "1.2"}}));
    hmc::Notification n("static.topic");
    n.headers = {{"x-test", "a:b\nc"}};
    {
      auto c = f.subscriber("static.topic");
      f.fake.publish(n);
      auto m = c.read_frame();
      REQUIRE(m);
      CHECK(m->header("x-test") == "a\\cb\\nc");
    }
    auto c10 = f.stomp();
    CHECK(c10.connect("hmcuser", "hmcpassword", "", "0,0", "CONNECT").header("version") == "1.0");
    c10.send("SUBSCRIBE", {{"destination", "/topic/static.topic"}, {"receipt", "r"}});
    REQUIRE(c10.read_frame()->command == "RECEIPT");
    f.fake.publish(n);
    auto m = c10.read_frame();
    REQUIRE(m);
    CHECK(m->header("x-test") == "a:b c");
    CHECK(m->header("subscription") == "/topic/static.topic");
  }

  TEST_CASE("body: JSON object, raw text, and null for an empty body") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.run_line(json::parse(R"({"topic":"static.topic","type":"os-message","body":{"a":1}})"));
    f.fake.run_line(json::parse(R"({"topic":"static.topic","type":"os-message","body":"raw"})"));
    f.fake.run_line(json::parse(R"({"topic":"static.topic","type":"job-completion","body":null})"));
    CHECK(c.read_frame()->body == R"({"a":1})");
    CHECK(c.read_frame()->body == "raw");
    auto job = c.read_frame();
    CHECK(job->body.empty());
    CHECK(job->header("job-uri").rfind("/api/jobs/", 0) == 0);
  }

  TEST_CASE("the server sends heart-beats and closes a client that sends none") {
    Fake f(with_stomp({{"heart_beat", {100, 100}}}));
    auto c = f.stomp();
    auto r = c.connect("hmcuser", "hmcpassword", "1.2", "100,100");
    REQUIRE(r.header("heart-beat") == "100,100");
    // Silent client: the fake must give up on it (2 x 100 ms grace) and close.
    CHECK(c.wait_closed(10s));
    CHECK(c.heartbeats >= 1);
    CHECK(f.fake.stats().heartbeats_sent >= 1);
  }

  TEST_CASE("DISCONNECT with receipt: RECEIPT, then the fake closes") {
    Fake f;
    auto c = f.stomp();
    c.connect();
    c.send("DISCONNECT", {{"receipt", "bye"}});
    auto r = c.read_frame();
    REQUIRE(r);
    CHECK(r->command == "RECEIPT");
    CHECK(r->header("receipt-id") == "bye");
    CHECK(c.wait_closed());
  }

  TEST_CASE("UNSUBSCRIBE stops delivery") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    c.send("UNSUBSCRIBE", {{"id", "sub-1"}, {"receipt", "u"}});
    REQUIRE(c.read_frame()->command == "RECEIPT");
    f.fake.publish(hmc::Notification("static.topic"));
    REQUIRE(f.fake.wait_idle(5s));
    CHECK(f.fake.stats().no_subscriber == 1);
    CHECK(f.fake.stats().messages_sent == 0);
  }

  TEST_CASE("plain TCP STOMP on request") {
    hmc::Options o;
    o.stomp_tls = false;
    Fake f(o);
    testclient::Stomp c(f.fake.stomp_port(), f.fake.ca_pem(), false);
    CHECK(c.connect().command == "CONNECTED");
  }

  TEST_CASE("stop and start again: same ports, sessions and sequence numbers kept") {
    Fake f(with_stomp(json::object()));
    const uint16_t port = f.fake.stomp_port();
    {
      auto c = f.subscriber("static.topic");
      f.fake.publish(hmc::Notification("static.topic"));
      CHECK(c.read_frame()->header("session-sequence-nr") == "1");
      f.fake.stop();
      CHECK(c.wait_closed());
    }
    f.fake.start();
    CHECK(f.fake.stomp_port() == port);
    auto c = f.subscriber("static.topic");
    f.fake.publish(hmc::Notification("static.topic"));
    CHECK(c.read_frame()->header("session-sequence-nr") == "2");
  }
}

TEST_SUITE("script") {
  TEST_CASE("a script plays notifications in order after waiting for the subscriber") {
    Fake f(with_stomp(json::object()));
    std::istringstream script(R"(# comment
{"wait_for_subscribers": 1, "timeout": "10s"}
{"topic": "static.topic", "type": "status-change", "repeat": 2}
{"sleep": "10ms"}
{"topic": "static.topic", "type": "inventory-change", "headers": {"action": "remove"}, "body": null, "rate": 1000}
)");
    f.fake.load_script(script);
    auto c = f.subscriber("static.topic");
    CHECK(c.read_frame()->header("notification-type") == "status-change");
    CHECK(c.read_frame()->header("notification-type") == "status-change");
    auto inv = c.read_frame();
    REQUIRE(inv);
    CHECK(inv->header("notification-type") == "inventory-change");
    CHECK(inv->header("action") == "remove");
  }

  TEST_CASE("a bad line is refused with its line number and nothing is queued") {
    Fake f;
    std::istringstream script("{\"sleep\":\"1ms\"}\n{\"fault\":\"nope\"}\n");
    CHECK_THROWS_WITH(f.fake.load_script(script), doctest::Contains("script line 2"));
    CHECK(f.fake.stats().jobs_pending == 0);
  }

  TEST_CASE("script numbers that do not fit are refused, not converted") {
    Fake f;
    for (const char* line :
         {R"({"topic":"*","repeat":-1})", R"({"topic":"*","repeat":1e30})",
          R"({"topic":"*","rate":1e-300})", R"({"topic":"*","rate":-2})",
          R"({"wait_for_subscribers":1e30})", R"({"fault":"skip-sequence","count":-5})"}) {
      INFO(line);
      std::istringstream script(line);
      CHECK_THROWS_WITH(f.fake.load_script(script), doctest::Contains("script line 1"));
    }
    CHECK(f.fake.stats().jobs_pending == 0);
  }

  TEST_CASE("a rate-limited burst is delivered completely") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.publish(hmc::Notification("static.topic", "os-message", 20, 2000));
    int got = 0;
    while (auto m = c.read_frame(2s))
      if (++got == 20) break;
    CHECK(got == 20);
  }
}

TEST_SUITE("faults") {
  TEST_CASE("drop-mid-frame: whole frames first, then half a frame, then the close") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.publish(hmc::Notification("static.topic", "os-message", 2));
    f.fake.fault({{"fault", "drop-mid-frame"}});
    CHECK(c.read_frame()->command == "MESSAGE");
    CHECK(c.read_frame()->command == "MESSAGE");
    CHECK(!c.read_frame(5s));
    CHECK(c.closed);
    CHECK(c.leftover().rfind("MESSAGE\n", 0) == 0);
    CHECK(f.fake.stats().truncated == 1);
  }

  TEST_CASE("stop-heartbeats: no heart-beat arrives afterwards, messages still do") {
    Fake f(with_stomp({{"heart_beat", {50, 0}}}));
    auto c = f.stomp();
    c.connect("hmcuser", "hmcpassword", "1.2", "0,50");
    c.send("SUBSCRIBE", {{"id", "s"}, {"destination", "/topic/static.topic"}, {"receipt", "r"}});
    REQUIRE(c.read_frame()->command == "RECEIPT");
    f.fake.fault({{"fault", "stop-heartbeats"}});
    REQUIRE(f.fake.wait_idle(5s));
    c.read_frame(200ms);  // take heart-beats sent before the fault
    const size_t before = c.heartbeats;
    CHECK(!c.read_frame(500ms));
    CHECK(c.heartbeats == before);
    f.fake.publish(hmc::Notification("static.topic"));
    CHECK(c.read_frame()->command == "MESSAGE");
  }

  TEST_CASE("error-frame: ERROR with the given message, then close") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.fault({{"fault", "error-frame"}, {"message", "broker going down"}});
    auto e = c.read_frame();
    REQUIRE(e);
    CHECK(e->command == "ERROR");
    CHECK(e->header("message") == "broker going down");
    CHECK(c.wait_closed());
  }

  TEST_CASE("malformed-json: a MESSAGE whose body is not JSON") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.fault({{"fault", "malformed-json"}});
    auto m = c.read_frame();
    REQUIRE(m);
    CHECK(m->header("notification-type") == "os-message");
    CHECK(json::parse(m->body, nullptr, false).is_discarded());
  }

  TEST_CASE("oversized-frame: a MESSAGE with a body of the given size") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.fault({{"fault", "oversized-frame"}, {"size", "3MiB"}});
    auto m = c.read_frame(20s);
    REQUIRE(m);
    CHECK(m->body.size() == 3u << 20);
    CHECK(json::parse(m->body)["os-messages"].size() == 1);
  }

  TEST_CASE("refuse-logon: the next STOMP logon is refused, the one after works") {
    Fake f;
    f.fake.fault({{"fault", "refuse-logon"}, {"where", "stomp"}});
    REQUIRE(f.fake.wait_idle(5s));
    auto a = f.stomp();
    CHECK(a.connect().command == "ERROR");
    auto b = f.stomp();
    CHECK(b.connect().command == "CONNECTED");
  }

  TEST_CASE("expire-session: connections on the session's topics are closed") {
    Fake f;
    json s = f.logon();
    auto c = f.subscriber(s["notification-topic"]);
    f.fake.fault({{"fault", "expire-session"}});
    CHECK(c.wait_closed());
    auto again = f.stomp();
    again.connect();
    again.send(
        "SUBSCRIBE",
        {{"id", "x"}, {"destination", "/topic/" + s["notification-topic"].get<std::string>()}});
    CHECK(again.read_frame()->command == "ERROR");
  }

  TEST_CASE("skip-sequence: the next notification jumps by the count") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.publish(hmc::Notification("static.topic"));
    f.fake.fault({{"fault", "skip-sequence"}, {"count", 4}});
    f.fake.publish(hmc::Notification("static.topic"));
    CHECK(c.read_frame()->header("session-sequence-nr") == "1");
    CHECK(c.read_frame()->header("session-sequence-nr") == "6");
  }

  TEST_CASE("inventory changes notify object-notification topics as the HMC does") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.inventory(
        {{"inventory", "add"}, {"cpc", "CPC2"}, {"lpar", "ZOS2"}, {"object-id", "l2"}});
    f.fake.inventory({{"inventory", "rename"}, {"cpc", "CPC2"}, {"lpar", "ZOS2"}, {"to", "ZOS3"}});
    f.fake.inventory({{"inventory", "remove"}, {"cpc", "CPC2"}, {"lpar", "ZOS3"}});
    f.fake.inventory({{"inventory", "add"}, {"cpc", "CPC2"}, {"lpar", "QUIET"}, {"notify", false}});
    f.fake.inventory({{"inventory", "rename"}, {"cpc", "CPC1"}, {"to", "CPCX"}});
    auto add = c.read_frame();
    REQUIRE(add);
    CHECK(add->header("notification-type") == "inventory-change");
    CHECK(add->header("action") == "add");
    CHECK(add->header("class") == "logical-partition");
    CHECK(add->header("name") == "ZOS2");
    CHECK(add->header("object-uri") == "/api/logical-partitions/l2");
    CHECK(add->header("object-id") == "l2");
    CHECK(add->body.empty());
    auto rename = c.read_frame();
    REQUIRE(rename);
    CHECK(rename->header("notification-type") == "property-change");
    CHECK(rename->header("property-names") == " name ");
    CHECK(rename->header("name") == "ZOS3");
    CHECK(rename->header("object-uri") == "/api/logical-partitions/l2");
    CHECK(json::parse(rename->body) ==
          json::parse(R"({"change-reports":[{"property-name":"name","old-value":"ZOS2",
                          "new-value":"ZOS3"}]})"));
    auto remove = c.read_frame();
    REQUIRE(remove);
    CHECK(remove->header("notification-type") == "inventory-change");
    CHECK(remove->header("action") == "remove");
    CHECK(remove->header("name") == "ZOS3");
    // "notify": false sends nothing: the next frame is the CPC's rename.
    auto cpc = c.read_frame();
    REQUIRE(cpc);
    CHECK(cpc->header("class") == "cpc");
    CHECK(cpc->header("name") == "CPCX");
    CHECK(cpc->header("notification-type") == "property-change");
  }

  TEST_CASE("slow-reader: the fake leaves client frames unread for the duration") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.fault({{"fault", "slow-reader"}, {"duration", "3s"}});
    REQUIRE(f.fake.wait_idle(5s));
    c.send("UNSUBSCRIBE", {{"id", "sub-1"}, {"receipt", "late"}});
    CHECK(!c.read_frame(300ms));  // not read yet
    auto r = c.read_frame(10s);
    REQUIRE(r);
    CHECK(r->header("receipt-id") == "late");
  }

  TEST_CASE("close: every STOMP connection is closed after its queued frames") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    f.fake.publish(hmc::Notification("static.topic"));
    f.fake.fault({{"fault", "close"}});
    CHECK(c.read_frame()->command == "MESSAGE");
    CHECK(c.wait_closed());
  }

  TEST_CASE("record_ids: the ids sent are the ids received") {
    hmc::Options o = with_stomp(json::object());
    o.record_ids = true;
    Fake f(o);
    auto c = f.subscriber("static.topic");
    f.fake.publish(hmc::Notification("static.topic", "os-message", 50));
    std::set<std::string> got;
    for (int i = 0; i < 50; ++i)
      if (auto m = c.read_frame()) got.insert(m->header("message-id"));
    std::set<std::string> sent;
    for (auto id : f.fake.sent_message_ids()) {
      // the client sees the 1.2-escaped form
      std::string esc;
      for (char ch : id)
        esc += ch == ':' ? std::string("\\c") : std::string(1, ch);
      sent.insert(esc);
    }
    CHECK(got.size() == 50);
    CHECK(got == sent);
  }

  // ---- knobs for tests that need a particular broker (issue 11) ------------------------------
  TEST_CASE("max_version 1.0: a STOMP 1.0 broker knows no STOMP frame, CONNECTED has no version") {
    Fake f(with_stomp({{"max_version", "1.0"}}));
    auto a = f.stomp();
    auto e = a.connect("hmcuser", "hmcpassword", "1.0,1.1,1.2", "0,0", "STOMP");
    CHECK(e.command == "ERROR");
    CHECK(e.header("message") == "Unknown STOMP action: STOMP");
    CHECK(a.wait_closed());
    auto b = f.stomp();
    auto c = b.connect("hmcuser", "hmcpassword", "1.0,1.1,1.2", "0,0", "CONNECT");
    CHECK(c.command == "CONNECTED");
    CHECK(c.header("version") == "<absent>");
    CHECK(c.header("server") == "ActiveMQ/5.17.2");
  }

  TEST_CASE("send_heartbeats false: heart-beats offered in CONNECTED, none sent") {
    Fake f(with_stomp({{"heart_beat", {100, 0}}, {"send_heartbeats", false}}));
    auto c = f.stomp();
    CHECK(c.connect("hmcuser", "hmcpassword", "1.2", "0,100").header("heart-beat") == "100,0");
    CHECK_FALSE(c.read_frame(600ms));  // six periods of silence
    CHECK(c.heartbeats == 0);
    CHECK(f.fake.stats().heartbeats_sent == 0);
    Fake g(with_stomp({{"heart_beat", {100, 0}}}));  // the same without the knob: they come
    auto d = g.stomp();
    d.connect("hmcuser", "hmcpassword", "1.2", "0,100");
    CHECK_FALSE(d.read_frame(600ms));
    CHECK(d.heartbeats > 0);
  }

  TEST_CASE("connected_headers: a hostile CONNECTED header replaces the fake's own") {
    Fake f(with_stomp(
        {{"connected_headers",
          {{"heart-beat", "9223372036854775807,9223372036854775807"}, {"x-extra", "1"}}}}));
    auto c = f.stomp();
    auto r = c.connect();
    CHECK(r.header("heart-beat") == "9223372036854775807,9223372036854775807");
    CHECK(r.header("x-extra") == "1");
    CHECK(r.header("version") == "1.2");
    CHECK_THROWS_AS(hmc::FakeHmc(quiet(with_stomp({{"connected_headers", {{"a", 1}}}}))),
                    std::invalid_argument);
  }

  TEST_CASE("raw fault: the bytes exactly as given") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    const std::string wire = std::string("MESSAGE\nx:1\n\nhalf a body, no NUL") + '\r';
    f.fake.fault({{"fault", "raw"}, {"text", wire}});
    REQUIRE(f.fake.wait_idle(5s));
    CHECK_FALSE(c.read_frame(300ms));  // no complete frame...
    CHECK(c.leftover() == wire);       // ...and the bytes as given
    CHECK_THROWS_AS(f.fake.fault({{"fault", "raw"}}), std::invalid_argument);
  }

  TEST_CASE(
      "a notification's own message-id, session-sequence-nr and timestamp; numbering goes on") {
    Fake f(with_stomp(json::object()));
    auto c = f.subscriber("static.topic");
    hmc::Notification n("static.topic", "status-change");
    n.headers = {{"message-id", "m:7"}, {"session-sequence-nr", "41"}, {"timestamp", "12"}};
    f.fake.publish(n);
    f.fake.publish(hmc::Notification("static.topic", "status-change"));
    auto a = c.read_frame();
    auto b = c.read_frame();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->header("message-id") == "m\\c7");  // escaped like any 1.2 value
    CHECK(a->header("session-sequence-nr") == "41");
    CHECK(a->header("timestamp") == "12");
    int ids = 0;
    for (const auto& [k, v] : a->headers)
      ids += k == "message-id";
    CHECK(ids == 1);
    CHECK(b->header("session-sequence-nr") == "42");
    CHECK(b->header("message-id") != "m\\c7");
  }

  TEST_CASE("records: client frames, subscriptions by connection, accepted connections, bytes") {
    hmc::Options o = with_stomp(json::object());
    o.record_frames = true;
    Fake f(o);
    {
      auto c = f.subscriber("static.topic");
      f.fake.publish(hmc::Notification("static.topic"));
      REQUIRE(c.read_frame());
    }
    auto d = f.subscriber("static.topic");
    REQUIRE(f.fake.wait_idle(5s));
    auto frames = f.fake.received_frames();
    REQUIRE(frames.size() >= 4);
    CHECK(frames[0].connection == 1);
    CHECK(frames[0].command == "STOMP");
    CHECK(*frames[0].header("login") == "hmcuser");
    CHECK(frames[1].command == "SUBSCRIBE");
    CHECK(*frames[1].header("destination") == "/topic/static.topic");
    CHECK(frames.back().connection == 2);
    CHECK(f.fake.subscribed(1) == std::vector<std::string>{"/topic/static.topic"});
    CHECK(f.fake.subscribed(2) == std::vector<std::string>{"/topic/static.topic"});
    CHECK(f.fake.subscribed(3).empty());
    const auto st = f.fake.stats();
    CHECK(st.stomp_accepted == 2);
    CHECK(st.stomp_bytes_written == st.stomp_bytes_queued);
    CHECK(st.stomp_bytes_written > 100);
  }

  TEST_CASE("refuse-logon with a message: ActiveMQ's text with the login sent") {
    Fake f;
    f.fake.fault({{"fault", "refuse-logon"},
                  {"where", "stomp"},
                  {"message", "User name [{login}] or password is invalid."}});
    REQUIRE(f.fake.wait_idle(5s));
    auto a = f.stomp();
    CHECK(a.connect().header("message") == "User name [hmcuser] or password is invalid.");
  }
}
