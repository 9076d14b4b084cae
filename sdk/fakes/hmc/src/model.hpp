// The fake HMC's in-memory world: users, CPCs with partitions/LPARs, API sessions and topics,
// built from a scenario (JSON). Used only on the fake's own thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::fakes::hmc {

struct User {
  std::string userid;
  std::string password;
  std::string mfa_code;  // non-empty: the logon must carry it, and STOMP needs session creds
};

struct Member {  // a partition (DPM) or an LPAR (classic)
  std::string name;
  std::string id;
  std::string uri;
  std::string cls;  // "partition" or "logical-partition"
  std::string status = "active";
  bool os_messages = true;     // false: open-os-message-channel answers 409 reason 332
  bool open_on_logon = false;  // every new session starts with its channel open (-> 409 331)
};

struct Cpc {
  std::string name;
  std::string id;
  std::string uri;
  bool dpm = false;
  std::vector<Member> members;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Topic {
  std::string name;
  std::string type;        // object-notification, job-notification, ...
  std::string object_uri;  // os-message-notification only
  bool include_refresh = false;
  std::string session;    // owning API session id; empty for static topics
  uint64_t sequence = 0;  // session-sequence-nr of the last notification
  Headers defaults;       // class, name, object-uri, object-id for notifications on it
};

struct Session {
  std::string id;
  std::string credential;
  std::string userid;
  uint64_t number = 0;
  std::set<std::string> channels;  // object-uris with an open OS message channel
  std::vector<std::string> topics;
};

struct StompSettings {
  std::string max_version = "1.2";
  uint32_t heartbeat_send_ms = 1000;     // what the fake offers to send
  uint32_t heartbeat_receive_ms = 1000;  // what the fake wants to receive
  double heartbeat_grace = 2.0;          // silence longer than grace x interval closes
  std::string server = "ActiveMQ/5.17.2";
  bool close_on_error = true;   // ActiveMQ closes the connection after an ERROR frame
  bool send_heartbeats = true;  // false: CONNECTED offers heart-beats, none are ever sent
  Headers connected_headers;    // added to CONNECTED, or replacing its headers of that name
  size_t max_client_frame = 1 << 20;
};

class Model {
 public:
  // Throws std::invalid_argument naming the bad key.
  explicit Model(const nlohmann::json& scenario);

  static nlohmann::json default_scenario();

  const User* find_user(const std::string& userid) const;
  const Cpc* find_cpc_by_id(const std::string& id) const;
  // cls: "partition" or "logical-partition"
  const Member* find_member(const std::string& cls, const std::string& id) const;
  const Member* find_member_by_uri(const std::string& uri) const;

  // Inventory changes at run time (script lines {"inventory": ...}).
  Cpc* find_cpc_by_name(const std::string& name);
  // cls: "partition" or "logical-partition"
  Member* find_member_by_name(Cpc& cpc, const std::string& cls, const std::string& name);
  // The CPC a partition or LPAR belongs to.
  const Cpc* cpc_of(const std::string& member_uri) const;
  // A fresh object id (the synthetic form of the scenario's defaults).
  std::string new_object_id();

  Session& create_session(const std::string& userid);
  Session* find_session(const std::string& id);
  const Session* find_session_by_credential(const std::string& id, const std::string& cred) const;
  // Removes the session and its topics; returns the names of the removed topics.
  std::vector<std::string> remove_session(const std::string& id);
  std::vector<std::string> session_ids() const;

  // Opens an OS message channel topic for the member on the session; returns its name.
  std::string open_channel(Session& s, const Member& m, bool include_refresh);

  Topic* find_topic(const std::string& name);
  // Topics a selector names: a topic name, a topic type, "os-message-notification:<member
  // name>", or "*" (every topic).
  std::vector<Topic*> select(const std::string& selector);
  std::vector<std::string> topic_names() const;
  nlohmann::json topics_json(const Session& s) const;

  std::vector<User> users;
  std::vector<Cpc> cpcs;
  StompSettings stomp;
  int api_major = 4;
  int api_minor = 10;
  std::map<std::string, Topic> topics;
  std::map<std::string, Session> sessions;

 private:
  Topic& add_topic(Topic t);
  std::string random_hex(size_t n);
  uint64_t next_session_ = 100;
  uint64_t next_object_ = 1;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace sluice::fakes::hmc
