// The admin server's shutdown with GET /tap clients connected (core/src/admin/server.cpp), over
// loopback sockets: a client a moment behind still gets its end line and a whole chunked
// response, a client that does not read is closed when stop()'s grace ends, and a request on a
// connection kept alive from before shutdown began is answered 503, not with a new stream.
// The whole program runs in tests/integration/tap_test.py.
#include <doctest/doctest.h>

#include "../../core/src/admin/server.hpp"

#include <sluice/core/log.hpp>
#include <sluice/core/tap.hpp>
#include <sluice/event.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace sluice::core;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// A blocking loopback connection; every recv waits at most `timeout`.
struct Conn {
  int fd = -1;
  Conn(uint16_t port, int rcvbuf = 0, std::chrono::seconds timeout = 30s) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    if (rcvbuf) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Conn() { ::close(fd); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void send(const std::string& s) const {
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
  }
  // Reads into `got` until `done(got)` holds; false at the end of the stream or a timeout.
  template <class Done>
  bool read_until(std::string& got, Done done) const {
    char buf[65536];
    while (!done(got)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // Reads into `got` to the end of the stream; false on a timeout or an error.
  bool read_to_eof(std::string& got) const {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
  }
};

// A chunked response body taken apart: its data, and whether the last (zero-length) chunk came
// with nothing after it.
struct Dechunked {
  std::string data;
  std::vector<std::string> chunks;  // the data chunk by chunk
  bool complete = false;
};

Dechunked dechunk(std::string_view body) {
  Dechunked d;
  for (;;) {
    const size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos) return d;
    const size_t size = std::stoul(std::string(body.substr(0, eol)), nullptr, 16);
    if (body.size() < eol + 2 + size + 2) return d;  // cut inside the chunk
    if (size == 0) {
      d.complete = body.substr(eol + 2) == "\r\n";
      return d;
    }
    d.data.append(body.substr(eol + 2, size));
    d.chunks.emplace_back(body.substr(eol + 2, size));
    body.remove_prefix(eol + 2 + size + 2);
  }
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

// An event whose data is a JSON string of `data_bytes` x's.
EventPtr event_of(size_t data_bytes) {
  const std::string data = "\"" + std::string(data_bytes, 'x') + "\"";
  EventParts p;
  p.id = sluice::to_str("1");
  p.source = sluice::to_str("test://x");
  p.type = sluice::to_str("test.event");
  p.data = sluice::to_str(data);
  return EventPtr::make(p);
}

// The server of one test, its tap and its log lines.
struct Fixture {
  std::shared_ptr<Tap> tap;
  Logger log;
  std::unique_ptr<admin::AdminServer> server;
  uint16_t port = 0;
  std::atomic<bool> feeding{false};
  std::thread feeder;

  explicit Fixture(admin::Limits limits) {
    TapLimits tl;
    tl.queue_events = 1000;  // a client that does not read fills it within a second
    tap = std::make_shared<Tap>(tl);
    log.set_writer([](std::string_view) {});
    AdminConfig config;
    config.enabled = true;
    config.host = "127.0.0.1";
    config.port = 0;
    admin::AdminServer::Hooks hooks;
    hooks.metrics = [] { return std::optional<Metrics>(); };
    hooks.reload = [](std::function<void(admin::ReloadReply)> done) {
      done({"refused", "not in this test"});
    };
    hooks.tap = tap;
    server =
        std::make_unique<admin::AdminServer>(config, std::move(hooks), log, Clock::now(), limits);
    server->start();
    port = server->port();
  }
  ~Fixture() {
    stop_feeding();
    server.reset();
  }

  // Events of about 1 KiB offered to the tap, about 5000 a second, until stop_feeding().
  void start_feeding() {
    feeding = true;
    feeder = std::thread([this] {
      const EventPtr ev = event_of(1000);
      while (feeding) {
        if (tap->active()) tap->offer("src", ev, {});
        std::this_thread::sleep_for(200us);
      }
    });
  }
  void stop_feeding() {
    feeding = false;
    if (feeder.joinable()) feeder.join();
  }
  // Waits (at most 30 s) for a client's queue to overflow: a client that does not read has a
  // write in progress that does not move.
  bool stalled() const {
    const auto end = Clock::now() + 30s;
    while (Clock::now() < end) {
      if (tap->counters().dropped_queue > 0) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

// Joins a thread when the scope ends, also when a REQUIRE throws.
struct Joined {
  std::thread t;
  template <class F>
  explicit Joined(F f) : t(std::move(f)) {}
  ~Joined() { join(); }
  void join() {
    if (t.joinable()) t.join();
  }
};

const char* kTap = "GET /tap?rate=10000 HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kEndLine = R"({"tap":"end","reason":"sluice is stopping"})";

bool has_hello(const std::string& got) {
  const size_t at = got.find(R"({"tap":"started")");
  return at != std::string::npos && got.find('\n', at) != std::string::npos;
}

// Every line of a tap stream's data is a whole JSON object, and the last is the end line.
void check_stream(const std::string& raw) {
  const size_t head = raw.find("\r\n\r\n");
  REQUIRE(head != std::string::npos);
  CHECK(status_line(raw) == "HTTP/1.1 200 OK");
  const Dechunked d = dechunk(std::string_view(raw).substr(head + 4));
  CHECK_MESSAGE(d.complete, "the response ends with its last chunk; it ends with: "
                                << raw.substr(raw.size() - std::min<size_t>(raw.size(), 200)));
  REQUIRE(!d.data.empty());
  CHECK(d.data.back() == '\n');
  const size_t last = d.data.rfind('\n', d.data.size() - 2);
  const std::string last_line =
      d.data.substr(last == std::string::npos ? 0 : last + 1,
                    d.data.size() - 1 - (last == std::string::npos ? 0 : last + 1));
  CHECK(last_line.substr(0, 120) == kEndLine);  // (an event line shortened)
  size_t lines = 0, bad = 0;
  for (size_t at = 0, nl; (nl = d.data.find('\n', at)) != std::string::npos; at = nl + 1) {
    ++lines;
    if (d.data[at] != '{' || d.data[nl - 1] != '}') ++bad;
  }
  CHECK(lines >= 2);
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE(
    "admin.stop: a tap client a moment behind gets the rest of its chunk, the end line "
    "and the last chunk") {
  admin::Limits limits;
  limits.tap_tick = 10ms;
  limits.stop_grace = 20s;  // long: the client below reads only once stop() began
  Fixture f(limits);
  Conn reader(f.port, 4096);
  reader.send(kTap);
  std::string got;
  REQUIRE(reader.read_until(got, has_hello));
  // The client stops reading until its stream has a write in progress that cannot move.
  f.start_feeding();
  REQUIRE(f.stalled());
  f.stop_feeding();
  Clock::duration took{};
  std::thread stopper([&] {
    const auto t0 = Clock::now();
    f.server->stop();
    took = Clock::now() - t0;
  });
  // stop() began and told the stream to end; finding its client behind, it detached its tap
  // client (the old server closed the stream at once, which detached it too). The client reads
  // again only now.
  bool detached = false;
  for (int i = 0; i < 1000 && !(detached = f.tap->counters().clients == 0); ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(detached);
  const bool eof = reader.read_to_eof(got);
  stopper.join();
  CHECK(eof);
  check_stream(got);
  CHECK(took < limits.stop_grace);  // the stream ended once its client had read it
  CHECK(f.tap->counters().clients == 0);

  // Its queue was not written but counted: the last chunk is the drop notice (slow_client N,
  // N > 0: at least the queue, full when stop() began) and the end line, and every slow_client
  // drop reported to it is in the tap's counter (the queue dropped at the end too).
  const size_t head = got.find("\r\n\r\n");
  REQUIRE(head != std::string::npos);
  const Dechunked d = dechunk(std::string_view(got).substr(head + 4));
  REQUIRE(!d.chunks.empty());
  const std::string& last = d.chunks.back();
  const std::string notice = R"({"tap":"dropped",)";
  REQUIRE_MESSAGE(last.substr(0, notice.size()) == notice,
                  "the last chunk: " << last.substr(0, 300));
  const size_t nl = last.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(last.substr(nl + 1) == kEndLine + "\n");
  const auto slow_client = [](std::string_view line) -> uint64_t {
    const std::string_view key = R"("slow_client":)";
    const size_t at = line.find(key);
    REQUIRE(at != std::string_view::npos);
    return std::stoull(std::string(line.substr(at + key.size())));
  };
  const uint64_t last_n = slow_client(std::string_view(last).substr(0, nl));
  CHECK(last_n >= 1000);  // TapLimits::queue_events of the fixture
  uint64_t reported = 0;
  for (size_t at = 0, e; (e = d.data.find('\n', at)) != std::string::npos; at = e + 1)
    if (d.data.compare(at, notice.size(), notice) == 0)
      reported += slow_client(std::string_view(d.data).substr(at, e - at));
  CHECK(reported == f.tap->counters().dropped_queue);
}

TEST_CASE(
    "admin.tap: a chunk takes at most tap_chunk_bytes of the queue; while more is queued the "
    "next follows as soon as the client took one, not a tick later") {
  admin::Limits limits;
  limits.tap_tick = 1s;
  limits.tap_chunk_bytes = 4096;
  Fixture f(limits);
  Conn reader(f.port);
  reader.send(kTap);
  std::string got;
  REQUIRE(reader.read_until(got, has_hello));
  // 500 events of about 1 KiB queued at once, before the stream's next tick.
  const EventPtr ev = event_of(1000);
  const size_t events = 500;
  for (size_t i = 0; i < events; ++i)
    f.tap->offer("src", ev, {});
  const std::string line_start = R"({"id":"1")";
  const auto lines_in = [&](const std::string& raw) {
    size_t n = 0;
    for (size_t at = 0; (at = raw.find(line_start, at)) != std::string::npos; at += 1)
      ++n;
    return n;
  };
  // Read for at most 30 s: a chunk a tick would need more than two minutes.
  const auto deadline = Clock::now() + 30s;
  reader.read_until(got, [&](const std::string& g) {
    const Dechunked d = dechunk(std::string_view(g).substr(g.find("\r\n\r\n") + 4));
    return lines_in(d.data) >= events || Clock::now() > deadline;
  });
  const Dechunked d = dechunk(std::string_view(got).substr(got.find("\r\n\r\n") + 4));
  CHECK(lines_in(d.data) == events);
  CHECK(f.tap->counters().dropped_queue == 0);
  // Each chunk after the hello holds the events of at most 4096 bytes (EventPtr::bytes(); the
  // JSON lines are a little longer), so 500 events took more than a hundred chunks.
  REQUIRE(d.chunks.size() >= 2);
  size_t largest = 0;
  for (size_t i = 1; i < d.chunks.size(); ++i)
    largest = std::max(largest, d.chunks[i].size());
  CHECK(largest <= 2 * limits.tap_chunk_bytes);
  CHECK(d.chunks.size() > 100);
}

TEST_CASE(
    "admin.stop: events queued for a client that does not take them before the grace ends are "
    "counted as dropped (slow_client)") {
  admin::Limits limits;
  limits.tap_tick = 10s;  // nothing is taken before stop()
  limits.stop_grace = 1s;
  Fixture f(limits);
  Conn reader(f.port, 4096);
  reader.send(kTap);
  std::string got;
  REQUIRE(reader.read_until(got, has_hello));
  // 1000 events of about 15 KiB (15 MB, within the queue's 16 MiB), which a client that does
  // not read cannot take within the grace: a chunk at a time, then killed.
  const EventPtr ev = event_of(15000);
  for (size_t i = 0; i < 1000; ++i)
    f.tap->offer("src", ev, {});
  REQUIRE(f.tap->counters().dropped_queue == 0);
  f.server->stop();
  const TapCounters c = f.tap->counters();
  CHECK(c.clients == 0);
  CHECK(c.dropped_rate == 0);
  CHECK(c.dropped_queue > 0);
  CHECK(c.sent + c.dropped_queue == 1000);
}

TEST_CASE(
    "admin.stop: a kept-alive connection's request after shutdown began gets 503 and a "
    "close; a client that never reads is closed when the grace ends") {
  admin::Limits limits;
  limits.tap_tick = 10ms;
  limits.stop_grace = 3s;
  Fixture f(limits);
  // A tap client that never reads: its stream cannot end, so stop() waits its grace for it.
  Conn stalled(f.port, 4096);
  stalled.send(kTap);
  f.start_feeding();
  REQUIRE(f.stalled());
  // A client that reads all the time.
  Conn reader(f.port);
  reader.send(kTap);
  std::string got;
  bool reader_eof = false;
  std::atomic<bool> reader_ended{false};
  Joined reading([&] {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(reader.fd, buf, sizeof buf, 0);
      if (n <= 0) {
        reader_eof = n == 0;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
      if (got.find(kEndLine) != std::string::npos) reader_ended = true;
    }
  });
  // Connections kept alive from before shutdown.
  Conn kept(f.port, 0, 10s), kept2(f.port, 0, 10s);
  for (const Conn* c : {&kept, &kept2}) {
    c->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string first;
    REQUIRE(c->read_until(first, [](const std::string& s) { return s.find("}\n") != s.npos; }));
    CHECK(status_line(first) == "HTTP/1.1 200 OK");
    CHECK(first.find("Connection: close") == std::string::npos);
  }
  f.stop_feeding();

  Clock::duration took{};
  Joined stopper([&] {
    const auto t0 = Clock::now();
    f.server->stop();
    took = Clock::now() - t0;
  });
  // The reader's end line says shutdown began; the stalled stream holds stop() in its grace.
  for (int i = 0; i < 3000 && !reader_ended; ++i)
    std::this_thread::sleep_for(1ms);
  REQUIRE(reader_ended);
  kept.send("GET /tap HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string late;
  const bool late_eof = kept.read_to_eof(late);
  kept2.send("POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  std::string late_reload;
  const bool late_reload_eof = kept2.read_to_eof(late_reload);
  const uint64_t clients_meanwhile = f.tap->counters().clients;  // the stalled one only
  stopper.join();
  reading.join();

  CHECK(status_line(late) == "HTTP/1.1 503 Service Unavailable");
  CHECK(late.find("Connection: close") != std::string::npos);
  CHECK(late.find(R"({"error":"sluice is stopping"})") != std::string::npos);
  CHECK(late_eof);  // and the connection closed
  // A reload asked for then is not handed on: it gets the answer of a reload that came too late.
  CHECK(status_line(late_reload) == "HTTP/1.1 503 Service Unavailable");
  CHECK(late_reload.find(
            R"({"message":"sluice is stopping; no reload was done","result":"stopping"})") !=
        std::string::npos);
  CHECK(late_reload_eof);
  CHECK(clients_meanwhile <= 1);
  CHECK(reader_eof);
  check_stream(got);
  // The grace ran out for the stalled client, and it was closed then.
  CHECK(took >= limits.stop_grace - 100ms);
  CHECK(took < limits.stop_grace + 10s);
  std::string rest;
  CHECK(stalled.read_to_eof(rest));
  CHECK(f.tap->counters().clients == 0);
}

TEST_CASE(
    "admin.stop: with no tap client, a connection kept alive from before is closed when stop() "
    "returns, not when the server is destroyed") {
  admin::Limits limits;
  limits.io_timeout = 60s;  // longer than the wait below: the keep-alive timeout cannot close it
  Fixture f(limits);
  Conn kept(f.port, 0, 5s);
  kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string first;
  REQUIRE(kept.read_until(first, [](const std::string& s) { return s.find("}\n") != s.npos; }));
  CHECK(status_line(first) == "HTTP/1.1 200 OK");
  f.server->stop();  // no tap stream: no grace to wait for
  // The server object lives on (as in `sluice run` while the pipeline drains).
  std::string rest;
  const auto t0 = Clock::now();
  CHECK(kept.read_to_eof(rest));  // false when the 5 s receive timeout ends it
  CHECK(rest.empty());
  CHECK(Clock::now() - t0 < 4s);
}
