// A hostile HTTP(S) server on 127.0.0.1 for the tests of HTTP clients (the webhook sink, the
// HMC WS API client, a plugin of one's own). It answers each request with raw bytes, exactly as
// scripted (a lying Content-Length, body bytes glued to the header, a broken chunk...), can then
// drip a body as fast as the client takes it, and measures the test process's resident memory
// while it drips, so a test can check that a client's memory stays within its limit.
//
//   sluice::testing::RawHttpServer server;                   // or RawHttpServer(pem) for TLS
//   server.set_default({"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\nabc", 64 << 20});
//   ... point the client at server.port() ...
//   CHECK(server.peak_rss_growth() < limit + slack);
//
// Blocking sockets, one thread per connection; everything ends when the server goes away.
// C++17, header-only; for tests only.
#pragma once

#include <sluice/tls.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

// The test process's resident set size in bytes (VmRSS), 0 where /proc cannot tell.
inline int64_t resident_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  return 0;
}

class RawHttpServer {
 public:
  struct Reply {
    std::string head;         // sent at once: status line, fields, and any glued body bytes
    uint64_t drip_bytes = 0;  // then this many more bytes ('x'), 64 KiB at a time
    bool close = true;        // close the connection after the reply (else wait for the peer)
  };

  explicit RawHttpServer(std::optional<tls::CertificatePem> pem = std::nullopt)
      : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    if (pem) tls_.emplace(tls::make_server_context(*pem));
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~RawHttpServer() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    {
      std::lock_guard lock(m_);
      for (int fd : open_fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(m_);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.join();
  }

  RawHttpServer(const RawHttpServer&) = delete;
  RawHttpServer& operator=(const RawHttpServer&) = delete;

  uint16_t port() const { return port_; }

  // The next requests get these replies, one each, in order; then the default.
  void script(std::vector<Reply> replies) {
    std::lock_guard lock(m_);
    script_.assign(replies.begin(), replies.end());
  }
  void set_default(Reply reply) {
    std::lock_guard lock(m_);
    default_ = std::move(reply);
  }

  // Requests read so far (their header and body, raw).
  std::vector<std::string> requests() const {
    std::lock_guard lock(m_);
    return requests_;
  }
  size_t request_count() const {
    std::lock_guard lock(m_);
    return requests_.size();
  }
  bool wait_for_requests(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(m_);
    return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }
  // Drips that ended (the client closed, or everything was sent).
  bool wait_for_drips(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(m_);
    return changed_.wait_for(lock, timeout, [&] { return drips_done_ >= n; });
  }
  // Drip bytes the clients took (written without an error).
  uint64_t dripped() const { return dripped_.load(); }
  // Largest growth of the process's RSS seen during a drip, from the RSS when it began.
  int64_t peak_rss_growth() const { return peak_growth_.load(); }

 private:
  using tcp = boost::asio::ip::tcp;

  void accept_loop() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket s(io_);
      acceptor_.accept(s, ec);
      if (ec || stopping_) return;
      std::lock_guard lock(m_);
      open_fds_.push_back(s.native_handle());
      threads_.emplace_back([this, sock = std::move(s)]() mutable { serve(std::move(sock)); });
    }
  }

  // Forgets a connection's descriptor before its socket closes it (it could be reused at once).
  struct Untrack {
    RawHttpServer& server;
    int fd;
    ~Untrack() {
      std::lock_guard lock(server.m_);
      server.open_fds_.erase(std::remove(server.open_fds_.begin(), server.open_fds_.end(), fd),
                             server.open_fds_.end());
    }
  };

  void serve(tcp::socket sock) {
    const int fd = sock.native_handle();
    try {
      if (tls_) {
        boost::asio::ssl::stream<tcp::socket> stream(std::move(sock), *tls_);
        Untrack untrack{*this, fd};
        stream.handshake(boost::asio::ssl::stream_base::server);
        converse(stream);
      } else {
        Untrack untrack{*this, fd};
        converse(sock);
      }
    } catch (const std::exception&) {
      // The client went away: that is what most tests want.
    }
  }

  template <class Stream>
  void converse(Stream& stream) {
    boost::asio::streambuf in;
    for (;;) {
      const size_t head = boost::asio::read_until(stream, in, "\r\n\r\n");
      std::string request(boost::asio::buffers_begin(in.data()),
                          boost::asio::buffers_begin(in.data()) + static_cast<long>(head));
      in.consume(head);
      const size_t length = content_length(request);
      if (in.size() < length)
        boost::asio::read(stream, in, boost::asio::transfer_exactly(length - in.size()));
      request.append(boost::asio::buffers_begin(in.data()),
                     boost::asio::buffers_begin(in.data()) + static_cast<long>(length));
      in.consume(length);
      Reply reply;
      {
        std::lock_guard lock(m_);
        requests_.push_back(std::move(request));
        if (!script_.empty()) {
          reply = std::move(script_.front());
          script_.pop_front();
        } else {
          reply = default_;
        }
      }
      changed_.notify_all();
      boost::asio::write(stream, boost::asio::buffer(reply.head));
      if (reply.drip_bytes > 0) drip(stream, reply.drip_bytes);
      if (reply.close) return;
    }
  }

  template <class Stream>
  void drip(Stream& stream, uint64_t total) {
    const std::string piece(64 * 1024, 'x');
    const int64_t base = resident_bytes();
    uint64_t sent = 0;
    boost::system::error_code ec;
    while (sent < total && !stopping_) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), total - sent));
      boost::asio::write(stream, boost::asio::buffer(piece.data(), n), ec);
      if (ec) break;
      sent += n;
      dripped_ += n;
      const int64_t growth = resident_bytes() - base;
      int64_t seen = peak_growth_.load();
      while (growth > seen && !peak_growth_.compare_exchange_weak(seen, growth)) {
      }
    }
    {
      std::lock_guard lock(m_);
      ++drips_done_;
    }
    changed_.notify_all();
  }

  static size_t content_length(const std::string& head) {
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return static_cast<size_t>(std::strtoull(lower.c_str() + at + 17, nullptr, 10));
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::ssl::context> tls_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex m_;
  mutable std::condition_variable changed_;
  std::vector<std::thread> threads_;
  std::vector<int> open_fds_;
  std::deque<Reply> script_;
  Reply default_{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, true};
  std::vector<std::string> requests_;
  size_t drips_done_ = 0;
  std::atomic<uint64_t> dripped_{0};
  std::atomic<int64_t> peak_growth_{0};
};

}  // namespace sluice::testing
