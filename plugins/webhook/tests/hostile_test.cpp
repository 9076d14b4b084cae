// The webhook sink against hostile receivers on loopback: responses that lie about their size
// (issue 9, items 1 and 2), header templates that would inject headers (item 3) and a DNS
// resolve that never answers (item 21).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "receiver.hpp"

#include <sluice/testing.hpp>
#include <sluice/testing_http.hpp>

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
  Harness harness{SLUICE_WEBHOOK_PLUGIN};
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

TEST_CASE("webhook: a header option with a control character or a bad name is refused at create") {
  Receiver r;
  Harness h(SLUICE_WEBHOOK_PLUGIN);
  CHECK_THROWS_WITH_AS(h.create(options_for(r.url(), {{"headers", {{"X-A", "a\r\nB: c"}}}}).dump()),
                       doctest::Contains("headers: X-A: CR"), std::runtime_error);
  CHECK_THROWS_WITH_AS(h.create(options_for(r.url(), {{"headers", {{"X A", "v"}}}}).dump()),
                       doctest::Contains("not a header name"), std::runtime_error);
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
