// A tiny HMC Web Services API over HTTPS for tests, on 127.0.0.1 port 0: logon, logoff,
// get-notification-topics, CPC / partition / LPAR lists by name, open-os-message-channel with
// the 409 reasons 331 and 332, and a switch that expires every session (403 reason 5).
#pragma once

#include <sluice/tls.hpp>

#include <boost/asio.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace test {

namespace http = boost::beast::http;

class WsApiServer {
 public:
  struct Call {
    std::string method;
    std::string target;
    std::string session;  // X-API-Session
    nlohmann::json body;
  };

  explicit WsApiServer(const sluice::tls::CertificatePem& pem)
      : ctx_(sluice::tls::make_server_context(pem)),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    boost::asio::co_spawn(io_, accept_loop(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WsApiServer() {
    io_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  void expire_sessions() {
    std::lock_guard l(m_);
    valid_.clear();
  }
  void refuse_logon(bool r) {
    std::lock_guard l(m_);
    refuse_logon_ = r;
  }
  std::vector<Call> calls() const {
    std::lock_guard l(m_);
    return calls_;
  }
  int count(const std::string& method, const std::string& target) const {
    std::lock_guard l(m_);
    int n = 0;
    for (const auto& c : calls_)
      n += c.method == method && c.target == target;
    return n;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  boost::asio::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket s = co_await acceptor_.async_accept(boost::asio::use_awaitable);
      boost::asio::co_spawn(io_, serve(std::move(s)), boost::asio::detached);
    }
  }

  boost::asio::awaitable<void> serve(tcp::socket s) {
    try {
      boost::beast::ssl_stream<tcp::socket> stream(std::move(s), ctx_);
      co_await stream.async_handshake(boost::asio::ssl::stream_base::server,
                                      boost::asio::use_awaitable);
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      co_await http::async_read(stream, buf, req, boost::asio::use_awaitable);
      http::response<http::string_body> res = handle(req);
      res.prepare_payload();
      co_await http::async_write(stream, res, boost::asio::use_awaitable);
    } catch (...) {
    }
  }

  static http::response<http::string_body> reply(unsigned status, const nlohmann::json& body) {
    http::response<http::string_body> r(static_cast<http::status>(status), 11);
    r.set(http::field::content_type, "application/json");
    if (!body.is_null()) r.body() = body.dump();
    return r;
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    std::lock_guard l(m_);
    Call call{std::string(req.method_string()), std::string(req.target()),
              std::string(req["X-API-Session"]),
              nlohmann::json::parse(req.body().empty() ? "null" : req.body(), nullptr, false)};
    calls_.push_back(call);
    const std::string& t = call.target;
    if (call.method == "POST" && t == "/api/sessions") {
      if (refuse_logon_ || call.body.value("password", "") != "secret")
        return reply(403, {{"http-status", 403}, {"reason", 0}, {"message", "Logon failed"}});
      const std::string id = "session-" + std::to_string(++sessions_);
      valid_.insert(id);
      return reply(200,
                   {{"api-session", id},
                    {"session-credential", "cred-" + std::to_string(sessions_)},
                    {"notification-topic", "ensadmin." + std::to_string(sessions_)},
                    {"job-notification-topic", "ensadmin." + std::to_string(sessions_) + "job"},
                    {"api-major-version", 4},
                    {"api-minor-version", 10}});
    }
    if (!valid_.count(call.session))
      return reply(403, {{"http-status", 403}, {"reason", 5}, {"message", "invalid session"}});
    const std::string n = call.session.substr(8);  // the session number
    if (call.method == "DELETE" && t == "/api/sessions/this-session") {
      valid_.erase(call.session);
      return reply(204, nullptr);
    }
    if (t == "/api/sessions/operations/get-notification-topics") {
      nlohmann::json topics = nlohmann::json::array();
      topics.push_back({{"topic-name", "ensadmin." + n}, {"topic-type", "object-notification"}});
      topics.push_back(
          {{"topic-name", "ensadmin." + n + "job"}, {"topic-type", "job-notification"}});
      topics.push_back(
          {{"topic-name", "ensadmin." + n + "audit"}, {"topic-type", "audit-notification"}});
      // The channel of p2 is open already in every session (so opening it answers 331).
      topics.push_back({{"topic-name", "osm.p2." + n},
                        {"topic-type", "os-message-notification"},
                        {"object-uri", "/api/partitions/p2"}});
      return reply(200, {{"topics", topics}});
    }
    if (t == "/api/cpcs?name=CPC1")
      return reply(200, {{"cpcs", {{{"name", "CPC1"}, {"object-uri", "/api/cpcs/c1"}}}}});
    if (t.rfind("/api/cpcs/c1/partitions?name=", 0) == 0) {
      const std::string name = t.substr(t.find('=') + 1);
      const std::string id = name == "LINUX1"   ? "p1"
                             : name == "LINUX2" ? "p2"
                             : name == "OLDOS"  ? "p3"
                                                : "";
      if (id.empty()) return reply(200, {{"partitions", nlohmann::json::array()}});
      return reply(200,
                   {{"partitions", {{{"name", name}, {"object-uri", "/api/partitions/" + id}}}}});
    }
    if (call.method == "POST" && t == "/api/partitions/p1/operations/open-os-message-channel")
      return reply(200, {{"topic-name", "osm.p1." + n}});
    if (call.method == "POST" && t == "/api/partitions/p2/operations/open-os-message-channel")
      return reply(409, {{"http-status", 409}, {"reason", 331}, {"message", "already open"}});
    if (call.method == "POST" && t == "/api/partitions/p3/operations/open-os-message-channel")
      return reply(409, {{"http-status", 409}, {"reason", 332}, {"message", "not supported"}});
    return reply(404, {{"http-status", 404}, {"reason", 1}, {"message", "no such thing"}});
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex m_;
  std::vector<Call> calls_;
  std::set<std::string> valid_;
  int sessions_ = 0;
  bool refuse_logon_ = false;
};

}  // namespace test
