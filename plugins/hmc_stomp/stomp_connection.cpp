#include "stomp_connection.hpp"

#include <sluice/tls.hpp>

#include <openssl/err.h>

namespace hmc {

namespace {

std::string describe(const boost::system::error_code& ec) {
  std::string m = ec.message();
  // OpenSSL's verify errors say little on their own; add the reason when there is one.
  if (ec.category() == asio::error::get_ssl_category()) {
    std::string reason =
        ERR_reason_error_string(ec.value()) ? ERR_reason_error_string(ec.value()) : "";
    if (!reason.empty() && m.find(reason) == std::string::npos) m += " (" + reason + ")";
  }
  return m;
}

}  // namespace

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

StompConnection::StompConnection(asio::io_context& io, asio::ssl::context* tls,
                                 ConnectParams params, Listener& listener)
    : io_(io),
      tls_ctx_(tls),
      params_(std::move(params)),
      listener_(listener),
      resolver_(io),
      deadline_(io),
      write_timer_(io),
      heartbeat_timer_(io),
      watchdog_timer_(io),
      parser_(params_.max_frame_bytes) {
  parser_.set_max_headers(params_.max_headers);
  // Without TLS the ssl stream is only a holder of the socket: next_layer() is used directly.
  static asio::ssl::context plain_ctx(asio::ssl::context::tls_client);
  stream_ = std::make_unique<asio::ssl::stream<tcp::socket>>(io_, tls_ctx_ ? *tls_ctx_ : plain_ctx);
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
  resolver_.async_resolve(params_.host, std::to_string(params_.port),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      tcp::resolver::results_type r) {
                            self->on_resolved(ec, std::move(r));
                          });
}

void StompConnection::on_resolved(const boost::system::error_code& ec,
                                  tcp::resolver::results_type results) {
  if (phase_ == Phase::closed) return;
  if (ec) return fail(CloseKind::failed, "cannot resolve " + params_.host + ": " + ec.message());
  phase_ = Phase::connecting;
  asio::async_connect(
      stream_->next_layer(), results,
      [self = shared_from_this()](const boost::system::error_code& e, const tcp::endpoint& ep) {
        self->on_connect(e, ep);
      });
}

void StompConnection::on_connect(const boost::system::error_code& ec, const tcp::endpoint&) {
  if (phase_ == Phase::closed) return;
  if (ec)
    return fail(CloseKind::failed, "cannot connect to " + params_.host + ":" +
                                       std::to_string(params_.port) + ": " + ec.message());
  boost::system::error_code ignored;
  stream_->next_layer().set_option(tcp::no_delay(true), ignored);
  if (!tls_ctx_) return send_connect_frame();
  phase_ = Phase::handshaking;
  arm_deadline(params_.connect_timeout, "in the TLS handshake");
  try {
    sluice::tls::prepare_client(stream_->native_handle(), params_.host, params_.verify);
  } catch (const std::exception& e) {
    return fail(CloseKind::failed, e.what());
  }
  stream_->async_handshake(
      asio::ssl::stream_base::client,
      [self = shared_from_this()](const boost::system::error_code& e) { self->on_handshake(e); });
}

void StompConnection::on_handshake(const boost::system::error_code& ec) {
  if (phase_ == Phase::closed) return;
  if (ec)
    return fail(CloseKind::failed, "TLS handshake with " + params_.host + ": " + describe(ec));
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
  auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    self->on_read(ec, n);
  };
  if (tls_ctx_)
    stream_->async_read_some(asio::buffer(rbuf_), std::move(handler));
  else
    stream_->next_layer().async_read_some(asio::buffer(rbuf_), std::move(handler));
}

void StompConnection::on_read(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (phase_ == Phase::closed) return;
  const bool before = phase_ != Phase::connected;
  if (ec) {
    std::string why = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                          ? "connection closed by the broker"
                          : "read failed: " + describe(ec);
    if (closing_) why = close_reason_;
    return fail(closing_ ? CloseKind::stopped : before ? CloseKind::failed : CloseKind::lost, why);
  }
  last_read_ = Clock::now();
  last_read_bytes_ = n;
  try {
    parser_.append(std::string_view(rbuf_.data(), n));
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
  if (tls_ctx_ && SSL_pending(stream_->native_handle()) > 0) return true;
  // A small read means the peer sends as it goes (a broker forwarding messages one by one):
  // spare that connection the system call below, whose answer would be no.
  if (last_read_bytes_ < kBusyReadBytes) return false;
  boost::system::error_code ec;
  return stream_->next_layer().available(ec) > 0 && !ec;
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
  auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    self->on_write(ec, n);
  };
  if (tls_ctx_)
    asio::async_write(*stream_, asio::buffer(outbox_.front()), std::move(handler));
  else
    asio::async_write(stream_->next_layer(), asio::buffer(outbox_.front()), std::move(handler));
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
  boost::system::error_code ignored;
  resolver_.cancel();
  deadline_.cancel();
  write_timer_.cancel();
  heartbeat_timer_.cancel();
  watchdog_timer_.cancel();
  stream_->next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_->next_layer().close(ignored);
}

}  // namespace hmc
