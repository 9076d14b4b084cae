// The ldm_xml source's options: the JSON Schema, reading them, and check_options (plugin ABI
// 1.1): one code path finds every problem, create() throws the first. See README.md.
#include "ldm_client.hpp"

#include <sluice/option_check.hpp>
#include <sluice/units.hpp>

#include <stdexcept>
#include <string>
#include <utility>

namespace sluice::ldm {

// ---- options --------------------------------------------------------------------------------

namespace {

// The options as the source reads them; every value it would refuse becomes a problem. The TLS
// files are checked in check_options, after this.
ClientOptions parse(const nlohmann::json& j, OptionCollector& c) {
  ClientOptions o;
  if (!j.is_object()) {
    c.add("", "options must be an object");
    return o;
  }
  o.host = c.get(j, "host", std::string(), "/host", "a string");
  if (o.host.empty()) c.add("/host", "option 'host' is required (the control domain running ldmd)");
  const int64_t port = c.get<int64_t>(j, "port", o.port, "/port", "an integer");
  if (port < 1 || port > 65535)
    c.add("/port", "port: from 1 to 65535, not " + std::to_string(port));
  else
    o.port = static_cast<uint16_t>(port);
  const std::string mode = c.get(j, "mode", std::string("remote"), "/mode", "a string");
  if (mode != "remote" && mode != "local") c.add("/mode", "option 'mode' must be remote or local");
  o.local_mode = mode == "local";
  o.user = c.get(j, "user", std::string(), "/user", "a string");
  o.password = c.get(j, "password", std::string(), "/password", "a string");
  if (!o.local_mode && (o.user.empty() || o.password.empty())) {
    // at the empty one when the file has it, else at mode (or the whole options object)
    const char* empty = o.user.empty() ? "user" : "password";
    c.add(j.contains(empty)    ? std::string("/") + empty
          : j.contains("mode") ? "/mode"
                               : "",
          "remote mode needs 'user' and 'password' (SASL PLAIN); use mode: local on the "
          "control domain itself");
  }
  if (auto t = j.find("tls"); t != j.end()) {
    try {
      if (!t->is_object()) throw std::invalid_argument("not an object");
      o.tls = tls::ClientOptions::from_json(*t);
    } catch (const std::exception&) {
      c.add("/tls", "tls: must be an object; verify is a boolean, the others are strings");
    }
  }
  if (auto events = j.find("events"); events != j.end()) {
    o.events.clear();
    if (!events->is_array()) c.add("/events", "events: must be a list");
    for (size_t i = 0; events->is_array() && i < events->size(); ++i) {
      const auto& e = (*events)[i];
      const std::string name = e.is_string() ? e.get<std::string>() : e.dump();
      if (name != "domain" && name != "hardware" && name != "resource" && name != "all") {
        c.add("/events/" + std::to_string(i),
              "events: '" + name + "' is not one of domain, hardware, resource, all");
        continue;
      }
      o.events.push_back(name);
    }
    if (events->is_array() && events->empty()) c.add("/events", "events: name at least one class");
    if (o.events.empty()) o.events = {"all"};  // refused above; keeps the value usable
  }
  o.reconnect = c.backoff(j, "reconnect", "/reconnect", o.reconnect);
  if (auto v = c.size(j, "max_element_bytes", "/max_element_bytes")) {
    if (*v < 1)
      c.add("/max_element_bytes", "max_element_bytes: at least 1");
    else
      o.limits.max_element_bytes = static_cast<size_t>(*v);
  }
  if (auto v = c.count(j, "max_depth", "/max_depth")) {
    if (*v < 1 || *v > 1024)
      c.add("/max_depth", "max_depth: from 1 to 1024, not " + std::to_string(*v));
    else
      o.limits.max_depth = static_cast<size_t>(*v);
  }
  // A zero timeout would fail every attempt at once: the source could never connect.
  for (auto [key, field] : {std::pair{"connect_timeout", &ClientOptions::connect_timeout},
                            std::pair{"response_timeout", &ClientOptions::response_timeout}}) {
    if (auto v = c.duration(j, key, std::string("/") + key)) {
      if (v->count() <= 0)
        c.add(std::string("/") + key, std::string(key) + ": must be > 0");
      else
        o.*field = *v;
    }
  }
  o.stop_timeout = c.duration(j, "stop_timeout", "/stop_timeout").value_or(o.stop_timeout);
  return o;
}

}  // namespace

OptionProblems check_options(const nlohmann::json& j, ClientOptions* parsed) {
  OptionProblems problems;
  OptionCollector c(problems);
  ClientOptions o = parse(j, c);
  // ldmd is always TLS (STARTTLS): the context is built from these files at start.
  if (j.is_object())
    for (auto& p : tls::check_client_context(o.tls, "/tls"))
      problems.push_back(std::move(p));
  if (parsed) *parsed = std::move(o);
  return problems;
}

ClientOptions ClientOptions::from_json(const nlohmann::json& j) {
  ClientOptions o;
  sluice::throw_first(check_options(j, &o));
  return o;
}

std::vector<std::string> ClientOptions::registration_actions() const {
  std::vector<std::string> out;
  for (const auto& e : events)
    if (e == "all") return {"reg-all-events"};
  for (const char* c : {"domain", "hardware", "resource"})
    for (const auto& e : events)
      if (e == c) {
        out.push_back(std::string("reg-") + c + "-events");
        break;
      }
  return out;
}

const char* options_schema() {
  static const std::string schema = [] {
    using nlohmann::json;
    auto dur = [](const char* def, const char* description) {
      json j = json::parse(kDurationSchema);
      j["default"] = def;
      j["description"] = description;
      return j;
    };
    json tls_schema = json::parse(tls::kClientOptionsSchema);
    tls_schema["default"] = json::object();
    tls_schema["description"] = "TLS after STARTTLS; verification is on by default";
    json max_element = json::parse(kSizeSchema);
    max_element["default"] = "4MiB";
    max_element["description"] = "largest XML element accepted; a larger one drops the connection";
    json s = {
        {"type", "object"},
        {"additionalProperties", false},
        {"required", {"host"}},
        // remote mode (the default) authenticates: user and password are required there.
        {"if", {{"properties", {{"mode", {{"const", "local"}}}}}, {"required", {"mode"}}}},
        {"else", {{"required", {"user", "password"}}}},
        {"properties",
         {{"host",
           {{"type", "string"},
            {"minLength", 1},
            {"description",
             "ldmd host: the control domain (name or address; TLS verification checks it)"}}},
          {"port",
           {{"type", "integer"},
            {"minimum", 1},
            {"maximum", 65535},
            {"default", 6482},
            {"description", "ldmd XMPP port"}}},
          {"mode",
           {{"type", "string"},
            {"enum", {"remote", "local"}},
            {"default", "remote"},
            {"description",
             "remote: SASL PLAIN after TLS; local: no SASL (sluice runs on the control domain)"}}},
          {"user", {{"type", "string"}, {"description", "SASL PLAIN user (remote mode)"}}},
          {"password",
           {{"type", "string"},
            {"writeOnly", true},
            {"description", "SASL PLAIN password (remote mode); use ${ENV} or ${file:PATH}"}}},
          {"tls", tls_schema},
          {"events",
           {{"type", "array"},
            {"minItems", 1},
            {"uniqueItems", true},
            {"items", {{"type", "string"}, {"enum", {"domain", "hardware", "resource", "all"}}}},
            {"default", {"all"}},
            {"description", "event classes to register for; all sends one reg-all-events"}}},
          {"reconnect",
           {{"type", "object"},
            {"additionalProperties", false},
            {"default", json::object()},
            {"description", "exponential back-off with jitter between connection attempts"},
            {"properties",
             {{"initial", dur("1s", "first delay")},
              {"max", dur("60s",
                          "longest delay; also the delay after an authentication or "
                          "registration failure")},
              {"multiplier",
               {{"type", "number"},
                {"minimum", 1},
                {"default", 2},
                {"description", "growth of the delay per attempt"}}}}}}},
          {"max_element_bytes", max_element},
          {"max_depth",
           {{"type", "integer"},
            {"minimum", 1},
            {"maximum", 1024},
            {"default", 64},
            {"description", "deepest element nesting accepted"}}},
          {"connect_timeout", dur("10s", "TCP connect and TLS handshake")},
          {"response_timeout",
           dur("10s", "each handshake step, the registration answers and each write")},
          {"stop_timeout", dur("2s", "on stop, how long to wait for the unregister answers")}}}};
    return s.dump();
  }();
  return schema.c_str();
}

}  // namespace sluice::ldm
