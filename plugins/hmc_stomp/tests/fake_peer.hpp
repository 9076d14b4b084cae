// The fake HMC (sdk/fakes/hmc, <sluice/fakes/hmc.hpp>) as the plugin tests' STOMP broker and
// WS API: small helpers only, every behaviour is the fake's (scenario, faults, records).
#pragma once

#include <sluice/fakes/hmc.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace test {

namespace hmc = sluice::fakes::hmc;

// Options for a fake that records what clients send; quiet unless FAKE_HMC_LOG is set.
// `plain`: STOMP over TCP (the WS API is HTTPS always).
inline hmc::Options fake_options(nlohmann::json scenario, bool plain = true) {
  hmc::Options o;
  o.stomp_tls = !plain;
  o.record_frames = true;
  o.scenario = std::move(scenario);
  if (!std::getenv("FAKE_HMC_LOG")) o.log = [](const std::string&) {};
  return o;
}

// Until p() holds or the timeout passes (polling; p may call the fake's queries).
template <typename Pred>
bool wait_until(Pred p, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (p()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A started fake HMC with `scenario` (plain STOMP, the WS API on HTTPS with a certificate for
// 127.0.0.1) and the CA file that trusts it (removed with it), as the plugin's peer for the
// tests that log on as sysprog/secret: options() reach it, count() reads its WS API record.
struct FakeHmcPeer {
  hmc::FakeHmc fake;
  std::string ca_file;
  FakeHmcPeer(nlohmann::json scenario, const std::string& name)
      : fake([&] {
          hmc::Options o = fake_options(std::move(scenario));
          o.certificate = sluice::tls::generate_self_signed({"127.0.0.1"});
          return o;
        }()) {
    static std::atomic<int> serial{0};
    fake.start();
    ca_file = "/tmp/hmc_stomp_" + name + "_" + std::to_string(getpid()) + "_" +
              std::to_string(serial++) + ".pem";
    fake.write_ca(ca_file);
  }
  ~FakeHmcPeer() { std::remove(ca_file.c_str()); }
  FakeHmcPeer(const FakeHmcPeer&) = delete;
  FakeHmcPeer& operator=(const FakeHmcPeer&) = delete;

  nlohmann::json options() const {
    return nlohmann::json{{"host", "127.0.0.1"},
                          {"stomp_port", fake.stomp_port()},
                          {"api_port", fake.api_port()},
                          {"transport", "tcp"},
                          {"tls", {{"ca_file", ca_file}}},
                          {"userid", "sysprog"},
                          {"password", "secret"},
                          {"heartbeat", {{"send", 0}, {"receive", 0}}},
                          {"reconnect", {{"initial", 20}, {"max", 200}}}};
  }
  // How many WS API requests `method target` the fake answered.
  int count(const std::string& method, const std::string& target) const {
    int n = 0;
    for (const auto& c : fake.api_calls())
      n += c.method == method && c.target == target;
    return n;
  }
};

// A notification on `topic` with the broker's numbering replaced: message-id `id` and
// session-sequence-nr `seq`, as a test that checks exact ids and gaps wants them.
inline hmc::Notification notification(const std::string& topic, int seq, const std::string& id,
                                      std::string body = "{}",
                                      const std::string& type = "status-change") {
  hmc::Notification n(topic, type);
  n.headers = {{"message-id", id},
               {"session-sequence-nr", std::to_string(seq)},
               {"object-uri", "/api/cpcs/c1"},
               {"timestamp", "1700000000000"}};
  n.body = std::move(body);
  return n;
}

// Logon frames (STOMP or CONNECT) the fake received.
inline size_t logons(const hmc::FakeHmc& fake) {
  size_t n = 0;
  for (const auto& f : fake.received_frames())
    n += f.command == "STOMP" || f.command == "CONNECT";
  return n;
}

}  // namespace test
