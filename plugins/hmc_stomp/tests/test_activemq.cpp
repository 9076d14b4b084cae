// Real peer: Apache ActiveMQ from Debian. The test makes a broker configuration in a temp dir
// (STOMP+SSL for the plugin, plain STOMP for the publisher, both on 127.0.0.1 with free ports,
// a PKCS#12 keystore made by openssl), starts the broker, runs the plugin subscribed to two
// topics, publishes HMC-shaped notifications, restarts the broker mid-stream and checks the
// reconnect, the re-subscription and exact delivery after it. The broker is always killed.
#include "stomp_frame.hpp"

#include <sluice/testing.hpp>

#include <boost/asio.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

namespace fs = std::filesystem;
namespace asio = boost::asio;
using asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

bool port_open(uint16_t port) {
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

void run(const std::string& cmd) {
  INFO(cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
}

class ActiveMq {
 public:
  ActiveMq() {
    char tmpl[] = "/tmp/hmc_stomp_activemq_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "conf");
    fs::create_directories(dir_ / "data");
    stomp_port = free_port();
    ssl_port = free_port();
    const std::string d = dir_.string();
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost"
        " -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
        " -keyout " +
        d + "/key.pem -out " + d + "/cert.pem 2>/dev/null");
    run("openssl pkcs12 -export -inkey " + d + "/key.pem -in " + d + "/cert.pem -out " + d +
        "/broker.p12 -passout pass:secret123 -name broker");
    std::ofstream(dir_ / "conf/activemq.xml")
        << R"(<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
    http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="sluice-test"
          persistent="false" useJmx="false" dataDirectory=")"
        << d << R"(/data">
    <sslContext>
      <sslContext keyStore="file:)"
        << d << R"(/broker.p12" keyStorePassword="secret123" keyStoreType="pkcs12"/>
    </sslContext>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:)"
        << stomp_port << R"("/>
      <transportConnector name="stompssl" uri="stomp+ssl://127.0.0.1:)"
        << ssl_port << R"("/>
    </transportConnectors>
  </broker>
</beans>
)";
  }
  ~ActiveMq() {
    stop();
    std::error_code ec;
    if (std::getenv("HMC_STOMP_KEEP_ACTIVEMQ_DIR") == nullptr) fs::remove_all(dir_, ec);
  }

  std::string ca_file() const { return (dir_ / "cert.pem").string(); }

  void start() {
    const std::string d = dir_.string();
    const std::string log = d + "/broker" + std::to_string(++starts_) + ".log";
    fflush(stdout);  // or the child repeats what is buffered
    fflush(stderr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      setpgid(0, 0);                     // its own group, so the stop below reaches every process
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // and a crashed test leaves no broker behind
      FILE* out = freopen(log.c_str(), "w", stdout);
      (void)out;
      dup2(fileno(stdout), fileno(stderr));
      const std::string base = "-Dactivemq.base=" + d, conf = "-Dactivemq.conf=" + d + "/conf",
                        data = "-Dactivemq.data=" + d + "/data",
                        xbean = "xbean:file:" + d + "/conf/activemq.xml";
      execlp("java", "java", "-Xmx256m", base.c_str(), conf.c_str(), data.c_str(),
             "-Dactivemq.home=/usr/share/activemq", "-jar", "/usr/share/activemq/bin/activemq.jar",
             "start", xbean.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (!(port_open(ssl_port) && port_open(stomp_port))) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("ActiveMQ exited at start; see " << log);
      }
      REQUIRE_MESSAGE(Clock::now() < deadline, "ActiveMQ did not listen within 120 s; see " << log);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the port
    }
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGKILL);  // a crash, as far as the clients can tell
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (port_open(ssl_port) && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  uint16_t stomp_port = 0;
  uint16_t ssl_port = 0;

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// A blocking STOMP publisher over plain TCP: CONNECT, SEND..., a RECEIPT to know all arrived.
void publish(uint16_t port, const std::string& topic, int first, int count) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stomp::Parser parser;
  std::vector<stomp::Frame> frames;
  auto await = [&](const std::string& command) {
    std::array<char, 4096> buf;
    while (frames.empty()) {
      size_t n = s.read_some(asio::buffer(buf));
      parser.feed(std::string_view(buf.data(), n), frames);
    }
    REQUIRE(frames.front().command == command);
    frames.erase(frames.begin());
  };
  stomp::Frame c{"CONNECT", {{"accept-version", "1.2"}, {"host", "localhost"}}, {}};
  asio::write(s, asio::buffer(stomp::serialize(c, stomp::Version::v1_2)));
  await("CONNECTED");
  parser.set_version(stomp::Version::v1_2);
  std::string batch;
  for (int i = first; i < first + count; ++i) {
    stomp::Frame f;
    f.command = "SEND";
    f.add("destination", "/topic/" + topic)
        .add("notification-type", "os-message")
        .add("session-sequence-nr", std::to_string(i))
        .add("object-uri", "/api/partitions/p-" + topic)
        .add("test-id", topic + "/" + std::to_string(i));
    if (i == first + count - 1) f.add("receipt", "done");
    f.body = R"({"os-messages":[{"sequence-number":)" + std::to_string(i) +
             R"(,"message-id":"IEE252I","message-text":"IEE252I MEMBER FOUND\n"}]})";
    batch += stomp::serialize(f, stomp::Version::v1_2);
  }
  asio::write(s, asio::buffer(batch));
  await("RECEIPT");
  asio::write(
      s, asio::buffer(stomp::serialize(stomp::Frame{"DISCONNECT", {}, {}}, stomp::Version::v1_2)));
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
  ActiveMq broker;
  broker.start();

  sluice::testing::Harness h(HMC_STOMP_PLUGIN_PATH);
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
