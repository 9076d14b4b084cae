// Options of the hmc_stomp source: the JSON Schema the host validates against, and the parsed
// form the plugin works with. The README's options table describes the same keys.
#pragma once

#include <sluice/backoff.hpp>
#include <sluice/option_problem.hpp>
#include <sluice/tls.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::hmc {

// {cpc, partition} (DPM) or {cpc, lpar} (classic mode): an OS message channel to open.
struct OsChannel {
  std::string cpc;
  std::string partition;  // exactly one of partition / lpar is set
  std::string lpar;
  std::string label() const {
    return cpc + "/" + (partition.empty() ? "lpar " + lpar : "partition " + partition);
  }
};

// One HMC of `host`: a name, or an entry of the list with its own ports.
struct HmcHost {
  std::string host;
  uint16_t stomp_port = 61612;
  uint16_t api_port = 6794;
  // "host:stomp_port" ("[::1]:61612" for an IPv6 address), as the log and state details say.
  std::string label() const;
};

struct Options {
  // The HMC in use. As read: the first entry of `hosts`; the source sets them to the entry it
  // moves to (the WS API client and the STOMP connection read them from here).
  std::string host;
  uint16_t stomp_port = 61612;
  uint16_t api_port = 6794;
  // `host` as a list (one entry when it is a single name), each entry's ports filled in from
  // stomp_port and api_port where the entry gives none. Redundant HMCs, tried in this order.
  std::vector<HmcHost> hosts;
  // The events' source; empty: hmc://<the first host>, the same across moves.
  std::string source_uri;
  // Failed connection attempts at one HMC before the source moves to the next in `hosts`.
  uint64_t failover_attempts = 3;
  bool use_tls = true;
  sluice::tls::ClientOptions tls;
  std::string userid;
  std::string password;
  bool mfa = false;
  std::string mfa_code;
  std::string mfa_code_file;
  std::vector<std::string> topics;
  std::vector<std::string> topic_types;
  std::vector<OsChannel> os_message_channels;
  bool include_refresh_messages = false;
  bool split_lists = false;
  // Attributes cpc and partition on notifications, names from the WS API (when it is in use).
  bool names = true;
  std::chrono::milliseconds heartbeat_send{10000};
  std::chrono::milliseconds heartbeat_receive{10000};
  sluice::BackoffPolicy reconnect{std::chrono::milliseconds(1000), std::chrono::milliseconds(60000),
                                  2.0, sluice::BackoffPolicy::Jitter::half};
  uint64_t max_frame_bytes = 16ull << 20;
  uint64_t max_headers = 1000;  // headers per frame; more is an error like a too large frame
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{30000};
  uint64_t max_response_bytes = 4ull << 20;  // WS API response bodies
  std::string stomp_version = "auto";        // auto | 1.2 | 1.1 | 1.0

  // Needs the Web Services API (topic types, OS message channels, or MFA login).
  bool needs_ws_api() const { return mfa || !topic_types.empty() || !os_message_channels.empty(); }
  // Names CPCs, partitions and LPARs for the attributes cpc and partition (see inventory.hpp).
  bool resolves_names() const { return names && needs_ws_api(); }

  // Reads options (normally validated against the schema with defaults filled in; the test
  // harness does neither); absent keys keep their defaults. Throws std::invalid_argument with
  // the message of the first problem check_options finds.
  static Options from_json(const nlohmann::json& j);
};

// Everything create() refuses from the options alone, each problem at its JSON pointer (plugin
// ABI 1.1 check_options): values the schema cannot rule out, options that need others, and
// the files create() would read (TLS, mfa_code_file) where it reads them. Options::from_json
// throws the first one's message. `parsed` (optional) receives the options as read.
sluice::OptionProblems check_options(const nlohmann::json& j, Options* parsed = nullptr);

// The JSON Schema (draft 7) of the options object, NUL-terminated, static storage.
const char* options_schema();

}  // namespace sluice::hmc
