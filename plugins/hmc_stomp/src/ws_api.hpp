// HMC Web Services API client (HTTPS: the SDK's net::Stream, Boost.Beast requests and the SDK's
// bounded response reader sluice/http_read.hpp): log on, resolve notification topics, open OS
// message channels, log off. Runs as coroutines on the instance's strand; one TLS connection per
// request (the calls are few: at start and after an outage), each step under request_timeout.
#pragma once

#include "inventory.hpp"
#include "options.hpp"
#include "ws_api_answers.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http/verb.hpp>

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::hmc {

struct ApiResponse {
  unsigned status = 0;
  nlohmann::json body;  // null when the response has no JSON body
};

struct Resolution {
  std::vector<std::string> type_topics;               // from topic_types
  std::vector<std::string> channel_topics;            // one per OS message channel opened
  std::map<std::string, std::string> channel_errors;  // channel label -> why it is missing
  std::map<std::string, std::string> channel_uris;    // channel topic -> partition/LPAR URI
};

class WsApi {
 public:
  // `ex`: the instance's strand (every socket and timer of a request runs its handlers there).
  WsApi(boost::asio::any_io_executor ex, boost::asio::ssl::context& tls, const Options& o);

  bool logged_on() const { return !session_.empty(); }
  const std::string& session_id() const { return session_; }
  const std::string& session_credential() const { return credential_; }
  // Drops the session without logging off (its HMC is gone, or the source moved to another).
  void forget_session() {
    session_.clear();
    credential_.clear();
  }

  boost::asio::awaitable<void> logon();
  boost::asio::awaitable<void> logoff();
  // get-notification-topics (also the cheap "is my session alive?" check).
  boost::asio::awaitable<nlohmann::json> notification_topics();
  // topic_types and os_message_channels → topic names.
  boost::asio::awaitable<Resolution> resolve();
  // The names of the CPCs, partitions and LPARs (attributes cpc and partition): List CPC
  // Objects, then per CPC List Partitions of a CPC (DPM) or List Logical Partitions of CPC
  // (classic; both when the CPC list does not say dpm-enabled). Adds to `inv`; returns the
  // number of requests made. A CPC whose member list fails is skipped (ApiError with a
  // session_gone() status is thrown).
  boost::asio::awaitable<size_t> load_inventory(Inventory& inv);
  // One object's names (Get CPC/Partition/Logical Partition Properties: name, parent; the
  // parent CPC too when `inv` does not know it). Throws ApiError.
  boost::asio::awaitable<void> resolve_object(Inventory& inv, std::string uri);
  // Topic names of the configured topic_types, from a get-notification-topics answer.
  std::vector<std::string> topics_of_types(const nlohmann::json& topics) const;

  // Told one line per request when set: method, path, status (or failure) and duration, never a
  // header or a body (they carry the session and the password).
  std::function<void(const std::string&)> on_request;

  // One request; throws ApiError on HTTP >= 400 or a transport failure.
  boost::asio::awaitable<ApiResponse> request(boost::beast::http::verb verb, std::string target,
                                              std::optional<nlohmann::json> body);

 private:
  boost::asio::awaitable<std::string> open_channel(const OsChannel& ch, std::string& uri);
  std::string read_mfa_code() const;

  boost::asio::any_io_executor ex_;
  boost::asio::ssl::context& tls_;
  const Options& o_;
  std::string session_;
  std::string credential_;
};

}  // namespace sluice::hmc
