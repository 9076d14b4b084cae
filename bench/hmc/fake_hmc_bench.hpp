// Shared by bench/hmc and bench/e2e: the fake HMC in a process of its own, its control endpoint,
// the raw TLS reader (the fake's ceiling) and the stomp.py subscriber (the baseline).
// Header-only; every function is inline so each benchmark stays a single translation unit.
#pragma once

#include <utility>  // before Boost 1.74 asio: its awaitable.hpp misses it under C++20

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

extern char** environ;

namespace fake_hmc_bench {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The topic every benchmark publishes on.
inline constexpr const char* kTopic = "bench.topic";

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// sluice-fake-hmc started with free ports, quiet, the bench topic static; SIGTERM on destruction.
struct FakeProcess {
  pid_t pid = -1;
  uint16_t api_port = 0, stomp_port = 0;
  std::string ca_file;

  // Starts `fake`, writing its CA and ready file under `dir` (which must exist).
  FakeProcess(const std::string& fake, const std::string& dir) {
    using namespace std::chrono_literals;
    std::ofstream(dir + "/scenario.json") << R"({"topics": [")" << kTopic << R"("]})";
    ca_file = dir + "/ca.pem";
    const std::string ready = dir + "/ready.json";
    std::vector<std::string> args = {fake,
                                     "--api-port",
                                     "0",
                                     "--stomp-port",
                                     "0",
                                     "--ready-file",
                                     ready,
                                     "--ca-out",
                                     ca_file,
                                     "--scenario",
                                     dir + "/scenario.json",
                                     "--quiet"};
    std::vector<char*> cargs;
    for (auto& a : args)
      cargs.push_back(a.data());
    cargs.push_back(nullptr);
    if (posix_spawn(&pid, fake.c_str(), nullptr, nullptr, cargs.data(), environ) != 0) {
      pid = -1;
      throw std::runtime_error("cannot start " + fake);
    }
    for (int i = 0; i < 3000 && access(ready.c_str(), F_OK) != 0; ++i)
      std::this_thread::sleep_for(10ms);
    json r = json::parse(slurp(ready));
    api_port = r["api_port"];
    stomp_port = r["stomp_port"];
  }
  FakeProcess(const FakeProcess&) = delete;
  FakeProcess& operator=(const FakeProcess&) = delete;
  ~FakeProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

// HTTPS call to the fake's control endpoint.
inline json control(const FakeProcess& f, http::verb verb, const std::string& target,
                    const std::string& body = "") {
  using namespace std::chrono_literals;
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(f.ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> s(io, ctx);
  beast::get_lowest_layer(s).expires_after(30s);
  beast::get_lowest_layer(s).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), f.api_port));
  s.handshake(ssl::stream_base::client);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  return json::parse(res.body());
}

// Has the fake publish n os-message notifications on the bench topic, as fast as read.
inline void publish(const FakeProcess& f, uint64_t n) {
  control(f, http::verb::post, "/fake/publish",
          json{{"topic", kTopic}, {"type", "os-message"}, {"repeat", n}}.dump());
}

// Waits (up to 30 s) until the fake counts `n` subscriptions (0: until all are gone).
inline bool wait_subscribers(const FakeProcess& f, uint64_t n) {
  using namespace std::chrono_literals;
  for (int i = 0; i < 3000; ++i) {
    const uint64_t now = control(f, http::verb::get, "/fake/stats")["subscriptions"];
    if (n == 0 ? now == 0 : now >= n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// The fake's ceiling: a raw TLS reader that subscribes and only counts frames (NUL bytes).
// Returns notifications/s from the publish request to the n-th frame.
inline double raw_reader(const FakeProcess& f, uint64_t n) {
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(f.ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  ssl::stream<tcp::socket> s(io, ctx);
  s.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), f.stomp_port));
  s.handshake(ssl::stream_base::client);
  const std::string hello = std::string(
                                "STOMP\naccept-version:1.2\nlogin:hmcuser\npasscode:hmcpassword\n"
                                "heart-beat:0,0\n\n") +
                            '\0' + "SUBSCRIBE\nid:1\ndestination:/topic/" + kTopic +
                            "\nreceipt:r\n\n" + '\0';
  asio::write(s, asio::buffer(hello));
  std::vector<char> buf(1 << 16);
  uint64_t nul = 0;
  while (nul < 2) {  // CONNECTED, RECEIPT
    size_t k = s.read_some(asio::buffer(buf));
    for (size_t i = 0; i < k; ++i)
      nul += buf[i] == '\0';
  }
  publish(f, n);
  auto t0 = Clock::now();
  while (nul < n + 2) {
    size_t k = s.read_some(asio::buffer(buf));
    for (size_t i = 0; i < k; ++i)
      nul += buf[i] == '\0';
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  boost::system::error_code ec;
  s.next_layer().close(ec);
  wait_subscribers(f, 0);
  return n / secs;
}

// The baseline: stomp_py_subscriber.py (python3-stomp, the transport zhmcclient uses).
struct PyResult {
  double rate = 0, cpu_per = 0;  // notifications/s, CPU seconds per notification
  bool ok = false;
  std::string note;  // what the script printed besides its protocol lines
};

inline PyResult run_python_once(const FakeProcess& f, const std::string& python,
                                const std::string& script, uint64_t n) {
  PyResult r;
  const std::string cmd = python + " " + script + " " + std::to_string(f.stomp_port) + " " +
                          f.ca_file + " " + kTopic + " " + std::to_string(n) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    std::string s(line);
    if (s.rfind("subscribed", 0) == 0) {
      publish(f, n);
    } else if (s.rfind("done ", 0) == 0) {
      double secs = 0, cpu = 0;
      std::sscanf(s.c_str(), "done %lf %lf", &secs, &cpu);
      r.rate = n / secs;
      r.cpu_per = cpu / n;
      r.ok = true;
    } else {
      r.note += s;
    }
  }
  pclose(p);
  return r;
}

// stomp.py sometimes fails its first connect (ConnectFailedException); up to three tries.
inline PyResult run_python(const FakeProcess& f, const std::string& python,
                           const std::string& script, uint64_t n) {
  PyResult b;
  for (int attempt = 0; attempt < 3 && !python.empty() && !b.ok; ++attempt)
    b = run_python_once(f, python, script, n);
  if (!b.ok && b.note.empty()) b.note = python.empty() ? "no python3" : "python3-stomp missing";
  return b;
}

}  // namespace fake_hmc_bench
