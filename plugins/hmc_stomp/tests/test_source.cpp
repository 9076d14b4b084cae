// The plugin end to end against the fake HMC's STOMP broker (sdk/fakes/hmc) on loopback: connect
// and subscribe, version fallback, heart-beat timeout, ERROR frames, bad credentials,
// back-pressure, TLS. The fake's codec shares nothing with the plugin's.
#include "fake_peer.hpp"
#include "stomp_frame.hpp"

#include <sluice/testing.hpp>

#include <boost/asio.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <string>
#include <thread>

using nlohmann::json;
using sluice::testing::Harness;
using test::notification;
using test::wait_until;
namespace hmc = sluice::fakes::hmc;

namespace {

const char* const kPlugin = HMC_STOMP_SO;

json base_options(uint16_t port, std::vector<std::string> topics = {"t1"}) {
  return json{{"host", "127.0.0.1"},
              {"stomp_port", port},
              {"transport", "tcp"},
              {"userid", "user"},
              {"password", "secret"},
              {"topics", topics},
              {"heartbeat", {{"send", 0}, {"receive", 0}}},
              {"reconnect", {{"initial", 20}, {"max", 200}, {"multiplier", 2}}},
              {"connect_timeout", "5s"}};
}

// A fake HMC as the test's broker: the scenario's topics and one user "user"/`password`; STOMP
// over TCP unless a certificate is given. `stomp`: scenario STOMP settings (heart-beats off by
// default).
struct Broker {
  explicit Broker(nlohmann::json stomp = json::object(),
                  std::vector<std::string> topics = {"t1", "t2", "a", "b", "c"},
                  std::string password = "secret",
                  std::optional<sluice::tls::CertificatePem> tls = std::nullopt,
                  int send_buffer = 0)
      : fake(options(std::move(stomp), std::move(topics), std::move(password), std::move(tls),
                     send_buffer)) {
    fake.start();
  }
  static hmc::Options options(json stomp, std::vector<std::string> topics, std::string password,
                              std::optional<sluice::tls::CertificatePem> tls, int send_buffer) {
    json st = {{"heart_beat", {0, 0}}};
    st.update(stomp);
    hmc::Options o = test::fake_options({{"users", {{{"userid", "user"}, {"password", password}}}},
                                         {"topics", topics},
                                         {"stomp", st}},
                                        !tls);
    o.certificate = std::move(tls);
    o.stomp_send_buffer = send_buffer;
    return o;
  }
  uint16_t port() const { return fake.stomp_port(); }
  uint64_t connections() const { return fake.stats().stomp_accepted; }
  bool wait_connections(uint64_t n) const {
    return wait_until([&] { return connections() >= n; });
  }
  bool wait_live_subscriptions(uint64_t n) const {
    return wait_until([&] { return fake.stats().subscriptions == n; });
  }
  std::vector<std::string> subscriptions(uint64_t connection) const {
    return fake.subscribed(connection);
  }
  void drop_connections() { fake.fault({{"fault", "close"}}); }
  void send_raw(const std::string& bytes) { fake.fault({{"fault", "raw"}, {"text", bytes}}); }
  hmc::FakeHmc fake;
};

size_t count_type(const std::vector<sluice::Event>& events, const std::string& type) {
  size_t n = 0;
  for (const auto& e : events)
    n += e.type == type;
  return n;
}

std::string temp_file(const std::string& name, const std::string& content) {
  std::string path = "/tmp/hmc_stomp_test_" + std::to_string(getpid()) + "_" + name;
  std::ofstream(path) << content;
  return path;
}

}  // namespace

TEST_CASE("connects, sends STOMP with login and heart-beat, subscribes and emits notifications") {
  Broker broker;
  Harness h(kPlugin);
  json o = base_options(broker.port(), {"t1", "t2"});
  o["heartbeat"] = {{"send", 1000}, {"receive", 0}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(2));
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  CHECK(h.states().back().detail == "2 topic(s) subscribed");

  auto frames = broker.fake.received_frames();
  REQUIRE(frames.size() >= 3);
  CHECK(frames[0].command == "STOMP");
  CHECK(*frames[0].header("accept-version") == "1.0,1.1,1.2");
  CHECK(*frames[0].header("host") == "127.0.0.1");
  CHECK(*frames[0].header("login") == "user");
  CHECK(*frames[0].header("passcode") == "secret");
  CHECK(*frames[0].header("heart-beat") == "1000,0");
  CHECK(frames[1].command == "SUBSCRIBE");
  CHECK(*frames[1].header("destination") == "/topic/t1");
  CHECK(*frames[1].header("id") == "sub-1");
  CHECK(*frames[1].header("ack") == "auto");
  CHECK(*frames[2].header("destination") == "/topic/t2");
  CHECK(*frames[2].header("id") == "sub-2");

  broker.fake.publish(notification("t1", 1, "m1", R"({"change-reports":[]})"));
  broker.fake.publish(notification("t2", 1, "m2", ""));
  REQUIRE(h.wait_for_events(2));
  auto events = h.events();
  CHECK(events[0].type == "hmc.status-change");
  CHECK(events[0].id == "m1");
  CHECK(events[0].source == "hmc://127.0.0.1");
  CHECK(events[0].subject == "/api/cpcs/c1");
  CHECK(events[0].find_attribute("destination") == "/topic/t1");
  CHECK(events[0].find_attribute("subscription") == "sub-1");
  CHECK(events[0].data == R"({"change-reports":[]})");
  CHECK(events[1].id == "m2");
  CHECK(!events[1].data.has_value());
  inst.stop();
  CHECK(wait_until([&] { return broker.fake.received_frames().back().command == "DISCONNECT"; }));
}

TEST_CASE("a STOMP 1.0 broker that refuses STOMP gets CONNECT") {
  Broker broker(json{{"max_version", "1.0"}});  // a 1.0 broker knows no STOMP frame
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port()).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  auto frames = broker.fake.received_frames();
  REQUIRE(frames.size() >= 3);
  CHECK(frames[0].command == "STOMP");
  CHECK(frames[1].command == "CONNECT");
  CHECK(frames[2].command == "SUBSCRIBE");
  CHECK(h.logged("trying CONNECT (STOMP 1.0 brokers)"));
  broker.fake.publish(notification("t1", 1, "m1"));
  REQUIRE(h.wait_for_events(1));
  CHECK(h.events()[0].type == "hmc.status-change");
}

TEST_CASE("stomp_version 1.0 sends CONNECT without accept-version") {
  Broker broker;
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["stomp_version"] = "1.0";
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  auto frames = broker.fake.received_frames();
  CHECK(frames[0].command == "CONNECT");
  CHECK(frames[0].header("accept-version") == nullptr);
  CHECK(*frames[0].header("login") == "user");
}

TEST_CASE("heart-beat timeout: a silent broker is replaced, topics re-subscribed, reconnect told") {
  // Promises heart-beats every 100 ms, sends none.
  Broker broker(json{{"heart_beat", {100, 0}}, {"send_heartbeats", false}});
  Harness h(kPlugin);
  json o = base_options(broker.port(), {"t1", "t2"});
  o["heartbeat"] = {{"send", 0}, {"receive", 100}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_connections(2));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "sluice.reconnected") >= 1; }));
  REQUIRE(wait_until([&] { return broker.subscriptions(2).size() == 2; }));
  CHECK(broker.subscriptions(2) == std::vector<std::string>{"/topic/t1", "/topic/t2"});
  CHECK(h.metric("heartbeat_timeouts") >= 1);
  CHECK(h.metric("reconnects") >= 1);
  auto events = h.events();
  auto data = json::parse(*events[0].data);
  CHECK(events[0].id.rfind("reconnected-", 0) == 0);  // reconnected-<random token>-1
  CHECK(events[0].id.size() == std::string("reconnected-").size() + 16 + 2);
  CHECK(data["reconnects"] == 1);
  CHECK(data["reason"].get<std::string>().find("heart-beat timeout") == 0);
}

TEST_CASE("heart-beats received in time keep the connection") {
  Broker broker(json{{"heart_beat", {100, 0}}, {"send_heartbeats", false}});  // the test sends them
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["heartbeat"] = {{"send", 0}, {"receive", 500}};  // dead after 1 s of silence
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  // Feed heart-beats for a while; the connection must survive many watchdog periods (250 ms).
  // The 50 ms rhythm leaves a 20x margin for a slow (sanitizer, loaded) machine.
  for (int i = 0; i < 40; ++i) {
    broker.send_raw("\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the heart-beat rhythm itself
  }
  CHECK(broker.connections() == 1);
  CHECK(h.metric("heartbeat_timeouts") == 0);
}

TEST_CASE("the broker dropping the connection: reconnect, re-subscribe all, sluice.reconnected") {
  Broker broker;
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port(), {"a", "b", "c"}).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(3));
  broker.fake.publish(notification("a", 1, "before"));
  REQUIRE(h.wait_for_events(1));
  broker.drop_connections();
  REQUIRE(broker.wait_connections(2));
  REQUIRE(broker.wait_live_subscriptions(3));
  CHECK(broker.subscriptions(2) == std::vector<std::string>{"/topic/a", "/topic/b", "/topic/c"});
  broker.fake.publish(notification("c", 1, "after"));
  REQUIRE(h.wait_until([](const auto& ev) { return ev.size() >= 3; }));
  auto events = h.events();
  CHECK(events[0].id == "before");
  CHECK(events[1].type == "sluice.reconnected");
  CHECK(events[2].id == "after");
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
}

TEST_CASE("ERROR for an unknown topic: sluice.error, degraded, the other topics go on") {
  Broker broker(json::object(), {"good"});
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port(), {"good", "bad"}).dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_DEGRADED));
  CHECK(h.states().back().detail.find("topic bad: remote addConsumer failed") != std::string::npos);
  REQUIRE(broker.wait_live_subscriptions(1));
  const uint64_t conns = broker.connections();
  CHECK(broker.subscriptions(conns) == std::vector<std::string>{"/topic/good"});
  CHECK(h.logged("is not a known or approved topic"));
  broker.fake.publish(notification("good", 1, "g1"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") == 1; }));
  auto events = h.events();
  REQUIRE(count_type(events, "sluice.error") == 1);
  const auto& err = events[0];
  CHECK(err.type == "sluice.error");
  CHECK(err.subject == "/topic/bad");
  auto data = json::parse(*err.data);
  CHECK(data["stream"] == "/topic/bad");
  CHECK(data["message"].get<std::string>().find("'topic://bad'") != std::string::npos);
  CHECK(h.metric("stomp_errors") == 1);
  // The failed topic stays out: reconnects after it subscribe only the good one.
  broker.drop_connections();
  REQUIRE(broker.wait_connections(conns + 1));
  REQUIRE(broker.wait_live_subscriptions(1));
  CHECK(broker.subscriptions(conns + 1) == std::vector<std::string>{"/topic/good"});
  REQUIRE(h.wait_for_state(SLUICE_STATE_DEGRADED));
}

TEST_CASE("bad credentials: state down with the broker's message, no hot loop") {
  Broker broker(json::object(), {"t1"}, "right");
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["reconnect"] = {{"initial", 10}, {"max", "60s"}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
  CHECK(h.states().back().detail ==
        "broker refused the connection: User name [user] or password is invalid.");
  CHECK(h.logged("retrying in"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "sluice.error") == 1; }));
  // A hot loop would make dozens of connections in this time; the max back-off (60 s) makes none.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // One failed logon per attempt: an ERROR about the login is no reason to try CONNECT (a second
  // failed logon, which counts against lockout policies).
  CHECK(broker.connections() == 1);
  CHECK(!h.logged("trying CONNECT"));
  CHECK(test::logons(broker.fake) == 1);
}

TEST_CASE("a broker that never answers STOMP costs one connect_timeout, not a CONNECT retry too") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::vector<boost::asio::ip::tcp::socket> held;  // accepted and never answered
  std::atomic<int> accepted{0};
  std::function<void()> accept = [&] {
    acceptor.async_accept([&](const boost::system::error_code& ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      held.push_back(std::move(s));
      ++accepted;
      accept();
    });
  };
  accept();
  std::thread t([&] { io.run(); });
  {
    Harness h(kPlugin);
    json o = base_options(acceptor.local_endpoint().port());
    o["connect_timeout"] = 300;
    o["reconnect"] = {{"initial", "60s"}, {"max", "60s"}};
    auto& inst = h.create(o.dump());
    inst.start();
    REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
    CHECK(h.states().back().detail ==
          "cannot connect: timeout waiting for CONNECTED (connect_timeout 300 ms)");
    CHECK(accepted == 1);
    CHECK(!h.logged("trying CONNECT"));
    inst.stop();
  }
  io.stop();
  t.join();
}

TEST_CASE("topics given with the /topic/ prefix are subscribed once, as /topic/<name>") {
  Broker broker;
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port(), {"/topic/t1", "t2", "/topic/t2"}).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(2));
  CHECK(broker.subscriptions(1) == std::vector<std::string>{"/topic/t1", "/topic/t2"});
  broker.fake.publish(notification("t1", 1, "p1"));
  REQUIRE(h.wait_for_events(1));
  CHECK(h.events()[0].find_attribute("destination") == "/topic/t1");
}

TEST_CASE("broker heart-beats near 2^63 are clamped: no reconnect loop, no newline flood") {
  Broker broker(
      json{{"connected_headers", {{"heart-beat", "9223372036854775807,9223372036854775807"}}}});
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["heartbeat"] = {{"send", 100}, {"receive", 100}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  CHECK(h.logged("clamped to at most 3600000 ms"));
  CHECK(h.logged("heart-beats send 3600s receive 3600s"));
  // With the overflow, the watchdog fired at once ("nothing for more than -2 ms") and the
  // heart-beat timer spun: many connections, or a stream of newlines, within this time.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(broker.connections() == 1);
  CHECK(h.metric("heartbeat_timeouts") == 0);
  broker.fake.publish(notification("t1", 1, "hb"));
  REQUIRE(h.wait_for_events(1));
  CHECK(h.events()[0].id == "hb");
}

TEST_CASE("a broker that declines heart-beats (0,0): a warning that only TCP notices a dead peer") {
  Broker broker;  // CONNECTED says heart-beat:0,0 (the scenario's heart_beat [0, 0])
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["heartbeat"] = {{"send", 1000}, {"receive", 1000}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  bool warned = false;
  for (const auto& l : h.logs())
    warned |= l.level == SLUICE_LOG_WARN &&
              l.message.find("noticed only through TCP") != std::string::npos;
  CHECK(warned);
}

TEST_CASE("back-pressure: a blocked emit stops reading; nothing is lost once it unblocks") {
  Broker broker(json::object(), {"t1"}, "secret", std::nullopt, 64 * 1024);
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["heartbeat"] = {{"send", 100}, {"receive", 0}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  h.block_emit(true);
  const int n = 1000;
  const std::string body =
      R"({"os-messages":[{"message-text":")" + std::string(16000, 'x') + "\"}]}";
  // Appended, not `"m" + ...`: once inlined that trips a false GCC 12 -Wrestrict warning.
  auto id_of = [](int i) {
    std::string id = "m";
    id += std::to_string(i);
    return id;
  };
  for (int i = 1; i <= n; ++i)
    broker.fake.publish(notification("t1", i, id_of(i), body));
  // The broker's writes stall: 16 MB do not fit in the socket buffers of a reader that stopped,
  // so the fake holds the rest of its queue (publishes pending) with bytes still unwritten.
  auto stats = [&] { return broker.fake.stats(); };
  CHECK(wait_until([&] { return stats().stomp_bytes_queued > 1'000'000; }));
  // Then they stall: the written count stops growing below what was queued.
  uint64_t last = stats().stomp_bytes_written;
  bool stalled = false;
  for (int i = 0; i < 100 && !stalled; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // sampling interval
    const auto now = stats();
    stalled = now.stomp_bytes_written == last && now.stomp_bytes_written < now.stomp_bytes_queued;
    last = now.stomp_bytes_written;
  }
  CHECK(stalled);
  CHECK(stats().jobs_pending > 0);
  CHECK(stats().messages_sent < static_cast<uint64_t>(n));
  CHECK(h.event_count() == 0);
  CHECK(broker.connections() == 1);  // heart-beats kept flowing; nobody gave up
  h.block_emit(false);
  REQUIRE(h.wait_for_events(n, std::chrono::seconds(60)));
  auto events = h.events();
  REQUIRE(events.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    CHECK(events[i].id == id_of(i + 1));
  CHECK(count_type(events, "sluice.gap") == 0);
  CHECK(broker.connections() == 1);
}

TEST_CASE("a gap in session-sequence-nr emits sluice.gap over the wire") {
  Broker broker;
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port()).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  for (int seq : {1, 2, 6})
    broker.fake.publish(notification("t1", seq, "s" + std::to_string(seq)));
  REQUIRE(h.wait_for_events(4));
  auto events = h.events();
  CHECK(events[2].type == "sluice.gap");
  auto gap = json::parse(*events[2].data);
  CHECK(gap["expected"] == 3);
  CHECK(gap["received"] == 6);
  CHECK(gap["missed"] == 3);
  CHECK(events[3].id == "s6");
  CHECK(h.metric("missed_notifications") == 3);
}

TEST_CASE("a body that is not JSON becomes sluice.parse-error and the stream goes on") {
  Broker broker;
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port()).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  broker.fake.publish(notification("t1", 1, "bad", "{oops"));
  broker.fake.publish(notification("t1", 2, "good"));
  REQUIRE(h.wait_for_events(2));
  auto events = h.events();
  CHECK(events[0].type == "sluice.parse-error");
  CHECK(json::parse(*events[0].data)["raw"] == "{oops");
  CHECK(events[1].id == "good");
  CHECK(h.metric("parse_errors") == 1);
}

TEST_CASE("a frame over max_frame_bytes closes the connection and reconnects") {
  Broker broker;
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["max_frame_bytes"] = 4096;
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  broker.fake.publish(notification("t1", 1, "huge", std::string(10000, ' ')));
  REQUIRE(broker.wait_connections(2));
  REQUIRE(broker.wait_live_subscriptions(1));
  CHECK(h.metric("frame_errors") == 1);
  CHECK(h.logged("frame too large"));
  broker.fake.publish(notification("t1", 1, "small"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") == 1; }));
}

namespace {
// A MESSAGE for sub-1 with `n` extra headers "h<i>:<i>" (names repeat with period `period`).
std::string message_with_headers(size_t n, size_t period, const std::string& id) {
  std::string wire = "MESSAGE\ndestination:/topic/t1\nsubscription:sub-1\nmessage-id:" + id +
                     "\nnotification-type:status-change\n";
  wire.reserve(wire.size() + n * 16);
  for (size_t i = 0; i < n; ++i) {
    wire += 'h';
    wire += std::to_string(i % period);
    wire += ':';
    wire += std::to_string(i);
    wire += '\n';
  }
  wire += "\n{}";
  wire += '\0';
  return wire;
}
}  // namespace

TEST_CASE("500000 headers (5.5 MB, under max_frame_bytes): refused by max_headers; stop returns") {
  Broker broker;
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port()).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  const std::string wire = message_with_headers(500000, 500000, "huge");
  REQUIRE(wire.size() > 5000000);
  REQUIRE(wire.size() < (16u << 20));
  broker.send_raw(wire);
  // Before the limit, the io thread spent minutes comparing headers: no reconnect, no stop.
  REQUIRE(broker.wait_connections(2));
  REQUIRE(broker.wait_live_subscriptions(1));
  CHECK(h.metric("frame_errors") == 1);
  CHECK(h.logged("frame too large (more headers than max_headers 1000)"));
  broker.fake.publish(notification("t1", 1, "after"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") == 1; }));
  // A peer sending the pathological frame again while stop runs: stop must not wait for it.
  broker.send_raw(wire);
  auto stopped = std::async(std::launch::async, [&] { inst.stop(); });
  // A guard against hanging, not a timing claim: stop takes well under a second.
  CHECK(stopped.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
}

TEST_CASE("max_headers raised: a frame with 200000 headers is mapped, repeated names once") {
  Broker broker;
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["max_headers"] = 300000;
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  broker.send_raw(message_with_headers(200000, 100000, "wide"));
  broker.fake.publish(notification("t1", 1, "after"));
  // Linear work: both arrive at once (quadratic work took minutes here).
  REQUIRE(h.wait_until([](const auto& ev) { return ev.size() >= 2; }, std::chrono::seconds(30)));
  auto events = h.events();
  CHECK(events[0].id == "wide");
  CHECK(events[0].attributes.size() == 4 + 100000 + 1);  // and hmc, the HMC that delivered it
  CHECK(events[0].find_attribute("h5") == "5");
  CHECK(events[1].id == "after");
  CHECK(broker.connections() == 1);
}

TEST_CASE("frames before a bad frame in the same read are emitted before the reconnect") {
  Broker broker;
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port()).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  auto message = [](int seq, const std::string& id) {
    sluice::hmc::stomp::Frame f;
    f.command = "MESSAGE";
    f.add("destination", "/topic/t1").add("subscription", "sub-1");
    f.add("message-id", id)
        .add("notification-type", "status-change")
        .add("session-sequence-nr", std::to_string(seq))
        .add("object-uri", "/api/cpcs/c1")
        .add("timestamp", "1700000000000");
    f.body = "{}";
    return sluice::hmc::stomp::serialize(f, sluice::hmc::stomp::Version::v1_2);
  };
  // One write: the plugin reads the three frames together (or the good ones earlier).
  broker.send_raw(message(1, "before-1") + message(2, "before-2") + "MESSAGE\nno colon\n\n" +
                  std::string(1, '\0'));
  REQUIRE(broker.wait_connections(2));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") == 2; }));
  auto events = h.events();
  CHECK(events[0].id == "before-1");
  CHECK(events[1].id == "before-2");
  CHECK(h.metric("frame_errors") == 1);
  CHECK(h.logged("header line without ':'"));
}

// ---- TLS --------------------------------------------------------------------------------------

TEST_CASE("TLS: verification succeeds with the CA file, by IP SAN") {
  const auto pem = sluice::tls::generate_self_signed({"localhost", "127.0.0.1"});
  Broker broker(json::object(), {"t1"}, "secret", pem);
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["transport"] = "tls";
  o["tls"] = {{"ca_file", temp_file("ca1.pem", pem.certificate)}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  broker.fake.publish(notification("t1", 1, "tls1"));
  REQUIRE(h.wait_for_events(1));
  CHECK(h.events()[0].id == "tls1");
  CHECK(!h.logged("TLS verification is off"));
}

TEST_CASE("TLS: verification succeeds by DNS name") {
  const auto pem = sluice::tls::generate_self_signed({"localhost"});
  Broker broker(json::object(), {"t1"}, "secret", pem);
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["host"] = "localhost";
  o["transport"] = "tls";
  o["tls"] = {{"ca_file", temp_file("ca2.pem", pem.certificate)}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
}

TEST_CASE("TLS: an unknown CA fails verification; state down says why") {
  const auto pem = sluice::tls::generate_self_signed({"localhost", "127.0.0.1"});
  Broker broker(json::object(), {"t1"}, "secret", pem);
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["transport"] = "tls";  // system CA store: does not know the self-signed certificate
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
  CHECK(h.states().back().detail.find("certificate verify failed") != std::string::npos);
  CHECK(broker.fake.stats().subscriptions == 0);
}

TEST_CASE("TLS: an IP address not in the IP SANs fails verification") {
  const auto pem = sluice::tls::generate_self_signed({"localhost"});  // no IP SAN
  Broker broker(json::object(), {"t1"}, "secret", pem);
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["transport"] = "tls";
  o["tls"] = {{"ca_file", temp_file("ca3.pem", pem.certificate)}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
  CHECK(h.states().back().detail.find("TLS handshake") != std::string::npos);
  CHECK(broker.fake.stats().subscriptions == 0);
}

TEST_CASE("TLS: verify false connects to an unknown certificate and warns") {
  const auto pem = sluice::tls::generate_self_signed({"elsewhere.example"});
  Broker broker(json::object(), {"t1"}, "secret", pem);
  Harness h(kPlugin);
  json o = base_options(broker.port());
  o["transport"] = "tls";
  o["tls"] = {{"verify", false}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  CHECK(h.logged("TLS verification is off"));
  bool warned = false;
  for (const auto& l : h.logs())
    warned |=
        l.level == SLUICE_LOG_WARN && l.message.find("verification is off") != std::string::npos;
  CHECK(warned);
}

TEST_CASE("create fails with a clear message on bad options") {
  Harness h(kPlugin);
  CHECK_THROWS_WITH(h.create(R"({"host":"h"})"),
                    "nothing to subscribe to: give topics, topic_types or os_message_channels");
  CHECK_THROWS_WITH(h.create(R"({"topics":["t"]})"), "host: required");
}

TEST_CASE("a broker that accepts but never answers: timeout waiting for CONNECTED, then stop") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::vector<boost::asio::ip::tcp::socket> held;  // accepted and never answered
  std::function<void()> accept = [&] {
    acceptor.async_accept([&](const boost::system::error_code& ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      held.push_back(std::move(s));
      accept();
    });
  };
  accept();
  std::thread t([&] { io.run(); });
  {
    Harness h(kPlugin);
    json o = base_options(acceptor.local_endpoint().port());
    o["connect_timeout"] = 300;
    auto& inst = h.create(o.dump());
    inst.start();
    REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN));
    CHECK(h.states().back().detail ==
          "cannot connect: timeout waiting for CONNECTED (connect_timeout 300 ms)");
    inst.stop();  // returns: nothing of the plugin calls the host after this
    const size_t logs = h.logs().size();
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // longer than a retry delay
    CHECK(h.logs().size() == logs);
  }
  io.stop();
  t.join();
}

TEST_CASE("across outages: numbering kept per topic, exact gap; numbering started again, unknown") {
  Broker broker;
  Harness h(kPlugin);
  auto& inst = h.create(base_options(broker.port(), {"a"}).dump());
  inst.start();
  REQUIRE(broker.wait_live_subscriptions(1));
  broker.fake.publish(notification("a", 1, "m1"));
  broker.fake.publish(notification("a", 2, "m2"));
  REQUIRE(h.wait_for_events(2));
  // Outage 1: the broker publishes 3, 4, 5, 6 to nobody; the next one sluice sees is 7.
  broker.drop_connections();
  REQUIRE(broker.wait_connections(2));
  REQUIRE(wait_until([&] { return broker.subscriptions(2).size() == 1; }));
  broker.fake.publish(notification("a", 7, "m7"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") >= 3; }));
  // Outage 2: the numbering starts again (an HMC restart): how many were lost is unknown.
  broker.drop_connections();
  REQUIRE(broker.wait_connections(3));
  REQUIRE(wait_until([&] { return broker.subscriptions(3).size() == 1; }));
  broker.fake.publish(notification("a", 1, "n1"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") >= 4; }));
  std::vector<json> gaps;
  for (const auto& e : h.events())
    if (e.type == "sluice.gap") gaps.push_back(json::parse(*e.data));
  REQUIRE(gaps.size() == 2);
  CHECK(gaps[0]["missed"] == 4);
  CHECK(gaps[0]["expected"] == 3);
  CHECK(gaps[0]["received"] == 7);
  CHECK(gaps[0]["stream"] == "/topic/a");
  CHECK(gaps[0]["from"].is_string());
  CHECK(gaps[0]["to"].is_string());
  CHECK(gaps[1]["missed"].is_null());
  CHECK(gaps[1]["expected"] == 8);
  CHECK(gaps[1]["received"] == 1);
  CHECK(gaps[1]["from"].is_string());
  CHECK(h.metric("missed_notifications") == 4);
  CHECK(h.logged("an unknown number of notifications was missed"));
}

// ---- redundant HMCs (issue 14) ----------------------------------------------------------------

namespace {

size_t count_logged(const Harness& h, const std::string& needle) {
  size_t n = 0;
  for (const auto& l : h.logs())
    n += l.message.find(needle) != std::string::npos;
  return n;
}

// HMC_STOMP_ECHO_LOGS=1: the plugin's log on stderr (to see what a failing test saw).
void echo_logs(Harness& h) {
  if (std::getenv("HMC_STOMP_ECHO_LOGS")) h.echo_logs(true);
}

// The events of `type` that carry attribute `key` with `value`.
size_t count_with(const std::vector<sluice::Event>& events, const std::string& type,
                  const std::string& key, const std::string& value) {
  size_t n = 0;
  for (const auto& e : events)
    n += e.type == type && e.find_attribute(key) == value;
  return n;
}

}  // namespace

TEST_CASE("failover: the active HMC dies, the source moves to the other and back") {
  // Two fake HMCs with WS API and STOMP over TLS (one certificate, good for both names); one
  // topic type and one explicit topic.
  const auto pem = sluice::tls::generate_self_signed({"localhost", "127.0.0.1"});
  Broker first(json::object(), {"t1"}, "secret", pem),
      second(json::object(), {"t1"}, "secret", pem);
  const std::string ca = temp_file("failover_ca.pem", pem.certificate);
  Harness h(kPlugin);
  echo_logs(h);
  json o = base_options(0, {"t1"});
  o["host"] = {
      {{"host", "127.0.0.1"}, {"stomp_port", first.port()}, {"api_port", first.fake.api_port()}},
      {{"host", "localhost"}, {"stomp_port", second.port()}, {"api_port", second.fake.api_port()}}};
  o.erase("stomp_port");
  o["topic_types"] = {"object-notification"};
  o["transport"] = "tls";
  o["tls"] = {{"ca_file", ca}};
  o["failover_attempts"] = 2;
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(first.wait_live_subscriptions(2));
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  const std::string at_first = "at HMC 127.0.0.1:" + std::to_string(first.port());
  CHECK(h.states().back().detail == "2 topic(s) subscribed " + at_first);
  first.fake.publish(notification("t1", 4, "a4"));
  first.fake.publish(notification("t1", 5, "a5"));
  REQUIRE(h.wait_for_events(2));
  CHECK(h.events()[1].find_attribute("hmc") == "127.0.0.1");

  // The first HMC goes away: after two failed attempts the source logs on at the second,
  // resolves its topic type there and subscribes both topics.
  first.fake.stop();
  REQUIRE(second.wait_live_subscriptions(2));
  const auto subscribed = second.subscriptions(1);
  REQUIRE(std::count(subscribed.begin(), subscribed.end(), "/topic/t1") == 1);
  // the topic of the resolved type, in the second HMC's session
  const std::string resolved_topic =
      (subscribed[0] == "/topic/t1" ? subscribed[1] : subscribed[0]).substr(7);
  size_t logons = 0, resolved = 0;
  for (const auto& c : second.fake.api_calls()) {
    logons += c.method == "POST" && c.target == "/api/sessions";
    resolved += c.target == "/api/sessions/operations/get-notification-topics";
  }
  CHECK(logons == 1);
  CHECK(resolved >= 1);
  // The second numbers its topics afresh: no false gap from 5 to 1, one gap of unknown size.
  second.fake.publish(notification("t1", 1, "b1"));
  second.fake.publish(notification(resolved_topic, 1, "b2"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") >= 4; }));
  auto events = h.events();
  CHECK(count_with(events, "hmc.status-change", "hmc", "localhost") == 2);
  for (const auto& e : events)
    CHECK(e.source == "hmc://127.0.0.1");
  REQUIRE(count_type(events, "sluice.reconnected") == 1);
  REQUIRE(count_type(events, "sluice.gap") == 1);
  for (const auto& e : events) {
    if (e.type == "sluice.reconnected") {
      CHECK(e.find_attribute("hmc") == "localhost");
      CHECK(e.find_attribute("moved_from") == "127.0.0.1");
      CHECK(std::string(*e.find_attribute("move_reason"))
                .find("127.0.0.1:" + std::to_string(first.port()) + ": 2 failed attempt(s)") == 0);
    } else if (e.type == "sluice.gap") {
      const json g = json::parse(*e.data);
      CHECK(g["missed"].is_null());
      CHECK(g["from"].is_string());
      CHECK(g["to"].is_string());
      CHECK(g["reason"].get<std::string>().find("moved to HMC localhost:") == 0);
    }
  }
  CHECK(h.metric("failovers") == 1);
  CHECK(h.metric("missed_notifications") == 0);
  CHECK(h.logged("moving to HMC localhost:" + std::to_string(second.port())));
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  CHECK(h.states().back().detail ==
        "2 topic(s) subscribed at HMC localhost:" + std::to_string(second.port()));

  // The first comes back and the second goes away: back to the first.
  first.fake.start();
  second.fake.stop();
  REQUIRE(first.wait_live_subscriptions(2));
  first.fake.publish(notification("t1", 6, "a6"));
  REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") >= 5; }));
  events = h.events();
  CHECK(events.back().find_attribute("hmc") == "127.0.0.1");
  CHECK(events.back().id == "a6");
  CHECK(count_type(events, "sluice.reconnected") == 2);
  CHECK(count_with(events, "sluice.reconnected", "moved_from", "localhost") == 1);
  CHECK(count_type(events, "sluice.gap") == 2);
  CHECK(h.metric("failovers") == 2);
  inst.stop();
}

TEST_CASE("failover: every HMC of the list down: backs off as a single HMC would, and says so") {
  Broker a, b;
  const uint16_t pa = a.port(), pb = b.port();
  a.fake.stop();
  b.fake.stop();
  Harness h(kPlugin);
  echo_logs(h);
  json o = base_options(0);
  o.erase("stomp_port");
  o["host"] = {{{"host", "127.0.0.1"}, {"stomp_port", pa}},
               {{"host", "127.0.0.1"}, {"stomp_port", pb}}};
  o["failover_attempts"] = 1;
  o["reconnect"] = {{"initial", 50}, {"max", 400}, {"multiplier", 2}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(wait_until([&] { return h.metric("failovers") >= 4; }));
  CHECK(h.logged("none of the 2 HMCs answers: going round the list again, with back-off"));
  CHECK(h.logged("moving to HMC 127.0.0.1:" + std::to_string(pb)));
  CHECK(h.logged("moving to HMC 127.0.0.1:" + std::to_string(pa)));
  CHECK(h.last_state() == SLUICE_STATE_DOWN);
  CHECK(h.states().back().detail.find("cannot connect: ") == 0);
  CHECK(h.states().back().detail.find(" (HMC 127.0.0.1:") != std::string::npos);
  // Back-off across moves: 50, 100, 200, 400 ms ... with half jitter, not an attempt per move at
  // once. In 1.2 s that is at most a handful of attempts.
  const size_t before = count_logged(h, "cannot connect: ");
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const size_t during = count_logged(h, "cannot connect: ") - before;
  CHECK(during >= 2);
  CHECK(during <= 8);
  inst.stop();
}

TEST_CASE("failover: TLS verified against each HMC's own name; a wrong certificate is refused") {
  const auto pem_first = sluice::tls::generate_self_signed({"127.0.0.1"});   // IP SAN only
  const auto pem_second = sluice::tls::generate_self_signed({"localhost"});  // DNS name only
  const auto pem_rogue = sluice::tls::generate_self_signed({"localhost"});   // not trusted
  Broker first(json::object(), {"t1"}, "secret", pem_first);
  Broker second(json::object(), {"t1"}, "secret", pem_second);
  Broker rogue(json::object(), {"t1"}, "secret", pem_rogue);
  const std::string ca =
      temp_file("failover_tls_ca.pem", pem_first.certificate + pem_second.certificate);

  auto options = [&](uint16_t other) {
    json o = base_options(0);
    o.erase("stomp_port");
    o["host"] = {{{"host", "127.0.0.1"}, {"stomp_port", first.port()}},
                 {{"host", "localhost"}, {"stomp_port", other}}};
    o["transport"] = "tls";
    o["tls"] = {{"ca_file", ca}};
    o["failover_attempts"] = 1;
    return o;
  };

  SUBCASE("each host's certificate is checked against its own name") {
    Harness h(kPlugin);
    echo_logs(h);
    auto& inst = h.create(options(second.port()).dump());
    inst.start();
    REQUIRE(first.wait_live_subscriptions(1));
    first.fake.stop();
    REQUIRE(second.wait_live_subscriptions(1));
    second.fake.publish(notification("t1", 1, "s1"));
    REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") >= 1; }));
    CHECK(count_with(h.events(), "hmc.status-change", "hmc", "localhost") == 1);
    inst.stop();
    first.fake.start();
  }
  SUBCASE("an untrusted certificate on the second HMC is refused there; the first still works") {
    Harness h(kPlugin);
    echo_logs(h);
    auto& inst = h.create(options(rogue.port()).dump());
    inst.start();
    REQUIRE(first.wait_live_subscriptions(1));
    first.fake.stop();
    REQUIRE(wait_until([&] { return h.logged("certificate verify failed"); }));
    CHECK(h.logged("moving to HMC localhost:" + std::to_string(rogue.port())));
    CHECK(rogue.fake.stats().subscriptions == 0);
    first.fake.start();
    REQUIRE(first.wait_live_subscriptions(1));
    first.fake.publish(notification("t1", 1, "f1"));
    REQUIRE(h.wait_until([](const auto& ev) { return count_type(ev, "hmc.status-change") >= 1; }));
    CHECK(count_with(h.events(), "hmc.status-change", "hmc", "127.0.0.1") == 1);
    CHECK(rogue.fake.stats().subscriptions == 0);
    inst.stop();
  }
}

TEST_CASE("failover: an HMC that refuses the logon is left at once; all refusing: slow retry") {
  Broker refusing(json::object(), {"t1"}, "other"), good,
      refusing2(json::object(), {"t1"}, "other");
  Harness h(kPlugin);
  echo_logs(h);
  json o = base_options(0);
  o.erase("stomp_port");
  o["reconnect"] = {{"initial", 20}, {"max", 30000}, {"multiplier", 2}};
  SUBCASE("the next HMC takes the logon, without the slow retry") {
    o["host"] = {{{"host", "127.0.0.1"}, {"stomp_port", refusing.port()}},
                 {{"host", "127.0.0.1"}, {"stomp_port", good.port()}}};
    auto& inst = h.create(o.dump());
    inst.start();
    REQUIRE(good.wait_live_subscriptions(1));
    CHECK(h.logged("moving to HMC 127.0.0.1:" + std::to_string(good.port()) +
                   " (127.0.0.1:" + std::to_string(refusing.port()) + ": logon refused: "));
    CHECK(h.metric("failovers") == 1);
    CHECK(!h.logged("retrying in 30s"));
    CHECK(test::logons(refusing.fake) == 1);  // one refused logon, not one per attempt
    inst.stop();
  }
  SUBCASE("every HMC refused in a row: the slow retry, as with one HMC") {
    o["host"] = {{{"host", "127.0.0.1"}, {"stomp_port", refusing.port()}},
                 {{"host", "127.0.0.1"}, {"stomp_port", refusing2.port()}}};
    auto& inst = h.create(o.dump());
    inst.start();
    REQUIRE(wait_until([&] { return h.logged("retrying in 30s"); }));
    CHECK(count_logged(h, "retrying in 30s") == 1);
    CHECK(h.metric("failovers") == 2);
    CHECK(test::logons(refusing.fake) == 1);
    CHECK(test::logons(refusing2.fake) == 1);
    inst.stop();
  }
}
