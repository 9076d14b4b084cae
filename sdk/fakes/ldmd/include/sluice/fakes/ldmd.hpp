// A fake ldmd (Oracle VM Server for SPARC Logical Domains Manager) XML interface for tests, demos
// and benchmarks: XMPP on TCP, STARTTLS, SASL PLAIN (remote mode) or none (local mode),
// registration requests answered with success or a configured failure, and LDM_event documents
// sent from a script, with faults on request. See sdk/fakes/ldmd/README.md.
//
//   sluice::fakes::ldmd::Options o;
//   o.script = sluice::fakes::ldmd::parse_script(R"({"event": "start-domain", "repeat": 3})");
//   sluice::fakes::ldmd::FakeLdmd fake(o);          // listening on 127.0.0.1:<fake.port()>
//   ... point the client at it, trusting fake.ca_pem() ...
//   fake.wait([](const auto& s) { return s.script_done; }, std::chrono::seconds(10));
#pragma once

#include <sluice/tls.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::fakes::ldmd {

// One line of a script.
struct Step {
  enum class Kind { event, xml, sleep, fault };
  Kind kind = Kind::event;

  // event: an LDM_event for `action` in the documented shape of its class.
  std::string action;
  std::string domain = "ldg1";
  std::string event_class;  // domain|resource|hardware|progress|other; "" → from the action
  std::vector<std::pair<std::string, std::string>> properties;
  double rate = 0;      // events per second; 0: as fast as the socket takes them
  uint64_t repeat = 1;  // how many copies

  std::string xml;                     // xml: sent as is (counted in raw_sent)
  std::chrono::milliseconds sleep{0};  // sleep

  // fault: split (bytes: write each document in pieces of this size, 0 = off), glue (count:
  // documents per write, 0 = default batching), close (drop the connection between documents),
  // close_mid_document (write half a document, then drop), malformed (a document whose tags do
  // not match), oversized (bytes: one element this large, default 5 MiB), stream_error (send
  // <stream:error> and close).
  std::string fault;
  uint64_t bytes = 0;
  uint64_t count = 0;
};

// JSON lines (blank lines and lines starting with '#' are skipped):
//   {"event": "add-vcpu", "domain": "ldg1", "class": "resource", "properties": {"number": 8},
//    "rate": 100, "repeat": 10}
//   {"xml": "<LDM_event>...</LDM_event>"}
//   {"sleep": "100ms"}
//   {"fault": "split", "bytes": 3}
// Throws std::invalid_argument naming the line on a mistake.
std::vector<Step> parse_script(std::string_view text);

// The class an event step is sent under (and registered for).
std::string event_class(const Step& step);

// The LDM_event document for an event step, in its class's documented shape with the flaws
// the guides show: undeclared prefixes, `id` vs `ovf:id`, `_type` vs `_Type`.
std::string render_event(const Step& step);

// Every documented domain, resource, hardware and progress action, one step each.
std::vector<Step> every_action_script(const std::string& domain = "ldg1");

struct Options {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port, see FakeLdmd::port()
  bool local_mode = false;
  std::string user = "admin";
  std::string password = "secret";
  bool refuse_auth = false;          // answer every <auth> with <failure>
  std::string registration_failure;  // non-empty: reg- requests fail with this resp_msg
  bool ignore_unregister = false;    // never answer unreg- requests
  std::vector<Step> script;          // runs once, resumed across connections
  bool close_after_script = false;   // then send </stream:stream> and close
  std::optional<tls::CertificatePem>
      certificate;  // default: self-signed for localhost/127.0.0.1/::1
};

struct Stats {
  uint64_t connections = 0;
  uint64_t tls_handshakes = 0;
  uint64_t auth_ok = 0;
  uint64_t auth_failed = 0;
  uint64_t registrations_ok = 0;  // successful reg- responses sent
  uint64_t events_sent = 0;       // complete LDM_event documents written
  uint64_t events_skipped = 0;    // not sent: their class was not registered
  uint64_t raw_sent = 0;          // {"xml": ...} documents written
  uint64_t malformed_sent = 0;
  uint64_t oversized_sent = 0;
  uint64_t stream_closes_received = 0;
  uint64_t disconnects = 0;
  std::vector<std::string> requests;  // every LDM_interface action received, in order
  bool script_done = false;
  size_t script_position = 0;
};

class FakeLdmd {
 public:
  explicit FakeLdmd(Options options);
  ~FakeLdmd();
  FakeLdmd(const FakeLdmd&) = delete;
  FakeLdmd& operator=(const FakeLdmd&) = delete;

  uint16_t port() const;
  // The self-signed certificate clients must trust (PEM); write it to a file for ca_file.
  const std::string& ca_pem() const;
  Stats stats() const;
  // Waits until pred(stats) holds or the timeout passes; returns whether it held.
  bool wait(const std::function<bool(const Stats&)>& pred,
            std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // Closes the listener and every connection; idempotent (the destructor calls it).
  void stop();

  struct Impl;  // implementation detail

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::fakes::ldmd
