// Where the admin server listens and a small Beast HTTP client for it. See admin_client.hpp.
#include "admin_client.hpp"

#include "cli.hpp"

#include <sluice/core/plugin_host.hpp>
#include <sluice/http_read.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <limits>
#include <optional>

namespace sluice::cli {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string AdminTarget::url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

int admin_target(const std::string& pipeline_path, const char* cmd, AdminTarget* out) {
  core::PluginHost plugins(core::executable_dir());
  Loaded loaded = load_and_report(pipeline_path, plugins);
  if (!loaded.result.ok()) {
    fprintf(stderr, "sluice %s: %s is invalid (see `sluice validate`)\n", cmd,
            pipeline_path.c_str());
    return kInvalid;
  }
  const core::AdminConfig& admin = loaded.result.pipeline->admin;
  if (!admin.enabled) {
    fprintf(stderr,
            "sluice %s: %s has no admin block; add `admin: {listen: 127.0.0.1:PORT}` and "
            "restart `sluice run` (docs/operations.md)\n",
            cmd, pipeline_path.c_str());
    return kInvalid;
  }
  out->host = admin.host == "0.0.0.0" ? "127.0.0.1" : admin.host == "::" ? "::1" : admin.host;
  out->port = admin.port;
  out->token = admin.token;
  return kOk;
}

namespace {

// A /status answer of a few hundred sources is a few hundred KiB; the limit only guards against
// a peer on the admin port that is not sluice.
constexpr std::uint64_t kMaxReplyBody = 64u << 20;

http::request<http::empty_body> request(const AdminTarget& to, const std::string& target) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, to.host + ":" + std::to_string(to.port));
  req.set(http::field::user_agent, "sluice");
  if (!to.token.empty()) req.set(http::field::authorization, "Bearer " + to.token);
  return req;
}

std::string why(const AdminTarget& to, const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "no answer from " + to.url() + " in time";
  return "cannot reach " + to.url() + ": " + ec.message();
}

std::optional<tcp::endpoint> endpoint(const AdminTarget& to, HttpReply& reply) {
  beast::error_code ec;
  const auto address = net::ip::make_address(to.host, ec);
  if (ec) {
    reply.error = "bad admin address " + to.host + ": " + ec.message();
    return std::nullopt;
  }
  return tcp::endpoint(address, to.port);
}

}  // namespace

HttpReply http_get(const AdminTarget& to, const std::string& target,
                   std::chrono::milliseconds timeout) {
  HttpReply reply;
  const auto ep = endpoint(to, reply);
  if (!ep) return reply;
  net::io_context io;
  beast::tcp_stream stream(io);
  auto req = request(to, target);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  beast::error_code result;
  stream.expires_after(timeout);  // the whole exchange
  stream.async_connect(*ep, [&](beast::error_code ec) {
    if (ec) return void(result = ec);
    http::async_write(stream, req, [&](beast::error_code ec, size_t) {
      if (ec) return void(result = ec);
      sluice::http::async_read_response(stream, buffer, parser, {kMaxReplyBody},
                                        [&](beast::error_code ec, size_t) { result = ec; });
    });
  });
  io.run();
  if (result) {
    reply.error = why(to, result);
    return reply;
  }
  reply.status = parser.get().result_int();
  reply.body = std::move(parser.get().body());
  return reply;
}

HttpReply http_stream(const AdminTarget& to, const std::string& target,
                      std::chrono::milliseconds connect_timeout,
                      const std::function<void(std::string_view)>& on_body) {
  HttpReply reply;
  const auto ep = endpoint(to, reply);
  if (!ep) return reply;
  net::io_context io;
  beast::tcp_stream stream(io);
  auto req = request(to, target);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // a stream has no end
  bool streaming = false;
  // A chunk's body goes to on_body as it comes; it is not kept.
  auto on_chunk = [&](uint64_t, beast::string_view body, beast::error_code&) -> size_t {
    if (streaming) on_body(std::string_view(body.data(), body.size()));
    return body.size();
  };
  parser.on_chunk_body(on_chunk);
  beast::error_code result;
  std::function<void()> read_more = [&] {
    http::async_read_some(stream, buffer, parser, [&](beast::error_code ec, size_t) {
      if (ec) return void(result = ec);
      if (!parser.chunked() && streaming) {  // HTTP/1.0 style: the body until the end
        auto& body = parser.get().body();
        if (!body.empty()) on_body(body);
        body.clear();
      }
      if (!parser.is_done()) read_more();
    });
  };
  stream.expires_after(connect_timeout);
  stream.async_connect(*ep, [&](beast::error_code ec) {
    if (ec) return void(result = ec);
    http::async_write(stream, req, [&](beast::error_code ec, size_t) {
      if (ec) return void(result = ec);
      http::async_read_header(stream, buffer, parser, [&](beast::error_code ec, size_t) {
        if (ec) return void(result = ec);
        streaming = parser.get().result_int() == 200;
        if (!streaming)  // an error: its body, within the same time
          return http::async_read(stream, buffer, parser,
                                  [&](beast::error_code ec, size_t) { result = ec; });
        stream.expires_never();
        read_more();
      });
    });
  });
  io.run();
  reply.status = parser.is_header_done() ? parser.get().result_int() : 0;
  if (!streaming) reply.body = parser.get().body();
  if (result && result != http::error::end_of_stream) reply.error = why(to, result);
  return reply;
}

}  // namespace sluice::cli
