#include "ws_api.hpp"

#include <sluice/http_read.hpp>
#include <sluice/net/stream.hpp>
#include <sluice/url.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <fstream>
#include <sstream>

namespace sluice::hmc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using asio::use_awaitable;

WsApi::WsApi(asio::any_io_executor ex, asio::ssl::context& tls, const Options& o)
    : ex_(std::move(ex)), tls_(tls), o_(o) {}

namespace {

// How a net::Stream step (handler(ec, what)) ended.
struct StepResult {
  boost::system::error_code ec;
  std::string what;
};

// A net::Stream step as an awaitable that does not throw: `start(handler)` begins it.
template <class Start>
asio::awaitable<StepResult> step(Start start) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(StepResult)>(
      [start = std::move(start)](auto handler) mutable {
        start([h = std::move(handler)](const boost::system::error_code& ec,
                                       std::string what) mutable {
          std::move(h)(StepResult{ec, std::move(what)});
        });
      },
      use_awaitable);
}

}  // namespace

asio::awaitable<ApiResponse> WsApi::request(http::verb verb, std::string target,
                                            std::optional<nlohmann::json> body) {
  const std::string where = std::string(http::to_string(verb)) + " " + target;
  const auto began = std::chrono::steady_clock::now();
  auto took = [&began] {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - began)
                              .count()) +
           " ms";
  };
  // The kit's one "plain or TLS" stream (TLS at once here); each step is under request_timeout:
  // a timer on the strand that closes the stream when it fires.
  auto stream = std::make_shared<net::Stream>(ex_, &tls_);
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer timer(ex_);
  auto arm = [&] {
    timer.expires_after(o_.request_timeout);
    timer.async_wait([stream, timed_out](const boost::system::error_code& ec) {
      if (ec) return;
      *timed_out = true;
      stream->close();
    });
  };
  auto failed = [&](const std::string& m) {
    const std::string why = *timed_out ? "timed out (request_timeout " +
                                             std::to_string(o_.request_timeout.count()) + " ms)"
                                       : m;
    if (on_request) on_request("WS API " + where + ": failed after " + took() + ": " + why);
    return ApiError("WS API " + where + " on " + o_.host + ":" + std::to_string(o_.api_port) +
                    ": " + why);
  };

  arm();
  StepResult r =
      co_await step([&](auto h) { stream->async_connect(o_.host, o_.api_port, std::move(h)); });
  if (r.ec) throw failed(r.ec.message());
  arm();
  r = co_await step([&](auto h) { stream->async_handshake(o_.host, o_.tls.verify, std::move(h)); });
  // A name that cannot be checked (tls::prepare_client) says so in its own words.
  if (r.ec == asio::error::invalid_argument && !*timed_out) throw ApiError(where + ": " + r.what);
  if (r.ec) throw failed(net::describe(r.ec));

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
  http::response_parser<http::string_body> parser;
  arm();
  try {
    co_await http::async_write(*stream, req, use_awaitable);
    beast::flat_buffer buf;
    co_await sluice::http::async_read_response(
        *stream, buf, parser, sluice::http::ResponseLimits{o_.max_response_bytes}, use_awaitable);
  } catch (const boost::system::system_error& e) {
    throw failed(e.code() == http::error::body_limit
                     ? "response body over max_response_bytes (" +
                           std::to_string(o_.max_response_bytes) + ")"
                     : e.code().message());
  }
  timer.cancel();
  // Closing politely is not worth a wait: the answer is complete.
  stream->close();

  const auto& res = parser.get();
  ApiResponse out;
  out.status = res.result_int();
  if (on_request)
    on_request("WS API " + where + ": " + std::to_string(out.status) + " in " + took());
  if (!res.body().empty()) {
    out.body = nlohmann::json::parse(res.body(), nullptr, false);
    if (out.body.is_discarded()) out.body = nullptr;
  }
  if (out.status >= 400) throw answers::error(where, out.status, out.body);
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
  answers::Logon a = answers::logon(r.body, o_.mfa);
  session_ = std::move(a.session);
  credential_ = std::move(a.credential);
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
  co_return answers::topics(r.body);
}

std::vector<std::string> WsApi::topics_of_types(const nlohmann::json& topics) const {
  return answers::topics_of_types(topics, o_.topic_types);
}

// Finds the partition or LPAR by name and opens its OS message channel.
asio::awaitable<std::string> WsApi::open_channel(const OsChannel& ch, std::string& uri_out) {
  // GCC 12 mishandles string literals inside co_await expressions: targets are built first.
  std::string target = std::string("/api/cpcs?name=") + sluice::url_encode(ch.cpc);
  ApiResponse cpcs = co_await request(http::verb::get, target, std::nullopt);
  const std::string cpc_uri = answers::uri_by_name(cpcs.body, "cpcs", ch.cpc);
  if (cpc_uri.empty()) throw ApiError("CPC '" + ch.cpc + "' not found");

  const bool dpm = !ch.partition.empty();
  const std::string kind = dpm ? "partitions" : "logical-partitions";
  const std::string& name = dpm ? ch.partition : ch.lpar;
  target = cpc_uri + "/" + kind + "?name=" + sluice::url_encode(name);
  ApiResponse list = co_await request(http::verb::get, target, std::nullopt);
  const std::string uri = answers::uri_by_name(list.body, kind, name);
  if (uri.empty())
    throw ApiError(std::string(dpm ? "partition" : "LPAR") + " '" + name + "' not found on CPC '" +
                   ch.cpc + "'");

  uri_out = uri;
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
  if (!already_open) co_return answers::opened_topic(r.body);
  // 331: already open for this session; its topic is listed with our object-uri.
  nlohmann::json topics = co_await notification_topics();
  if (std::string topic = answers::channel_topic(topics, uri); !topic.empty()) co_return topic;
  throw ApiError("OS message channel already open (409 reason 331) but its topic for " + uri +
                 " is not in get-notification-topics");
}

asio::awaitable<Resolution> WsApi::resolve() {
  Resolution res;
  if (!o_.topic_types.empty()) res.type_topics = topics_of_types(co_await notification_topics());
  for (const auto& ch : o_.os_message_channels) {
    try {
      std::string uri;
      res.channel_topics.push_back(co_await open_channel(ch, uri));
      res.channel_uris[res.channel_topics.back()] = uri;
    } catch (const ApiError& e) {
      if (e.session_gone()) throw;  // the whole resolution starts over after a logon
      if (e.status == 0 && std::string(e.what()).rfind("WS API", 0) == 0) throw;  // transport
      res.channel_errors[ch.label()] = e.what();
    }
  }
  co_return res;
}

asio::awaitable<size_t> WsApi::load_inventory(Inventory& inv) {
  std::string target = "/api/cpcs";
  ApiResponse cpcs = co_await request(http::verb::get, target, std::nullopt);
  size_t requests = 1;
  for (const auto& cpc : inv.add_cpcs(cpcs.body)) {
    for (const char* kind : {"partitions", "logical-partitions"}) {
      const bool dpm_list = kind == std::string_view("partitions");
      if (cpc.dpm && *cpc.dpm != dpm_list) continue;
      target = cpc.uri + "/" + kind;
      ++requests;
      try {
        ApiResponse list = co_await request(http::verb::get, target, std::nullopt);
        inv.add_members(list.body, kind, cpc.uri);
      } catch (const ApiError& e) {
        if (e.session_gone()) throw;
        // This CPC's members stay unnamed until resolved one by one; the others go on.
      }
    }
  }
  co_return requests;
}

asio::awaitable<void> WsApi::resolve_object(Inventory& inv, std::string uri) {
  const ObjectKind kind = object_kind(uri);
  if (kind == ObjectKind::other) co_return;
  const uint64_t since = inv.generation();  // a rename notified meanwhile is newer than the GET
  ApiResponse r = co_await request(http::verb::get, uri, std::nullopt);
  const std::string name = answers::string_member(r.body, "name");
  if (name.empty()) throw ApiError("WS API GET " + uri + ": answer without name");
  if (kind == ObjectKind::cpc) {
    inv.set_cpc(uri, name, since);
    co_return;
  }
  const std::string parent = answers::string_member(r.body, "parent");
  if (object_kind(parent) == ObjectKind::cpc && !inv.knows(parent)) {
    ApiResponse c = co_await request(http::verb::get, parent, std::nullopt);
    const std::string cpc_name = answers::string_member(c.body, "name");
    if (!cpc_name.empty()) inv.set_cpc(parent, cpc_name, since);
  }
  inv.set_member(uri, name, object_kind(parent) == ObjectKind::cpc ? parent : std::string(), since);
}

}  // namespace sluice::hmc
