// Syslog delivery throughput into a real rsyslog on loopback (plugins/syslog/tests/rsyslog.hpp),
// as ratios against a baseline measured in the same run:
//   baseline   a plain blocking socket writer sending the same messages, prepared beforehand as
//              one RFC 6587 octet-counted stream, to rsyslog's imtcp (what the wire and rsyslog's
//              intake allow)
//   sink tcp   the syslog plugin, transport tcp, formatting every batch itself
//   sink relp  the syslog plugin, transport relp (its own RELP client: an event is ok once
//              acknowledged)
// Each run's clock stops when rsyslog has written the last message to its file.
// Usage: syslog_bench [events=200000] [batch=500]
#include "rsyslog.hpp"
#include "syslog_format.hpp"

#include <sluice/testing.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;
using sluice::Event;
using sluice::syslog::testing::Rsyslog;
using sluice::testing::Harness;
using sluice::testing::TempDir;

namespace {

Event make_event(size_t i) {
  Event e;
  e.id = "bench-" + std::to_string(i);
  e.source = "hmc://bench";
  e.type = "hmc.property-change";
  e.subject = "/api/partitions/" + std::to_string(i % 64);
  e.time_unix_ns = 1763701432123000000 + static_cast<int64_t>(i);
  e.data = R"({"change-reports":[{"property-name":"status","new-value":"operating"}]})";
  return e;
}

std::string sink_options(uint16_t port, const char* transport) {
  return std::string(R"({"host": "127.0.0.1", "port": )") + std::to_string(port) +
         R"(, "transport": ")" + transport +
         R"(", "app_name": "sluicetest", "hostname": "bench", "body": "json"})";
}

// Waits until rsyslog has written n messages (bounded: gives up after a long quiet spell).
bool wait_written(Rsyslog& r, size_t n) {
  size_t last = 0;
  for (int quiet = 0; quiet < 2000;) {
    const size_t c = r.count();
    if (c >= n) return true;
    quiet = c == last ? quiet + 1 : 0;
    last = c;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::fprintf(stderr, "rsyslog wrote %zu of %zu messages\n", last, n);
  return false;
}

double baseline(size_t n) {
  TempDir dir("sluice-syslog-bench");
  Rsyslog r(dir, Rsyslog::tcp);
  sluice::syslog::FormatOptions o;
  o.hostname = "bench";
  o.app_name = "sluicetest";
  std::string stream;
  for (size_t i = 0; i < n; ++i) {
    Event e = make_event(i);
    sluice::EventViews v(&e, &e + 1);
    sluice::syslog::append_frame(stream, sluice::syslog::format_message(o, v.data()[0])->message,
                                 sluice::syslog::Framing::octet_counting);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(r.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  const auto t0 = Clock::now();
  for (size_t done = 0; done < stream.size();) {
    const ssize_t k = ::send(fd, stream.data() + done, stream.size() - done, MSG_NOSIGNAL);
    if (k <= 0) {
      std::perror("send");
      std::exit(1);
    }
    done += static_cast<size_t>(k);
  }
  if (!wait_written(r, n)) std::exit(1);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  return static_cast<double>(n) / s;
}

double sink(size_t n, size_t batch, Rsyslog::Input input, const char* transport) {
  TempDir dir("sluice-syslog-bench");
  Rsyslog r(dir, input);
  std::vector<std::vector<Event>> batches;
  for (size_t i = 0; i < n; i += batch) {
    batches.emplace_back();
    for (size_t k = i; k < std::min(n, i + batch); ++k)
      batches.back().push_back(make_event(k));
  }
  Harness h(SYSLOG_SO);
  auto& s = h.create(sink_options(r.port(), transport));
  s.start();
  const auto t0 = Clock::now();
  for (const auto& b : batches) {
    auto d = h.deliver(s, b);
    for (const auto& e : d.events)
      if (e.code != SLUICE_DELIVERY_OK) {
        std::fprintf(stderr, "%s: an event was answered %d: %s\n", transport, e.code,
                     e.reason.c_str());
        std::exit(1);
      }
  }
  if (!wait_written(r, n)) std::exit(1);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  s.stop();
  return static_cast<double>(n) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  const size_t batch = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 500;
  const double base = baseline(n);
  const double tcp = sink(n, batch, Rsyslog::tcp, "tcp");
  const double relp = sink(n, batch, Rsyslog::relp, "relp");
  std::printf("syslog into rsyslog on loopback, %zu events, %zu per batch\n", n, batch);
  std::printf("  baseline (prepared octet-counted stream, plain socket): %10.0f events/s\n", base);
  std::printf("  sink tcp:                                               %10.0f events/s  %.2fx\n",
              tcp, tcp / base);
  std::printf("  sink relp:                                              %10.0f events/s  %.2fx\n",
              relp, relp / base);
  return 0;
}
