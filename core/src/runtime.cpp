// Building, starting and stopping a pipeline. What runs in between lives in core/src/bus/:
// sink_channel (one per sink), router (emit path), host_api (the plugin-facing trampolines),
// counters (the readers of the counter tables).
#include <sluice/core/runtime.hpp>
#include <sluice/thread_name.hpp>

#include "bus/router.hpp"
#include "bus/sink_channel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

namespace sluice::core {

using std::chrono::milliseconds;

namespace {

// Failed batches go here when no dead-letter file is configured.
class LogDeadLetter final : public DeadLetter {
 public:
  explicit LogDeadLetter(Logger& log) : log_(log) {}
  bool write(const sluice_event*, size_t count, std::string_view reason, int32_t status,
             uint32_t attempts, std::string_view sink) override {
    std::string m = "dropped " + std::to_string(count) + " events after " +
                    std::to_string(attempts) + " attempt(s): " + std::string(reason);
    if (status) m += " (status " + std::to_string(status) + ")";
    m += "; no dead-letter file is configured (dead_letter.path)";
    log_.error(sink, m);
    return false;
  }

 private:
  Logger& log_;
};

// What an adopted channel was built from must be what this pipeline says for the sink.
std::string channel_config_differs(const SinkConfig& a, const SinkConfig& b) {
  if (a.plugin != b.plugin) return "plugin";
  if (a.options != b.options) return "options";
  if (a.queue.max_events != b.queue.max_events || a.queue.max_bytes != b.queue.max_bytes ||
      a.queue.policy != b.queue.policy)
    return "queue";
  if (a.batch.max_events != b.batch.max_events || a.batch.max_bytes != b.batch.max_bytes ||
      a.batch.max_delay != b.batch.max_delay)
    return "batch";
  const auto &ra = a.retry, &rb = b.retry;
  if (ra.max_attempts != rb.max_attempts || ra.max_elapsed != rb.max_elapsed ||
      ra.backoff.initial != rb.backoff.initial || ra.backoff.max != rb.backoff.max ||
      ra.backoff.multiplier != rb.backoff.multiplier || ra.backoff.jitter != rb.backoff.jitter)
    return "retry";
  const auto &sa = a.spool, &sb = b.spool;
  if (sa.directory != sb.directory || sa.max_bytes != sb.max_bytes || sa.fsync != sb.fsync ||
      sa.fsync_interval != sb.fsync_interval || sa.segment_bytes != sb.segment_bytes ||
      sa.overflow != sb.overflow)
    return "spool";
  if (a.dead_letter.path != b.dead_letter.path) return "dead_letter";
  return {};
}

// What an adopted source was created with must be what this pipeline says for the source.
std::string source_config_differs(const SourceConfig& a, const SourceConfig& b) {
  if (a.plugin != b.plugin) return "plugin";
  if (a.options != b.options) return "options";
  return {};
}

// How long past the drain deadline shutdown waits for plugins that do not return: sources'
// stop(), then sinks' stop() and their deliver(), then destroy(). All within the documented
// drain_timeout + 1 s.
constexpr milliseconds kSourceStopGrace{250};
constexpr milliseconds kSinkStopGrace{700};
constexpr milliseconds kDestroyGrace{900};

}  // namespace

struct Runtime::Impl : std::enable_shared_from_this<Runtime::Impl> {
  PipelineConfig pipeline;
  PluginHost& plugins;
  Logger& log;
  RuntimeOptions options;

  // The sources, in pipeline order; shared with a runtime they are handed to (release_source).
  std::vector<std::shared_ptr<Source>> sources;
  std::deque<std::atomic<bool>> sources_released;  // per source: handed to another runtime
  std::vector<bool> sources_adopted;               // per source: taken over, running already
  std::vector<std::shared_ptr<Source>> to_adopt_sources;
  // The channels, in pipeline order; shared with a runtime they are handed to (release).
  std::vector<std::shared_ptr<SinkChannel>> sinks;
  std::deque<std::atomic<bool>> released;  // per sink: handed to another runtime
  std::vector<bool> adopted;               // per sink: taken over from another runtime
  std::vector<std::shared_ptr<SinkChannel>> to_adopt;
  std::shared_ptr<Router> router;

  std::atomic<bool> stuck{false};  // stop() abandoned a plugin call
  bool running = false;
  bool started_ok = false;
  bool stopped = false;
  bool sources_stopped = false;
  std::mutex lifecycle;

  std::thread metrics_thread;
  std::mutex metrics_mutex;
  std::condition_variable metrics_cv;
  bool metrics_stop = false;

  Impl(PipelineConfig p, PluginHost& h, Logger& l, RuntimeOptions o)
      : pipeline(std::move(p)), plugins(h), log(l), options(std::move(o)) {}

  // The channels this runtime still owns (not released), for a loop over them.
  template <typename F>
  void each_sink(F&& f) const {
    for (size_t i = 0; i < sinks.size(); ++i)
      if (!released[i].load()) f(*sinks[i]);
  }

  // The sources this runtime still owns (not released).
  template <typename F>
  void each_source(F&& f) const {
    for (size_t i = 0; i < sources.size(); ++i)
      if (!sources_released[i].load()) f(*sources[i]);
  }
  std::shared_ptr<const Binding> binding_for(const Source& s) const {
    return std::make_shared<Binding>(Binding{router, router->routes_from(s.name)});
  }
  void take_adopted_sources();

  void build();
  void create(Instance& in, const std::string& plugin, const nlohmann::json& options,
              bool want_sink, const char* what);
  void start();
  void stop_sources(Clock::time_point deadline);
  void stop();
  void teardown(Clock::time_point until);
  void reap();
  std::shared_ptr<SinkChannel> release(const std::string& name);
  std::shared_ptr<Source> release_source(const std::string& name);

  // A plugin lifecycle call on a thread of its own (Instance::call_thread).
  struct Call {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  };
  std::shared_ptr<Call> begin_call(Instance& in, std::function<void()> fn);
  // Waits for the call until `until`; false when it is still running (then abandoned).
  static bool wait_call(Instance& in, Call* call, Clock::time_point until);
  void metrics_loop();
  Metrics metrics() const;
};

// ==== building ===============================================================================

void Runtime::Impl::create(Instance& in, const std::string& plugin_name, const nlohmann::json& opts,
                           bool want_sink, const char* what) {
  try {
    in.plugin = plugins.load(plugin_name, pipeline.plugin_paths);
  } catch (const std::exception& e) {
    throw StartError(std::string(what) + " '" + in.name + "': " + e.what());
  }
  if (in.plugin->is_sink() != want_sink)
    throw StartError(std::string(what) + " '" + in.name + "': plugin '" + plugin_name + "' is a " +
                     (in.plugin->is_sink() ? "sink" : "source") + ", not a " +
                     (want_sink ? "sink" : "source"));
  in.init_host_api(plugins.api().major, plugins.api().minor);
  const std::string options_json = opts.dump();
  const char* error = nullptr;
  void* handle = nullptr;
  sluice_status st = in.d().create(&in.api, &in, options_json.c_str(), &handle, &error);
  if (st != SLUICE_OK || !handle)
    throw StartError(std::string(what) + " '" + in.name + "' (plugin " + plugin_name +
                     "): create failed: " +
                     (error             ? error
                      : st == SLUICE_OK ? "no instance returned"
                                        : "no reason given"));
  in.handle = handle;
}

void Runtime::Impl::build() {
  for (const auto& sc : pipeline.sinks) {
    auto taken = std::find_if(to_adopt.begin(), to_adopt.end(),
                              [&](const auto& c) { return c->name == sc.name; });
    if (taken != to_adopt.end()) {  // adopt() checked the configuration
      sinks.push_back(std::move(*taken));
      to_adopt.erase(taken);
      released.emplace_back(false);
      adopted.push_back(true);
      continue;
    }
    std::unique_ptr<SinkQueue> queue;
    if (sc.queue.policy == QueuePolicy::spool) {
      if (!options.spool_queue_factory)
        throw StartError("sink '" + sc.name +
                         "': queue policy 'spool' is not available in this build yet; use "
                         "block, drop_newest or drop_oldest");
      queue = options.spool_queue_factory(sc);
    } else {
      queue = std::make_unique<MemoryQueue>(sc.queue.max_events, sc.queue.max_bytes);
    }
    std::unique_ptr<DeadLetter> dead_letter;
    if (!sc.dead_letter.path.empty() && options.dead_letter_factory)
      dead_letter = options.dead_letter_factory(sc);
    if (!dead_letter) {
      if (!sc.dead_letter.path.empty())
        log.warn(sc.name,
                 "dead_letter.path is set but this build has no dead-letter writer; "
                 "failed batches are logged and counted as dropped_rejected");
      dead_letter = std::make_unique<LogDeadLetter>(log);
    }
    sinks.push_back(
        std::make_shared<SinkChannel>(sc, log, std::move(queue), std::move(dead_letter)));
    released.emplace_back(false);
    adopted.push_back(false);
  }
  for (const auto& sc : pipeline.sources) {
    if (std::find_if(sources.begin(), sources.end(),
                     [&](const auto& s) { return s->name == sc.name; }) != sources.end())
      continue;  // adopted (take_adopted_sources)
    auto s = std::make_shared<Source>();
    s->log = &log;
    s->name = sc.name;
    s->config = sc;
    sources.push_back(std::move(s));
    sources_released.emplace_back(false);
    sources_adopted.push_back(false);
  }
  // Pipeline order (the adopted ones came first), for the accounting and the metrics.
  std::vector<std::string> source_names;
  {
    std::vector<std::shared_ptr<Source>> ordered;
    std::vector<bool> ordered_adopted;
    for (const auto& sc : pipeline.sources) {
      source_names.push_back(sc.name);
      for (size_t i = 0; i < sources.size(); ++i)
        if (sources[i]->name == sc.name) {
          ordered.push_back(sources[i]);
          ordered_adopted.push_back(sources_adopted[i]);
        }
    }
    sources = std::move(ordered);  // sources_released: all false still, one per source
    sources_adopted = std::move(ordered_adopted);
  }
  router = std::make_shared<Router>(pipeline.routes, source_names, sinks, options.tap.get());
  for (size_t i = 0; i < sinks.size(); ++i)
    if (!adopted[i])
      create(*sinks[i], sinks[i]->config().plugin, sinks[i]->config().options, true, "sink");
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources_adopted[i]) continue;  // bound to the new routes once the sinks run (start)
    sources[i]->bind(binding_for(*sources[i]));
    create(*sources[i], sources[i]->config.plugin, sources[i]->config.options, false, "source");
  }
  for (const auto& sc : pipeline.sources)
    if (router->routes_from(sc.name).empty())
      log.warn(sc.name, "no route takes events from this source");
  if (log.enabled(LogLevel::debug, "core"))
    for (const auto& r : pipeline.routes) {
      auto list = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& x : v)
          out += (out.empty() ? "" : ",") + x;
        return out;
      };
      const std::string filter = r.filter.empty() ? std::string() : r.filter.effective().dump();
      log.debug("core", "route" + (r.name.empty() ? std::string() : " '" + r.name + "'") +
                            ": from " + list(r.from) + " to " + list(r.to) +
                            (filter.empty() ? std::string(", every event") : ", only " + filter));
    }
}

// Adopted sources become this runtime's first of all, so that whatever fails later stops them.
void Runtime::Impl::take_adopted_sources() {
  for (auto& s : to_adopt_sources) {
    sources.push_back(std::move(s));
    sources_released.emplace_back(false);
    sources_adopted.push_back(true);
  }
  to_adopt_sources.clear();
}

// ==== starting ===============================================================================

void Runtime::Impl::start() {
  std::unique_lock guard(lifecycle);
  if (running || stopped) throw StartError("the runtime can start only once");
  running = true;
  take_adopted_sources();
  try {
    build();
    for (size_t i = 0; i < sinks.size(); ++i) {
      if (adopted[i]) continue;  // running already
      SinkChannel& s = *sinks[i];
      if (log.enabled(LogLevel::debug, "core"))
        log.debug("core", "starting sink '" + s.name + "' (plugin " + s.config().plugin +
                              ", queue " + std::to_string(s.config().queue.max_events) +
                              " events, batch " + std::to_string(s.config().batch.max_events) +
                              " events / " + std::to_string(s.config().batch.max_delay.count()) +
                              " ms" +
                              (s.config().dead_letter.path.empty()
                                   ? std::string(", no dead-letter file")
                                   : ", dead-letter " + s.config().dead_letter.path) +
                              ")");
      const char* error = nullptr;
      if (s.d().start(s.handle, &error) != SLUICE_OK)
        throw StartError("sink '" + s.name + "' (plugin " + s.config().plugin +
                         "): start failed: " + (error ? error : "no reason given"));
      s.started = true;
      s.start_dispatcher();
    }
    // The switch: the adopted sources' emits go to this pipeline's routes from here on.
    for (size_t i = 0; i < sources.size(); ++i)
      if (sources_adopted[i]) sources[i]->bind(binding_for(*sources[i]));
    for (size_t i = 0; i < sources.size(); ++i) {
      if (sources_adopted[i]) continue;  // running already
      Source* s = sources[i].get();
      s->accepting = true;
      if (log.enabled(LogLevel::debug, "core"))
        log.debug("core", "starting source '" + s->name + "' (plugin " + s->config.plugin + ")");
      const char* error = nullptr;
      if (s->d().start(s->handle, &error) != SLUICE_OK) {
        s->accepting = false;
        throw StartError("source '" + s->name + "' (plugin " + s->config.plugin +
                         "): start failed: " + (error ? error : "no reason given"));
      }
      s->started = true;
    }
  } catch (...) {
    guard.unlock();
    stop();  // takes down whatever was created or started
    throw;
  }
  started_ok = true;
  log.info("core", "started: " + std::to_string(sources.size()) + " source(s), " +
                       std::to_string(sinks.size()) + " sink(s), " +
                       std::to_string(router->route_count()) + " route(s)");
  if (pipeline.metrics.interval.count() > 0)
    metrics_thread = std::thread([this] {
      name_this_thread("metrics");
      metrics_loop();
    });
}

std::shared_ptr<Runtime::Impl::Call> Runtime::Impl::begin_call(Instance& in,
                                                               std::function<void()> fn) {
  auto call = std::make_shared<Call>();
  try {
    in.call_thread = std::thread([call, fn] {
      fn();
      {
        std::lock_guard lock(call->m);
        call->done = true;
      }
      call->cv.notify_all();
    });
  } catch (const std::system_error&) {
    fn();  // no thread to spare: call it here, unbounded, rather than not at all
    call->done = true;
  }
  return call;
}

bool Runtime::Impl::wait_call(Instance& in, Call* call, Clock::time_point until) {
  if (!call) return true;
  std::unique_lock lock(call->m);
  if (!call->cv.wait_until(lock, until, [call] { return call->done; })) return false;
  lock.unlock();
  if (in.call_thread.joinable()) in.call_thread.join();
  return true;
}

// ==== stopping ===============================================================================

// Sources, all at once: stop() returns when they no longer call the host. One that does not
// return in time is abandoned; what it emits from now on is refused and counted. Under
// `lifecycle`.
void Runtime::Impl::stop_sources(Clock::time_point deadline) {
  if (std::exchange(sources_stopped, true)) return;
  std::vector<std::pair<Source*, std::shared_ptr<Call>>> calls;
  each_source([&](Source& s) {
    s.stopping = true;
    s.unhold();  // adopted, waiting for a switch that does not come: refused from here on
    if (s.started)
      calls.emplace_back(&s, begin_call(s, [src = &s] { src->d().stop(src->handle); }));
  });
  for (auto& [src, call] : calls) {
    if (!wait_call(*src, call.get(), deadline + kSourceStopGrace)) {
      src->stop_stuck = true;
      log.error(src->name,
                "source did not return from stop() within drain_timeout; abandoned (its thread "
                "still runs; what it emits from now on is refused and counted as refused)");
    }
  }
  each_source([](Source& s) { s.accepting = false; });
}

void Runtime::Impl::stop() {
  std::lock_guard guard(lifecycle);
  if (stopped) return;
  if (!running) {
    // Never started: only channels and sources adopted for a start that did not come are ours
    // to stop.
    if (to_adopt.empty() && to_adopt_sources.empty()) return;
    take_adopted_sources();
    sinks = std::move(to_adopt);
    to_adopt.clear();
    for (size_t i = 0; i < sinks.size(); ++i) {
      released.emplace_back(false);
      adopted.push_back(true);
    }
    running = true;
  }
  stopped = true;
  const auto deadline = Clock::now() + pipeline.drain_timeout;
  {
    std::lock_guard lock(metrics_mutex);
    metrics_stop = true;
  }
  metrics_cv.notify_all();
  if (metrics_thread.joinable()) metrics_thread.join();

  // Emitters blocked on a full queue now wait only until the drain deadline.
  each_sink([&](SinkChannel& s) { s.begin_stop(deadline); });
  const bool debug = log.enabled(LogLevel::debug, "core");
  // 1. The sources this runtime still owns (released ones go on running, see hand_over).
  if (debug) log.debug("core", "stopping: sources first");
  stop_sources(deadline);
  // 2. Drain: flush partial batches, wait until every queue is empty or the deadline passes.
  if (debug)
    log.debug("core", "stopping: draining the sinks' queues (drain_timeout " +
                          std::to_string(pipeline.drain_timeout.count()) + " ms)");
  each_sink([&](SinkChannel& s) { s.drain(deadline); });
  if (debug) log.debug("core", "stopping: the sinks");
  // 3. Sinks: the dispatchers hand out nothing more; stop the plugins, all at once (which also
  //    ends a deliver() still running, and after which they call us no more); end the
  //    dispatchers. A sink whose stop() or deliver() does not return in time is abandoned.
  const auto sinks_until = deadline + kSinkStopGrace;
  {
    std::vector<std::pair<SinkChannel*, std::shared_ptr<Call>>> calls;
    each_sink([&](SinkChannel& s) {
      s.halt();
      if (s.started)
        calls.emplace_back(&s, begin_call(s, [sink = &s] { sink->d().stop(sink->handle); }));
    });
    for (auto& [sink, call] : calls)
      sink->stop_stuck = !wait_call(*sink, call.get(), sinks_until);
    each_sink([&](SinkChannel& s) { s.join_dispatcher(sinks_until); });
  }
  // 4. Count what is left. Failed batches still go to the dead-letter writer. What a stuck
  //    sink holds is counted as abandoned (or stays in the spool): it may yet be delivered.
  each_sink([&](SinkChannel& s) { s.settle(); });
  if (debug) log.debug("core", "stopping: destroying the plugin instances");
  teardown(deadline + kDestroyGrace);
  bool owns_any = false;  // after a hand-over, maybe nothing
  each_source([&](Source&) { owns_any = true; });
  each_sink([&](SinkChannel&) { owns_any = true; });
  if (started_ok && owns_any) {
    // One record per row: the logger keeps every record on one line.
    log.info("core", "stopped; accounting:");
    std::istringstream table(format_accounting(metrics()));
    for (std::string row; std::getline(table, row);)
      log.info("core", row);
  }
  bool any_stuck = false;
  each_source([&](Source& s) { any_stuck = any_stuck || s.stop_stuck || s.destroy_stuck; });
  each_sink([&](SinkChannel& s) {
    any_stuck = any_stuck || s.stop_stuck || s.deliver_stuck() || s.destroy_stuck;
  });
  if (any_stuck) {
    stuck = true;
    // The stuck threads use this Impl (host calls, the dispatcher): it lives until they end.
    try {
      std::thread([self = shared_from_this()] { self->reap(); }).detach();
    } catch (const std::system_error&) {
      // No reaper: the stuck calls and what they hold stay for the life of the process.
      new std::shared_ptr<Impl>(shared_from_this());
    }
  }
}

void Runtime::Impl::teardown(Clock::time_point until) {
  each_sink([&](SinkChannel& s) {
    if (s.dispatching() && !s.deliver_stuck()) {  // start failed half-way
      s.halt();
      s.join_dispatcher(until);
    }
  });
  // destroy() of every instance that is not stuck, all at once, bounded like stop().
  std::vector<std::pair<Instance*, std::shared_ptr<Call>>> calls;
  auto destroy = [&](Instance& in, bool stuck_now) {
    if (!in.handle || stuck_now) return;
    void* handle = std::exchange(in.handle, nullptr);
    calls.emplace_back(&in, begin_call(in, [d = &in.d(), handle] { d->destroy(handle); }));
  };
  each_source([&](Source& s) { destroy(s, s.stop_stuck); });
  each_sink([&](SinkChannel& s) { destroy(s, s.stop_stuck || s.deliver_stuck()); });
  for (auto& [in, call] : calls) {
    if (!wait_call(*in, call.get(), until)) {
      in->destroy_stuck = true;
      log.error(in->name, "did not return from destroy() in time; abandoned");
    }
  }
}

// After stop() abandoned plugin calls: waits for them (for ever, if need be), then finishes the
// teardown of those instances. Runs on a detached thread that keeps the Impl alive.
void Runtime::Impl::reap() {
  auto finish = [](Instance& in) {
    if (in.call_thread.joinable()) in.call_thread.join();
  };
  each_source([&](Source& s) {
    finish(s);
    if (s.handle) s.d().destroy(std::exchange(s.handle, nullptr));
  });
  each_sink([&](SinkChannel& s) {
    finish(s);
    s.join_dispatcher(Clock::time_point::max());
    if (s.handle) s.d().destroy(std::exchange(s.handle, nullptr));
  });
}

std::shared_ptr<SinkChannel> Runtime::Impl::release(const std::string& name) {
  std::lock_guard guard(lifecycle);
  if (!started_ok || stopped) return nullptr;
  for (size_t i = 0; i < sinks.size(); ++i) {
    if (sinks[i]->name != name || released[i].load()) continue;
    released[i] = true;
    log.info(name, "handed over with its queue, batches in flight and counters");
    return sinks[i];
  }
  return nullptr;
}

std::shared_ptr<Source> Runtime::Impl::release_source(const std::string& name) {
  std::lock_guard guard(lifecycle);
  if (!started_ok || stopped) return nullptr;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i]->name != name || sources_released[i].load()) continue;
    sources_released[i] = true;
    log.info(name, "handed over running, with its plugin instance and counters");
    return sources[i];
  }
  return nullptr;
}

// ==== metrics ================================================================================

void Runtime::Impl::metrics_loop() {
  std::unique_lock lock(metrics_mutex);
  while (!metrics_cv.wait_for(lock, pipeline.metrics.interval, [this] { return metrics_stop; })) {
    lock.unlock();
    log.info("core", format_metrics_line(metrics()));
    lock.lock();
  }
}

Metrics Runtime::Impl::metrics() const {
  Metrics m;
  auto add_plugin = [&](Instance& in, auto& item) {
    item.plugin = in.plugin ? in.plugin->name() : std::string();
    std::lock_guard lock(in.metrics_mutex);
    item.state_detail = in.state_detail;
    item.plugin_counters = in.metrics;
    for (const auto& [k, v] : in.metrics)
      m.plugin[in.name + "." + k] = v;
  };
  each_source([&](Source& s) {
    m.sources.push_back(s.counters());
    add_plugin(s, m.sources.back());
  });
  each_sink([&](SinkChannel& s) {
    m.sinks.push_back(s.counters());
    add_plugin(s, m.sinks.back());
  });
  return m;
}

// ==== public face ============================================================================

Runtime::Runtime(PipelineConfig pipeline, PluginHost& plugins, Logger& log, RuntimeOptions options)
    : impl_(std::make_shared<Impl>(std::move(pipeline), plugins, log, std::move(options))) {}

Runtime::~Runtime() {
  stop();
}

void Runtime::start() {
  impl_->start();
}

void Runtime::stop() {
  impl_->stop();
}

bool Runtime::stuck() const {
  return impl_->stuck.load();
}

void Runtime::abort_drain() {
  impl_->each_sink([](SinkChannel& s) { s.abort_drain(); });
}

void Runtime::reopen() {
  // Not while starting or stopping (a SIGHUP during shutdown must not race the teardown).
  std::lock_guard guard(impl_->lifecycle);
  if (!impl_->running || impl_->stopped) return;
  impl_->each_sink([](SinkChannel& s) { s.reopen(); });
}

Metrics Runtime::metrics() const {
  return impl_->metrics();
}

std::string Runtime::accounting_table() const {
  return format_accounting(metrics());
}

std::shared_ptr<SinkChannel> Runtime::release(const std::string& sink) {
  return impl_->release(sink);
}

void Runtime::adopt(const std::shared_ptr<SinkChannel>& channel) {
  if (!channel) return;
  std::lock_guard guard(impl_->lifecycle);
  if (impl_->running || impl_->stopped)
    throw StartError("sink '" + channel->name + "': adopt() comes before start()");
  const auto& sinks = impl_->pipeline.sinks;
  auto sc = std::find_if(sinks.begin(), sinks.end(),
                         [&](const SinkConfig& c) { return c.name == channel->name; });
  if (sc == sinks.end())
    throw StartError("sink '" + channel->name +
                     "': cannot adopt its channel: this pipeline has no sink of that name");
  if (std::string what = channel_config_differs(channel->config(), *sc); !what.empty())
    throw StartError("sink '" + channel->name + "': cannot adopt its channel: its " + what +
                     " differ from this pipeline's");
  for (const auto& c : impl_->to_adopt)
    if (c->name == channel->name)
      throw StartError("sink '" + channel->name + "': a channel of that name is adopted already");
  impl_->to_adopt.push_back(channel);
}

std::shared_ptr<Source> Runtime::release_source(const std::string& source) {
  return impl_->release_source(source);
}

void Runtime::adopt_source(const std::shared_ptr<Source>& source) {
  if (!source) return;
  std::lock_guard guard(impl_->lifecycle);
  if (impl_->running || impl_->stopped)
    throw StartError("source '" + source->name + "': adopt_source() comes before start()");
  const auto& sources = impl_->pipeline.sources;
  auto sc = std::find_if(sources.begin(), sources.end(),
                         [&](const SourceConfig& c) { return c.name == source->name; });
  if (sc == sources.end())
    throw StartError("source '" + source->name +
                     "': cannot adopt it: this pipeline has no source of that name");
  if (std::string what = source_config_differs(source->config, *sc); !what.empty())
    throw StartError("source '" + source->name + "': cannot adopt it: its " + what +
                     " differ from this pipeline's");
  for (const auto& s : impl_->to_adopt_sources)
    if (s->name == source->name)
      throw StartError("source '" + source->name + "': a source of that name is adopted already");
  impl_->to_adopt_sources.push_back(source);
}

HandOverResult Runtime::hand_over(Runtime& next) {
  Impl& old = *impl_;
  HandOverResult r;
  {
    std::lock_guard guard(old.lifecycle);
    if (!old.started_ok || old.stopped)
      throw StartError("hand-over: the running pipeline is not running");
  }
  {
    std::lock_guard guard(next.impl_->lifecycle);
    if (next.impl_->running || next.impl_->stopped)
      throw StartError("hand-over: the next pipeline was started already");
  }
  const PipelineConfig& np = next.impl_->pipeline;
  // 1. What goes over: the same name and configuration in both.
  for (const auto& sc : np.sinks) {
    auto was = std::find_if(old.pipeline.sinks.begin(), old.pipeline.sinks.end(),
                            [&](const SinkConfig& c) { return c.name == sc.name; });
    std::shared_ptr<SinkChannel> channel;
    if (was != old.pipeline.sinks.end() && channel_config_differs(*was, sc).empty())
      channel = release(sc.name);
    if (channel) {
      next.adopt(channel);
      r.kept_sinks.push_back(sc.name);
    } else {
      r.started_sinks.push_back(sc.name);
    }
  }
  for (const auto& sc : old.pipeline.sinks)
    if (std::find(r.kept_sinks.begin(), r.kept_sinks.end(), sc.name) == r.kept_sinks.end())
      r.stopped_sinks.push_back(sc.name);
  std::vector<std::shared_ptr<Source>> kept;
  for (const auto& sc : np.sources) {
    auto was = std::find_if(old.pipeline.sources.begin(), old.pipeline.sources.end(),
                            [&](const SourceConfig& c) { return c.name == sc.name; });
    std::shared_ptr<Source> source;
    if (was != old.pipeline.sources.end() && source_config_differs(*was, sc).empty())
      source = release_source(sc.name);
    if (source) {
      next.adopt_source(source);
      kept.push_back(source);
      r.kept_sources.push_back(sc.name);
    } else {
      r.started_sources.push_back(sc.name);
    }
  }
  for (const auto& sc : old.pipeline.sources)
    if (std::find(r.kept_sources.begin(), r.kept_sources.end(), sc.name) == r.kept_sources.end())
      r.stopped_sources.push_back(sc.name);

  // 2. The kept sources' emits wait from here until next switches them; those in flight on the
  //    old routes finish there first (a push to a full `block` queue of a running sink ends).
  const auto until = Clock::now() + old.pipeline.drain_timeout;
  for (const auto& s : kept)
    if (!s->hold(until))
      old.log.warn(s->name,
                   "an emit on the old routes did not return within drain_timeout; it ends "
                   "on them (a sink it waits for may drop it)");
  // 3. Nothing routes to the old sinks now but the old sources: stop them, drain and stop the
  //    sinks that do not go over.
  stop();
  // 4. The new sinks start, the kept sources switch, the new sources start. On a failure
  //    next stops everything it holds, the kept sources too (their waiting emits are refused).
  next.start();
  return r;
}

}  // namespace sluice::core
