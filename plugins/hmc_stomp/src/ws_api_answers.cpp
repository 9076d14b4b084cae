#include "ws_api_answers.hpp"

namespace sluice::hmc {

namespace answers {

std::string string_member(const nlohmann::json& body, const char* key) {
  if (!body.is_object()) return {};
  auto it = body.find(key);
  if (it == body.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

ApiError error(const std::string& where, unsigned status, const nlohmann::json& body) {
  int reason = 0;
  if (body.is_object())
    if (auto it = body.find("reason"); it != body.end() && it->is_number_integer()) {
      // The HMC's reason codes are small; anything else is not one.
      const auto v = it->get<int64_t>();
      if (v > 0 && v < 100000) reason = static_cast<int>(v);
    }
  const std::string message = string_member(body, "message");
  return ApiError("WS API " + where + ": HTTP " + std::to_string(status) +
                      (reason ? " reason " + std::to_string(reason) : "") +
                      (message.empty() ? "" : ": " + message),
                  status, reason);
}

Logon logon(const nlohmann::json& body, bool need_credential) {
  Logon out{string_member(body, "api-session"), string_member(body, "session-credential")};
  if (out.session.empty()) throw ApiError("WS API logon: answer without api-session");
  if (need_credential && out.credential.empty())
    throw ApiError("WS API logon: answer without session-credential (needed with mfa)");
  return out;
}

nlohmann::json topics(const nlohmann::json& body) {
  if (!body.is_object())
    throw ApiError("WS API get-notification-topics: answer without a topics list");
  auto it = body.find("topics");
  if (it == body.end() || !it->is_array())
    throw ApiError("WS API get-notification-topics: answer without a topics list");
  return *it;
}

std::vector<std::string> topics_of_types(const nlohmann::json& topics,
                                         const std::vector<std::string>& types) {
  std::vector<std::string> out;
  if (!topics.is_array()) return out;
  for (const auto& t : topics) {
    const std::string type = string_member(t, "topic-type");
    const std::string name = string_member(t, "topic-name");
    for (const auto& wanted : types)
      if (wanted == type && !name.empty()) out.push_back(name);
  }
  return out;
}

std::string channel_topic(const nlohmann::json& topics, const std::string& object_uri) {
  if (!topics.is_array()) return {};
  for (const auto& t : topics)
    if (string_member(t, "topic-type") == "os-message-notification" &&
        string_member(t, "object-uri") == object_uri)
      if (std::string name = string_member(t, "topic-name"); !name.empty()) return name;
  return {};
}

std::string uri_by_name(const nlohmann::json& body, const std::string& list_key,
                        const std::string& name) {
  if (!body.is_object()) return {};
  auto list = body.find(list_key);
  if (list == body.end() || !list->is_array()) return {};
  for (const auto& entry : *list)
    if (string_member(entry, "name") == name)
      if (std::string uri = string_member(entry, "object-uri"); !uri.empty()) return uri;
  return {};
}

std::string opened_topic(const nlohmann::json& body) {
  std::string topic = string_member(body, "topic-name");
  if (topic.empty()) throw ApiError("open-os-message-channel: answer without topic-name");
  return topic;
}

}  // namespace answers

}  // namespace sluice::hmc
