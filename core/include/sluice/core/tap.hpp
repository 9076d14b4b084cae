// The live tap (the admin server's GET /tap, `sluice tap`): copies of the events sources emit,
// for a person watching them, filtered and rate-limited per client.
//
// The router offers every event to the tap. With no client attached that costs one relaxed
// atomic load per emit call (Tap::active). With clients, each event that passes a client's
// filter and its rate limit is copied (a reference count, EventPtr) into that client's bounded
// queue under the client's own mutex, held for a push or the io thread's take of a chunk: an
// emitter never waits for a client's socket.
// What exceeds the rate or finds the queue full (a client that does not read) is dropped and
// counted, for that client only. The admin server's io thread takes the queue and writes it.
//
// One Tap lives as long as `sluice run`: it outlives reloads (runtimes come and go, the clients
// stay attached) and is handed to every Runtime through RuntimeOptions::tap.
#pragma once

#include <sluice/core/glob.hpp>
#include <sluice/core/owned_event.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

struct TapLimits {
  uint32_t clients = 4;           // more are refused (503)
  uint32_t default_rate = 100;    // events per second per client when `rate` is not given
  uint32_t max_rate = 10000;      // the largest `rate` a client may ask for
  uint32_t queue_events = 10000;  // per client: what waits for the io thread
  size_t queue_bytes = 16u << 20;
};

// What a client wants to see; an empty field matches everything.
struct TapFilter {
  std::string source;  // the pipeline source name (key under sources:)
  std::string sink;    // only events routed to this sink
  std::string type;    // a glob on the event type (sluice/core/glob.hpp)
};

// What the tap did so far, for /metrics.
struct TapCounters {
  uint64_t clients = 0;        // attached now
  uint64_t sent = 0;           // events handed to clients (taken by the io thread)
  uint64_t dropped_rate = 0;   // over a client's rate limit
  uint64_t dropped_queue = 0;  // a client's queue was full (it does not read fast enough)
};

class Tap;

class TapClient {
 public:
  TapClient(TapFilter filter, uint32_t rate, const TapLimits& limits);

  // The io thread's side: the events queued so far, oldest first, moved to `out` (appended),
  // and the drops since the last call. Once Tap::detach() returned, nothing more is queued: a
  // take after it finds all that ever will be. With `max_bytes`, only the oldest events whose sizes
  // (EventPtr::bytes()) add up to at most that, and at least one: the rest stays queued for
  // the next call, and `more` says so.
  struct Drops {
    uint64_t rate = 0;
    uint64_t queue = 0;
  };
  struct Taken {
    Drops drops;
    bool more = false;  // events stayed queued
  };
  Taken take(std::vector<EventPtr>& out, size_t max_bytes = SIZE_MAX);

  const TapFilter& filter() const { return filter_; }
  uint32_t rate() const { return rate_; }

  // Emitter side: whether the event passes the filter (the caller checked nothing yet).
  bool wants(std::string_view source, std::string_view type,
             std::span<const std::string_view> sinks) const;
  // Emitter side: queues the event if the rate and the queue allow; never waits longer than
  // a push under the client's mutex. Counts into `tap` what it drops.
  void offer(const EventPtr& ev, std::chrono::steady_clock::time_point now, Tap& tap);

 private:
  TapFilter filter_;
  GlobList types_;
  uint32_t rate_;
  uint32_t queue_events_;
  size_t queue_bytes_;
  std::mutex m_;
  friend class Tap;              // detach() marks the client detached
  std::vector<EventPtr> queue_;  // (m_)
  bool detached_ = false;        // (m_) offer() takes nothing more
  size_t bytes_ = 0;             // (m_)
  double tokens_;                // (m_) token bucket: `rate_` per second, `rate_` at most
  std::chrono::steady_clock::time_point refilled_;  // (m_)
  Drops drops_;                                     // (m_) since the last take()
};

class Tap {
 public:
  explicit Tap(TapLimits limits = {});

  const TapLimits& limits() const { return limits_; }

  // A new client, or nullptr when `limits().clients` are attached already. `rate` 0 means the
  // default; the caller checked it is at most max_rate.
  std::shared_ptr<TapClient> attach(TapFilter filter, uint32_t rate);
  void detach(const std::shared_ptr<TapClient>& client);

  // The router's check, once per emit call: any client attached?
  bool active() const { return active_.load(std::memory_order_relaxed) != 0; }

  // The router's hand-off: one event from `source`, routed to the sinks named in `sinks` (none:
  // unrouted). Call only when active() said so.
  void offer(std::string_view source, const EventPtr& ev, std::span<const std::string_view> sinks);

  void count_sent(uint64_t n) { sent_.fetch_add(n, std::memory_order_relaxed); }
  // Events a client's queue held that were not written to it but dropped (at shutdown, a client
  // behind is sent the end line instead of its queue): counted as slow_client drops.
  void count_dropped_queue(uint64_t n) { dropped_queue_.fetch_add(n, std::memory_order_relaxed); }
  TapCounters counters() const;

 private:
  friend class TapClient;
  TapLimits limits_;
  std::atomic<uint32_t> active_{0};
  // Guards clients_, held only to copy or replace the pointer. (Not std::atomic<shared_ptr>:
  // GCC 12's lock-bit implementation of it is reported as a data race by ThreadSanitizer.)
  mutable std::mutex m_;
  // Replaced, never changed in place: offer() works on the list it took.
  using List = std::vector<std::shared_ptr<TapClient>>;
  std::shared_ptr<const List> clients_;
  std::shared_ptr<const List> clients() const {
    std::lock_guard lock(m_);
    return clients_;
  }
  std::atomic<uint64_t> sent_{0}, dropped_rate_{0}, dropped_queue_{0};
};

}  // namespace sluice::core
