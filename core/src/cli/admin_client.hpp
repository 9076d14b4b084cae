// The client side of the admin server, for `sluice tap` and `sluice top`: where it listens (the
// pipeline file's `admin:` block) and a plain HTTP/1.1 GET, whole or streamed (Boost.Beast).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sluice::cli {

struct AdminTarget {
  std::string host;  // connected to: a wildcard listen address becomes loopback
  uint16_t port = 0;
  std::string token;        // "" for none
  std::string url() const;  // http://HOST:PORT, [IPv6]
};

// Reads the pipeline's admin block. On failure prints why on stderr (prefixed "sluice CMD: ")
// and returns the exit code (kInvalid: the file is invalid or has no admin block).
int admin_target(const std::string& pipeline_path, const char* cmd, AdminTarget* out);

struct HttpReply {
  unsigned status = 0;  // 0: no answer (`error` says why)
  std::string body;
  std::string error;
};

// GET `target`, all within `timeout`.
HttpReply http_get(const AdminTarget& to, const std::string& target,
                   std::chrono::milliseconds timeout);

// GET `target` and hand each piece of a 200 answer's body to `on_body` as it comes, until the
// server ends it (or the connection breaks: `error` set). The connection and the header must
// come within `connect_timeout`; then it waits for ever. Another status: its body in `body`.
HttpReply http_stream(const AdminTarget& to, const std::string& target,
                      std::chrono::milliseconds connect_timeout,
                      const std::function<void(std::string_view)>& on_body);

// Percent-encodes a query value.

}  // namespace sluice::cli
