// The fake HMC (sdk/fakes/hmc, <sluice/fakes/hmc.hpp>) as the plugin tests' STOMP broker and
// WS API: small helpers only, every behaviour is the fake's (scenario, faults, records).
#pragma once

#include <sluice/fakes/hmc.hpp>

#include <chrono>
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
