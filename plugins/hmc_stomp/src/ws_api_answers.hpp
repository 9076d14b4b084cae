// The HMC WS API's JSON answers, read defensively: a member of the wrong type counts as absent,
// an answer without what is needed is an ApiError, nothing else throws. Kept apart from the
// client (no Asio) so that the fuzzer (fuzz/fuzz_ws_api_json.cpp) reaches them directly.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::hmc {

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

}  // namespace sluice::hmc
