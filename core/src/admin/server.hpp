// The admin HTTP server of `sluice run` (pipeline `admin:`, docs/operations.md): GET /metrics,
// /healthz, /readyz, /status, /tap and POST /reload, on an io thread of its own. It only reads the
// runtime's counters (as the periodic metrics line does) and hands reloads to the main thread: it
// never calls a plugin and never holds a lock of the data path longer than a counters() read.
#pragma once

#include <sluice/core/config.hpp>
#include <sluice/core/counters.hpp>
#include <sluice/core/log.hpp>
#include <sluice/core/tap.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sluice::core::admin {

// What a reload did, as POST /reload answers it ("applied", "unchanged", "refused", "restored",
// "nothing_runs"; "stopping" when sluice stops first).
struct ReloadReply {
  std::string result;
  std::string message;
};

// The HTTP status POST /reload answers for a result (docs/operations.md).
unsigned reload_status(const std::string& result);

struct Limits {
  std::chrono::milliseconds io_timeout{10000};      // every read and write, keep-alive idle too
  std::chrono::milliseconds reload_timeout{60000};  // POST /reload waits this long for the outcome
  uint32_t header_bytes = 8 * 1024;
  uint32_t body_bytes = 16 * 1024;
  uint32_t connections = 16;  // more are closed at once (GET /tap streams: TapLimits::clients)
  std::chrono::milliseconds tap_tick{100};  // a tap stream writes what came this often
  // A tap stream's chunk takes at most this much of its client's queue (event sizes); the rest
  // follows as soon as the client has taken the chunk. Bounds what a client behind must read
  // to get past the chunk in progress (at shutdown: within stop_grace).
  size_t tap_chunk_bytes = 256 * 1024;
  std::chrono::milliseconds stop_grace{1000};  // stop() waits this long for tap streams to end
};

// The query of GET /tap: source=NAME, sink=NAME, type=GLOB, rate=N (1..limits.max_rate),
// percent-encoded. nullopt and `error` set for an unknown parameter or a bad rate.
struct TapRequest {
  TapFilter filter;
  uint32_t rate = 0;  // the default
};
std::optional<TapRequest> parse_tap_query(std::string_view query, const TapLimits& limits,
                                          std::string* error);

class AdminServer {
 public:
  struct Hooks {
    // The running pipeline's counters; nullopt while none runs (during a reload's restart).
    // Called on the admin thread.
    std::function<std::optional<Metrics>()> metrics;
    // Asks the main thread to reload (as SIGHUP does); `done` is called once with the outcome,
    // on any thread, but never after the AdminServer is destroyed.
    std::function<void(std::function<void(ReloadReply)> done)> reload;
    // The live tap of GET /tap; without one, GET /tap answers 404.
    std::shared_ptr<Tap> tap;
  };

  AdminServer(AdminConfig config, Hooks hooks, Logger& log,
              std::chrono::steady_clock::time_point started, Limits limits = {});
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens, then serves on its own thread. Throws std::runtime_error naming the
  // address and the reason ("cannot listen on 127.0.0.1:9464: Address already in use").
  void start();
  // Closes the listener and ends every tap stream: the write in progress, then its last line
  // saying why and the last chunk (a client behind, whose write had not moved for a tap tick,
  // gets instead of its queue a `dropped` line counting it, also in the Tap's slow_client
  // counter). Waits at most limits.stop_grace for the streams to be taken, then closes those
  // left (clients that do not read; a warning says how many) and every connection still open
  // (kept alive and idle, or a request not answered yet), and joins the thread. A request read
  // while stop() waits (on a connection kept alive from before) is answered 503 with
  // `Connection: close`: no tap stream starts then. Idempotent.
  void stop();
  // The bound port (the configured one, or the one the system chose for port 0).
  uint16_t port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Constant-time comparison of an Authorization header with "Bearer <token>".
bool bearer_matches(std::string_view header, std::string_view token);

}  // namespace sluice::core::admin
