// A tiny STOMP broker for tests, on loopback (port 0), plain TCP or TLS. It answers CONNECT and
// STOMP, SUBSCRIBE (with RECEIPT, or ERROR for unknown topics, then hangs up like ActiveMQ),
// publishes what the test asks, and misbehaves on request (1.0 only, silent heart-beats, bad
// login, frames over the limit, dropping connections). Its own io thread; all queries are
// thread-safe; every wait is bounded.
#pragma once

#include "stomp_frame.hpp"

#include <sluice/tls.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct BrokerConfig {
  std::optional<sluice::tls::CertificatePem> tls;  // nullopt: plain TCP
  bool only_v10 = false;                           // ERROR on STOMP, CONNECTED without version
  std::string heart_beat = "0,0";                  // what CONNECTED says
  std::set<std::string> known_topics;              // empty: every topic is known
  std::string password;                            // non-empty: required passcode
  int rcvbuf = 0;                                  // 0: default
  int sndbuf = 0;
};

class Broker {
 public:
  struct Session : std::enable_shared_from_this<Session> {
    Session(Broker& b, tcp::socket s, asio::ssl::context* ctx)
        : broker(b), stream(std::move(s), ctx ? *ctx : b.plain_ctx_), tls(ctx != nullptr) {}
    Broker& broker;
    asio::ssl::stream<tcp::socket> stream;
    bool tls;
    stomp::Parser parser{64u << 20};
    std::array<char, 16384> buf;
    std::deque<std::string> out;
    bool writing = false;
    bool open = true;
    std::map<std::string, std::string> subs;  // destination -> subscription id
    int index = 0;

    void start() {
      if (!tls) return read();
      stream.async_handshake(asio::ssl::stream_base::server,
                             [self = shared_from_this()](const boost::system::error_code& ec) {
                               if (ec) return self->close();
                               self->read();
                             });
    }
    template <typename H>
    void read_some(H&& h) {
      if (tls)
        stream.async_read_some(asio::buffer(buf), std::forward<H>(h));
      else
        stream.next_layer().async_read_some(asio::buffer(buf), std::forward<H>(h));
    }
    void read() {
      read_some([self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        if (ec) return self->close();
        std::vector<stomp::Frame> frames;
        try {
          self->parser.feed(std::string_view(self->buf.data(), n), frames);
        } catch (...) {
          return self->close();
        }
        for (auto& f : frames)
          self->broker.handle(self, f);
        if (self->open) self->read();
      });
    }
    void send(std::string bytes, bool close_after = false) {
      if (!open) return;
      broker.queued_ += bytes.size();
      out.push_back(std::move(bytes));
      if (close_after) out.push_back({});  // marker
      if (!writing) write();
    }
    void write() {
      if (out.empty() || !open) return;
      if (out.front().empty()) return close();
      writing = true;
      auto h = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        self->writing = false;
        if (ec) return self->close();
        self->broker.written_ += n;
        self->out.pop_front();
        self->write();
      };
      if (tls)
        asio::async_write(stream, asio::buffer(out.front()), h);
      else
        asio::async_write(stream.next_layer(), asio::buffer(out.front()), h);
    }
    void close() {
      if (!open) return;
      open = false;
      boost::system::error_code ignored;
      stream.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
      stream.next_layer().close(ignored);
      broker.on_session_closed(this);
    }
  };

  explicit Broker(BrokerConfig cfg = {})
      : cfg_(std::move(cfg)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    if (cfg_.tls) ctx_.emplace(sluice::tls::make_server_context(*cfg_.tls));
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Broker() {
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& s : sessions_)
        s->close();
    });
    io_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }

  // Sends a MESSAGE to every session subscribed to `destination`.
  void publish(const std::string& destination,
               std::vector<std::pair<std::string, std::string>> headers, std::string body) {
    asio::post(io_, [this, destination, headers = std::move(headers), body = std::move(body)] {
      for (auto& s : sessions_) {
        auto it = s->subs.find(destination);
        if (it == s->subs.end()) continue;
        stomp::Frame f;
        f.command = "MESSAGE";
        f.add("destination", destination).add("subscription", it->second);
        for (const auto& h : headers)
          f.headers.push_back(h);
        f.body = body;
        s->send(stomp::serialize(f, stomp::Version::v1_2));
      }
    });
  }
  // Raw bytes to every session.
  void send_raw(std::string bytes) {
    asio::post(io_, [this, bytes] {
      for (auto& s : sessions_)
        s->send(bytes);
    });
  }
  void drop_connections() {
    asio::post(io_, [this] {
      auto copy = sessions_;
      for (auto& s : copy)
        s->close();
    });
  }

  // --- what the broker saw -------------------------------------------------------------------
  int connections() const {
    std::lock_guard l(m_);
    return connections_;
  }
  std::vector<stomp::Frame> received() const {
    std::lock_guard l(m_);
    return received_;
  }
  // Destinations subscribed on the n-th connection (1-based).
  std::vector<std::string> subscriptions(int connection) const {
    std::lock_guard l(m_);
    auto it = subscriptions_.find(connection);
    return it == subscriptions_.end() ? std::vector<std::string>{} : it->second;
  }
  // Subscriptions with a RECEIPT sent, on live sessions.
  int live_subscriptions() const {
    std::lock_guard l(m_);
    return live_subs_;
  }
  uint64_t queued() const { return queued_; }
  uint64_t written() const { return written_; }

  // Waits until p() holds; p runs without the broker's lock, so it may call the queries above.
  template <typename Pred>
  bool wait(Pred p, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (p()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::unique_lock l(m_);
      cv_.wait_for(l, std::chrono::milliseconds(20));
    }
  }
  bool wait_connections(int n, std::chrono::milliseconds t = std::chrono::seconds(10)) const {
    std::unique_lock l(m_);
    return cv_.wait_for(l, t, [&] { return connections_ >= n; });
  }
  bool wait_live_subscriptions(int n,
                               std::chrono::milliseconds t = std::chrono::seconds(10)) const {
    std::unique_lock l(m_);
    return cv_.wait_for(l, t, [&] { return live_subs_ == n; });
  }

 private:
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
      if (ec) return;
      if (cfg_.sndbuf) s.set_option(asio::socket_base::send_buffer_size(cfg_.sndbuf));
      if (cfg_.rcvbuf) s.set_option(asio::socket_base::receive_buffer_size(cfg_.rcvbuf));
      auto session = std::make_shared<Session>(*this, std::move(s), ctx_ ? &*ctx_ : nullptr);
      {
        std::lock_guard l(m_);
        session->index = ++connections_;
      }
      cv_.notify_all();
      sessions_.push_back(session);
      session->start();
      accept();
    });
  }

  void on_session_closed(Session* s) {
    {
      std::lock_guard l(m_);
      live_subs_ -= static_cast<int>(s->subs.size());
    }
    std::erase_if(sessions_, [s](const auto& p) { return p.get() == s; });
    cv_.notify_all();
  }

  void handle(const std::shared_ptr<Session>& s, const stomp::Frame& f) {
    {
      std::lock_guard l(m_);
      received_.push_back(f);
    }
    cv_.notify_all();
    auto error = [&](const std::string& message, const stomp::Frame* about) {
      stomp::Frame e;
      e.command = "ERROR";
      e.add("content-type", "text/plain").add("message", message);
      if (about)
        if (const std::string* r = about->header("receipt")) e.add("receipt-id", *r);
      e.body = "java.lang.SecurityException: " + message;
      s->send(stomp::serialize(e, stomp::Version::v1_2), true);
    };
    if (f.command == "STOMP" || f.command == "CONNECT") {
      if (cfg_.only_v10 && f.command == "STOMP") return error("Unknown STOMP action: STOMP", &f);
      if (!cfg_.password.empty()) {
        const std::string* p = f.header("passcode");
        if (!p || *p != cfg_.password)
          return error("User name [" + (f.header("login") ? *f.header("login") : std::string()) +
                           "] or password is invalid.",
                       &f);
      }
      stomp::Frame c;
      c.command = "CONNECTED";
      if (!cfg_.only_v10) {
        c.add("version", "1.2").add("heart-beat", cfg_.heart_beat);
        s->parser.set_version(stomp::Version::v1_2);
      }
      c.add("server", "TestBroker/1.0");
      s->send(stomp::serialize(c, stomp::Version::v1_0));
    } else if (f.command == "SUBSCRIBE") {
      const std::string dest = f.header("destination") ? *f.header("destination") : "";
      const std::string topic = dest.rfind("/topic/", 0) == 0 ? dest.substr(7) : dest;
      if (!cfg_.known_topics.empty() && !cfg_.known_topics.count(topic))
        return error("remote addConsumer failed because the specified destination, 'topic://" +
                         topic + "', is not a known or approved topic.",
                     &f);
      s->subs[dest] = f.header("id") ? *f.header("id") : "";
      {
        std::lock_guard l(m_);
        subscriptions_[s->index].push_back(dest);
        ++live_subs_;
      }
      cv_.notify_all();
      if (const std::string* r = f.header("receipt")) {
        stomp::Frame rc;
        rc.command = "RECEIPT";
        rc.add("receipt-id", *r);
        s->send(stomp::serialize(rc, stomp::Version::v1_2));
      }
    } else if (f.command == "DISCONNECT") {
      s->close();
    }
  }

  BrokerConfig cfg_;
  asio::io_context io_;
  asio::ssl::context plain_ctx_{asio::ssl::context::tls_server};
  std::optional<asio::ssl::context> ctx_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::shared_ptr<Session>> sessions_;  // io thread only
  std::atomic<uint64_t> queued_{0};
  std::atomic<uint64_t> written_{0};

  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  int connections_ = 0;
  int live_subs_ = 0;
  std::vector<stomp::Frame> received_;
  std::map<int, std::vector<std::string>> subscriptions_;
};

}  // namespace test
