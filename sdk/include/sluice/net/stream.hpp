// One client stream that is plain TCP or TLS, and can go from plain to TLS on the same socket
// (STARTTLS): the one "plain or TLS" of the networked plugins. Connecting (resolve + connect),
// the TLS handshake with the SDK's verification rules (sluice/tls.hpp), reading and writing
// whichever layer is current, and closing. Timeouts are the caller's (a deadline timer on the
// same executor, closing the stream when it fires): each protocol words them its own way.
//
// It models Asio's AsyncReadStream and AsyncWriteStream, so Beast's HTTP functions take it.
//
// Fault injection for tests: a peer cannot make a client's small writes block (loopback
// buffers take kilobytes whatever SO_SNDBUF and SO_RCVBUF say), so a test executable may define
// and export (CMake ENABLE_EXPORTS)
//   extern "C" int sluice_net_test_stall_write(int fd);
// Every net::Stream of the process, those of dlopen'ed plugins included, asks it before each
// write; nonzero makes that write wait as on a peer that stopped reading with full buffers: it
// ends only with an error on the socket or close(). sluice itself defines no such function.
#pragma once

#include <sluice/tls.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>

#include <dlfcn.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <memory>
#include <string>
#include <utility>

namespace sluice::net {

using tcp = boost::asio::ip::tcp;

// An error's message, with OpenSSL's reason where it says more than the message alone (verify
// failures: "certificate verify failed").
inline std::string describe(const boost::system::error_code& ec) {
  std::string m = ec.message();
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    std::string reason = r ? r : "";
    if (!reason.empty() && m.find(reason) == std::string::npos) m += " (" + reason + ")";
  }
  return m;
}

// True for the ways a peer ends a stream without an error of ours (EOF, TLS without close_notify).
inline bool peer_closed(const boost::system::error_code& ec) {
  return ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
}

namespace detail {

using StallWriteHook = int (*)(int fd);

// The test executable's sluice_net_test_stall_write, looked up once per module; null in sluice.
inline StallWriteHook stall_write_hook() {
  static const StallWriteHook hook =
      reinterpret_cast<StallWriteHook>(::dlsym(RTLD_DEFAULT, "sluice_net_test_stall_write"));
  return hook;
}

}  // namespace detail

struct Keepalive {
  int idle_s = 60;      // silence before the first probe
  int interval_s = 10;  // between probes
  int count = 3;        // unanswered probes before the connection is dead
};

class Stream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using lowest_layer_type = tcp::socket;

  // `tls` null: a plain stream that cannot upgrade. Otherwise the stream starts plain and
  // handshake() makes it TLS (at once after connecting for TLS transports, after the
  // protocol's STARTTLS exchange for upgrades).
  Stream(const executor_type& ex, boost::asio::ssl::context* tls)
      : ssl_(std::make_unique<boost::asio::ssl::stream<tcp::socket>>(ex,
                                                                     tls ? *tls : plain_context())),
        can_tls_(tls != nullptr) {}

  executor_type get_executor() { return ssl_->get_executor(); }
  tcp::socket& socket() { return ssl_->next_layer(); }
  tcp::socket& lowest_layer() { return ssl_->next_layer(); }
  SSL* native_handle() { return ssl_->native_handle(); }
  bool is_tls() const { return tls_; }

  // Resolves host:port and connects to the first address that answers; handler(ec, what):
  // `what` says which step failed ("cannot resolve h: ...", "cannot connect to h:p: ..."). An
  // IP address is not resolved: no getaddrinfo, whose one thread per io pool a slow DNS lookup
  // would hold for every instance. `resolving()` tells the step while it runs.
  template <class Handler>
  void async_connect(const std::string& host, uint16_t port, Handler&& handler) {
    boost::system::error_code not_ip;
    const auto address = boost::asio::ip::make_address(host, not_ip);
    if (!not_ip) {
      connect_to(std::array<tcp::endpoint, 1>{tcp::endpoint(address, port)}, host, port,
                 std::forward<Handler>(handler));
      return;
    }
    auto resolver = std::make_shared<tcp::resolver>(ssl_->get_executor());
    resolver_ = resolver;
    resolving_ = true;
    resolver->async_resolve(
        host, std::to_string(port),
        [this, resolver, host, port, h = std::forward<Handler>(handler)](
            const boost::system::error_code& ec, tcp::resolver::results_type results) mutable {
          resolving_ = false;
          if (ec) return h(ec, "cannot resolve " + host + ": " + ec.message());
          connect_to(results, host, port, std::move(h));
        });
  }
  bool resolving() const { return resolving_; }

  // TCP keepalive, for protocols without heart-beats: a vanished peer is noticed after about
  // idle + interval * count seconds.
  void keepalive(const Keepalive& k = {}) {
    auto& sock = socket();
    boost::system::error_code ignored;
    sock.set_option(boost::asio::socket_base::keep_alive(true), ignored);
    ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &k.idle_s, sizeof k.idle_s);
    ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &k.interval_s,
                 sizeof k.interval_s);
    ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &k.count, sizeof k.count);
  }

  // The TLS client handshake (SNI, name or IP check when verifying: tls::prepare_client); from
  // then on reads and writes go through TLS. handler(ec, what): `what` describes a failure
  // ("TLS handshake with h failed: ...").
  template <class Handler>
  void async_handshake(const std::string& host, bool verify, Handler&& handler) {
    if (!can_tls_) {
      auto ec = make_error_code(boost::asio::error::operation_not_supported);
      return boost::asio::post(get_executor(), [h = std::forward<Handler>(handler), ec]() mutable {
        h(ec, std::string("this stream has no TLS context"));
      });
    }
    try {
      tls::prepare_client(ssl_->native_handle(), host, verify);
    } catch (const std::exception& e) {
      auto ec = make_error_code(boost::asio::error::invalid_argument);
      return boost::asio::post(get_executor(),
                               [h = std::forward<Handler>(handler), ec,
                                what = std::string(e.what())]() mutable { h(ec, what); });
    }
    ssl_->async_handshake(
        boost::asio::ssl::stream_base::client, [this, host, h = std::forward<Handler>(handler)](
                                                   const boost::system::error_code& ec) mutable {
          if (ec) return h(ec, "TLS handshake with " + host + " failed: " + describe(ec));
          tls_ = true;
          h(ec, std::string());
        });
  }

  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& b, Handler&& h) {
    if (tls_) return ssl_->async_read_some(b, std::forward<Handler>(h));
    return socket().async_read_some(b, std::forward<Handler>(h));
  }
  template <class Buffers, class Handler>
  auto async_write_some(const Buffers& b, Handler&& h) {
    if (auto stall = detail::stall_write_hook(); stall && stall(socket().native_handle()))
      return socket().async_wait(
          tcp::socket::wait_error,
          [h = std::forward<Handler>(h)](boost::system::error_code ec) mutable {
            h(ec ? ec : make_error_code(boost::asio::error::broken_pipe), size_t{0});
          });
    if (tls_) return ssl_->async_write_some(b, std::forward<Handler>(h));
    return socket().async_write_some(b, std::forward<Handler>(h));
  }
  // Writes all of `b` (a composed operation over async_write_some).
  template <class Buffers, class Handler>
  void async_write(const Buffers& b, Handler&& h) {
    boost::asio::async_write(*this, b, std::forward<Handler>(h));
  }

  // True when the next read completes at once: bytes decrypted and waiting, or (checked only
  // after a large read, to spare a peer that sends as it goes the system call) in the socket.
  bool more_to_read(size_t last_read_bytes, size_t busy_read_bytes = 4096) {
    if (!socket().is_open()) return false;
    if (tls_ && SSL_pending(ssl_->native_handle()) > 0) return true;
    if (last_read_bytes < busy_read_bytes) return false;
    boost::system::error_code ec;
    return socket().available(ec) > 0 && !ec;
  }

  // Ends everything in flight (handlers see operation_aborted); no close_notify: a peer that
  // stopped reading must not hold the close.
  void close() {
    boost::system::error_code ignored;
    if (auto r = resolver_.lock()) r->cancel();
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  template <class Endpoints, class Handler>
  void connect_to(const Endpoints& endpoints, const std::string& host, uint16_t port,
                  Handler&& handler) {
    boost::asio::async_connect(
        socket(), endpoints,
        [this, host, port, h = std::forward<Handler>(handler)](const boost::system::error_code& ec,
                                                               const tcp::endpoint&) mutable {
          if (ec)
            return h(
                ec, "cannot connect to " + host + ":" + std::to_string(port) + ": " + ec.message());
          boost::system::error_code ignored;
          socket().set_option(tcp::no_delay(true), ignored);
          h(ec, std::string());
        });
  }

  static boost::asio::ssl::context& plain_context() {
    // Without TLS the ssl stream only holds the socket; this context is never used.
    static boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    return ctx;
  }

  std::unique_ptr<boost::asio::ssl::stream<tcp::socket>> ssl_;
  std::weak_ptr<tcp::resolver> resolver_;
  bool can_tls_;
  bool tls_ = false;
  bool resolving_ = false;
};

}  // namespace sluice::net
