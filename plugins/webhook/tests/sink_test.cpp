// The webhook sink against the local test receiver, over real loopback sockets.
#include <doctest/doctest.h>

#include "receiver.hpp"

#include <sluice/testing.hpp>

#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

using namespace std::chrono_literals;
using nlohmann::json;
using sluice::Delivery;
using sluice::Event;
using sluice::testing::Harness;
using sluice::webhook::testing::Answer;
using sluice::webhook::testing::Receiver;
using sluice::webhook::testing::ReceiverOptions;

namespace {

std::vector<Event> events(int n, int from = 0) {
  std::vector<Event> v;
  for (int i = from; i < from + n; ++i) {
    Event e;
    e.id = "id-" + std::to_string(i);
    e.source = "hmc://hmc1";
    e.type = "hmc.os-message";
    e.subject = "/api/partitions/p" + std::to_string(i);
    e.time_unix_ns = 1763701432123000000;
    e.attribute("notification-type", "os-message");
    e.data = "{\"n\":" + std::to_string(i) + "}";
    v.push_back(std::move(e));
  }
  return v;
}

// Short timeouts so failure tests end quickly; tests add or override keys.
json options_for(const Receiver& r, json extra = json::object()) {
  json o = {
      {"url", r.url()}, {"connect_timeout", "2s"}, {"write_timeout", "2s"}, {"read_timeout", "2s"}};
  o.update(extra);
  return o;
}

struct Fixture {
  Harness harness{WEBHOOK_SO};
  sluice::testing::Instance* sink = nullptr;
  Fixture(const json& options) {
    sink = &harness.create(options.dump());
    sink->start();
  }
  Delivery deliver(const std::vector<Event>& ev, uint32_t attempt = 1) {
    return harness.deliver(*sink, ev, attempt);
  }
};

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/sluice-webhook-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    path = tmpl;
    if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
      path.clear();
    ::close(fd);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

std::string hmac_hex(const std::string& key, const std::string& message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  std::string hex;
  char b[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(b, sizeof b, "%02x", mac[i]);
    hex += b;
  }
  return hex;
}

}  // namespace

// ---- answer mapping -------------------------------------------------------------------------

TEST_CASE("webhook: 200 is ok and the batch arrives as one CloudEvents batch request") {
  Receiver r;
  Fixture f(options_for(r));
  Delivery d = f.deliver(events(3));
  CHECK(d.code == SLUICE_DELIVERY_OK);
  auto reqs = r.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/hook");
  CHECK(reqs[0].header("content-type") == "application/cloudevents-batch+json; charset=utf-8");
  json body = json::parse(reqs[0].body);
  REQUIRE(body.is_array());
  REQUIRE(body.size() == 3);
  CHECK(body[0]["specversion"] == "1.0");
  CHECK(body[0]["id"] == "id-0");
  CHECK(body[2]["data"] == json{{"n", 2}});
}

TEST_CASE("webhook: 400 rejects with the status and a snippet of the body as reason") {
  Receiver r;
  r.script({Answer::with_status(400, "field 'type' is required")});
  Fixture f(options_for(r));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_REJECT);
  CHECK(d.status == 400);
  CHECK(d.reason == "HTTP 400 Bad Request: field 'type' is required");
}

TEST_CASE("webhook: 429 with Retry-After seconds retries after that many milliseconds") {
  Receiver r;
  r.script({Answer::retry_after(429, "7")});
  Fixture f(options_for(r));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.status == 429);
  CHECK(d.retry_after_ms == 7000);
}

TEST_CASE("webhook: 503 with an HTTP-date Retry-After retries after the time until then") {
  Receiver r;
  std::time_t when = std::time(nullptr) + 120;
  std::tm tm{};
  gmtime_r(&when, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  r.script({Answer::retry_after(503, date)});
  Fixture f(options_for(r));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.status == 503);
  CHECK(d.retry_after_ms > 60000);
  CHECK(d.retry_after_ms <= 120000);
}

TEST_CASE("webhook: 500 and 408 retry, without Retry-After the core's back-off decides") {
  Receiver r;
  r.script({Answer::with_status(500, "oops"), Answer::with_status(408)});
  Fixture f(options_for(r));
  Delivery d1 = f.deliver(events(1));
  CHECK(d1.code == SLUICE_DELIVERY_RETRY);
  CHECK(d1.status == 500);
  CHECK(d1.retry_after_ms == 0);
  CHECK(d1.reason == "HTTP 500 Internal Server Error: oops");
  Delivery d2 = f.deliver(events(1));
  CHECK(d2.code == SLUICE_DELIVERY_RETRY);
  CHECK(d2.status == 408);
}

TEST_CASE("webhook: status_map overrides the answer per status code") {
  Receiver r;
  r.script({Answer::with_status(409), Answer::with_status(404), Answer::with_status(500)});
  Fixture f(options_for(r, {{"status_map", {{"409", "ok"}, {"404", "retry"}, {"500", "reject"}}}}));
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_RETRY);
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_REJECT);
}

TEST_CASE("webhook: a receiver that hangs hits the read timeout and the batch is retried") {
  Receiver r;
  r.script({Answer::hang()});
  Fixture f(options_for(r, {{"read_timeout", "300ms"}}));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason == "read 127.0.0.1:" + std::to_string(r.port()) + ": timed out");
}

TEST_CASE("webhook: stop answers a request in flight with retry before it returns") {
  Receiver r;
  r.script({Answer::hang()});
  Fixture f(options_for(r, {{"read_timeout", "30s"}}));
  std::optional<Delivery> answer;
  std::string error;
  std::thread sender([&] {
    try {
      answer = f.deliver(events(1));
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  for (int i = 0; i < 500 && r.request_count() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(r.request_count() == 1);
  f.sink->stop();
  sender.join();
  CHECK(error == "");
  REQUIRE(answer.has_value());
  CHECK(answer->code == SLUICE_DELIVERY_RETRY);
  CHECK(answer->reason == "sink stopping");
}

TEST_CASE("webhook: a receiver that closes the connection without answering means retry") {
  Receiver r;
  r.script({Answer::close()});
  Fixture f(options_for(r));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason.rfind("read 127.0.0.1:", 0) == 0);
}

TEST_CASE("webhook: a receiver that is down means retry with the connect error") {
  Receiver r;
  r.go_down();
  Fixture f(options_for(r));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason == "connect 127.0.0.1:" + std::to_string(r.port()) + ": Connection refused");
}

// ---- connections ----------------------------------------------------------------------------

TEST_CASE("webhook: sequential batches reuse one keep-alive connection") {
  Receiver r;
  Fixture f(options_for(r));
  for (int i = 0; i < 5; ++i)
    REQUIRE(f.deliver(events(2, i * 2)).code == SLUICE_DELIVERY_OK);
  CHECK(r.connections_accepted() == 1);
  for (const auto& req : r.requests())
    CHECK(req.connection == 1);
}

TEST_CASE("webhook: a kept-alive connection the receiver dropped is replaced transparently") {
  Receiver r;
  Fixture f(options_for(r));
  REQUIRE(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
  r.go_down();  // closes the idle connection the sink keeps
  r.come_up();
  Delivery d = f.deliver(events(1, 1));
  CHECK(d.code == SLUICE_DELIVERY_OK);
  CHECK(r.request_count() == 2);
  CHECK(r.connections_accepted() == 2);
}

TEST_CASE("webhook: never more than max_in_flight requests at once") {
  Receiver r;
  r.set_default(Answer::delayed(100ms));
  Fixture f(options_for(r, {{"body", "cloudevents"}, {"max_in_flight", 2}}));
  CHECK(f.sink->max_in_flight() == 2);
  Delivery d = f.deliver(events(8));  // cloudevents: 8 requests for this one batch
  CHECK(d.code == SLUICE_DELIVERY_OK);
  CHECK(r.request_count() == 8);
  CHECK(r.max_concurrent() <= 2);
  CHECK(r.connections_accepted() <= 2);
}

// ---- bodies and headers ---------------------------------------------------------------------

TEST_CASE("webhook: body cloudevents sends one structured CloudEvent per request") {
  Receiver r;
  Fixture f(options_for(r, {{"body", "cloudevents"}}));
  CHECK(f.deliver(events(3)).code == SLUICE_DELIVERY_OK);
  auto reqs = r.requests();
  REQUIRE(reqs.size() == 3);
  std::set<std::string> ids, keys;
  for (const auto& q : reqs) {
    CHECK(q.header("content-type") == "application/cloudevents+json; charset=utf-8");
    json ce = json::parse(q.body);
    CHECK(ce["specversion"] == "1.0");
    CHECK(ce["type"] == "hmc.os-message");
    ids.insert(ce["id"].get<std::string>());
    keys.insert(q.header("idempotency-key"));
  }
  CHECK(ids == std::set<std::string>{"id-0", "id-1", "id-2"});
  CHECK(keys.size() == 3);  // one key per event
}

// The CloudEvent ids of the requests from `first` on, in order.
std::vector<std::string> request_ids(const Receiver& r, size_t first = 0) {
  std::vector<std::string> ids;
  const auto reqs = r.requests();
  for (size_t i = first; i < reqs.size(); ++i)
    ids.push_back(json::parse(reqs[i].body)["id"].get<std::string>());
  return ids;
}

TEST_CASE("webhook: body cloudevents answers each event with its own request's status") {
  Receiver r;
  // One request at a time, so the answers meet the events in order.
  r.script({Answer::ok(), Answer::retry_after(503, "2"), Answer::with_status(400, "bad subject"),
            Answer::ok()});
  Fixture f(options_for(r, {{"body", "cloudevents"}, {"max_in_flight", 1}}));
  Delivery d = f.deliver(events(4), 1);
  CHECK(request_ids(r) == std::vector<std::string>{"id-0", "id-1", "id-2", "id-3"});
  REQUIRE(d.events.size() == 4);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_RETRY);
  CHECK(d.events[1].status == 503);
  CHECK(d.events[1].retry_after_ms == 2000);
  CHECK(d.events[2].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[2].status == 400);
  CHECK(d.events[2].reason.find("bad subject") != std::string::npos);
  CHECK(d.events[3].code == SLUICE_DELIVERY_OK);
  // What a 1.0 host reads: retry (the host would send all four again).
  CHECK(d.code == SLUICE_DELIVERY_RETRY);

  // The host retries only id-1: the sink sends what it is given, nothing it remembers.
  d = f.deliver({events(4)[1]}, 2);
  CHECK(request_ids(r, 4) == std::vector<std::string>{"id-1"});
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
}

TEST_CASE("webhook: a batch body mode answers the whole batch with its one status") {
  Receiver r;
  r.script({Answer::with_status(400, "one bad event")});
  Fixture f(options_for(r, {{"body", "json-array"}}));
  Delivery d = f.deliver(events(3));
  CHECK(r.request_count() == 1);
  CHECK(d.code == SLUICE_DELIVERY_REJECT);
  CHECK(d.status == 400);
  CHECK(d.events.empty());  // the status cannot say which event was at fault
}

TEST_CASE("webhook: body json-array and json-lines carry sluice's JSON form") {
  Receiver r;
  {
    Fixture f(options_for(r, {{"body", "json-array"}}));
    CHECK(f.deliver(events(2)).code == SLUICE_DELIVERY_OK);
  }
  {
    Fixture f(options_for(r, {{"body", "json-lines"}}));
    CHECK(f.deliver(events(2)).code == SLUICE_DELIVERY_OK);
  }
  auto reqs = r.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].header("content-type") == "application/json");
  json arr = json::parse(reqs[0].body);
  REQUIRE(arr.size() == 2);
  CHECK(arr[1]["id"] == "id-1");
  CHECK(arr[1]["attributes"]["notification-type"] == "os-message");
  CHECK(reqs[1].header("content-type") == "application/x-ndjson");
  CHECK(
      reqs[1].body ==
      R"({"id":"id-0","source":"hmc://hmc1","type":"hmc.os-message","subject":"/api/partitions/p0","time":"2025-11-21T05:03:52.123Z","attributes":{"notification-type":"os-message"},"data":{"n":0}})"
      "\n"
      R"({"id":"id-1","source":"hmc://hmc1","type":"hmc.os-message","subject":"/api/partitions/p1","time":"2025-11-21T05:03:52.123Z","attributes":{"notification-type":"os-message"},"data":{"n":1}})"
      "\n");
}

TEST_CASE("webhook: gzip compresses the body and says so in Content-Encoding") {
  Receiver r;
  Fixture f(options_for(r, {{"gzip", true}, {"body", "json-lines"}}));
  CHECK(f.deliver(events(50)).code == SLUICE_DELIVERY_OK);
  auto reqs = r.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].header("content-encoding") == "gzip");
  CHECK(reqs[0].raw_body.size() < reqs[0].body.size());
  CHECK(reqs[0].body.rfind(R"({"id":"id-0",)", 0) == 0);
  CHECK(std::count(reqs[0].body.begin(), reqs[0].body.end(), '\n') == 50);
}

TEST_CASE("webhook: bearer auth") {
  Receiver r;
  Fixture f(options_for(r, {{"auth", {{"bearer", "s3cr3t-token"}}}}));
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
  CHECK(r.requests().at(0).header("authorization") == "Bearer s3cr3t-token");
}

TEST_CASE("webhook: basic auth") {
  Receiver r;
  Fixture f(options_for(r, {{"auth", {{"username", "Aladdin"}, {"password", "open sesame"}}}}));
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
  CHECK(r.requests().at(0).header("authorization") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST_CASE("webhook: configured headers are templated with the (first) event's fields") {
  Receiver r;
  Fixture f(options_for(r, {{"headers",
                             {{"X-Event-Type", "{type}"},
                              {"X-Route", "{source} {subject} #{id}"},
                              {"X-Static", "plain"}}}}));
  CHECK(f.deliver(events(2)).code == SLUICE_DELIVERY_OK);
  auto q = r.requests().at(0);
  CHECK(q.header("x-event-type") == "hmc.os-message");
  CHECK(q.header("x-route") == "hmc://hmc1 /api/partitions/p0 #id-0");
  CHECK(q.header("x-static") == "plain");
}

TEST_CASE("webhook: the idempotency key is the same on every retry of a batch") {
  Receiver r;
  r.script({Answer::with_status(500), Answer::with_status(503), Answer::ok()});
  Fixture f(options_for(r));
  auto batch = events(4);
  CHECK(f.deliver(batch, 1).code == SLUICE_DELIVERY_RETRY);
  CHECK(f.deliver(batch, 2).code == SLUICE_DELIVERY_RETRY);
  CHECK(f.deliver(batch, 3).code == SLUICE_DELIVERY_OK);
  CHECK(f.deliver(events(4, 4)).code == SLUICE_DELIVERY_OK);
  auto reqs = r.requests();
  REQUIRE(reqs.size() == 4);
  const std::string key = reqs[0].header("idempotency-key");
  CHECK(key.size() == 32);
  CHECK(reqs[1].header("idempotency-key") == key);
  CHECK(reqs[2].header("idempotency-key") == key);
  CHECK(reqs[3].header("idempotency-key") != key);  // another batch
}

TEST_CASE("webhook: signature verified independently with OpenSSL HMAC()") {
  Receiver r;
  const std::string secret = "whsec_test_123";
  Fixture f(options_for(r, {{"signing_secret", secret}}));
  CHECK(f.deliver(events(2)).code == SLUICE_DELIVERY_OK);
  auto q = r.requests().at(0);
  const std::string ts = q.header("x-sluice-timestamp");
  REQUIRE_FALSE(ts.empty());
  CHECK(std::llabs(std::stoll(ts) - static_cast<long long>(std::time(nullptr))) < 300);
  // Documented scheme: X-Sluice-Signature: v1=<hex HMAC-SHA256(secret, timestamp "." body)>,
  // body = the exact bytes received.
  CHECK(q.header("x-sluice-signature") == "v1=" + hmac_hex(secret, ts + "." + q.raw_body));
  CHECK(q.header("x-sluice-signature") != "v1=" + hmac_hex("wrong", ts + "." + q.raw_body));
}

TEST_CASE("webhook: with gzip the signature covers the compressed bytes as sent") {
  Receiver r;
  Fixture f(options_for(r, {{"signing_secret", "k"}, {"gzip", true}}));
  CHECK(f.deliver(events(2)).code == SLUICE_DELIVERY_OK);
  auto q = r.requests().at(0);
  CHECK(q.header("x-sluice-signature") ==
        "v1=" + hmac_hex("k", q.header("x-sluice-timestamp") + "." + q.raw_body));
}

// ---- TLS ------------------------------------------------------------------------------------

TEST_CASE("webhook TLS: verification is on by default and fails against an unknown CA") {
  ReceiverOptions ro;
  ro.tls = true;
  Receiver r(ro);
  Fixture f(options_for(r));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason.find("TLS handshake") != std::string::npos);
  CHECK(d.reason.find("certificate verify failed") != std::string::npos);
  CHECK(r.request_count() == 0);
}

TEST_CASE("webhook TLS: with the receiver's CA in ca_file the request goes through") {
  ReceiverOptions ro;
  ro.tls = true;
  Receiver r(ro);
  TempFile ca(r.certificate().certificate);
  Fixture f(options_for(r, {{"tls", {{"ca_file", ca.path}}}}));
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
  CHECK(r.request_count() == 1);
}

TEST_CASE(
    "webhook TLS: mutual TLS presents the client certificate; without it the receiver "
    "refuses") {
  auto client = sluice::tls::generate_self_signed({"sluice-client"});
  ReceiverOptions ro;
  ro.tls = true;
  ro.require_client_certificate = true;
  ro.client_ca_pem = client.certificate;
  Receiver r(ro);
  TempFile ca(r.certificate().certificate), cert(client.certificate), key(client.private_key);
  {
    Fixture f(options_for(
        r, {{"tls", {{"ca_file", ca.path}, {"cert_file", cert.path}, {"key_file", key.path}}}}));
    CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
    REQUIRE(r.request_count() == 1);
    CHECK(r.requests()[0].client_certificate);
  }
  {
    Fixture f(options_for(r, {{"tls", {{"ca_file", ca.path}}}}));
    Delivery d = f.deliver(events(1));
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(r.request_count() == 1);
  }
}

// ---- outage -----------------------------------------------------------------------------------

TEST_CASE(
    "webhook outage: receiver down, then back; every event arrives once, retried batches "
    "carry the same key") {
  Receiver r;
  Fixture f(options_for(r));
  r.go_down();
  std::vector<std::vector<Event>> batches;
  for (int b = 0; b < 5; ++b)
    batches.push_back(events(10, b * 10));
  for (auto& b : batches)
    CHECK(f.deliver(b, 1).code == SLUICE_DELIVERY_RETRY);
  r.come_up();
  // Then a window of 500s: the first retries fail again, later ones go through (bounded loop).
  r.answer_for(Answer::with_status(500), 200ms);
  for (auto& b : batches) {
    Delivery d;
    for (uint32_t attempt = 2; attempt < 200; ++attempt) {
      d = f.deliver(b, attempt);
      if (d.code == SLUICE_DELIVERY_OK) break;
      std::this_thread::sleep_for(10ms);  // stands in for the core's back-off
    }
    CHECK(d.code == SLUICE_DELIVERY_OK);
  }
  std::map<std::string, int> delivered;  // event id -> times accepted (answered 200)
  std::map<std::string, std::set<std::string>> keys_by_first_event;
  for (const auto& q : r.requests()) {
    json body = json::parse(q.body);
    keys_by_first_event[body[0]["id"]].insert(q.header("idempotency-key"));
    if (q.answered == 200)
      for (const auto& ev : body)
        ++delivered[ev["id"].get<std::string>()];
  }
  CHECK(delivered.size() == 50);
  for (const auto& [id, n] : delivered)
    CHECK_MESSAGE(n == 1, id);
  for (const auto& [first, keys] : keys_by_first_event)
    CHECK_MESSAGE(keys.size() == 1, first);
}

TEST_CASE("webhook: bad options fail create with a clear message") {
  Harness h(WEBHOOK_SO);
  CHECK_THROWS_WITH_AS(h.create(R"({"url":"ftp://x"})"),
                       "bad url 'ftp://x': scheme must be http or https", std::runtime_error);
  CHECK_THROWS_WITH_AS(h.create(R"({"url":"http://x","body":"xml"})"),
                       "body: unknown mode 'xml' (cloudevents, cloudevents-batch, json-array, "
                       "json-lines, splunk-hec, elasticsearch-bulk)",
                       std::runtime_error);
}

TEST_CASE("webhook: the options schema is valid JSON naming every option") {
  Harness h(WEBHOOK_SO);
  json s = json::parse(h.descriptor().options_schema);
  CHECK(s["required"] == json::array({"url"}));
  for (const char* k :
       {"url", "body", "gzip", "headers", "auth", "idempotency_header", "signing_secret",
        "max_in_flight", "connect_timeout", "write_timeout", "read_timeout", "tls", "status_map",
        "user_agent", "splunk", "elasticsearch"})
    CHECK_MESSAGE(s["properties"].contains(k), k);
}
