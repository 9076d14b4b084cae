#include "relp_client.hpp"

#include <boost/asio/buffer.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

namespace sluice::syslog {

namespace {
std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}
}  // namespace

RelpClient::RelpClient(Settings settings)
    : settings_(std::move(settings)), reader_(settings_.max_rsp_bytes), rbuf_(64 * 1024) {}

RelpClient::~RelpClient() {
  abort();
}

std::string RelpClient::peer() const {
  return settings_.host + ":" + std::to_string(settings_.port);
}

bool RelpClient::run_until(const std::function<bool()>& pred, Clock::time_point deadline) {
  while (!pred()) {
    if (io_.stopped()) io_.restart();
    if (io_.run_one_until(deadline) == 0 && Clock::now() >= deadline) return pred();
  }
  return true;
}

void RelpClient::abort() {
  if (stream_) {
    stream_->close();
    // Let the aborted operations finish (their handlers see operation_aborted) before the
    // stream and the buffers they use go.
    io_.restart();
    io_.run();
    io_.restart();
  }
  stream_.reset();
  reader_ = relp::Reader(settings_.max_rsp_bytes);
  frames_.clear();
  read_error_.reset();
  write_error_.reset();
  reading_ = writing_ = false;
  out_.clear();
  pending_.clear();
}

void RelpClient::start_read() {
  if (reading_ || !stream_ || read_error_) return;
  reading_ = true;
  stream_->async_read_some(boost::asio::buffer(rbuf_), [this](const boost::system::error_code& ec,
                                                              size_t n) {
    reading_ = false;
    if (ec) {
      if (ec == boost::asio::error::operation_aborted) return;
      read_error_ =
          net::peer_closed(ec) ? "the server closed the connection" : "read: " + net::describe(ec);
      return;
    }
    // Acknowledge the server's segments at once: a server that writes each rsp on its
    // own under Nagle holds the next small rsp until this side's TCP acknowledged the last
    // one, which a delayed ACK puts off by up to 40 ms (the kernel turns quick ACKs off
    // again by itself, so after every read).
    int one = 1;
    ::setsockopt(stream_->socket().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    if (!reader_.feed(rbuf_.data(), n, frames_)) {
      read_error_ = "malformed input from the server: " + reader_.error();
      return;
    }
    start_read();
  });
}

void RelpClient::start_write(Clock::time_point now) {
  if (writing_ || pending_.empty() || !stream_ || write_error_) return;
  out_.swap(pending_);
  pending_.clear();
  writing_ = true;
  write_started_ = now;
  stream_->async_write(boost::asio::buffer(out_),
                       [this](const boost::system::error_code& ec, size_t) {
                         writing_ = false;
                         out_.clear();
                         if (ec && ec != boost::asio::error::operation_aborted)
                           write_error_ = "write: " + net::describe(ec);
                       });
}

void RelpClient::open() {
  abort();
  const auto deadline = Clock::now() + settings_.connect_timeout;
  stream_ = std::make_unique<net::Stream>(io_.get_executor(), settings_.tls);
  auto fail = [&](const std::string& why) {
    abort();
    throw std::runtime_error(why);
  };
  bool done = false;
  boost::system::error_code ec;
  std::string what;
  auto step = [&](const boost::system::error_code& e, const std::string& w) {
    done = true;
    ec = e;
    what = w;
  };
  stream_->async_connect(settings_.host, settings_.port, step);
  if (!run_until([&] { return done; }, deadline))
    fail("cannot connect to " + peer() + ": timed out after " + ms(settings_.connect_timeout));
  if (ec) fail(what);
  if (settings_.tls) {
    done = false;
    stream_->async_handshake(settings_.host, settings_.verify, step);
    if (!run_until([&] { return done; }, deadline))
      fail("TLS handshake with " + peer() + " timed out after " + ms(settings_.connect_timeout));
    if (ec) fail(what);
  }
  // Server: every txnr of the session from 1 on.
  txnr_ = 1;
  relp::append_frame(pending_, txnr_, "open", relp::open_offers(settings_.software));
  start_write(Clock::now());
  start_read();
  if (!run_until([&] { return !frames_.empty() || read_error_ || write_error_; }, deadline))
    fail("RELP open with " + peer() + ": no answer within " + ms(settings_.connect_timeout));
  if (frames_.empty())
    fail("RELP open with " + peer() + ": " + (read_error_ ? *read_error_ : *write_error_));
  const relp::Frame f = std::move(frames_.front());
  frames_.erase(frames_.begin());
  if (f.command != "rsp" || f.txnr != 1)
    fail("RELP open with " + peer() + ": expected rsp 1, got " + relp::printable(f.command) + " " +
         std::to_string(f.txnr));
  std::string why;
  const auto rsp = relp::parse_rsp(f.data, &why);
  if (!rsp) fail("RELP open with " + peer() + ": " + why);
  if (rsp->code != 200)
    fail("RELP open refused by " + peer() + ": " + std::to_string(rsp->code) + " " +
         relp::printable(rsp->text));
  if (!relp::offers_command(rsp->body, "syslog"))
    fail("RELP server " + peer() +
         " does not offer the syslog command (offers: " + relp::printable(rsp->body, 200) + ")");
  if (!frames_.empty())
    fail("RELP open with " + peer() + ": unexpected frame " + relp::printable(frames_[0].command) +
         " before the first command");
}

std::optional<std::string> RelpClient::check_idle() {
  if (!stream_) return std::string("not connected");
  io_.restart();
  io_.poll();
  std::optional<std::string> why;
  if (!frames_.empty()) {
    const auto& f = frames_.front();
    why = f.command == "serverclose"
              ? std::string("the server closed the session (serverclose)")
              : "unexpected frame from the server: " + relp::printable(f.command) + " " +
                    std::to_string(f.txnr);
  } else if (read_error_) {
    why = *read_error_;
  }
  if (why) abort();
  return why;
}

std::optional<std::string> RelpClient::send(const std::vector<std::string_view>& messages,
                                            std::vector<Answer>& answers) {
  answers.assign(messages.size(), Answer{});
  if (!stream_) {
    for (auto& a : answers)
      a.reason = "RELP: not connected to " + peer();
    return std::string("not connected");
  }
  std::deque<Inflight> inflight;
  size_t next = 0;
  std::optional<std::string> broken;
  start_read();
  for (;;) {
    // The server's answers.
    for (auto& f : frames_) {
      if (broken) break;
      if (f.command == "serverclose") {
        broken = "the server closed the session (serverclose)";
        break;
      }
      if (f.command != "rsp") {
        broken = "unexpected command from the server: " + relp::printable(f.command);
        break;
      }
      auto it = std::find_if(inflight.begin(), inflight.end(),
                             [&](const Inflight& x) { return x.txnr == f.txnr; });
      if (it == inflight.end()) {
        broken = "rsp for unknown transaction " + std::to_string(f.txnr);
        break;
      }
      std::string why;
      const auto rsp = relp::parse_rsp(f.data, &why);
      if (!rsp) {
        broken = "malformed rsp " + std::to_string(f.txnr) + ": " + why;
        break;
      }
      Answer& a = answers[it->index];
      if (rsp->code >= 200 && rsp->code < 300) {
        a.kind = Answer::Kind::ok;
        a.reason.clear();
      } else {
        a.kind = rsp->code >= 500 ? Answer::Kind::retry : Answer::Kind::reject;
        a.reason = "RELP server " + peer() + " answered " + std::to_string(rsp->code) + " " +
                   relp::printable(rsp->text, 200);
      }
      inflight.erase(it);
    }
    frames_.clear();
    if (!broken && read_error_) broken = *read_error_;
    if (!broken && write_error_) broken = *write_error_;
    if (broken) break;
    if (next == messages.size() && inflight.empty()) break;
    const auto now = Clock::now();
    // Fill the window, in runs of at least a quarter of it (or what is left): one write for
    // many frames rather than one per rsp that came back.
    const size_t free = settings_.window - std::min<size_t>(inflight.size(), settings_.window);
    const size_t run =
        std::min<size_t>(std::max<size_t>(settings_.window / 4, 1), messages.size() - next);
    if (!writing_ && next < messages.size() && (inflight.empty() || free >= run)) {
      while (next < messages.size() && inflight.size() < settings_.window) {
        txnr_ = relp::next_txnr(txnr_);
        relp::append_frame(pending_, txnr_, "syslog", messages[next]);
        inflight.push_back(Inflight{txnr_, next, now});
        ++next;
      }
      start_write(now);
    }
    auto deadline = Clock::time_point::max();
    if (writing_) deadline = write_started_ + settings_.write_timeout;
    if (!inflight.empty())
      deadline = std::min(deadline, inflight.front().sent + settings_.ack_timeout);
    if (io_.stopped()) io_.restart();
    if (io_.run_one_until(deadline) == 0 && Clock::now() >= deadline) {
      if (writing_ && Clock::now() >= write_started_ + settings_.write_timeout)
        broken = "write timed out after " + ms(settings_.write_timeout);
      else if (!inflight.empty())
        broken = "no rsp for transaction " + std::to_string(inflight.front().txnr) + " within " +
                 ms(settings_.ack_timeout);
      if (broken) break;
    }
  }
  if (broken) {
    abort();
    const std::string reason = "RELP connection to " + peer() + " lost: " + *broken;
    for (const auto& x : inflight)
      answers[x.index].reason = reason;
    for (size_t i = next; i < messages.size(); ++i)
      answers[i].reason = reason;
    return reason;
  }
  return std::nullopt;
}

void RelpClient::close() {
  if (!stream_) return;
  if (!check_idle()) {
    txnr_ = relp::next_txnr(txnr_);
    const uint32_t mine = txnr_;
    relp::append_frame(pending_, mine, "close", "");
    start_write(Clock::now());
    start_read();
    // The rsp to close, or serverclose, or the server closing the connection.
    run_until(
        [&] {
          for (const auto& f : frames_)
            if ((f.command == "rsp" && f.txnr == mine) || f.command == "serverclose") return true;
          return read_error_.has_value() || write_error_.has_value();
        },
        Clock::now() + settings_.ack_timeout);
    // A server may close the connection itself after answering close: give it a moment to do
    // so before closing this end.
    run_until([&] { return read_error_.has_value() || write_error_.has_value(); },
              Clock::now() + std::min<std::chrono::milliseconds>(settings_.ack_timeout,
                                                                 std::chrono::seconds(1)));
  }
  abort();
}

}  // namespace sluice::syslog
