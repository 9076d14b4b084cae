#include "model.hpp"

#include <sluice/units.hpp>

#include <cstdio>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace sluice::fakes::hmc {

using nlohmann::json;

namespace {

std::string synthetic_id(uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(n));
  return buf;
}

template <typename T>
T get_or(const json& j, const char* key, T fallback, const std::string& where) {
  if (!j.contains(key)) return fallback;
  try {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // A whole number that fits: converting anything else is undefined behaviour.
      return static_cast<T>(count_option(j.at(key), std::numeric_limits<T>::max()));
    } else {
      return j.at(key).get<T>();
    }
  } catch (const json::exception&) {
    throw std::invalid_argument("scenario: " + where + "." + key + " has the wrong type");
  } catch (const std::exception& e) {
    throw std::invalid_argument("scenario: " + where + "." + key + ": " + e.what());
  }
}

}  // namespace

json Model::default_scenario() {
  return json::parse(R"json({
    "users": [{"userid": "hmcuser", "password": "hmcpassword"}],
    "api_version": {"major": 4, "minor": 10},
    "cpcs": [
      {"name": "CPC1", "dpm-enabled": true,
       "partitions": [{"name": "LINUX01"}, {"name": "NOOSM01", "os-messages": false}]},
      {"name": "CPC2", "dpm-enabled": false,
       "logical-partitions": [{"name": "ZOS1"}, {"name": "NOOSM02", "os-messages": false}]}
    ],
    "topics": [],
    "stomp": {"max_version": "1.2", "heart_beat": [1000, 1000], "heartbeat_grace": 2.0,
              "server": "ActiveMQ/5.17.2", "close_on_error": true, "max_client_frame": 1048576}
  })json");
}

Model::Model(const json& scenario_in) {
  json scenario = default_scenario();
  if (!scenario_in.is_null() && !scenario_in.is_object())
    throw std::invalid_argument("scenario: not a JSON object");
  static const std::set<std::string> known = {"users", "api_version", "cpcs", "topics", "stomp"};
  if (scenario_in.is_object())
    for (auto it = scenario_in.begin(); it != scenario_in.end(); ++it) {
      if (!known.count(it.key()))
        throw std::invalid_argument("scenario: unknown key '" + it.key() +
                                    "' (users, api_version, cpcs, topics, stomp)");
      if (it.key() == "stomp" && it->is_object())
        scenario["stomp"].update(*it);  // partial stomp settings keep the other defaults
      else
        scenario[it.key()] = *it;
    }

  for (const auto& u : scenario["users"]) {
    if (!u.is_object() || !u.contains("userid") || !u.contains("password"))
      throw std::invalid_argument("scenario: every user needs userid and password");
    users.push_back({get_or<std::string>(u, "userid", "", "users[]"),
                     get_or<std::string>(u, "password", "", "users[]"),
                     get_or<std::string>(u, "mfa_code", "", "users[]")});
  }
  const json& v = scenario["api_version"];
  api_major = get_or<int>(v, "major", 4, "api_version");
  api_minor = get_or<int>(v, "minor", 10, "api_version");

  uint64_t n = 1;
  for (const auto& c : scenario["cpcs"]) {
    if (!c.is_object() || !c.contains("name"))
      throw std::invalid_argument("scenario: every cpc needs a name");
    Cpc cpc;
    cpc.name = get_or<std::string>(c, "name", "", "cpcs[]");
    cpc.id = get_or<std::string>(c, "object-id", synthetic_id(n++), "cpcs[]");
    cpc.uri = "/api/cpcs/" + cpc.id;
    cpc.dpm = get_or<bool>(c, "dpm-enabled", c.contains("partitions"), "cpcs[]");
    for (const char* list : {"partitions", "logical-partitions"}) {
      if (!c.contains(list)) continue;
      const std::string cls = list == std::string("partitions") ? "partition" : "logical-partition";
      for (const auto& p : c[list]) {
        if (!p.is_object() || !p.contains("name"))
          throw std::invalid_argument(std::string("scenario: every entry of ") + list +
                                      " needs a name");
        Member m;
        m.name = get_or<std::string>(p, "name", "", list);
        m.id = get_or<std::string>(p, "object-id", synthetic_id(n++), list);
        m.cls = cls;
        m.uri = (cls == "partition" ? "/api/partitions/" : "/api/logical-partitions/") + m.id;
        m.status =
            get_or<std::string>(p, "status", cls == "partition" ? "active" : "operating", list);
        m.os_messages = get_or<bool>(p, "os-messages", true, list);
        m.open_on_logon = get_or<bool>(p, "open-on-logon", false, list);
        cpc.members.push_back(std::move(m));
      }
    }
    cpcs.push_back(std::move(cpc));
  }

  next_object_ = n;

  for (const auto& t : scenario["topics"]) {
    Topic topic;
    if (t.is_string()) {
      topic.name = t.get<std::string>();
      topic.type = "object-notification";
    } else if (t.is_object() && t.contains("topic-name")) {
      topic.name = get_or<std::string>(t, "topic-name", "", "topics[]");
      topic.type = get_or<std::string>(t, "topic-type", "object-notification", "topics[]");
    } else {
      throw std::invalid_argument(
          "scenario: topics[] entries are names or {topic-name, topic-type}");
    }
    add_topic(std::move(topic));
  }

  const json& s = scenario["stomp"];
  stomp.max_version = get_or<std::string>(s, "max_version", "1.2", "stomp");
  if (stomp.max_version != "1.0" && stomp.max_version != "1.1" && stomp.max_version != "1.2")
    throw std::invalid_argument("scenario: stomp.max_version must be 1.0, 1.1 or 1.2");
  if (s.contains("heart_beat")) {
    const json& hb = s["heart_beat"];
    if (!hb.is_array() || hb.size() != 2 || !hb[0].is_number() || !hb[1].is_number())
      throw std::invalid_argument("scenario: stomp.heart_beat is [send_ms, receive_ms]");
    try {
      const uint64_t max_ms = std::numeric_limits<uint32_t>::max();
      stomp.heartbeat_send_ms = static_cast<uint32_t>(count_option(hb[0], max_ms));
      stomp.heartbeat_receive_ms = static_cast<uint32_t>(count_option(hb[1], max_ms));
    } catch (const std::exception& e) {
      throw std::invalid_argument(std::string("scenario: stomp.heart_beat: ") + e.what());
    }
  }
  stomp.heartbeat_grace = get_or<double>(s, "heartbeat_grace", 2.0, "stomp");
  if (!(stomp.heartbeat_grace >= 1 && stomp.heartbeat_grace <= 1000))
    throw std::invalid_argument("scenario: stomp.heartbeat_grace is from 1 to 1000");
  stomp.server = get_or<std::string>(s, "server", stomp.server, "stomp");
  stomp.close_on_error = get_or<bool>(s, "close_on_error", true, "stomp");
  stomp.send_heartbeats = get_or<bool>(s, "send_heartbeats", true, "stomp");
  if (s.contains("connected_headers")) {
    const json& h = s["connected_headers"];
    if (!h.is_object())
      throw std::invalid_argument("scenario: stomp.connected_headers is an object of strings");
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (!it->is_string())
        throw std::invalid_argument("scenario: stomp.connected_headers." + it.key() +
                                    " is not a string");
      stomp.connected_headers.emplace_back(it.key(), it->get<std::string>());
    }
  }
  if (s.contains("max_client_frame")) stomp.max_client_frame = size_option(s["max_client_frame"]);
}

const User* Model::find_user(const std::string& userid) const {
  for (const auto& u : users)
    if (u.userid == userid) return &u;
  return nullptr;
}

const Cpc* Model::find_cpc_by_id(const std::string& id) const {
  for (const auto& c : cpcs)
    if (c.id == id) return &c;
  return nullptr;
}

const Member* Model::find_member(const std::string& cls, const std::string& id) const {
  for (const auto& c : cpcs)
    for (const auto& m : c.members)
      if (m.cls == cls && m.id == id) return &m;
  return nullptr;
}

const Member* Model::find_member_by_uri(const std::string& uri) const {
  for (const auto& c : cpcs)
    for (const auto& m : c.members)
      if (m.uri == uri) return &m;
  return nullptr;
}

Cpc* Model::find_cpc_by_name(const std::string& name) {
  for (auto& c : cpcs)
    if (c.name == name) return &c;
  return nullptr;
}

Member* Model::find_member_by_name(Cpc& cpc, const std::string& cls, const std::string& name) {
  for (auto& m : cpc.members)
    if (m.cls == cls && m.name == name) return &m;
  return nullptr;
}

const Cpc* Model::cpc_of(const std::string& member_uri) const {
  for (const auto& c : cpcs)
    for (const auto& m : c.members)
      if (m.uri == member_uri) return &c;
  return nullptr;
}

std::string Model::new_object_id() {
  return synthetic_id(next_object_++);
}

std::string Model::random_hex(size_t n) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s.push_back(hex[rng_() & 15]);
  return s;
}

Topic& Model::add_topic(Topic t) {
  if (t.defaults.empty()) {
    if (const Member* m = find_member_by_uri(t.object_uri)) {
      t.defaults = {
          {"class", m->cls}, {"name", m->name}, {"object-uri", m->uri}, {"object-id", m->id}};
    } else if (!cpcs.empty()) {
      const Cpc& c = cpcs.front();
      t.defaults = {{"class", "cpc"}, {"name", c.name}, {"object-uri", c.uri}, {"object-id", c.id}};
    } else {
      t.defaults = {{"class", "console"}, {"name", "HMC"}, {"object-uri", "/api/console"}};
    }
  }
  std::string name = t.name;
  auto [it, inserted] = topics.emplace(name, std::move(t));
  return it->second;
}

Session& Model::create_session(const std::string& userid) {
  Session s;
  s.number = next_session_++;
  s.id = std::to_string(s.number) + random_hex(30);
  s.credential = random_hex(32);
  s.userid = userid;
  const std::string base = userid + "." + std::to_string(s.number);
  for (auto [suffix, type] : {std::pair<const char*, const char*>{"", "object-notification"},
                              {"job", "job-notification"},
                              {"aud", "audit-notification"},
                              {"sec", "security-notification"}}) {
    Topic t;
    t.name = base + suffix;
    t.type = type;
    t.session = s.id;
    s.topics.push_back(t.name);
    add_topic(std::move(t));
  }
  auto [it, inserted] = sessions.emplace(s.id, std::move(s));
  for (const auto& c : cpcs)
    for (const auto& m : c.members)
      if (m.open_on_logon && m.os_messages) open_channel(it->second, m, false);
  return it->second;
}

Session* Model::find_session(const std::string& id) {
  auto it = sessions.find(id);
  return it == sessions.end() ? nullptr : &it->second;
}

const Session* Model::find_session_by_credential(const std::string& id,
                                                 const std::string& cred) const {
  auto it = sessions.find(id);
  if (it == sessions.end() || it->second.credential != cred) return nullptr;
  return &it->second;
}

std::vector<std::string> Model::remove_session(const std::string& id) {
  std::vector<std::string> removed;
  auto it = sessions.find(id);
  if (it == sessions.end()) return removed;
  for (const auto& t : it->second.topics) {
    topics.erase(t);
    removed.push_back(t);
  }
  sessions.erase(it);
  return removed;
}

std::vector<std::string> Model::session_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, s] : sessions)
    ids.push_back(id);
  return ids;
}

std::string Model::open_channel(Session& s, const Member& m, bool include_refresh) {
  Topic t;
  t.name = s.userid + "." + std::to_string(s.number) + "osm." + m.id;
  t.type = "os-message-notification";
  t.object_uri = m.uri;
  t.include_refresh = include_refresh;
  t.session = s.id;
  s.channels.insert(m.uri);
  s.topics.push_back(t.name);
  return add_topic(std::move(t)).name;
}

Topic* Model::find_topic(const std::string& name) {
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : &it->second;
}

std::vector<Topic*> Model::select(const std::string& selector) {
  std::vector<Topic*> out;
  static const std::string osm = "os-message-notification:";
  for (auto& [name, t] : topics) {
    bool match = selector == "*" || selector == name || selector == t.type;
    if (!match && selector.compare(0, osm.size(), osm) == 0 &&
        t.type == "os-message-notification") {
      const Member* m = find_member_by_uri(t.object_uri);
      match = m && m->name == selector.substr(osm.size());
    }
    if (match) out.push_back(&t);
  }
  return out;
}

std::vector<std::string> Model::topic_names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : topics)
    names.push_back(name);
  return names;
}

json Model::topics_json(const Session& s) const {
  json list = json::array();
  for (const auto& [name, t] : topics) {
    if (t.session != s.id) continue;  // static topics belong to no session
    json e = {{"topic-name", t.name}, {"topic-type", t.type}};
    if (t.type == "os-message-notification") {
      e["object-uri"] = t.object_uri;
      e["include-refresh-messages"] = t.include_refresh;
    }
    list.push_back(std::move(e));
  }
  return json{{"topics", list}};
}

}  // namespace sluice::fakes::hmc
