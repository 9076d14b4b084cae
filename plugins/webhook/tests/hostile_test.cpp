// The webhook sink against hostile receivers on loopback: responses that lie about their size
// (issue 9, items 1 and 2), header templates that would inject headers (item 3) and a DNS
// resolve that never answers (item 21).
#include <doctest/doctest.h>

#include "receiver.hpp"

#include <sluice/http_read.hpp>
#include <sluice/testing.hpp>
#include <sluice/testing_http.hpp>

#include <boost/asio/connect.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <dlfcn.h>
#include <netdb.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using namespace std::chrono_literals;
using nlohmann::json;
using sluice::Delivery;
using sluice::Event;
using sluice::testing::Harness;
using sluice::testing::RawHttpServer;
using sluice::webhook::testing::Receiver;

// ---- a resolver that hangs for one name -------------------------------------------------------
// getaddrinfo of this executable (exported, ENABLE_EXPORTS) takes the plugin's calls: for
// kHangingHost it blocks until the test lets it go (or 20 s pass), else it is the real one.
namespace {
constexpr const char* kHangingHost = "hang.sluice.invalid";
std::mutex hang_mutex;
std::condition_variable hang_cv;
bool hang_released = false;
}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (node && std::strcmp(node, kHangingHost) == 0) {
    std::unique_lock lock(hang_mutex);
    hang_cv.wait_for(lock, 20s, [] { return hang_released; });
    return EAI_NONAME;
  }
  return real(node, service, hints, res);
}

namespace {

std::vector<Event> events(int n, const std::string& type = "hmc.os-message") {
  std::vector<Event> v;
  for (int i = 0; i < n; ++i) {
    Event e;
    e.id = "id-" + std::to_string(i);
    e.source = "hmc://hmc1";
    e.type = type;
    e.subject = "/api/partitions/p" + std::to_string(i);
    e.data = "{\"n\":" + std::to_string(i) + "}";
    v.push_back(std::move(e));
  }
  return v;
}

json options_for(const std::string& url, json extra = json::object()) {
  json o = {
      {"url", url}, {"connect_timeout", "2s"}, {"write_timeout", "2s"}, {"read_timeout", "2s"}};
  o.update(extra);
  return o;
}

std::string url_of(const RawHttpServer& s) {
  return "http://127.0.0.1:" + std::to_string(s.port()) + "/hook";
}

struct Fixture {
  Harness harness{WEBHOOK_SO};
  sluice::testing::Instance* sink = nullptr;
  explicit Fixture(const json& options) {
    sink = &harness.create(options.dump());
    sink->start();
  }
  Delivery deliver(const std::vector<Event>& ev, std::chrono::milliseconds timeout = 30s) {
    return harness.deliver(*sink, ev, 1, timeout);
  }
};

}  // namespace

// ---- the reading helper itself (sluice/http_read.hpp) ------------------------------------------

namespace {

struct ReadResult {
  boost::system::error_code ec;
  std::string body;
  bool header_done = false;
  size_t buffer_capacity = 0;
};

// Sends one request to the server and reads the answer with async_read_response.
ReadResult read_one(const RawHttpServer& server, sluice::http::ResponseLimits limits) {
  namespace beast = boost::beast;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), server.port()});
  beast::http::request<beast::http::string_body> req(beast::http::verb::get, "/", 11);
  beast::http::write(stream, req);
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::string_body> parser;
  ReadResult r;
  stream.expires_after(20s);
  sluice::http::async_read_response(stream, buffer, parser, limits,
                                    [&](boost::system::error_code ec, size_t) { r.ec = ec; });
  io.run();
  r.body = parser.get().body();
  r.header_done = parser.is_header_done();
  r.buffer_capacity = buffer.capacity();
  return r;
}

}  // namespace

TEST_CASE("http_read: a body of exactly the limit is read; one byte more is not") {
  RawHttpServer server;
  server.script(
      {{"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'a'), 0, true},
       {"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n" + std::string(1001, 'a'), 0, true}});
  ReadResult r = read_one(server, {1000, 16384});
  CHECK(!r.ec);
  CHECK(r.body.size() == 1000);
  r = read_one(server, {1000, 16384});
  CHECK(r.ec == boost::beast::http::error::body_limit);
  CHECK(r.header_done);
  CHECK(r.body.empty());
}

TEST_CASE("http_read: chunks and a body read to EOF count against the limit") {
  RawHttpServer server;
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i)
    chunked += "64\r\n" + std::string(100, 'c') + "\r\n";
  server.script(
      {{chunked + "0\r\n\r\n", 0, true},
       {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(4000, 'e'), 0, true}});
  ReadResult r = read_one(server, {1000, 16384});
  CHECK(r.ec == boost::beast::http::error::body_limit);
  CHECK(r.body.size() <= 1000);
  r = read_one(server, {1000, 16384});
  CHECK(r.ec == boost::beast::http::error::body_limit);
  CHECK(r.body.size() <= 1000);
}

TEST_CASE("http_read: a header or a chunk-size line that never ends does not grow the buffer") {
  const sluice::http::ResponseLimits limits{1000, 4096};
  RawHttpServer server;
  server.script({{"HTTP/1.1 200 OK\r\n", 4u << 20, true},
                 {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1", 4u << 20, true}});
  ReadResult r = read_one(server, limits);
  CHECK(r.ec == boost::beast::http::error::header_limit);
  CHECK(r.buffer_capacity <= sluice::http::read_buffer_limit(limits));
  r = read_one(server, limits);
  CHECK(r.ec);
  CHECK(r.buffer_capacity <= sluice::http::read_buffer_limit(limits));
}

// ---- response size (items 1 and 2) ------------------------------------------------------------

TEST_CASE("webhook: Content-Length 100 GB with body bytes glued to the header is not read") {
  // Before: Beast's eager parse overwrote the body_limit error and reserved 100 GB: the process
  // died of std::bad_alloc.
  RawHttpServer server;
  server.script({{"HTTP/1.1 200 OK\r\nContent-Length: 107374182400\r\n\r\nabcdef", 0, false},
                 {"HTTP/1.1 503 Busy\r\nContent-Length: 107374182400\r\n\r\nabcdef", 0, false}});
  Fixture f(options_for(url_of(server)));
  // The status is the receiver's answer; the body is not worth 100 GB.
  Delivery d = f.deliver(events(2));
  CHECK(d.code == SLUICE_DELIVERY_OK);
  d = f.deliver(events(2));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.status == 503);
  CHECK(d.reason.find("max_response_bytes 1048576") != std::string::npos);
  CHECK(f.harness.metric("webhook.responses_too_large") == 2);
  CHECK(f.harness.logged("max_response_bytes"));
  // The connection of a response not read to its end is not used again.
  CHECK(server.request_count() == 2);
  d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_OK);
}

TEST_CASE("webhook: a glued body dripped far past max_response_bytes: memory stays bounded") {
  // Before: the limit was bypassed and the body grew to whatever the receiver sent.
  constexpr uint64_t kDrip = 96ull << 20;
  RawHttpServer server;
  server.script({{"HTTP/1.1 500 Oops\r\nContent-Length: 1073741824\r\n\r\nabc", kDrip, true}});
  Fixture f(options_for(url_of(server), {{"max_response_bytes", "1MiB"}}));
  Delivery d = f.deliver(events(1));
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  REQUIRE(server.wait_for_drips(1, 30s));
  // The limit plus a small constant (buffers, the drip's own /proc reads, allocator slack).
  CHECK(server.peak_rss_growth() < (1 << 20) + (24 << 20));
}

TEST_CASE("webhook: a chunked body over max_response_bytes is cut off; its status counts") {
  RawHttpServer server;
  std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 40; ++i)
    head += "400\r\n" + std::string(1024, 'y') + "\r\n";  // 40 KiB in 1 KiB chunks
  server.script({{head + "0\r\n\r\n", 0, false}});
  Fixture f(options_for(url_of(server), {{"max_response_bytes", "16KiB"}}));
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
  CHECK(f.harness.metric("webhook.responses_too_large") == 1);
}

// ---- io thread (item 1) -----------------------------------------------------------------------

TEST_CASE("webhook: an exception on the io thread: logged, the request retried, the sink goes on") {
  // Before: std::terminate. The harness throws once from a metric call on the io thread,
  // standing for a bug in that handler.
  Receiver r;
  Fixture f(options_for(r.url()));
  f.harness.throw_once_on("webhook.connections_opened");
  Delivery d = f.deliver(events(1), 10s);
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason == "webhook: internal error: injected fault");
  CHECK(f.harness.logged("webhook: internal error: injected fault"));
  CHECK(f.harness.metric("webhook.internal_errors") == 1);
  CHECK(f.deliver(events(1), 10s).code == SLUICE_DELIVERY_OK);
}

// ---- header templates (item 3) ----------------------------------------------------------------

TEST_CASE("webhook: a header template that expands to CR LF is refused, never sent") {
  // Before: "X-Type: a\r\nX-Injected: 1" went out as two headers (and could smuggle a request).
  Receiver r;
  Fixture f(options_for(r.url(), {{"headers", {{"X-Type", "{type}"}}}}));
  Delivery d = f.deliver(events(2, "hmc.a\r\nX-Injected: 1"));
  CHECK(d.code == SLUICE_DELIVERY_REJECT);
  CHECK(d.reason.find("header X-Type") != std::string::npos);
  CHECK(d.reason.find("CR") != std::string::npos);
  CHECK(r.request_count() == 0);
  CHECK(f.harness.metric("webhook.headers_refused") == 1);
  // Events whose text is clean go on as before.
  CHECK(f.deliver(events(1)).code == SLUICE_DELIVERY_OK);
  REQUIRE(r.request_count() == 1);
  CHECK(r.requests()[0].header("x-type") == "hmc.os-message");
  CHECK(r.requests()[0].header("x-injected").empty());
}

TEST_CASE("webhook: NUL, a lone LF and other control characters in a header value are refused") {
  Receiver r;
  Fixture f(
      options_for(r.url(), {{"body", "cloudevents"}, {"headers", {{"X-Subject", "s={subject}"}}}}));
  for (const std::string& subject :
       {std::string("a\nb"), std::string("a\0b", 3), std::string("a\x01")}) {
    auto ev = events(1);
    ev[0].subject = subject;
    Delivery d = f.deliver(ev);
    CHECK(d.code == SLUICE_DELIVERY_REJECT);
    CHECK(d.reason.find("header X-Subject") != std::string::npos);
  }
  CHECK(r.request_count() == 0);
}

TEST_CASE(
    "webhook: header options, auth, user_agent with a control character or a bad name are refused "
    "at create") {
  Receiver r;
  Harness h(WEBHOOK_SO);
  CHECK_THROWS_WITH_AS(h.create(options_for(r.url(), {{"headers", {{"X-A", "a\r\nB: c"}}}}).dump()),
                       doctest::Contains("headers: X-A: CR"), std::runtime_error);
  CHECK_THROWS_WITH_AS(h.create(options_for(r.url(), {{"headers", {{"X A", "v"}}}}).dump()),
                       doctest::Contains("not a header name"), std::runtime_error);
  CHECK_THROWS_WITH_AS(
      h.create(options_for(r.url(), {{"auth", {{"bearer", "tok\r\nX-Evil: 1"}}}}).dump()),
      doctest::Contains("auth: the credentials hold a CR at offset 10"), std::runtime_error);
  CHECK_THROWS_WITH_AS(h.create(options_for(r.url(), {{"user_agent", "a\nb"}}).dump()),
                       doctest::Contains("user_agent: LF"), std::runtime_error);
  CHECK_THROWS_WITH_AS(h.create(options_for(r.url(), {{"idempotency_header", "Key:"}}).dump()),
                       doctest::Contains("not a header name"), std::runtime_error);
}

TEST_CASE("webhook: check_options refuses what create refuses, each problem at its option") {
  Harness h(WEBHOOK_SO);
  const std::string https = "https://127.0.0.1:1/hook";
  CHECK(h.check(options_for(https).dump()).empty());
  // Every value problem at once, in create's words; create throws the first.
  json bad = options_for("http://h:99999/x", {{"headers", {{"X A", "v"}, {"X-B", "a\nb"}}},
                                              {"user_agent", "a\rb"},
                                              {"connect_timeout", ".."},
                                              {"max_response_bytes", "."},
                                              {"status_map", {{"404", "maybe"}}}});
  CHECK(h.check(bad.dump()) ==
        sluice::OptionProblems{
            {"/url", "bad url 'http://h:99999/x': port out of range"},
            {"/headers/X A", "headers: 'X A' is not a header name"},
            {"/headers/X-B", "headers: X-B: LF at offset 1"},
            {"/connect_timeout", "connect_timeout: not a duration: '..'"},
            {"/max_response_bytes", "max_response_bytes: not a size: '.'"},
            {"/status_map/404", "status_map: unknown answer 'maybe' (ok, retry, reject)"},
            {"/user_agent", "user_agent: CR at offset 1"}});
  CHECK_THROWS_WITH(h.create(bad.dump()), "bad url 'http://h:99999/x': port out of range");
  // With https: the TLS files, named with the system's reason, then what OpenSSL makes of them.
  json tls = options_for(https, {{"tls", {{"ca_file", "/nonexistent/ca.pem"}}}});
  const std::string missing =
      "tls.ca_file: cannot read /nonexistent/ca.pem: No such file or directory";
  CHECK(h.check(tls.dump()) == sluice::OptionProblems{{"/tls/ca_file", missing}});
  CHECK_THROWS_WITH(h.create(tls.dump()), missing.c_str());
  tls["tls"] = {{"ca_file", "/etc/passwd"}};  // readable, not PEM
  auto problems = h.check(tls.dump());
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].pointer == "/tls/ca_file");
  CHECK(problems[0].message.rfind("tls.ca_file: cannot use /etc/passwd: ", 0) == 0);
  CHECK_THROWS_WITH(h.create(tls.dump()), problems[0].message.c_str());
  // Over plain http the TLS block is not used, so neither create nor the check look at it.
  json plain =
      options_for("http://127.0.0.1:1/hook", {{"tls", {{"ca_file", "/nonexistent/ca.pem"}}}});
  CHECK(h.check(plain.dump()).empty());
}

// ---- DNS (item 21) ----------------------------------------------------------------------------

TEST_CASE("webhook: a DNS resolve that never answers ends after connect_timeout") {
  // Before: the request waited for getaddrinfo forever.
  struct Release {  // lets the resolver go before the sink stops (stop waits for it)
    ~Release() {
      {
        std::lock_guard lock(hang_mutex);
        hang_released = true;
      }
      hang_cv.notify_all();
    }
  };
  Fixture f(options_for(std::string("http://") + kHangingHost + ":9/hook",
                        {{"connect_timeout", "300ms"}}));
  Release release;
  Delivery d = f.deliver(events(1), 10s);
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason == std::string("resolve ") + kHangingHost + ":9: timed out");
}
