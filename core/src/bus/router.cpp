// Routes, filters and event normalisation. See router.hpp.
#include "router.hpp"

#include <sluice/core/owned_event.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/event.hpp>
#include <sluice/json_check.hpp>

#include <algorithm>
#include <ctime>
#include <map>
#include <utility>

namespace sluice::core {

namespace {

constexpr std::string_view kSourceAttribute = "sluice-source";

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

sluice_status Source::on_emit(const sluice_event* events, size_t count) {
  std::shared_ptr<const Binding> binding;
  {
    std::unique_lock lock(bind_m_);
    bind_cv_.wait(lock, [this] { return !held_; });
    binding = binding_;
    ++in_flight_;
  }
  struct Done {  // also when routing throws (host_api.cpp catches it)
    Source& s;
    ~Done() {
      std::lock_guard lock(s.bind_m_);
      if (--s.in_flight_ == 0) s.bind_cv_.notify_all();
    }
  } done{*this};
  if (!binding) {  // not bound (yet): nothing to route to
    refused.fetch_add(count, std::memory_order_relaxed);
    return SLUICE_STOPPED;
  }
  return binding->router->emit(*this, binding->routes, events, count);
}

Source::~Source() {
  if (!handle || stop_stuck || destroy_stuck) return;  // never created, torn down, or stuck
  unhold();
  stopping = true;
  if (started) d().stop(handle);
  accepting = false;
  d().destroy(std::exchange(handle, nullptr));
}

void Source::bind(std::shared_ptr<const Binding> binding) {
  {
    std::lock_guard lock(bind_m_);
    binding_ = std::move(binding);
    held_ = false;
  }
  bind_cv_.notify_all();
}

bool Source::hold(Clock::time_point until) {
  std::unique_lock lock(bind_m_);
  held_ = true;
  return bind_cv_.wait_until(lock, until, [this] { return in_flight_ == 0; });
}

void Source::unhold() {
  {
    std::lock_guard lock(bind_m_);
    if (!held_) return;
    accepting = false;  // before the waiting emits go on: they are refused, not routed
    held_ = false;
  }
  bind_cv_.notify_all();
}

size_t Source::route_count() const {
  std::lock_guard lock(bind_m_);
  return binding_ ? binding_->routes.size() : 0;
}

SourceMetrics Source::counters() const {
  SourceMetrics x;
  x.name = name;
  x.emitted = emitted.load();
  x.parse_errors = parse_errors.load();
  x.contract_violations = violations.load();
  x.unrouted = unrouted.load();
  x.refused = refused.load();
  x.state = state_name(state.load());
  return x;
}

Router::Router(const std::vector<RouteConfig>& routes, const std::vector<std::string>& sources,
               std::vector<std::shared_ptr<SinkChannel>> sinks, Tap* tap)
    : sinks_(std::move(sinks)), tap_(tap) {
  std::map<std::string, uint32_t> sink_index;
  for (uint32_t i = 0; i < sinks_.size(); ++i)
    sink_index[sinks_[i]->name] = i;
  for (const auto& rc : routes) {
    auto r = std::make_unique<CompiledRoute>();
    r->name = rc.name;
    std::vector<FilterError> errors;  // the loader reported them; a program may not have
    r->filter = Filter::compile(rc.filter.effective(), pointers_, &errors);
    if (!errors.empty()) {
      std::string where;
      for (const auto& t : errors[0].path)
        where += "." + t;
      throw StartError("route '" + rc.name + "': filter" + where + ": " + errors[0].message);
    }
    for (const auto& to : rc.to) {
      auto it = sink_index.find(to);
      if (it == sink_index.end())
        throw StartError("route '" + rc.name + "': no sink named '" + to + "'");
      r->sinks.push_back(it->second);
    }
    for (const auto& from : rc.from) {
      if (std::find(sources.begin(), sources.end(), from) == sources.end())
        throw StartError("route '" + rc.name + "': no source named '" + from + "'");
      from_.emplace_back(from, r.get());
    }
    routes_.push_back(std::move(r));
  }
}

std::vector<const CompiledRoute*> Router::routes_from(const std::string& name) const {
  std::vector<const CompiledRoute*> out;
  for (const auto& [from, r] : from_)
    if (from == name) out.push_back(r);
  return out;
}

EventPtr Router::normalise(Source& src, const sluice_event& e, int64_t now_ns) {
  const sluice_attribute source_attr{to_str(kSourceAttribute), to_str(src.config.name)};
  EventParts p = EventParts::of(e);
  if (!p.time_unix_ns) p.time_unix_ns = now_ns;
  p.skip_key = kSourceAttribute;
  p.extra_attributes = &source_attr;
  p.extra_attribute_count = 1;

  const char* missing = !e.id.data       ? "id"
                        : !e.source.data ? "source"
                        : !e.type.data   ? "type"
                                         : nullptr;
  if (!missing) {
    if (!e.data.data || json_valid(to_view(e.data))) return EventPtr::make(p);
  }

  // Never dropped: the event becomes sluice.parse-error carrying the raw data as text.
  src.parse_errors.fetch_add(1, std::memory_order_relaxed);
  std::string error;
  std::string fallback_id, fallback_source;
  if (missing) {
    src.violations.fetch_add(1, std::memory_order_relaxed);
    error = std::string("event without ") + missing + " (plugin contract violation)";
    uint64_t suppressed = 0;
    if (src.violation_log.allow(&suppressed))
      src.log->error(src.name, "emitted an " + error + "; delivered as sluice.parse-error" +
                                   (suppressed ? " (" + std::to_string(suppressed) +
                                                     " more since the last message)"
                                               : std::string()));
    if (!e.id.data) {
      fallback_id = src.ids.next("sluice-" + src.name);
      p.id = to_str(fallback_id);
    }
    if (!e.source.data) {
      fallback_source = "sluice://" + src.name;
      p.source = to_str(fallback_source);
    }
  } else {
    error = "data is not valid JSON";
  }
  // The one shape of sluice.parse-error (sdk framework_events.hpp); bad UTF-8 -> U+FFFD.
  const std::string data = sluice::framework_events::parse_error_data(error, to_view(e.data));
  p.data = to_str(data);
  const std::string original_type = e.type.data ? std::string(to_view(e.type)) : std::string();
  const sluice_attribute extra[] = {
      source_attr,
      {to_str("sluice-error"), to_str(error)},
      {to_str("sluice-original-type"), to_str(original_type)},
  };
  p.extra_attributes = extra;
  p.extra_attribute_count = e.type.data ? 3 : 2;
  p.type = to_str(sluice::event_types::parse_error);
  return EventPtr::make(p);
}

sluice_status Router::emit(Source& src, const std::vector<const CompiledRoute*>& routes,
                           const sluice_event* events, size_t count) const {
  if (!src.accepting.load(std::memory_order_acquire)) {
    src.refused.fetch_add(count, std::memory_order_relaxed);
    return SLUICE_STOPPED;
  }
  // Frozen array (plugin.h): a struct_size other than the 1.0 size means the plugin steps the
  // array differently from the host; nothing in it can be read safely.
  if (std::string bad = check_event_array(events, count); !bad.empty()) {
    src.violations.fetch_add(count, std::memory_order_relaxed);
    uint64_t suppressed = 0;
    if (src.violation_log.allow(&suppressed))
      src.log->error(src.name, "emit refused (plugin contract violation): " + bad +
                                   (suppressed ? " (" + std::to_string(suppressed) +
                                                     " more since the last message)"
                                               : std::string()));
    return SLUICE_INVALID;
  }
  // Per-thread scratch: one list per sink, so each sink's lock is taken once per call.
  thread_local std::vector<std::vector<EventPtr>> per_sink;
  thread_local std::vector<uint32_t> targets;
  if (per_sink.size() < sinks_.size()) per_sink.resize(sinks_.size());
  for (size_t s = 0; s < sinks_.size(); ++s)  // an earlier call that threw may have left some
    per_sink[s].clear();

  const int64_t now_ns = realtime_ns();
  // The live tap: one relaxed load per call while no client is attached.
  const bool tapping = tap_ && tap_->active();
  thread_local std::vector<std::string_view> tap_sinks;
  uint64_t unrouted = 0;
  for (size_t i = 0; i < count; ++i) {
    EventPtr ev = normalise(src, events[i], now_ns);
    targets.clear();
    FilterEvent fe(ev.view(), &pointers_);  // the data is read once, for all routes, if at all
    for (const CompiledRoute* r : routes) {
      if (!r->matches(fe)) continue;
      for (uint32_t s : r->sinks)
        if (std::find(targets.begin(), targets.end(), s) == targets.end()) targets.push_back(s);
    }
    if (tapping) {
      tap_sinks.clear();
      for (uint32_t s : targets)
        tap_sinks.push_back(sinks_[s]->name);
      tap_->offer(src.name, ev, tap_sinks);
    }
    if (targets.empty()) {
      ++unrouted;
      continue;
    }
    for (size_t t = 0; t + 1 < targets.size(); ++t)
      per_sink[targets[t]].push_back(ev);
    per_sink[targets.back()].push_back(std::move(ev));
  }
  src.emitted.fetch_add(count, std::memory_order_relaxed);
  if (unrouted) src.unrouted.fetch_add(unrouted, std::memory_order_relaxed);
  for (size_t s = 0; s < sinks_.size(); ++s) {
    if (per_sink[s].empty()) continue;
    sinks_[s]->push(per_sink[s]);
    per_sink[s].clear();
  }
  return src.stopping.load(std::memory_order_relaxed) ? SLUICE_STOPPED : SLUICE_OK;
}

}  // namespace sluice::core
