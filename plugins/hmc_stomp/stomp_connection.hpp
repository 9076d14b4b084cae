// One STOMP connection (TCP or TLS): connect, handshake, CONNECTED, heart-beats, reading frames,
// writing frames. One object per connection attempt; a reconnect makes a new one. Everything
// runs on the owner's io_context thread; every operation has a timeout.
#pragma once

#include "stomp_frame.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hmc {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct ConnectParams {
  std::string host;
  uint16_t port = 61612;
  bool tls = true;
  bool verify = true;
  std::string login;
  std::string passcode;
  std::string version = "auto";      // auto | 1.2 | 1.1 | 1.0
  bool use_connect_command = false;  // CONNECT instead of STOMP (1.0 brokers)
  std::chrono::milliseconds heartbeat_send{10000};
  std::chrono::milliseconds heartbeat_receive{10000};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds write_timeout{30000};
  size_t max_frame_bytes = 16u << 20;
  size_t max_headers = stomp::kDefaultMaxHeaders;
};

// The broker's heart-beat values are clamped to this (one hour): a value near 2^63 ms would
// overflow the timers (a "nothing for -2 ms" reconnect loop, or newlines sent without pause).
inline constexpr int64_t kMaxBrokerHeartbeatMs = 3600000;

// Heart-beat intervals negotiated from our wish and the broker's CONNECTED `heart-beat` header
// (STOMP 1.1+: each side uses the larger of what one offers and the other wants; 0 on either
// side turns a direction off). `warnings` says what a user should know: a header that is
// malformed (taken as 0,0) or clamped, or the broker declining heart-beats we asked for.
struct Heartbeats {
  std::chrono::milliseconds send{0};
  std::chrono::milliseconds receive{0};
  std::vector<std::string> warnings;
};
Heartbeats negotiate_heartbeats(std::chrono::milliseconds want_send,
                                std::chrono::milliseconds want_receive,
                                std::optional<std::string_view> broker_header);

// True when an ERROR frame answering our STOMP frame says the broker does not know the STOMP
// command (a STOMP 1.0 broker): only then is CONNECT worth a try. An ERROR about the login, or
// anything else, is not: a second logon with the same credentials would fail too, and under a
// lockout policy every failed logon counts.
// Decided on the message header (or the body's first line without one): it names the command
// (STOMP, in capitals, as a word), says it is unknown or unsupported, and says nothing about a
// login, password, user, permission or security.
bool rejects_stomp_command(const stomp::FrameView& error);

// What the broker's first frame (its answer to STOMP/CONNECT) means: the whole decision, without
// a socket, so it is unit-tested and fuzzed on its own.
struct ConnectAnswer {
  enum class Kind {
    connected,   // CONNECTED: version and heart-beats below
    rejected,    // ERROR: `reason`; refused_command when it refuses the STOMP command itself
    unexpected,  // any other frame
  };
  Kind kind = Kind::unexpected;
  std::string reason;
  bool refused_command = false;
  stomp::Version version = stomp::Version::v1_0;
  Heartbeats heartbeats;
};
ConnectAnswer read_connect_answer(const stomp::FrameView& first, const ConnectParams& params);

class StompConnection : public std::enable_shared_from_this<StompConnection> {
 public:
  enum class Phase { resolving, connecting, handshaking, awaiting_connected, connected, closed };
  enum class CloseKind {
    failed,    // network/TLS/timeout before CONNECTED
    rejected,  // the broker answered STOMP/CONNECT with ERROR (credentials, version)
    lost,      // after CONNECTED: error, heart-beat timeout, bad frame, peer closed
    stopped    // close() was called
  };

  struct Listener {
    virtual ~Listener() = default;
    virtual void on_connected(StompConnection& c, const stomp::FrameView& connected) = 0;
    // Each frame after CONNECTED, in order. The view points into the connection's read buffer:
    // valid during the call only.
    virtual void on_frame(StompConnection& c, const stomp::FrameView& frame) = 0;
    // After every read once connected (and before on_closed when a bad frame ends the read, so
    // the good frames before it are not lost). Call pause() here to stop reading until resume().
    virtual void on_read_end(StompConnection& c) = 0;
    // Exactly once per connection; `error` is the ERROR frame when kind is rejected.
    virtual void on_closed(StompConnection& c, CloseKind kind, const std::string& reason,
                           const stomp::Frame* error) = 0;
  };

  StompConnection(asio::io_context& io, asio::ssl::context* tls, ConnectParams params,
                  Listener& listener);

  void start();
  // Queue a frame for writing (after CONNECTED).
  void send(const stomp::Frame& f);
  // Stop reading (back-pressure) / read again.
  void pause();
  void resume();
  // Sends DISCONNECT if connected, then closes; on_closed(stopped) follows.
  void close(const std::string& reason);
  // Closes at once; on_closed(kind) follows unless already closed.
  void fail(CloseKind kind, const std::string& reason, const stomp::Frame* error = nullptr);

  Phase phase() const { return phase_; }
  // The phase the connection was in when it closed (awaiting_connected: the broker saw our
  // STOMP/CONNECT frame and hung up, or never answered: see timed_out()).
  Phase closed_in() const { return closed_in_; }
  // True when the connection ended because connect_timeout ran out.
  bool timed_out() const { return timed_out_; }
  // True when the broker answered STOMP with an ERROR refusing that command (see
  // rejects_stomp_command): CONNECT may work.
  bool stomp_command_refused() const { return stomp_command_refused_; }
  // What negotiate_heartbeats had to say about the broker's heart-beat header (after CONNECTED).
  const std::vector<std::string>& heartbeat_warnings() const { return heartbeat_warnings_; }
  stomp::Version version() const { return version_; }
  std::chrono::milliseconds send_interval() const { return send_interval_; }
  std::chrono::milliseconds receive_interval() const { return receive_interval_; }
  const ConnectParams& params() const { return params_; }
  uint64_t heartbeats_received() const { return parser_.heartbeats(); }
  // True when bytes are already waiting, so the next read completes at once (lets a reader
  // batch the work of several reads without delaying anything).
  bool more_to_read();

 private:
  using Clock = std::chrono::steady_clock;
  void arm_deadline(std::chrono::milliseconds d, const char* what);
  void on_resolved(const boost::system::error_code& ec, tcp::resolver::results_type results);
  void on_connect(const boost::system::error_code& ec, const tcp::endpoint& ep);
  void on_handshake(const boost::system::error_code& ec);
  void send_connect_frame();
  void read_more();
  void on_read(const boost::system::error_code& ec, size_t n);
  void handle_first_frame(const stomp::FrameView& f);
  void write_raw(std::string bytes);
  void write_next();
  void on_write(const boost::system::error_code& ec, size_t n);
  void heartbeat_tick();
  void watchdog_tick();
  void close_socket();

  asio::io_context& io_;
  asio::ssl::context* tls_ctx_;
  ConnectParams params_;
  Listener& listener_;
  tcp::resolver resolver_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> stream_;
  asio::steady_timer deadline_;  // connect phases
  asio::steady_timer write_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer watchdog_timer_;
  stomp::Parser parser_;
  stomp::Version version_ = stomp::Version::v1_0;
  Phase phase_ = Phase::resolving;
  Phase closed_in_ = Phase::resolving;
  std::array<char, 64 * 1024> rbuf_;
  size_t last_read_bytes_ = 0;
  static constexpr size_t kBusyReadBytes = 4096;  // see more_to_read()
  stomp::FrameView frame_;  // the frame being handed out; kept for its storage
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool reading_ = false;
  bool paused_ = false;
  bool closing_ = false;  // DISCONNECT sent: close once written
  std::string close_reason_;
  Clock::time_point last_read_;
  Clock::time_point last_write_;
  std::chrono::milliseconds send_interval_{0};
  std::chrono::milliseconds receive_interval_{0};
  std::vector<std::string> heartbeat_warnings_;
  bool timed_out_ = false;
  bool stomp_command_refused_ = false;
};

const char* to_string(StompConnection::CloseKind k);

}  // namespace hmc
