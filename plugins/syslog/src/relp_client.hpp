// A RELP client of the syslog sink's own (replacing librelp): the SDK's net::Stream (plain or
// TLS) driven on the caller's thread through a private io_context, the codec of relp_codec.hpp,
// a window of unacknowledged `syslog` commands and a timeout on every step. send() returns only
// when every message of the call has its own answer from the server (rsp), or the connection
// broke: so an event is "ok" only once the receiver acknowledged it, and nothing answered ok is
// ever held in memory (a kill -9 of sluice loses nothing that was answered ok).
#pragma once

#include "relp_codec.hpp"

#include <sluice/net/stream.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::syslog {

class RelpClient {
 public:
  using Clock = std::chrono::steady_clock;
  struct Settings {
    std::string host;
    uint16_t port = 2514;
    std::chrono::milliseconds connect_timeout{5000};  // resolve, connect, TLS, open answer
    std::chrono::milliseconds write_timeout{10000};   // one blocked write
    std::chrono::milliseconds ack_timeout{30000};     // each rsp after its command was sent
    uint32_t window = 128;                            // syslog commands without their rsp
    boost::asio::ssl::context* tls = nullptr;         // RELP over TLS when set
    bool verify = true;
    std::string software = "sluice";   // relp_software offer
    size_t max_rsp_bytes = 64 * 1024;  // largest frame data accepted from the server
  };
  struct Answer {
    enum class Kind { ok, retry, reject } kind = Kind::retry;
    std::string reason;
  };

  explicit RelpClient(Settings settings);
  ~RelpClient();
  RelpClient(const RelpClient&) = delete;
  RelpClient& operator=(const RelpClient&) = delete;

  bool is_open() const { return stream_ != nullptr; }
  // Connects (TLS handshake when configured) and exchanges open/rsp within connect_timeout;
  // checks that the server offers the syslog command. Throws std::runtime_error with the step
  // that failed; the client is then closed.
  void open();
  // Between batches: takes in what the server sent meanwhile (serverclose, EOF, a stray
  // frame). Returns the reason when the connection is gone (it is then closed).
  std::optional<std::string> check_idle();
  // Sends every message as a `syslog` command, at most `window` without their rsp, and waits
  // for every rsp: answers[i] (resized to messages.size()) is the server's answer for
  // messages[i]: rsp 2xx ok, 5xx retry (RELP's "error": the receiver could not take it now;
  // the core's retry policy bounds it), any other code reject, both with the server's text.
  // When the connection breaks (closed, serverclose, an error, a timeout, a malformed frame)
  // it is closed, every message without its rsp is answered retry and the reason returned.
  std::optional<std::string> send(const std::vector<std::string_view>& messages,
                                  std::vector<Answer>& answers);
  // Sends `close` and waits (up to ack_timeout) for its rsp, then closes.
  void close();
  // Closes at once (no close command).
  void abort();
  // The last transaction number used (1 after open).
  uint32_t txnr() const { return txnr_; }
  // For tests: the next txnr the client will use.
  void set_next_txnr_for_test(uint32_t next) { txnr_ = next == 1 ? relp::kMaxTxnr : next - 1; }

 private:
  struct Inflight {
    uint32_t txnr;
    size_t index;
    Clock::time_point sent;
  };
  void start_read();
  void start_write(Clock::time_point now);
  // Runs handlers until pred() or the deadline; false on the deadline.
  bool run_until(const std::function<bool()>& pred, Clock::time_point deadline);
  std::string peer() const;

  Settings settings_;
  boost::asio::io_context io_;
  std::unique_ptr<net::Stream> stream_;
  relp::Reader reader_;
  std::vector<char> rbuf_;
  std::vector<relp::Frame> frames_;  // read, not handled yet
  std::optional<std::string> read_error_;
  std::optional<std::string> write_error_;
  bool reading_ = false;
  bool writing_ = false;
  Clock::time_point write_started_;
  std::string out_;      // being written
  std::string pending_;  // frames waiting for the current write to end
  uint32_t txnr_ = 0;
};

}  // namespace sluice::syslog
