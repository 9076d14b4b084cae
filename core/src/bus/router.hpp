// From a source's emit() to the sink channels: event normalisation (copy, time stamp, the
// sluice-source attribute, sluice.parse-error for what breaks the contract), route filters, and
// the hand-off to every sink channel an event goes to, one push per sink per emit call.
#pragma once

#include "instance.hpp"
#include "sink_channel.hpp"

#include <sluice/core/config.hpp>
#include <sluice/core/filter.hpp>
#include <sluice/core/tap.hpp>
#include <sluice/framework_events.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::core {

class Router;

struct CompiledRoute {
  std::string name;
  Filter filter;
  std::vector<uint32_t> sinks;  // indices into Router::sinks()

  bool matches(FilterEvent& e) const { return filter.matches(e); }
};

// What a source's emits go to: one router, and the routes from this source in it. A source is
// bound to one at a time; a runtime that adopts a running source (Runtime::hand_over) binds it
// to its own. Shared: an emit in flight keeps the binding it started with, and through it the
// router and its sink channels, alive until it returns.
struct Binding {
  std::shared_ptr<const Router> router;
  std::vector<const CompiledRoute*> routes;
};

// A source instance. Its emits go through the binding of the moment; switching the binding
// (hold, then bind) is the one place where a source changes hands between runtimes:
//   hold(until)  emit() calls that begin from now on wait; returns once every emit in flight
//                has returned (or at `until`: false, logged by the caller)
//   bind(b)      from now on every emit goes to b; the waiting ones go on, to b
//   unhold()     the source is stopping instead: the waiting emits (and later ones) are refused
// so an emit is routed exactly once, by one binding, and none is in flight on the old routing
// once hold() returned true. bind_m_ is never held across routing (a push may block).
struct Source final : Instance {
  SourceConfig config;
  std::atomic<bool> accepting{false};  // false: emit refuses (counted as refused)
  std::atomic<bool> stopping{false};   // emit answers SLUICE_STOPPED (the events are taken)
  std::atomic<uint64_t> emitted{0}, parse_errors{0}, violations{0}, unrouted{0}, refused{0};
  RateLimit violation_log;
  sluice::EventIds ids;  // ids the core makes up for this source's events (random per process)

  // A source no runtime stopped (released and never adopted): stops and destroys the plugin
  // instance here, unbounded (a runtime stops its own with deadlines).
  ~Source() override;

  sluice_status on_emit(const sluice_event* events, size_t count) override;
  SourceMetrics counters() const;

  void bind(std::shared_ptr<const Binding> binding);
  bool hold(Clock::time_point until);
  void unhold();
  // The routes of the current binding (none before the first bind).
  size_t route_count() const;

 private:
  mutable std::mutex bind_m_;
  std::condition_variable bind_cv_;
  std::shared_ptr<const Binding> binding_;  // (bind_m_)
  uint32_t in_flight_ = 0;                  // (bind_m_) emit calls past the hold check
  bool held_ = false;                       // (bind_m_)
};

class Router {
 public:
  // `sinks` in pipeline order; route names resolve against their names and `sources`.
  // Throws StartError for a route naming a sink or source that does not exist. `tap` (may be
  // null; outlives the router) gets a copy of every event while a client is attached.
  Router(const std::vector<RouteConfig>& routes, const std::vector<std::string>& sources,
         std::vector<std::shared_ptr<SinkChannel>> sinks, Tap* tap = nullptr);

  size_t route_count() const { return routes_.size(); }
  // The routes that take events from the source `name`, in pipeline order.
  std::vector<const CompiledRoute*> routes_from(const std::string& name) const;

  // Normalises the events, matches them against `routes` (the source's, of this router) and
  // pushes them to the sink channels.
  sluice_status emit(Source& src, const std::vector<const CompiledRoute*>& routes,
                     const sluice_event* events, size_t count) const;

 private:
  static EventPtr normalise(Source& src, const sluice_event& e, int64_t now_ns);

  std::vector<std::unique_ptr<CompiledRoute>> routes_;
  DataPointers pointers_;  // of every route's filter: an event's data is read once for all
  std::vector<std::pair<std::string, const CompiledRoute*>> from_;  // source name, route
  // Shared with the runtime: an emit still in flight on this router keeps them alive.
  std::vector<std::shared_ptr<SinkChannel>> sinks_;
  Tap* tap_ = nullptr;
};

}  // namespace sluice::core
