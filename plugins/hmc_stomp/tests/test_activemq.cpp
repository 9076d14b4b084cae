// Real peer: Apache ActiveMQ from Debian (activemq_broker.hpp). The test starts the broker,
// runs the plugin subscribed to two topics, publishes HMC-shaped notifications, restarts the
// broker mid-stream and checks the reconnect, the re-subscription and exact delivery after it.
#include "activemq_broker.hpp"
#include "stomp_frame.hpp"

#include <sluice/testing.hpp>

#include <boost/asio.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>

namespace asio = boost::asio;
using asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// A blocking STOMP publisher over plain TCP: CONNECT, SEND..., a RECEIPT to know all arrived.
void publish(uint16_t port, const std::string& topic, int first, int count) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  sluice::hmc::stomp::Parser parser;
  std::vector<sluice::hmc::stomp::Frame> frames;
  auto await = [&](const std::string& command) {
    std::array<char, 4096> buf;
    while (frames.empty()) {
      size_t n = s.read_some(asio::buffer(buf));
      parser.feed(std::string_view(buf.data(), n), frames);
    }
    REQUIRE(frames.front().command == command);
    frames.erase(frames.begin());
  };
  sluice::hmc::stomp::Frame c{"CONNECT", {{"accept-version", "1.2"}, {"host", "localhost"}}, {}};
  asio::write(s, asio::buffer(sluice::hmc::stomp::serialize(c, sluice::hmc::stomp::Version::v1_2)));
  await("CONNECTED");
  parser.set_version(sluice::hmc::stomp::Version::v1_2);
  std::string batch;
  for (int i = first; i < first + count; ++i) {
    sluice::hmc::stomp::Frame f;
    f.command = "SEND";
    f.add("destination", "/topic/" + topic)
        .add("notification-type", "os-message")
        .add("session-sequence-nr", std::to_string(i))
        .add("object-uri", "/api/partitions/p-" + topic)
        .add("test-id", topic + "/" + std::to_string(i));
    if (i == first + count - 1) f.add("receipt", "done");
    f.body = R"({"os-messages":[{"sequence-number":)" + std::to_string(i) +
             R"(,"message-id":"IEE252I","message-text":"IEE252I MEMBER FOUND\n"}]})";
    batch += sluice::hmc::stomp::serialize(f, sluice::hmc::stomp::Version::v1_2);
  }
  asio::write(s, asio::buffer(batch));
  await("RECEIPT");
  asio::write(
      s, asio::buffer(sluice::hmc::stomp::serialize(sluice::hmc::stomp::Frame{"DISCONNECT", {}, {}},
                                                    sluice::hmc::stomp::Version::v1_2)));
}

std::multiset<std::string> test_ids(const std::vector<sluice::Event>& events) {
  std::multiset<std::string> out;
  for (const auto& e : events)
    if (auto id = e.find_attribute("test-id")) out.insert(std::string(*id));
  return out;
}

std::multiset<std::string> expected_ids(int first, int count) {
  std::multiset<std::string> out;
  for (const char* t : {"hmc.t1", "hmc.t2"})
    for (int i = first; i < first + count; ++i)
      out.insert(std::string(t) + "/" + std::to_string(i));
  return out;
}

// Waits for an `up` state reported after the first `skip` states.
bool wait_up_after(const sluice::testing::Harness& h, size_t skip, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto states = h.states();
    for (size_t i = skip; i < states.size(); ++i)
      if (states[i].state == SLUICE_STATE_UP) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

TEST_CASE("ActiveMQ: subscribe over STOMP+SSL, restart the broker, re-subscribe, exact delivery") {
  hmc_test::ActiveMqBroker broker;
  broker.start();

  sluice::testing::Harness h(HMC_STOMP_SO);
  h.echo_logs(std::getenv("HMC_STOMP_ECHO_LOGS") != nullptr);
  json o = {{"host", "127.0.0.1"},
            {"stomp_port", broker.ssl_port},
            {"userid", "any"},
            {"password", "any"},
            {"topics", {"hmc.t1", "hmc.t2"}},
            {"tls", {{"ca_file", broker.ca_file()}}},
            {"heartbeat", {{"send", "1s"}, {"receive", "1s"}}},
            {"reconnect", {{"initial", "200ms"}, {"max", "2s"}}}};
  auto& inst = h.create(o.dump());
  inst.start();
  // `up` comes once the broker sent a RECEIPT for every SUBSCRIBE: publishing is safe then.
  REQUIRE(wait_up_after(h, 0, std::chrono::seconds(60)));

  const int n = 200;
  publish(broker.stomp_port, "hmc.t1", 1, n);
  publish(broker.stomp_port, "hmc.t2", 1, n);
  REQUIRE(h.wait_for_events(2 * n, std::chrono::seconds(60)));
  CHECK(test_ids(h.events()) == expected_ids(1, n));
  CHECK(h.events()[0].type == "hmc.os-message");
  CHECK(h.events()[0].subject == "/api/partitions/p-hmc.t1");
  CHECK(h.events()[0].id.rfind("ID:", 0) == 0);  // ActiveMQ's message-id

  // Restart mid-stream. Topic messages published while it is down are lost by topic semantics,
  // so the test publishes again only after the re-subscription was confirmed.
  const size_t states_before = h.states().size();
  broker.stop();
  REQUIRE(h.wait_for_state(SLUICE_STATE_DOWN, std::chrono::seconds(30)));
  broker.start();
  REQUIRE(h.wait_until(
      [](const auto& ev) {
        for (const auto& e : ev)
          if (e.type == "sluice.reconnected") return true;
        return false;
      },
      std::chrono::seconds(60)));
  REQUIRE(wait_up_after(h, states_before, std::chrono::seconds(60)));
  CHECK(h.metric("reconnects") >= 1);

  h.clear_events();
  publish(broker.stomp_port, "hmc.t1", n + 1, n);
  publish(broker.stomp_port, "hmc.t2", n + 1, n);
  REQUIRE(h.wait_until([&](const auto& ev) { return test_ids(ev).size() >= 2u * n; },
                       std::chrono::seconds(60)));
  CHECK(test_ids(h.events()) == expected_ids(n + 1, n));
  inst.stop();
}
