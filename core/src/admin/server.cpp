// The admin server in the shape of Beast's asynchronous HTTP server example: a listener that
// accepts, one Session per connection that reads a request, answers it and reads the next
// (keep-alive), a timeout on every read and write, size limits on the header and the body, a
// cap on connections. One io thread; the only work done on it is formatting counters.
#include "server.hpp"

#include "exposition.hpp"

#include <sluice/io_thread.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace sluice::core::admin {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;

unsigned reload_status(const std::string& result) {
  if (result == "applied" || result == "unchanged") return 200;
  if (result == "refused") return 409;  // the file is invalid; the running pipeline stays
  if (result == "stopping") return 503;
  if (result == "pending") return 504;  // still reloading when the wait ended
  return 500;                           // restored, nothing_runs
}

bool bearer_matches(std::string_view header, std::string_view token) {
  constexpr std::string_view kScheme = "Bearer ";
  // Every byte of the expected value is compared whatever the header holds: the time taken
  // says nothing about how much of the token was right.
  const std::string expected = std::string(kScheme) + std::string(token);
  unsigned char diff = header.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i] ^ (i < header.size() ? header[i] : 0));
  return diff == 0 && !token.empty();
}

struct AdminServer::Impl {
  AdminConfig config;
  Hooks hooks;
  Logger& log;
  std::chrono::steady_clock::time_point started;
  Limits limits;
  // io thread only. Declared before `io`: the handlers that never ran (and the sessions they
  // hold) are destroyed with it, and a session's destructor counts itself out here.
  uint32_t sessions = 0;
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  bool running = false;

  Impl(AdminConfig c, Hooks h, Logger& l, std::chrono::steady_clock::time_point s, Limits lim)
      : config(std::move(c)), hooks(std::move(h)), log(l), started(s), limits(lim) {}

  void accept();
};

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response answer(const Request& req, http::status status, std::string body,
                const char* type = "application/json") {
  Response res{status, req.version()};
  res.set(http::field::server, "sluice");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response answer_json(const Request& req, http::status status, const json& body) {
  return answer(req, status, body.dump() + "\n");
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, AdminServer::Impl* server)
      : stream_(std::move(socket)), reload_timer_(stream_.get_executor()), server_(server) {
    ++server_->sessions;
  }
  ~Session() { --server_->sessions; }

  void run() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(server_->limits.header_bytes);
    parser_->body_limit(server_->limits.body_bytes);
    stream_.expires_after(server_->limits.io_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::header_limit)
      return refuse(http::status::request_header_fields_too_large, "request header too large");
    if (ec == http::error::body_limit)
      return refuse(http::status::payload_too_large, "request body too large");
    if (ec) return close();  // end of stream, timeout, a malformed request
    req_ = parser_->release();
    try {
      handle();
    } catch (const std::exception& e) {
      server_->log.error("admin", std::string("request failed: ") + e.what());
      write(answer_json(req_, http::status::internal_server_error, {{"error", e.what()}}));
    }
  }

  // A request that cannot be read to its end: answered, then the connection is closed.
  void refuse(http::status status, const char* why) {
    req_ = {};
    req_.keep_alive(false);
    write(answer_json(req_, status, {{"error", why}}));
  }

  void handle() {
    const auto& config = server_->config;
    if (!config.token.empty() &&
        !bearer_matches(header(http::field::authorization), config.token)) {
      Response res = answer_json(req_, http::status::unauthorized,
                                 {{"error", "missing or wrong bearer token"}});
      res.set(http::field::www_authenticate, "Bearer");
      return write(std::move(res));
    }
    const std::string_view target(req_.target().data(), req_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = req_.method() == http::verb::get;
    const bool post = req_.method() == http::verb::post;
    if (path == "/metrics") return get ? metrics() : wrong_method("GET");
    if (path == "/healthz") return get ? healthz() : wrong_method("GET");
    if (path == "/readyz") return get ? readyz() : wrong_method("GET");
    if (path == "/reload") return post ? reload() : wrong_method("POST");
    write(answer_json(req_, http::status::not_found,
                      {{"error", "no such path; try /metrics, /healthz, /readyz, POST /reload"}}));
  }

  std::string_view header(http::field f) const {
    const auto v = req_[f];
    return {v.data(), v.size()};
  }

  void wrong_method(const char* allowed) {
    Response res = answer_json(req_, http::status::method_not_allowed,
                               {{"error", std::string("method not allowed; use ") + allowed}});
    res.set(http::field::allow, allowed);
    write(std::move(res));
  }

  void metrics() {
    const std::optional<Metrics> m = server_->hooks.metrics();
    write(answer(req_, http::status::ok,
                 prometheus_text(m ? &*m : nullptr, process_info(server_->started)), kContentType));
  }

  void healthz() {
    const ProcessInfo p = process_info(server_->started);
    write(answer_json(
        req_, http::status::ok,
        {{"status", "ok"}, {"uptime_seconds", p.uptime_seconds}, {"version", p.version}}));
  }

  // Ready: a pipeline runs, every source reported `up` last, and no sink reported `down`.
  void readyz() {
    const std::optional<Metrics> m = server_->hooks.metrics();
    if (!m)
      return write(answer_json(
          req_, http::status::service_unavailable,
          {{"ready", false},
           {"not_ready",
            json::array({{{"kind", "pipeline"},
                          {"name", ""},
                          {"state", ""},
                          {"detail", "no pipeline runs (a reload is restarting it)"}}})}}));
    json not_ready = json::array();
    auto entry = [](const char* kind, const auto& item, std::string why) {
      return json{{"kind", kind},
                  {"name", item.name},
                  {"plugin", item.plugin},
                  {"state", item.state},
                  {"detail", item.state_detail.empty() ? why : item.state_detail}};
    };
    for (const auto& s : m->sources)
      if (s.state != "up")
        not_ready.push_back(
            entry("source", s, s.state.empty() ? "no state reported yet" : "the source is not up"));
    for (const auto& s : m->sinks)
      if (s.state == "down") not_ready.push_back(entry("sink", s, "the sink is down"));
    const bool ready = not_ready.empty();
    write(answer_json(req_, ready ? http::status::ok : http::status::service_unavailable,
                      {{"ready", ready}, {"not_ready", std::move(not_ready)}}));
  }

  // Handed to the main thread; answered when it reports the outcome or when the wait ends.
  void reload() {
    answered_ = false;
    std::weak_ptr<Session> weak = shared_from_this();
    net::io_context& io = server_->io;
    server_->hooks.reload([weak, &io](ReloadReply reply) {
      net::post(io, [weak, reply = std::move(reply)] {
        if (auto self = weak.lock()) self->reloaded(reply);
      });
    });
    reload_timer_.expires_after(server_->limits.reload_timeout);
    reload_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // answered
      self->reloaded(
          {"pending", "the reload did not end in time; it goes on (see the log for its outcome)"});
    });
  }

  void reloaded(const ReloadReply& reply) {
    if (std::exchange(answered_, true)) return;
    reload_timer_.cancel();
    write(answer_json(req_, static_cast<http::status>(reload_status(reply.result)),
                      {{"result", reply.result}, {"message", reply.message}}));
  }

  void write(Response res) {
    res_ = std::move(res);
    stream_.expires_after(server_->limits.io_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec || !res_.keep_alive()) return close();
    read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request req_;
  Response res_;
  net::steady_timer reload_timer_;
  bool answered_ = true;
  AdminServer::Impl* server_;  // outlives every session (they go with its io_context)
};

}  // namespace

void AdminServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(io),
                        [self = this](beast::error_code ec, tcp::socket socket) {
                          if (ec == net::error::operation_aborted || !self->acceptor.is_open())
                            return;
                          if (!ec) {
                            if (self->sessions >= self->limits.connections) {
                              beast::error_code ignored;
                              socket.close(ignored);  // at the cap: a scraper retries later
                            } else {
                              std::make_shared<Session>(std::move(socket), self)->run();
                            }
                          }
                          self->accept();
                        });
}

AdminServer::AdminServer(AdminConfig config, Hooks hooks, Logger& log,
                         std::chrono::steady_clock::time_point started, Limits limits)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(hooks), log, started, limits)) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  Impl& s = *impl_;
  const std::string where =
      (s.config.host.find(':') != std::string::npos ? "[" + s.config.host + "]" : s.config.host) +
      ":" + std::to_string(s.config.port);
  beast::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address(s.config.host, ec), s.config.port);
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    throw std::runtime_error("admin server: cannot " + std::string(what) + " " + where + ": " +
                             ec.message());
  };
  if (ec) fail("use the address");
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) fail("open a socket for");
  s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (endpoint.address().is_v6()) s.acceptor.set_option(net::ip::v6_only(true), ec);
  s.acceptor.bind(endpoint, ec);
  if (ec) fail("listen on");
  s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail("listen on");
  s.accept();
  s.running = true;
  s.thread = std::thread([impl = impl_.get()] {
    run_io_context(impl->io, [impl](const std::string& what) {
      impl->log.error("admin", "handler failed: " + what);
    });
  });
  s.log.info("admin", "serving /metrics, /healthz, /readyz and POST /reload on http://" + where +
                          (s.config.token.empty() ? "" : " (bearer token required)"));
}

void AdminServer::stop() {
  Impl& s = *impl_;
  if (!std::exchange(s.running, false)) return;
  s.io.stop();
  if (s.thread.joinable()) s.thread.join();
  beast::error_code ignored;
  s.acceptor.close(ignored);
  // Handlers that never ran hold sessions; they go with the io_context, owned by the Impl.
}

uint16_t AdminServer::port() const {
  beast::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? impl_->config.port : endpoint.port();
}

}  // namespace sluice::core::admin
