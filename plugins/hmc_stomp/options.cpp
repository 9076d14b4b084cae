#include "options.hpp"

#include <sluice/units.hpp>

#include <stdexcept>
#include <string_view>

namespace hmc {

namespace {

std::string build_schema() {
  using nlohmann::json;
  const json duration = json::parse(sluice::kDurationSchema);
  const json size = json::parse(sluice::kSizeSchema);
  auto with = [](json base, json extra) {
    base.update(extra);
    return base;
  };
  json topic_type = {{"type", "string"},
                     {"enum",
                      {"object-notification", "job-notification", "audit-notification",
                       "security-notification", "os-message-notification"}}};
  json channel = {
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"cpc"}},
      {"properties",
       {{"cpc", {{"type", "string"}, {"minLength", 1}, {"description", "CPC name"}}},
        {"partition",
         {{"type", "string"}, {"minLength", 1}, {"description", "partition name (DPM mode)"}}},
        {"lpar",
         {{"type", "string"}, {"minLength", 1}, {"description", "LPAR name (classic mode)"}}}}},
      {"oneOf", {{{"required", {"partition"}}}, {{"required", {"lpar"}}}}}};
  json schema = {
      {"$schema", "http://json-schema.org/draft-07/schema#"},
      {"title", "hmc_stomp options"},
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"host"}},
      {"properties",
       {{"host",
         {{"type", "string"},
          {"minLength", 1},
          {"description", "HMC host name or IP address (also the TLS name checked)"}}},
        {"stomp_port",
         {{"type", "integer"},
          {"minimum", 1},
          {"maximum", 65535},
          {"default", 61612},
          {"description", "STOMP port of the HMC's message broker"}}},
        {"api_port",
         {{"type", "integer"},
          {"minimum", 1},
          {"maximum", 65535},
          {"default", 6794},
          {"description", "HTTPS port of the HMC Web Services API"}}},
        {"transport",
         {{"type", "string"},
          {"enum", {"tls", "tcp"}},
          {"default", "tls"},
          {"x-sluice-cleartext", {{"const", "tcp"}}},
          {"description", "STOMP over TLS (the HMC) or plain TCP (test brokers only)"}}},
        {"tls", with(json::parse(sluice::tls::kClientOptionsSchema),
                     {{"description", "TLS for STOMP and the Web Services API"}})},
        {"userid", {{"type", "string"}, {"description", "HMC userid (STOMP login, WS API logon)"}}},
        {"password",
         {{"type", "string"},
          {"writeOnly", true},
          {"description", "HMC password; use ${ENV} or ${file:PATH} in the pipeline"}}},
        {"mfa",
         {{"type", "boolean"},
          {"default", false},
          {"description",
           "the user has multi-factor authentication: log on to the WS API and use its session "
           "id and session credential as STOMP login and passcode"}}},
        {"mfa_code",
         {{"type", "string"},
          {"writeOnly", true},
          {"description", "MFA code sent as mfa-code with the WS API logon (one-shot)"}}},
        {"mfa_code_file",
         {{"type", "string"},
          {"description",
           "file holding the current MFA code, read at every WS API logon (kept fresh by "
           "another process)"}}},
        {"topics",
         {{"type", "array"},
          {"items", {{"type", "string"}, {"minLength", 1}}},
          {"default", json::array()},
          {"description",
           "topic names to subscribe to, as /topic/<name>; a name may be given with or without "
           "the /topic/ prefix"}}},
        {"topic_types",
         {{"type", "array"},
          {"items", topic_type},
          {"default", json::array()},
          {"description", "topic types resolved through get-notification-topics"}}},
        {"os_message_channels",
         {{"type", "array"},
          {"items", channel},
          {"default", json::array()},
          {"description", "OS message channels to open, by CPC and partition or LPAR name"}}},
        {"include_refresh_messages",
         {{"type", "boolean"},
          {"default", false},
          {"description", "open OS message channels with include-refresh-messages"}}},
        {"split_lists",
         {{"type", "boolean"},
          {"default", false},
          {"description",
           "one event per entry of os-messages, log-entries and change-reports lists"}}},
        {"heartbeat",
         {{"type", "object"},
          {"additionalProperties", false},
          {"default", {{"send", "10s"}, {"receive", "10s"}}},
          {"description", "STOMP heart-beats wanted; 0 disables a direction"},
          {"properties",
           {{"send", with(duration, {{"default", "10s"}})},
            {"receive", with(duration, {{"default", "10s"}})}}}}},
        {"reconnect",
         {{"type", "object"},
          {"additionalProperties", false},
          {"default", {{"initial", "1s"}, {"max", "60s"}, {"multiplier", 2}}},
          {"description", "exponential back-off with jitter between connection attempts"},
          {"properties",
           {{"initial", with(duration, {{"default", "1s"}})},
            {"max", with(duration, {{"default", "60s"}})},
            {"multiplier", {{"type", "number"}, {"minimum", 1}, {"default", 2}}}}}}},
        {"max_frame_bytes",
         with(size, {{"default", "16MiB"},
                     {"description", "largest STOMP frame accepted; bigger is an error"}})},
        {"max_headers",
         {{"type", "integer"},
          {"minimum", 1},
          {"default", 1000},
          {"description",
           "most headers a STOMP frame may have; more is an error like a too large frame"}}},
        {"connect_timeout",
         with(duration, {{"default", "10s"},
                         {"description", "TCP connect, TLS handshake and CONNECTED each"}})},
        {"request_timeout",
         with(duration,
              {{"default", "30s"}, {"description", "each WS API request and each STOMP write"}})},
        {"max_response_bytes",
         with(size, {{"default", "4MiB"},
                     {"description", "largest WS API response body read; bigger is an error"}})},
        {"stomp_version",
         {{"type", "string"},
          {"enum", {"auto", "1.2", "1.1", "1.0"}},
          {"default", "auto"},
          {"description", "auto offers 1.0,1.1,1.2 and takes what the broker picks"}}}}}};
  return schema.dump();
}

std::chrono::milliseconds duration_of(const nlohmann::json& j, const char* key,
                                      std::chrono::milliseconds dflt) {
  if (!j.is_object() || !j.contains(key)) return dflt;
  try {
    return sluice::duration_option(j.at(key));
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string(key) + ": " + e.what());
  }
}

}  // namespace

const char* options_schema() {
  static const std::string schema = build_schema();
  return schema.c_str();
}

Options Options::from_json(const nlohmann::json& j) {
  Options o;
  if (!j.is_object()) throw std::invalid_argument("options must be an object");
  o.host = j.value("host", std::string());
  if (o.host.empty()) throw std::invalid_argument("host: required");
  o.stomp_port = static_cast<uint16_t>(j.value("stomp_port", 61612));
  o.api_port = static_cast<uint16_t>(j.value("api_port", 6794));
  o.use_tls = j.value("transport", std::string("tls")) != "tcp";
  if (j.contains("tls")) o.tls = sluice::tls::ClientOptions::from_json(j.at("tls"));
  o.userid = j.value("userid", std::string());
  o.password = j.value("password", std::string());
  o.mfa = j.value("mfa", false);
  o.mfa_code = j.value("mfa_code", std::string());
  o.mfa_code_file = j.value("mfa_code_file", std::string());
  // A topic is subscribed as /topic/<name>: a name given with the prefix loses it here, so it
  // is neither subscribed as /topic//topic/<name> nor compared under two spellings later.
  for (std::string t : j.value("topics", std::vector<std::string>{})) {
    static constexpr std::string_view kPrefix = "/topic/";
    if (std::string_view(t).substr(0, kPrefix.size()) == kPrefix) t.erase(0, kPrefix.size());
    if (t.empty()) throw std::invalid_argument("topics: '/topic/' names no topic");
    o.topics.push_back(std::move(t));
  }
  o.topic_types = j.value("topic_types", std::vector<std::string>{});
  if (j.contains("os_message_channels")) {
    for (const auto& c : j.at("os_message_channels")) {
      OsChannel ch;
      ch.cpc = c.value("cpc", std::string());
      ch.partition = c.value("partition", std::string());
      ch.lpar = c.value("lpar", std::string());
      if (ch.cpc.empty() || ch.partition.empty() == ch.lpar.empty())
        throw std::invalid_argument(
            "os_message_channels: each entry needs cpc and exactly one of partition, lpar");
      o.os_message_channels.push_back(std::move(ch));
    }
  }
  o.include_refresh_messages = j.value("include_refresh_messages", false);
  o.split_lists = j.value("split_lists", false);
  if (j.contains("heartbeat")) {
    o.heartbeat_send = duration_of(j.at("heartbeat"), "send", o.heartbeat_send);
    o.heartbeat_receive = duration_of(j.at("heartbeat"), "receive", o.heartbeat_receive);
  }
  if (j.contains("reconnect")) {
    const auto& r = j.at("reconnect");
    o.reconnect.initial = duration_of(r, "initial", o.reconnect.initial);
    o.reconnect.max = duration_of(r, "max", o.reconnect.max);
    o.reconnect.multiplier = r.value("multiplier", o.reconnect.multiplier);
    if (o.reconnect.multiplier < 1)
      throw std::invalid_argument("reconnect.multiplier: must be >= 1");
    if (o.reconnect.max < o.reconnect.initial) o.reconnect.max = o.reconnect.initial;
  }
  if (j.contains("max_frame_bytes")) {
    try {
      o.max_frame_bytes = sluice::size_option(j.at("max_frame_bytes"));
    } catch (const std::exception& e) {
      throw std::invalid_argument(std::string("max_frame_bytes: ") + e.what());
    }
    if (o.max_frame_bytes < 64) throw std::invalid_argument("max_frame_bytes: at least 64");
  }
  if (j.contains("max_headers")) {
    try {
      o.max_headers = sluice::count_option(j.at("max_headers"));
    } catch (const std::exception& e) {
      throw std::invalid_argument(std::string("max_headers: ") + e.what());
    }
    if (o.max_headers < 1) throw std::invalid_argument("max_headers: at least 1");
  }
  o.connect_timeout = duration_of(j, "connect_timeout", o.connect_timeout);
  o.request_timeout = duration_of(j, "request_timeout", o.request_timeout);
  if (j.contains("max_response_bytes")) {
    try {
      o.max_response_bytes = sluice::size_option(j.at("max_response_bytes"));
    } catch (const std::exception& e) {
      throw std::invalid_argument(std::string("max_response_bytes: ") + e.what());
    }
  }
  o.stomp_version = j.value("stomp_version", std::string("auto"));
  if (o.stomp_version != "auto" && o.stomp_version != "1.2" && o.stomp_version != "1.1" &&
      o.stomp_version != "1.0")
    throw std::invalid_argument("stomp_version: auto, 1.2, 1.1 or 1.0");
  if (o.connect_timeout.count() <= 0) throw std::invalid_argument("connect_timeout: must be > 0");
  if (o.request_timeout.count() <= 0) throw std::invalid_argument("request_timeout: must be > 0");

  if (o.topics.empty() && o.topic_types.empty() && o.os_message_channels.empty())
    throw std::invalid_argument(
        "nothing to subscribe to: give topics, topic_types or os_message_channels");
  if (o.needs_ws_api() && (o.userid.empty() || o.password.empty()))
    throw std::invalid_argument(
        "userid and password are required with topic_types, os_message_channels or mfa");
  if (!o.mfa_code.empty() && !o.mfa_code_file.empty())
    throw std::invalid_argument("mfa_code and mfa_code_file: give one, not both");
  return o;
}

}  // namespace hmc
