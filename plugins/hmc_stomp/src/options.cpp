#include "options.hpp"

#include <sluice/option_check.hpp>
#include <sluice/units.hpp>

#include <stdexcept>
#include <string_view>

namespace sluice::hmc {

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
  // A name or {host, stomp_port, api_port}. The schema checks only the shapes (a oneOf would
  // only say that no form matched); check_options says what is wrong inside an entry, at its
  // pointer, in the same words for validate and run.
  json host_entry = {{"type", {"string", "object"}},
                     {"properties",
                      {{"host", {{"type", "string"}, {"description", "HMC host name or address"}}},
                       {"stomp_port", {{"type", "integer"}, {"description", "its STOMP port"}}},
                       {"api_port", {{"type", "integer"}, {"description", "its WS API port"}}}}}};
  json schema = {
      {"$schema", "http://json-schema.org/draft-07/schema#"},
      {"title", "hmc_stomp options"},
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"host"}},
      {"properties",
       {{"host",
         {{"type", {"string", "array"}},
          {"items", host_entry},
          {"description",
           "HMC host name or IP address (also the TLS name checked), or a list of redundant "
           "HMCs tried in order, each a name or {host, stomp_port, api_port}"}}},
        {"source_uri",
         {{"type", "string"},
          {"minLength", 1},
          {"description", "the events' source; default hmc://<the first host>"}}},
        {"failover_attempts",
         {{"type", "integer"},
          {"default", 3},
          {"description",
           "failed connection attempts at one HMC before moving to the next host of the list"}}},
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
          {"x-sluice-path", true},
          {"description",
           "file holding the current MFA code, read at every WS API logon (kept fresh by "
           "another process); relative to the pipeline file's folder"}}},
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
        {"names",
         {{"type", "boolean"},
          {"default", true},
          {"description",
           "add the attributes cpc and partition (names resolved through the WS API, when it "
           "is in use)"}}},
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

// `host`: one name or a list of names and {host, stomp_port, api_port} entries, into o.hosts; the
// entries' ports default to the options' own. o.host and its ports become the first entry's.
template <typename Port>
void parse_hosts(const nlohmann::json& j, Options& o, sluice::OptionCollector& c, Port& port) {
  const auto h = j.find("host");
  if (h == j.end() || (h->is_string() && h->get<std::string>().empty())) {
    c.add("/host", "host: required");
  } else if (h->is_string()) {
    o.hosts.push_back({h->get<std::string>(), o.stomp_port, o.api_port});
  } else if (!h->is_array() || h->empty()) {
    c.add("/host", "host: a name or a list of names and {host, stomp_port, api_port}");
  }
  for (size_t i = 0; h != j.end() && h->is_array() && i < h->size(); ++i) {
    const auto& e = (*h)[i];
    const std::string at = "/host/" + std::to_string(i);
    HmcHost entry{std::string(), o.stomp_port, o.api_port};
    if (e.is_string()) {
      entry.host = e.get<std::string>();
    } else if (e.is_object()) {
      for (const auto& [key, value] : e.items())
        if (key != "host" && key != "stomp_port" && key != "api_port")
          c.add(at + "/" + key, "host: '" + key + "' is not host, stomp_port or api_port");
      entry.host = c.get(e, "host", std::string(), at + "/host", "a string");
      entry.stomp_port = port(e, at, "stomp_port", o.stomp_port);
      entry.api_port = port(e, at, "api_port", o.api_port);
    } else {
      c.add(at, "host: each entry is a name or {host, stomp_port, api_port}");
      continue;
    }
    if (entry.host.empty()) {
      c.add(at, "host: an entry without a host name");
      continue;
    }
    bool twice = false;
    for (const auto& seen : o.hosts)
      twice |= seen.host == entry.host && seen.stomp_port == entry.stomp_port &&
               seen.api_port == entry.api_port;
    if (twice) {
      c.add(at, "host: " + entry.label() + " is listed twice");
      continue;
    }
    o.hosts.push_back(std::move(entry));
  }
  if (o.hosts.empty()) return;
  o.host = o.hosts[0].host;
  o.stomp_port = o.hosts[0].stomp_port;
  o.api_port = o.hosts[0].api_port;
}

// The options as create() reads them; every value it would refuse becomes a problem. Files are
// checked in check_options, after this.
Options parse(const nlohmann::json& j, sluice::OptionCollector& c) {
  Options o;
  if (!j.is_object()) {
    c.add("", "options must be an object");
    return o;
  }
  // A port of the options (`at` "") or of an entry of the host list (`at` "/host/<i>").
  auto port = [&](const nlohmann::json& in, const std::string& at, const char* key, uint16_t dflt) {
    const std::string name(key);
    const int64_t p = c.get<int64_t>(in, key, dflt, at + "/" + name, "an integer");
    if (p < 1 || p > 65535) {
      c.add(at + "/" + name, name + ": from 1 to 65535, not " + std::to_string(p));
      return dflt;
    }
    return static_cast<uint16_t>(p);
  };
  o.stomp_port = port(j, "", "stomp_port", o.stomp_port);
  o.api_port = port(j, "", "api_port", o.api_port);
  parse_hosts(j, o, c, port);
  const std::string transport = c.get(j, "transport", std::string("tls"), "/transport", "a string");
  if (transport != "tls" && transport != "tcp")
    c.add("/transport", "transport: tls or tcp, not '" + transport + "'");
  o.use_tls = transport != "tcp";
  if (auto t = j.find("tls"); t != j.end()) {
    if (t->is_object()) {
      try {
        o.tls = sluice::tls::ClientOptions::from_json(*t);
      } catch (const nlohmann::json::exception&) {
        c.add("/tls", "tls: verify is a boolean, the others are strings");
      }
    } else {
      c.add("/tls", "tls: must be an object");
    }
  }
  if (j.contains("source_uri")) {
    o.source_uri = c.get(j, "source_uri", std::string(), "/source_uri", "a string");
    if (o.source_uri.empty()) c.add("/source_uri", "source_uri: must not be empty");
  }
  if (auto v = c.count(j, "failover_attempts", "/failover_attempts")) {
    if (*v < 1)
      c.add("/failover_attempts", "failover_attempts: at least 1");
    else
      o.failover_attempts = *v;
  }
  o.userid = c.get(j, "userid", std::string(), "/userid", "a string");
  o.password = c.get(j, "password", std::string(), "/password", "a string");
  o.mfa = c.get(j, "mfa", false, "/mfa", "true or false");
  o.mfa_code = c.get(j, "mfa_code", std::string(), "/mfa_code", "a string");
  o.mfa_code_file = c.get(j, "mfa_code_file", std::string(), "/mfa_code_file", "a string");
  // A topic is subscribed as /topic/<name>: a name given with the prefix loses it here, so it
  // is neither subscribed as /topic//topic/<name> nor compared under two spellings later.
  const auto topics =
      c.get(j, "topics", std::vector<std::string>{}, "/topics", "a list of strings");
  for (size_t i = 0; i < topics.size(); ++i) {
    static constexpr std::string_view kPrefix = "/topic/";
    std::string t = topics[i];
    if (std::string_view(t).substr(0, kPrefix.size()) == kPrefix) t.erase(0, kPrefix.size());
    if (t.empty()) {
      c.add("/topics/" + std::to_string(i), topics[i].empty()
                                                ? std::string("topics: an empty name")
                                                : std::string("topics: '/topic/' names no topic"));
      continue;
    }
    o.topics.push_back(std::move(t));
  }
  o.topic_types =
      c.get(j, "topic_types", std::vector<std::string>{}, "/topic_types", "a list of strings");
  if (auto ch = j.find("os_message_channels"); ch != j.end()) {
    if (!ch->is_array()) c.add("/os_message_channels", "os_message_channels: must be a list");
    for (size_t i = 0; ch->is_array() && i < ch->size(); ++i) {
      const auto& e = (*ch)[i];
      const std::string at = "/os_message_channels/" + std::to_string(i);
      OsChannel channel;
      if (e.is_object()) {
        channel.cpc = c.get(e, "cpc", std::string(), at + "/cpc", "a string");
        channel.partition = c.get(e, "partition", std::string(), at + "/partition", "a string");
        channel.lpar = c.get(e, "lpar", std::string(), at + "/lpar", "a string");
      }
      if (channel.cpc.empty() || channel.partition.empty() == channel.lpar.empty()) {
        c.add(at, "os_message_channels: each entry needs cpc and exactly one of partition, lpar");
        continue;
      }
      o.os_message_channels.push_back(std::move(channel));
    }
  }
  o.include_refresh_messages =
      c.get(j, "include_refresh_messages", false, "/include_refresh_messages", "true or false");
  o.split_lists = c.get(j, "split_lists", false, "/split_lists", "true or false");
  o.names = c.get(j, "names", true, "/names", "true or false");
  if (auto hb = j.find("heartbeat"); hb != j.end() && hb->is_object()) {
    o.heartbeat_send = c.duration(*hb, "send", "/heartbeat/send").value_or(o.heartbeat_send);
    o.heartbeat_receive =
        c.duration(*hb, "receive", "/heartbeat/receive").value_or(o.heartbeat_receive);
  } else if (hb != j.end()) {
    c.add("/heartbeat", "heartbeat: must be an object with send and receive");
  }
  o.reconnect = c.backoff(j, "reconnect", "/reconnect", o.reconnect);
  if (auto v = c.size(j, "max_frame_bytes", "/max_frame_bytes")) {
    if (*v < 64)
      c.add("/max_frame_bytes", "max_frame_bytes: at least 64");
    else
      o.max_frame_bytes = *v;
  }
  if (auto v = c.count(j, "max_headers", "/max_headers")) {
    if (*v < 1)
      c.add("/max_headers", "max_headers: at least 1");
    else
      o.max_headers = *v;
  }
  if (auto v = c.duration(j, "connect_timeout", "/connect_timeout")) {
    if (v->count() <= 0)
      c.add("/connect_timeout", "connect_timeout: must be > 0");
    else
      o.connect_timeout = *v;
  }
  if (auto v = c.duration(j, "request_timeout", "/request_timeout")) {
    if (v->count() <= 0)
      c.add("/request_timeout", "request_timeout: must be > 0");
    else
      o.request_timeout = *v;
  }
  o.max_response_bytes =
      c.size(j, "max_response_bytes", "/max_response_bytes").value_or(o.max_response_bytes);
  o.stomp_version = c.get(j, "stomp_version", std::string("auto"), "/stomp_version", "a string");
  if (o.stomp_version != "auto" && o.stomp_version != "1.2" && o.stomp_version != "1.1" &&
      o.stomp_version != "1.0")
    c.add("/stomp_version", "stomp_version: auto, 1.2, 1.1 or 1.0");

  // Rules across options: at the option that asks for something, or at the list left empty.
  if (o.topics.empty() && o.topic_types.empty() && o.os_message_channels.empty() && topics.empty())
    c.add(j.contains("topics") ? "/topics" : "",
          "nothing to subscribe to: give topics, topic_types or os_message_channels");
  if (o.needs_ws_api() && (o.userid.empty() || o.password.empty()))
    c.add(!o.topic_types.empty()           ? "/topic_types"
          : !o.os_message_channels.empty() ? "/os_message_channels"
                                           : "/mfa",
          "userid and password are required with topic_types, os_message_channels or mfa");
  if (!o.mfa_code.empty() && !o.mfa_code_file.empty())
    c.add("/mfa_code_file", "mfa_code and mfa_code_file: give one, not both");
  return o;
}

}  // namespace

std::string HmcHost::label() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(stomp_port);
}

const char* options_schema() {
  static const std::string schema = build_schema();
  return schema.c_str();
}

sluice::OptionProblems check_options(const nlohmann::json& j, Options* parsed) {
  sluice::OptionProblems problems;
  sluice::OptionCollector c(problems);
  Options o = parse(j, c);
  // The files create() reads, only where it reads them: TLS when STOMP is over TLS or the WS
  // API is used (its context is built in create), the MFA code file at every WS API logon.
  if (j.is_object()) {
    if (o.use_tls || o.needs_ws_api())
      for (auto& p : sluice::tls::check_client_context(o.tls, "/tls"))
        problems.push_back(std::move(p));
    if (o.needs_ws_api() && !o.mfa_code_file.empty())
      if (const std::string why = sluice::unreadable_reason(o.mfa_code_file); !why.empty())
        c.add("/mfa_code_file", "mfa_code_file: cannot read " + o.mfa_code_file + ": " + why);
  }
  if (parsed) *parsed = std::move(o);
  return problems;
}

Options Options::from_json(const nlohmann::json& j) {
  Options o;
  sluice::throw_first(check_options(j, &o));
  return o;
}

}  // namespace sluice::hmc
