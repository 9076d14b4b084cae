// One STOMP connection (TCP or TLS): connect, handshake, CONNECTED, heart-beats, reading frames,
// writing frames. One object per connection attempt; a reconnect makes a new one. Everything
// runs on the owner's strand (sluice/net/io_pool.hpp); every operation has a timeout.
#pragma once

#include "stomp_frame.hpp"
#include "stomp_handshake.hpp"

#include <sluice/net/stream.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::hmc {

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

  // `ex`: the owner's strand; `tls` null: plain TCP.
  StompConnection(const asio::any_io_executor& ex, asio::ssl::context* tls, ConnectParams params,
                  Listener& listener);

  void start();
  // Queue a frame for writing (after CONNECTED).
  void send(const stomp::Frame& f);
  // Stop reading (back-pressure) / read again. Not resume() from inside on_frame(): the next read
  // goes into the parser's buffer and ends the frame's view (the plugin posts its resume()).
  void pause();
  void resume();
  // Sends DISCONNECT if connected, then closes; on_closed(stopped) follows.
  void close(const std::string& reason);
  // Closes at once without telling the listener (the owner has stopped: its strand is closed).
  void abandon() {
    phase_ = Phase::closed;
    close_socket();
  }
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
  void on_connect(const boost::system::error_code& ec, const std::string& what);
  void on_handshake(const boost::system::error_code& ec, const std::string& what);
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

  asio::ssl::context* tls_ctx_;
  ConnectParams params_;
  Listener& listener_;
  sluice::net::Stream stream_;
  asio::steady_timer deadline_;  // connect phases
  asio::steady_timer write_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer watchdog_timer_;
  stomp::Parser parser_;
  stomp::Version version_ = stomp::Version::v1_0;
  Phase phase_ = Phase::resolving;
  Phase closed_in_ = Phase::resolving;
  static constexpr size_t kReadBytes = 64 * 1024;  // room for each read in the parser's buffer
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

}  // namespace sluice::hmc
