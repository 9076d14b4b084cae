// The fake HMC and the fake ldmd as libraries in a test of your own (Sluice::fake_hmc,
// Sluice::fake_ldmd): start them on loopback, talk to them, look at their statistics.
//
// Here the "client under test" is a few lines of plain STOMP over TCP; in a real test it is
// your tool, pointed at fake.stomp_port() / fake.api_port() and trusting fake.ca_pem().
// Exits 0 when every step worked, 1 with a message otherwise.
#include <sluice/fakes/hmc.hpp>
#include <sluice/fakes/ldmd.hpp>

#include <boost/asio.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <string>

using boost::asio::ip::tcp;
using namespace std::chrono_literals;
namespace hmc = sluice::fakes::hmc;
namespace ldmd = sluice::fakes::ldmd;

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "FAIL: %s\n", why.c_str());
  return 1;
}

// One STOMP frame: the bytes up to and including its NUL.
std::string read_frame(tcp::socket& socket, std::string& buffer) {
  std::size_t end = boost::asio::read_until(socket, boost::asio::dynamic_buffer(buffer), '\0');
  std::string frame = buffer.substr(0, end);
  buffer.erase(0, end);
  return frame;
}

}  // namespace

int main() {
  ::alarm(60);  // an example must end by itself, even if a peer never answers

  hmc::Options hmc_options;
  hmc_options.stomp_tls = false;  // plain TCP keeps the client short; the default is TLS
  hmc_options.log = [](const std::string&) {};
  // The built-in users and inventory, plus a topic that exists without a WS API session (as
  // for a client configured with explicit topic names).
  const std::string topic = "ops.events";
  hmc_options.scenario = {{"topics", {topic}}};
  hmc::FakeHmc fake_hmc(hmc_options);
  fake_hmc.start();
  std::printf("fake HMC: WS API on 127.0.0.1:%u, STOMP on 127.0.0.1:%u, topic %s\n",
              fake_hmc.api_port(), fake_hmc.stomp_port(), topic.c_str());

  boost::asio::io_context io;
  tcp::socket stomp(io);
  stomp.connect({boost::asio::ip::make_address("127.0.0.1"), fake_hmc.stomp_port()});
  const std::string connect = std::string(
                                  "CONNECT\naccept-version:1.2\nhost:hmc\nlogin:hmcuser\n"
                                  "passcode:hmcpassword\nheart-beat:0,0\n\n") +
                              '\0';
  const std::string subscribe =
      "SUBSCRIBE\nid:1\nack:auto\ndestination:/topic/" + topic + "\n\n" + '\0';
  boost::asio::write(stomp, boost::asio::buffer(connect));
  std::string buffer;
  if (read_frame(stomp, buffer).rfind("CONNECTED\n", 0) != 0) return fail("no CONNECTED frame");
  boost::asio::write(stomp, boost::asio::buffer(subscribe));
  if (!fake_hmc.await_subscribers(1, 10s)) return fail("the subscription did not arrive");

  fake_hmc.publish(hmc::Notification(topic, "property-change"));
  const std::string message = read_frame(stomp, buffer);
  if (message.rfind("MESSAGE\n", 0) != 0 ||
      message.find("\nnotification-type:property-change\n") == std::string::npos)
    return fail("expected a property-change MESSAGE, got: " + message);
  std::printf("fake HMC: received a MESSAGE frame of %zu bytes; %llu sent in all\n", message.size(),
              static_cast<unsigned long long>(fake_hmc.stats().messages_sent));
  fake_hmc.stop();

  ldmd::Options ldmd_options;
  ldmd_options.script = ldmd::parse_script(R"({"event": "start-domain", "repeat": 3})");
  ldmd::FakeLdmd fake_ldmd(ldmd_options);
  tcp::socket xmpp(io);
  xmpp.connect({boost::asio::ip::make_address("127.0.0.1"), fake_ldmd.port()});
  if (!fake_ldmd.wait([](const ldmd::Stats& s) { return s.connections == 1; }, 10s))
    return fail("the fake ldmd did not see the connection");
  std::printf("fake ldmd: XMPP on 127.0.0.1:%u accepted a connection\n", fake_ldmd.port());
  fake_ldmd.stop();

  std::printf("PASS\n");
  return 0;
}
