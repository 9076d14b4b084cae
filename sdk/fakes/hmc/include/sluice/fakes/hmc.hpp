// A fake IBM Z HMC for tests, demos and benchmarks: the Web Services API subset that resolves
// notification topics (HTTPS) plus an ActiveMQ-like STOMP endpoint (TLS or plain TCP) that
// publishes notifications as the HMC frames them, and misbehaves on request (faults).
//
//   sluice::fakes::hmc::FakeHmc fake;            // built-in scenario, ephemeral ports
//   fake.start();
//   fake.write_ca("/tmp/ca.pem");                // clients verify against this
//   fake.await_subscribers(1, std::chrono::seconds(10));
//   fake.publish(Notification("object-notification", "property-change", 10));
//   fake.fault({{"fault", "drop-mid-frame"}});
//   fake.wait_idle(std::chrono::seconds(10));
//
// Everything runs on one thread of the fake's own (one io_context, one object per connection);
// every public member is thread-safe. Publishes, faults, sleeps and waits form one queue that
// runs in order, so a test can place a fault between two exact notifications.
#pragma once

#include <sluice/tls.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::fakes::hmc {

struct Options {
  std::string address = "127.0.0.1";
  uint16_t api_port = 0;    // 0: ephemeral (the real HMC uses 6794)
  uint16_t stomp_port = 0;  // 0: ephemeral (the real HMC uses 61612)
  bool stomp_tls = true;    // false: plain TCP STOMP
  // Server certificate; empty: a self-signed one for localhost, 127.0.0.1 and ::1.
  std::optional<sluice::tls::CertificatePem> certificate;
  // Inventory, users, topics and STOMP behaviour; see README.md ("Scenario"). Empty: built-in.
  nlohmann::json scenario = nlohmann::json::object();
  // Keep the message-id of every MESSAGE frame queued to a subscriber (tests compare sets).
  bool record_ids = false;
  // Keep every frame STOMP clients send (received_frames()), for tests that check them.
  bool record_frames = false;
  // SO_SNDBUF of each accepted STOMP connection in bytes (0: the system's), so that a client that
  // stops reading stalls the fake's writes sooner.
  int stomp_send_buffer = 0;
  // Log sink; default: stderr with a "fake-hmc:" prefix. Set to a no-op to silence.
  std::function<void(const std::string&)> log;
};

// One notification (or a burst of `repeat` copies) published to every subscriber of the topics
// `topic` selects: a topic name, a topic type ("object-notification", "job-notification",
// "audit-notification", "security-notification"), "os-message-notification:<partition name>",
// or "*" (every topic with a subscriber).
struct Notification {
  explicit Notification(std::string topic_ = "*", std::string type_ = "os-message",
                        uint64_t repeat_ = 1, double rate_ = 0)
      : topic(std::move(topic_)), type(std::move(type_)), repeat(repeat_), rate(rate_) {}

  std::string topic = "*";
  std::string type = "os-message";  // the notification-type header
  // Extra headers, or replacements for class, name, object-uri, object-id, expires, priority and
  // the type-specific defaults. message-id, session-sequence-nr and timestamp may be given too
  // (a test that wants exact ids or gaps; the topic's numbering then goes on from the number
  // given). destination, subscription, global-sequence-nr and content-length are the broker's.
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> body;  // nullopt: a sample body for `type`; "": empty body
  uint64_t repeat = 1;
  double rate = 0;  // notifications per second; 0: as fast as the subscribers read

  // {"topic","type","headers":{..},"body":{..}|"text"|null,"repeat","rate"}; throws on error.
  static Notification from_json(const nlohmann::json& j);
};

struct Stats {
  uint64_t notifications = 0;        // notifications taken from the queue (one per matching topic)
  uint64_t messages_sent = 0;        // MESSAGE frames queued to subscribers
  uint64_t no_subscriber = 0;        // notifications that had no subscriber (nobody to lose them)
  uint64_t truncated = 0;            // frames cut by drop-mid-frame (lost by design)
  uint64_t stomp_connections = 0;    // open now
  uint64_t stomp_accepted = 0;       // TCP connections accepted on the STOMP port, ever
  uint64_t stomp_bytes_queued = 0;   // bytes handed to STOMP socket writes
  uint64_t stomp_bytes_written = 0;  // bytes those writes completed
  uint64_t stomp_connects = 0;       // CONNECT/STOMP frames accepted, ever
  uint64_t stomp_refused = 0;        // logons refused (bad credentials or refuse-logon)
  uint64_t subscriptions = 0;        // active now
  uint64_t subscribe_errors = 0;     // SUBSCRIBEs answered with ERROR (unknown topic)
  uint64_t error_frames = 0;         // ERROR frames sent, all causes
  uint64_t heartbeats_sent = 0;
  uint64_t heartbeats_received = 0;
  uint64_t api_requests = 0;
  uint64_t api_sessions = 0;  // valid now
  uint64_t api_logons = 0;    // successful, ever
  uint64_t faults = 0;        // faults executed
  uint64_t jobs_pending = 0;  // queue length (publishes, faults, sleeps, waits)
  nlohmann::json to_json() const;
};

// A frame a STOMP client sent (Options::record_frames), headers unescaped, in frame order.
struct ClientFrame {
  uint64_t connection = 0;  // 1-based number of the STOMP connection, in accept order
  std::string command;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first header called `name` (repeated headers: the first wins), or nullptr.
  const std::string* header(std::string_view name) const;
};

// A WS API request as the fake received it.
struct ApiCall {
  std::string method;
  std::string target;
  std::string session;  // X-API-Session; empty without one
  nlohmann::json body;  // the request body parsed; null when empty or not JSON
  int status = 0;       // the fake's answer
};

// A WS API session the fake created (logged off or expired ones included).
struct ApiSession {
  std::string id;  // api-session
  std::string credential;
  std::string userid;
};

class FakeHmc {
 public:
  explicit FakeHmc(Options options = {});
  ~FakeHmc();
  FakeHmc(const FakeHmc&) = delete;
  FakeHmc& operator=(const FakeHmc&) = delete;

  // Binds both ports and starts the thread. After stop(), start() binds the same ports again
  // (a broker restart): sessions, topics and sequence numbers survive, connections do not.
  void start();
  void stop();
  bool running() const;

  uint16_t api_port() const;
  uint16_t stomp_port() const;
  const std::string& ca_pem() const;  // the certificate to trust (self-signed or given)
  void write_ca(const std::string& path) const;

  // ---- the job queue (runs in order on the fake's thread) --------------------------------------
  void publish(const Notification& n);
  // {"fault": "drop-mid-frame" | "stop-heartbeats" | "error-frame" | "malformed-json" |
  //  "oversized-frame" | "refuse-logon" | "expire-session" | "skip-sequence" | "slow-reader" |
  //  "close" | "raw" | "api-error" | "api-delay", ...parameters}; throws std::invalid_argument for
  //  an unknown fault or bad parameter. See README.md ("Faults").
  void fault(const nlohmann::json& fault);
  // An inventory change, in queue order: {"inventory": "add" | "remove" | "rename", "cpc": NAME,
  // "partition" | "lpar": NAME (a partition or LPAR of that CPC; none: the CPC itself),
  // "to": NEW NAME (rename), "object-id" (add; default a fresh synthetic id), "dpm-enabled"
  // (add a CPC), "notify" (default true: the inventory-change or property-change notification
  // goes to every object-notification topic)}. Throws std::invalid_argument for a bad change.
  void inventory(const nlohmann::json& change);
  void sleep(std::chrono::milliseconds d);
  // Queue a wait until at least n subscriptions (to topics `topic` selects) exist.
  void wait_for_subscribers(size_t n, const std::string& topic = "*",
                            std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // One script line (a notification, fault, sleep or wait); throws on error.
  void run_line(const nlohmann::json& line);
  // A JSON-lines script; blank lines and lines starting with '#' are skipped. Throws with the
  // line number on the first bad line, before queueing anything. `loop`: replay it forever.
  void load_script(std::istream& in, bool loop = false);

  // ---- blocking helpers for tests (never called from the fake's thread) -----------------------
  // Until the queue is empty and every connection has written what was queued to it.
  bool wait_idle(std::chrono::milliseconds timeout);
  // Until at least n subscriptions to topics `topic` selects exist.
  bool await_subscribers(size_t n, std::chrono::milliseconds timeout,
                         const std::string& topic = "*");
  Stats stats() const;
  // record_ids only: message-ids queued to subscribers, in order (all connections).
  std::vector<std::string> sent_message_ids() const;
  // Topic names that exist now (static ones and those of live API sessions).
  std::vector<std::string> topic_names() const;
  // record_frames only: every frame STOMP clients sent, in arrival order (all connections).
  std::vector<ClientFrame> received_frames() const;
  // Destinations the n-th STOMP connection (1-based) subscribed successfully, in order.
  std::vector<std::string> subscribed(uint64_t connection) const;
  // Every WS API request, in arrival order.
  std::vector<ApiCall> api_calls() const;
  // Every WS API session created, in order.
  std::vector<ApiSession> api_sessions() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::fakes::hmc
