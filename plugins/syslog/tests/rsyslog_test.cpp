// The syslog sink against a real rsyslog (Debian rsyslog, rsyslog-relp, rsyslog-openssl),
// started by the test on loopback (rsyslog.hpp). Every wait is a bounded loop that ends by
// itself; nothing is asserted on time.
#include <doctest/doctest.h>

#include "rsyslog.hpp"

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;
using sluice::syslog::testing::Rsyslog;
using sluice::testing::Harness;
using sluice::testing::TempDir;

sluice::Event event(size_t i, std::string data = {}) {
  sluice::Event e;
  e.id = "ev-" + std::to_string(i);
  e.source = "test://rsyslog";
  e.type = i % 2 ? "test.odd" : "test.even";
  e.subject = "res/" + std::to_string(i);
  e.time_unix_ns = 1764615600000000000 + static_cast<int64_t>(i) * 1000;
  e.data = data.empty() ? json("message " + std::to_string(i)).dump() : data;
  return e;
}

std::string options(const Rsyslog& r, const std::string& transport, json extra = json::object()) {
  json o = {{"host", "127.0.0.1"},
            {"port", r.port()},
            {"transport", transport},
            {"app_name", "sluicetest"},
            {"hostname", "test-host"},
            {"procid", "77"},
            {"body", "text"},
            {"levels",
             json::array({{{"type", "test.odd"}, {"severity", "err"}, {"facility", "local3"}}})}};
  o.update(extra);
  return o.dump();
}

// The id from rsyslog's view of the structured data: [sluice@32473 id="ev-1" ...].
std::string id_of(const json& line) {
  const std::string sd = line.value("sd", "");
  const auto at = sd.find("id=\"");
  if (at == std::string::npos) return {};
  return sd.substr(at + 4, sd.find('"', at + 4) - at - 4);
}

// Sends events 0..n-1 in batches, re-sending what the sink answers retry, until every event is
// answered ok (bounded rounds). `between(round)` runs before each round.
template <typename Between>
void send_all(Harness& h, sluice::testing::Instance& sink, size_t n, size_t batch, Between between,
              size_t* retried = nullptr) {
  std::vector<size_t> pending;
  for (size_t i = 0; i < n; ++i)
    pending.push_back(i);
  for (int round = 0; round < 400 && !pending.empty(); ++round) {
    between(round);
    std::vector<size_t> now(pending.begin(),
                            pending.begin() + static_cast<long>(std::min(batch, pending.size())));
    std::vector<sluice::Event> events;
    for (size_t i : now)
      events.push_back(event(i));
    auto d = h.deliver(sink, events, 1);
    REQUIRE(d.events.size() == now.size());
    std::vector<size_t> again;
    for (size_t k = 0; k < now.size(); ++k) {
      REQUIRE(d.events[k].code != SLUICE_DELIVERY_REJECT);
      if (d.events[k].code == SLUICE_DELIVERY_RETRY) again.push_back(now[k]);
    }
    if (retried) *retried += again.size();
    pending.erase(pending.begin(), pending.begin() + static_cast<long>(now.size()));
    pending.insert(pending.end(), again.begin(), again.end());
    if (!again.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // back-off
  }
  REQUIRE_MESSAGE(pending.empty(), pending.size() << " events never delivered");
}

void check_exact(const std::vector<json>& lines, size_t n) {
  std::map<std::string, int> seen;
  for (const auto& l : lines)
    ++seen[id_of(l)];
  CHECK(lines.size() == n);
  CHECK(seen.size() == n);
  for (size_t i = 0; i < n; ++i)
    CHECK_MESSAGE(seen["ev-" + std::to_string(i)] == 1, "ev-" << i);
}

// What rsyslog made of event i, field by field.
void check_content(const json& l, size_t i) {
  CHECK(l["pri"] == (i % 2 ? std::to_string(19 * 8 + 3) : std::string("13")));
  CHECK(l["hostname"] == "test-host");
  CHECK(l["app"] == "sluicetest");
  CHECK(l["procid"] == "77");
  CHECK(l["msgid"] == (i % 2 ? "test.odd" : "test.even"));
  CHECK(l["sd"] == "[sluice@32473 id=\"ev-" + std::to_string(i) +
                       "\" source=\"test://rsyslog\" subject=\"res/" + std::to_string(i) + "\"]");
  CHECK(l["msg"] == "message " + std::to_string(i));
}

void exact_run(Rsyslog::Input input, const std::string& transport, json extra = json::object()) {
  TempDir dir("sluice-syslog");
  Rsyslog r(dir, input);
  if (input == Rsyslog::tls) extra["tls"] = {{"ca_file", dir.file("cert.pem")}};  // verify: on
  Harness h(SYSLOG_SO);
  auto& sink = h.create(options(r, transport, extra));
  sink.start();
  const size_t n = 1000;
  send_all(h, sink, n, 100, [](int) {});
  sink.stop();
  auto lines = r.wait_lines(n);
  check_exact(lines, n);
  for (const auto& l : lines) {
    const std::string id = id_of(l);
    if (id == "ev-7" || id == "ev-500") check_content(l, std::stoul(id.substr(3)));
  }
  CHECK(h.metric("syslog.messages_sent") == static_cast<int64_t>(n));
}

}  // namespace

TEST_CASE("tcp: every event arrives once, fields as rsyslog parses them") {
  exact_run(Rsyslog::tcp, "tcp");
}

TEST_CASE("tcp non-transparent framing: every event arrives once") {
  exact_run(Rsyslog::tcp, "tcp", {{"framing", "non-transparent"}});
}

TEST_CASE("tls: every event arrives once, the certificate verified") {
  exact_run(Rsyslog::tls, "tls");
}

TEST_CASE("relp: every event arrives once") {
  exact_run(Rsyslog::relp, "relp");
}

TEST_CASE("udp: content") {
  TempDir dir("sluice-syslog");
  Rsyslog r(dir, Rsyslog::udp);
  Harness h(SYSLOG_SO);
  auto& sink = h.create(options(r, "udp"));
  sink.start();
  // Loopback does not drop datagrams at this pace; the test does not rely on it for the count.
  std::vector<sluice::Event> events;
  for (size_t i = 0; i < 20; ++i)
    events.push_back(event(i));
  auto d = h.deliver(sink, events);
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_OK);
  auto lines = r.wait_lines(20);
  REQUIRE(!lines.empty());
  for (const auto& l : lines)
    check_content(l, std::stoul(id_of(l).substr(3)));

  // One message per datagram, capped at max_message_bytes (2048 by default for udp): a bigger
  // MSG is cut so that the whole SYSLOG-MSG fits.
  const std::string big(5000, 'b');
  d = h.deliver(sink, {event(99, json(big).dump())});
  CHECK(d.events.at(0).code == SLUICE_DELIVERY_OK);
  CHECK(h.metric("syslog.truncated") == 1);
  lines = r.wait_lines(lines.size() + 1);
  const json* cut = nullptr;
  for (const auto& l : lines)
    if (id_of(l) == "ev-99") cut = &l;
  REQUIRE(cut);
  const std::string msg = (*cut)["msg"];
  CHECK(msg == std::string(msg.size(), 'b'));
  // The whole message was 2048 bytes: header, SD, SP and the MSG.
  const std::string sd = (*cut)["sd"];
  CHECK(std::string("<155>1 2025-12-01T19:00:00.000099Z test-host sluicetest 77 test.odd ").size() +
            sd.size() + 1 + msg.size() ==
        2048);
}

TEST_CASE("per-event answers: a message that cannot be built is rejected, the others sent") {
  TempDir dir("sluice-syslog");
  Rsyslog r(dir, Rsyslog::tcp);
  Harness h(SYSLOG_SO);
  auto& sink = h.create(options(r, "tcp", {{"max_message_bytes", 480}}));
  sink.start();
  auto huge = event(1);
  huge.id = std::string(600, 'i');  // the structured data alone is over 480 bytes
  auto d = h.deliver(sink, {event(0), huge, event(2)});
  REQUIRE(d.events.size() == 3);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[1].reason.find("over max_message_bytes (480)") != std::string::npos);
  CHECK(d.events[2].code == SLUICE_DELIVERY_OK);
  sink.stop();
  auto lines = r.wait_lines(2);
  REQUIRE(lines.size() == 2);
  CHECK(id_of(lines[0]) == "ev-0");
  CHECK(id_of(lines[1]) == "ev-2");
}

TEST_CASE("multi-line messages: octet counting keeps them whole, non-transparent escapes LF") {
  for (const std::string framing : {"octet-counting", "non-transparent"}) {
    for (const std::string transport : {"tcp", "relp"}) {
      if (transport == "relp" && framing != "octet-counting") continue;
      CAPTURE(framing);
      CAPTURE(transport);
      TempDir dir("sluice-syslog");
      Rsyslog r(dir, transport == "relp" ? Rsyslog::relp : Rsyslog::tcp);
      Harness h(SYSLOG_SO);
      json extra = transport == "relp" ? json::object() : json{{"framing", framing}};
      auto& sink = h.create(options(r, transport, extra));
      sink.start();
      std::vector<sluice::Event> events;
      for (size_t i = 0; i < 10; ++i)
        events.push_back(event(
            i, json("first line " + std::to_string(i) + "\nsecond line\n\nfourth \"line\" ]\n")
                   .dump()));
      auto d = h.deliver(sink, events);
      for (const auto& e : d.events)
        CHECK(e.code == SLUICE_DELIVERY_OK);
      sink.stop();
      auto lines = r.wait_lines(10);
      check_exact(lines, 10);
      for (const auto& l : lines) {
        const std::string i = id_of(l).substr(3);
        if (framing == "octet-counting")
          CHECK(l["msg"] == "first line " + i + "\nsecond line\n\nfourth \"line\" ]\n");
        else
          CHECK(l["msg"] == "first line " + i + "#012second line#012#012fourth \"line\" ]#012");
      }
    }
  }
}

namespace {

// Events 0..n-1 through the sink while rsyslog is stopped (SIGTERM) after the 10th batch and
// started again before the 13th, each event re-sent until answered ok; then the sink stops.
struct Restart {
  size_t sent = 0, retried = 0, missing = 0, duplicates = 0;
  int64_t counted = 0;  // syslog.lost_in_window
};
Restart restart_run(Rsyslog::Input input, const std::string& transport, json extra) {
  TempDir dir("sluice-syslog");
  Rsyslog r(dir, input);
  Harness h(SYSLOG_SO);
  extra["connect_timeout"] = "2s";
  auto& sink = h.create(options(r, transport, extra));
  sink.start();
  Restart out;
  out.sent = 3000;
  send_all(
      h, sink, out.sent, 100,
      [&](int round) {
        if (round == 10) r.stop();
        if (round == 13) r.start();
      },
      &out.retried);
  sink.stop();
  std::map<std::string, int> seen;
  for (const auto& l : r.wait_lines(out.sent))
    ++seen[id_of(l)];
  for (size_t i = 0; i < out.sent; ++i) {
    const auto it = seen.find("ev-" + std::to_string(i));
    const int c = it == seen.end() ? 0 : it->second;
    if (c == 0) ++out.missing;
    if (c > 1) out.duplicates += static_cast<size_t>(c - 1);
  }
  out.counted = h.metric("syslog.lost_in_window");
  MESSAGE(transport << " restart: " << out.retried << " answered retry, " << out.missing
                    << " missing, " << out.duplicates << " duplicates, " << out.counted
                    << " counted as lost");
  return out;
}

}  // namespace

TEST_CASE("relp: rsyslog stopped and restarted mid-stream, every event arrives once") {
  const Restart r = restart_run(Rsyslog::relp, "relp", {{"ack_timeout", "5s"}});
  CHECK(r.retried > 0);  // the stop was seen
  CHECK(r.missing == 0);
  // rsyslog stopped in order (SIGTERM) writes and acknowledges what it took: only what was not
  // acknowledged is answered retry and sent again, so nothing arrives twice (README: a receiver
  // that crashes between writing and acknowledging can get a message twice).
  CHECK(r.duplicates == 0);
}

TEST_CASE("tcp: rsyslog stopped and restarted mid-stream, the loss window counted") {
  const Restart r = restart_run(Rsyslog::tcp, "tcp", json::object());
  CHECK(r.retried > 0);
  // Nothing arrives twice (an event answered retry was never written whole), and whatever is
  // missing was counted: the window the metric reports covers the loss.
  CHECK(r.duplicates == 0);
  CHECK(static_cast<int64_t>(r.missing) <= r.counted);
}

TEST_CASE("tcp: a receiver that stops reading: write timeout, reset, the window counted") {
  TempDir dir("sluice-syslog");
  Rsyslog r(dir, Rsyslog::tcp);
  Harness h(SYSLOG_SO);
  auto& sink = h.create(options(r, "tcp", {{"write_timeout", "1s"}, {"connect_timeout", "2s"}}));
  sink.start();
  // Big messages fill the kernel buffers (rsyslog's receive buffer, then ours) quickly.
  const std::string big(4000, 'x');
  auto big_event = [&](size_t i) { return event(i, json(big + " " + std::to_string(i)).dump()); };
  r.pause(true);
  size_t next = 0, retried_at = 0;
  std::vector<size_t> retry;
  for (int round = 0; round < 400 && retry.empty(); ++round) {
    std::vector<sluice::Event> events;
    for (size_t k = 0; k < 100; ++k)
      events.push_back(big_event(next + k));
    auto d = h.deliver(sink, events);
    for (size_t k = 0; k < d.events.size(); ++k)
      if (d.events[k].code == SLUICE_DELIVERY_RETRY) retry.push_back(next + k);
    next += events.size();
  }
  REQUIRE(!retry.empty());  // the write timed out
  retried_at = retry.front();
  r.pause(false);
  // Everything answered retry goes again; then the sink stops.
  std::vector<sluice::Event> again;
  for (size_t i : retry)
    again.push_back(big_event(i));
  auto d = h.deliver(sink, again);
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_OK);
  sink.stop();
  const int64_t counted = h.metric("syslog.lost_in_window");
  // Bounded wait for what can still come, then count.
  auto lines = r.wait_lines(next - static_cast<size_t>(counted));
  std::map<std::string, int> seen;
  for (const auto& l : lines) {
    const std::string id = id_of(l);
    ++seen[id];
    // No message cut short: the reset dropped the frame written in part.
    CHECK(l["msg"] == big + " " + id.substr(3));
  }
  CHECK(lines.size() == seen.size());  // nothing twice
  size_t missing = 0;
  for (size_t i = 0; i < next; ++i)
    if (seen.count("ev-" + std::to_string(i)) == 0) ++missing;
  MESSAGE("stalled receiver: " << next << " sent, first retry at " << retried_at << ", " << missing
                               << " missing, " << counted << " counted as lost");
  CHECK(counted > 0);
  CHECK(static_cast<int64_t>(missing) <= counted);
}

TEST_CASE("tls: verification is on by default: an unknown CA is refused, nothing sent") {
  TempDir dir("sluice-syslog");
  Rsyslog r(dir, Rsyslog::tls);
  Harness h(SYSLOG_SO);
  // No ca_file: the system's store, which does not hold the test's self-signed certificate.
  auto& sink = h.create(options(r, "tls", {{"connect_timeout", "2s"}}));
  sink.start();
  auto d = h.deliver(sink, {event(1), event(2)});
  REQUIRE(d.events.size() == 2);
  for (const auto& e : d.events) {
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
    CHECK(e.reason.find("certificate verify failed") != std::string::npos);
  }
  CHECK(h.metric("syslog.messages_sent") == 0);
  sink.stop();
  CHECK(r.lines().empty());
}

TEST_CASE(
    "relp: acknowledgements stop, rsyslog crashes: nothing is ok without its rsp, all arrive") {
  TempDir dir("sluice-syslog");
  Rsyslog r(dir, Rsyslog::relp);
  Harness h(SYSLOG_SO);
  auto& sink = h.create(
      options(r, "relp", {{"ack_timeout", "1s"}, {"connect_timeout", "2s"}, {"relp_window", 50}}));
  sink.start();
  // Delivered and acknowledged before the trouble.
  std::vector<sluice::Event> first;
  for (size_t i = 0; i < 100; ++i)
    first.push_back(event(i));
  for (const auto& e : h.deliver(sink, first).events)
    CHECK(e.code == SLUICE_DELIVERY_OK);
  REQUIRE(r.wait_lines(100).size() == 100);
  // rsyslog stops reading: the window fills, the wait for an acknowledgement times out, and
  // every event of the batch is answered retry: none was acknowledged (librelp answered the
  // window ok here, and a crash of sluice would have lost it).
  r.pause(true);
  std::vector<sluice::Event> second;
  for (size_t i = 100; i < 300; ++i)
    second.push_back(event(i));
  auto d = h.deliver(sink, second);
  size_t ok = 0;
  std::vector<size_t> retry;
  for (size_t k = 0; k < d.events.size(); ++k) {
    if (d.events[k].code == SLUICE_DELIVERY_OK) ++ok;
    if (d.events[k].code == SLUICE_DELIVERY_RETRY) retry.push_back(100 + k);
  }
  CHECK(ok == 0);
  CHECK(retry.size() == 200);
  MESSAGE("relp crash: " << ok << " answered ok without an acknowledgement, " << retry.size()
                         << " answered retry");
  // A crash: nothing of what rsyslog had not acknowledged was written.
  r.crash();
  r.start();
  // The next batches reconnect and send the events answered retry again.
  std::vector<sluice::Event> again;
  for (size_t i : retry)
    again.push_back(event(i));
  for (int round = 0; round < 50 && !again.empty(); ++round) {
    auto d2 = h.deliver(sink, again);
    std::vector<sluice::Event> left;
    for (size_t k = 0; k < d2.events.size(); ++k)
      if (d2.events[k].code != SLUICE_DELIVERY_OK) left.push_back(again[k]);
    again = std::move(left);
  }
  CHECK(again.empty());
  sink.stop();
  auto lines = r.wait_lines(300);
  std::map<std::string, int> seen;
  for (const auto& l : lines)
    ++seen[id_of(l)];
  CHECK(seen.size() == 300);   // every id
  CHECK(lines.size() == 300);  // none twice: rsyslog had written none of the window
}
