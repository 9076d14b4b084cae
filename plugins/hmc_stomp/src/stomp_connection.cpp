#include "stomp_connection.hpp"

namespace sluice::hmc {

using sluice::net::describe;

const char* to_string(StompConnection::CloseKind k) {
  switch (k) {
    case StompConnection::CloseKind::failed:
      return "failed";
    case StompConnection::CloseKind::rejected:
      return "rejected";
    case StompConnection::CloseKind::lost:
      return "lost";
    case StompConnection::CloseKind::stopped:
      return "stopped";
  }
  return "?";
}

StompConnection::StompConnection(const asio::any_io_executor& ex, asio::ssl::context* tls,
                                 ConnectParams params, Listener& listener)
    : tls_ctx_(tls),
      params_(std::move(params)),
      listener_(listener),
      stream_(ex, tls),
      deadline_(ex),
      write_timer_(ex),
      heartbeat_timer_(ex),
      watchdog_timer_(ex),
      parser_(params_.max_frame_bytes) {
  parser_.set_max_headers(params_.max_headers);
}

void StompConnection::arm_deadline(std::chrono::milliseconds d, const char* what) {
  deadline_.expires_after(d);
  deadline_.async_wait([self = shared_from_this(), what](const boost::system::error_code& ec) {
    if (ec || self->phase_ == Phase::closed || self->phase_ == Phase::connected) return;
    self->timed_out_ = true;
    self->fail(CloseKind::failed, std::string("timeout ") + what + " (connect_timeout " +
                                      std::to_string(self->params_.connect_timeout.count()) +
                                      " ms)");
  });
}

void StompConnection::start() {
  phase_ = Phase::resolving;
  arm_deadline(params_.connect_timeout, "resolving and connecting");
  stream_.async_connect(
      params_.host, params_.port,
      [self = shared_from_this()](const boost::system::error_code& ec, std::string what) {
        self->on_connect(ec, what);
      });
}

void StompConnection::on_connect(const boost::system::error_code& ec, const std::string& what) {
  if (phase_ == Phase::closed) return;
  if (ec) return fail(CloseKind::failed, what);
  if (!tls_ctx_) return send_connect_frame();
  phase_ = Phase::handshaking;
  arm_deadline(params_.connect_timeout, "in the TLS handshake");
  stream_.async_handshake(
      params_.host, params_.verify,
      [self = shared_from_this()](const boost::system::error_code& e, std::string what) {
        self->on_handshake(e, what);
      });
}

void StompConnection::on_handshake(const boost::system::error_code& ec, const std::string& what) {
  if (phase_ == Phase::closed) return;
  if (ec) return fail(CloseKind::failed, what);
  send_connect_frame();
}

void StompConnection::send_connect_frame() {
  phase_ = Phase::awaiting_connected;
  arm_deadline(params_.connect_timeout, "waiting for CONNECTED");
  stomp::Frame f;
  const bool v10 = params_.version == "1.0";
  f.command = (v10 || params_.use_connect_command) ? "CONNECT" : "STOMP";
  if (!v10) {
    f.add("accept-version", params_.version == "auto" ? "1.0,1.1,1.2" : params_.version);
    f.add("host", params_.host);
  }
  if (!params_.login.empty()) f.add("login", params_.login);
  if (!params_.login.empty() || !params_.passcode.empty()) f.add("passcode", params_.passcode);
  if (!v10)
    f.add("heart-beat", std::to_string(params_.heartbeat_send.count()) + "," +
                            std::to_string(params_.heartbeat_receive.count()));
  write_raw(stomp::serialize(f, stomp::Version::v1_0));
  last_read_ = Clock::now();
  read_more();
}

void StompConnection::read_more() {
  if (reading_ || paused_ || phase_ == Phase::closed) return;
  reading_ = true;
  // Straight into the parser's buffer: no copy of the bytes between the read and the parse.
  const std::span<char> room = parser_.prepare(kReadBytes);
  stream_.async_read_some(asio::buffer(room.data(), room.size()),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->on_read(ec, n); });
}

void StompConnection::on_read(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (phase_ == Phase::closed) return;
  const bool before = phase_ != Phase::connected;
  if (ec) {
    std::string why = sluice::net::peer_closed(ec) ? "connection closed by the broker"
                                                   : "read failed: " + describe(ec);
    if (closing_) why = close_reason_;
    return fail(closing_ ? CloseKind::stopped : before ? CloseKind::failed : CloseKind::lost, why);
  }
  last_read_ = Clock::now();
  last_read_bytes_ = n;
  try {
    parser_.commit(n);
    while (phase_ != Phase::closed && parser_.next(frame_)) {
      if (phase_ == Phase::awaiting_connected)
        handle_first_frame(frame_);
      else
        listener_.on_frame(*this, frame_);
    }
  } catch (const stomp::FrameError& e) {
    const bool connected = phase_ == Phase::connected;
    if (connected) listener_.on_read_end(*this);
    return fail(connected ? CloseKind::lost : CloseKind::failed, e.what());
  }
  if (phase_ == Phase::connected) listener_.on_read_end(*this);
  read_more();
}

bool StompConnection::more_to_read() {
  if (phase_ == Phase::closed) return false;
  return stream_.more_to_read(last_read_bytes_, kBusyReadBytes);
}

// The broker's answer to STOMP/CONNECT.
void StompConnection::handle_first_frame(const stomp::FrameView& f) {
  ConnectAnswer a = read_connect_answer(f, params_.heartbeat_send, params_.heartbeat_receive);
  if (a.kind == ConnectAnswer::Kind::rejected) {
    stomp_command_refused_ = a.refused_command;
    const stomp::Frame copy = stomp::Frame::copy_of(f);
    return fail(CloseKind::rejected, a.reason, &copy);
  }
  if (a.kind != ConnectAnswer::Kind::connected) return fail(CloseKind::failed, a.reason);
  deadline_.cancel();
  version_ = a.version;
  parser_.set_version(version_);
  phase_ = Phase::connected;
  send_interval_ = a.heartbeats.send;
  receive_interval_ = a.heartbeats.receive;
  heartbeat_warnings_ = std::move(a.heartbeats.warnings);
  last_read_ = Clock::now();
  if (send_interval_.count() > 0) heartbeat_tick();
  if (receive_interval_.count() > 0) watchdog_tick();
  listener_.on_connected(*this, f);
}

void StompConnection::send(const stomp::Frame& f) {
  if (phase_ != Phase::connected || closing_) return;
  write_raw(stomp::serialize(f, version_));
}

void StompConnection::write_raw(std::string bytes) {
  outbox_.push_back(std::move(bytes));
  if (!writing_) write_next();
}

void StompConnection::write_next() {
  if (outbox_.empty() || phase_ == Phase::closed) return;
  writing_ = true;
  write_timer_.expires_after(params_.write_timeout);
  write_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || !self->writing_ || self->phase_ == Phase::closed) return;
    self->fail(self->phase_ == Phase::connected ? CloseKind::lost : CloseKind::failed,
               "write timed out (request_timeout " +
                   std::to_string(self->params_.write_timeout.count()) + " ms)");
  });
  stream_.async_write(asio::buffer(outbox_.front()),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                        self->on_write(ec, n);
                      });
}

void StompConnection::on_write(const boost::system::error_code& ec, size_t) {
  writing_ = false;
  write_timer_.cancel();
  if (phase_ == Phase::closed) return;
  if (ec)
    return fail(phase_ == Phase::connected ? CloseKind::lost : CloseKind::failed,
                "write failed: " + describe(ec));
  last_write_ = Clock::now();
  outbox_.pop_front();
  if (!outbox_.empty()) return write_next();
  if (closing_) fail(CloseKind::stopped, close_reason_);
}

// Sends an EOL when nothing else was written for a whole interval.
void StompConnection::heartbeat_tick() {
  heartbeat_timer_.expires_after(send_interval_);
  heartbeat_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->phase_ != Phase::connected || self->closing_) return;
    if (!self->writing_ && Clock::now() - self->last_write_ >= self->send_interval_ / 2)
      self->write_raw("\n");
    self->heartbeat_tick();
  });
}

// The broker is dead when nothing arrived for 2x the receive interval (while we were reading:
// a paused reader sees nothing, through no fault of the broker).
void StompConnection::watchdog_tick() {
  watchdog_timer_.expires_after(receive_interval_ / 2);
  watchdog_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->phase_ != Phase::connected) return;
    if (!self->paused_ && Clock::now() - self->last_read_ > 2 * self->receive_interval_)
      return self->fail(CloseKind::lost,
                        "heart-beat timeout: nothing from the broker for more than " +
                            std::to_string(2 * self->receive_interval_.count()) + " ms");
    self->watchdog_tick();
  });
}

void StompConnection::pause() {
  paused_ = true;
}

void StompConnection::resume() {
  if (!paused_) return;
  paused_ = false;
  last_read_ = Clock::now();
  read_more();
}

void StompConnection::close(const std::string& reason) {
  if (phase_ == Phase::closed || closing_) return;
  if (phase_ != Phase::connected) return fail(CloseKind::stopped, reason);
  closing_ = true;
  close_reason_ = reason;
  write_raw(stomp::serialize(stomp::Frame{"DISCONNECT", {}, {}}, version_));
}

void StompConnection::fail(CloseKind kind, const std::string& reason, const stomp::Frame* error) {
  if (phase_ == Phase::closed) return;
  closed_in_ = phase_;
  phase_ = Phase::closed;
  close_socket();
  listener_.on_closed(*this, kind, reason, error);
}

void StompConnection::close_socket() {
  deadline_.cancel();
  write_timer_.cancel();
  heartbeat_timer_.cancel();
  watchdog_timer_.cancel();
  stream_.close();
}

}  // namespace sluice::hmc
