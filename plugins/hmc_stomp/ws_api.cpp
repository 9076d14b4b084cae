#include "ws_api.hpp"

#include <sluice/tls.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fstream>
#include <sstream>

namespace hmc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

WsApi::WsApi(asio::io_context& io, asio::ssl::context& tls, const Options& o)
    : io_(io), tls_(tls), o_(o) {}

asio::awaitable<ApiResponse> WsApi::request(http::verb verb, std::string target,
                                            std::optional<nlohmann::json> body) {
  const std::string where = std::string(http::to_string(verb)) + " " + target;
  beast::ssl_stream<beast::tcp_stream> stream(io_, tls_);
  try {
    sluice::tls::prepare_client(stream.native_handle(), o_.host, o_.tls.verify);
  } catch (const std::exception& e) {
    throw ApiError(where + ": " + e.what());
  }
  http::response<http::string_body> res;
  try {
    tcp::resolver resolver(io_);
    beast::get_lowest_layer(stream).expires_after(o_.request_timeout);
    auto endpoints =
        co_await resolver.async_resolve(o_.host, std::to_string(o_.api_port), use_awaitable);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, use_awaitable);
    beast::get_lowest_layer(stream).expires_after(o_.request_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::client, use_awaitable);

    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, o_.host);
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, "sluice-hmc_stomp");
    if (!session_.empty()) req.set("X-API-Session", session_);
    if (body) {
      req.set(http::field::content_type, "application/json");
      req.body() = body->dump();
    }
    req.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(o_.request_timeout);
    co_await http::async_write(stream, req, use_awaitable);
    beast::flat_buffer buf;
    co_await http::async_read(stream, buf, res, use_awaitable);
  } catch (const boost::system::system_error& e) {
    std::string m =
        e.code() == beast::error::timeout
            ? "timed out (request_timeout " + std::to_string(o_.request_timeout.count()) + " ms)"
            : e.code().message();
    throw ApiError("WS API " + where + " on " + o_.host + ":" + std::to_string(o_.api_port) + ": " +
                   m);
  }
  // Closing politely is not worth a wait: the answer is complete.
  beast::get_lowest_layer(stream).socket().close();

  ApiResponse out;
  out.status = res.result_int();
  if (!res.body().empty()) {
    out.body = nlohmann::json::parse(res.body(), nullptr, false);
    if (out.body.is_discarded()) out.body = nullptr;
  }
  if (out.status >= 400) {
    int reason = 0;
    std::string message;
    if (out.body.is_object()) {
      reason = out.body.value("reason", 0);
      message = out.body.value("message", std::string());
    }
    throw ApiError("WS API " + where + ": HTTP " + std::to_string(out.status) +
                       (reason ? " reason " + std::to_string(reason) : "") +
                       (message.empty() ? "" : ": " + message),
                   out.status, reason);
  }
  co_return out;
}

std::string WsApi::read_mfa_code() const {
  if (!o_.mfa_code_file.empty()) {
    std::ifstream in(o_.mfa_code_file);
    if (!in) throw ApiError("cannot read mfa_code_file " + o_.mfa_code_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string code = ss.str();
    code.erase(0, code.find_first_not_of(" \t\r\n"));
    code.erase(code.find_last_not_of(" \t\r\n") + 1);
    return code;
  }
  return o_.mfa_code;
}

asio::awaitable<void> WsApi::logon() {
  session_.clear();
  credential_.clear();
  nlohmann::json body = {{"userid", o_.userid}, {"password", o_.password}};
  if (std::string code = read_mfa_code(); !code.empty()) body["mfa-code"] = code;
  std::string target = "/api/sessions";
  ApiResponse r = co_await request(http::verb::post, target, std::move(body));
  if (!r.body.is_object() || !r.body.contains("api-session"))
    throw ApiError("WS API logon: answer without api-session");
  session_ = r.body.value("api-session", std::string());
  credential_ = r.body.value("session-credential", std::string());
  if (o_.mfa && credential_.empty())
    throw ApiError("WS API logon: answer without session-credential (needed with mfa)");
}

asio::awaitable<void> WsApi::logoff() {
  if (session_.empty()) co_return;
  try {
    std::string target = "/api/sessions/this-session";
    co_await request(http::verb::delete_, target, std::nullopt);
  } catch (const ApiError&) {
    // The session may be gone already; logging off is best effort.
  }
  session_.clear();
  credential_.clear();
}

asio::awaitable<nlohmann::json> WsApi::notification_topics() {
  std::string target = "/api/sessions/operations/get-notification-topics";
  ApiResponse r = co_await request(http::verb::get, target, std::nullopt);
  if (!r.body.is_object() || !r.body.contains("topics") || !r.body["topics"].is_array())
    throw ApiError("WS API get-notification-topics: answer without a topics list");
  co_return r.body["topics"];
}

std::vector<std::string> WsApi::topics_of_types(const nlohmann::json& topics) const {
  std::vector<std::string> out;
  for (const auto& t : topics) {
    if (!t.is_object()) continue;
    const std::string type = t.value("topic-type", std::string());
    const std::string name = t.value("topic-name", std::string());
    for (const auto& wanted : o_.topic_types)
      if (wanted == type && !name.empty()) out.push_back(name);
  }
  return out;
}

// Finds the partition or LPAR by name and opens its OS message channel.
asio::awaitable<std::string> WsApi::open_channel(const OsChannel& ch) {
  // GCC 12 mishandles string literals inside co_await expressions: targets are built first.
  std::string target = std::string("/api/cpcs?name=") + url_encode(ch.cpc);
  ApiResponse cpcs = co_await request(http::verb::get, target, std::nullopt);
  std::string cpc_uri;
  if (cpcs.body.is_object() && cpcs.body["cpcs"].is_array())
    for (const auto& c : cpcs.body["cpcs"])
      if (c.value("name", std::string()) == ch.cpc) cpc_uri = c.value("object-uri", std::string());
  if (cpc_uri.empty()) throw ApiError("CPC '" + ch.cpc + "' not found");

  const bool dpm = !ch.partition.empty();
  const std::string kind = dpm ? "partitions" : "logical-partitions";
  const std::string& name = dpm ? ch.partition : ch.lpar;
  target = cpc_uri + "/" + kind + "?name=" + url_encode(name);
  ApiResponse list = co_await request(http::verb::get, target, std::nullopt);
  std::string uri;
  if (list.body.is_object() && list.body[kind].is_array())
    for (const auto& p : list.body[kind])
      if (p.value("name", std::string()) == name) uri = p.value("object-uri", std::string());
  if (uri.empty())
    throw ApiError(std::string(dpm ? "partition" : "LPAR") + " '" + name + "' not found on CPC '" +
                   ch.cpc + "'");

  bool already_open = false;
  ApiResponse r;
  try {
    target = uri + "/operations/open-os-message-channel";
    nlohmann::json body = {{"include-refresh-messages", o_.include_refresh_messages}};
    r = co_await request(http::verb::post, target, std::move(body));
  } catch (const ApiError& e) {
    if (e.status == 409 && e.reason == 332)
      throw ApiError(
          "the operating system does not support OS message channels (HTTP 409 reason 332)", 409,
          332);
    if (!(e.status == 409 && e.reason == 331)) throw;
    already_open = true;
  }
  if (!already_open) {
    std::string topic = r.body.is_object() ? r.body.value("topic-name", std::string()) : "";
    if (topic.empty()) throw ApiError("open-os-message-channel: answer without topic-name");
    co_return topic;
  }
  // 331: already open for this session; its topic is listed with our object-uri.
  nlohmann::json topics = co_await notification_topics();
  for (const auto& t : topics)
    if (t.value("topic-type", std::string()) == "os-message-notification" &&
        t.value("object-uri", std::string()) == uri)
      co_return t.value("topic-name", std::string());
  throw ApiError("OS message channel already open (409 reason 331) but its topic for " + uri +
                 " is not in get-notification-topics");
}

asio::awaitable<Resolution> WsApi::resolve() {
  Resolution res;
  if (!o_.topic_types.empty()) res.type_topics = topics_of_types(co_await notification_topics());
  for (const auto& ch : o_.os_message_channels) {
    try {
      res.channel_topics.push_back(co_await open_channel(ch));
    } catch (const ApiError& e) {
      if (e.session_gone()) throw;  // the whole resolution starts over after a logon
      if (e.status == 0 && std::string(e.what()).rfind("WS API", 0) == 0) throw;  // transport
      res.channel_errors[ch.label()] = e.what();
    }
  }
  co_return res;
}

}  // namespace hmc
