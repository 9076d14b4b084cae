// Minimal blocking clients for the fake HMC's tests: raw STOMP (TLS or TCP) and HTTPS. Written
// independently of the fake's own frame codec so a codec bug cannot hide itself. Every read has
// a timeout (SO_RCVTIMEO), so no test can hang.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <sluice/tls.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace testclient {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

inline void set_timeout(tcp::socket& s, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

struct RawFrame {
  std::string command;
  std::vector<std::pair<std::string, std::string>> headers;  // raw, not unescaped
  std::string body;
  std::string header(const std::string& k) const {
    for (const auto& [hk, hv] : headers)
      if (hk == k) return hv;
    return "<absent>";
  }
};

class Stomp {
 public:
  Stomp(uint16_t port, const std::string& ca_pem, bool tls = true)
      : io_(std::make_unique<asio::io_context>()),
        ctx_(std::make_unique<ssl::context>(ssl::context::tls_client)),
        tls_(tls) {
    ctx_->add_certificate_authority(asio::buffer(ca_pem));
    ctx_->set_verify_mode(ssl::verify_peer);
    stream_ = std::make_unique<ssl::stream<tcp::socket>>(*io_, *ctx_);
    auto& sock = stream_->next_layer();
    sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    set_timeout(sock, std::chrono::seconds(5));
    if (tls_) {
      sluice::tls::prepare_client(stream_->native_handle(), "127.0.0.1", true);
      stream_->handshake(ssl::stream_base::client);
    }
  }

  void write(const std::string& bytes) {
    if (tls_)
      asio::write(*stream_, asio::buffer(bytes));
    else
      asio::write(stream_->next_layer(), asio::buffer(bytes));
  }

  void send(const std::string& command, const std::vector<std::pair<std::string, std::string>>& h,
            const std::string& body = "") {
    std::string f = command + "\n";
    for (const auto& [k, v] : h)
      f += k + ":" + v + "\n";
    f += "\n" + body;
    f.push_back('\0');
    write(f);
  }

  // CONNECT (or STOMP) and read the answer.
  RawFrame connect(const std::string& login = "hmcuser", const std::string& pass = "hmcpassword",
                   const std::string& versions = "1.0,1.1,1.2", const std::string& hb = "0,0",
                   const std::string& command = "STOMP") {
    std::vector<std::pair<std::string, std::string>> h = {
        {"host", "127.0.0.1"}, {"login", login}, {"passcode", pass}, {"heart-beat", hb}};
    if (!versions.empty()) h.emplace_back("accept-version", versions);
    send(command, h);
    return read_frame().value_or(RawFrame{"<none>", {}, {}});
  }

  // The next frame, or nullopt on timeout or close. Heart-beat EOLs are counted, not returned.
  std::optional<RawFrame> read_frame(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      take_heartbeats();
      size_t hdr_end = buf_.find("\n\n");
      if (hdr_end != std::string::npos) {
        RawFrame f;
        size_t line_end = buf_.find('\n');
        f.command = buf_.substr(0, line_end);
        size_t pos = line_end + 1;
        size_t length = std::string::npos;
        while (pos < hdr_end + 1) {
          size_t nl = buf_.find('\n', pos);
          std::string line = buf_.substr(pos, nl - pos);
          size_t colon = line.find(':');
          f.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
          if (f.headers.back().first == "content-length" && length == std::string::npos)
            length = std::stoul(f.headers.back().second);
          pos = nl + 1;
        }
        size_t body_start = hdr_end + 2;
        size_t body_end =
            length != std::string::npos ? body_start + length : buf_.find('\0', body_start);
        if (body_end != std::string::npos && buf_.size() > body_end) {
          f.body = buf_.substr(body_start, body_end - body_start);
          buf_.erase(0, body_end + 1);
          return f;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline || closed) return std::nullopt;
      if (!read_some(deadline - std::chrono::steady_clock::now())) return std::nullopt;
    }
  }

  // Reads (and keeps) bytes until the peer closes; true if it did before the timeout.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed && std::chrono::steady_clock::now() < deadline)
      read_some(deadline - std::chrono::steady_clock::now());
    take_heartbeats();
    return closed;
  }

  // Bytes received but not yet taken as frames (e.g. half a frame before a close).
  const std::string& leftover() const { return buf_; }

  bool closed = false;
  size_t heartbeats = 0;

 private:
  void take_heartbeats() {
    while (!buf_.empty() && (buf_[0] == '\n' || buf_[0] == '\r')) {
      if (buf_[0] == '\n') ++heartbeats;
      buf_.erase(0, 1);
    }
  }

  // One read bounded by `left` (asio's blocking reads ignore SO_RCVTIMEO, so run async ones).
  bool read_some(std::chrono::steady_clock::duration left) {
    bool done = false;
    boost::system::error_code rec;
    size_t n = 0;
    auto handler = [&](boost::system::error_code ec, size_t k) {
      done = true;
      rec = ec;
      n = k;
    };
    if (tls_)
      stream_->async_read_some(asio::buffer(tmp_), handler);
    else
      stream_->next_layer().async_read_some(asio::buffer(tmp_), handler);
    io_->restart();
    io_->run_for(left);
    if (!done) {
      boost::system::error_code ignored;
      stream_->next_layer().cancel(ignored);
      io_->restart();
      io_->run();
    }
    buf_.append(tmp_.data(), n);
    if (rec == asio::error::operation_aborted) return true;  // timed out, not closed
    if (rec) closed = true;
    return !rec;
  }

  std::array<char, 65536> tmp_{};
  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<ssl::context> ctx_;
  bool tls_;
  std::unique_ptr<ssl::stream<tcp::socket>> stream_;
  std::string buf_;
};

struct HttpResult {
  int status = 0;
  nlohmann::json body;
};

// One HTTPS request on a new connection; every step bounded by a 10 s deadline.
inline HttpResult https(uint16_t port, const std::string& ca_pem, boost::beast::http::verb verb,
                        const std::string& target, const std::string& body = "",
                        const std::string& session = "") {
  namespace http = boost::beast::http;
  namespace beast = boost::beast;
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.add_certificate_authority(asio::buffer(ca_pem));
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> s(io, ctx);
  sluice::tls::prepare_client(s.native_handle(), "127.0.0.1", true);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  if (!session.empty()) req.set("X-API-Session", session);
  req.body() = body;
  req.prepare_payload();
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  boost::system::error_code failed;
  beast::get_lowest_layer(s).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(s).async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
        if (ec) return void(failed = ec);
        s.async_handshake(ssl::stream_base::client, [&](beast::error_code ec) {
          if (ec) return void(failed = ec);
          http::async_write(s, req, [&](beast::error_code ec, size_t) {
            if (ec) return void(failed = ec);
            http::async_read(s, buf, res, [&](beast::error_code ec, size_t) { failed = ec; });
          });
        });
      });
  io.run();
  if (failed) throw boost::system::system_error(failed, "https " + target);
  HttpResult r;
  r.status = res.result_int();
  r.body = nlohmann::json::parse(res.body(), nullptr, false);
  if (r.body.is_discarded()) r.body = nullptr;
  return r;
}

}  // namespace testclient
