// The kafka sink driven through the test harness against an in-process mock cluster
// (rdkafka_mock.h): the answer of each event, and what stop() promises.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>
#include <sluice/tls.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using sluice::Delivery;
using sluice::Event;
using sluice::testing::Harness;
using sluice::testing::TempDir;

namespace {

// A mock cluster of `brokers` brokers on loopback, hosted by a handle of its own.
struct MockCluster {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
  explicit MockCluster(int brokers = 1) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    REQUIRE(rk);
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    REQUIRE(mc);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
  }
  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(mc); }
};

std::vector<Event> events(size_t n, const std::string& prefix, size_t data_bytes = 0) {
  std::vector<Event> v;
  for (size_t i = 1; i <= n; ++i) {
    Event e;
    e.id = prefix + std::to_string(i);
    e.source = "test://sink";
    e.type = "test.event";
    e.subject = "/api/partitions/" + std::to_string(i % 3);
    e.data = data_bytes ? "\"" + std::string(data_bytes, 'x') + "\"" : "{\"n\":1}";
    v.push_back(std::move(e));
  }
  return v;
}

// Delivers until the whole batch is answered OK, as the core's retries would (bounded).
bool deliver_until_ok(Harness& h, sluice::testing::Instance& sink,
                      const std::vector<Event>& batch) {
  for (uint32_t attempt = 1; attempt < 100; ++attempt) {
    if (h.deliver(sink, batch, attempt).code == SLUICE_DELIVERY_OK) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::string options(const MockCluster& c, const std::string& extra = "") {
  return R"({"brokers":")" + c.bootstrap() + R"(","topic":"events")" + extra + "}";
}

// A TLS server that is no Kafka broker (librdkafka's mock cluster has no TLS listener): it
// counts the handshakes that completed and those that failed and, inside a completed one,
// reads the first request's header (Kafka framing: size, then the API key), then closes.
class TlsServer {
 public:
  explicit TlsServer(const sluice::tls::CertificatePem& pem)
      : ctx_(sluice::tls::make_server_context(pem)),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~TlsServer() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
  }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  int completed() const {
    std::lock_guard lock(m_);
    return completed_;
  }
  int failed() const {
    std::lock_guard lock(m_);
    return failed_;
  }
  std::vector<int> api_keys() const {
    std::lock_guard lock(m_);
    return api_keys_;
  }

 private:
  void serve() {
    while (!stopping_) {
      boost::asio::ip::tcp::socket sock(io_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stopping_) return;
      timeval two{2, 0};  // one connection at a time, each bounded
      ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &two, sizeof two);
      boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> tls(sock, ctx_);
      tls.handshake(boost::asio::ssl::stream_base::server, ec);
      std::lock_guard lock(m_);
      if (ec) {
        ++failed_;
        continue;
      }
      ++completed_;
      unsigned char head[6];
      boost::asio::read(tls, boost::asio::buffer(head), ec);
      if (!ec) api_keys_.push_back(head[4] << 8 | head[5]);
    }
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex m_;
  int completed_ = 0, failed_ = 0;
  std::vector<int> api_keys_;
};

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  return pred();
}

// A state report `state` whose detail holds `text`.
bool reported(const Harness& h, sluice_state state, const std::string& text) {
  for (const auto& s : h.states())
    if (s.state == state && s.detail.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("every event acknowledged: one OK answer per event") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c));
  sink.start();
  Delivery d = h.deliver(sink, events(20, "ok-"));
  REQUIRE(d.events.size() == 20);
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_OK);
  CHECK(h.metric("kafka.records_acknowledged") == 20);
  CHECK(h.last_state() == SLUICE_STATE_UP);
}

TEST_CASE("before start, a batch is answered retry") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c));
  Delivery d = h.deliver(sink, events(2, "early-"));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason == "kafka: sink not started or stopping");
}

TEST_CASE("per event: too large and a bad topic are rejected, the others delivered") {
  MockCluster c;
  Harness h(KAFKA_SO);
  // librdkafka refuses a record over message.max.bytes at once; a topic template that expands
  // to a bad name (a subject with '/') is refused by the sink itself, never sent.
  auto& sink = h.create(options(c, R"(,"properties":{"message.max.bytes":"2000"})"));
  sink.start();
  std::vector<Event> batch = events(3, "mix-");
  batch[1].data = "\"" + std::string(5000, 'y') + "\"";  // over message.max.bytes
  Delivery d = h.deliver(sink, batch);
  REQUIRE(d.events.size() == 3);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[1].reason == "kafka: events: Broker: Message size too large");
  CHECK(d.events[1].status == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  CHECK(d.events[2].code == SLUICE_DELIVERY_OK);

  Harness h2(KAFKA_SO);
  auto& templated = h2.create(R"({"brokers":")" + c.bootstrap() + R"(","topic":"t.{subject}"})");
  templated.start();
  Delivery t = h2.deliver(templated, events(1, "tpl-"));
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0].code == SLUICE_DELIVERY_REJECT);
  CHECK(t.events[0].reason ==
        "kafka: topic template 't.{subject}': 't./api/partitions/1' holds a character a topic "
        "name cannot (only a-z A-Z 0-9 . _ -)");
}

TEST_CASE("topic authorization failed: rejected with the broker's reason") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(R"({"brokers":")" + c.bootstrap() + R"(","topic":"secret"})");
  sink.start();
  REQUIRE(h.deliver(sink, events(1, "warm-")).code == SLUICE_DELIVERY_OK);
  // The next Produce request (both records: one broker, one request) is refused.
  rd_kafka_mock_push_request_errors(c.mc, 0 /* Produce */, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  std::vector<Event> two = events(2, "auth-");
  two[1].subject = two[0].subject;  // one partition
  Delivery d = h.deliver(sink, two);
  REQUIRE(d.events.size() == 2);
  for (const auto& e : d.events) {
    CHECK(e.code == SLUICE_DELIVERY_REJECT);
    CHECK(e.reason == "kafka: secret: Broker: Topic authorization failed");
  }
}

TEST_CASE("a broker down past delivery_timeout: retry, as librdkafka timed the records out") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c, R"(,"delivery_timeout":"300ms")"));
  sink.start();
  REQUIRE(deliver_until_ok(h, sink, events(1, "warm-")));
  rd_kafka_mock_broker_set_down(c.mc, 1);
  Delivery d = h.deliver(sink, events(4, "late-"));
  REQUIRE(d.events.size() == 4);
  for (const auto& e : d.events) {
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
    CHECK(e.reason == "kafka: events: Local: Message timed out");
  }
  CHECK(h.last_state() == SLUICE_STATE_DEGRADED);
  // Back up: the same events go through once librdkafka has reconnected (bounded attempts,
  // as the core's retries would be).
  rd_kafka_mock_broker_set_up(c.mc, 1);
  CHECK(deliver_until_ok(h, sink, events(4, "late-")));
  CHECK(h.last_state() == SLUICE_STATE_UP);
}

TEST_CASE("stop answers what the brokers never acknowledged, then calls the host no more") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c, R"(,"flush_timeout":"200ms","delivery_timeout":"10min")"));
  sink.start();
  REQUIRE(h.deliver(sink, events(1, "warm-")).code == SLUICE_DELIVERY_OK);
  rd_kafka_mock_broker_set_down(c.mc, 1);
  Delivery d;
  std::thread waiting([&] { d = h.deliver(sink, events(5, "stuck-")); });
  // The records are in librdkafka's queue when all five are counted produced.
  for (int i = 0; i < 500 && h.metric("kafka.records_produced") < 6; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(h.metric("kafka.records_produced") == 6);
  sink.stop();
  waiting.join();
  REQUIRE(d.events.size() == 5);
  for (const auto& e : d.events) {
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
    CHECK(e.reason.find("kafka: events: Local: Purged") == 0);
  }
  CHECK(h.logged("records not acknowledged after flush_timeout"));
  // Nothing of the sink calls the host after stop() returned.
  const size_t logs = h.logs().size(), states = h.states().size();
  const int64_t acked = h.metric("kafka.records_acknowledged");
  rd_kafka_mock_broker_set_up(c.mc, 1);
  std::this_thread::sleep_for(500ms);
  CHECK(h.logs().size() == logs);
  CHECK(h.states().size() == states);
  CHECK(h.metric("kafka.records_acknowledged") == acked);
  // And a batch after stop is answered at once.
  CHECK(h.deliver(sink, events(1, "after-")).code == SLUICE_DELIVERY_RETRY);
}

TEST_CASE("a fatal error: its records answered retry, a new producer delivers them") {
  MockCluster c;
  Harness h(KAFKA_SO);
  auto& sink = h.create(options(c, R"(,"flush_timeout":"300ms")"));
  sink.start();
  REQUIRE(h.deliver(sink, events(1, "warm-")).code == SLUICE_DELIVERY_OK);
  // The idempotent producer cannot recover from a sequence desynchronization: fatal.
  rd_kafka_mock_push_request_errors(c.mc, 0 /* Produce */, 1,
                                    RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  std::vector<Event> three = events(3, "fatal-");
  for (auto& e : three)
    e.subject = three[0].subject;  // one partition, one request
  Delivery d = h.deliver(sink, three);
  REQUIRE(d.events.size() == 3);
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
  // The cause, logged and reported (the error comes through the poll thread: bounded wait).
  auto reported_down = [&] {
    for (const auto& s : h.states())
      if (s.state == SLUICE_STATE_DOWN &&
          s.detail.find("sequence desynchronization") != std::string::npos)
        return true;
    return false;
  };
  for (int i = 0; i < 200 && !reported_down(); ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(reported_down());
  CHECK(h.logged("sequence desynchronization"));
  // The core's retries (as deliver_until_ok makes them) reach the new producer.
  CHECK(deliver_until_ok(h, sink, three));
  CHECK(h.logged("producer recreated after a fatal error"));
  CHECK(h.metric("kafka.producers_recreated") == 1);
  CHECK(h.last_state() == SLUICE_STATE_UP);

  // Again, and stop() at once, while the producer is being replaced: bounded, and nothing of
  // the sink calls the host after it returned.
  rd_kafka_mock_push_request_errors(c.mc, 0, 1, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  CHECK(h.deliver(sink, three).code == SLUICE_DELIVERY_RETRY);
  const auto before = std::chrono::steady_clock::now();
  sink.stop();
  CHECK(std::chrono::steady_clock::now() - before < 2s);
  const size_t logs = h.logs().size(), states = h.states().size();
  std::this_thread::sleep_for(300ms);
  CHECK(h.logs().size() == logs);
  CHECK(h.states().size() == states);
  CHECK(h.deliver(sink, three).code == SLUICE_DELIVERY_RETRY);
  // Started again, it delivers (a new producer if the old one was not replaced yet).
  sink.start();
  CHECK(deliver_until_ok(h, sink, three));
}

TEST_CASE("sasl_plaintext against the mock cluster: refused with its reason, password not logged") {
  // librdkafka 2.0.2's mock brokers answer no SaslHandshake: the client gives up with "SASL
  // Handshake not supported by broker". What this shows: the sink speaks SASL (PLAIN) when
  // asked, reports the refusal as down with librdkafka's reason, answers nothing ok, and never
  // logs the password. A successful SASL login is not tested (no broker here offers one).
  MockCluster c;
  Harness h(KAFKA_SO);
  const std::string password = "pw-that-must-never-be-logged-42";
  auto& sink = h.create(options(c, R"(,"delivery_timeout":"1500ms","sasl":{"mechanism":"PLAIN",)"
                                   R"("username":"sluice","password":")" +
                                       password + R"("})"));
  sink.start();
  Delivery d = h.deliver(sink, events(2, "sasl-"));
  REQUIRE(d.events.size() == 2);
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
  CHECK(wait_until(
      [&] { return reported(h, SLUICE_STATE_DOWN, "SASL Handshake not supported by broker"); }));
  CHECK(h.metric("kafka.records_acknowledged") == 0);
  sink.stop();
  for (const auto& l : h.logs())
    CHECK_MESSAGE(l.message.find(password) == std::string::npos, l.message);
  for (const auto& s : h.states())
    CHECK(s.detail.find(password) == std::string::npos);
}

TEST_CASE("TLS: the right CA completes the handshake; a wrong CA or host name is refused") {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    const auto path = dir.path / name;
    std::ofstream(path) << text;
    return path.string();
  };
  const auto server_pem = sluice::tls::generate_self_signed({"localhost", "127.0.0.1"});
  const std::string right_ca = write("right.pem", server_pem.certificate);
  const std::string other_ca = write("other.pem", sluice::tls::generate_self_signed().certificate);
  auto tls_options = [&](const TlsServer& server, const std::string& ca) {
    return R"({"brokers":")" + server.address() +
           R"(","topic":"events","delivery_timeout":"1500ms","tls":{"ca_file":")" + ca + R"("}})";
  };

  SUBCASE("right CA: the handshake completes and the sink speaks Kafka inside it") {
    TlsServer server(server_pem);
    Harness h(KAFKA_SO);
    auto& sink = h.create(tls_options(server, right_ca));
    sink.start();
    // The server is no broker: the events are never acknowledged.
    Delivery d = h.deliver(sink, events(2, "tls-"));
    for (const auto& e : d.events)
      CHECK(e.code == SLUICE_DELIVERY_RETRY);
    CHECK(wait_until([&] { return !server.api_keys().empty(); }));
    CHECK(server.completed() >= 1);
    CHECK(server.failed() == 0);
    const auto keys = server.api_keys();
    CHECK(std::count(keys.begin(), keys.end(), 18) >= 1);  // ApiVersions, the first request
    CHECK(!h.logged("certificate verify failed"));
    sink.stop();
  }
  // A server whose certificate does not verify: no handshake completes, the sink reports down
  // with OpenSSL's reason and answers nothing ok.
  auto refused = [&](const sluice::tls::CertificatePem& pem, const std::string& ca) {
    TlsServer server(pem);
    Harness h(KAFKA_SO);
    auto& sink = h.create(tls_options(server, ca));
    sink.start();
    Delivery d = h.deliver(sink, events(2, "tls-"));
    for (const auto& e : d.events)
      CHECK(e.code == SLUICE_DELIVERY_RETRY);
    CHECK(wait_until([&] { return reported(h, SLUICE_STATE_DOWN, "certificate verify failed"); }));
    CHECK(server.completed() == 0);
    CHECK(server.failed() >= 1);
    sink.stop();
  };
  SUBCASE("a CA that did not sign the server's certificate: refused, reported down") {
    refused(server_pem, other_ca);
  }
  SUBCASE("the right CA, but the certificate names another host: refused, reported down") {
    const auto elsewhere = sluice::tls::generate_self_signed({"kafka.invalid"});
    refused(elsewhere, write("elsewhere.pem", elsewhere.certificate));
  }
}
