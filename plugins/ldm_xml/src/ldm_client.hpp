// The ldmd client: the ldmd protocol over the SDK's network kit (sluice/net: a strand on the
// plugin's shared io pool, net::Stream with STARTTLS, net::Reconnector, net::EmitPump), one
// Connection object per connection attempt. See README.md for the behaviour.
#pragma once

#include "xml_stream_framer.hpp"

#include <sluice/backoff.hpp>
#include <sluice/option_problem.hpp>
#include <sluice/sdk.hpp>
#include <sluice/tls.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::ldm {

struct ClientOptions {
  std::string host;
  uint16_t port = 6482;
  bool local_mode = false;
  std::string user;
  std::string password;
  tls::ClientOptions tls;
  std::vector<std::string> events{"all"};  // domain, hardware, resource, or all
  BackoffPolicy reconnect{std::chrono::seconds(1), std::chrono::seconds(60), 2.0,
                          BackoffPolicy::Jitter::half};
  FramerLimits limits;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds response_timeout{10000};
  std::chrono::milliseconds stop_timeout{2000};  // waiting for unregister answers on stop

  // From the plugin's options object (validated by the host; checked again here because the
  // test harness does not validate). Throws std::invalid_argument with the message of the first
  // problem check_options finds.
  static ClientOptions from_json(const nlohmann::json& j);

  // The LDM_interface registration actions these options ask for.
  std::vector<std::string> registration_actions() const;
};

// The options' JSON Schema (strict, with defaults and descriptions).
const char* options_schema();

// Everything the source refuses from the options alone (create, and the TLS context start()
// builds), each problem at its JSON pointer (plugin ABI 1.1 check_options): values the schema
// cannot rule out and the TLS files. ClientOptions::from_json throws the first one's message.
// `parsed` (optional) receives the options as read.
OptionProblems check_options(const nlohmann::json& j, ClientOptions* parsed = nullptr);

class Client {
 public:
  Client(Host host, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void start();
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::ldm
