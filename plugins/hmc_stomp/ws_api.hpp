// HMC Web Services API client (HTTPS, Boost.Beast): log on, resolve notification topics, open
// OS message channels, log off. Runs as coroutines on the plugin's io_context; one TLS
// connection per request (the calls are few: at start and after an outage), each step under
// request_timeout.
#pragma once

#include "options.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http/verb.hpp>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hmc {

// A WS API request that failed: HTTP status and the HMC's reason code where there is one.
struct ApiError : std::runtime_error {
  ApiError(const std::string& what, unsigned status = 0, int reason = 0)
      : std::runtime_error(what), status(status), reason(reason) {}
  unsigned status;
  int reason;
  // 401, or 403 reason 4/5 (no or invalid session): log on again.
  bool session_gone() const {
    return status == 401 || (status == 403 && (reason == 4 || reason == 5));
  }
  bool auth_failed() const { return status == 401 || status == 403; }
};

struct ApiResponse {
  unsigned status = 0;
  nlohmann::json body;  // null when the response has no JSON body
};

struct Resolution {
  std::vector<std::string> type_topics;               // from topic_types
  std::vector<std::string> channel_topics;            // one per OS message channel opened
  std::map<std::string, std::string> channel_errors;  // channel label -> why it is missing
};

class WsApi {
 public:
  WsApi(boost::asio::io_context& io, boost::asio::ssl::context& tls, const Options& o);

  bool logged_on() const { return !session_.empty(); }
  const std::string& session_id() const { return session_; }
  const std::string& session_credential() const { return credential_; }

  boost::asio::awaitable<void> logon();
  boost::asio::awaitable<void> logoff();
  // get-notification-topics (also the cheap "is my session alive?" check).
  boost::asio::awaitable<nlohmann::json> notification_topics();
  // topic_types and os_message_channels → topic names.
  boost::asio::awaitable<Resolution> resolve();
  // Topic names of the configured topic_types, from a get-notification-topics answer.
  std::vector<std::string> topics_of_types(const nlohmann::json& topics) const;

  // One request; throws ApiError on HTTP >= 400 or a transport failure.
  boost::asio::awaitable<ApiResponse> request(boost::beast::http::verb verb, std::string target,
                                              std::optional<nlohmann::json> body);

 private:
  boost::asio::awaitable<std::string> open_channel(const OsChannel& ch);
  std::string read_mfa_code() const;

  boost::asio::io_context& io_;
  boost::asio::ssl::context& tls_;
  const Options& o_;
  std::string session_;
  std::string credential_;
};

std::string url_encode(const std::string& s);

// The WS API's JSON answers, read defensively (the fuzzer's entry points): a member of the wrong
// type counts as absent, an answer without what is needed is an ApiError, nothing else throws.
namespace answers {
// body[key] when body is an object and the member is a string, else "".
std::string string_member(const nlohmann::json& body, const char* key);
// An HTTP status >= 400 as an ApiError, with the HMC's reason code and message where given.
ApiError error(const std::string& where, unsigned status, const nlohmann::json& body);
// POST /api/sessions: api-session and session-credential.
struct Logon {
  std::string session;
  std::string credential;
};
Logon logon(const nlohmann::json& body, bool need_credential);
// get-notification-topics: the topics list (its entries unchecked: see the readers below).
nlohmann::json topics(const nlohmann::json& body);
// Topic names of the given types in a topics list.
std::vector<std::string> topics_of_types(const nlohmann::json& topics,
                                         const std::vector<std::string>& types);
// The topic of the OS message channel of object_uri in a topics list, or "".
std::string channel_topic(const nlohmann::json& topics, const std::string& object_uri);
// A list operation's answer ({"<list_key>": [{"name", "object-uri"}, ...]}): the object-uri of
// the entry called name, or "".
std::string uri_by_name(const nlohmann::json& body, const std::string& list_key,
                        const std::string& name);
// open-os-message-channel: topic-name.
std::string opened_topic(const nlohmann::json& body);
}  // namespace answers

}  // namespace hmc
