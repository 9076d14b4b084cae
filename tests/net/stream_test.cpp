// sluice/net/stream.hpp: one client stream, plain TCP or TLS (verified), upgraded in place
// (STARTTLS), on loopback against a small echo server.
#include <sluice/net/io_pool.hpp>
#include <sluice/net/stream.hpp>

#include <boost/asio.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <optional>

#include <unistd.h>

using namespace std::chrono_literals;
using namespace sluice::net;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

// Accepts one connection; `starttls`: reads a line in plain text, answers "GO\n", then speaks
// TLS; `tls`: TLS from the start. Then echoes one line.
class EchoServer {
 public:
  enum class Mode { plain, tls, starttls };
  EchoServer(Mode mode, std::vector<std::string> names = {"localhost", "127.0.0.1"})
      : mode_(mode),
        pem_(sluice::tls::generate_self_signed(names)),
        ctx_(sluice::tls::make_server_context(pem_)),
        acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      try {
        serve();
      } catch (const std::exception& e) {
        error_ = e.what();
      }
    });
  }
  ~EchoServer() {
    acceptor_.close();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  const sluice::tls::CertificatePem& pem() const { return pem_; }
  std::string error_;

 private:
  void serve() {
    ssl::stream<asio::ip::tcp::socket> s(io_, ctx_);
    acceptor_.accept(s.next_layer());
    asio::streambuf buf;
    if (mode_ == Mode::plain) {
      asio::read_until(s.next_layer(), buf, '\n');
      asio::write(s.next_layer(), buf);
      return;
    }
    if (mode_ == Mode::starttls) {
      asio::read_until(s.next_layer(), buf, '\n');
      buf.consume(buf.size());
      asio::write(s.next_layer(), asio::buffer(std::string("GO\n")));
    }
    boost::system::error_code ec;
    s.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    asio::read_until(s, buf, '\n');
    asio::write(s, buf);
  }

  Mode mode_;
  sluice::tls::CertificatePem pem_;
  asio::io_context io_;
  ssl::context ctx_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

// Runs `f` on the strand and waits for the promise it fulfils.
template <class T, class F>
T on(Strand& strand, F f) {
  auto p = std::make_shared<std::promise<T>>();
  auto fut = p->get_future();
  strand.post([p, f]() mutable { f(p); });
  REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  return fut.get();
}

std::string temp_ca(const std::string& pem) {
  std::string path = std::filesystem::temp_directory_path() /
                     ("sluice-net-ca-" + std::to_string(getpid()) + ".pem");
  std::ofstream(path) << pem;
  return path;
}

struct Client {
  std::shared_ptr<IoPool> pool = std::make_shared<IoPool>(2);
  Strand strand{pool, nullptr};
  std::optional<ssl::context> ctx;
  std::unique_ptr<Stream> stream;
  std::array<char, 64> buf{};
  std::string line;

  // `ca`: verify the peer against this CA (PEM); "-": against the default store.
  std::string connect(uint16_t port, bool tls_capable, const std::string& ca = "") {
    if (tls_capable) ctx.emplace(ssl::context::tls_client);
    if (!ca.empty()) {
      ctx->set_verify_mode(ssl::verify_peer);
      if (ca != "-") ctx->load_verify_file(temp_ca(ca));
    }
    stream = std::make_unique<Stream>(strand.executor(), ctx ? &*ctx : nullptr);
    return on<std::string>(strand, [this, port](auto p) {
      stream->async_connect(
          "127.0.0.1", port,
          [p](const boost::system::error_code&, std::string what) { p->set_value(what); });
    });
  }
  std::string handshake(const std::string& host, bool verify) {
    return on<std::string>(strand, [this, host, verify](auto p) {
      stream->async_handshake(
          host, verify,
          [p](const boost::system::error_code&, std::string what) { p->set_value(what); });
    });
  }
  void write(const std::string& text) {
    auto data = std::make_shared<std::string>(text);
    on<bool>(strand, [this, data](auto p) {
      stream->async_write(asio::buffer(*data), [p, data](const boost::system::error_code& ec,
                                                         size_t) { p->set_value(!ec); });
    });
  }
  std::string read_line() {
    return on<std::string>(strand, [this](auto p) { read_more(p); });
  }
  void read_more(std::shared_ptr<std::promise<std::string>> p) {
    stream->async_read_some(asio::buffer(buf),
                            [this, p](const boost::system::error_code& ec, size_t n) {
                              if (ec) return p->set_value("error: " + describe(ec));
                              line.append(buf.data(), n);
                              if (line.find('\n') != std::string::npos) {
                                std::string l = line.substr(0, line.find('\n') + 1);
                                line.erase(0, l.size());
                                return p->set_value(l);
                              }
                              read_more(p);
                            });
  }
  ~Client() {
    if (stream)
      on<bool>(strand, [this](auto p) {
        stream->close();
        p->set_value(true);
      });
    strand.close();
  }
};

}  // namespace

TEST_CASE("Stream: plain TCP connect, write, read") {
  EchoServer server(EchoServer::Mode::plain);
  Client c;
  CHECK(c.connect(server.port(), false) == "");
  CHECK_FALSE(c.stream->is_tls());
  c.write("hello\n");
  CHECK(c.read_line() == "hello\n");
}

TEST_CASE("Stream: a refused connection says which step failed") {
  uint16_t port;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  Client c;
  const std::string what = c.connect(port, false);
  CHECK(what.rfind("cannot connect to 127.0.0.1:" + std::to_string(port) + ": ", 0) == 0);
}

TEST_CASE("Stream: TLS with verification against the server's CA") {
  EchoServer server(EchoServer::Mode::tls);
  Client c;
  CHECK(c.connect(server.port(), true, server.pem().certificate) == "");
  CHECK(c.handshake("127.0.0.1", true) == "");
  CHECK(c.stream->is_tls());
  c.write("secret\n");
  CHECK(c.read_line() == "secret\n");
}

TEST_CASE("Stream: TLS verification refuses an unknown CA and a name not in the certificate") {
  {
    EchoServer server(EchoServer::Mode::tls);
    Client c;
    // the default store: does not know the certificate
    REQUIRE(c.connect(server.port(), true, "-") == "");
    const std::string what = c.handshake("127.0.0.1", true);
    CHECK(what.find("TLS handshake with 127.0.0.1 failed") == 0);
    CHECK(what.find("certificate verify failed") != std::string::npos);
    CHECK_FALSE(c.stream->is_tls());
  }
  {
    EchoServer server(EchoServer::Mode::tls, {"elsewhere.example"});
    Client c;
    REQUIRE(c.connect(server.port(), true, server.pem().certificate) == "");
    CHECK(c.handshake("127.0.0.1", true).find("failed") != std::string::npos);
  }
}

TEST_CASE("Stream: plain first, then upgraded to TLS on the same socket (STARTTLS)") {
  EchoServer server(EchoServer::Mode::starttls);
  Client c;
  REQUIRE(c.connect(server.port(), true, server.pem().certificate) == "");
  c.write("STARTTLS\n");
  CHECK(c.read_line() == "GO\n");
  CHECK_FALSE(c.stream->is_tls());
  REQUIRE(c.handshake("localhost", true) == "");
  CHECK(c.stream->is_tls());
  c.write("after\n");
  CHECK(c.read_line() == "after\n");
}

TEST_CASE("Stream: a plain-only stream cannot upgrade") {
  EchoServer server(EchoServer::Mode::plain);
  Client c;
  REQUIRE(c.connect(server.port(), false) == "");
  CHECK(c.handshake("localhost", true) == "this stream has no TLS context");
  c.write("x\n");
  CHECK(c.read_line() == "x\n");
}
