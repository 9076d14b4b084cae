// From a source's emit() to the sink channels: event normalisation (copy, time stamp, the
// sluice-source attribute, sluice.parse-error for what breaks the contract), route filters, and
// the hand-off to every sink channel an event goes to, one push per sink per emit call.
#pragma once

#include "instance.hpp"
#include "sink_channel.hpp"

#include <sluice/core/config.hpp>
#include <sluice/core/glob.hpp>
#include <sluice/framework_events.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace sluice::core {

class Router;

struct CompiledRoute {
  std::string name;
  GlobList types;
  GlobList subjects;
  std::vector<std::pair<std::string, GlobList>> attributes;
  std::vector<uint32_t> sinks;  // indices into Router::sinks()
  bool filtered = false;

  bool matches(const sluice_event& e) const;
};

struct Source final : Instance {
  Router* router = nullptr;
  SourceConfig config;
  std::vector<const CompiledRoute*> routes;
  std::atomic<bool> accepting{false};
  std::atomic<uint64_t> emitted{0}, parse_errors{0}, violations{0}, unrouted{0}, refused{0};
  RateLimit violation_log;
  sluice::EventIds ids;  // ids the core makes up for this source's events (random per process)

  sluice_status on_emit(const sluice_event* events, size_t count) override;
  SourceMetrics counters() const;
};

class Router {
 public:
  // `sinks` in pipeline order; route names resolve against their names and the sources'.
  // Throws StartError for a route naming a sink or source that does not exist.
  Router(const std::vector<RouteConfig>& routes, std::vector<Source*> sources,
         std::vector<SinkChannel*> sinks);

  const std::vector<SinkChannel*>& sinks() const { return sinks_; }
  size_t route_count() const { return routes_.size(); }

  // From now on emit() answers SLUICE_STOPPED (the events are still taken).
  void set_stopping() { stopping_ = true; }

  sluice_status emit(Source& src, const sluice_event* events, size_t count);

 private:
  EventPtr normalise(Source& src, const sluice_event& e, int64_t now_ns);

  std::vector<std::unique_ptr<CompiledRoute>> routes_;
  std::vector<SinkChannel*> sinks_;
  std::atomic<bool> stopping_{false};
};

}  // namespace sluice::core
